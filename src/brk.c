/* SPDX-License-Identifier: MIT */
/* The brk heap: the data segment, as the seed text describes, grown and
 * shrunk with brk and cut into 4 MiB units.  A unit is a segment of pages,
 * or one unit of a big block ("span": a block too big for a segment but
 * below the mmap threshold, which like glibc's takes as many contiguous
 * units of the heap as it needs), or free.  Free units wait in a pool and
 * are reused first, lowest address first; after purge_delay_ms they are
 * given back, the ones at the top by lowering the break, the others with
 * one madvise per run of adjacent units.
 *
 * We never assume we own the break: before every move we check that it is
 * where we left it.  If other code moved it (a foreign sbrk), the top is
 * capped where it stands and the next unit starts above the foreign data,
 * which the break never goes below again.  If brk fails (a mapping in the
 * way, RLIMIT_DATA, a test's fault injection), new segments come from mmap
 * from then on. */
#define _GNU_SOURCE
#include "internal/brk.h"

#include <errno.h>
#include <string.h>

/* 256 GiB of brk heap; a program that wants more gets mmap segments. */
#define BRK_UNITS_MAX 65536
#define BRK_WORDS (BRK_UNITS_MAX / 64)

/* Invariants (under lock):
 *   units [0, units) start at base + i * TIDE_SEGMENT_SIZE and lie below the
 *   break, all but the last one wholly; the break is inside unit units - 1
 *   or at its end (or at start, when units == 0);
 *   a unit in free[] belongs to no segment and no span and is not in the
 *   segment map; young[] and old[] are subsets of free[] (units that may
 *   still hold resident pages: young ones wait purge_delay_ms from their
 *   freed_ns, old ones have waited and go back at the next purge, or wait
 *   for another try after a failed madvise); a free unit in neither is
 *   known to be zero;
 *   segs[] marks the units that are live segments;
 *   top, if set, is the BRK segment in unit units - 1, not capped, and its
 *   commit_end is the break: it alone may move the break inside itself. */
static struct {
  tide_lock lock;
  uintptr_t start;   /* the break before tidemalloc first moved it */
  uintptr_t base;    /* unit 0: start rounded up to a unit */
  uintptr_t brk;     /* the break as we last set it (0: never) */
  uintptr_t floor;   /* the break never goes below (start, foreign data) */
  uintptr_t peak;
  uint32_t units;
  tide_segment *top;
  uint64_t segments; /* live brk segments */
  uint64_t spans;    /* live big blocks in the brk heap */
  uint64_t purge_deadline_ns;
  uint64_t freed_ns[BRK_UNITS_MAX]; /* a young unit: when it was freed */
  bool disabled;     /* brk failed: use mmap from now on */
  uint64_t free[BRK_WORDS], young[BRK_WORDS], old[BRK_WORDS];
  uint64_t segs[BRK_WORDS]; /* the unit is a live segment (not a span) */
  uint64_t scratch[BRK_WORDS]; /* free_run_find's work area */
} brk_heap = {.lock = TIDE_LOCK_INIT};

/* ---- Unit bitmaps ----------------------------------------------------------- */
static inline uintptr_t unit_addr(uint32_t u) {
  return brk_heap.base + (uintptr_t)u * TIDE_SEGMENT_SIZE;
}
static inline uint32_t unit_index(uintptr_t a) {
  return (uint32_t)((a - brk_heap.base) >> TIDE_SEGMENT_SHIFT);
}
static inline bool bit_get(const uint64_t *map, uint32_t u) {
  return (map[u / 64] >> (u % 64)) & 1;
}
static void bits_set(uint64_t *map, uint32_t first, uint32_t count, bool on) {
  for (uint32_t u = first; u < first + count; u++) {
    if (on)
      map[u / 64] |= 1ULL << (u % 64);
    else
      map[u / 64] &= ~(1ULL << (u % 64));
  }
}
static bool bits_any(const uint64_t *map, uint32_t first, uint32_t count) {
  for (uint32_t u = first; u < first + count; u++)
    if (bit_get(map, u)) return true;
  return false;
}
static bool bits_all(const uint64_t *map, uint32_t first, uint32_t count) {
  for (uint32_t u = first; u < first + count; u++)
    if (!bit_get(map, u)) return false;
  return true;
}

/* Where `count` units in a row of map start below `units`, or -1.  A
 * segment takes the lowest (the top of the heap stays free, so the break
 * can come down); a span the smallest run that holds it (best fit, as glibc
 * picks among its large chunks, so that big runs stay whole for big
 * blocks), the lowest of equals. */
static int64_t run_find(const uint64_t *map, uint32_t count) {
  int64_t best = -1;
  uint32_t best_len = UINT32_MAX, run = 0;
  for (uint32_t u = 0; u <= brk_heap.units; u++) {
    if (u < brk_heap.units && (u % 64 == 0) && map[u / 64] == 0 && run == 0) {
      u += 63; /* a word with no unit of map */
      continue;
    }
    if (u < brk_heap.units && bit_get(map, u)) {
      run++;
      continue;
    }
    if (run >= count && run < best_len) {
      best = (int64_t)(u - run);
      best_len = run;
      if (run == count || count == 1) break;
    }
    run = 0;
  }
  return best;
}

/* Free units for `count`: a run whose pages are all still resident first
 * (reusing it costs no faults and adds nothing to the resident set), else
 * any free run. */
static int64_t free_run_find(uint32_t count) {
  uint64_t *warm = brk_heap.scratch;
  uint32_t words = (brk_heap.units + 63) / 64;
  bool any = false;
  for (uint32_t w = 0; w < words; w++) {
    warm[w] = brk_heap.free[w] & (brk_heap.young[w] | brk_heap.old[w]);
    any |= warm[w] != 0;
  }
  if (any) {
    int64_t at = run_find(warm, count);
    if (at >= 0) return at;
  }
  return run_find(brk_heap.free, count);
}

/* Free units at the very top of the heap. */
static uint32_t free_top_count(void) {
  uint32_t n = 0;
  while (n < brk_heap.units && bit_get(brk_heap.free, brk_heap.units - 1 - n)) n++;
  return n;
}

/* ---- Moving the break -------------------------------------------------------- */
static void brk_publish(void) {
  if (brk_heap.brk > brk_heap.peak) brk_heap.peak = brk_heap.brk;
  init_publish_heap(brk_heap.start, brk_heap.brk, brk_heap.peak);
}

/* Move the break to new_break if it is still where we left it. */
static bool brk_move(uintptr_t new_break) {
  if (os_brk_current() != brk_heap.brk) return false; /* foreign sbrk */
  if (!os_brk_set(new_break)) return false;
  brk_heap.brk = new_break;
  brk_publish();
  return true;
}

/* Someone else moved the break: nothing we have reaches above it any more.
 * The top stops growing, a free top unit the foreign data now sits on is
 * dropped from the pool, and the next unit starts above the foreign data. */
static void brk_note_foreign(uintptr_t cur) {
  if (brk_heap.top) __atomic_store_n(&brk_heap.top->capped, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&brk_heap.top, NULL, __ATOMIC_RELAXED);
  if (brk_heap.units > 0 && unit_addr(brk_heap.units) > brk_heap.brk &&
      bit_get(brk_heap.free, brk_heap.units - 1)) {
    bits_set(brk_heap.free, brk_heap.units - 1, 1, false);
    bits_set(brk_heap.young, brk_heap.units - 1, 1, false);
    bits_set(brk_heap.old, brk_heap.units - 1, 1, false);
  }
  if (cur > brk_heap.floor) brk_heap.floor = cur;
  uintptr_t next = tide_align_up(cur, TIDE_SEGMENT_SIZE);
  if (next >= brk_heap.base) brk_heap.units = unit_index(next);
  brk_heap.brk = cur;
}

/* ---- Taking and giving units --------------------------------------------------- */
/* count contiguous units of the brk heap, of which the first `need` bytes
 * (need_pad if the break can move that far) must lie below the break.
 * From the pool (lowest first), else, if grow, by moving the break.  *dirty
 * says whether any of them may hold old data.  Returns 0 if brk cannot
 * give them. */
static uintptr_t brk_units_take_locked(uint32_t count, size_t need, size_t need_pad,
                                       bool grow, bool *dirty) {
  if (brk_heap.disabled) return 0;
  if (brk_heap.brk != 0) {
    uintptr_t cur = os_brk_current();
    if (cur != brk_heap.brk) brk_note_foreign(cur);
  }
  int64_t first = free_run_find(count);
  uint32_t top_free = free_top_count();
  if (first < 0 && !grow) return 0;
  if (first < 0 && top_free > 0 && top_free < count &&
      brk_heap.units - top_free + count <= BRK_UNITS_MAX)
    first = brk_heap.units - top_free; /* the free top, extended upwards */
  if (first < 0) {
    uintptr_t cur = brk_heap.brk ? brk_heap.brk : os_brk_current();
    uintptr_t at = tide_align_up(cur, TIDE_SEGMENT_SIZE);
    if (at < cur) goto fail;
    if (brk_heap.brk == 0) {
      brk_heap.start = brk_heap.floor = brk_heap.brk = cur;
      brk_heap.base = at;
    }
    uint32_t u = unit_index(at);
    if (u + count > BRK_UNITS_MAX) return 0; /* too big a heap: mmap instead */
    first = u;
  }
  uintptr_t start = unit_addr((uint32_t)first);
  uint32_t end_unit = (uint32_t)first + count;
  uintptr_t want = start + need, want_pad = start + need_pad;
  if (want_pad > unit_addr(end_unit) || want_pad < want) want_pad = unit_addr(end_unit);
  if (want > brk_heap.brk && !brk_move(want_pad) && (want_pad == want || !brk_move(want)))
    goto fail;
  /* Units that were below the break and free may hold old data; the ones
   * the break just reached are zero. */
  uint32_t known = end_unit < brk_heap.units ? end_unit : brk_heap.units;
  *dirty = false;
  if ((uint32_t)first < known) {
    uint32_t n = known - (uint32_t)first;
    *dirty = bits_any(brk_heap.young, (uint32_t)first, n) || bits_any(brk_heap.old, (uint32_t)first, n);
    bits_set(brk_heap.free, (uint32_t)first, n, false);
    bits_set(brk_heap.young, (uint32_t)first, n, false);
    bits_set(brk_heap.old, (uint32_t)first, n, false);
  }
  if (brk_heap.top && start >= unit_addr(brk_heap.units)) {
    /* The break passed over the old top segment: all of it is usable now,
     * and it can no longer grow. */
    tide_segment *old = brk_heap.top;
    __atomic_store_n(&old->commit_end, (uint8_t *)old + TIDE_SEGMENT_SIZE, __ATOMIC_RELAXED);
    __atomic_store_n(&old->capped, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&brk_heap.top, NULL, __ATOMIC_RELAXED);
  }
  if (end_unit > brk_heap.units) brk_heap.units = end_unit;
  return start;
fail:
  brk_heap.disabled = true;
  return 0;
}

/* A new segment in the brk heap with first_commit bytes usable (at least
 * the header slice), from the pool or, if grow, at the top; NULL if brk
 * cannot give one.  Only the brk fields of the header are set. *dirty:
 * whether the unit may hold old data. */
tide_segment *brk_segment_new(size_t first_commit, bool grow, bool *dirty) {
  if (!tide_opt.use_brk) return NULL;
  tide_lock_take(&brk_heap.lock);
  uintptr_t at = brk_units_take_locked(1, first_commit, first_commit + tide_opt.top_pad,
                                       grow, dirty);
  tide_segment *seg = (tide_segment *)at;
  if (seg != NULL) {
    uint8_t *end = (uint8_t *)at + TIDE_SEGMENT_SIZE;
    bool top = brk_heap.brk < (uintptr_t)end;
    tide_segment_header_init(seg, TIDE_SEG_BRK, top ? (uint8_t *)brk_heap.brk : end, !top);
    if (top) __atomic_store_n(&brk_heap.top, seg, __ATOMIC_RELAXED);
    bits_set(brk_heap.segs, unit_index(at), 1, true);
    brk_heap.segments++;
  }
  tide_lock_give(&brk_heap.lock);
  return seg;
}

static void brk_schedule_purge_at(uint64_t deadline_ns) {
  if (tide_opt.purge_delay_ms < 0) return;
  if (brk_heap.purge_deadline_ns != 0 && brk_heap.purge_deadline_ns <= deadline_ns) return;
  brk_heap.purge_deadline_ns = deadline_ns;
  init_note_purge(deadline_ns);
}

static void brk_schedule_purge(void) {
  brk_schedule_purge_at(init_clock_ns() + (uint64_t)tide_opt.purge_delay_ms * 1000000u);
}

static void brk_pool_purge_locked(bool force);

/* count units from addr on are free again; resident: they may hold pages. */
static void brk_units_give_locked(uintptr_t addr, uint32_t count, bool resident) {
  uint32_t first = unit_index(addr);
  tide_assert(first + count <= brk_heap.units);
  if (brk_heap.top && (uintptr_t)brk_heap.top >= addr &&
      (uintptr_t)brk_heap.top < addr + (uintptr_t)count * TIDE_SEGMENT_SIZE)
    __atomic_store_n(&brk_heap.top, NULL, __ATOMIC_RELAXED);
  bits_set(brk_heap.free, first, count, true);
  if (resident) {
    bits_set(brk_heap.young, first, count, true);
    uint64_t now = init_clock_ns();
    for (uint32_t u = first; u < first + count; u++) brk_heap.freed_ns[u] = now;
  }
  if (tide_opt.purge_delay_ms == 0)
    brk_pool_purge_locked(true);
  else
    brk_schedule_purge();
}

/* Units at the end of a span that shrank in place. */
void brk_units_give(uintptr_t addr, uint32_t count, bool resident) {
  tide_lock_take(&brk_heap.lock);
  brk_units_give_locked(addr, count, resident);
  tide_lock_give(&brk_heap.lock);
}

/* An empty brk segment, already out of the segment map, goes to the pool. */
void brk_segment_free(tide_segment *seg) {
  tide_lock_take(&brk_heap.lock);
  brk_heap.segments--;
  bits_set(brk_heap.segs, unit_index((uintptr_t)seg), 1, false);
  brk_units_give_locked((uintptr_t)seg, 1, true);
  tide_lock_give(&brk_heap.lock);
}

/* ---- Big blocks in the brk heap ------------------------------------------------ */
/* units whole units for a big block: its header is written by the caller. */
uintptr_t brk_span_take(uint32_t units, bool *dirty) {
  if (!tide_opt.use_brk) return 0;
  size_t bytes = (size_t)units * TIDE_SEGMENT_SIZE;
  tide_lock_take(&brk_heap.lock);
  uintptr_t at = brk_units_take_locked(units, bytes, bytes, true, dirty);
  if (at != 0) brk_heap.spans++;
  tide_lock_give(&brk_heap.lock);
  return at;
}

void brk_span_give(uintptr_t addr, uint32_t units) {
  tide_lock_take(&brk_heap.lock);
  brk_heap.spans--;
  brk_units_give_locked(addr, units, true);
  tide_lock_give(&brk_heap.lock);
}

/* Grow a span of old_units at addr to new_units in place: the units above
 * must be free, or the top of the heap, which the break then covers. */
bool brk_span_grow(uintptr_t addr, uint32_t old_units, uint32_t new_units) {
  bool ok = false;
  tide_lock_take(&brk_heap.lock);
  if (brk_heap.disabled || os_brk_current() != brk_heap.brk) goto out;
  uint32_t from = unit_index(addr) + old_units, to = unit_index(addr) + new_units;
  uint32_t inside = to < brk_heap.units ? to : brk_heap.units;
  if (from < inside && !bits_all(brk_heap.free, from, inside - from)) goto out;
  if (to > brk_heap.units && (to > BRK_UNITS_MAX || from > brk_heap.units)) goto out;
  uintptr_t end = unit_addr(to);
  if (end > brk_heap.brk && !brk_move(end)) goto out;
  if (from < inside) {
    bits_set(brk_heap.free, from, inside - from, false);
    bits_set(brk_heap.young, from, inside - from, false);
    bits_set(brk_heap.old, from, inside - from, false);
  }
  if (to > brk_heap.units) brk_heap.units = to;
  ok = true;
out:
  tide_lock_give(&brk_heap.lock);
  return ok;
}

/* ---- The top segment ------------------------------------------------------------ */
/* Grow the committed part of seg (the heap top) to cover need_end. */
bool brk_extend(tide_segment *seg, uint8_t *need_end) {
  bool ok = false;
  tide_lock_take(&brk_heap.lock);
  if (need_end <= __atomic_load_n(&seg->commit_end, __ATOMIC_RELAXED)) {
    ok = true; /* a newer unit above already moved the break past it */
    goto out;
  }
  if (seg != brk_heap.top || __atomic_load_n(&seg->capped, __ATOMIC_RELAXED) ||
      (uintptr_t)seg->commit_end != brk_heap.brk)
    goto out;
  uint8_t *seg_end = (uint8_t *)seg + TIDE_SEGMENT_SIZE;
  uint8_t *end = need_end + tide_opt.top_pad;
  end = (uint8_t *)tide_align_up((uintptr_t)end, TIDE_SLICE_SIZE);
  if (end > seg_end || end < need_end) end = seg_end;
  if (brk_move((uintptr_t)end) ||
      (end != need_end && brk_move((uintptr_t)need_end))) {
    seg->commit_end = (uint8_t *)brk_heap.brk;
    ok = true;
  } else {
    __atomic_store_n(&seg->capped, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&brk_heap.top, NULL, __ATOMIC_RELAXED);
  }
out:
  tide_lock_give(&brk_heap.lock);
  return ok;
}

/* Whether seg is the heap top with a free unit of the pool below it.  Then
 * it gets no new page: one there would hold the break up over every free
 * unit beneath it, so the page is made in the lowest free unit instead, and
 * the top empties and comes down (glibc, too, cuts its top chunk last).
 * The first test is a hint read without the lock: only the top can say yes. */
bool brk_top_drains(const tide_segment *seg) {
  if (__atomic_load_n(&brk_heap.top, __ATOMIC_RELAXED) != seg) return false;
  bool any = false;
  tide_lock_take(&brk_heap.lock);
  if (brk_heap.top == seg) {
    uint32_t below = unit_index((uintptr_t)seg);
    for (uint32_t w = 0; w * 64 < below && !any; w++) {
      uint64_t word = brk_heap.free[w];
      if ((w + 1) * 64 > below) word &= (1ULL << (below % 64)) - 1;
      any = word != 0;
    }
  }
  tide_lock_give(&brk_heap.lock);
  return any;
}

/* Lower the break to just above the highest used slice of seg (plus top_pad
 * unless force), if seg is the heap top and more than trim_threshold would
 * come back (any amount if force).  Returns bytes given back.  The caller
 * owns seg. */
size_t brk_trim_top(tide_segment *seg, bool force) {
  size_t given = 0;
  tide_lock_take(&brk_heap.lock);
  if (seg != brk_heap.top) goto out;
  uint64_t used = ~seg->free_slices; /* bit 0, the header, is always used */
  unsigned top_used = 64 - (unsigned)__builtin_clzll(used);
  size_t pad = force ? 0 : tide_align_up(tide_opt.top_pad, TIDE_SLICE_SIZE);
  uint8_t *target = (uint8_t *)seg + (size_t)top_used * TIDE_SLICE_SIZE + pad;
  if ((uintptr_t)target < brk_heap.floor) target = (uint8_t *)brk_heap.floor;
  if (target >= seg->commit_end) goto out;
  size_t excess = (size_t)(seg->commit_end - target);
  if (!force && excess <= tide_opt_read(trim_threshold)) goto out;
  if (brk_move((uintptr_t)target)) {
    given = excess;
    seg->commit_end = target;
    /* Slices above the break are gone: nothing left there to purge. */
    unsigned keep = (unsigned)(((uintptr_t)target - (uintptr_t)seg) >>
                               TIDE_SLICE_SHIFT);
    if (keep < 64) {
      seg->purge_slices &= ~(~0ULL << keep);
      seg->purge_young &= ~(~0ULL << keep);
    }
    /* and the slices wholly above it read as zero when the break comes
     * back up (the one it cuts keeps its lower part). */
    unsigned zero_from = (unsigned)(((uintptr_t)target - (uintptr_t)seg + TIDE_SLICE_SIZE - 1) >>
                                    TIDE_SLICE_SHIFT);
    if (zero_from < 64) seg->zero_slices |= seg->free_slices & (~0ULL << zero_from);
  }
out:
  tide_lock_give(&brk_heap.lock);
  return given;
}

/* ---- Giving the pool back ---------------------------------------------------------- */
/* Free units at the top whose wait is over (all if force) go back by
 * lowering the break: to the end of the highest unit still in use (a
 * segment there becomes the top again and can trim itself further), never
 * below the floor. */
static void brk_lower_over_free_top(bool force) {
  uint32_t n = 0;
  while (n < brk_heap.units) {
    uint32_t u = brk_heap.units - 1 - n;
    if (!bit_get(brk_heap.free, u) || (!force && bit_get(brk_heap.young, u))) break;
    n++;
  }
  if (n == 0) return;
  uint32_t keep = brk_heap.units - n;
  uintptr_t target = keep ? unit_addr(keep) : brk_heap.start;
  tide_segment *below = NULL;
  if (keep > 0 && bit_get(brk_heap.segs, keep - 1))
    below = (tide_segment *)unit_addr(keep - 1);
  if (target < brk_heap.floor) target = brk_heap.floor;
  if (target >= brk_heap.brk || !brk_move(target)) return;
  bits_set(brk_heap.free, keep, n, false);
  bits_set(brk_heap.young, keep, n, false);
  bits_set(brk_heap.old, keep, n, false);
  brk_heap.units = keep;
  if (below != NULL && (uintptr_t)below + TIDE_SEGMENT_SIZE == target &&
      __atomic_load_n(&below->commit_end, __ATOMIC_RELAXED) == (uint8_t *)target) {
    /* Its owner may now grow or trim it at the break (not one capped under
     * foreign data: its usable part ends below the break). */
    __atomic_store_n(&brk_heap.top, below, __ATOMIC_RELAXED);
    __atomic_store_n(&below->capped, 0, __ATOMIC_RELAXED);
  }
}

/* Runs of adjacent units in map: one madvise each. */
static void brk_purge_runs(uint64_t *map) {
  uint32_t u = 0;
  while (u < brk_heap.units) {
    if (!bit_get(map, u)) {
      u++;
      continue;
    }
    uint32_t n = 1;
    while (u + n < brk_heap.units && bit_get(map, u + n)) n++;
    uintptr_t from = unit_addr(u), to = unit_addr(u + n);
    if (to > brk_heap.brk) to = tide_align_up(brk_heap.brk, tide_os_page);
    if (to > from && os_purge((void *)from, to - from)) {
      bits_set(brk_heap.young, u, n, false);
      bits_set(brk_heap.old, u, n, false);
    }
    u += n;
  }
}

static void brk_pool_purge_locked(bool force) {
  /* Each unit waits purge_delay_ms from its own free: a unit a program
   * frees and takes again and again (a loop's one big block) neither holds
   * the others back nor hurries itself.  Those whose wait is over become
   * old and go back now, at the top by lowering the break. */
  uint64_t delay = (uint64_t)(tide_opt.purge_delay_ms > 0 ? tide_opt.purge_delay_ms : 0) * 1000000u;
  uint64_t now = init_clock_ns(), next = 0;
  for (uint32_t w = 0; w * 64 < brk_heap.units; w++) {
    for (uint64_t y = brk_heap.young[w]; y != 0; y &= y - 1) {
      uint32_t u = w * 64 + (uint32_t)__builtin_ctzll(y);
      uint64_t due = brk_heap.freed_ns[u] + delay;
      if (force || now >= due) {
        bits_set(brk_heap.young, u, 1, false);
        bits_set(brk_heap.old, u, 1, true);
      } else if (next == 0 || due < next) {
        next = due;
      }
    }
  }
  brk_lower_over_free_top(force);
  brk_purge_runs(brk_heap.old);
  bool failed = false; /* an madvise that failed: try again later */
  for (uint32_t w = 0; w * 64 < brk_heap.units; w++)
    if (brk_heap.old[w]) failed = true;
  /* Clean free units at the top still go back with the break. */
  uint32_t top_free = free_top_count();
  brk_heap.purge_deadline_ns = 0;
  if (next != 0)
    brk_schedule_purge_at(next);
  else if (failed || top_free > 0)
    brk_schedule_purge();
}

/* Called on the purge clock (and by malloc_trim with force). */
void brk_pool_purge(uint64_t now_ns, bool force) {
  tide_lock_take(&brk_heap.lock);
  if (force || (brk_heap.purge_deadline_ns != 0 && now_ns >= brk_heap.purge_deadline_ns))
    brk_pool_purge_locked(force);
  else if (brk_heap.purge_deadline_ns != 0)
    init_note_purge(brk_heap.purge_deadline_ns); /* the clock was taken: wait on */
  tide_lock_give(&brk_heap.lock);
}

void brk_info(tide_brk_info *out) {
  tide_lock_take(&brk_heap.lock);
  out->start = brk_heap.start;
  out->brk = brk_heap.brk;
  out->peak = brk_heap.peak;
  out->segments = brk_heap.segments;
  out->spans = brk_heap.spans;
  uint64_t free_units = 0;
  for (uint32_t w = 0; w * 64 < brk_heap.units; w++)
    free_units += (uint64_t)__builtin_popcountll(brk_heap.free[w]);
  out->free_bytes = free_units * TIDE_SEGMENT_SIZE;
  tide_lock_give(&brk_heap.lock);
}

void brk_fork_prepare(void) { tide_lock_take(&brk_heap.lock); }
void brk_fork_parent(void) { tide_lock_give(&brk_heap.lock); }
void brk_fork_child(void) { tide_lock_reset(&brk_heap.lock); }

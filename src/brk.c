/* The brk heap: segments carved out of the data segment, as the seed text
 * describes.  The break is moved only as far as the top segment's committed
 * part needs (plus top_pad), and lowered when the top of the heap is free.
 *
 * We never assume we own the break: before every move we check that it is
 * where we left it.  If other code moved it (a foreign sbrk), the top
 * segment is capped where it stands and the next segment starts above the
 * foreign data.  If brk fails (a mapping in the way, RLIMIT_DATA, a test's
 * fault injection), new segments come from mmap from then on. */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <errno.h>

static struct {
  tide_lock lock;
  uintptr_t start;      /* where the first segment's padding began */
  uintptr_t brk;        /* the break as we last set it (0: never) */
  uintptr_t peak;
  tide_segment *top;    /* the highest brk segment, or NULL */
  uint64_t segments;    /* live brk segments */
  bool disabled;        /* brk failed: use mmap from now on */
} brk_heap = {.lock = TIDE_LOCK_INIT};

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

/* A new segment at the top of the brk heap with first_commit bytes usable
 * (at least the header slice), or NULL if brk cannot give one. */
tide_segment *brk_segment_new(size_t first_commit) {
  if (!tide_opt.use_brk) return NULL;
  tide_lock_take(&brk_heap.lock);
  tide_segment *seg = NULL;
  if (brk_heap.disabled) goto out;
  uintptr_t cur = os_brk_current();
  tide_segment *old = brk_heap.top;
  bool foreign = brk_heap.brk != 0 && cur != brk_heap.brk;
  uintptr_t start = tide_align_up(cur, TIDE_SEGMENT_SIZE);
  uintptr_t end = start + tide_align_up(first_commit + tide_opt.top_pad,
                                        TIDE_SLICE_SIZE);
  if (end > start + TIDE_SEGMENT_SIZE) end = start + TIDE_SEGMENT_SIZE;
  if (start < cur || end < start) goto fail;
  if (!os_brk_set(end)) {
    end = start + tide_align_up(first_commit, TIDE_SLICE_SIZE);
    if (!os_brk_set(end)) goto fail;
  }
  uintptr_t base = cur;
  if (old != NULL) {
    uint8_t *old_end = (uint8_t *)old + TIDE_SEGMENT_SIZE;
    if (!foreign && (uintptr_t)old_end == start) {
      /* The break passed over the old top: all of it is usable now, and
       * releasing seg must not lower the break into it. */
      __atomic_store_n(&old->commit_end, old_end, __ATOMIC_RELAXED);
      base = start;
    }
    __atomic_store_n(&old->capped, 1, __ATOMIC_RELAXED); /* no longer the top either way */
  }
  if (brk_heap.start == 0) brk_heap.start = cur;
  brk_heap.brk = end;
  seg = (tide_segment *)start;
  /* Fresh break memory reads as zero, but say so: tools that emulate brk
   * (valgrind) do not promise it. */
  seg->guards = 0;
  seg->in_full_list = 0;
  seg->guard_bytes = 0;
  seg->kind = TIDE_SEG_BRK;
  seg->size = TIDE_SEGMENT_SIZE;
  seg->commit_end = (uint8_t *)end;
  seg->brk_base = base;
  __atomic_store_n(&seg->capped, 0, __ATOMIC_RELAXED);
  brk_heap.top = seg;
  brk_heap.segments++;
  brk_publish();
  goto out;
fail:
  brk_heap.disabled = true;
out:
  tide_lock_give(&brk_heap.lock);
  return seg;
}

/* Grow the committed part of seg (the heap top) to cover need_end. */
bool brk_extend(tide_segment *seg, uint8_t *need_end) {
  bool ok = false;
  tide_lock_take(&brk_heap.lock);
  if (need_end <= __atomic_load_n(&seg->commit_end, __ATOMIC_RELAXED)) {
    ok = true; /* a newer segment above already moved the break past it */
    goto out;
  }
  if (seg != brk_heap.top || __atomic_load_n(&seg->capped, __ATOMIC_RELAXED)) goto out;
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
  }
out:
  tide_lock_give(&brk_heap.lock);
  return ok;
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
  if (target >= seg->commit_end) goto out;
  size_t excess = (size_t)(seg->commit_end - target);
  if (!force && excess <= tide_opt_read(trim_threshold)) goto out;
  if (brk_move((uintptr_t)target)) {
    given = excess;
    seg->commit_end = target;
    __atomic_store_n(&seg->capped, 0, __ATOMIC_RELAXED);
    /* Slices above the break are gone: nothing left there to purge. */
    unsigned keep = (unsigned)(((uintptr_t)target - (uintptr_t)seg) >>
                               TIDE_SLICE_SHIFT);
    if (keep < 64) seg->purge_slices &= ~(~0ULL << keep);
  }
out:
  tide_lock_give(&brk_heap.lock);
  return given;
}

/* seg is empty and no longer owned.  If it is the heap top, lower the break
 * to its base: to the end of the brk segment just below when that one is
 * contiguous (which becomes the top, already full height), else to where
 * the break was before seg was made.  Returns false if seg must stay. */
bool brk_release(tide_segment *seg) {
  bool ok = false;
  tide_lock_take(&brk_heap.lock);
  if (seg != brk_heap.top) goto out;
  uintptr_t below = (uintptr_t)seg - TIDE_SEGMENT_SIZE;
  tide_segment *next_top = NULL;
  if (seg->brk_base == (uintptr_t)seg && segmap_test(tide_segmap_head, below) &&
      ((tide_segment *)below)->kind == TIDE_SEG_BRK)
    next_top = (tide_segment *)below;
  if (brk_move(seg->brk_base)) {
    brk_heap.top = next_top;
    if (next_top) __atomic_store_n(&next_top->capped, 0, __ATOMIC_RELAXED);
    brk_heap.segments--;
    ok = true;
  }
out:
  tide_lock_give(&brk_heap.lock);
  return ok;
}

bool brk_is_top(tide_segment *seg) {
  tide_lock_take(&brk_heap.lock);
  bool top = seg == brk_heap.top;
  tide_lock_give(&brk_heap.lock);
  return top;
}

void brk_info(tide_brk_info *out) {
  tide_lock_take(&brk_heap.lock);
  out->start = brk_heap.start;
  out->brk = brk_heap.brk;
  out->peak = brk_heap.peak;
  out->segments = brk_heap.segments;
  tide_lock_give(&brk_heap.lock);
}

void brk_fork_prepare(void) { tide_lock_take(&brk_heap.lock); }
void brk_fork_parent(void) { tide_lock_give(&brk_heap.lock); }
void brk_fork_child(void) { tide_lock_reset(&brk_heap.lock); }

/* SPDX-License-Identifier: MIT */
/* Segments: where pages come from.  A heap owns segments and carves pages
 * (runs of 64 KiB slices) out of them; an empty segment goes back to the
 * brk heap's pool of free units (brk.c), or, if mapped, to a small cache or
 * to the OS.  Free slices are given back
 * with madvise once they have been free for purge_delay_ms. */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <errno.h>
#include <string.h>

_Atomic(uint64_t) tide_segmap_head[TIDE_MAP_BITS / 64];
_Atomic(uint64_t) tide_segmap_cont[TIDE_MAP_BITS / 64];
_Atomic(uint16_t) tide_segmap_fast[TIDE_MAP_BITS];

#define ALL_SLICES (~0ULL)
#define FREE_WHEN_EMPTY (~1ULL) /* every slice but the header */
#define CACHE_MMAP_MAX 4        /* empty mapped segments kept for reuse */

static struct {
  tide_lock lock;
  tide_segment *list; /* empty, unowned mapped segments */
  unsigned count_mmap;
} seg_cache = {.lock = TIDE_LOCK_INIT};

static _Atomic(uint64_t) seg_live;
/* The lowest and highest units ever marked: segment_resident looks only
 * between them (mappings cluster; the map is 2^25 units). */
static _Atomic(uintptr_t) map_lo = UINTPTR_MAX, map_hi;

/* ---- The segment map ------------------------------------------------------ */
static void map_bits(_Atomic(uint64_t) *map, uintptr_t first, uintptr_t count,
                     bool set) {
  for (uintptr_t u = first; u < first + count; u++) {
    uint64_t bit = 1ULL << (u % 64);
    if (set)
      atomic_fetch_or(&map[u / 64], bit);
    else
      atomic_fetch_and(&map[u / 64], ~bit);
  }
}

void segment_map_range(uintptr_t addr, size_t size, bool live) {
  uintptr_t unit = addr >> TIDE_SEGMENT_SHIFT;
  uintptr_t units = tide_align_up(size, TIDE_SEGMENT_SIZE) >> TIDE_SEGMENT_SHIFT;
  if (unit + units > TIDE_MAP_BITS) return; /* beyond the map: never ours */
  if (live) {
    uintptr_t lo = tide_load(&map_lo), hi = tide_load(&map_hi);
    while (unit < lo && !atomic_compare_exchange_weak(&map_lo, &lo, unit)) {
    }
    while (unit + units > hi && !atomic_compare_exchange_weak(&map_hi, &hi, unit + units)) {
    }
  }
  map_bits(tide_segmap_head, unit, 1, live);
  map_bits(tide_segmap_cont, unit + 1, units - 1, live);
  tide_store(&tide_segmap_fast[unit], live ? TIDE_TAG_SLOW : TIDE_TAG_NONE);
  if (live)
    tide_add(&seg_live, 1);
  else
    atomic_fetch_sub(&seg_live, 1);
}

void segment_map_set(tide_segment *seg, bool live) {
  segment_map_range((uintptr_t)seg, seg->size, live);
}

/* The owner of a live segment that is not huge, or NULL.  Its tag goes in
 * the map unless every free must take the checked path (secure mode,
 * valgrind: TIDE_TAG_CHECKED, which still says that a heap's segment starts
 * there): only then do frees of the owner's blocks take the fast path. */
void segment_set_owner(tide_segment *seg, tide_heap *heap) {
  seg->heap = heap;
  uint16_t tag = heap == NULL        ? TIDE_TAG_SLOW
                 : tide_slow_only() ? TIDE_TAG_CHECKED
                                    : heap->fast_tag;
  tide_store(&tide_segmap_fast[(uintptr_t)seg >> TIDE_SEGMENT_SHIFT], tag);
}

uint64_t segment_count(void) { return tide_load(&seg_live); }

/* The segment holding p, for any address inside a live segment, including
 * the far parts of a huge one; NULL if p is not tidemalloc's. */
tide_segment *segment_find(const void *p) {
  uintptr_t unit = (uintptr_t)p >> TIDE_SEGMENT_SHIFT;
  if (segmap_test(tide_segmap_head, (uintptr_t)p)) return segment_of(p);
  if (!segmap_test(tide_segmap_cont, (uintptr_t)p)) return NULL;
  while (unit > 0) {
    unit--;
    uintptr_t addr = unit << TIDE_SEGMENT_SHIFT;
    if (segmap_test(tide_segmap_head, addr)) return (tide_segment *)addr;
    if (!segmap_test(tide_segmap_cont, addr)) break;
  }
  return NULL;
}

/* What the kernel has resident of tidemalloc's memory: the brk heap from
 * heap_start to heap_break whole (a foreign sbrk's data in it included;
 * heap_start 0: none), then the live segments and big mappings outside it.
 * Only the map is read, never a header: a segment given back meanwhile is
 * a gap that mincore reports, not a fault. */
uint64_t segment_resident(uintptr_t heap_start, uintptr_t heap_break) {
  uintptr_t lo = tide_load(&map_lo), hi = tide_load(&map_hi);
  uint64_t resident = 0;
  uintptr_t skip_lo = 0, skip_hi = 0;
  if (heap_start != 0 && heap_break > heap_start) {
    resident = os_resident((void *)heap_start, heap_break - heap_start);
    skip_lo = heap_start;
    skip_hi = tide_align_up(heap_break, TIDE_SEGMENT_SIZE);
  }
  for (uintptr_t unit = lo; unit < hi && unit < TIDE_MAP_BITS; unit++) {
    uintptr_t addr = unit << TIDE_SEGMENT_SHIFT;
    if ((tide_load(&tide_segmap_head[unit / 64]) >> (unit % 64) & 1) == 0) {
      if (tide_load(&tide_segmap_head[unit / 64]) == 0 && tide_load(&tide_segmap_cont[unit / 64]) == 0)
        unit |= 63; /* a word with no segment at all */
      continue;
    }
    uintptr_t end = unit + 1;
    while (end < hi && (tide_load(&tide_segmap_cont[end / 64]) >> (end % 64) & 1)) end++;
    uintptr_t from = addr, to = end << TIDE_SEGMENT_SHIFT;
    if (from < skip_hi && to > skip_lo) { /* in the brk heap: measured there */
      unit = end - 1;
      continue;
    }
    resident += os_resident((void *)from, to - from);
    unit = end - 1;
  }
  return resident;
}

/* ---- Lists ---------------------------------------------------------------- */
static void list_push(tide_segment **list, tide_segment *seg) {
  seg->prev = NULL;
  seg->next = *list;
  if (*list) (*list)->prev = seg;
  *list = seg;
}

static void list_remove(tide_segment **list, tide_segment *seg) {
  if (seg->prev)
    seg->prev->next = seg->next;
  else
    *list = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
}

static tide_segment **heap_list_of(tide_heap *heap, tide_segment *seg) {
  return seg->in_full_list ? &heap->segments_full : &heap->segments;
}

/* ---- Purging ----------------------------------------------------------------- */
static uint64_t slice_bits(unsigned first, unsigned count) {
  uint64_t bits = count >= 64 ? ALL_SLICES : ((1ULL << count) - 1);
  return bits << first;
}

static unsigned committed_slices(tide_segment *seg) {
  uint8_t *end = __atomic_load_n(&seg->commit_end, __ATOMIC_RELAXED);
  return (unsigned)((uintptr_t)(end - (uint8_t *)seg) >> TIDE_SLICE_SHIFT);
}

/* Give back the resident free slices that have waited a whole delay (all
 * of them if force); the ones freed during this wait start the next. */
static void segment_purge_now(tide_segment *seg, bool force) {
  uint64_t todo = seg->purge_slices & seg->free_slices;
  if (!force) todo &= ~seg->purge_young;
  unsigned committed = committed_slices(seg);
  if (committed < 64) todo &= slice_bits(0, committed);
  while (todo) {
    unsigned first = (unsigned)__builtin_ctzll(todo);
    unsigned count = (unsigned)__builtin_ctzll(~(todo >> first));
    if (first + count > 64) count = 64 - first;
    uint8_t *start = (uint8_t *)seg + (size_t)first * TIDE_SLICE_SIZE;
    uint64_t bits = slice_bits(first, count);
    if (os_purge(start, (size_t)count * TIDE_SLICE_SIZE)) {
      seg->purged_slices |= bits;
      seg->zero_slices |= bits;
      if (seg->heap) {
        seg->heap->purged_recent += count;
        seg->heap->purged_total += count;
      }
    }
    todo &= ~bits;
  }
  seg->purge_slices = force ? 0 : seg->purge_young & seg->free_slices;
  seg->purge_young = 0;
  /* The young wait a delay from the first of their frees, not from now: a
   * whole delay, not up to two (mixed: peak RSS 41 MB with two, 32 MB
   * before the generations). */
  uint64_t now = init_clock_ns(), due = seg->purge_young_ns +
                                        (uint64_t)tide_opt.purge_delay_ms * 1000000u;
  seg->purge_deadline_ns = seg->purge_slices ? (due > now ? due : now) : 0;
}

/* Give back seg's free slices once they have waited `hold` purge delays
 * (heap_purge decides how many).  Returns when seg next wants a look (0:
 * nothing waits). */
uint64_t segment_purge(tide_segment *seg, uint64_t now_ns, bool force, unsigned hold) {
  if (seg->purge_slices == 0) return 0;
  if (!force) {
    if (tide_opt.purge_delay_ms < 0) return 0;
    if (now_ns < seg->purge_deadline_ns) return seg->purge_deadline_ns;
    uint64_t delay = (uint64_t)tide_opt.purge_delay_ms * 1000000u;
    if (hold > 1 && now_ns < seg->purge_deadline_ns + (hold - 1) * delay)
      return now_ns + delay;
  }
  segment_purge_now(seg, force);
  return seg->purge_deadline_ns;
}

/* Free slices wait purge_delay_ms before madvise, so that a page freed and
 * soon needed again costs no page faults.  A slice freed while a wait runs
 * waits for the next one, due a delay after the first such free: each
 * slice waits a whole delay (and at most one more than the slices freed
 * with it), not only until the deadline of slices freed before it. */
static void segment_schedule_purge(tide_segment *seg, uint64_t bits) {
  seg->purge_slices |= bits;
  if (tide_opt.purge_delay_ms == 0) {
    segment_purge_now(seg, true);
  } else if (seg->purge_deadline_ns != 0) {
    if (seg->purge_young == 0) seg->purge_young_ns = init_clock_ns();
    seg->purge_young |= bits;
  } else if (seg->purge_slices != 0) {
    seg->purge_deadline_ns =
        init_clock_ns() + (uint64_t)tide_opt.purge_delay_ms * 1000000u;
    if (seg->heap != NULL)
      heap_note_purge(seg->heap, seg->purge_deadline_ns);
    else
      init_note_purge(seg->purge_deadline_ns);
  }
}

/* A page made on resident free slices carves its blocks lazily, so the rest
 * of its span keeps whatever an earlier page left there, resident for as
 * long as the page lives (espresso: 46 classes' pages, each fully resident
 * and most with a few KiB carved, 2.3 MiB in all for 90 KiB in use).  At
 * the owner's purge, each such page gives back what it has not carved yet,
 * if that is at least TAIL_MIN_BYTES; a later extension faults it in as it
 * would on a fresh span.  The memory stays the page's: committed, not
 * counted as purged.  Only the owner (or whoever holds a parked heap) may
 * call this: a page's capacity grows without the segment lock. */
#define TAIL_MIN_BYTES ((size_t)16 << 10)
void segment_trim_tails(tide_segment *seg) {
  uint64_t heads = seg->warm_tails;
  while (heads) {
    unsigned first = (unsigned)__builtin_ctzll(heads);
    heads &= heads - 1;
    tide_page *page = &seg->pages[first];
    /* A page still carving (most of what it carved is in use) will want its
     * tail soon (mstress: trimming those tripled the system time); it is
     * looked at again at the next purge. */
    if (page->bin != TIDE_BIN_LARGE && page_used(page) * 2 > page->capacity) continue;
    seg->warm_tails &= ~(1ULL << first);
    if (page->bin == TIDE_BIN_LARGE) continue;
    size_t carved = tide_align_up((size_t)page->capacity * page->block_size, tide_os_page);
    size_t span = (size_t)page->slice_count << TIDE_SLICE_SHIFT;
    if (span >= carved + TAIL_MIN_BYTES) os_discard(page_start(page) + carved, span - carved);
  }
}

/* ---- Segments come and go ------------------------------------------------- */
/* Secure mode: PROT_NONE over the header slice's unused tail and over the
 * last slice, once each is backed by memory. */
static void segment_guard(tide_segment *seg) {
  if (!tide_opt.secure) return;
  if (!(seg->guards & TIDE_GUARD_HEAD)) {
    /* past the header and secure mode's bitmaps (types.h) */
    uintptr_t from = tide_align_up((uintptr_t)seg + TIDE_SECURE_META_END, tide_os_page);
    uintptr_t to = (uintptr_t)seg + TIDE_SLICE_SIZE;
    if (from < to && os_protect((void *)from, to - from)) seg->guards |= TIDE_GUARD_HEAD;
  }
  if (!(seg->guards & TIDE_GUARD_TAIL) && committed_slices(seg) >= TIDE_SLICES) {
    uint8_t *last = (uint8_t *)seg + (TIDE_SLICES - 1) * TIDE_SLICE_SIZE;
    if (os_protect(last, TIDE_SLICE_SIZE)) seg->guards |= TIDE_GUARD_TAIL;
  }
}

/* The slices a fresh page may use: all but the header (and, in secure mode,
 * the last one, which is a guard). */
static uint64_t segment_usable_slices(void) {
  return tide_opt.secure ? FREE_WHEN_EMPTY & ~(1ULL << (TIDE_SLICES - 1))
                         : FREE_WHEN_EMPTY;
}

unsigned segment_used_slices(const tide_segment *seg) {
  return (unsigned)__builtin_popcountll(segment_usable_slices() & ~seg->free_slices);
}

static void segment_reset(tide_segment *seg) {
  memset(seg->pages, 0, TIDE_SLICES * sizeof(tide_page));
  for (unsigned i = 0; i < TIDE_SLICES; i++) seg->slice_page[i] = segment_page_offset(i);
  seg->free_slices = segment_usable_slices();
  seg->warm_tails = 0;
  seg->in_full_list = 0;
  segment_guard(seg);
}

/* An empty mapped segment from the cache, or NULL. */
static tide_segment *segment_from_cache(void) {
  tide_lock_take(&seg_cache.lock);
  tide_segment *seg = seg_cache.list;
  if (seg) {
    list_remove(&seg_cache.list, seg);
    seg_cache.count_mmap--;
  }
  tide_lock_give(&seg_cache.lock);
  return seg;
}

/* A segment for a heap that needs `slices_needed` slices: a free unit of
 * the brk heap (lowest first) or a cached mapped segment; with grow, then
 * a new unit at the top of the brk heap or a new mapping.  Memory we have
 * is reused before the kernel is asked for more: segment_span_alloc
 * reclaims the heaps of exited threads between a call without grow and
 * one with it. */
static tide_segment *segment_new(unsigned slices_needed, bool grow) {
  size_t first = (size_t)(1 + slices_needed) * TIDE_SLICE_SIZE;
  bool dirty = false;
  tide_segment *seg = brk_segment_new(first, false, &dirty);
  if (seg == NULL) seg = segment_from_cache();
  if (seg == NULL && !grow) return NULL;
  if (seg == NULL) seg = brk_segment_new(first, true, &dirty);
  if (seg == NULL) {
    seg = os_mmap_aligned(TIDE_SEGMENT_SIZE, TIDE_SEGMENT_SIZE);
    if (seg == NULL) return NULL;
    os_name(seg, TIDE_SEGMENT_SIZE, "tidemalloc segment");
    tide_segment_header_init(seg, TIDE_SEG_MMAP, (uint8_t *)seg + TIDE_SEGMENT_SIZE, false);
    seg->purge_slices = seg->purge_young = seg->purged_slices = 0;
    seg->purge_deadline_ns = 0;
    seg->zero_slices = segment_usable_slices();
  } else if (seg->kind == TIDE_SEG_BRK) {
    /* A unit from the pool was purged whole, or not at all: its slices'
     * purge state starts afresh, and they are all zero or all suspect. */
    seg->purge_slices = seg->purge_young = seg->purged_slices = 0;
    seg->purge_deadline_ns = 0;
    seg->zero_slices = dirty ? 0 : segment_usable_slices();
  }
  /* A cached mapping's slices keep what they knew. */
  seg->free_slices = segment_usable_slices();
  segment_map_set(seg, true);
  return seg;
}

/* Hand an empty, unowned segment back: a brk one to the brk heap's pool
 * (which lowers the break or purges it after the delay), a mapped one to
 * the cache while it has room, else unmapped. */
void segment_release(tide_segment *seg) {
  tide_assert(seg->free_slices == segment_usable_slices() && seg->heap == NULL);
  if (seg->kind == TIDE_SEG_BRK) {
    /* Slices purged already will be counted again when the unit is. */
    os_note_reused((size_t)__builtin_popcountll(seg->purged_slices) * TIDE_SLICE_SIZE);
    segment_map_set(seg, false);
    brk_segment_free(seg);
    return;
  }
  tide_lock_take(&seg_cache.lock);
  bool keep = seg_cache.count_mmap < CACHE_MMAP_MAX;
  if (keep) {
    seg_cache.count_mmap++;
    segment_schedule_purge(seg, 0);
    /* A wait begun while a heap owned it now counts on the process clock. */
    if (seg->purge_deadline_ns != 0) init_note_purge(seg->purge_deadline_ns);
    list_push(&seg_cache.list, seg);
  }
  tide_lock_give(&seg_cache.lock);
  if (!keep) {
    segment_map_set(seg, false);
    os_munmap(seg, seg->size);
  }
}

/* malloc_trim: every cached segment goes back to the OS, and the brk heap's
 * free units at once. */
size_t segment_cache_trim(void) {
  brk_pool_purge(init_clock_ns(), true);
  size_t given = 0;
  tide_lock_take(&seg_cache.lock);
  tide_segment *s = seg_cache.list;
  while (s) {
    tide_segment *next = s->next;
    list_remove(&seg_cache.list, s);
    seg_cache.count_mmap--;
    segment_map_set(s, false);
    os_munmap(s, s->size);
    given += TIDE_SEGMENT_SIZE;
    s = next;
  }
  tide_lock_give(&seg_cache.lock);
  return given;
}

/* Cached segments purge on the same clock as owned ones. */
void segment_cache_purge(uint64_t now_ns, bool force) {
  tide_lock_take(&seg_cache.lock);
  for (tide_segment *s = seg_cache.list; s; s = s->next) {
    segment_purge(s, now_ns, force, false);
    if (s->purge_slices) init_note_purge(s->purge_deadline_ns);
  }
  tide_lock_give(&seg_cache.lock);
}

/* ---- Spans of slices -------------------------------------------------------- */
/* Lowest slice where `count` free slices in a row start, or -1. */
static int find_run(uint64_t free, unsigned count) {
  uint64_t starts = free;
  for (unsigned k = 1; k < count && starts; k++) starts &= free >> k;
  return starts ? __builtin_ctzll(starts) : -1;
}

static tide_page *span_take(tide_segment *seg, unsigned first, unsigned count) {
  uint64_t bits = slice_bits(first, count);
  if (seg->purge_slices & bits) seg->warm_tails |= 1ULL << first;
  /* page_init keeps this one flag (the descriptor was cleared when the
   * slices were last freed, segment_span_free). */
  seg->pages[first].flags = (seg->zero_slices & bits) == bits ? TIDE_PAGE_FRESH : 0;
  seg->zero_slices &= ~bits;
  seg->free_slices &= ~bits;
  seg->purge_slices &= ~bits;
  seg->purge_young &= ~bits;
  uint64_t reused = seg->purged_slices & bits;
  if (reused) {
    os_note_reused((size_t)__builtin_popcountll(reused) * TIDE_SLICE_SIZE);
    seg->purged_slices &= ~bits;
    if (seg->heap) {
      seg->heap->refaulted_recent += (uint32_t)__builtin_popcountll(reused);
      seg->heap->refaulted_total += (uint64_t)__builtin_popcountll(reused);
    }
  }
  for (unsigned j = 0; j < count; j++) seg->slice_page[first + j] = segment_page_offset(first);
  tide_page *page = &seg->pages[first];
  page->slice_count = (uint8_t)count;
  return page;
}

/* fresh: seg was just taken for this page, so it serves even as a top that
 * drains (brk_top_drains), which would otherwise send it back for another. */
static tide_page *span_try(tide_segment *seg, unsigned count, bool fresh) {
  if (!fresh && seg->kind == TIDE_SEG_BRK && brk_top_drains(seg)) return NULL;
  if (tide_opt.secure && seg->guards != (TIDE_GUARD_HEAD | TIDE_GUARD_TAIL))
    segment_guard(seg); /* the break may have passed over its end since */
  unsigned committed = committed_slices(seg);
  uint64_t committed_mask = committed >= 64 ? ALL_SLICES : slice_bits(0, committed);
  int first = find_run(seg->free_slices & committed_mask, count);
  if (first >= 0) return span_take(seg, (unsigned)first, count);
  if (seg->kind != TIDE_SEG_BRK || committed >= 64 || __atomic_load_n(&seg->capped, __ATOMIC_RELAXED)) return NULL;
  first = find_run(seg->free_slices, count);
  if (first < 0) return NULL;
  uint8_t *end = (uint8_t *)seg + (size_t)(first + (int)count) * TIDE_SLICE_SIZE;
  if (!brk_extend(seg, end)) return NULL;
  segment_guard(seg);
  return span_take(seg, (unsigned)first, count);
}

/* Whether any page at all could still be made in seg. */
static bool segment_has_room(tide_segment *seg) {
  unsigned committed = committed_slices(seg);
  if (committed >= 64 || (seg->kind == TIDE_SEG_BRK && !__atomic_load_n(&seg->capped, __ATOMIC_RELAXED)))
    return seg->free_slices != 0;
  return (seg->free_slices & slice_bits(0, committed)) != 0;
}

/* A run of `count` slices for a new page, from a segment of heap's. */
/* A run of free slices still resident (freed, not yet purged), in any of
 * the heap's segments: reusing one costs no page faults and adds nothing
 * to the resident set, where a purged or never used run would. */
static tide_page *span_try_warm(tide_heap *heap, unsigned count) {
  tide_segment *best = NULL;
  int best_first = -1;
  for (tide_segment *seg = heap->segments; seg; seg = seg->next) {
    if (best != NULL && seg > best) continue; /* the lowest, so the top can go */
    uint64_t warm = seg->purge_slices & seg->free_slices;
    if (__builtin_popcountll(warm) < (int)count) continue;
    if (seg->kind == TIDE_SEG_BRK && brk_top_drains(seg)) continue;
    unsigned committed = committed_slices(seg);
    if (committed < 64) warm &= slice_bits(0, committed);
    int first = find_run(warm, count);
    if (first >= 0) {
      best = seg;
      best_first = first;
    }
  }
  return best ? span_take(best, (unsigned)best_first, count) : NULL;
}

static tide_page *segment_span_alloc_locked(tide_heap *heap, unsigned count, bool grow) {
  tide_page *warm = span_try_warm(heap, count);
  if (warm) return warm;
  tide_segment *seg = heap->segments;
  while (seg) {
    tide_segment *next = seg->next;
    tide_page *page = span_try(seg, count, false);
    if (page) return page;
    if (!segment_has_room(seg)) {
      list_remove(&heap->segments, seg);
      seg->in_full_list = 1;
      list_push(&heap->segments_full, seg);
    }
    seg = next;
  }
  seg = segment_new(count, grow);
  if (seg == NULL) return NULL;
  segment_reset(seg);
  segment_set_owner(seg, heap);
  list_push(&heap->segments, seg);
  return span_try(seg, count, true);
}

tide_page *segment_span_alloc(tide_heap *heap, unsigned count) {
  pthread_mutex_lock(&heap->seg_lock);
  tide_page *page = segment_span_alloc_locked(heap, count, false);
  pthread_mutex_unlock(&heap->seg_lock);
  if (page != NULL) return page;
  /* No lock of ours held while the parked heaps' are taken (a lock order
   * of heap, then parked heap, would meet the reverse when the parked
   * heap's next owner reclaims ours). */
  heap_reclaim_pooled(false);
  pthread_mutex_lock(&heap->seg_lock);
  page = segment_span_alloc_locked(heap, count, true);
  pthread_mutex_unlock(&heap->seg_lock);
  return page;
}

static void segment_span_free_locked(tide_heap *heap, tide_page *page);

/* The page's slices are free again.  Gives the segment back when it is
 * empty, and lowers the break when the top of the heap is free. */
void segment_span_free(tide_heap *heap, tide_page *page) {
  pthread_mutex_lock(&heap->seg_lock);
  segment_span_free_locked(heap, page);
  pthread_mutex_unlock(&heap->seg_lock);
}

static void segment_span_free_locked(tide_heap *heap, tide_page *page) {
  tide_segment *seg = segment_of(page);
  unsigned first = (unsigned)(page - seg->pages);
  unsigned count = page->slice_count;
  memset(page, 0, sizeof(*page));
  for (unsigned j = 0; j < count; j++) seg->slice_page[first + j] = segment_page_offset(first + j);
  uint64_t bits = slice_bits(first, count);
  seg->free_slices |= bits;
  seg->warm_tails &= ~bits;
  if (seg->in_full_list) {
    list_remove(&heap->segments_full, seg);
    seg->in_full_list = 0;
    list_push(&heap->segments, seg);
  }
  if (seg->free_slices == segment_usable_slices()) {
    list_remove(heap_list_of(heap, seg), seg);
    segment_set_owner(seg, NULL);
    seg->purge_slices |= bits; /* purged if the segment is kept */
    segment_release(seg);
    return;
  }
  segment_schedule_purge(seg, bits);
  if (seg->kind == TIDE_SEG_BRK) brk_trim_top(seg, false);
}

/* ---- fork ----------------------------------------------------------------- */
void segment_fork_prepare(void) { tide_lock_take(&seg_cache.lock); }
void segment_fork_parent(void) { tide_lock_give(&seg_cache.lock); }
void segment_fork_child(void) { tide_lock_reset(&seg_cache.lock); }

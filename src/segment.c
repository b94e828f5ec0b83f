/* Segments: where pages come from.  A heap owns segments and carves pages
 * (runs of 64 KiB slices) out of them; an empty segment goes back to the
 * brk heap's top, to a small cache, or to the OS.  Free slices are given back
 * with madvise once they have been free for purge_delay_ms. */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <errno.h>
#include <string.h>

_Atomic(uint64_t) tide_segmap_head[TIDE_MAP_BITS / 64];
_Atomic(uint64_t) tide_segmap_cont[TIDE_MAP_BITS / 64];

#define ALL_SLICES (~0ULL)
#define FREE_WHEN_EMPTY (~1ULL) /* every slice but the header */
#define CACHE_MMAP_MAX 4        /* empty mapped segments kept for reuse */

static struct {
  tide_lock lock;
  tide_segment *list; /* empty, unowned segments */
  unsigned count_mmap;
} seg_cache = {.lock = TIDE_LOCK_INIT};

static _Atomic(uint64_t) seg_live;

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
  map_bits(tide_segmap_head, unit, 1, live);
  map_bits(tide_segmap_cont, unit + 1, units - 1, live);
  if (live)
    tide_add(&seg_live, 1);
  else
    atomic_fetch_sub(&seg_live, 1);
}

void segment_map_set(tide_segment *seg, bool live) {
  segment_map_range((uintptr_t)seg, seg->size, live);
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

static void segment_purge_now(tide_segment *seg) {
  uint64_t todo = seg->purge_slices & seg->free_slices;
  unsigned committed = committed_slices(seg);
  if (committed < 64) todo &= slice_bits(0, committed);
  while (todo) {
    unsigned first = (unsigned)__builtin_ctzll(todo);
    unsigned count = (unsigned)__builtin_ctzll(~(todo >> first));
    if (first + count > 64) count = 64 - first;
    uint8_t *start = (uint8_t *)seg + (size_t)first * TIDE_SLICE_SIZE;
    uint64_t bits = slice_bits(first, count);
    if (os_purge(start, (size_t)count * TIDE_SLICE_SIZE)) seg->purged_slices |= bits;
    todo &= ~bits;
  }
  seg->purge_slices = 0;
  seg->purge_deadline_ns = 0;
}

void segment_purge(tide_segment *seg, uint64_t now_ns, bool force) {
  if (seg->purge_slices == 0) return;
  if (!force && (tide_opt.purge_delay_ms < 0 || now_ns < seg->purge_deadline_ns))
    return;
  segment_purge_now(seg);
}

/* Free slices wait purge_delay_ms before madvise, so that a page freed and
 * soon needed again costs no page faults. */
static void segment_schedule_purge(tide_segment *seg, uint64_t bits) {
  seg->purge_slices |= bits;
  if (tide_opt.purge_delay_ms == 0) {
    segment_purge_now(seg);
  } else if (seg->purge_deadline_ns == 0 && seg->purge_slices != 0) {
    seg->purge_deadline_ns =
        init_clock_ns() + (uint64_t)tide_opt.purge_delay_ms * 1000000u;
    if (seg->heap != NULL)
      heap_note_purge(seg->heap, seg->purge_deadline_ns);
    else
      heap_note_cache_purge(seg->purge_deadline_ns);
  }
}

/* ---- Segments come and go ------------------------------------------------- */
/* Secure mode: PROT_NONE over the header slice's unused tail and over the
 * last slice, once each is backed by memory. */
static void segment_guard(tide_segment *seg) {
  if (!tide_opt.secure) return;
  if (!(seg->guards & TIDE_GUARD_HEAD)) {
    uintptr_t from = tide_align_up((uintptr_t)seg + TIDE_SEGMENT_HEADER_SIZE, tide_os_page);
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

static void segment_reset(tide_segment *seg) {
  memset(seg->pages, 0, TIDE_SLICES * sizeof(tide_page));
  seg->free_slices = segment_usable_slices();
  seg->in_full_list = 0;
  segment_guard(seg);
}

static tide_segment *segment_from_cache(void) {
  tide_lock_take(&seg_cache.lock);
  /* Prefer the lowest brk segment: it keeps the top of the heap free. */
  tide_segment *best = NULL;
  for (tide_segment *s = seg_cache.list; s; s = s->next) {
    if (best == NULL || (s->kind == TIDE_SEG_BRK && best->kind != TIDE_SEG_BRK) ||
        (s->kind == best->kind && s < best))
      best = s;
  }
  if (best) {
    list_remove(&seg_cache.list, best);
    if (best->kind == TIDE_SEG_MMAP) seg_cache.count_mmap--;
  }
  tide_lock_give(&seg_cache.lock);
  return best;
}

static tide_segment *segment_new(unsigned slices_needed) {
  tide_segment *seg = segment_from_cache();
  if (seg == NULL) {
    heap_reclaim_pooled();
    seg = segment_from_cache();
  }
  if (seg != NULL) return seg;
  size_t first = (size_t)(1 + slices_needed) * TIDE_SLICE_SIZE;
  seg = brk_segment_new(first);
  if (seg == NULL) {
    seg = os_mmap_aligned(TIDE_SEGMENT_SIZE, TIDE_SEGMENT_SIZE);
    if (seg == NULL) return NULL;
    os_name(seg, TIDE_SEGMENT_SIZE, "tidemalloc segment");
    seg->guards = 0;
    seg->in_full_list = 0;
    seg->guard_bytes = 0;
    seg->capped = 0;
    seg->kind = TIDE_SEG_MMAP;
    seg->size = TIDE_SEGMENT_SIZE;
    seg->commit_end = (uint8_t *)seg + TIDE_SEGMENT_SIZE;
  }
  seg->free_slices = segment_usable_slices();
  seg->purge_slices = seg->purged_slices = 0;
  seg->purge_deadline_ns = 0;
  segment_map_set(seg, true);
  stats_sample();
  return seg;
}

/* Hand an empty, unowned segment back: lower the break under it, keep it in
 * the cache, or unmap it. */
void segment_release(tide_segment *seg) {
  tide_assert(seg->free_slices == segment_usable_slices() && seg->heap == NULL);
  /* The break comes down at once only when asked to give back at once;
   * else the segment waits in the cache like any free page, and the break
   * is lowered when the wait is over (segment_cache_purge). */
  if (seg->kind == TIDE_SEG_BRK && tide_opt.purge_delay_ms == 0) {
    segment_map_set(seg, false);
    if (brk_release(seg)) {
      segment_cache_trim_brk();
      return;
    }
    segment_map_set(seg, true);
  }
  tide_lock_take(&seg_cache.lock);
  bool keep = seg->kind == TIDE_SEG_BRK || seg_cache.count_mmap < CACHE_MMAP_MAX;
  if (keep) {
    if (seg->kind == TIDE_SEG_MMAP) seg_cache.count_mmap++;
    segment_schedule_purge(seg, 0);
    /* A wait begun while a heap owned it now counts on the cache's clock. */
    if (seg->purge_deadline_ns != 0) heap_note_cache_purge(seg->purge_deadline_ns);
    list_push(&seg_cache.list, seg);
  }
  tide_lock_give(&seg_cache.lock);
  if (!keep) {
    segment_map_set(seg, false);
    os_munmap(seg, seg->size);
  }
}

/* After the break came down, an empty brk segment in the cache may now be
 * the top: let it go too, and the one under it, and so on. */
void segment_cache_trim_brk(void) {
  tide_lock_take(&seg_cache.lock);
  bool progress = true;
  while (progress) {
    progress = false;
    for (tide_segment *s = seg_cache.list; s; s = s->next) {
      if (s->kind != TIDE_SEG_BRK || !brk_is_top(s)) continue;
      /* Unlink first: once the break is below it, s is gone. */
      list_remove(&seg_cache.list, s);
      segment_map_set(s, false);
      progress = brk_release(s);
      if (!progress) {
        segment_map_set(s, true);
        list_push(&seg_cache.list, s);
      }
      break;
    }
  }
  tide_lock_give(&seg_cache.lock);
}

/* malloc_trim: every cached segment gives back all it can. */
size_t segment_cache_trim(void) {
  segment_cache_trim_brk();
  size_t given = 0;
  tide_lock_take(&seg_cache.lock);
  tide_segment *s = seg_cache.list;
  while (s) {
    tide_segment *next = s->next;
    if (s->kind == TIDE_SEG_MMAP) {
      list_remove(&seg_cache.list, s);
      seg_cache.count_mmap--;
      segment_map_set(s, false);
      os_munmap(s, s->size);
      given += TIDE_SEGMENT_SIZE;
    } else if (s->purge_slices) {
      uint64_t before = s->purged_slices;
      segment_purge_now(s);
      given += (size_t)__builtin_popcountll(s->purged_slices & ~before) *
               TIDE_SLICE_SIZE;
    }
    s = next;
  }
  tide_lock_give(&seg_cache.lock);
  return given;
}

/* Cached segments purge on the same clock as owned ones. */
void segment_cache_purge(uint64_t now_ns, bool force) {
  bool brk_due = false;
  tide_lock_take(&seg_cache.lock);
  for (tide_segment *s = seg_cache.list; s; s = s->next)
    if (s->kind == TIDE_SEG_BRK && (force || now_ns >= s->purge_deadline_ns))
      brk_due = true;
  tide_lock_give(&seg_cache.lock);
  /* Empty segments at the top of the heap go back by lowering the break,
   * not by madvise. */
  if (brk_due) segment_cache_trim_brk();
  tide_lock_take(&seg_cache.lock);
  for (tide_segment *s = seg_cache.list; s; s = s->next) {
    segment_purge(s, now_ns, force);
    if (s->purge_slices) heap_note_cache_purge(s->purge_deadline_ns);
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
  seg->free_slices &= ~bits;
  seg->purge_slices &= ~bits;
  uint64_t reused = seg->purged_slices & bits;
  if (reused) {
    os_note_reused((size_t)__builtin_popcountll(reused) * TIDE_SLICE_SIZE);
    seg->purged_slices &= ~bits;
  }
  for (unsigned j = 0; j < count; j++) seg->pages[first + j].slice_offset = (uint8_t)j;
  tide_page *page = &seg->pages[first];
  page->slice_count = (uint8_t)count;
  return page;
}

static tide_page *span_try(tide_segment *seg, unsigned count) {
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
tide_page *segment_span_alloc(tide_heap *heap, unsigned count) {
  tide_segment *seg = heap->segments;
  while (seg) {
    tide_segment *next = seg->next;
    tide_page *page = span_try(seg, count);
    if (page) return page;
    if (!segment_has_room(seg)) {
      list_remove(&heap->segments, seg);
      seg->in_full_list = 1;
      list_push(&heap->segments_full, seg);
    }
    seg = next;
  }
  seg = segment_new(count);
  if (seg == NULL) return NULL;
  segment_reset(seg);
  seg->heap = heap;
  seg->fast_heap = tide_slow_only() ? NULL : heap;
  list_push(&heap->segments, seg);
  return span_try(seg, count);
}

/* The page's slices are free again.  Gives the segment back when it is
 * empty, and lowers the break when the top of the heap is free. */
void segment_span_free(tide_heap *heap, tide_page *page) {
  tide_segment *seg = segment_of(page);
  unsigned first = (unsigned)(page - seg->pages);
  unsigned count = page->slice_count;
  memset(page, 0, sizeof(*page));
  uint64_t bits = slice_bits(first, count);
  seg->free_slices |= bits;
  if (seg->in_full_list) {
    list_remove(&heap->segments_full, seg);
    seg->in_full_list = 0;
    list_push(&heap->segments, seg);
  }
  if (seg->free_slices == segment_usable_slices()) {
    list_remove(heap_list_of(heap, seg), seg);
    seg->heap = seg->fast_heap = NULL;
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

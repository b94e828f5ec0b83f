/* SPDX-License-Identifier: MIT */
/* Huge blocks: a request at or above the mmap threshold gets a mapping of
 * its own, as the seed text describes, so that freeing it gives the memory
 * straight back with munmap and it never pins the brk heap.  The mapping is
 * a segment (4 MiB aligned, header in its first OS page) so free() finds it
 * like any other block; realloc resizes it with mremap.  A block too big
 * for a segment but below the threshold is a span of the brk heap instead,
 * with the same header (huge_alloc_span). */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static _Atomic(uint64_t) huge_count;

/* Blocks too big for a segment but below the (raised) mmap threshold are
 * ones glibc would serve from its heap.  Their mappings are kept a while
 * after free, like free pages, and reused: a program that keeps making and
 * dropping 8 MiB buffers must not fault in fresh pages every time.  Blocks
 * at or above the threshold always go straight back with munmap. */
#define HUGE_CACHE_SLOTS 8
#define HUGE_CACHE_BYTES ((size_t)64 << 20)
static struct {
  tide_lock lock;
  tide_segment *slot[HUGE_CACHE_SLOTS];
  uint64_t freed_ns[HUGE_CACHE_SLOTS];
  size_t bytes;
} huge_cache = {.lock = TIDE_LOCK_INIT};

/* A cached mapping of at least map_size bytes (at most a quarter more), or
 * NULL. */
static tide_segment *huge_cache_take(size_t map_size) {
  tide_segment *best = NULL;
  tide_lock_take(&huge_cache.lock);
  int pick = -1;
  for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
    tide_segment *s = huge_cache.slot[i];
    if (s && s->size >= map_size && s->size - map_size <= map_size / 4 &&
        (pick < 0 || s->size < huge_cache.slot[pick]->size))
      pick = i;
  }
  if (pick >= 0) {
    best = huge_cache.slot[pick];
    huge_cache.slot[pick] = NULL;
    huge_cache.bytes -= best->size;
  }
  tide_lock_give(&huge_cache.lock);
  return best;
}

static bool huge_cache_put(tide_segment *seg) {
  bool kept = false;
  tide_lock_take(&huge_cache.lock);
  for (int i = 0; i < HUGE_CACHE_SLOTS && !kept; i++) {
    if (huge_cache.slot[i] == NULL && huge_cache.bytes + seg->size <= HUGE_CACHE_BYTES) {
      huge_cache.slot[i] = seg;
      huge_cache.freed_ns[i] = init_clock_ns();
      huge_cache.bytes += seg->size;
      kept = true;
    }
  }
  tide_lock_give(&huge_cache.lock);
  if (kept) init_note_purge(init_clock_ns() + (uint64_t)tide_opt.purge_delay_ms * 1000000u);
  return kept;
}

/* Unmap cached mappings freed more than purge_delay_ms ago (all if force). */
void huge_cache_expire(uint64_t now_ns, bool force) {
  tide_segment *gone[HUGE_CACHE_SLOTS];
  int n = 0;
  uint64_t delay = (uint64_t)(tide_opt.purge_delay_ms < 0 ? 0 : tide_opt.purge_delay_ms) * 1000000u;
  tide_lock_take(&huge_cache.lock);
  for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
    tide_segment *s = huge_cache.slot[i];
    if (s == NULL) continue;
    if (force || now_ns >= huge_cache.freed_ns[i] + delay) {
      gone[n++] = s;
      huge_cache.slot[i] = NULL;
      huge_cache.bytes -= s->size;
    } else {
      init_note_purge(huge_cache.freed_ns[i] + delay);
    }
  }
  tide_lock_give(&huge_cache.lock);
  for (int i = 0; i < n; i++) {
    segment_map_set(gone[i], false);
    os_munmap(gone[i], gone[i]->size);
  }
}

void huge_fork_prepare(void) { tide_lock_take(&huge_cache.lock); }
void huge_fork_parent(void) { tide_lock_give(&huge_cache.lock); }
void huge_fork_child(void) { tide_lock_reset(&huge_cache.lock); }

uint64_t huge_live(void) { return tide_load(&huge_count); }

/* Offset of the block from the segment start: past the header, aligned. */
static size_t huge_offset(size_t alignment) {
  size_t header = tide_align_up(TIDE_HUGE_HEADER_SIZE, tide_os_page);
  return alignment > header ? alignment : header;
}

static void huge_init(tide_segment *seg, size_t map_size, size_t offset) {
  seg->heap = NULL; /* segment_map_set leaves huge segments' tag SLOW */
  seg->in_brk = 0;
  for (unsigned i = 0; i < TIDE_SLICES; i++) seg->slice_page[i] = segment_page_offset(0);
  seg->kind = TIDE_SEG_HUGE;
  seg->size = map_size;
  seg->commit_end = (uint8_t *)seg + map_size;
  seg->free_slices = 0;
  seg->guard_bytes = 0;
  tide_page *page = &seg->pages[0];
  memset(page, 0, sizeof(*page));
  seg->huge_offset = offset;
  page->capacity = page->used = 1;
  page->bin = TIDE_BIN_LARGE;
}

void *huge_alloc(size_t size, size_t alignment) {
  if (size == 0) size = 1; /* the block must lie inside its mapping */
  size_t offset = huge_offset(alignment);
  size_t guard = tide_opt.secure ? tide_os_page : 0; /* PROT_NONE after the block */
  size_t map_size = tide_align_up(offset + size, tide_os_page) + guard;
  if (size > PTRDIFF_MAX || map_size < size) {
    errno = ENOMEM;
    return NULL;
  }
  size_t map_align = alignment > TIDE_SEGMENT_SIZE ? alignment : TIDE_SEGMENT_SIZE;
  tide_segment *seg =
      map_align == TIDE_SEGMENT_SIZE && guard == 0 ? huge_cache_take(map_size) : NULL;
  if (seg != NULL) {
    /* Reused: its pages are resident already; the map bits stayed set. */
    huge_init(seg, seg->size, offset);
    seg->pages[0].flags = TIDE_PAGE_DIRTY;
    tide_add(&huge_count, 1);
    return page_start(&seg->pages[0]);
  }
  seg = os_mmap_aligned(map_size, map_align);
  if (seg == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  os_name(seg, map_size, "tidemalloc huge block");
  huge_init(seg, map_size, offset);
  if (guard != 0 && os_protect((uint8_t *)seg + map_size - guard, guard))
    seg->guard_bytes = guard;
  segment_map_set(seg, true);
  tide_add(&huge_count, 1);
  return page_start(&seg->pages[0]);
}

/* ---- Big blocks in the brk heap ---------------------------------------------- */
static uint32_t span_units(size_t bytes) {
  return (uint32_t)(tide_align_up(bytes, TIDE_SEGMENT_SIZE) >> TIDE_SEGMENT_SHIFT);
}

/* The part of a span's last unit past its block, after realloc made the
 * block smaller: the program gave those pages up, so they go back (if it is
 * worth a call). */
#define SPAN_TAIL_PURGE_MIN ((size_t)64 << 10)
static void span_purge_tail(tide_segment *seg) {
  uintptr_t from = tide_align_up((uintptr_t)seg + seg->size, tide_os_page);
  uintptr_t to = (uintptr_t)seg + ((size_t)span_units(seg->size) << TIDE_SEGMENT_SHIFT);
  if (to > from && to - from >= SPAN_TAIL_PURGE_MIN) os_purge((void *)from, to - from);
}

/* A block too big for a segment, below the mmap threshold: as glibc would,
 * serve it from the heap, here as a span of whole brk units (reused units
 * first, so its pages are often resident already).  NULL if brk cannot. */
void *huge_alloc_span(size_t size) {
  size_t offset = huge_offset(0);
  size_t span_size = tide_align_up(offset + size, tide_os_page);
  if (size > PTRDIFF_MAX || span_size < size) return NULL;
  bool dirty;
  uintptr_t at = brk_span_take(span_units(span_size), &dirty);
  if (at == 0) return NULL;
  tide_segment *seg = (tide_segment *)at;
  seg->guards = 0;
  seg->in_full_list = 0;
  seg->capped = 0;
  huge_init(seg, span_size, offset);
  seg->in_brk = 1;
  /* The last unit's tail past the block may hold an earlier block's
   * pages: left as it is, the next span to take this unit reuses them
   * without a fault (giving them back here cost malloc-large three times
   * the faults for a tenth less peak RSS). */
  if (dirty) seg->pages[0].flags = TIDE_PAGE_DIRTY;
  segment_map_set(seg, true);
  return page_start(&seg->pages[0]);
}

/* Resize a span in place: whole units come off its end or are added from
 * free units above it (or by moving the break, at the top).  NULL if it
 * cannot, or if the block would now fit a segment: the caller moves it. */
static void *huge_realloc_span(tide_segment *seg, void *p, size_t size) {
  size_t new_size = tide_align_up(seg->huge_offset + size, tide_os_page);
  if (new_size < size || size <= TIDE_LARGE_MAX) return NULL;
  uint32_t old_units = span_units(seg->size), new_units = span_units(new_size);
  if (new_units > old_units && !brk_span_grow((uintptr_t)seg, old_units, new_units))
    return NULL;
  segment_map_range((uintptr_t)seg, seg->size, false);
  seg->size = new_size;
  seg->commit_end = (uint8_t *)seg + new_size;
  segment_map_set(seg, true);
  if (new_units < old_units)
    brk_units_give((uintptr_t)seg + ((size_t)new_units << TIDE_SEGMENT_SHIFT),
                   old_units - new_units, true);
  if (new_units <= old_units) span_purge_tail(seg); /* what the block gave up */
  return p;
}

/* glibc's dynamic threshold: freeing a mapped block bigger than the
 * threshold raises it, so a program that repeatedly allocates blocks of
 * that size gets them from the heap instead of a fresh mapping each time. */
static void huge_adjust_threshold(size_t block) {
  if (tide_opt_read(mmap_threshold_fixed)) return;
  if (block > tide_opt_read(mmap_threshold) && block <= TIDE_MMAP_THRESHOLD_MAX) {
    tide_opt_write(mmap_threshold, block);
    tide_opt_write(trim_threshold, 2 * block);
  }
}

void huge_free(tide_segment *seg, void *p) {
  tide_page *page = &seg->pages[0];
  if (p != page_start(page)) tide_fatal("free", "invalid pointer", p);
  if (page_used(page) == 0) tide_fatal("free", "double free", p);
  if (seg->in_brk) {
    page->used = 0;
    segment_map_set(seg, false);
    brk_span_give((uintptr_t)seg, span_units(seg->size));
    return;
  }
  size_t block = seg->size - seg->huge_offset;
  bool below_threshold = block < tide_opt_read(mmap_threshold);
  /* The mapping's size, header and rounding included (glibc's chunk size):
   * a request of the same size is then below the threshold. */
  huge_adjust_threshold(seg->size);
  atomic_fetch_sub(&huge_count, 1);
  page->used = 0;
  if (below_threshold && tide_opt.purge_delay_ms != 0 &&
      !tide_slow_only() && huge_cache_put(seg))
    return;
  segment_map_set(seg, false);
  os_munmap(seg, seg->size);
}

size_t huge_usable(tide_segment *seg, const void *p) {
  return (size_t)((uint8_t *)seg + seg->size - seg->guard_bytes - (const uint8_t *)p);
}

/* Resize in place if the kernel can; else move the pages (no copy) into a
 * fresh aligned reservation.  NULL with errno = ENOMEM if neither works; the
 * block is then untouched. */
void *huge_realloc(tide_segment *seg, void *p, size_t size) {
  /* Secure mode: the guard page must stay at the end; valgrind: the block
   * moves as a new one.  The caller copies. */
  if (seg->guard_bytes != 0 || tide_valgrind) return NULL;
  if (seg->in_brk) return huge_realloc_span(seg, p, size);
  size_t offset = (size_t)((uint8_t *)p - (uint8_t *)seg);
  size_t new_size = tide_align_up(offset + size, tide_os_page);
  if (new_size < size) {
    errno = ENOMEM;
    return NULL;
  }
  if (new_size == seg->size) return p;
  size_t old_size = seg->size;
  /* Growing into a cached mapping copies, but into pages already resident:
   * cheaper than faulting in fresh ones (a fault costs more than copying a
   * page). */
  if (new_size > old_size && offset == huge_offset(0)) {
    tide_segment *reuse = huge_cache_take(new_size);
    if (reuse != NULL) {
      huge_init(reuse, reuse->size, offset);
      reuse->pages[0].flags = TIDE_PAGE_DIRTY;
      tide_add(&huge_count, 1);
      void *q = page_start(&reuse->pages[0]);
      memcpy(q, p, old_size - offset);
      huge_free(seg, p);
      return q;
    }
  }
  /* In place first: shrinking always works, and huge mappings are placed
   * with room above them to grow (os_mmap_aligned). */
  if (os_mremap(seg, old_size, new_size, 0, NULL) != NULL) {
    segment_map_range((uintptr_t)seg, old_size, false);
    seg->size = new_size;
    seg->commit_end = (uint8_t *)seg + new_size;
    segment_map_set(seg, true);
    return p;
  }
  size_t align = offset > TIDE_SEGMENT_SIZE ? offset : TIDE_SEGMENT_SIZE;
  uint8_t *dest = os_mmap_aligned(new_size, align);
  if (dest == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  void *moved = os_mremap(seg, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED,
                          dest);
  if (moved == NULL) {
    os_munmap(dest, new_size);
    errno = ENOMEM;
    return NULL;
  }
  /* The reservation's pages were replaced, not given back: undo its count.
   * The old address is gone now: only its range is forgotten. */
  atomic_fetch_sub(&tide_os_stats.mapped, new_size);
  segment_map_range((uintptr_t)seg, old_size, false);
  seg = (tide_segment *)dest;
  seg->size = new_size;
  seg->commit_end = dest + new_size;
  segment_map_set(seg, true);
  os_name(seg, new_size, "tidemalloc huge block");
  return page_start(&seg->pages[0]);
}

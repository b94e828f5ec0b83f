/* SPDX-License-Identifier: MIT */
/* The allocating half of the API.  malloc's fast path is a load of the
 * thread's heap, of the page for the size, and a pop from its free list;
 * everything else (a new page, a new segment, huge blocks, the first call
 * of a thread) goes through alloc_generic. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <errno.h>
#include <string.h>

/* A block of a class: its page counts it (page_count_malloc); the asked
 * size is the heap's. */
static inline void alloc_count(tide_heap *heap, size_t requested) {
  heap->stats.requested_bytes += requested;
}

/* Counts a block made on the slow path: of a class, large, or huge. */
static void alloc_count_any(tide_heap *heap, size_t requested, void *p) {
  /* segment_find: a block aligned to 4 MiB or more lies beyond its first
   * unit, so masking would not find its header. */
  tide_segment *seg = segment_find(p);
  const tide_big *big = huge_find(seg);
  if (big != NULL && big->in_brk) {
    /* A span of the brk heap: a heap block, as in glibc. */
    heap->stats.requested_bytes += requested;
    heap->stats.bin_malloc[TIDE_BIN_LARGE]++;
    heap->stats.large_bytes_malloc += huge_usable(big, p);
    stats_note_alloc(heap, TIDE_BIN_LARGE);
    return;
  }
  if (big != NULL) {
    heap->stats.requested_bytes += requested;
    heap->stats.huge_malloc++;
    heap->stats.huge_bytes_malloc += huge_usable(big, p);
    stats_note_alloc(heap, TIDE_BIN_LARGE + 1);
    return;
  }
  tide_page *page = page_of(seg, p);
  alloc_count(heap, requested);
  if (page->bin == TIDE_BIN_LARGE) {
    heap->stats.bin_malloc[TIDE_BIN_LARGE]++;
    heap->stats.large_bytes_malloc += page->block_size;
  }
  stats_note_alloc(heap, page->bin);
}

/* The biggest block a segment can hold: all slices but the header's (and,
 * in secure mode, but the guard slice at the end). */
static size_t alloc_large_max(void) {
  return TIDE_LARGE_MAX - (tide_opt.secure ? TIDE_SLICE_SIZE : 0);
}

/* Blocks at or above the mmap threshold (while fewer than mmap_max are
 * mapped) get a mapping of their own. */
static bool alloc_wants_mapping(size_t size) {
  return size >= tide_opt_read(mmap_threshold) &&
         (long)huge_live() < tide_opt_read(mmap_max);
}

/* A block too big for a segment: below the threshold a cached mapping that
 * fits, or a span of the brk heap, as glibc serves it from its heap (not in
 * secure mode, whose big blocks need a guard page after them, nor under
 * valgrind, which emulates brk in a small fixed area); else, or if brk
 * cannot, a mapping. */
static void *alloc_big(size_t size) {
  if (size > alloc_large_max() && !alloc_wants_mapping(size) && !tide_slow_only()) {
    void *p = huge_alloc_cached(size);
    if (p == NULL) p = huge_alloc_span(size);
    if (p != NULL) return p;
  }
  return huge_alloc(size, 0);
}

/* Secure mode's malloc of a block of a class, while nothing else is due:
 * from the first page of its bin, straight from the map (secure_pick),
 * when that page has enough blocks to choose among.  NULL: the full path
 * (page_malloc_generic: the remote batch, wakes, the heartbeat, remote
 * frees collected, the page extended or another one).  Its statistics are
 * a malloc fast path's: the peak's event comes with the full path. */
static inline void *alloc_secure(tide_heap *heap, size_t size, tide_request req) {
  size_t bytes = alloc_class_bytes(size);
  if (bytes > TIDE_SMALL_MAX || alloc_wants_mapping(size)) return NULL;
  unsigned bin = sizeclass_bin(bytes);
  tide_page *page = heap->queues[bin].first;
  if (page == NULL || !secure_page_can_pick(page) || heap->heartbeat <= 1 ||
      tide_load(&heap->wake) != NULL)
    return NULL;
  heap->heartbeat--;
  tide_block *b = secure_pick(page);
  block_mark_live(b);
  page_count_malloc_now(heap, page);
  *block_canary(page, b) = block_canary_value(b);
  alloc_count(heap, size);
  if (tide_unlikely(tide_valgrind))
    VALGRIND_MALLOCLIKE_BLOCK(b, page->block_size - TIDE_CANARY_SIZE, 0, req == TIDE_REQ_CALLOC);
  return b;
}

static tide_noinline void *alloc_generic_full(tide_heap *heap, size_t size, size_t alignment,
                                              tide_request req) {
  if (tide_unlikely(size > PTRDIFF_MAX || alignment > PTRDIFF_MAX / 2)) {
    errno = ENOMEM;
    return NULL;
  }
  if (tide_unlikely(heap->is_empty_heap)) {
    heap = heap_init_thread();
    if (heap == NULL) {
      errno = ENOMEM;
      return NULL;
    }
  }
  trace_request(req, size);
  void *p = NULL;
  unsigned bin = 0;
  /* Secure mode: blocks of a class end with a canary (alloc_class_bytes). */
  if (alignment <= TIDE_ALIGN) {
    if (alloc_wants_mapping(size) || size > alloc_large_max())
      p = alloc_big(size);
    else if (alloc_class_bytes(size) > TIDE_BIN_MAX)
      p = page_alloc_large(heap, size);
    else
      p = page_malloc_generic(heap, size, bin = sizeclass_bin(alloc_class_bytes(size)));
  } else if (!alloc_wants_mapping(size) && size <= alloc_large_max() &&
             (bin = sizeclass_bin_aligned(alloc_class_bytes(size), alignment)) != 0) {
    p = page_malloc_generic(heap, size, bin);
  } else if (!alloc_wants_mapping(size) && size <= alloc_large_max() &&
             alignment <= TIDE_SLICE_SIZE) {
    p = page_alloc_large(heap, size); /* pages start on slice boundaries */
  } else {
    p = huge_alloc(size, alignment);
  }
  if (p == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  if (bin != 0 && tide_opt.secure) {
    tide_page *page = page_of(segment_of(p), p);
    *block_canary(page, p) = block_canary_value(p);
  }
  alloc_count_any(heap, size, p);
  /* All of the block is the program's to use (malloc_usable_size). */
  if (tide_unlikely(tide_valgrind))
    VALGRIND_MALLOCLIKE_BLOCK(p, alloc_usable_size(p, "malloc"), 0, req == TIDE_REQ_CALLOC);
  return p;
}

/* Everything but malloc's fast path; secure mode's own first (a frame of
 * its own: alloc_generic_full saves many registers). */
tide_noinline void *alloc_generic(tide_heap *heap, size_t size, size_t alignment,
                                  tide_request req) {
  if (tide_opt.secure && alignment <= TIDE_ALIGN) {
    void *p = alloc_secure(heap, size, req);
    if (p != NULL) return p;
  }
  return alloc_generic_full(heap, size, alignment, req);
}

/* The page's free list is empty: the blocks this thread freed into it
 * serve next, without the slow path (which a malloc/free loop would
 * otherwise take every `capacity` calls).  The purge clock still counts the
 * event, once the page holds the new block (a heartbeat may free empty
 * pages).  A call of its own, so that the fast path needs no stack frame;
 * size first, where malloc has it, so that the fast path moves no
 * register. */
static tide_noinline void *alloc_local_swap(size_t size, tide_heap *heap, tide_page *page) {
  tide_block *b = page_take_local_free(page);
  page->free = block_next(b);
  block_mark_live(b);
  page_count_malloc_now(heap, page);
  alloc_count(heap, size);
  /* No event for the allocated peak (stats.c): the blocks come back from
   * the page they left, so the bin's live bytes still rise by at most that
   * page between two of its events (a malloc/free loop swaps every
   * `capacity - live` pairs: 34 instructions a swap, 0.6 a pair of ipp). */
  if (tide_unlikely(--heap->heartbeat == 0)) heap_heartbeat(heap);
  return b;
}

/* The swap in a call of its own: the way on to alloc_generic (every malloc
 * in secure mode, where pages have no lists) saves no registers. */
static tide_noinline void *alloc_local_free(size_t size, size_t alignment, tide_heap *heap,
                                            tide_page *page, tide_request req) {
  (void)page_free_head(page); /* empty, or a link was overwritten */
  if (page->local_free == NULL || tide_slow_only()) return alloc_generic(heap, size, alignment, req);
  return alloc_local_swap(size, heap, page);
}

/* The current page for a small size (at most TIDE_SMALL_MAX). */
static inline tide_page *alloc_direct(tide_heap *heap, size_t size) {
  return heap->direct[(size + TIDE_ALIGN - 1) / TIDE_ALIGN];
}

/* The fast path's block: the head of page's free list, if the list is not
 * empty (and its head has not left the segment), unlinked and counted. */
static inline __attribute__((always_inline)) tide_block *alloc_pop(tide_heap *heap,
                                                                   tide_page *page,
                                                                   size_t asked) {
  tide_block *b = page->free;
  if (tide_unlikely(!block_in_page_segment(page, b))) return NULL;
  page->free = block_decode(b->next_encoded);
  block_mark_live(b);
  page_count_malloc(page);
  alloc_count(heap, asked);
  return b;
}

/* The fast path: a small block from the current page of its class.  size
 * picks the class; asked is what the program asked for, less than size
 * when an alignment rounded it up (alloc_aligned): it is what is counted,
 * and what the slow path is asked for, with the alignment. */
static inline void *alloc_fast_asked(size_t size, size_t asked, size_t alignment,
                                     tide_request req) {
  tide_heap *heap = heap_get();
  if (tide_likely(size <= TIDE_SMALL_MAX)) {
    tide_page *page = alloc_direct(heap, size);
    tide_block *b = alloc_pop(heap, page, asked);
    if (tide_likely(b != NULL)) return b;
    return alloc_local_free(asked, alignment, heap, page, req);
  }
  return alloc_generic(heap, asked, alignment, req);
}

static inline void *alloc_fast(size_t size, tide_request req) {
  return alloc_fast_asked(size, size, 0, req);
}

void *tide_malloc(size_t size) { return alloc_fast(size, TIDE_REQ_MALLOC); }
#if TIDE_OVERRIDE
void *malloc(size_t size) tide_alias(tide_malloc);
void *__libc_malloc(size_t size) tide_alias(tide_malloc);
#endif

/* Below this, clearing the block costs less than finding out whether it
 * must be cleared. */
#define CALLOC_LOOK_MIN 256

/* How much of calloc's new block p (total bytes asked) may hold old data.
 * Memory the kernel gave and nobody wrote since is zero already: a big
 * block's fresh mapping or brk span (its out-of-line record says), and a
 * block that a page made on zero slices carved and never handed out
 * (TIDE_PAGE_FREE_ZERO: only its link word was written), which is most of
 * what a program that callocs a growing working set gets.  The flag is
 * read after the allocation: every path that puts freed blocks where
 * malloc takes them clears it first. */
static size_t calloc_dirty_bytes(void *p, size_t total) {
  if (total < CALLOC_LOOK_MIN || tide_unlikely(tide_valgrind)) return total;
  tide_segment *seg = segment_find(p);
  if (seg == NULL) return total;
  const tide_big *big = huge_find(seg);
  if (big != NULL) return big->dirty ? total : 0;
  if (page_of(seg, p)->flags & TIDE_PAGE_FREE_ZERO) return sizeof(tide_block);
  return total;
}

void *tide_calloc(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = alloc_fast(total, TIDE_REQ_CALLOC);
  if (p == NULL) return NULL;
  memset(p, 0, calloc_dirty_bytes(p, total));
  return p;
}
#if TIDE_OVERRIDE
void *calloc(size_t count, size_t size) tide_alias(tide_calloc);
void *__libc_calloc(size_t count, size_t size) tide_alias(tide_calloc);
#endif

/* The classes up to this size are the multiples of TIDE_ALIGN, and a page
 * starts on a slice: a block of class c there is aligned to c's lowest set
 * bit, so a size rounded up to an alignment at most this is its own class. */
#define ALLOC_ALIGNED_FAST_MAX 128

/* Every class is TIDE_ALIGN-aligned: smaller alignments are malloc's.  Up
 * to ALLOC_ALIGNED_FAST_MAX, the size rounded up to the alignment is the
 * class sizeclass_bin_aligned would choose, and malloc's fast path serves
 * it (rptest: two in three of its blocks come from memalign(8 or 16), which
 * took the slow path every time). */
static void *alloc_aligned(size_t alignment, size_t size, tide_request req) {
  if (alignment <= TIDE_ALIGN) return alloc_fast(size, req);
  if (alignment <= ALLOC_ALIGNED_FAST_MAX && size <= ALLOC_ALIGNED_FAST_MAX)
    return alloc_fast_asked(tide_align_up(size ? size : 1, alignment), size, alignment, req);
  return alloc_generic(heap_get(), size, alignment, req);
}

void *tide_aligned_alloc(size_t alignment, size_t size) {
  if (!tide_is_pow2(alignment)) {
    errno = EINVAL;
    return NULL;
  }
  return alloc_aligned(alignment, size, TIDE_REQ_ALIGNED_ALLOC);
}

int tide_posix_memalign(void **out, size_t alignment, size_t size) {
  if (!tide_is_pow2(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = alloc_aligned(alignment, size, TIDE_REQ_POSIX_MEMALIGN);
  if (p == NULL) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

/* glibc's memalign rounds an alignment that is not a power of two up, so
 * every alignment up to 2^63 is a valid request (one that cannot be served
 * fails with ENOMEM, like any other); only one past 2^63 has no power of
 * two to round to: EINVAL, as glibc. */
void *tide_memalign(size_t alignment, size_t size) {
  if (alignment > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (!tide_is_pow2(alignment)) {
    size_t a = TIDE_ALIGN;
    while (a < alignment) a <<= 1;
    alignment = a;
  }
  return alloc_aligned(alignment, size, TIDE_REQ_MEMALIGN);
}

void *tide_valloc(size_t size) {
  if (tide_init_state != 2) init_process();
  return alloc_aligned(tide_os_page, size, TIDE_REQ_VALLOC);
}

void *tide_pvalloc(size_t size) {
  if (tide_init_state != 2) init_process();
  size_t rounded = tide_align_up(size ? size : 1, tide_os_page);
  if (rounded < size) {
    errno = ENOMEM;
    return NULL;
  }
  return alloc_aligned(tide_os_page, rounded, TIDE_REQ_PVALLOC);
}

/* The segment of p, which must be the start of a live block of ours, and
 * its page (a size class or a large page) or its big block's record (the
 * other NULL); aborts if p is not such a block. */
static tide_page *alloc_lookup(const void *p, const char *func, tide_segment **seg_out,
                               tide_big **big_out) {
  tide_segment *seg = segment_find(p);
  if (seg == NULL) tide_fatal(func, "invalid pointer", p);
  tide_big *big = huge_find(seg);
  *seg_out = seg;
  *big_out = big;
  if (big != NULL) {
    if (p != huge_block(big) || big->state != TIDE_BIG_LIVE) tide_fatal(func, "invalid pointer", p);
    return NULL;
  }
  tide_page *page = page_of_block(seg, p);
  if (page == NULL) tide_fatal(func, "invalid pointer", p);
  return page;
}

/* Bytes of the block at p that the program may use. */
static size_t block_usable(const tide_big *big, const tide_page *page, const void *p) {
  if (big != NULL) return huge_usable(big, p);
  if (tide_opt.secure && page->bin != TIDE_BIN_LARGE)
    return page->block_size - TIDE_CANARY_SIZE;
  return page->block_size;
}

/* Bytes usable at p (all writable).  Aborts on a pointer that is not the
 * start of a live block of ours. */
size_t alloc_usable_size(const void *p, const char *func) {
  tide_segment *seg;
  tide_big *big;
  tide_page *page = alloc_lookup(p, func, &seg, &big);
  return block_usable(big, page, p);
}

/* free_sized and free_aligned_sized: could the block at p have been asked
 * for with size (and alignment; 0 from free_sized, which cannot know it)?
 * A block of a class or a large page serves every size its class would
 * have been chosen for, and, as realloc keeps a block for any size from
 * half its usable bytes up (tide_realloc), every size in that range too
 * (free_aligned_sized: only the sizes aligned_alloc would have served from
 * the class with that alignment); a
 * big block the sizes that need at least the pages the size its record
 * keeps needed.  Never more than malloc_usable_size (a program may have
 * asked for that much and used it all).  Aborts with one line if not. */
void alloc_check_sized(const void *p, size_t size, size_t alignment, const char *func) {
  tide_segment *seg;
  tide_big *big;
  tide_page *page = alloc_lookup(p, func, &seg, &big);
  size_t usable = block_usable(big, page, p);
  if (size > usable) tide_fatal(func, "size larger than the block at", p);
  if (big != NULL) {
    /* up to all of the block's usable bytes, as for a block of a class */
    if (huge_sized_fit(big, size) < 0) tide_fatal(func, "size smaller than the block at", p);
    if (alignment != 0 && !huge_aligned_as(big, alignment))
      tide_fatal(func, "alignment does not match the block at", p);
    return;
  }
  unsigned bin = page->bin;
  if (alignment > TIDE_ALIGN && bin != TIDE_BIN_LARGE) {
    /* aligned_alloc's class, exactly (a block realloc returned is freed
     * with free_sized): a bigger one wants another alignment, a smaller
     * one a bigger size */
    unsigned served = sizeclass_bin_aligned(alloc_class_bytes(size), alignment);
    if (served == bin) return;
    if (served == 0 || served > bin) tide_fatal(func, "alignment does not match the block at", p);
    tide_fatal(func, "size smaller than the block at", p);
  }
  if (size >= usable / 2) return; /* realloc keeps such a block */
  if (bin == TIDE_BIN_LARGE || sizeclass_bin(alloc_class_bytes(size)) != bin)
    tide_fatal(func, "size smaller than the block at", p);
}

size_t tide_malloc_usable_size(const void *p) {
  if (p == NULL) return 0;
  return alloc_usable_size(p, "malloc_usable_size");
}

void *tide_realloc(void *p, size_t size) {
  if (p == NULL) return alloc_fast(size, TIDE_REQ_REALLOC);
  if (size == 0) { /* glibc frees and returns NULL */
    tide_free(p);
    return NULL;
  }
  tide_segment *seg;
  tide_big *big;
  tide_page *page = alloc_lookup(p, "realloc", &seg, &big);
  if (big == NULL && block_looks_freed(p)) tide_fatal("realloc", "invalid pointer", p);
  size_t usable = block_usable(big, page, p);
  if (big != NULL && size > TIDE_BIN_MAX) {
    trace_request(TIDE_REQ_REALLOC, size);
    bool in_brk = big->in_brk;
    void *q = huge_realloc(big, p, size);
    if (q != NULL) {
      tide_heap_stats *st = &heap_get()->stats;
      st->requested_bytes += size;
      st->realloc_in_place++;
      /* The block's bytes changed in place: a free will count the new size. */
      size_t grown = huge_usable(huge_find(segment_find(q)), q) - usable;
      if (in_brk)
        st->large_bytes_malloc += grown;
      else
        st->huge_bytes_malloc += grown;
      stats_note_alloc(heap_get(), in_brk ? TIDE_BIN_LARGE : TIDE_BIN_LARGE + 1);
      return q;
    }
  } else if (size <= usable && size >= usable / 2 && !tide_valgrind) {
    /* Fits, and not so small that the rest would go to waste. */
    if (big != NULL) big->asked = size; /* for free_sized's check */
    tide_heap_stats *st = &heap_get()->stats;
    st->requested_bytes += size;
    st->realloc_in_place++;
    return p;
  }
  void *q = alloc_fast(size, TIDE_REQ_REALLOC);
  if (q == NULL) return NULL;
  memcpy(q, p, size < usable ? size : usable);
  tide_free(p);
  return q;
}
#if TIDE_OVERRIDE
void *realloc(void *p, size_t size) tide_alias(tide_realloc);
void *__libc_realloc(void *p, size_t size) tide_alias(tide_realloc);
#endif

/* ---- C++'s operator new -------------------------------------------------- */
/* The library that overrides malloc also provides C++'s allocation
 * functions (Itanium ABI names, 64-bit size_t), so that new and delete cost
 * a malloc and a free, not a call through libstdc++'s wrappers as well.  A
 * program that defines its own still gets its own (its definition comes
 * first in the lookup).  Failure follows the standard: call the
 * new_handler until it gives up, then throw std::bad_alloc, through
 * libstdc++'s own functions (weak: a C program has no libstdc++, and never
 * calls these). */
#if TIDE_OVERRIDE && SIZE_MAX == UINT64_MAX
typedef void (*alloc_new_handler)(void);
extern alloc_new_handler _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static tide_noinline void *alloc_new_failed(size_t size, size_t alignment, bool nothrow) {
  for (;;) {
    alloc_new_handler handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
    if (handler == NULL) {
      if (nothrow) return NULL;
      if (_ZSt17__throw_bad_allocv) _ZSt17__throw_bad_allocv();
      tide_fatal("operator new", "out of memory (no std::bad_alloc to throw) for a size of",
                 (void *)size);
    }
    handler();
    void *p = alloc_aligned(alignment, size, TIDE_REQ_MALLOC);
    if (p != NULL) return p;
  }
}

/* operator new past malloc's fast path: malloc, and the new-handler loop
 * if that fails.  A call of its own, so that the fast path below keeps no
 * register across a call and ends in a tail call. */
static tide_noinline void *alloc_new_slow(size_t size, bool nothrow) {
  void *p = alloc_fast(size, TIDE_REQ_MALLOC);
  if (tide_likely(p != NULL)) return p;
  return alloc_new_failed(size, 0, nothrow);
}

static inline void *alloc_new(size_t size, bool nothrow) {
  if (tide_likely(size <= TIDE_SMALL_MAX)) {
    tide_heap *heap = heap_get();
    tide_block *b = alloc_pop(heap, alloc_direct(heap, size), size);
    if (tide_likely(b != NULL)) return b;
  }
  return alloc_new_slow(size, nothrow);
}

static void *alloc_new_aligned(size_t size, size_t alignment, bool nothrow) {
  void *p = alloc_aligned(alignment, size, TIDE_REQ_MALLOC);
  if (tide_likely(p != NULL)) return p;
  return alloc_new_failed(size, alignment, nothrow);
}

void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnamRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnwmSt11align_val_t(size_t size, size_t alignment);
void *_ZnamSt11align_val_t(size_t size, size_t alignment);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag);
/* operator new / new[] (size_t), and their nothrow_t forms */
TIDE_CXX void *_Znwm(size_t size) { return alloc_new(size, false); }
TIDE_CXX void *_Znam(size_t size) { return alloc_new(size, false); }
TIDE_CXX void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag) {
  (void)tag;
  return alloc_new(size, true);
}
TIDE_CXX void *_ZnamRKSt9nothrow_t(size_t size, const void *tag) {
  (void)tag;
  return alloc_new(size, true);
}
/* C++17's over-aligned forms (std::align_val_t, a size_t) */
TIDE_CXX void *_ZnwmSt11align_val_t(size_t size, size_t alignment) {
  return alloc_new_aligned(size, alignment, false);
}
TIDE_CXX void *_ZnamSt11align_val_t(size_t size, size_t alignment) {
  return alloc_new_aligned(size, alignment, false);
}
TIDE_CXX void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag) {
  (void)tag;
  return alloc_new_aligned(size, alignment, true);
}
TIDE_CXX void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag) {
  (void)tag;
  return alloc_new_aligned(size, alignment, true);
}
#endif

void *tide_reallocarray(void *p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return tide_realloc(p, total);
}

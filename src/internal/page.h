/* SPDX-License-Identifier: MIT */
/* The page layer (page.c): pages of one size class cut from a segment's
 * slices, their free lists and block grid, remote frees batched and
 * collected.  The helpers here are the fast paths' (inline).  It stands on
 * segments and size classes. */
#ifndef TIDE_PAGE_H
#define TIDE_PAGE_H

#include "segment.h"
#include "sizeclass.h"

/* ---- Pages and blocks: hot helpers -------------------------------------- */
static inline tide_page *page_of(tide_segment *seg, const void *p) {
  return page_lookup(seg, p);
}

/* Blocks out, without page->used's full mark. */
static inline uint32_t page_used(const tide_page *page) {
  return page->used & ~TIDE_USED_FULL;
}

/* A block handed out: one more out, one more to count (one add for both:
 * used is never at the mark here, so no carry leaves its half). */
static inline void page_count_malloc(tide_page *page) {
  page->counts += 0x10001u;
}

/* The page's mallocs since the last count, added to its owner's counters.
 * The owner only, at the page's slow events: between two of them a page
 * hands out at most the blocks put on its free list at the first. */
static inline void page_count_flush(tide_heap *heap, tide_page *page) {
  heap->stats.bin_malloc[page->bin] += page->mallocs;
  page->mallocs = 0;
}

/* A block handed out on a slow path, where the page's list was refilled:
 * counted, and what the page had waiting with it. */
static inline void page_count_malloc_now(tide_heap *heap, tide_page *page) {
  page_count_malloc(page);
  page_count_flush(heap, page);
}

/* More frees than blocks out: a block went back twice (its freed key
 * erased, so the key check let it through). */
static inline bool page_overfreed(const tide_page *page) {
  return (int16_t)page->used < 0;
}

/* Parked in heap->full, or out again: the flag and used's mark together. */
static inline void page_mark_full(tide_page *page) {
  page->flags |= TIDE_PAGE_IN_FULL;
  page->used |= TIDE_USED_FULL;
}
static inline void page_mark_unfull(tide_page *page) {
  page->flags &= (uint8_t)~TIDE_PAGE_IN_FULL;
  page->used &= ~TIDE_USED_FULL;
}

/* Where the first block of a page of a size class, or of a large page,
 * lies (a big block's is its record's: huge_block). */
static inline uint8_t *page_start(const tide_page *page) {
  tide_segment *seg = segment_of(page);
  return (uint8_t *)seg + ((size_t)(page - seg->pages) << TIDE_SLICE_SHIFT);
}

static inline uint32_t page_reserved(const tide_page *page) {
  return (uint32_t)(((size_t)page->slice_count << TIDE_SLICE_SHIFT) /
                    page->block_size);
}

/* Is p the start of a block the page has carved?  With size = odd * 2^shift,
 * q = rotr32((p - start) * odd^-1, shift) is (p - start) / size when size
 * divides p - start, and above 2^32 / size (so above any capacity) when it
 * does not: one multiply, one rotate and one compare decide both "on the
 * grid" and "carved" (Granlund-Montgomery, Lemire).  Arithmetic mod 2^32
 * lets the page keep start * odd^-1 (grid_base), so the address itself is
 * multiplied: p lies in the page's slices, so p - start is in [0, 2^22). */
static inline uint32_t page_block_index(const tide_page *page, const void *p) {
  uint32_t q = (uint32_t)(uintptr_t)p * page->block_odd_inv - page->grid_base;
  unsigned r = page->block_shift;
  return (q >> r) | (q << ((32 - r) & 31));
}

static inline bool page_block_valid(const tide_page *page, const void *p) {
  if (!TIDE_CHECKS) return true;
  /* capacity only grows while the page lives, and another thread may be
   * checking a block it was handed while the owner extends the page. */
  return page_block_index(page, p) < __atomic_load_n(&page->capacity, __ATOMIC_RELAXED);
}

/* page_block_valid for the page's owner, which alone changes capacity. */
static inline bool page_block_valid_local(const tide_page *page, const void *p) {
  if (!TIDE_CHECKS) return true;
  return page_block_index(page, p) < page->capacity;
}

/* The page of a block-start pointer p, or NULL if p is not one. */
static inline tide_page *page_of_block(tide_segment *seg, const void *p) {
  tide_page *page = page_lookup(seg, p);
  return page_block_valid(page, p) ? page : NULL;
}

/* Links are stored xored with the process's secret.  A word the program
 * writes over a free block (zeros, a small number, a pointer of its own)
 * decodes to an address outside the segment, which block_next and malloc's
 * fast path check, unless the writer knows the secret: a stray write
 * through a dangling pointer is caught when the list is next used, not
 * followed.  The block's own address is not mixed in (glibc's safe-linking
 * mixes address >> 12): under a same-segment check it changes only a
 * link's low bits, so it caught nothing more, at three instructions on
 * each side of a malloc/free pair.  Resisting a program that reads freed
 * blocks to forge links is the hardened mode's work. */
static inline uintptr_t block_encode(const tide_block *next) {
  if (!TIDE_CHECKS) return (uintptr_t)next;
  return (uintptr_t)next ^ tide_list_secret;
}
static inline tide_block *block_decode(uintptr_t enc) {
  if (!TIDE_CHECKS) return (tide_block *)enc;
  return (tide_block *)(enc ^ tide_list_secret);
}
/* The freed key: written when a block is freed (by any thread, in any
 * mode), cleared when it is handed out, so that a second free of it is
 * told at once.  It is the process's secret mixed with the block's own
 * address: bytes a program copies out of a freed block into a live one are
 * not the live block's key, so only a real free writes it, and finding it
 * is proof of a double free even where no list can be searched (another
 * thread's batch of remote frees, a quarantine).  Never 0: the secret is
 * odd and blocks are 16-byte aligned. */
static inline uintptr_t block_freed_key(const tide_block *b) {
  return tide_freed_key ^ (uintptr_t)b;
}
static inline void block_mark_freed(tide_block *b) {
  if (TIDE_CHECKS) b->freed_key = block_freed_key(b);
}
static inline void block_mark_live(tide_block *b) {
  if (TIDE_CHECKS) b->freed_key = 0;
}
static inline bool block_has_freed_key(const tide_block *b) {
  return TIDE_CHECKS && b->freed_key == block_freed_key(b);
}
/* block_has_freed_key for the slow paths: under valgrind the word may be
 * data the program never wrote, and reading it is ours, not the program's,
 * error. */
static inline bool block_looks_freed(const tide_block *b) {
  if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_DEFINED(&b->freed_key, sizeof(b->freed_key));
  return block_has_freed_key(b);
}

/* The next free block after b, checked: a list never leaves its segment. */
static inline tide_block *block_next(const tide_block *b) {
  tide_block *next = block_decode(b->next_encoded);
  if (TIDE_CHECKS && tide_unlikely(((uintptr_t)next ^ (uintptr_t)b) >> TIDE_SEGMENT_SHIFT) &&
      next != NULL)
    tide_fatal("malloc", "corrupted free list at", b);
  return next;
}

/* block_next for the slow paths: under valgrind the free block's link words
 * are no-access to the program, so they are opened for the read. */
static inline tide_block *block_next_slow(const tide_block *b) {
  if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_DEFINED(b, sizeof(*b));
  return block_next(b);
}

/* malloc's fast path stores the decoded link unchecked and checks a block
 * when it is about to be used: is b (not NULL) in the segment of the page
 * whose list it heads?  One test for both the end of the list and a link a
 * stray write has changed. */
static inline bool block_in_page_segment(const tide_page *page, const tide_block *b) {
  if (!TIDE_CHECKS) return b != NULL;
  return (((uintptr_t)b ^ (uintptr_t)page) >> TIDE_SEGMENT_SHIFT) == 0;
}

/* The blocks the owner freed become the free list (which must be empty):
 * freed blocks, so calloc must clear what it takes from it again. */
static inline tide_block *page_take_local_free(tide_page *page) {
  tide_block *list = page->local_free;
  page->local_free = NULL;
  page->flags &= (uint8_t)~TIDE_PAGE_FREE_ZERO;
  return list;
}

/* The head of page's free list, for the slow paths, which follow it:
 * checked as malloc's fast path checks it. */
tide_hidden _Noreturn void page_free_list_corrupt(const tide_page *page, const tide_block *bad);
static inline tide_block *page_free_head(const tide_page *page) {
  tide_block *b = page->free;
  if (b != NULL && !block_in_page_segment(page, b)) page_free_list_corrupt(page, b);
  return b;
}

/* ---- Pages (page.c) ------------------------------------------------------ */
tide_hidden tide_page *page_alloc(tide_heap *heap, unsigned bin);
tide_hidden void *page_alloc_large(tide_heap *heap, size_t size);
tide_hidden bool page_extend(tide_page *page);
tide_hidden void page_collect(tide_page *page);
tide_hidden void page_retire(tide_heap *heap, tide_page *page);
tide_hidden void page_free(tide_heap *heap, tide_page *page);
/* A free of a block another thread's heap owns, batched per page; the
 * calling thread's batch is handed over by page_remote_flush. */
tide_hidden void page_free_remote(tide_heap *heap, tide_segment *seg, tide_page *page,
                                  tide_block *b);
tide_hidden void page_remote_flush(void);
tide_hidden void *page_malloc_generic(tide_heap *heap, size_t size,
                                      unsigned bin);

#endif /* TIDE_PAGE_H */

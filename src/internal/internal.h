/* SPDX-License-Identifier: MIT */
/* Internal interface of the layers above brk: the segment map, the hot
 * inline helpers, and the prototypes of each layer grouped by the file that
 * defines them.  Layers only call downwards: api (alloc.c, free.c) -> heap
 * -> page -> segment / huge -> brk -> os; options, stats, trace and fmt
 * stand beside them.  The lower layers and the ones beside them have
 * headers of their own, which include only what they stand on: base.h,
 * os.h, brk.h; sizeclass.h (on base.h), fmt.h (on base.h), trace.h (on
 * os.h). */
#ifndef TIDE_INTERNAL_H
#define TIDE_INTERNAL_H

#include "brk.h"
#include "fmt.h"
#include "sizeclass.h"
#include "trace.h"

/* ---- Segment map (segment.c) ---------------------------------------------- */
extern tide_hidden _Atomic(uint64_t) tide_segmap_head[TIDE_MAP_BITS / 64];
extern tide_hidden _Atomic(uint64_t) tide_segmap_cont[TIDE_MAP_BITS / 64];
/* The segment map's tags (types.h), one 16-bit word per unit, for free()'s
 * fast path: one load and one compare decide both "a segment of ours" and
 * "owned by the calling thread".  64 MiB of bss, of which only the pages
 * over addresses we use are ever touched. */
extern tide_hidden _Atomic(uint16_t) tide_segmap_fast[TIDE_MAP_BITS];

/* The tag of the unit holding p: TIDE_TAG_NONE beyond the map. */
static inline uint16_t segmap_fast_tag(const void *p) {
  uintptr_t unit = (uintptr_t)p >> TIDE_SEGMENT_SHIFT;
  if (tide_unlikely(unit >= TIDE_MAP_BITS)) return TIDE_TAG_NONE;
  return tide_load(&tide_segmap_fast[unit]);
}

static inline bool segmap_test(_Atomic(uint64_t) *map, uintptr_t addr) {
  uintptr_t unit = addr >> TIDE_SEGMENT_SHIFT;
  if (tide_unlikely(unit >= TIDE_MAP_BITS)) return false;
  return (tide_load(&map[unit / 64]) >> (unit % 64)) & 1;
}

/* ---- Hot helpers ---------------------------------------------------------- */
static inline tide_segment *segment_of(const void *p) {
  return (tide_segment *)((uintptr_t)p & ~(uintptr_t)TIDE_SEGMENT_MASK);
}

/* The page holding p, for a segment that is not huge: one load from the
 * segment's slice table, which holds the descriptor's offset. */
static inline uint32_t segment_page_offset(unsigned slice) {
  return (uint32_t)(offsetof(tide_segment, pages) + slice * sizeof(tide_page));
}

static inline tide_page *page_lookup(tide_segment *seg, const void *p) {
  uintptr_t slice = ((uintptr_t)p >> TIDE_SLICE_SHIFT) & (TIDE_SLICES - 1);
  return (tide_page *)((uint8_t *)seg + seg->slice_page[slice]);
}

static inline tide_page *page_of(tide_segment *seg, const void *p) {
  return page_lookup(seg, p);
}

/* Blocks out, without page->used's full mark. */
static inline uint32_t page_used(const tide_page *page) {
  return page->used & ~TIDE_USED_FULL;
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

/* The head of page's free list, for the slow paths, which follow it:
 * checked as malloc's fast path checks it. */
tide_hidden _Noreturn void page_free_list_corrupt(const tide_page *page, const tide_block *bad);
static inline tide_block *page_free_head(const tide_page *page) {
  tide_block *b = page->free;
  if (b != NULL && !block_in_page_segment(page, b)) page_free_list_corrupt(page, b);
  return b;
}

/* ---- Thread heaps (heap.c) ---------------------------------------------- */
extern tide_hidden tide_heap tide_heap_empty;
extern tide_hidden tide_page tide_page_empty;
extern __thread tide_heap *tide_tls_heap
    __attribute__((tls_model("initial-exec"))) tide_hidden;
static inline tide_heap *heap_get(void) { return tide_tls_heap; }
tide_hidden tide_heap *heap_init_thread(void);
tide_hidden void heap_queue_push(tide_heap *heap, tide_page_queue *q,
                                 tide_page *page);
tide_hidden void heap_queue_append(tide_heap *heap, tide_page_queue *q,
                                   tide_page *page);
tide_hidden void heap_queue_remove(tide_heap *heap, tide_page_queue *q,
                                   tide_page *page);
tide_hidden void heap_update_direct(tide_heap *heap, unsigned bin);
tide_hidden void heap_collect(tide_heap *heap, bool force_purge);
tide_hidden void heap_wake_drain(tide_heap *heap);
tide_hidden void heap_wake_unlink(tide_heap *heap, tide_page *page);
tide_hidden void heap_heartbeat(tide_heap *heap);
tide_hidden void heap_note_purge(tide_heap *heap, uint64_t deadline_ns);
static inline bool page_has_free(const tide_page *page) {
  /* Secure mode: the map is the free state, and every carved block not out
   * is available (types.h). */
  if (tide_opt.secure) return page->capacity > page_used(page);
  return page->free != NULL || page->local_free != NULL;
}
tide_hidden void heap_page_unfull(tide_heap *heap, tide_page *page);
tide_hidden size_t heap_trim_all(void);
tide_hidden void heap_reclaim_pooled(bool force);
typedef void (*heap_visit_fn)(tide_heap *heap, void *arg);
tide_hidden void heap_for_each(heap_visit_fn fn, void *arg);
/* Every heap ever made, newest first (heaps are never freed: the list can
 * be walked without a lock, following all_next). */
tide_hidden tide_heap *heap_all(void);
tide_hidden void heap_process_init(void);
tide_hidden void heap_counts(uint64_t *alive, uint64_t *created);
tide_hidden void heap_fork_prepare(void);
tide_hidden void heap_fork_parent(void);
tide_hidden void heap_fork_child(void);

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

/* ---- Segments (segment.c) ------------------------------------------------- */
tide_hidden tide_page *segment_span_alloc(tide_heap *heap, unsigned slices);
tide_hidden void segment_span_free(tide_heap *heap, tide_page *page);
tide_hidden uint64_t segment_purge(tide_segment *seg, uint64_t now_ns, bool force, unsigned hold);
tide_hidden void segment_trim_tails(tide_segment *seg);
tide_hidden void segment_map_set(tide_segment *seg, bool live);
tide_hidden void segment_set_owner(tide_segment *seg, tide_heap *heap);
tide_hidden void segment_map_range(uintptr_t addr, size_t size, bool live);
tide_hidden tide_segment *segment_find(const void *p);
tide_hidden void segment_release(tide_segment *seg);
tide_hidden size_t segment_cache_trim(void);
tide_hidden void segment_cache_purge(uint64_t now_ns, bool force);
tide_hidden void segment_fork_prepare(void);
tide_hidden void segment_fork_parent(void);
tide_hidden void segment_fork_child(void);
tide_hidden uint64_t segment_count(void);
tide_hidden uint64_t segment_resident(uintptr_t heap_start, uintptr_t heap_break);

/* ---- Huge blocks (large.c) ---------------------------------------------- */
tide_hidden void *huge_alloc(size_t size, size_t alignment);
tide_hidden void *huge_alloc_span(size_t size);
tide_hidden void *huge_alloc_cached(size_t size);
/* A big block's record (types.h), or NULL: the only word on whether a
 * segment is a big block's, its size and where its block lies. */
tide_hidden tide_big *huge_find(const void *seg);
tide_hidden void *huge_block(const tide_big *b);
tide_hidden void huge_free(tide_big *b, void *p, const char *func);
tide_hidden void *huge_realloc(tide_big *b, void *p, size_t size);
tide_hidden size_t huge_usable(const tide_big *b, const void *p);
tide_hidden int huge_sized_fit(const tide_big *b, size_t size);
tide_hidden bool huge_aligned_as(const tide_big *b, size_t alignment);
tide_hidden uint64_t huge_live(void);
tide_hidden void huge_cache_expire(uint64_t now_ns, bool force);
tide_hidden void huge_fork_prepare(void);
tide_hidden void huge_fork_parent(void);
tide_hidden void huge_fork_child(void);

/* ---- Stats (stats.c) ------------------------------------------------------- */
tide_hidden void stats_open(void);
tide_hidden void stats_at_exit(void);
/* A malloc slow event of bin (TIDE_BIN_LARGE + 1: a mapped block) in heap:
 * may raise the allocated peak. */
tide_hidden void stats_note_alloc(tide_heap *heap, unsigned bin);
/* The allocated peak so far (the stats' allocated_peak). */
tide_hidden uint64_t stats_peak_process(void);

/* ---- The public API's internal entry points (alloc.c, free.c) ------------- */
tide_hidden void *alloc_generic(tide_heap *heap, size_t size, size_t alignment,
                                tide_request req);
tide_hidden size_t alloc_usable_size(const void *p, const char *func);
tide_hidden void alloc_check_sized(const void *p, size_t size, size_t alignment,
                                   const char *func);
tide_hidden void free_quarantine_flush(tide_heap *heap);


/* Secure mode: the canary after a block of a size class. */
static inline uint64_t *block_canary(const tide_page *page, const void *b) {
  return (uint64_t *)((uint8_t *)b + page->block_size - TIDE_CANARY_SIZE);
}
static inline uint64_t block_canary_value(const void *b) {
  return tide_canary_secret ^ (uintptr_t)b;
}

/* The bytes a block of a class must have for a request of size: in secure
 * mode the canary's too, and never under TIDE_SECURE_MIN_BLOCK (the
 * out-of-line bitmaps have one bit per 32 bytes). */
static inline size_t alloc_class_bytes(size_t size) {
  if (!tide_opt.secure) return size;
  size += TIDE_CANARY_SIZE;
  return size < TIDE_SECURE_MIN_BLOCK ? TIDE_SECURE_MIN_BLOCK : size;
}

/* ---- Secure mode's out-of-line free state (secure.c, types.h) ------------- */
/* A thread's xorshift generator (the pick, the quarantine's eviction),
 * seeded from the secret and the clock on first use. */
extern __thread uint64_t tide_tls_rng __attribute__((tls_model("initial-exec"))) tide_hidden;
tide_hidden uint64_t page_random_seed(void);
static inline uint64_t page_random(void) {
  uint64_t x = tide_tls_rng;
  if (tide_unlikely(x == 0)) x = page_random_seed();
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  tide_tls_rng = x;
  return x;
}

/* The map's word for the granule b starts in, and the shift of the
 * granule's two bits in it (types.h). */
static inline _Atomic(uint64_t) *secure_word(const void *b) {
  uintptr_t seg = (uintptr_t)b & ~(uintptr_t)TIDE_SEGMENT_MASK;
  size_t granule = ((uintptr_t)b & TIDE_SEGMENT_MASK) >> TIDE_SECURE_GRANULE_SHIFT;
  return (_Atomic(uint64_t) *)(seg + TIDE_SECURE_MAP_OFFSET) + granule / 32;
}
static inline unsigned secure_shift(const void *b) {
  return (unsigned)(((uintptr_t)b >> TIDE_SECURE_GRANULE_SHIFT) % 32) * 2;
}
/* b's state before bits were ored (or xored) into it. */
static inline unsigned secure_or(const void *b, unsigned bits) {
  unsigned shift = secure_shift(b);
  return (unsigned)(atomic_fetch_or_explicit(secure_word(b), (uint64_t)bits << shift,
                                             memory_order_relaxed) >> shift) & 3u;
}
static inline unsigned secure_xor(const void *b, unsigned bits) {
  unsigned shift = secure_shift(b);
  return (unsigned)(atomic_fetch_xor_explicit(secure_word(b), (uint64_t)bits << shift,
                                              memory_order_relaxed) >> shift) & 3u;
}

/* The program frees b, a block of a class or a large page that passed the
 * grid check: LIVE -> QUARANTINE.  The map, not the block's bytes, says
 * whether it was the program's: a double free is caught from every other
 * state (quarantined, in transit, available) even when the freed key was
 * erased. */
static inline void secure_note_free(const void *b, const char *func) {
  if (tide_unlikely(secure_or(b, TIDE_SECURE_QUARANTINE) != TIDE_SECURE_LIVE))
    tide_fatal(func, "double free", b);
}
/* The quarantine gives b back: to its owner, who may hand it out at once
 * (QUARANTINE -> AVAIL), or, from another thread, in transit to the owner
 * (QUARANTINE -> TRANSIT), before the push that makes it reachable.  Only a
 * block freed once is in a quarantine once. */
static inline void secure_release_owner(const void *b) {
  if (tide_unlikely(secure_xor(b, TIDE_SECURE_QUARANTINE ^ TIDE_SECURE_AVAIL) !=
                    TIDE_SECURE_QUARANTINE))
    tide_fatal("free", "double free", b);
}
static inline void secure_release_remote(const void *b) {
  if (tide_unlikely(secure_or(b, TIDE_SECURE_TRANSIT) != TIDE_SECURE_QUARANTINE))
    tide_fatal("free", "double free", b);
}

/* Available blocks malloc chooses among, at least, while the page has room
 * (and a quarter of those carved): secure_pop carves more below that. */
#define TIDE_SECURE_PICK 64
static inline bool secure_page_can_pick(const tide_page *page) {
  uint32_t avail = page->capacity - page_used(page);
  return avail >= TIDE_SECURE_PICK && avail >= page->capacity / 4;
}
tide_hidden void secure_page_reset(const tide_page *page);
tide_hidden void secure_carve(const tide_page *page, uint8_t *first, uint32_t count);
tide_hidden void secure_collect(tide_page *page, tide_block *first);
tide_hidden tide_block *secure_pick(tide_page *page);
tide_hidden tide_block *secure_pop(tide_page *page);

#endif /* TIDE_INTERNAL_H */

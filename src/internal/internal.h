/* SPDX-License-Identifier: MIT */
/* Everything the API files see: the layers' headers, and the interfaces
 * of the layers that have none of their own yet (huge blocks, statistics,
 * the API's internal entry points, secure mode's free state).  Layers only
 * call downwards: api (alloc.c, free.c) -> heap -> page -> segment / huge
 * -> brk -> os; options, stats, trace and fmt stand beside them.  Each
 * layer's header includes only what the layer stands on: base.h (on
 * types.h), os.h, brk.h, segment.h (on brk.h), sizeclass.h, page.h (on
 * segment.h and sizeclass.h), heap.h (on page.h); fmt.h (on base.h) and
 * trace.h (on os.h) beside them.  brk.c, os.c, sizeclass.c and fmt.c
 * include only their own header; segment.c, page.c and heap.c still
 * include this one, because they call upwards (segment.c: heap_note_purge
 * and the pages' helpers; page.c: the heap's queues and wake list, secure
 * mode's map; heap.c: statistics, huge blocks' cache, the quarantine):
 * the circle the layers still make. */
#ifndef TIDE_INTERNAL_H
#define TIDE_INTERNAL_H

#include "fmt.h"
#include "heap.h"
#include "trace.h"

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
/* The k-th lowest set bit of m alone, by pdep where this CPU runs it fast
 * (pdep true) or by the loop every CPU can run: unit/secure-kth-bit checks
 * both against each other. */
tide_hidden uint64_t secure_kth_bit_variant(uint64_t m, unsigned k, bool pdep);
tide_hidden tide_block *secure_pop(tide_page *page);

#endif /* TIDE_INTERNAL_H */

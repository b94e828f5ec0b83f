/* SPDX-License-Identifier: MIT */
/* The freeing half of the API.  free() finds the segment by masking the
 * address and the page by a shift; a block of the calling thread's own heap
 * goes straight onto its page's free list, any other onto the page's atomic
 * thread_free list for the owner to collect.  Every pointer is checked
 * against the segment map and its page's block grid first: a pointer we
 * never handed out, or an interior one, is reported, not followed. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <string.h>

/* Large blocks' bytes are counted where they are freed: free_local_slow
 * (their page is always parked in full) or free_generic. */
static inline void free_count(tide_heap *heap, const tide_page *page) {
  heap->stats.bin_free[page->bin]++;
}

/* The local free of a block that leaves its page empty, or whose page was
 * parked as full. */
static tide_noinline void free_local_slow(tide_heap *heap, tide_page *page) {
  trace_request(TIDE_REQ_FREE, 0);
  page->flags &= (uint8_t)~TIDE_PAGE_IDLE; /* in use since the last purge */
  if (page->flags & TIDE_PAGE_IN_FULL) {
    if (page->bin == TIDE_BIN_LARGE) {
      heap->stats.large_bytes_free += page->block_size;
      page_free(heap, page);
      return;
    }
    heap_page_unfull(heap, page);
  }
  /* More frees than blocks out (see free_local). */
  if (tide_unlikely(page_overfreed(page))) tide_fatal("free", "double free", page->local_free);
  if (page_used(page) == 0) page_retire(heap, page);
  /* A program that only frees must still give memory back in time.  Only
   * here, at the top: the heartbeat may free pages a caller is walking. */
  if (--heap->heartbeat == 0) heap_heartbeat(heap);
}

static inline __attribute__((always_inline)) bool free_count_down(tide_page *page) {
#if defined(__x86_64__)
  __asm__ goto("subw $1, %0\n\tjle %l[done]" : : "m"(page->used) : "memory", "cc" : done);
  return false;
done:
  return true;
#else
  return tide_unlikely(--*(int16_t *)&page->used <= 0);
#endif
}

/* Push b onto its own page's local list; the page's flags and count say
 * whether anything more is to be done. */
static inline void free_local(tide_heap *heap, tide_page *page, tide_block *b,
                              uintptr_t key) {
  b->next_encoded = block_encode(page->local_free);
  if (TIDE_CHECKS) b->freed_key = key; /* block_freed_key(b), computed once */
  page->local_free = b;
  free_count(heap, page);
  /* One signed test: the count reached 0, or the page is parked full (the
   * mark makes it negative; a page with a block to free counts at least 1,
   * so the subtraction never wraps).  On x86-64 the decrement in memory and
   * the jump on its own flags, which compilers do not fuse for "<= 0". */
  if (free_count_down(page)) {
    /* The sole page of its class stays (page_retire would keep it): a
     * malloc/free loop must not pay a call for it. */
    if ((page->flags | (uintptr_t)page->next | (uintptr_t)page->prev) == 0) {
      /* More frees than blocks out: the block just pushed was free already
       * (its key erased, so the key check let it through). */
      if (tide_unlikely(page_overfreed(page))) tide_fatal("free", "double free", b);
      if (tide_unlikely(--heap->heartbeat == 0)) heap_heartbeat(heap);
      return;
    }
    free_local_slow(heap, page);
  }
}

/* b, of a page another heap owns, counted as this heap's free and put in
 * this thread's batch for that page. */
static inline void free_remote(tide_heap *heap, tide_segment *seg, tide_page *page,
                               tide_block *b) {
  free_count(heap, page);
  if (page->bin == TIDE_BIN_LARGE) heap->stats.large_bytes_free += page->block_size;
  page_free_remote(heap, seg, page, b);
}

/* Give a block back to its page: the owner's local list, or the page's
 * remote list. */
static void free_release(tide_heap *heap, tide_segment *seg, tide_page *page,
                         tide_block *b) {
  if (seg->heap == heap) {
    free_local(heap, page, b, block_freed_key(b));
    return;
  }
  /* A thread that only frees (a consumer) gets a heap of its own too: its
   * remote frees are then batched, and flushed when it exits. */
  if (tide_unlikely(heap->is_empty_heap) && !tide_slow_only()) {
    tide_heap *mine = heap_init_thread();
    if (mine != NULL) heap = mine;
    /* The heap it got may be a parked one: the block's own. */
    if (seg->heap == heap) {
      free_local(heap, page, b, block_freed_key(b));
      return;
    }
  }
  free_remote(heap, seg, page, b);
}

/* ---- Secure mode: canaries, zeroing, quarantine ---------------------------- */
/* The quarantine gives b back to its page.  The owner makes it available
 * in the map (secure.c: there is no local list in secure mode) and does
 * the bookkeeping of a local free; another thread marks it in transit and
 * hands it over on the page's remote list, which the owner collects. */
static inline __attribute__((always_inline)) void free_secure_release(tide_heap *heap,
                                                                     tide_segment *seg,
                                                                     tide_page *page,
                                                                     tide_block *b) {
  if (seg->heap == heap) {
    secure_release_owner(b);
    free_count(heap, page);
    if (free_count_down(page)) free_local_slow(heap, page);
    return;
  }
  secure_release_remote(b);
  free_remote(heap, seg, page, b);
}

/* A random entry leaves (swapped with the oldest, whose slot is freed):
 * how long a block waits, and so when it comes back, cannot be told from
 * the order of frees. */
static inline __attribute__((always_inline)) void quarantine_evict(tide_heap *heap) {
  /* 32 random bits scaled to the count (Lemire's multiply): no division. */
  uint32_t offset = (uint32_t)(((page_random() >> 32) * heap->quarantine_count) >> 32);
  uint32_t pick = (heap->quarantine_head + offset) % TIDE_QUARANTINE_SLOTS;
  tide_block *b = heap->quarantine[pick];
  heap->quarantine[pick] = heap->quarantine[heap->quarantine_head];
  heap->quarantine_head = (heap->quarantine_head + 1) % TIDE_QUARANTINE_SLOTS;
  heap->quarantine_count--;
  tide_segment *seg = segment_of(b);
  tide_page *page = page_of(seg, b);
  heap->quarantine_bytes -= page->block_size;
  free_secure_release(heap, seg, page, b);
}

void free_quarantine_flush(tide_heap *heap) {
  while (heap->quarantine_count > 0) quarantine_evict(heap);
}

/* The block was checked as a live block of ours.  Check its canary, wipe it,
 * and hold it back from reuse for a while: a dangling pointer then reads
 * zeros, and writes through it land in a block nobody owns yet. */
static tide_noinline void free_secure(tide_heap *heap, tide_page *page, tide_block *b,
                                      const char *func) {
  /* First: a block freed before was zeroed, its canary with it. */
  secure_note_free(b, func);
  if (page->bin != TIDE_BIN_LARGE && *block_canary(page, b) != block_canary_value(b))
    tide_fatal(func, "heap overflow: canary after the block overwritten at", b);
  if (heap->is_empty_heap && (heap = heap_init_thread()) == NULL) {
    free_secure_release(heap_get(), segment_of(b), page, b); /* no heap: no quarantine */
    return;
  }
  memset(b, 0, page->block_size);
  block_mark_freed(b);
  while (heap->quarantine_count == TIDE_QUARANTINE_SLOTS ||
         (heap->quarantine_count > 0 &&
          heap->quarantine_bytes + page->block_size > TIDE_QUARANTINE_BYTES))
    quarantine_evict(heap);
  uint32_t tail = (heap->quarantine_head + heap->quarantine_count) % TIDE_QUARANTINE_SLOTS;
  heap->quarantine[tail] = b;
  heap->quarantine_count++;
  heap->quarantine_bytes += page->block_size;
}

/* Everything but the plain local free of a valid block: NULL, huge blocks,
 * remote frees, and anything suspicious, checked again here and reported
 * with the caller's name. */
static tide_noinline void free_generic(void *p, const char *func) {
  if (p == NULL) return;
  tide_segment *seg = segment_find(p);
  if (seg == NULL) tide_fatal(func, "invalid pointer", p);
  tide_heap *heap = heap_get();
  /* A big block is known by its record, not by its header, which lies
   * below the block where an underflow reaches it. */
  tide_big *big = huge_find(seg);
  if (big != NULL) {
    if (tide_unlikely(tide_valgrind)) VALGRIND_FREELIKE_BLOCK(p, 0);
    trace_request(TIDE_REQ_FREE, 0);
    if (big->in_brk) {
      heap->stats.bin_free[TIDE_BIN_LARGE]++;
      heap->stats.large_bytes_free += huge_usable(big, p);
    } else {
      heap->stats.huge_free++;
      heap->stats.huge_bytes_free += huge_usable(big, p);
    }
    huge_free(big, p, func);
    return;
  }
  tide_page *page = page_of_block(seg, p);
  if (page == NULL) tide_fatal(func, "invalid pointer", p);
  tide_block *b = p;
  bool local = seg->heap == heap;
  /* Only a free writes a block's key (block_freed_key): finding it is
   * proof, whichever thread freed the block first and wherever it waits. */
  if (block_looks_freed(b)) tide_fatal(func, "double free", b);
  if (tide_opt.secure) {
    free_secure(heap, page, b, func);
    return;
  }
  if (tide_unlikely(tide_valgrind)) {
    /* The block is no longer the program's; its link words are ours. */
    VALGRIND_FREELIKE_BLOCK(b, 0);
    VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof(*b));
    free_release(heap, seg, page, b);
    /* Once pushed to another thread's page the block is that thread's. */
    if (local) VALGRIND_MAKE_MEM_NOACCESS(b, sizeof(*b));
    return;
  }
  free_release(heap, seg, page, b);
}

/* A block of another thread's heap, from free_block: a heap's tag on p's
 * unit means a segment of a heap starts there (blocks of classes and large
 * pages, never a big block), so the block goes to its page's remote batch
 * without the segment-map walk, the big-block table and free_generic's
 * frame (xmalloc-test: 72 instructions a cross-thread free, from 90).
 * Anything else, or anything that fails a check, is free_generic's, which
 * checks again and reports. */
static tide_noinline void free_other(void *p, const char *func) {
  uint16_t tag = segmap_fast_tag(p);
  /* Secure mode: a block of a heap's segment goes to free_secure as
   * free_generic would send it, without the segment-map walk and the
   * big-block table (a warm secure pair: 80 instructions fewer). */
  if (tag == TIDE_TAG_CHECKED && tide_opt.secure) {
    tide_segment *seg = segment_of(p);
    tide_page *page = page_lookup(seg, p);
    tide_heap *heap = heap_get();
    if (tide_likely(page_block_valid(page, p))) {
      if (block_looks_freed(p)) tide_fatal(func, "double free", p);
      free_secure(heap, page, p, func);
      return;
    }
  }
  if (tide_likely(tag >= TIDE_TAG_FIRST && tag != TIDE_TAG_NEVER)) {
    tide_segment *seg = segment_of(p);
    tide_page *page = page_lookup(seg, p);
    tide_heap *heap = heap_get();
    if (tide_likely(page_block_valid(page, p) && !block_has_freed_key(p) &&
                    seg->heap != heap && !heap->is_empty_heap)) {
      free_remote(heap, seg, page, p);
      return;
    }
  }
  free_generic(p, func);
}

/* p freed onto page, a page of the calling thread's heap, if it is a block
 * of that page that is not free already; false, and nothing done, if not. */
static inline __attribute__((always_inline)) bool free_local_checked(tide_heap *heap,
                                                                    tide_page *page, void *p) {
  uintptr_t key = block_freed_key(p);
  if (tide_likely(page_block_valid_local(page, p) &&
                  !(TIDE_CHECKS && ((tide_block *)p)->freed_key == key))) {
    free_local(heap, page, p, key);
    return true;
  }
  return false;
}

/* The fast path: a valid block of the calling thread's own heap.  Anything
 * else, a bad pointer included, goes to free_generic, so that this path
 * makes no call but a tail call. */
static inline __attribute__((always_inline)) void free_block(void *p, const char *func) {
  tide_heap *heap = heap_get();
  /* One compare: the map's tag for p's unit is this heap's only if a
   * segment of this heap starts there (so its header can be read). */
  uintptr_t unit = (uintptr_t)p >> TIDE_SEGMENT_SHIFT;
  if (tide_likely(segmap_unit_tag(unit) == heap->fast_tag)) {
    /* The descriptor of p's own slice: every block starts in its page's
     * first slice, and any other slice's descriptor fails the grid test
     * (types.h), so what fails here is free_generic's to report. */
    tide_page *page = page_of_slice(segment_of_unit(unit), p);
    if (tide_likely(free_local_checked(heap, page, p))) return;
    free_generic(p, func);
    return;
  }
  free_other(p, func);
}

void tide_free(void *p) { free_block(p, "free"); }
#if TIDE_OVERRIDE
void free(void *p) tide_alias(tide_free);
void __libc_free(void *p) tide_alias(tide_free);
#endif

/* C++'s operator delete, every form (see alloc.c's operator new): the size
 * and alignment they pass add nothing that free() needs.  Each form is a
 * prototype (C has none from a header) and a definition naming itself in
 * reports. */
#if TIDE_OVERRIDE && SIZE_MAX == UINT64_MAX
void _ZdlPv(void *p) tide_alias(tide_free);
void _ZdaPv(void *p) tide_alias(tide_free);
#define TIDE_UNUSED __attribute__((unused))
#define TIDE_DELETE(name, func, ...)                  \
  void name(void *p, __VA_ARGS__);                    \
  TIDE_CXX void name(void *p, __VA_ARGS__) { free_block(p, func); }
#define TIDE_DELETE_FORMS(kind, func)                                                         \
  TIDE_DELETE(_Zd##kind##Pvm, func, TIDE_UNUSED size_t size)                                  \
  TIDE_DELETE(_Zd##kind##PvRKSt9nothrow_t, func, TIDE_UNUSED const void *tag)                 \
  TIDE_DELETE(_Zd##kind##PvSt11align_val_t, func, TIDE_UNUSED size_t alignment)               \
  TIDE_DELETE(_Zd##kind##PvmSt11align_val_t, func, TIDE_UNUSED size_t size,                   \
              TIDE_UNUSED size_t alignment)                                                   \
  TIDE_DELETE(_Zd##kind##PvSt11align_val_tRKSt9nothrow_t, func, TIDE_UNUSED size_t alignment, \
              TIDE_UNUSED const void *tag)
TIDE_DELETE_FORMS(l, "operator delete")
TIDE_DELETE_FORMS(a, "operator delete[]")
#endif

/* The size (and alignment) must be ones the block could have been asked
 * for (alloc_check_sized). */
void tide_free_sized(void *p, size_t size) {
  if (p == NULL) return;
  alloc_check_sized(p, size, 0, "free_sized");
  free_block(p, "free_sized");
}

void tide_free_aligned_sized(void *p, size_t alignment, size_t size) {
  if (p == NULL) return;
  if (!tide_is_pow2(alignment) || (uintptr_t)p % alignment != 0)
    tide_fatal("free_aligned_sized", "alignment does not match the block at", p);
  alloc_check_sized(p, size, alignment, "free_aligned_sized");
  free_block(p, "free_aligned_sized");
}

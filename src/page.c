/* SPDX-License-Identifier: MIT */
/* Pages: runs of slices cut into blocks of one size class.  A page's free
 * list (in secure mode, its out-of-line map: secure.c) is extended lazily,
 * a few KiB at a time, so that memory is touched (and becomes resident)
 * only as blocks are really handed out. */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <sched.h>
#include <string.h>

/* Extending the free list touches the blocks it links: keep it to about one
 * OS page at a time. */
#define EXTEND_BYTES 4096

static void page_init(tide_page *page, unsigned bin, size_t block_size) {
  page->bin = (uint8_t)bin;
  page->block_size = (uint32_t)block_size;
  /* page_offset_valid's divisibility test: size = odd << shift, and the
   * odd part's inverse mod 2^32 by Newton's iteration (each step doubles
   * the correct low bits; odd * odd == 1 mod 8 gives the first three). */
  uint32_t shift = block_size ? (uint32_t)__builtin_ctzll(block_size) : 0;
  uint32_t odd = (uint32_t)(block_size >> shift), inv = odd;
  for (int i = 0; i < 4; i++) inv *= 2 - odd * inv;
  tide_assert(odd * inv == 1 || block_size == 0);
  page->block_shift = (uint8_t)shift;
  page->block_odd_inv = inv;
  page->grid_base = (uint32_t)(uintptr_t)page_start(page) * inv;
  page->capacity = 0;
  page->counts = 0;
  page->free = page->local_free = NULL;
  /* span_take said whether the slices read as zero; then so do the blocks
   * (a page of one block: that block). */
  page->flags = (page->flags & TIDE_PAGE_FRESH) && !tide_opt.secure
                    ? TIDE_PAGE_FRESH | TIDE_PAGE_FREE_ZERO
                    : 0;
  tide_store(&page->thread_free, 0);
  page->next = page->prev = NULL;
  if (tide_opt.secure) secure_page_reset(page);
}

/* Secure mode's random numbers (page_random, internal.h). */
__thread uint64_t tide_tls_rng __attribute__((tls_model("initial-exec")));

uint64_t page_random_seed(void) {
  return tide_list_secret ^ (uintptr_t)&tide_tls_rng ^ init_clock_ns() ^ 1;
}

bool page_extend(tide_page *page) {
  uint32_t room = page_reserved(page) - page->capacity;
  if (room == 0) return false;
  uint32_t count = (uint32_t)(EXTEND_BYTES / page->block_size);
  if (count == 0) count = 1;
  if (count > room) count = room;
  size_t bs = page->block_size;
  uint8_t *first = page_start(page) + (size_t)page->capacity * bs;
  /* Under valgrind, old blocks of a reused page may still be no-access. */
  if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_UNDEFINED(first, (size_t)count * bs);
  if (tide_opt.secure) {
    /* No list: the blocks become available in the map (secure.c). */
    secure_carve(page, first, count);
    __atomic_store_n(&page->capacity, page->capacity + count, __ATOMIC_RELAXED);
    return true;
  }
  /* Carved into an empty list: the list is all new blocks again. */
  if (page->free == NULL && (page->flags & TIDE_PAGE_FRESH)) page->flags |= TIDE_PAGE_FREE_ZERO;
  tide_block *b = (tide_block *)first;
  for (uint32_t i = 1; i < count; i++) {
    tide_block *next = (tide_block *)(first + i * bs);
    b->next_encoded = block_encode(next);
    b = next;
  }
  b->next_encoded = block_encode(page->free);
  page->free = (tide_block *)first;
  __atomic_store_n(&page->capacity, page->capacity + count, __ATOMIC_RELAXED);
  return true;
}

/* Push the chain first..last (linked, freed keys set) onto a page another
 * thread owns, in one CAS; wake the owner if the page is parked as full,
 * so that it notices the page has room again. */
static void free_remote_push(tide_segment *seg, tide_page *page, tide_block *first,
                             tide_block *last) {
  uintptr_t old = tide_load(&page->thread_free), next;
  bool wake;
  do {
    last->next_encoded = block_encode((tide_block *)(old & ~TIDE_TF_FLAGS));
    wake = (old & TIDE_TF_FLAGS) == TIDE_TF_FULL;
    next = (uintptr_t)first | (old & TIDE_TF_FLAGS) | (wake ? TIDE_TF_WAKING : 0);
  } while (!atomic_compare_exchange_weak(&page->thread_free, &old, next));
  /* Without a wake to do, the page may be gone the moment the CAS is done:
   * touch nothing.  With one, the owner keeps the page (and its segment)
   * until it has drained it from the wake list. */
  if (wake) {
    tide_heap *owner = seg->heap;
    tide_page *head = atomic_load(&owner->wake);
    do {
      seg->wake_next[page - seg->pages] = head;
    } while (!atomic_compare_exchange_weak(&owner->wake, &head, page));
  }
}

/* Remote frees are batched: consecutive frees into the same page of
 * another thread's heap (a consumer freeing what a producer made, in
 * order) are chained here and handed over in one CAS when the thread frees
 * into another page, when REMOTE_BATCH blocks have gathered, or when the
 * thread next takes a slow path of malloc, collects or exits.  The blocks
 * stay counted in their page's `used` meanwhile, so the page (and its
 * segment) cannot go away under them. */
#define REMOTE_BATCH 64
typedef struct remote_batch {
  tide_segment *seg;
  tide_page *page; /* NULL: empty */
  tide_block *first, *last;
  uint32_t count;
} remote_batch;
static __thread remote_batch page_tls_batch __attribute__((tls_model("initial-exec")));

void page_remote_flush(void) {
  remote_batch *rb = &page_tls_batch;
  tide_page *page = rb->page;
  if (page == NULL) return;
  rb->page = NULL;
  free_remote_push(rb->seg, page, rb->first, rb->last);
}

/* b, a block of seg's page, which another thread's heap owns, is free. */
/* page_free_remote's start of a new batch: a call of its own, so that
 * adding to the current batch (most remote frees) saves no registers. */
static tide_noinline void page_free_remote_start(tide_heap *heap, tide_segment *seg,
                                                 tide_page *page, tide_block *b) {
  page_remote_flush();
  /* A thread with no heap has no exit hook to flush with; the checked
   * modes keep every block where the double-free search can see it. */
  if (heap->is_empty_heap || tide_slow_only()) {
    free_remote_push(seg, page, b, b);
    return;
  }
  remote_batch *rb = &page_tls_batch;
  rb->seg = seg;
  rb->page = page;
  rb->first = rb->last = b;
  rb->count = 1;
}

void page_free_remote(tide_heap *heap, tide_segment *seg, tide_page *page, tide_block *b) {
  block_mark_freed(b);
  remote_batch *rb = &page_tls_batch;
  if (tide_unlikely(rb->page != page)) {
    page_free_remote_start(heap, seg, page, b);
    return;
  }
  b->next_encoded = block_encode(rb->first);
  rb->first = b;
  if (tide_unlikely(++rb->count >= REMOTE_BATCH)) page_remote_flush();
}

/* Take the blocks other threads freed into this page. */
void page_collect(tide_page *page) {
  /* Every refill of the free list is a count: the page then never hands out
   * more than it holds between two. */
  page_count_flush(segment_of(page)->heap, page);
  uintptr_t old = tide_load(&page->thread_free);
  if ((old & ~TIDE_TF_FLAGS) == 0) return;
  /* Take the list, leave the flags. */
  while (!atomic_compare_exchange_weak_explicit(&page->thread_free, &old,
                                                old & TIDE_TF_FLAGS,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
  }
  tide_block *first = (tide_block *)(old & ~TIDE_TF_FLAGS);
  if (first == NULL) return;
  /* Blocks of it were out: not idle, and the list holds used blocks. */
  page->flags &= (uint8_t)~(TIDE_PAGE_IDLE | TIDE_PAGE_FREE_ZERO);
  /* Secure mode: the blocks become available in the map, each link checked
   * against it before it is followed (secure.c). */
  if (tide_opt.secure) {
    secure_collect(page, first);
    return;
  }
  uint32_t count = 1;
  tide_block *last = first;
  /* Bounded by the blocks out: a cycle (a block pushed twice through a
   * forged key) is reported, not walked for ever. */
  for (tide_block *next; count <= page_used(page) && (next = block_next_slow(last)) != NULL;
       last = next)
    count++;
  if (tide_unlikely(count > page_used(page)))
    tide_fatal("free", "corrupted remote free list in page", page_start(page));
  last->next_encoded = block_encode(page->free);
  page->free = first;
  page->used -= count;
}

/* The head of page's free list left its segment: the link of the block
 * malloc handed out last was overwritten after that block was freed.  Name
 * that block, the one the program wrote through a dangling pointer: the
 * carved block whose link still decodes to the bad value (unless the
 * program, which owns it again, has changed it since; then the bad value). */
_Noreturn void page_free_list_corrupt(const tide_page *page, const tide_block *bad) {
  uint8_t *start = page_start(page);
  for (uint32_t i = 0; i < page->capacity; i++) {
    const tide_block *b = (const tide_block *)(start + (size_t)i * page->block_size);
    if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_DEFINED(b, sizeof(*b));
    if (block_decode(b->next_encoded) == bad) tide_fatal("malloc", "corrupted free list at", b);
  }
  tide_fatal("malloc", "corrupted free list at", bad);
}

/* A new page for bin, at the front of its queue. */
tide_page *page_alloc(tide_heap *heap, unsigned bin) {
  tide_page *page = segment_span_alloc(heap, sizeclass_page_slices(bin));
  if (page == NULL) return NULL;
  page_init(page, bin, tide_bin_size[bin]);
  heap->stats.bin_pages[bin]++;
  page_extend(page);
  heap_queue_push(heap, &heap->queues[bin], page);
  return page;
}

/* A block bigger than the largest class, below the mmap threshold: a page of
 * one block.  It lives in heap->full, so a remote free wakes the owner. */
void *page_alloc_large(tide_heap *heap, size_t size) {
  unsigned slices = sizeclass_slices_for(size);
  tide_page *page = segment_span_alloc(heap, slices);
  if (page == NULL) return NULL;
  page_init(page, TIDE_BIN_LARGE, (size_t)slices << TIDE_SLICE_SHIFT);
  heap->stats.bin_pages[TIDE_BIN_LARGE]++;
  page->capacity = page->used = 1;
  page_mark_full(page);
  tide_store(&page->thread_free, TIDE_TF_FULL);
  heap_queue_push(heap, &heap->full, page);
  tide_block *b = (tide_block *)page_start(page);
  if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof(*b));
  block_mark_live(b); /* the slices may hold an old block's key */
  return b;
}

/* The page has no free block: park it in heap->full.  Setting TIDE_TF_FULL
 * succeeds only while no remote free is pending (the list is empty), in one
 * CAS, so a freer either sees the flag and wakes us, or its block stops us.
 * Returns false if blocks arrived and the page stays. */
static bool page_to_full(tide_heap *heap, tide_page *page) {
  uintptr_t expected = 0;
  if (!atomic_compare_exchange_strong(&page->thread_free, &expected, TIDE_TF_FULL))
    return false;
  heap_queue_remove(heap, &heap->queues[page->bin], page);
  page_mark_full(page);
  heap_queue_push(heap, &heap->full, page);
  return true;
}

/* Give the page's slices back to its segment. */
void page_free(tide_heap *heap, tide_page *page) {
  tide_assert(page_used(page) == 0);
  page_count_flush(heap, page);
  if (page->flags & TIDE_PAGE_IN_FULL) {
    heap_queue_remove(heap, &heap->full, page);
    page_mark_unfull(page);
  } else {
    heap_queue_remove(heap, &heap->queues[page->bin], page);
  }
  /* No block is out, so no freer can come any more; but one may still be
   * putting the page on the wake list, or have put it there: wait until it
   * can be taken off. */
  atomic_fetch_and(&page->thread_free, ~TIDE_TF_FULL);
  while (tide_load(&page->thread_free) & TIDE_TF_WAKING) {
    heap_wake_unlink(heap, page);
    if (tide_load(&page->thread_free) & TIDE_TF_WAKING) sched_yield();
  }
  tide_store(&page->thread_free, 0);
  heap->stats.bin_pages[page->bin]--;
  segment_span_free(heap, page);
}

/* All blocks of the page are free.  Keep the last page of a size class (a
 * program that frees and allocates one object in a loop must not make and
 * drop a page each time); give the others back. */
void page_retire(tide_heap *heap, tide_page *page) {
  if (page->bin != TIDE_BIN_LARGE && !(page->flags & TIDE_PAGE_IN_FULL)) {
    tide_page_queue *q = &heap->queues[page->bin];
    if (q->first == page && page->next == NULL) return;
  }
  page_free(heap, page);
}

void *page_malloc_generic(tide_heap *heap, size_t size, unsigned bin) {
  (void)size;
  page_remote_flush();
  if (tide_load(&heap->wake) != NULL) heap_wake_drain(heap);
  if (heap->heartbeat <= 8)
    heap_heartbeat(heap);
  else
    heap->heartbeat -= 8; /* a slow path weighs more than an event */
  tide_page_queue *q = &heap->queues[bin];
  tide_page *page = q->first;
  while (page != NULL) {
    tide_page *next = page->next;
    if (tide_opt.secure) {
      /* No lists: what the map has available (types.h), what other threads
       * gave back, and what the page can still carve. */
      page_collect(page);
      if (page_has_free(page) || page_extend(page)) break;
      if (!page_to_full(heap, page)) {
        page_collect(page);
        if (page_has_free(page)) break;
      }
      page = next;
      continue;
    }
    if (page->free == NULL && page->local_free != NULL) page->free = page_take_local_free(page);
    if (page->free == NULL) page_collect(page);
    if (page->free == NULL) page_extend(page);
    if (page->free != NULL) break;
    if (!page_to_full(heap, page)) {
      page_collect(page);
      if (page->free != NULL) break;
    }
    page = next;
  }
  if (page == NULL) {
    page = page_alloc(heap, bin);
    if (page == NULL) return NULL;
  } else if (page != q->first) {
    heap_queue_remove(heap, q, page);
    heap_queue_push(heap, q, page);
  }
  heap_update_direct(heap, bin);
  tide_block *b;
  if (tide_opt.secure) {
    b = secure_pop(page); /* from the map, at random */
  } else {
    b = page_free_head(page);
    page->free = block_next_slow(b);
  }
  block_mark_live(b);
  page_count_malloc_now(heap, page);
  return b;
}

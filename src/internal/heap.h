/* SPDX-License-Identifier: MIT */
/* The heap layer (heap.c): a thread's heap of pages by size class, the
 * purge clock and its policy, thread exit and adoption, fork.  It stands on
 * pages. */
#ifndef TIDE_HEAP_H
#define TIDE_HEAP_H

#include "page.h"

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
/* The owner's mallocs still in its current pages, added to its counters
 * (page_count_flush), so that what it reads of its own heap is exact. */
tide_hidden void heap_count_flush(tide_heap *heap);
tide_hidden void heap_collect(tide_heap *heap, bool force_purge);
tide_hidden void heap_wake_drain(tide_heap *heap);
tide_hidden void heap_wake_unlink(tide_heap *heap, tide_page *page);
tide_hidden void heap_heartbeat(tide_heap *heap);
tide_hidden void heap_note_purge(tide_heap *heap, uint64_t deadline_ns);
/* How many purge delays the heap's free slices wait now (1..TIDE_PURGE_HOLD),
 * judged on what it gave back and took again. */
tide_hidden unsigned heap_purge_hold(tide_heap *heap, uint64_t now);
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

#endif /* TIDE_HEAP_H */

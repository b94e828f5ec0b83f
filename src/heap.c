/* SPDX-License-Identifier: MIT */
/* Thread heaps.  Each thread allocates from its own heap without locks or
 * atomic read-modify-writes.  A heap is never destroyed: when its thread
 * exits it is emptied of what can be given back and parked in a pool, and
 * the next new thread adopts it, blocks still in use and all.  Memory of a
 * parked heap that other threads free meanwhile is reclaimed by whoever
 * next needs a segment (heap_reclaim_pooled) or calls malloc_trim. */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

tide_page tide_page_empty;
tide_heap tide_heap_empty = {
    .direct = {[0 ... TIDE_DIRECT_COUNT - 1] = &tide_page_empty},
    .seg_lock = PTHREAD_MUTEX_INITIALIZER,
    .is_empty_heap = true,
    .fast_tag = TIDE_TAG_NEVER};
__thread tide_heap *tide_tls_heap
    __attribute__((tls_model("initial-exec"))) = &tide_heap_empty;

static struct {
  tide_lock lock;
  tide_heap *all;       /* every heap ever made */
  tide_heap *pool;      /* heaps of exited threads */
  uint8_t *meta;        /* bump area for new heap structs */
  size_t meta_left;
  uint64_t alive, created;
  uint32_t visit_mark; /* heap_pool_visit's turn */
  pthread_key_t exit_key;
  bool key_ready;
} heaps = {.lock = TIDE_LOCK_INIT};

#define META_CHUNK ((size_t)256 * 1024)
#define PURGE_CHECK_EVERY 64 /* slow calls between looks at the clock */

/* ---- Queues and the direct table ------------------------------------------ */
void heap_update_direct(tide_heap *heap, unsigned bin) {
  unsigned lo, hi;
  if (!sizeclass_direct_range(bin, &lo, &hi)) return;
  tide_page *page = heap->queues[bin].first;
  /* Secure mode: every malloc takes the slow path, where the checks are. */
  if (page == NULL || tide_slow_only()) page = &tide_page_empty;
  /* The entries of a bin change together: most slow paths keep the page. */
  tide_page *old = heap->direct[lo];
  if (old == page) return;
  /* Only the current page of a class has mallocs not yet counted. */
  if (old != &tide_page_empty) page_count_flush(heap, old);
  for (unsigned i = lo; i <= hi; i++) heap->direct[i] = page;
}

void heap_count_flush(tide_heap *heap) {
  if (heap->is_empty_heap) return;
  for (unsigned bin = 1; bin < TIDE_BIN_COUNT; bin++)
    if (heap->queues[bin].first != NULL) page_count_flush(heap, heap->queues[bin].first);
}

void heap_queue_push(tide_heap *heap, tide_page_queue *q, tide_page *page) {
  page->prev = NULL;
  page->next = q->first;
  if (q->first)
    q->first->prev = page;
  else
    q->last = page;
  q->first = page;
  if (q != &heap->full) heap_update_direct(heap, page->bin);
}

void heap_queue_append(tide_heap *heap, tide_page_queue *q, tide_page *page) {
  if (q->first == NULL) {
    heap_queue_push(heap, q, page);
    return;
  }
  page->next = NULL;
  page->prev = q->last;
  q->last->next = page;
  q->last = page;
}

void heap_queue_remove(tide_heap *heap, tide_page_queue *q, tide_page *page) {
  bool was_first = q->first == page;
  if (page->prev)
    page->prev->next = page->next;
  else
    q->first = page->next;
  if (page->next)
    page->next->prev = page->prev;
  else
    q->last = page->prev;
  page->next = page->prev = NULL;
  if (was_first && q != &heap->full) heap_update_direct(heap, page->bin);
}

/* A full page got a block back: it may serve malloc again. */
void heap_page_unfull(tide_heap *heap, tide_page *page) {
  heap_queue_remove(heap, &heap->full, page);
  page_mark_unfull(page);
  atomic_fetch_and(&page->thread_free, ~TIDE_TF_FULL);
  /* Behind the current page: it keeps serving until it runs dry. */
  heap_queue_append(heap, &heap->queues[page->bin], page);
}

/* Pages that other threads freed into while they were full. */
void heap_wake_drain(tide_heap *heap) {
  tide_page *page = atomic_exchange(&heap->wake, NULL);
  while (page != NULL) {
    tide_segment *seg = segment_of(page);
    tide_page *next = seg->wake_next[page - seg->pages];
    seg->wake_next[page - seg->pages] = NULL;
    atomic_fetch_and(&page->thread_free, ~TIDE_TF_WAKING);
    if (page->flags & TIDE_PAGE_IN_FULL) {
      page_collect(page);
      if (page->bin == TIDE_BIN_LARGE) {
        if (page_used(page) == 0) page_free(heap, page);
      } else if (page_used(page) == 0) {
        heap_page_unfull(heap, page);
        page_retire(heap, page);
      } else if (page_has_free(page)) {
        heap_page_unfull(heap, page);
      }
    }
    page = next;
  }
}

/* Take page off the wake list, leaving every other page there untouched
 * (processing them here could free pages a caller is walking). */
void heap_wake_unlink(tide_heap *heap, tide_page *page) {
  tide_page *list = atomic_exchange(&heap->wake, NULL);
  tide_page *keep = NULL, *keep_last = NULL;
  while (list != NULL) {
    tide_segment *seg = segment_of(list);
    tide_page **link = &seg->wake_next[list - seg->pages];
    tide_page *next = *link;
    if (list == page) {
      *link = NULL;
      atomic_fetch_and(&page->thread_free, ~TIDE_TF_WAKING);
    } else {
      *link = keep;
      if (keep == NULL) keep_last = list;
      keep = list;
    }
    list = next;
  }
  if (keep == NULL) return;
  tide_segment *last_seg = segment_of(keep_last);
  tide_page **last_link = &last_seg->wake_next[keep_last - last_seg->pages];
  tide_page *head = atomic_load(&heap->wake);
  do {
    *last_link = head;
  } while (!atomic_compare_exchange_weak(&heap->wake, &head, keep));
}

/* ---- Purge clock -------------------------------------------------------------- */
/* Free memory goes back after purge_delay_ms, on a clock that is read only
 * every HEARTBEAT_EVENTS events (malloc slow paths, pages emptied, ...):
 * no timer thread, and no clock on the fast path. */
#define HEARTBEAT_EVENTS 64

void heap_note_purge(tide_heap *heap, uint64_t deadline_ns) {
  if (heap->purge_deadline_ns == 0 || deadline_ns < heap->purge_deadline_ns)
    heap->purge_deadline_ns = deadline_ns;
}

/* The only page of bin's queue (page_retire keeps it when it empties), or
 * NULL. */
static tide_page *heap_sole_page(tide_heap *heap, unsigned bin) {
  tide_page *page = heap->queues[bin].first;
  return page != NULL && page->next == NULL ? page : NULL;
}

/* Pages kept only because they were the last of their class, now empty. */
static bool heap_has_kept_pages(tide_heap *heap) {
  for (unsigned bin = 1; bin < TIDE_BIN_COUNT; bin++) {
    tide_page *page = heap_sole_page(heap, bin);
    if (page && page_used(page) == 0) return true;
  }
  return false;
}

/* A kept page goes back once it has been empty for a whole purge delay: a
 * purge that finds it empty marks it idle; the free that empties it again
 * clears the mark (the mark fails free_local's sole-page test, so that free
 * takes free_local_slow), as does a collect, and a purge that finds it in
 * use; the next purge that finds it still idle frees it.  Freeing it at the
 * first purge that found it empty cost a program that churns through its
 * classes a page made again moments later: espresso, with its 60 classes,
 * 11,000-12,500 page faults; 4,500-5,400 with this wait, the same peak.
 * But empty kept pages that are all that is left in their segment go at
 * once, used or not: the segment can then go back (or the break come
 * down), and a page in use is made again lower down.  A parked heap's
 * (aged false) go at once too: no thread allocates from them.  True if a
 * page was marked idle and waits for the next deadline. */
static bool heap_free_kept_pages(tide_heap *heap, bool aged) {
  tide_page *kept[TIDE_BIN_COUNT];
  unsigned n = 0;
  for (unsigned bin = 1; bin < TIDE_BIN_COUNT; bin++) {
    tide_page *page = heap_sole_page(heap, bin);
    if (page == NULL) continue;
    if (page_used(page) != 0)
      page->flags &= (uint8_t)~TIDE_PAGE_IDLE;
    else
      kept[n++] = page;
  }
  bool marked = false;
  for (unsigned i = 0; i < n; i++) {
    tide_page *page = kept[i];
    tide_segment *seg = segment_of(page);
    unsigned kept_slices = 0;
    for (unsigned j = 0; j < n; j++)
      if (kept[j] != NULL && segment_of(kept[j]) == seg) kept_slices += kept[j]->slice_count;
    if (!aged || (page->flags & TIDE_PAGE_IDLE) || segment_used_slices(seg) == kept_slices) {
      kept[i] = NULL; /* freed: no longer counted in its segment */
      page_free(heap, page);
    } else {
      page->flags |= TIDE_PAGE_IDLE;
      marked = true;
    }
  }
  return marked;
}

/* How many purge delays the heap's free slices wait: 1, doubled (up to
 * TIDE_PURGE_HOLD) each time much of what it gave back since the last purge
 * was taken again, and halved once the hold has lasted its whole length
 * with none of it taken again.  "Much" is a quarter of what was given
 * back, and at least TIDE_PURGE_REFAULT_SLICES: below that rate the faults
 * cost less than the memory would (a program that swings by a few MiB
 * keeps giving them back).  The evidence is judged at most once a delay:
 * a heap with many segments reaches their deadlines one after another, and
 * when each of those calls halved the hold, sqlite's fell from 16 to 1 in
 * 60 ms, just before it gave back 58 MiB that it took again 140 ms later
 * (82,000 page faults to glibc's 47,000; 66,000 with these rules).  A
 * quiet of twice the hold made no fewer. */
unsigned heap_purge_hold(tide_heap *heap, uint64_t now) {
  if (heap->purge_hold == 0) heap->purge_hold = 1;
  uint64_t delay = tide_opt.purge_delay_ms > 0 ? (uint64_t)tide_opt.purge_delay_ms * 1000000u : 0;
  if (now - heap->hold_judged_ns < delay) return heap->purge_hold;
  heap->hold_judged_ns = now;
  uint32_t purged = heap->purged_recent, again = heap->refaulted_recent;
  if (purged > 0 && again * 4 >= purged && again >= TIDE_PURGE_REFAULT_SLICES) {
    if (heap->purge_hold < TIDE_PURGE_HOLD) heap->purge_hold *= 2;
    heap->hold_set_ns = now;
  } else if (again == 0 && heap->purge_hold > 1 &&
             now - heap->hold_set_ns >= heap->purge_hold * delay) {
    heap->purge_hold /= 2;
    heap->hold_set_ns = now;
  }
  heap->purged_recent /= 2;
  heap->refaulted_recent /= 2;
  return heap->purge_hold;
}

/* Free slices wait to be taken again, but in a small program (an
 * allocated peak under TIDE_HOLD_PEAK_MAX) a heap that holds more of them
 * than a quarter of that peak (and more than TIDE_HOLD_MIN_BYTES), times
 * 2^spare_shift (heap_spare_grows), gives them back at once: a program
 * that churns through its size classes (espresso: 0.4 MiB at most in use,
 * 1.4 MiB more resident while free slices waited) keeps a few spare pages,
 * not every page it emptied in the last delay, and pays a few thousand
 * page faults for it.  Not in a larger
 * one: a program whose use swings by tens of MiB (mstress) needs its spare
 * again within milliseconds (twice to 16 times the page faults, and more
 * resident memory as the purge waits grew on the evidence of refaults,
 * with budgets of the peak or what is in use); its free slices go back on
 * the purge clock as before. */
#define HOLD_SCAN 16
static bool heap_holds_too_much(tide_heap *heap) {
  uint64_t peak = stats_peak_process(), budget = peak / 4, held = 0;
  if (peak >= TIDE_HOLD_PEAK_MAX) return false;
  if (budget < TIDE_HOLD_MIN_BYTES) budget = TIDE_HOLD_MIN_BYTES;
  budget <<= heap->spare_shift;
  /* A heartbeat's look is bounded: the first HOLD_SCAN segments with free
   * slices (64 MiB; a heap with more in use has a budget as large). */
  unsigned n = 0;
  for (tide_segment *s = heap->segments; s && n < HOLD_SCAN; s = s->next, n++) {
    held += (uint64_t)__builtin_popcountll(s->purge_slices) << TIDE_SLICE_SHIFT;
    if (held > budget) return true;
  }
  return false;
}

/* A segment whose top is free may let the break come down. */
static void heap_trim_tops(tide_heap *heap, bool force) {
  pthread_mutex_lock(&heap->seg_lock);
  for (tide_segment *s = heap->segments; s; s = s->next)
    if (s->kind == TIDE_SEG_BRK) brk_trim_top(s, force);
  pthread_mutex_unlock(&heap->seg_lock);
}

/* The uncarved tails of pages made on resident slices go back
 * (segment_trim_tails): the owner's purge only, or a parked heap's. */
static void heap_trim_tails(tide_heap *heap) {
  pthread_mutex_lock(&heap->seg_lock);
  for (int list = 0; list < 2; list++)
    for (tide_segment *s = list ? heap->segments_full : heap->segments; s; s = s->next)
      if (s->warm_tails) segment_trim_tails(s);
  pthread_mutex_unlock(&heap->seg_lock);
}

/* The heap's own segments: free slices whose wait is over go back. */
static void heap_purge_own_locked(tide_heap *heap, uint64_t now, bool force);
static void heap_purge_own(tide_heap *heap, uint64_t now, bool force) {
  pthread_mutex_lock(&heap->seg_lock);
  heap_purge_own_locked(heap, now, force);
  pthread_mutex_unlock(&heap->seg_lock);
}

static void heap_purge_own_locked(tide_heap *heap, uint64_t now, bool force) {
  __atomic_store_n(&heap->purge_deadline_ns, 0, __ATOMIC_RELAXED);
  unsigned hold = force ? 1 : heap_purge_hold(heap, now);
  for (int list = 0; list < 2; list++) {
    for (tide_segment *s = list ? heap->segments_full : heap->segments; s; s = s->next) {
      uint64_t next = segment_purge(s, now, force, hold);
      if (next != 0) heap_note_purge(heap, next);
    }
  }
}

static void heap_purge_pooled(uint64_t now);

/* What no single heap owns: the mapped-segment and huge caches, the brk
 * pool and the parked heaps. */
static void heap_purge_process(uint64_t now, bool force) {
  init_purge_taken();
  segment_cache_purge(now, force);
  huge_cache_expire(now, force);
  brk_pool_purge(now, force);
  heap_purge_pooled(now);
}

static void heap_purge_traced(tide_heap *heap, bool force) {
  uint64_t now = init_clock_ns();
  heap_purge_own(heap, now, force);
  /* The process-wide part runs in a thread's own turn only: a parked heap
   * being collected (heap_reclaim_pooled) must not start another visit of
   * the pool from inside one. */
  if (heap != tide_tls_heap) return;
  uint64_t cache = init_purge_due();
  if (force || (cache != 0 && now >= cache)) heap_purge_process(now, force);
}

/* The trace names the purge's system calls, then the request it interrupted
 * again. */
static void heap_purge(tide_heap *heap, bool force) {
  int req = tide_tls_request;
  size_t req_size = tide_tls_request_size;
  trace_request(TIDE_REQ_PURGE, 0);
  heap_purge_traced(heap, force);
  trace_request((tide_request)req, req_size);
}

/* The spare budget's evidence: of what the last heap_purge_over gave back,
 * how much has been taken again since.  Half of it or more: the program
 * cycles a working set larger than the budget (xmalloc-test, whose
 * producer's blocks come back in batches: three times the page faults and
 * twice the system time under a fixed budget), and the budget doubles
 * instead of giving back now.  None of it: the budget halves again. */
static bool heap_spare_grows(tide_heap *heap, uint64_t now) {
  if (heap->spare_given == 0) return false;
  uint64_t again = heap->refaulted_total - heap->spare_refault_mark;
  /* The rate's bound in bytes, per microsecond elapsed: no overflow before
   * years, where bytes times 10^9 would overflow in seconds. */
  uint64_t elapsed_us = (now > heap->spare_given_ns ? now - heap->spare_given_ns : 0) / 1000 + 1;
  uint64_t bound = TIDE_SPARE_REFAULT_RATE / 1000000 * elapsed_us;
  if (again * 2 >= heap->spare_given && (again << TIDE_SLICE_SHIFT) >= bound) {
    heap->spare_given = 0;
    if (heap->spare_shift < TIDE_SPARE_SHIFT_MAX) heap->spare_shift++;
    return true;
  }
  if (again == 0 && heap->spare_shift > 0) heap->spare_shift--;
  return false;
}

/* heap_holds_too_much: its own free slices go back now, young or not,
 * unless what went back the last time came back. */
static void heap_purge_over(tide_heap *heap) {
  uint64_t now = init_clock_ns();
  if (heap_spare_grows(heap, now)) return;
  int req = tide_tls_request;
  size_t req_size = tide_tls_request_size;
  trace_request(TIDE_REQ_PURGE, 0);
  uint64_t before = heap->purged_total;
  heap_purge_own(heap, now, true);
  heap->spare_given = heap->purged_total - before;
  heap->spare_refault_mark = heap->refaulted_total;
  heap->spare_given_ns = now;
  heap_trim_tops(heap, false);
  trace_request((tide_request)req, req_size);
}

/* ---- The background purger (background_purge=1) ------------------------- */
/* One thread that gives back, on the purge clock, what no thread's own
 * heartbeat would: the free pages of threads that have gone idle (which
 * wait for their owner's next allocation otherwise), parked heaps, the brk
 * pool and the caches.  It only purges: it never touches a page list, so
 * it takes no lock a fast path takes, and a heap's segments only under the
 * heap's seg_lock.  It is started from a heartbeat (never from inside a
 * lock: pthread_create allocates), blocks every signal, and is not
 * restarted in a forked child until the child's own next heartbeat. */
static struct {
  tide_lock lock;             /* held for one pass; fork waits for it */
  _Atomic(int) started;
} bg = {.lock = TIDE_LOCK_INIT};

static void bg_pass(void) {
  uint64_t now = init_clock_ns();
  uint64_t due = init_purge_due();
  if (due != 0 && now >= due) heap_purge_process(now, false);
  /* Heaps are never freed and the list only grows at its head: it can be
   * walked without the heaps' lock. */
  tide_heap *h = __atomic_load_n(&heaps.all, __ATOMIC_ACQUIRE);
  for (; h != NULL; h = h->all_next) {
    uint64_t dl = __atomic_load_n(&h->purge_deadline_ns, __ATOMIC_RELAXED);
    if (dl == 0 || now < dl) continue;
    if (pthread_mutex_trylock(&h->seg_lock) != 0) continue; /* its owner is at it */
    heap_purge_own_locked(h, now, false);
    for (tide_segment *s = h->segments; s; s = s->next)
      if (s->kind == TIDE_SEG_BRK) brk_trim_top(s, false);
    pthread_mutex_unlock(&h->seg_lock);
  }
}

static void *bg_main(void *arg) {
  (void)arg;
  trace_request(TIDE_REQ_PURGE, 0);
  for (;;) {
    long ms = tide_opt.purge_delay_ms > 0 ? tide_opt.purge_delay_ms : 50;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    tide_lock_take(&bg.lock);
    bg_pass();
    tide_lock_give(&bg.lock);
  }
  return NULL;
}

static void bg_start(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&bg.started, &expected, 1)) return;
  pthread_attr_t attr;
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_sigmask(SIG_BLOCK, &all, &old); /* the thread inherits the mask */
  pthread_t t;
  if (pthread_create(&t, &attr, bg_main, NULL) != 0) tide_store(&bg.started, 0);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

void heap_heartbeat(tide_heap *heap) {
  heap->heartbeat = HEARTBEAT_EVENTS;
  if (tide_opt.purge_delay_ms < 0 || heap->is_empty_heap) return;
  if (tide_unlikely(tide_opt.background_purge && tide_load(&bg.started) == 0)) bg_start();
  uint64_t now = init_clock_ns();
  uint64_t due = heap->purge_deadline_ns;
  uint64_t cache = init_purge_due();
  if (cache != 0 && (due == 0 || cache < due)) due = cache;
  if (due == 0) {
    /* Nothing pending: empty kept pages start their wait now.  Looking is
     * a walk over every class: every eighth idle heartbeat only. */
    if ((++heap->idle_beats & 7) == 0 && heap_has_kept_pages(heap))
      heap_note_purge(heap, now + (uint64_t)tide_opt.purge_delay_ms * 1000000u);
    return;
  }
  if (now < due) {
    if (heap->purge_deadline_ns != 0 && heap_holds_too_much(heap)) heap_purge_over(heap);
    return;
  }
  bool marked = heap_free_kept_pages(heap, true);
  heap_trim_tails(heap);
  heap_purge(heap, false);
  heap_trim_tops(heap, false);
  /* What was just marked idle goes back at the next deadline, not whenever
   * an idle heartbeat next looks (after heap_purge, which clears the
   * deadline it has served). */
  if (marked) heap_note_purge(heap, now + (uint64_t)tide_opt.purge_delay_ms * 1000000u);
}

/* The heaps of exited threads have no heartbeat of their own: they wait on
 * the process's purge clock, and whoever runs it purges them, so memory a
 * thread freed before it left goes back in bounded time even if no thread
 * ever adopts its heap. */
static void heap_note_parked(tide_heap *heap) {
  uint64_t due = heap->purge_deadline_ns;
  if (heap_has_kept_pages(heap)) {
    uint64_t kept = init_clock_ns() + (uint64_t)tide_opt.purge_delay_ms * 1000000u;
    if (due == 0 || kept < due) due = kept;
  }
  if (due != 0 && tide_opt.purge_delay_ms >= 0) init_note_purge(due);
}

/* Work on every heap in the pool, one at a time: each is taken out under
 * the lock, worked on, and put back, so that threads starting meanwhile
 * still adopt the others (and do not make new heaps, which are never
 * freed).  A visit mark keeps each heap to one turn. */
typedef void (*heap_pool_fn)(tide_heap *heap, uint64_t now, bool force);
static void heap_pool_visit(heap_pool_fn fn, uint64_t now, bool force) {
  tide_lock_take(&heaps.lock);
  uint32_t mark = ++heaps.visit_mark;
  for (;;) {
    tide_heap **link = &heaps.pool;
    while (*link && (*link)->pool_visit == mark) link = &(*link)->pool_next;
    tide_heap *h = *link;
    if (h == NULL) break;
    *link = h->pool_next;
    h->pool_visit = mark;
    tide_lock_give(&heaps.lock);
    fn(h, now, force);
    tide_lock_take(&heaps.lock);
    h->pool_next = heaps.pool;
    heaps.pool = h;
  }
  tide_lock_give(&heaps.lock);
}

static void heap_purge_parked(tide_heap *h, uint64_t now, bool force) {
  (void)force;
  if (h->purge_deadline_ns == 0 || now >= h->purge_deadline_ns) {
    (void)heap_free_kept_pages(h, false);
    heap_trim_tails(h);
    heap_purge_own(h, now, false);
    heap_trim_tops(h, false);
  }
  heap_note_parked(h);
}

static void heap_purge_pooled(uint64_t now) { heap_pool_visit(heap_purge_parked, now, false); }

/* Collect every page's remote frees, give back empty pages (all of them if
 * force, even the last of a class), and purge. */
void heap_collect(tide_heap *heap, bool force) {
  if (heap == tide_tls_heap) page_remote_flush();
  heap_wake_drain(heap);
  for (unsigned bin = 1; bin <= TIDE_BIN_LARGE; bin++) {
    tide_page *page = heap->queues[bin].first;
    while (page) {
      tide_page *next = page->next;
      page_collect(page);
      if (page_used(page) == 0) {
        if (force)
          page_free(heap, page);
        else
          page_retire(heap, page);
      }
      page = next;
    }
  }
  tide_page *page = heap->full.first;
  while (page) {
    tide_page *next = page->next;
    page_collect(page);
    if (page_used(page) == 0)
      page_free(heap, page);
    else if (page_has_free(page))
      heap_page_unfull(heap, page);
    page = next;
  }
  /* A trimmed segment at the heap top may let the break come down. */
  heap_trim_tops(heap, force);
  heap_trim_tails(heap);
  heap_purge(heap, force);
}

/* ---- Heaps come and go --------------------------------------------------------- */
static tide_heap *heap_new_locked(void) {
  size_t need = tide_align_up(sizeof(tide_heap), 64);
  if (heaps.meta_left < need) {
    uint8_t *chunk = os_mmap(NULL, META_CHUNK);
    if (chunk == NULL) return NULL;
    os_name(chunk, META_CHUNK, "tidemalloc heaps");
    heaps.meta = chunk;
    heaps.meta_left = META_CHUNK;
  }
  tide_heap *heap = (tide_heap *)heaps.meta;
  heaps.meta += need;
  heaps.meta_left -= need;
  pthread_mutex_init(&heap->seg_lock, NULL);
  for (unsigned i = 0; i < TIDE_DIRECT_COUNT; i++) heap->direct[i] = &tide_page_empty;
  heap->heartbeat = HEARTBEAT_EVENTS;
  /* Heaps are never freed, only pooled and adopted again with their
   * segments: a tag stays its heap's for good. */
  heap->fast_tag = heaps.created < TIDE_TAG_NEVER - TIDE_TAG_FIRST
                       ? (uint16_t)(TIDE_TAG_FIRST + heaps.created)
                       : TIDE_TAG_NEVER;
  heap->all_next = heaps.all;
  __atomic_store_n(&heaps.all, heap, __ATOMIC_RELEASE); /* bg_pass walks it unlocked */
  heaps.created++;
  return heap;
}

static void heap_thread_exit(void *arg);

/* The calling thread's first allocation: adopt a parked heap or make one. */
tide_heap *heap_init_thread(void) {
  if (tide_load(&tide_init_state) != 2) init_process();
  if (tide_tls_heap != &tide_heap_empty) return tide_tls_heap;
  tide_lock_take(&heaps.lock);
  tide_heap *heap = heaps.pool;
  if (heap != NULL)
    heaps.pool = heap->pool_next;
  else
    heap = heap_new_locked();
  if (heap != NULL) heaps.alive++;
  bool key_ready = heaps.key_ready;
  tide_lock_give(&heaps.lock);
  if (heap == NULL) return NULL;
  heap->pool_next = NULL;
  tide_tls_heap = heap;
  /* The key's destructor gives the heap back when the thread exits. */
  if (key_ready) pthread_setspecific(heaps.exit_key, heap);
  return heap;
}

static void heap_park(tide_heap *heap) {
  heap_note_parked(heap);
  tide_lock_take(&heaps.lock);
  heap->pool_next = heaps.pool;
  heaps.pool = heap;
  heaps.alive--;
  tide_lock_give(&heaps.lock);
}

static void heap_thread_exit(void *arg) {
  tide_heap *heap = arg;
  if (heap == NULL || heap != tide_tls_heap) return;
  trace_request(TIDE_REQ_THREAD_EXIT, 0);
  free_quarantine_flush(heap);
  page_remote_flush();
  /* Not forced: the next thread often adopts this heap at once and reuses
   * its pages; what it does not reuse goes back on the purge clock. */
  heap_collect(heap, false);
  tide_tls_heap = &tide_heap_empty;
  heap_park(heap);
}

/* Called once from init_process: the key whose destructor parks heaps. */
void heap_process_init(void) {
  tide_lock_take(&heaps.lock);
  if (!heaps.key_ready && pthread_key_create(&heaps.exit_key, heap_thread_exit) == 0)
    heaps.key_ready = true;
  tide_lock_give(&heaps.lock);
}

/* Parked heaps hold memory that other threads freed after their owner left:
 * claim each in turn and collect it, so empty segments come back. */
static void heap_reclaim_parked(tide_heap *h, uint64_t now, bool force) {
  (void)now;
  heap_collect(h, force);
  heap_note_parked(h);
}

void heap_reclaim_pooled(bool force) { heap_pool_visit(heap_reclaim_parked, 0, force); }

size_t heap_trim_all(void) {
  tide_heap *heap = tide_tls_heap;
  if (heap != &tide_heap_empty) {
    free_quarantine_flush(heap);
    heap_collect(heap, true);
  }
  heap_reclaim_pooled(true);
  return segment_cache_trim();
}

void heap_for_each(heap_visit_fn fn, void *arg) {
  tide_lock_take(&heaps.lock);
  for (tide_heap *h = heaps.all; h; h = h->all_next) fn(h, arg);
  tide_lock_give(&heaps.lock);
}

tide_heap *heap_all(void) { return __atomic_load_n(&heaps.all, __ATOMIC_ACQUIRE); }

void heap_counts(uint64_t *alive, uint64_t *created) {
  tide_lock_take(&heaps.lock);
  *alive = heaps.alive;
  *created = heaps.created;
  tide_lock_give(&heaps.lock);
}

/* ---- fork ------------------------------------------------------------------ */
void heap_fork_prepare(void) {
  tide_lock_take(&bg.lock);
  tide_lock_take(&heaps.lock);
}
void heap_fork_parent(void) {
  tide_lock_give(&heaps.lock);
  tide_lock_give(&bg.lock);
}

/* A thread the fork left behind may have been between flagging a page
 * TIDE_TF_WAKING and putting it on its owner's wake list: in the child that
 * wake never comes, and page_free would wait for it forever.  Pages that
 * are on a wake list keep the flag (the drain clears it); the others lose
 * it.  Their remote blocks stay on thread_free for the owner to collect. */
#define PAGE_SEEN_ON_WAKE 0x80
static void heap_fork_forget_wakes(tide_heap *h) {
  for (int pass = 0; pass < 2; pass++) {
    for (tide_page *p = atomic_load(&h->wake); p != NULL;) {
      tide_segment *seg = segment_of(p);
      if (pass == 0)
        p->flags |= PAGE_SEEN_ON_WAKE;
      else
        p->flags &= (uint8_t)~PAGE_SEEN_ON_WAKE;
      p = seg->wake_next[p - seg->pages];
    }
    if (pass == 1) break;
    for (unsigned q = 0; q <= TIDE_BIN_LARGE + 1; q++) {
      tide_page_queue *queue = q <= TIDE_BIN_LARGE ? &h->queues[q] : &h->full;
      for (tide_page *p = queue->first; p != NULL; p = p->next)
        if (!(p->flags & PAGE_SEEN_ON_WAKE))
          atomic_fetch_and(&p->thread_free, ~TIDE_TF_WAKING);
    }
  }
}

/* Only the forking thread lives on in the child.  The other threads' heaps,
 * and heaps a thread was reclaiming from the pool, may have been halfway
 * through a change (a queue relinked, a segment released but still listed):
 * collecting one in the child once put a segment in the cache twice and
 * made its list a loop.  So the child never touches them again.  Their
 * blocks stay valid (the child has a copy) and can be freed, but their
 * memory is not reused in the child.  The heaps in the pool were parked
 * under heaps.lock, which fork_prepare holds: they are whole, and stay. */
void heap_fork_child(void) {
  tide_lock_reset(&heaps.lock);
  tide_lock_reset(&bg.lock);
  tide_store(&bg.started, 0); /* the purger thread stayed in the parent */
  tide_heap *mine = tide_tls_heap;
  if (mine != &tide_heap_empty) pthread_mutex_init(&mine->seg_lock, NULL);
  for (tide_heap *h = heaps.pool; h; h = h->pool_next) heap_fork_forget_wakes(h);
  heaps.alive = 0;
  if (mine != &tide_heap_empty) {
    heap_fork_forget_wakes(mine);
    heaps.alive = 1;
  }
}

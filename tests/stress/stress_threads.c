/* SPDX-License-Identifier: MIT */
/* Multi-threaded stress: 8 threads pass blocks through shared slots, so that
 * most blocks are freed (or resized) by a thread other than the one that
 * allocated them.  Contents are checked before every free/realloc.
 * usage: stress_threads [iterations-per-thread] [threads] */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

static const size_t MiB = 1024 * 1024;

enum { SLOTS = 4096, MAXT = 64 };

struct slot {
  pthread_mutex_t mu;
  void *p;
  size_t n;
  int owner; /* thread that allocated it */
};
static struct slot slots[SLOTS];
static long iters = 300000;
static int nthreads = 8;
static atomic_long remote_frees, local_frees, allocs, reallocs;

static size_t rand_size(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  uint64_t r = *s;
  unsigned k = (unsigned)(r % 1000);
  r >>= 10;
  if (k < 750) return 1 + r % 256;
  if (k < 950) return 1 + r % 4096;
  if (k < 995) return 1 + r % (100 * 1024);
  return 1 + r % MiB;
}

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t s = 0x12345678ULL * (uint64_t)(me + 1) + 7;
  /* a few blocks of our own, kept the whole run */
  void *mine[64];
  for (int i = 0; i < 64; i++) {
    mine[i] = malloc(48 + (size_t)i);
    t_fill(mine[i], 48 + (size_t)i);
  }
  int (*st)(struct tide_stats *) = (int (*)(struct tide_stats *))t_sym("tide_stats");
  for (long it = 0; it < iters; it++) {
    /* thread 0 also trims and reads statistics while the others work */
    if (me == 0 && it % 20000 == 19999) malloc_trim(0);
    if (me == 0 && it % 5000 == 4999) {
      struct mallinfo2 mi = mallinfo2();
      (void)mi;
      if (st) {
        struct tide_stats ts;
        memset(&ts, 0, sizeof ts);
        ts.version = TIDE_STATS_VERSION;
        ts.size = sizeof ts;
        REQUIRE(st(&ts) == 0, "tide_stats failed while threads run");
      }
    }
    struct slot *sl = &slots[rnd(&s) % SLOTS];
    if (pthread_mutex_trylock(&sl->mu) != 0) continue;
    if (sl->p) {
      size_t bad = t_check(sl->p, sl->n);
      REQUIRE(bad == (size_t)-1, "thread %d: block %p (%zu bytes, from thread %d) corrupted at %zu", me, sl->p,
              sl->n, sl->owner, bad);
      if (rnd(&s) % 5 == 0) {
        size_t n = rand_size(&s);
        void *q = realloc(sl->p, n);
        REQUIRE(q, "realloc failed");
        size_t keep = n < sl->n ? n : sl->n;
        bad = t_check_tag(q, sl->n, keep, (uintptr_t)sl->p);
        REQUIRE(bad == (size_t)-1, "thread %d: realloc (%zu -> %zu) lost contents at %zu", me, sl->n, n, bad);
        t_fill(q, n);
        sl->p = q;
        sl->n = n;
        sl->owner = me;
        atomic_fetch_add_explicit(&reallocs, 1, memory_order_relaxed);
      } else {
        free(sl->p);
        if (sl->owner == me)
          atomic_fetch_add_explicit(&local_frees, 1, memory_order_relaxed);
        else
          atomic_fetch_add_explicit(&remote_frees, 1, memory_order_relaxed);
        sl->p = NULL;
      }
    } else {
      size_t n = rand_size(&s);
      void *p = rnd(&s) % 8 ? malloc(n) : calloc(n, 1);
      REQUIRE(p, "malloc(%zu) failed", n);
      REQUIRE(((uintptr_t)p & 15) == 0, "%p not 16-aligned", p);
      t_fill(p, n);
      sl->p = p;
      sl->n = n;
      sl->owner = me;
      atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&sl->mu);
  }
  for (int i = 0; i < 64; i++) {
    REQUIRE(t_check(mine[i], 48 + (size_t)i) == (size_t)-1, "thread-private block corrupted");
    free(mine[i]);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) iters = atol(argv[1]);
  if (argc > 2) nthreads = atoi(argv[2]);
  if (nthreads > MAXT) nthreads = MAXT;
  int tide = t_expect_tide();
  struct tide_stats s0, s1;
  int have = tide && t_stats(&s0) == 0;
  for (int i = 0; i < SLOTS; i++) pthread_mutex_init(&slots[i].mu, NULL);
  pthread_t th[MAXT];
  for (int i = 0; i < nthreads; i++)
    REQUIRE(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0, "pthread_create");
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  /* main frees what is left: all of it allocated by other threads */
  long left = 0;
  for (int i = 0; i < SLOTS; i++)
    if (slots[i].p) {
      REQUIRE(t_check(slots[i].p, slots[i].n) == (size_t)-1, "block left in slot %d corrupted", i);
      free(slots[i].p);
      left++;
    }
  long rf = atomic_load(&remote_frees), lf = atomic_load(&local_frees);
  printf("allocs %ld reallocs %ld frees: %ld by another thread, %ld by the allocating one; %ld freed by main\n",
         atomic_load(&allocs), atomic_load(&reallocs), rf, lf, left);
  CHECK(rf > (rf + lf) / 2, "too few cross-thread frees (%ld of %ld): the test did not test", rf, rf + lf);
  if (have && t_stats(&s1) == 0) {
    printf("allocated_bytes %llu -> %llu, threads_alive %llu, committed %llu\n",
           (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes,
           (unsigned long long)s1.threads_alive, (unsigned long long)s1.committed_bytes);
    CHECK(s1.allocated_bytes <= s0.allocated_bytes + 2 * MiB,
          "allocated_bytes %llu -> %llu after every block was freed (remote frees lost?)",
          (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes);
    /* (threads_created counts thread heaps set up; exited threads' heaps may be reused) */
    CHECK(s1.threads_created >= 2, "threads_created %llu with %d threads", (unsigned long long)s1.threads_created,
          nthreads);
  }
  return t_finish("stress_threads");
}

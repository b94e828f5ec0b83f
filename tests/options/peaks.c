/* SPDX-License-Identifier: MIT */
/* The peaks of tide_stats against the program's own account of the same run.
 *   peaks allocated   phases with a known peak of live block bytes (the sum
 *                     of malloc_usable_size over live blocks, tracked here):
 *                     allocated_peak within 2% of it after each phase
 *   peaks threads     two threads hold blocks at once, then one thread
 *                     allocates what another frees: the same, across heaps
 *   peaks committed   committed_peak against the rise of the kernel's VmData
 *                     at the crest (read without asking tidemalloc)
 *   peaks counts      the blocks of one class, malloc_calls and
 *                     allocated_bytes exact after mallocs that never left
 *                     the fast path: read by the thread that made them, and
 *                     by another once that thread has exited */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static size_t live, truth;

static void *take(size_t n) {
  void *p = malloc(n);
  REQUIRE(p, "malloc(%zu)", n);
  memset(p, 1, n < 64 ? n : 64);
  live += malloc_usable_size(p);
  if (live > truth) truth = live;
  return p;
}

static void give(void *p) {
  live -= malloc_usable_size(p);
  free(p);
}

/* allocated_peak may include what the C library holds from before main
 * (stdio buffers): a few KiB, inside the tolerance. */
static void peak_check(const char *phase, size_t want) {
  struct tide_stats s;
  REQUIRE(t_stats(&s) == 0, "tide_stats");
  double ratio = (double)s.allocated_peak / (double)want;
  printf("%-36s allocated_peak %10llu, known peak %10zu (%.4f)\n", phase,
         (unsigned long long)s.allocated_peak, want, ratio);
  CHECK(ratio >= 0.98 && ratio <= 1.02, "%s: allocated_peak %llu B, but the program's own peak is %zu B", phase,
        (unsigned long long)s.allocated_peak, want);
}

static int mode_allocated(void) {
  enum { N = 2000 };
  static void *v[20000];
  /* the case: 2,000 blocks of 1,000 B alive at once */
  for (int i = 0; i < N; i++) v[i] = take(1000);
  for (int i = 0; i < N; i++) give(v[i]);
  peak_check("2000 x 1000 B", truth);
  /* mixed sizes, freed in the middle, then a second, higher crest that
   * reuses freed blocks of the first (no new pages for most of it) */
  for (int i = 0; i < 20000; i++) v[i] = take(16 + (size_t)(i % 97) * 24);
  for (int i = 0; i < 20000; i += 2) give(v[i]);
  for (int i = 0; i < 20000; i += 2) v[i] = take(16 + (size_t)(i % 89) * 24);
  peak_check("20000 mixed, freed, reused", truth);
  for (int i = 0; i < 20000; i++) give(v[i]);
  /* big blocks: a span of the brk heap and a mapping of its own */
  void *a = take(6 << 20), *b = take(50 << 20);
  peak_check("6 MiB + 50 MiB", truth);
  give(a);
  give(b);
  /* below the last crest: the peak stays */
  for (int i = 0; i < 100; i++) v[i] = take(4000);
  for (int i = 0; i < 100; i++) give(v[i]);
  peak_check("a lower crest after", truth);
  return t_finish("allocated peaks");
}

/* ---- two threads --------------------------------------------------------- */
enum { HOLD = 3000, SLOT = 4096 };
static pthread_barrier_t both;
static _Atomic(size_t) shared_live;

static void *holder(void *arg) {
  size_t size = (size_t)(uintptr_t)arg;
  static _Thread_local void *mine[HOLD];
  for (int i = 0; i < HOLD; i++) {
    mine[i] = malloc(size);
    REQUIRE(mine[i], "malloc");
    memset(mine[i], 3, 32);
    atomic_fetch_add(&shared_live, malloc_usable_size(mine[i]));
  }
  pthread_barrier_wait(&both); /* both hold theirs here: the peak */
  pthread_barrier_wait(&both);
  for (int i = 0; i < HOLD; i++) free(mine[i]);
  return NULL;
}

/* One block at a time through one slot: at most two are live. */
enum { HANDOFFS = 60000 };
static void *slot;

static void *consumer(void *arg) {
  (void)arg;
  for (int i = 0; i < HANDOFFS; i++) {
    void *p;
    while ((p = __atomic_exchange_n(&slot, NULL, __ATOMIC_ACQUIRE)) == NULL) sched_yield();
    free(p);
  }
  return NULL;
}

static int mode_threads(void) {
  pthread_t t1, t2;
  pthread_barrier_init(&both, NULL, 3);
  pthread_create(&t1, NULL, holder, (void *)(uintptr_t)700);
  pthread_create(&t2, NULL, holder, (void *)(uintptr_t)3000);
  pthread_barrier_wait(&both);
  size_t both_peak = atomic_load(&shared_live);
  pthread_barrier_wait(&both);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  peak_check("two threads holding at once", both_peak);
  /* producer here, consumer there: 240 MB made by this heap and freed by
   * the other, never more than two blocks live: the peak must stay */
  pthread_t c;
  pthread_create(&c, NULL, consumer, NULL);
  for (int i = 0; i < HANDOFFS; i++) {
    void *p = malloc(SLOT);
    REQUIRE(p, "malloc");
    while (__atomic_load_n(&slot, __ATOMIC_ACQUIRE) != NULL) sched_yield();
    __atomic_store_n(&slot, p, __ATOMIC_RELEASE);
  }
  pthread_join(c, NULL);
  peak_check("after a producer and a consumer", both_peak);
  return t_finish("thread peaks");
}

/* ---- committed ------------------------------------------------------------ */
/* VmData: the kernel's count of the process's private writable memory (the
 * break's rise included), in KiB.  This program maps nothing itself, so
 * its rise is what the allocator took from the kernel. */
static size_t vm_data(void) {
  FILE *f = fopen("/proc/self/status", "r");
  REQUIRE(f, "open /proc/self/status");
  char line[256];
  size_t kib = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmData: %zu kB", &kib) == 1) break;
  fclose(f);
  return kib * 1024;
}

static int mode_committed(void) {
  struct tide_stats s0, s;
  REQUIRE(t_stats(&s0) == 0, "tide_stats");
  size_t data0 = vm_data();
  enum { N = 30000 };
  static void *v[N];
  for (int i = 0; i < N; i++) {
    v[i] = malloc(1000);
    REQUIRE(v[i], "malloc");
  }
  void *big = malloc(40 << 20); /* a mapping, made after the last segment */
  REQUIRE(big, "malloc(40 MiB)");
  size_t seen = vm_data() - data0; /* no tide_stats call at the crest */
  for (int i = 0; i < N; i++) free(v[i]);
  free(big);
  malloc_trim(0);
  REQUIRE(t_stats(&s) == 0, "tide_stats");
  uint64_t rise = s.committed_peak - s0.committed_bytes;
  printf("committed_peak rose %llu above the start; VmData rose %zu; committed now %llu\n",
         (unsigned long long)rise, seen, (unsigned long long)s.committed_bytes);
  uint64_t diff = rise > seen ? rise - seen : seen - rise;
  CHECK(diff <= seen / 50 + 65536, "committed_peak rose by %llu B, while the kernel saw %zu B more at the crest",
        (unsigned long long)rise, seen);
  CHECK(s.committed_bytes < s.committed_peak / 2, "committed_bytes %llu did not fall after free and trim (peak %llu)",
        (unsigned long long)s.committed_bytes, (unsigned long long)s.committed_peak);
  return t_finish("committed peak");
}

/* blocks_used of the class whose blocks are size bytes. */
static unsigned long long class_used(const struct tide_stats *s, size_t size) {
  for (uint32_t i = 0; i < s->class_count; i++)
    if (s->classes[i].block_size == size) return (unsigned long long)s->classes[i].blocks_used;
  return 0;
}

enum { COUNT_N = 100, COUNT_SIZE = 224 }; /* a class nothing else here uses */
static void *counted[2][COUNT_N];
static pthread_barrier_t counted_made;

static void *count_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < COUNT_N; i++) counted[1][i] = take(COUNT_SIZE);
  pthread_barrier_wait(&counted_made);
  return NULL;
}

/* malloc's fast path counts in the block's page, and the heap takes the
 * count in at the page's next slow event: COUNT_N blocks of a page with
 * room for 292 have none after the first.  Nothing may be missing. */
static int mode_counts(void) {
  struct tide_stats a, b, c, d, e;
  REQUIRE(t_stats(&a) == 0, "tide_stats");
  for (int i = 0; i < COUNT_N; i++) counted[0][i] = take(COUNT_SIZE);
  REQUIRE(t_stats(&b) == 0, "tide_stats");
  pthread_barrier_init(&counted_made, NULL, 2);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, count_thread, NULL) == 0, "pthread_create");
  pthread_barrier_wait(&counted_made);
  REQUIRE(t_stats(&c) == 0, "tide_stats"); /* the other thread is alive: may lag */
  REQUIRE(pthread_join(t, NULL) == 0, "pthread_join");
  REQUIRE(t_stats(&d) == 0, "tide_stats");
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < COUNT_N; i++) give(counted[k][i]);
  REQUIRE(t_stats(&e) == 0, "tide_stats");
  printf("class %d: used %llu, +%d mallocs %llu, thread running %llu, exited %llu, all freed %llu\n",
         COUNT_SIZE, class_used(&a, COUNT_SIZE), COUNT_N, class_used(&b, COUNT_SIZE),
         class_used(&c, COUNT_SIZE), class_used(&d, COUNT_SIZE), class_used(&e, COUNT_SIZE));
  printf("malloc_calls +%llu, allocated_bytes +%llu for %d mallocs of %d B\n",
         (unsigned long long)(b.malloc_calls - a.malloc_calls),
         (unsigned long long)(b.allocated_bytes - a.allocated_bytes), COUNT_N, COUNT_SIZE);
  CHECK(class_used(&b, COUNT_SIZE) == class_used(&a, COUNT_SIZE) + COUNT_N,
        "the calling thread's %d mallocs: blocks_used %llu -> %llu", COUNT_N, class_used(&a, COUNT_SIZE),
        class_used(&b, COUNT_SIZE));
  CHECK(b.malloc_calls - a.malloc_calls == COUNT_N, "malloc_calls grew by %llu for %d mallocs",
        (unsigned long long)(b.malloc_calls - a.malloc_calls), COUNT_N);
  CHECK(b.allocated_bytes - a.allocated_bytes == COUNT_N * COUNT_SIZE, "allocated_bytes grew by %llu for %d x %d B",
        (unsigned long long)(b.allocated_bytes - a.allocated_bytes), COUNT_N, COUNT_SIZE);
  CHECK(class_used(&c, COUNT_SIZE) >= class_used(&b, COUNT_SIZE) &&
            class_used(&c, COUNT_SIZE) <= class_used(&b, COUNT_SIZE) + COUNT_N,
        "a running thread's %d mallocs: blocks_used %llu -> %llu", COUNT_N, class_used(&b, COUNT_SIZE),
        class_used(&c, COUNT_SIZE));
  CHECK(class_used(&d, COUNT_SIZE) == class_used(&b, COUNT_SIZE) + COUNT_N,
        "an exited thread's %d mallocs: blocks_used %llu -> %llu", COUNT_N, class_used(&b, COUNT_SIZE),
        class_used(&d, COUNT_SIZE));
  CHECK(class_used(&e, COUNT_SIZE) == class_used(&a, COUNT_SIZE), "all freed: blocks_used %llu, %llu before",
        class_used(&e, COUNT_SIZE), class_used(&a, COUNT_SIZE));
  return t_finish("peaks counts");
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (!t_expect_tide()) return 0;
  if (!strcmp(argv[1], "allocated")) return mode_allocated();
  if (!strcmp(argv[1], "threads")) return mode_threads();
  if (!strcmp(argv[1], "committed")) return mode_committed();
  if (!strcmp(argv[1], "counts")) return mode_counts();
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}

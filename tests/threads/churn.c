/* SPDX-License-Identifier: MIT */
/* Thread-exit churn: thousands of short-lived threads, each allocating and
 * freeing a few MiB and leaving some blocks for the main thread to free.
 * A thread's cached memory must be reclaimed at exit: resident memory stays
 * bounded.  usage: churn [threads] [max-growth-MiB] */
#include "common.h"

#include <pthread.h>

static const size_t MiB = 1024 * 1024;

enum { LEAVE = 3, BATCH = 4 };
struct job {
  int id;
  void *left[LEAVE];
  size_t leftn[LEAVE];
};

static void *run(void *arg) {
  struct job *j = arg;
  uint64_t s = (uint64_t)j->id * 0x9e3779b97f4a7c15ULL + 1;
  enum { N = 400 };
  void *p[N];
  size_t n[N];
  for (int round = 0; round < 4; round++) { /* ~0.5 MiB a round */
    for (int i = 0; i < N; i++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      n[i] = (s >> 20) % 100 == 0 ? 40000 : 16 + (s >> 8) % 2000;
      p[i] = malloc(n[i]);
      REQUIRE(p[i], "malloc in thread");
      memset(p[i], (int)(i & 0xff), n[i]);
    }
    for (int i = 0; i < N; i++) {
      REQUIRE(((unsigned char *)p[i])[n[i] - 1] == (unsigned char)(i & 0xff), "block corrupted in thread");
      free(p[i]);
    }
  }
  for (int k = 0; k < LEAVE; k++) {
    j->leftn[k] = k == 2 ? 200000 : (size_t)(24 + 100 * k);
    j->left[k] = malloc(j->leftn[k]);
    REQUIRE(j->left[k], "malloc");
    t_fill(j->left[k], j->leftn[k]);
  }
  return NULL;
}

static void batch(int first, int count) {
  pthread_t th[BATCH];
  struct job jobs[BATCH];
  for (int i = 0; i < count; i++) {
    jobs[i].id = first + i;
    REQUIRE(pthread_create(&th[i], NULL, run, &jobs[i]) == 0, "pthread_create");
  }
  for (int i = 0; i < count; i++) {
    pthread_join(th[i], NULL);
    for (int k = 0; k < LEAVE; k++) {
      REQUIRE(t_check(jobs[i].left[k], jobs[i].leftn[k]) == (size_t)-1, "block left by a thread corrupted");
      free(jobs[i].left[k]);
    }
  }
}

int main(int argc, char **argv) {
  int total = argc > 1 ? atoi(argv[1]) : 3000;
  size_t max_growth = (argc > 2 ? (size_t)atol(argv[2]) : 64) * MiB;
  int tide = t_expect_tide();
  /* warm up: thread stacks cached by glibc, first segments */
  for (int i = 0; i < 40; i += BATCH) batch(i, BATCH);
  size_t rss0 = t_rss(), rss_max = rss0;
  struct tide_stats s0, s1;
  int have = tide && t_stats(&s0) == 0;
  for (int i = 40; i < total; i += BATCH) {
    batch(i, BATCH);
    if (i % 200 == 0) {
      size_t r = t_rss();
      if (r > rss_max) rss_max = r;
    }
  }
  size_t rss1 = t_rss();
  if (rss1 > rss_max) rss_max = rss1;
  printf("%d threads: RSS %zu KiB after warm-up, max %zu KiB, end %zu KiB\n", total, rss0 / 1024, rss_max / 1024,
         rss1 / 1024);
  CHECK(rss_max < rss0 + max_growth, "RSS grew by %zu MiB (limit %zu MiB): exited threads' memory not reclaimed",
        (rss_max - rss0) / MiB, max_growth / MiB);
  if (have && t_stats(&s1) == 0) {
    printf("threads_alive %llu, threads_created %llu, allocated %llu -> %llu, committed %llu -> %llu\n",
           (unsigned long long)s1.threads_alive, (unsigned long long)s1.threads_created,
           (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes,
           (unsigned long long)s0.committed_bytes, (unsigned long long)s1.committed_bytes);
    CHECK(s1.threads_alive <= 2, "threads_alive = %llu with only the main thread left",
          (unsigned long long)s1.threads_alive);
    CHECK(s1.allocated_bytes <= s0.allocated_bytes + 4 * MiB, "allocated_bytes grew %llu -> %llu",
          (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes);
    CHECK(s1.committed_bytes <= s0.committed_bytes + max_growth, "committed_bytes grew %llu -> %llu",
          (unsigned long long)s0.committed_bytes, (unsigned long long)s1.committed_bytes);
  }
  return t_finish("churn");
}

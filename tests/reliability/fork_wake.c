/* SPDX-License-Identifier: MIT */
/* fork() while other threads free each other's blocks
 * (tests/reliability: fork/remote-free-in-flight).
 *
 *   fork_wake FORKS [THREADS]
 *
 * THREADS threads trade small blocks through shared slots, so that most
 * frees are remote and many land on pages parked as full (a remote free
 * there also puts the page on its owner's wake list).  Meanwhile the main
 * thread forks again and again; each child frees every block it inherited,
 * allocates enough to need new segments, calls malloc_trim(0) and exits 0.
 * Now and then a thread also fills and empties whole pages and segments,
 * or trims, so that forks catch threads in the middle of changing their
 * own heaps.  A child must
 * finish: a fork that catches a thread between its remote free and the
 * wake that goes with it must not leave the child waiting forever for a
 * wake no thread will ever make, and the heap a thread was changing must
 * not be touched in the child (collecting one there once put a segment in
 * the cache twice, and the next walk of the cache never ended).  A child
 * that does not finish within 10 s is killed and reported. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#define SLOTS 1024

static _Atomic(uintptr_t) slots[SLOTS];
static _Atomic(int) stop;

static void *trader(void *arg) {
  uint64_t r = t_mix((uint64_t)(uintptr_t)arg + 1) | 1;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    size_t n = 16 + r % 200;
    if (r % 64 == 0) n = 100000 + r % 100000; /* pages of one block */
    unsigned char *p = malloc(n);
    if (!p) continue;
    p[0] = (unsigned char)n;
    void *old = (void *)atomic_exchange(&slots[(r >> 20) % SLOTS], (uintptr_t)p);
    free(old);
    if (r % 512 == 1) {
      /* Whole pages and a segment filled and emptied by one thread. */
      void *burst[96];
      for (int i = 0; i < 96; i++) burst[i] = malloc(40000 + (size_t)i * 8);
      for (int i = 0; i < 96; i++) free(burst[i]);
    }
    if (r % 1024 == 3) malloc_trim(0); /* a thread collecting its own heap */
  }
  return NULL;
}

int main(int argc, char **argv) {
  long forks = argc > 1 ? atol(argv[1]) : 300;
  int threads = argc > 2 ? atoi(argv[2]) : 6;
  if (threads < 1 || threads > 32) threads = 6;
  t_expect_tide();
  free(malloc((size_t)8 << 20)); /* raise the dynamic mmap threshold */
  pthread_t t[32];
  for (long i = 0; i < threads; i++)
    REQUIRE(pthread_create(&t[i], NULL, trader, (void *)i) == 0, "pthread_create failed");
  struct timespec pause = {0, 2 * 1000 * 1000};
  long done = 0;
  for (; done < forks; done++) {
    nanosleep(&pause, NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork failed");
    if (pid == 0) {
      for (unsigned s = 0; s < SLOTS; s++) free((void *)atomic_load(&slots[s]));
      /* Enough to need new segments (which looks for free ones in the
       * heaps of exited threads), then a trim. */
      static void *many[2000];
      for (int i = 0; i < 2000; i++) many[i] = malloc(1000 + (size_t)i * 20);
      for (int i = 0; i < 2000; i++) free(many[i]);
      malloc_trim(0);
      for (int i = 0; i < 1000; i++) free(malloc(16 + (size_t)i % 3000));
      _exit(0);
    }
    int st = 0;
    int waited = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
      if (++waited > 10000) { /* 10 s */
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fprintf(stderr, "CHECK FAILED %s:%d: fork %ld: the child hung (killed after 10 s) [child finished]\n",
                __FILE__, __LINE__, done);
        atomic_store(&stop, 1);
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        return 1;
      }
      struct timespec ms = {0, 1000 * 1000};
      nanosleep(&ms, NULL);
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork %ld: the child failed (status %#x)", done, st);
    if (t_failures) break;
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  for (unsigned s = 0; s < SLOTS; s++) free((void *)atomic_load(&slots[s]));
  printf("fork_wake: %ld forks with %d threads trading blocks\n", done, threads);
  return t_finish("fork_wake");
}

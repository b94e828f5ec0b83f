/* SPDX-License-Identifier: MIT */
/* fork() while other threads are busy in the allocator: the child must be
 * able to allocate and free (no deadlock on a lock held at fork time, no
 * corrupted state) and exit 0; the parent keeps going.
 * usage: fork [forks] */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_int stop;
static atomic_long work;

static void *busy(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 7919 + 1;
  enum { N = 256 };
  void *p[N] = {0};
  size_t n[N] = {0};
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    int i = (int)(s % N);
    if (p[i]) {
      REQUIRE(t_check(p[i], n[i]) == (size_t)-1, "parent thread block corrupted");
      free(p[i]);
      p[i] = NULL;
    } else {
      n[i] = (s >> 16) % 100 == 0 ? 100000 + (s >> 24) % 400000 : 1 + (s >> 16) % 3000;
      p[i] = malloc(n[i]);
      REQUIRE(p[i], "malloc");
      t_fill(p[i], n[i]);
    }
    atomic_fetch_add_explicit(&work, 1, memory_order_relaxed);
  }
  for (int i = 0; i < N; i++)
    if (p[i]) {
      REQUIRE(t_check(p[i], n[i]) == (size_t)-1, "parent thread block corrupted");
      free(p[i]);
    }
  return NULL;
}

static void *child_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 2000; i++) t_poke((size_t)i + 1);
  return NULL;
}

static int child_work(void) {
  alarm(30); /* a deadlock becomes SIGALRM */
  void *v[2000];
  for (int i = 0; i < 2000; i++) {
    size_t n = i % 50 == 0 ? 300000 : (size_t)(i % 700) + 1;
    v[i] = malloc(n);
    if (!v[i]) return 3;
    t_fill(v[i], n);
  }
  for (int i = 0; i < 2000; i++) {
    size_t n = i % 50 == 0 ? 300000 : (size_t)(i % 700) + 1;
    if (t_check(v[i], n) != (size_t)-1) return 4;
    v[i] = realloc(v[i], n * 2);
    if (!v[i]) return 5;
  }
  for (int i = 0; i < 2000; i++) free(v[i]);
  pthread_t t;
  if (pthread_create(&t, NULL, child_thread, NULL) != 0) return 6;
  pthread_join(t, NULL);
  char *s;
  if (asprintf(&s, "child %d", (int)getpid()) < 0) return 7;
  free(s);
  return 0;
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 100;
  t_expect_tide();
  enum { T = 4 };
  pthread_t th[T];
  for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, busy, (void *)(uintptr_t)(i + 1));
  int bad = 0;
  for (int f = 0; f < forks; f++) {
    /* let the threads get going between forks */
    long w0 = atomic_load(&work);
    for (int spin = 0; spin < 2000 && atomic_load(&work) < w0 + 200; spin++) usleep(100);
    void *mine = malloc(1000);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork failed");
    if (pid == 0) exit(child_work()); /* exit(): atexit handlers run too */
    free(mine);
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid");
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      bad++;
      if (WIFSIGNALED(st))
        fprintf(stderr, "fork %d: child killed by signal %d%s\n", f, WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (deadlocked: alarm fired)" : "");
      else
        fprintf(stderr, "fork %d: child exited with %d\n", f, WEXITSTATUS(st));
    }
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  CHECK(bad == 0, "%d of %d children failed", bad, forks);
  printf("%d forks, %ld allocator operations in the parent's threads\n", forks, atomic_load(&work));
  return t_finish("fork");
}

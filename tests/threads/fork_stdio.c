/* SPDX-License-Identifier: MIT */
/* fork() against stdio's locks (tests/threads: threads/fork-stdio).
 *
 *   fork_stdio [FORKS [SECONDS]]      (defaults 300 and 60)
 *
 * Eight threads each do `rewind(f); getline(&l, &n, f); free(l);` on their
 * own FILE of a file holding one 50,000-character line (getline reallocs
 * while it holds the FILE's lock), one thread calls fflush(NULL) in a loop
 * (it holds stdio's list lock while it waits for each FILE's lock), and the
 * main thread forks FORKS times; each child mallocs and frees a few sizes
 * and exits 0.  glibc's fork takes the list lock after the fork handlers
 * run: an allocator whose prepare handler held its own locks while fork
 * waited for the list lock deadlocked three ways (fork -> list lock ->
 * FILE lock -> allocator lock).  A hang is reported by the alarm after
 * SECONDS instead of blocking the suite. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define READERS 8
#define LINE 50000

static char path[256];
static _Atomic(int) stop;
static _Atomic(long) lines_read, flushes, forks_done;

static void on_alarm(int sig) {
  (void)sig;
  char msg[160];
  int n = snprintf(msg, sizeof(msg),
                   "CHECK FAILED %s:%d: hang: fork %ld did not finish in time "
                   "(%ld lines read, %ld flushes) [no deadlock]\n",
                   __FILE__, __LINE__, atomic_load(&forks_done), atomic_load(&lines_read),
                   atomic_load(&flushes));
  if (n > 0) (void)!write(2, msg, (size_t)n);
  _exit(3);
}

static void *reader(void *arg) {
  (void)arg;
  FILE *f = fopen(path, "r");
  REQUIRE(f != NULL, "fopen(%s) failed", path);
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    char *l = NULL;
    size_t n = 0;
    rewind(f);
    ssize_t got = getline(&l, &n, f);
    REQUIRE(got == LINE + 1, "getline read %zd bytes, want %d", got, LINE + 1);
    free(l);
    atomic_fetch_add_explicit(&lines_read, 1, memory_order_relaxed);
    /* A breath between lines: on two cores, readers that retake their
     * FILE's lock at once starve fflush(NULL) of it, and fork of the list
     * lock, on glibc's malloc too (a handful of forks a minute). */
    struct timespec pause = {0, 20 * 1000};
    nanosleep(&pause, NULL);
  }
  fclose(f);
  return NULL;
}

static void *flusher(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    fflush(NULL);
    atomic_fetch_add_explicit(&flushes, 1, memory_order_relaxed);
  }
  return NULL;
}

int main(int argc, char **argv) {
  long forks = argc > 1 ? atol(argv[1]) : 300;
  unsigned secs = argc > 2 ? (unsigned)atoi(argv[2]) : 60;
  t_expect_tide();
  signal(SIGALRM, on_alarm);
  alarm(secs);

  snprintf(path, sizeof(path), "/tmp/tide-fork-stdio.%d", (int)getpid());
  FILE *w = fopen(path, "w");
  REQUIRE(w != NULL, "cannot create %s", path);
  for (int i = 0; i < LINE; i++) fputc('a' + i % 26, w);
  fputc('\n', w);
  REQUIRE(fclose(w) == 0, "writing %s failed", path);

  pthread_t t[READERS + 1];
  for (long i = 0; i < READERS; i++)
    REQUIRE(pthread_create(&t[i], NULL, reader, (void *)i) == 0, "pthread_create failed");
  REQUIRE(pthread_create(&t[READERS], NULL, flusher, NULL) == 0, "pthread_create failed");

  for (long i = 0; i < forks && !t_failures; i++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork failed: %s", strerror(errno));
    if (pid == 0) {
      /* The child's allocator works: its locks were taken whole. */
      size_t sizes[] = {24, 3000, 50001, 300000, 5 << 20};
      for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char *p = malloc(sizes[k]);
        if (p == NULL) _exit(4);
        p[0] = p[sizes[k] - 1] = 1;
        free(p);
      }
      _exit(0);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid failed");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork %ld: the child failed (status %#x)", i, st);
    atomic_store(&forks_done, i + 1);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i <= READERS; i++) pthread_join(t[i], NULL);
  alarm(0);
  unlink(path);
  printf("fork_stdio: %ld forks against %d getline threads and fflush(NULL): %ld lines, %ld flushes\n",
         atomic_load(&forks_done), READERS, atomic_load(&lines_read), atomic_load(&flushes));
  return t_finish("fork_stdio");
}

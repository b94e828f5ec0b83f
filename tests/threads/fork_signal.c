/* SPDX-License-Identifier: MIT */
/* fork() in a signal handler that interrupted malloc or free, in a
 * single-threaded program (tests/threads: threads/fork-signal).
 *
 *   fork_signal [FORKS [SECONDS]]     (defaults 300 and 60)
 *
 * SIGALRM comes every 5 ms; its handler forks (the child _exits at once)
 * and waits for the child.  Meanwhile the only thread frees and mallocs
 * random sizes up to 70,000 bytes, so most signals land inside the
 * allocator, often with one of its locks held.  Fork handlers that took
 * the allocator's locks then deadlocked on the interrupted thread's own
 * lock.  glibc's malloc takes no lock in fork when the process is single-
 * threaded, and neither may ours.  A hang is reported by a watchdog timer
 * (SIGUSR1 after SECONDS: SIGALRM is taken) instead of blocking the suite;
 * timer_create with SIGEV_SIGNAL starts no thread. */
#include "common.h"

#include <signal.h>
#include <sys/single_threaded.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#define SLOTS 256

static volatile sig_atomic_t forks_done, child_failures, in_fork;

static void on_watchdog(int sig) {
  (void)sig;
  char msg[160];
  int n = snprintf(msg, sizeof(msg),
                   "CHECK FAILED %s:%d: hang: %d forks done, %s [no deadlock]\n", __FILE__,
                   __LINE__, (int)forks_done, in_fork ? "stuck in fork()" : "stuck outside fork()");
  if (n > 0) (void)!write(2, msg, (size_t)n);
  _exit(3);
}

static void on_alarm(int sig) {
  (void)sig;
  int saved = errno;
  in_fork = 1;
  pid_t pid = fork();
  in_fork = 0;
  if (pid == 0) _exit(0);
  if (pid > 0) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) child_failures++;
    forks_done++;
  }
  errno = saved;
}

int main(int argc, char **argv) {
  long forks = argc > 1 ? atol(argv[1]) : 300;
  int secs = argc > 2 ? atoi(argv[2]) : 60;
  t_expect_tide();
  /* The point is a single-threaded process: nothing here may start a thread. */
  REQUIRE(__libc_single_threaded, "the process is not single-threaded");

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_watchdog;
  REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction(SIGUSR1)");
  timer_t watchdog;
  struct sigevent ev;
  memset(&ev, 0, sizeof(ev));
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGUSR1;
  REQUIRE(timer_create(CLOCK_MONOTONIC, &ev, &watchdog) == 0, "timer_create");
  struct itimerspec wd = {{0, 0}, {secs, 0}};
  REQUIRE(timer_settime(watchdog, 0, &wd, NULL) == 0, "timer_settime");

  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction(SIGALRM)");
  struct itimerval every = {{0, 5000}, {0, 5000}};
  REQUIRE(setitimer(ITIMER_REAL, &every, NULL) == 0, "setitimer");

  static void *slot[SLOTS];
  t_rng r = {t_mix((uint64_t)getpid()) | 1};
  uint64_t rounds = 0;
  while (forks_done < forks) {
    uint64_t x = t_rand(&r);
    unsigned i = (unsigned)(x % SLOTS);
    free(slot[i]);
    size_t n = 1 + (size_t)((x >> 16) % 70000);
    slot[i] = malloc(n);
    REQUIRE(slot[i] != NULL, "malloc(%zu) failed", n);
    ((volatile char *)slot[i])[n - 1] = 1;
    rounds++;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  timer_delete(watchdog);
  for (unsigned i = 0; i < SLOTS; i++) free(slot[i]);
  CHECK(child_failures == 0, "%d children failed", (int)child_failures);
  CHECK(__libc_single_threaded, "a thread was started");
  printf("fork_signal: %d forks from SIGALRM handlers, %llu malloc/free rounds\n", (int)forks_done,
         (unsigned long long)rounds);
  return t_finish("fork_signal");
}

/* SPDX-License-Identifier: MIT */
/* The soak test: hours of mixed allocation work on 8 threads, with every
 * byte of every block checked (tests/soak/run.sh builds and runs it).
 *
 *   soak SECONDS [THREADS]
 *
 * Each thread allocates blocks (16 B .. 8 MiB, mostly small), keeps some
 * of its own and reallocs them up and down (content kept), and trades
 * others with the other threads through shared slots (so most frees are
 * cross-thread).  Every block carries its size and a tag in its first 16
 * bytes and a pattern after them, checked in full before every free and
 * realloc.  Every 2 s (SOAK_FORK_EVERY; 0: never) the main thread forks: the child checks and frees
 * every shared block it inherited, allocates and frees for a while, and
 * exits 0.  The RSS is sampled every second: its peak (VmHWM), and whether
 * it stays bounded (the second half of the run may not climb far above
 * the first: a leak would), are reported.  Any error exits 1.
 *
 * Output: a progress line every 30 s, then
 *   soak: OPS ops (N/s), F forks, E errors; peak RSS X MiB (VmHWM), ...
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#define SHARED 2048
#define PRIVATE 64

typedef struct hdr {
  uint64_t size;
  uint64_t tag;
} hdr;

static _Atomic(uintptr_t) shared[SHARED];
static _Atomic(long) errors;
static _Atomic(long) total_ops;
static _Atomic(int) stop;
static int nthreads = 8;

static void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "SOAK ERROR: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (atomic_fetch_add(&errors, 1) > 20) {
    fprintf(stderr, "too many errors\n");
    _exit(1);
  }
}

static size_t pick_size(t_rng *r) {
  unsigned k = (unsigned)(t_rand(r) % 10000);
  if (k < 6000) return 16 + t_rand(r) % 256;
  if (k < 8500) return 16 + t_rand(r) % 4096;
  if (k < 9700) return 16 + t_rand(r) % (64 << 10);
  if (k < 9960) return (64 << 10) + t_rand(r) % (960 << 10); /* the threshold */
  if (k < 9995) return (1 << 20) + t_rand(r) % (3 << 20);
  return (4 << 20) + t_rand(r) % (4 << 20);
}

static void fill(void *p, size_t size, uint64_t tag) {
  hdr h = {size, tag};
  memcpy(p, &h, sizeof h);
  t_fill_tag((char *)p + sizeof h, size - sizeof h, tag);
}

/* Check the whole block, or its first `limit` bytes.  Returns 0 if bad. */
static int check(const void *p, size_t limit, const char *when) {
  hdr h;
  memcpy(&h, p, sizeof h);
  if (h.size < sizeof h || h.size > ((size_t)8 << 20)) {
    error("%s: block %p: bad header (size %llu)", when, p, (unsigned long long)h.size);
    return 0;
  }
  size_t n = h.size < limit ? h.size : limit;
  size_t bad = t_check_tag((const char *)p + sizeof h, h.size - sizeof h, n - sizeof h, h.tag);
  if (bad != (size_t)-1) {
    error("%s: block %p (%llu bytes): byte %zu changed", when, p, (unsigned long long)h.size,
          bad + sizeof h);
    return 0;
  }
  return 1;
}

static void *new_block(t_rng *r, size_t size, uint64_t tag) {
  void *p;
  unsigned k = (unsigned)(t_rand(r) % 32);
  if (k == 0) {
    p = calloc(1, size);
    if (p) {
      const unsigned char *b = p;
      for (size_t i = 0; i < size; i += (i < 4096 ? 1 : 61))
        if (b[i]) {
          error("calloc(%zu) = %p: byte %zu not zero", size, p, i);
          break;
        }
    }
  } else if (k == 1) {
    size_t align = (size_t)32 << (t_rand(r) % 10);
    if (posix_memalign(&p, align, size) != 0) p = NULL;
    if (p && ((uintptr_t)p & (align - 1))) error("posix_memalign(%zu) = %p: misaligned", align, p);
  } else {
    p = malloc(size);
  }
  if (!p) {
    error("allocation of %zu bytes failed (errno %d)", size, errno);
    return NULL;
  }
  if (malloc_usable_size(p) < size) error("usable size %zu < %zu", malloc_usable_size(p), size);
  fill(p, size, tag);
  return p;
}

static void *worker(void *arg) {
  long id = (long)arg;
  t_rng r = {t_mix((uint64_t)id * 7919 + (uint64_t)time(NULL)) | 1};
  void *priv[PRIVATE] = {0};
  uint64_t tag = (uint64_t)id << 48;
  long ops = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int batch = 0; batch < 256; batch++, ops++) {
      unsigned k = (unsigned)(t_rand(&r) % 100);
      if (k < 45) {
        void *p = new_block(&r, pick_size(&r), ++tag);
        if (!p) continue;
        unsigned s = (unsigned)(t_rand(&r) % SHARED);
        void *old = (void *)atomic_exchange(&shared[s], (uintptr_t)p);
        if (old) {
          check(old, SIZE_MAX, "shared block");
          free(old);
        }
      } else if (k < 75) {
        unsigned j = (unsigned)(t_rand(&r) % PRIVATE);
        size_t n = pick_size(&r);
        if (!priv[j]) {
          priv[j] = new_block(&r, n, ++tag);
          continue;
        }
        check(priv[j], SIZE_MAX, "private block");
        void *q = realloc(priv[j], n);
        if (!q) {
          error("realloc(%zu) failed", n);
          continue;
        }
        check(q, n, "realloc'ed block");
        fill(q, n, ++tag);
        priv[j] = q;
      } else if (k < 95) {
        unsigned j = (unsigned)(t_rand(&r) % PRIVATE);
        if (priv[j]) {
          check(priv[j], SIZE_MAX, "private block");
          free(priv[j]);
          priv[j] = NULL;
        }
      } else if (k < 99) {
        void *p = new_block(&r, pick_size(&r), ++tag);
        if (p) {
          check(p, SIZE_MAX, "short-lived block");
          free(p);
        }
      } else if (t_rand(&r) % 200 == 0) {
        malloc_trim(0);
      }
    }
    atomic_fetch_add_explicit(&total_ops, 256, memory_order_relaxed);
  }
  for (unsigned j = 0; j < PRIVATE; j++)
    if (priv[j]) {
      check(priv[j], SIZE_MAX, "private block at the end");
      free(priv[j]);
    }
  return NULL;
}

static size_t status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t v = 0, n = strlen(key);
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, n) && line[n] == ':') v = strtoul(line + n + 1, NULL, 10);
  fclose(f);
  return v;
}

/* The child of a fork: every shared block it inherited is whole (the
 * slots hold only filled blocks), and the allocator works. */
static int child_work(void) {
  t_rng r = {t_mix((uint64_t)getpid()) | 1};
  int bad = 0;
  for (unsigned s = 0; s < SHARED; s++) {
    void *p = (void *)atomic_load(&shared[s]);
    if (p) {
      if (!check(p, SIZE_MAX, "inherited block")) bad = 1;
      free(p);
    }
  }
  void *keep[256] = {0};
  for (int i = 0; i < 20000; i++) {
    unsigned j = (unsigned)(t_rand(&r) % 256);
    if (keep[j]) {
      if (!check(keep[j], SIZE_MAX, "child block")) bad = 1;
      free(keep[j]);
    }
    keep[j] = new_block(&r, pick_size(&r) % (256 << 10) + 16, (uint64_t)i);
    if (!keep[j]) bad = 1;
  }
  for (int j = 0; j < 256; j++) free(keep[j]);
  malloc_trim(0);
  return bad || atomic_load(&errors) ? 1 : 0;
}

int main(int argc, char **argv) {
  long seconds = argc > 1 ? atol(argv[1]) : 600;
  if (argc > 2) nthreads = atoi(argv[2]);
  if (nthreads < 1 || nthreads > 64) nthreads = 8;
  t_expect_tide();
  setvbuf(stdout, NULL, _IOLBF, 0);
  size_t rss_start = status_kb("VmRSS");
  pthread_t t[64];
  for (long i = 0; i < nthreads; i++)
    REQUIRE(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create failed");

  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long forks = 0, elapsed = 0;
  const char *fe = getenv("SOAK_FORK_EVERY");
  long fork_every = fe ? atol(fe) : 2;
  size_t rss_max_first = 0, rss_max_second = 0, rss_now = 0;
  while (elapsed < seconds) {
    struct timespec ts = {0, 250 * 1000 * 1000};
    nanosleep(&ts, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    rss_now = status_kb("VmRSS");
    if (ms * 2 < seconds * 1000) {
      if (rss_now > rss_max_first) rss_max_first = rss_now;
    } else if (rss_now > rss_max_second) {
      rss_max_second = rss_now;
    }
    if (fork_every > 0 && ms / 250 % (4 * fork_every) == 0) { /* a fork every fork_every s */
      pid_t pid = fork();
      if (pid < 0) {
        error("fork failed (errno %d)", errno);
      } else if (pid == 0) {
        _exit(child_work());
      } else {
        /* A child gets 60 s (it does a few seconds of work at most). */
        int st = 0, waited = 0;
        pid_t got;
        while ((got = waitpid(pid, &st, WNOHANG)) == 0 && waited < 6000) {
          struct timespec ten = {0, 10 * 1000 * 1000};
          nanosleep(&ten, NULL);
          waited++;
        }
        if (got == 0) {
          kill(pid, SIGKILL);
          waitpid(pid, &st, 0);
          error("a forked child (pid %d) hung: killed after 60 s", (int)pid);
        } else if (got != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
          error("a forked child failed (status %#x)", st);
        }
        forks++;
      }
    }
    if (ms / 1000 / 30 != elapsed / 30)
      printf("soak: %ld s, %ld ops, %ld forks, RSS %zu MiB, %ld errors\n", ms / 1000,
             atomic_load(&total_ops), forks, rss_now >> 10, atomic_load(&errors));
    elapsed = ms / 1000;
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
  for (unsigned s = 0; s < SHARED; s++) {
    void *p = (void *)atomic_load(&shared[s]);
    if (p) {
      check(p, SIZE_MAX, "shared block at the end");
      free(p);
    }
  }
  malloc_trim(0);
  size_t rss_end = status_kb("VmRSS"), hwm = status_kb("VmHWM"), vpeak = status_kb("VmPeak");
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ran = now.tv_sec - t0.tv_sec;
  long ops = atomic_load(&total_ops), errs = atomic_load(&errors);
  printf("soak: %ld ops (%ld/s), %ld forks, %ld errors; peak RSS %zu MiB (VmHWM); RSS max %zu MiB in the "
         "first half, %zu MiB in the second; at start %zu MiB, after freeing all and trimming %zu MiB; "
         "peak address space %zu MiB\n",
         ops, ops / (ran > 0 ? ran : 1), forks, errs, hwm >> 10, rss_max_first >> 10,
         rss_max_second >> 10, rss_start >> 10, rss_end >> 10, vpeak >> 10);
  int ok = errs == 0;
  /* Bounded: steady work may not keep climbing (a leak); 64 MiB of slack
   * for the luck of the draw with the rare 8 MiB blocks. */
  if (rss_max_second > rss_max_first + rss_max_first / 2 + (64 << 10)) {
    printf("soak: RSS grew from %zu MiB (first half) to %zu MiB (second half): not bounded\n",
           rss_max_first >> 10, rss_max_second >> 10);
    ok = 0;
  }
  /* Everything freed and trimmed: back near where it started. */
  if (rss_end > rss_start + (64 << 10)) {
    printf("soak: RSS %zu MiB after freeing everything (started at %zu MiB)\n", rss_end >> 10,
           rss_start >> 10);
    ok = 0;
  }
  printf("soak: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

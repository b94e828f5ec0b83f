/* SPDX-License-Identifier: MIT */
/* The hardened mode (TIDEMALLOC_OPTIONS=secure=1), one behaviour per mode.
 * Modes that must be caught print "ptr=0x..." before the misuse and
 * "survived" after it; the others check themselves (tests/common.h). */
#include "../common.h"

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int mode_canary(void) {
  char *volatile p = malloc(24);
  printf("ptr=%p\n", (void *)p);
  fflush(stdout);
  memset(p, 'A', 24 + 16); /* past the block, over the canary */
  free(p);
  puts("survived");
  return 0;
}

static int mode_double(void) {
  char *volatile p = malloc(64);
  printf("ptr=%p\n", (void *)p);
  fflush(stdout);
  free(p);
  free(p);
  puts("survived");
  return 0;
}

static int mode_guard(void) {
  size_t n = 1 << 20;
  char *volatile p = malloc(n);
  size_t usable = malloc_usable_size(p);
  printf("ptr=%p usable=%zu\n", (void *)p, usable);
  fflush(stdout);
  p[usable - 1] = 1;  /* the last usable byte is fine */
  p[usable + 64] = 1; /* just past the block: the guard page */
  puts("survived");
  return 0;
}

/* A mapped block resized by realloc keeps a guard page right after its new
 * end (the guard moves with the end: the block is not copied). */
static int mode_guard_resized(bool grow) {
  size_t mib = 1 << 20;
  char *p = malloc(grow ? 5 * mib : 9 * mib);
  REQUIRE(p, "malloc");
  uintptr_t was = (uintptr_t)p;
  char *volatile q = realloc(p, grow ? 9 * mib : 5 * mib);
  REQUIRE(q, "realloc");
  size_t usable = malloc_usable_size(q);
  printf("ptr=%p usable=%zu moved=%d\n", (void *)q, usable, (uintptr_t)q != was);
  fflush(stdout);
  q[usable - 1] = 1;  /* the last usable byte is fine */
  q[usable + 64] = 1; /* just past the block: the guard page */
  puts("survived");
  return 0;
}

/* Growing and shrinking a mapped block happens in place (the pages above it
 * are free in a fresh process): contents kept, the new part zero. */
static int mode_big_resize(void) {
  size_t mib = 1 << 20;
  size_t sizes[] = {5 * mib, 9 * mib, 13 * mib + 4096, 6 * mib, 6 * mib + 100, 12 * mib};
  size_t n = sizes[0];
  uint8_t *p = malloc(n);
  REQUIRE(p, "malloc(%zu)", n);
  t_fill_tag(p, n, 1);
  size_t kept = n;
  for (size_t i = 1; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t old_usable = malloc_usable_size(p);
    uintptr_t was = (uintptr_t)p;
    uint8_t *q = realloc(p, sizes[i]);
    REQUIRE(q, "realloc(%zu -> %zu)", n, sizes[i]);
    CHECK((uintptr_t)q == was, "realloc(%zu -> %zu) moved the block (%#lx -> %p)", n, sizes[i],
          (unsigned long)was, (void *)q);
    if (sizes[i] < kept) kept = sizes[i];
    CHECK(t_check_tag(q, sizes[0], kept, 1) == (size_t)-1, "realloc(%zu -> %zu) lost data at %zu", n,
          sizes[i], t_check_tag(q, sizes[0], kept, 1));
    size_t usable = malloc_usable_size(q), nz = 0;
    CHECK(usable >= sizes[i], "usable %zu after realloc to %zu", usable, sizes[i]);
    for (size_t j = old_usable; j < usable; j++) nz += q[j] != 0;
    CHECK(nz == 0, "realloc(%zu -> %zu): %zu non-zero bytes in the new part", n, sizes[i], nz);
    p = q;
    n = sizes[i];
  }
  free(p);
  return t_finish("secure big-resize");
}

/* The page below a mapped block is a guard too: an underflow faults at
 * once, before it reaches the mapping's header. */
static int mode_guard_below(void) {
  char *volatile p = malloc(1 << 20);
  printf("ptr=%p\n", (void *)p);
  fflush(stdout);
  p[0] = 1;  /* the first byte is fine */
  p[-1] = 1; /* just below the block: the guard page */
  puts("survived");
  return 0;
}

/* A freed block reads as zeros and is not handed out again at once. */
static int mode_reuse(void) {
  unsigned char *volatile p = malloc(100);
  memset(p, 0x5a, 100);
  free(p);
  size_t nonzero = 0;
  for (size_t i = 0; i < 96; i++)
    if (i / 8 != 1 && p[i] != 0) nonzero++; /* word 1 holds the freed mark */
  CHECK(nonzero == 0, "%zu bytes of a freed block still hold their data", nonzero);
  int again = 0;
  void *q[200];
  for (int i = 0; i < 200; i++) {
    q[i] = malloc(100);
    if (q[i] == (void *)p) again++;
  }
  CHECK(again == 0, "a freed block came back %d times within 200 allocations", again);
  for (int i = 0; i < 200; i++) free(q[i]);
  return t_finish("secure reuse");
}

/* Consecutive blocks of one size are not laid out in address order. */
static int mode_order(const char *expect) {
  void *a[64];
  for (int i = 0; i < 64; i++) a[i] = malloc(48);
  int neighbours = 0;
  for (int i = 1; i < 64; i++)
    if ((char *)a[i] - (char *)a[i - 1] == 64 || (char *)a[i] - (char *)a[i - 1] == 48)
      neighbours++;
  printf("%d of 63 consecutive blocks are address neighbours\n", neighbours);
  if (!strcmp(expect, "random"))
    CHECK(neighbours < 32, "allocation order looks sequential (%d/63)", neighbours);
  else
    CHECK(neighbours > 56, "without secure mode the order should be sequential (%d/63)", neighbours);
  for (int i = 0; i < 64; i++) free(a[i]);
  return t_finish("secure order");
}

/* Guard regions (PROT_NONE) exist in the address space. */
static int mode_maps(void) {
  void *volatile p = malloc(32);
  FILE *f = fopen("/proc/self/maps", "r");
  REQUIRE(f, "open maps");
  char line[512];
  int guards = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, " ---p ")) guards++;
  fclose(f);
  printf("%d PROT_NONE regions\n", guards);
  CHECK(guards >= 1, "no guard region in the address space");
  free(p);
  return t_finish("secure maps");
}

/* Contents survive a mixed workload with the checks on. */
static int mode_workload(void) {
  enum { N = 3000 };
  static void *v[N];
  static size_t n[N];
  uint64_t r = 42;
  for (int round = 0; round < 30; round++) {
    for (int i = 0; i < N; i++) {
      r = t_mix(r + (uint64_t)i);
      if (v[i]) {
        CHECK(t_check_tag(v[i], n[i], n[i], (uint64_t)i) == (size_t)-1,
              "block %p (%zu B) corrupted", v[i], n[i]);
        if (r & 1) {
          size_t m = r % 5 == 0 ? (size_t)(r >> 8) % 300000 : (size_t)(r >> 8) % 2000;
          void *q = realloc(v[i], m + 1);
          REQUIRE(q, "realloc");
          size_t keep = n[i] < m + 1 ? n[i] : m + 1;
          CHECK(t_check_tag(q, n[i], keep, (uint64_t)i) == (size_t)-1,
                "realloc %zu -> %zu B lost data", n[i], m + 1);
          v[i] = q;
          n[i] = m + 1;
          t_fill_tag(v[i], n[i], (uint64_t)i);
          continue;
        }
        free(v[i]);
        v[i] = NULL;
      } else {
        n[i] = r % 7 == 0 ? (size_t)(r >> 8) % 200000 + 1 : (size_t)(r >> 8) % 1500 + 1;
        v[i] = malloc(n[i]);
        REQUIRE(v[i], "malloc");
        t_fill_tag(v[i], n[i], (uint64_t)i);
      }
    }
  }
  for (int i = 0; i < N; i++) free(v[i]);
  return t_finish("secure workload");
}

/* Blocks around the largest a segment holds (which the guard slice makes
 * smaller in secure mode), grown and shrunk across it. */
static int mode_big(void) {
  size_t mib = 1 << 20;
  for (size_t n = 3 * mib + mib / 2; n <= 4 * mib + mib / 4; n += 16 << 10) {
    void *p = malloc(n);
    REQUIRE(p, "malloc(%zu) failed", n);
    t_fill_tag(p, n, n);
    void *q = realloc(p, n + (64 << 10));
    REQUIRE(q, "realloc(%zu -> %zu) failed", n, n + (64 << 10));
    CHECK(t_check_tag(q, n, n, n) == (size_t)-1, "realloc to %zu lost data", n + (64 << 10));
    q = realloc(q, n / 2);
    REQUIRE(q, "realloc down to %zu failed", n / 2);
    CHECK(t_check_tag(q, n, n / 2, n) == (size_t)-1, "shrinking to %zu lost data", n / 2);
    free(q);
  }
  return t_finish("secure big");
}

/* The permissions of the mapping holding p in /proc/self/maps ("" if none). */
static void maps_perms(const void *p, char perms[5]) {
  FILE *f = fopen("/proc/self/maps", "r");
  REQUIRE(f, "open maps");
  char line[512];
  perms[0] = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char pr[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pr) == 3 && (uintptr_t)p >= lo && (uintptr_t)p < hi) {
      memcpy(perms, pr, 5);
      break;
    }
  }
  fclose(f);
}

/* Whether a child that reads (or writes) the byte at p dies of SIGSEGV. */
static int faults_at(volatile unsigned char *p, int write) {
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    if (write)
      *p = 1;
    else
      (void)*p;
    _exit(0);
  }
  int st;
  REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid");
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

/* A freed mapped block is kept for reuse (a fresh mapping would fault in
 * every page again), PROT_NONE from its block on, so a dangling pointer
 * faults as it would on an unmapped one; a later block that fits gets it
 * back zeroed, with a guard page on each side, but not the next one after
 * its free: that one gets another mapping. */
static int mode_big_cached(void) {
  size_t mib = 1 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
  /* The first free raises the mmap threshold past this size (as glibc's
   * does): blocks below it are the ones the cache keeps. */
  void *w = malloc(6 * mib);
  REQUIRE(w, "malloc(6 MiB)");
  free(w);
  unsigned char *volatile p = malloc(6 * mib); /* volatile: looked at after the free */
  unsigned char *volatile last = malloc(6 * mib);
  REQUIRE(p && last, "malloc(6 MiB)");
  memset(p, 0xab, 6 * mib);
  memset(last, 0xcd, 6 * mib);
  free(p);
  free(last);
  char perms[5];
  maps_perms(p, perms);
  printf("after free: the block's mapping is '%s'\n", perms);
  CHECK(!strcmp(perms, "---p"), "the freed block's mapping is '%s', not kept PROT_NONE", perms);
  CHECK(faults_at(p, 0), "reading a freed block did not fault");
  CHECK(faults_at(p + 3 * mib, 1), "writing into a freed block did not fault");
  unsigned char *q = malloc(5 * mib);
  REQUIRE(q, "malloc(5 MiB)");
  printf("the next block of 5 MiB: %s the first freed block's mapping, %s the last one's\n",
         q == p ? "in" : "not in", q == last ? "in" : "not in");
  CHECK(q != last, "the block freed last came back at the next malloc that fits");
  CHECK(q == p, "the block freed first did not serve the next malloc that fits (it is cached)");
  size_t nonzero = 0;
  for (size_t i = 0; i < 5 * mib; i++) nonzero += q[i] != 0;
  CHECK(nonzero == 0, "%zu bytes of the reused block are not zero (the last owner's data)", nonzero);
  size_t end = (5 * mib + page - 1) / page * page;
  CHECK(faults_at(q + end, 0), "no guard page after the reused block");
  CHECK(faults_at(q - 1, 0), "no guard page below the reused block");
  memset(q, 1, 5 * mib);
  free(q);
  return t_finish("secure big cached");
}

/* ---- Steering the free lists (issue 13) ----------------------------------
 * The owner's free state is out of line (a map beside the segment header):
 * only blocks another thread freed travel on in-band links, on their page's
 * remote list, until the owner collects them.  A program with a dangling
 * pointer reads two such blocks' links, works out the link secret, and
 * writes one forged link.  The links are next ^ secret
 * (src/internal/internal.h, block_encode); the secret is the one value that
 * makes most freed blocks' links lead to other freed blocks (or NULL). */
enum { STEER_N = 64, STEER_SIZE = 100 };

static uintptr_t steer_link(const void *b) {
  uintptr_t w;
  memcpy(&w, b, sizeof w);
  return w;
}

/* Another thread frees the blocks: its quarantine gives them back, in
 * transit, when it exits. */
static void *steer_freer(void *arg) {
  char **b = arg;
  for (int i = 0; i < STEER_N; i++) free(b[i]);
  return NULL;
}

/* Frees STEER_N blocks of a page that keeps a live one, from another
 * thread, so that they wait linked on the page's remote list, and finds the
 * secret from their links; the freed blocks are in b, the live block is
 * *live. */
static uintptr_t steer_setup(char **b, char **live) {
  for (int i = 0; i < STEER_N; i++) b[i] = malloc(STEER_SIZE);
  *live = malloc(STEER_SIZE);
  memset(*live, 'L', STEER_SIZE);
  pthread_t t;
  if (pthread_create(&t, NULL, steer_freer, b) != 0 || pthread_join(t, NULL) != 0) return 0;
  uintptr_t best = 0;
  int best_hits = 0;
  for (int x = 0; x < STEER_N; x++) {
    for (int y = -1; y < STEER_N; y++) {
      uintptr_t next = y < 0 ? 0 : (uintptr_t)b[y];
      uintptr_t s = steer_link(b[x]) ^ next;
      int hits = 0;
      for (int z = 0; z < STEER_N; z++) {
        uintptr_t d = steer_link(b[z]) ^ s;
        for (int t2 = 0; t2 < STEER_N && d != 0; t2++)
          if (d == (uintptr_t)b[t2]) d = 0;
        if (d == 0) hits++;
      }
      if (hits > best_hits) best_hits = hits, best = s;
    }
  }
  printf("secret found: %d of %d links decode with it\n", best_hits, STEER_N);
  return best_hits >= STEER_N / 2 ? best : 0;
}

/* Point the link of freed block b[0] at target, then allocate: malloc must
 * never hand out target (nor anything but a block that is free), and the
 * owner's collection reports the link at b[0]. */
static int steer(const char *what) {
  static char global_buf[256] __attribute__((aligned(64)));
  char stack_buf[256] __attribute__((aligned(64)));
  char *b[STEER_N], *live;
  uintptr_t secret = steer_setup(b, &live);
  if (secret == 0) {
    puts("could not find the secret");
    return 1;
  }
  uintptr_t target = (uintptr_t)live;
  if (!strcmp(what, "inside")) target = (uintptr_t)live + 48; /* the program's choice */
  if (!strcmp(what, "stack")) target = (uintptr_t)stack_buf;
  if (!strcmp(what, "global")) target = (uintptr_t)global_buf;
  uintptr_t forged = target ^ secret;
  /* The target's first word, the program's own data (or stack), reads as
   * a link to NULL: a list ending there is not told from a real one. */
  uintptr_t end = secret;
  memcpy((void *)target, &end, sizeof end);
  printf("ptr=%p target=%p\n", (void *)b[0], (void *)target);
  fflush(stdout);
  memcpy(b[0], &forged, sizeof forged); /* the dangling write */
  for (int i = 0; i < 4000; i++) {
    char *q = malloc(STEER_SIZE);
    if ((uintptr_t)q == target) {
      printf("malloc %d returned the forged address %p\n", i, (void *)q);
      puts("survived");
      return 0;
    }
  }
  puts("survived"); /* contained, but not reported */
  return 0;
}

/* Frees of other sizes, enough that the quarantine (512 blocks, 4 MiB; a
 * random one leaves when it is full) has given back everything freed
 * before (each of 3000 evictions misses a given block with chance at most
 * 69/70: all miss it with chance below 1e-18). */
static void churn_quarantine(void) {
  for (int i = 0; i < 3000; i++) {
    void *volatile c = malloc(60000);
    free(c);
  }
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Dangling writes over freed blocks of the owner's own page (their first
 * 16 bytes, where the links and the freed key of a free list would be):
 * malloc follows none of it, so it hands out no live block, no block twice
 * and nothing off the grid (malloc_usable_size checks the grid). */
static int mode_forged_local(void) {
  enum { LIVE = 64, FREED = 256, ALLOCS = 4000 };
  static char *live[LIVE], *freed[FREED];
  static uintptr_t all[LIVE + ALLOCS];
  for (int i = 0; i < LIVE; i++) {
    live[i] = malloc(STEER_SIZE);
    memset(live[i], 'L', STEER_SIZE);
  }
  for (int i = 0; i < FREED; i++) freed[i] = malloc(STEER_SIZE);
  for (int i = 0; i < FREED; i++) free(freed[i]);
  churn_quarantine(); /* the freed blocks are back on their page */
  for (int i = 0; i < FREED; i++) {
    uintptr_t w[2] = {(uintptr_t)live[i % LIVE], (uintptr_t)live[(i + 1) % LIVE] + 16};
    memcpy(freed[i], w, sizeof w); /* the dangling write */
  }
  int n = 0;
  for (int i = 0; i < LIVE; i++) all[n++] = (uintptr_t)live[i];
  for (int i = 0; i < ALLOCS; i++) {
    char *q = malloc(STEER_SIZE);
    REQUIRE(q, "malloc");
    CHECK(malloc_usable_size(q) >= STEER_SIZE, "malloc %d returned %p, %zu bytes", i, (void *)q,
          malloc_usable_size(q));
    all[n++] = (uintptr_t)q;
  }
  qsort(all, (size_t)n, sizeof all[0], cmp_ptr);
  int twice = 0;
  for (int i = 1; i < n; i++)
    if (all[i] == all[i - 1]) twice++;
  CHECK(twice == 0, "%d blocks handed out while live", twice);
  for (int i = 0; i < LIVE; i++)
    for (int j = 0; j < STEER_SIZE; j++)
      if (live[i][j] != 'L') {
        CHECK(0, "live block %p changed at byte %d", (void *)live[i], j);
        break;
      }
  return t_finish("secure forged-local");
}

/* A double free of a block the quarantine gave back to its page (by
 * eviction, not malloc_trim), with the freed key erased: the map says it
 * is available, not the program's. */
static int mode_double_released(void) {
  char *volatile keep = malloc(64);
  char *volatile p = malloc(64);
  printf("ptr=%p\n", (void *)p);
  fflush(stdout);
  free(p);
  churn_quarantine();
  memset(p, 0, 16); /* through the dangling pointer: the freed key gone */
  free(p);
  puts("survived");
  free(keep);
  return 0;
}

/* A double free of a block another thread freed, on its way back to the
 * owner (in transit on the page's remote list), its freed key erased. */
static void *free_one(void *arg) {
  free(arg);
  return NULL;
}
static int mode_double_transit(void) {
  char *volatile keep = malloc(64);
  char *volatile p = malloc(64);
  printf("ptr=%p\n", (void *)p);
  fflush(stdout);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, free_one, p) == 0 && pthread_join(t, NULL) == 0, "thread");
  memset(p + 8, 0, 8); /* the freed key; the link stays */
  free(p);
  puts("survived");
  free(keep);
  return 0;
}

/* A double free after the program zeroed the freed block (the freed key
 * erased): the out-of-line bitmap still knows.  flushed: the block was
 * given back to its page first (malloc_trim), not waiting in quarantine. */
static int mode_double_zeroed(bool flushed) {
  char *volatile keep = malloc(64);
  char *volatile p = malloc(64);
  printf("ptr=%p\n", (void *)p);
  fflush(stdout);
  free(p);
  if (flushed) malloc_trim(0);
  memset(p, 0, 16); /* through the dangling pointer: link and key gone */
  free(p);
  puts("survived");
  free(keep);
  return 0;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* With the quarantine flushed, a freed block is not the next one handed
 * out, nor back soon: 200 trials, each freeing one block of a page that
 * has live ones, flushing, and counting the mallocs until it comes back
 * (400 at most).  The pick is random among at least 64 blocks, so "next"
 * has chance 1/64 a trial (3 in 200 expected; more than 10 has chance
 * about 1e-4). */
static int mode_reuse_random(void) {
  enum { TRIALS = 200, CAP = 400 };
  static void *q[CAP];
  static int dist[TRIALS];
  void *keep[16];
  for (int i = 0; i < 16; i++) keep[i] = malloc(STEER_SIZE);
  int next = 0;
  for (int t = 0; t < TRIALS; t++) {
    void *p = malloc(STEER_SIZE);
    free(p);
    malloc_trim(0);
    int n = 0;
    dist[t] = CAP + 1;
    while (n < CAP) {
      q[n] = malloc(STEER_SIZE);
      if (q[n++] == p) {
        dist[t] = n;
        break;
      }
    }
    if (dist[t] == 1) next++;
    for (int i = 0; i < n; i++) free(q[i]);
    malloc_trim(0);
  }
  qsort(dist, TRIALS, sizeof dist[0], cmp_int);
  /* The most common distance: a predictable allocator has one. */
  int mode = dist[0], mode_count = 0;
  for (int i = 0, run = 0; i < TRIALS; i++) {
    if (dist[i] > CAP) break; /* sorted: the rest did not come back at all */
    run = i > 0 && dist[i] == dist[i - 1] ? run + 1 : 1;
    if (run > mode_count) mode_count = run, mode = dist[i];
  }
  printf("the freed block was the next one handed out in %d of %d trials; "
         "mallocs until it came back: median %d, 10th percentile %d (%d: not within %d); "
         "most common: %d, in %d trials\n",
         next, TRIALS, dist[TRIALS / 2], dist[TRIALS / 10], CAP + 1, CAP, mode, mode_count);
  CHECK(next <= TRIALS / 20, "a freed block came back at once in %d of %d trials", next, TRIALS);
  /* Random among 64: no distance has a chance above 1/64 (3 in 200). */
  CHECK(mode_count <= TRIALS / 10, "a freed block came back after exactly %d mallocs in %d of %d trials",
        mode, mode_count, TRIALS);
  CHECK(dist[TRIALS / 2] > 16, "a freed block comes back within %d mallocs in half the trials",
        dist[TRIALS / 2]);
  for (int i = 0; i < 16; i++) free(keep[i]);
  return t_finish("secure reuse-random");
}

/* A page most of whose blocks are out: the freed slot is still one of
 * many to choose from (the page is extended to keep at least 64 available
 * while it has room), not the next one handed out.  150 blocks of 224 out
 * of a page of 292 (carved 18 at a time); 200 trials, each freeing one
 * block, flushing the quarantine and allocating one: about 1 in 64 (3 in
 * 200) expected, 20 has chance below 1e-9; a page that carved only when it
 * ran dry would choose among 1 to 18 (about 39 in 200). */
static int mode_reuse_random_busy(void) {
  enum { KEEP = 150, TRIALS = 200, SIZE = 200 };
  static void *keep[KEEP];
  for (int i = 0; i < KEEP; i++) keep[i] = malloc(SIZE);
  malloc_trim(0);
  int next = 0;
  for (int t = 0; t < TRIALS; t++) {
    void *p = malloc(SIZE);
    free(p);
    malloc_trim(0);
    void *q = malloc(SIZE);
    if (q == p) next++;
    free(q);
    malloc_trim(0);
  }
  printf("the freed block was the next one handed out in %d of %d trials\n", next, TRIALS);
  CHECK(next < TRIALS / 10, "a freed block came back at once in %d of %d trials", next, TRIALS);
  for (int i = 0; i < KEEP; i++) free(keep[i]);
  return t_finish("secure reuse-random-busy");
}

int main(int argc, char **argv) {
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "canary")) return mode_canary();
  if (!strcmp(m, "double")) return mode_double();
  if (!strcmp(m, "guard")) return mode_guard();
  if (!strcmp(m, "guard-below")) return mode_guard_below();
  if (!strcmp(m, "guard-grown")) return mode_guard_resized(true);
  if (!strcmp(m, "guard-shrunk")) return mode_guard_resized(false);
  if (!strcmp(m, "big-resize")) return mode_big_resize();
  if (!strcmp(m, "reuse")) return mode_reuse();
  if (!strcmp(m, "order")) return mode_order(argc > 2 ? argv[2] : "random");
  if (!strcmp(m, "maps")) return mode_maps();
  if (!strcmp(m, "workload")) return mode_workload();
  if (!strcmp(m, "big")) return mode_big();
  if (!strcmp(m, "big-cached")) return mode_big_cached();
  if (!strncmp(m, "steer-", 6)) return steer(m + 6); /* live, inside, stack, global */
  if (!strcmp(m, "double-zeroed")) return mode_double_zeroed(false);
  if (!strcmp(m, "double-zeroed-flushed")) return mode_double_zeroed(true);
  if (!strcmp(m, "reuse-random")) return mode_reuse_random();
  if (!strcmp(m, "reuse-random-busy")) return mode_reuse_random_busy();
  if (!strcmp(m, "forged-local")) return mode_forged_local();
  if (!strcmp(m, "double-released")) return mode_double_released();
  if (!strcmp(m, "double-transit")) return mode_double_transit();
  fprintf(stderr, "usage: secure canary|double|guard|reuse|order [random|sequential]|maps|workload\n");
  return 2;
}

/* SPDX-License-Identifier: MIT */
/* How tidemalloc uses the OS, observed from outside (strace, /proc, the
 * real break).  usage: os MODE [args]
 *
 * Modes that strace watches write markers with write(2) to stdout:
 *   "TIDE_MARK <name> [key=value...]".  Only calls between markers count.
 *   small    many small allocations: brk moves, no per-object mmap
 *   large    malloc(1 MiB) = one mmap; free = one munmap of the same range
 *   mremap   realloc of a mapped block 1 MiB -> 8 MiB uses mremap
 *   trace    a mix of everything, for comparing the trace file with strace
 * Modes that check themselves (exit 0 = pass):
 *   trim [auto]       200 MiB of 64-byte blocks, free, malloc_trim(0) (or wait,
 *                     with "auto"): break lowered, RSS back near the start
 *   pin [delayed]     a small block pins freed medium ones: RSS still drops
 *   sbrk              a foreign sbrk(4096) in the middle of a run
 *   fault             run with TIDEMALLOC_OPTIONS=fault_brk=1: mmap fallback
 *   collide           a page mapped just above the break makes brk fail
 *   faultmid          run with fault_brk=N: brk works, then fails midway
 *   resident          tide_stats resident_bytes against /proc/self/pagemap
 *   churn             200 MiB freed below a live block, a pause, a burst of
 *                     small calls that free scratch blocks: the 200 MiB
 *                     go back at the burst's first look at the clock
 */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static const size_t MiB = 1024 * 1024;
static int tide;

static void mark(const char *fmt, ...) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "TIDE_MARK ");
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  va_end(ap);
  buf[n++] = '\n';
  if (write(1, buf, (size_t)n) != n) exit(9);
}

static t_rng rng = {0x2545F4914F6CDD1DULL};
static uint64_t rnd(void) { return t_rand(&rng); }

/* A set of blocks with patterns, for the modes that check contents. */
struct blk {
  void *p;
  size_t n;
};
struct set {
  struct blk *b;
  size_t count, cap;
};

static void set_add(struct set *s, size_t n) {
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    /* the bookkeeping lives in its own mapping, out of the allocator's way */
    struct blk *nb = mmap(NULL, cap * sizeof *nb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(nb != MAP_FAILED, "mmap for bookkeeping");
    if (s->b) {
      memcpy(nb, s->b, s->count * sizeof *nb);
      munmap(s->b, s->cap * sizeof *nb);
    }
    s->b = nb;
    s->cap = cap;
  }
  void *p = malloc(n);
  REQUIRE(p, "malloc(%zu) failed after %zu blocks", n, s->count);
  t_fill(p, n);
  s->b[s->count].p = p;
  s->b[s->count].n = n;
  s->count++;
}

static void set_verify(struct set *s, const char *when) {
  for (size_t i = 0; i < s->count; i++)
    if (s->b[i].p) {
      size_t bad = t_check(s->b[i].p, s->b[i].n);
      REQUIRE(bad == (size_t)-1, "block %zu (%p, %zu bytes) corrupted at offset %zu %s", i, s->b[i].p, s->b[i].n,
              bad, when);
    }
}

/* No block may overlap [lo, hi). */
static void set_avoid(struct set *s, uintptr_t lo, uintptr_t hi, const char *what) {
  for (size_t i = 0; i < s->count; i++)
    if (s->b[i].p) {
      uintptr_t a = (uintptr_t)s->b[i].p, e = a + s->b[i].n;
      REQUIRE(e <= lo || a >= hi, "block %p..%p overlaps %s %lx..%lx", s->b[i].p, (void *)e, what,
              (unsigned long)lo, (unsigned long)hi);
    }
}

static void set_free(struct set *s, int every) { /* every: 1 = all, 2 = every other */
  for (size_t i = 0; i < s->count; i++)
    if (s->b[i].p && i % (size_t)every == 0) {
      free(s->b[i].p);
      s->b[i].p = NULL;
    }
}

static void set_release(struct set *s) {
  set_free(s, 1);
  if (s->b) munmap(s->b, s->cap * sizeof *s->b);
  memset(s, 0, sizeof *s);
}

static size_t mixed_size(void) {
  uint64_t r = rnd();
  switch (r % 20) {
  case 0: return 4096 + (r >> 8) % (60 * 1024);
  case 1: case 2: return 1024 + (r >> 8) % 3072;
  default: return 1 + (r >> 8) % 512;
  }
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The program keeps running: a little allocation of assorted sizes. */
static void activity(void) {
  static const size_t sizes[] = {24, 200, 1500, 9000, 20000, 70000, 100000};
  void *volatile p[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    p[i] = malloc(sizes[i]);
    if (p[i]) memset(p[i], 1, 16);
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) free(p[i]);
}

static int stats(struct tide_stats *s) { return tide ? t_stats(s) : -1; }

/* ---- modes observed by strace ---------------------------------------------- */

static int mode_small(void) {
  enum { N = 100000 };
  static void *v[N];
  t_poke(64); /* initialise outside the window */
  mark("start");
  for (int i = 0; i < N; i++) {
    v[i] = malloc(64);
    memset(v[i], i & 0xff, 64);
  }
  mark("end count=%d", N);
  for (int i = 0; i < N; i++) REQUIRE(((unsigned char *)v[i])[63] == (i & 0xff), "block %d corrupted", i);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < N; i++) {
    uintptr_t a = (uintptr_t)v[i];
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  mark("range lo=0x%lx hi=0x%lx brk=0x%lx", (unsigned long)lo, (unsigned long)hi, (unsigned long)t_brk_now());
  for (int i = 0; i < N; i++) free(v[i]);
  return 0;
}

static int mode_large(void) {
  t_poke(64);
  mark("start");
  void *p = malloc(MiB);
  mark("malloced p=0x%lx", (unsigned long)(uintptr_t)p);
  REQUIRE(p, "malloc(1 MiB)");
  memset(p, 7, MiB);
  mark("touched");
  free(p);
  mark("freed");
  return 0;
}

static int mode_mremap(void) {
  t_poke(64);
  void *p = malloc(MiB);
  REQUIRE(p, "malloc(1 MiB)");
  t_fill(p, MiB);
  mark("start p=0x%lx", (unsigned long)(uintptr_t)p);
  void *q = realloc(p, 8 * MiB);
  mark("realloced q=0x%lx", (unsigned long)(uintptr_t)q);
  REQUIRE(q, "realloc to 8 MiB");
  size_t bad = t_check_tag(q, MiB, MiB, (uintptr_t)p);
  REQUIRE(bad == (size_t)-1, "realloc 1 MiB -> 8 MiB lost contents at %zu", bad);
  memset((char *)q + MiB, 1, 7 * MiB);
  mark("shrink");
  void *r = realloc(q, 2 * MiB);
  mark("shrunk r=0x%lx", (unsigned long)(uintptr_t)r);
  REQUIRE(r && ((unsigned char *)r)[2 * MiB - 1] == 1, "realloc 8 MiB -> 2 MiB");
  REQUIRE(t_check_tag(r, MiB, MiB, (uintptr_t)p) == (size_t)-1, "realloc 8 -> 2 MiB lost contents");
  free(r);
  mark("freed");
  return 0;
}

static int mode_trace(void) {
  /* no mmap of our own here: every call between the markers is the allocator's */
  enum { N = 20000 };
  static struct blk v[N];
  mark("start");
  for (int i = 0; i < N; i++) {
    v[i].n = mixed_size();
    v[i].p = malloc(v[i].n);
    REQUIRE(v[i].p, "malloc");
    t_fill(v[i].p, v[i].n);
  }
  void *big = malloc(MiB);
  memset(big, 1, MiB);
  big = realloc(big, 8 * MiB);
  REQUIRE(big, "realloc");
  void *big2 = malloc(300000);
  memset(big2, 2, 300000);
  free(big2);
  for (int i = 0; i < N; i++)
    REQUIRE(t_check(v[i].p, v[i].n) == (size_t)-1, "block %d corrupted", i);
  for (int i = 0; i < N; i += 2) free(v[i].p);
  free(big);
  for (int i = 1; i < N; i += 2) free(v[i].p);
  malloc_trim(0);
  sleep_ms(30);
  t_poke(100);
  mark("end");
  return 0;
}

/* ---- modes that check themselves ------------------------------------------- */

/* n blocks of 64 bytes, block i filled with (i & 0x7f) + 1, listed in an
 * array mapped here (not from the allocator under test). */
static void **fill_64(size_t n) {
  void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(v != MAP_FAILED, "mmap");
  for (size_t i = 0; i < n; i++) {
    v[i] = malloc(64);
    REQUIRE(v[i], "malloc(64) failed at %zu", i);
    memset(v[i], (int)(i & 0x7f) + 1, 64);
  }
  return v;
}

static int mode_trim(int automatic) {
  t_poke(64);
  malloc_trim(0);
  size_t n = 200 * MiB / 64;
  size_t rss0 = t_rss();
  uintptr_t brk0 = t_brk_now();
  void **v = fill_64(n);
  uintptr_t brk1 = t_brk_now();
  size_t rss1 = t_rss();
  for (size_t i = 0; i < n; i++) {
    REQUIRE(((unsigned char *)v[i])[0] == (i & 0x7f) + 1 && ((unsigned char *)v[i])[63] == (i & 0x7f) + 1,
            "block %zu corrupted", i);
    free(v[i]);
  }
  munmap(v, n * sizeof *v);
  uintptr_t brk2 = t_brk_now();
  size_t rss2 = t_rss();
  if (!automatic) {
    malloc_trim(0);
  } else {
    /* no trim: the allocator must give it back by itself (trim threshold,
     * purge delay).  Poke it now and then; allow a few seconds. */
    for (int i = 0; i < 100 && !(t_rss() <= rss0 + 8 * MiB && t_brk_now() <= brk0 + 8 * MiB); i++) {
      sleep_ms(30);
      activity();
    }
  }
  uintptr_t brk3 = t_brk_now();
  size_t rss3 = t_rss();
  printf("break: start %#lx, +%ld KiB after allocating, +%ld KiB after free, +%ld KiB after %s\n",
         (unsigned long)brk0, (long)(brk1 - brk0) / 1024, (long)(brk2 - brk0) / 1024, (long)(brk3 - brk0) / 1024,
         automatic ? "waiting" : "malloc_trim(0)");
  printf("RSS: start %zu KiB, %zu KiB allocated, %zu KiB after free, %zu KiB after %s\n", rss0 / 1024, rss1 / 1024,
         rss2 / 1024, rss3 / 1024, automatic ? "waiting" : "malloc_trim(0)");
  CHECK(brk1 >= brk0 + 150 * MiB, "200 MiB of 64-byte blocks moved the break by only %ld KiB (not from brk?)",
        (long)(brk1 - brk0) / 1024);
  CHECK(rss1 >= rss0 + 150 * MiB, "RSS grew by only %zu KiB while 200 MiB were in use", (rss1 - rss0) / 1024);
  CHECK(brk3 <= brk0 + 8 * MiB, "break not lowered: still +%ld KiB above the start", (long)(brk3 - brk0) / 1024);
  CHECK(rss3 <= rss0 + 8 * MiB, "RSS not back near the start: +%ld KiB", (long)(rss3 - rss0) / 1024);
  /* the allocator still works and reuses the space */
  struct set s = {0};
  for (int i = 0; i < 10000; i++) set_add(&s, mixed_size());
  set_verify(&s, "after trim");
  set_release(&s);
  return t_finish(automatic ? "trim auto" : "trim");
}

static int mode_pin(int delayed) {
  t_poke(64);
  malloc_trim(0);
  enum { M = 1000 };
  size_t msize = 64 * 1024; /* medium: below the 128 KiB mmap threshold */
  static void *med[M];
  size_t rss0 = t_rss();
  for (int i = 0; i < M; i++) {
    med[i] = malloc(msize);
    REQUIRE(med[i], "malloc");
    memset(med[i], 0x77, msize);
  }
  void *small = malloc(32); /* allocated last: above the medium ones */
  memset(small, 0x42, 32);
  uintptr_t brk1 = t_brk_now();
  size_t rss1 = t_rss();
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < M; i++) {
    if ((uintptr_t)med[i] < lo) lo = (uintptr_t)med[i];
    if ((uintptr_t)med[i] > hi) hi = (uintptr_t)med[i];
  }
  for (int i = 0; i < M; i++) free(med[i]);
  size_t rss2 = t_rss();
  long waited = 0;
  if (delayed) {
    for (; waited < 3000 && t_rss() > rss0 + 16 * MiB; waited += 25) {
      sleep_ms(25);
      activity();
    }
  } else {
    t_poke(64);
  }
  size_t rss3 = t_rss();
  uintptr_t brk3 = t_brk_now();
  printf("medium blocks %#lx..%#lx, small block %p, break %#lx -> %#lx\n", (unsigned long)lo, (unsigned long)hi,
         small, (unsigned long)brk1, (unsigned long)brk3);
  printf("RSS: start %zu KiB, %zu KiB in use, %zu KiB right after free, %zu KiB %s\n", rss0 / 1024, rss1 / 1024,
         rss2 / 1024, rss3 / 1024, delayed ? "after waiting" : "(purge_delay_ms=0)");
  if (delayed) printf("waited %ld ms\n", waited);
  CHECK(rss1 >= rss0 + 50 * MiB, "64 MiB of medium blocks raised RSS by only %zu KiB", (rss1 - rss0) / 1024);
  CHECK(lo >= brk1 - 400 * MiB && hi < brk1, "the medium blocks are not in the brk heap (%#lx..%#lx, break %#lx)",
        (unsigned long)lo, (unsigned long)hi, (unsigned long)brk1);
  CHECK(rss3 <= rss0 + 16 * MiB, "freed medium blocks still resident: RSS +%zu KiB over the start",
        (rss3 - rss0) / 1024);
  REQUIRE(((unsigned char *)small)[31] == 0x42, "small block corrupted");
  free(small);
  return t_finish(delayed ? "pin delayed" : "pin");
}

static int mode_sbrk(void) {
  struct set a = {0}, b = {0}, c = {0};
  for (int i = 0; i < 20000; i++) set_add(&a, mixed_size());
  uintptr_t before = t_brk_now();
  unsigned char *f = sbrk(4096);
  REQUIRE(f != (void *)-1, "sbrk(4096) failed: %s", strerror(errno));
  uintptr_t after = t_brk_now();
  printf("real break %#lx; sbrk(4096) returned %p; real break now %#lx\n", (unsigned long)before, (void *)f,
         (unsigned long)after);
  REQUIRE((uintptr_t)f + 4096 <= after, "sbrk(4096) returned %p but the break is %#lx", (void *)f,
          (unsigned long)after);
  CHECK((uintptr_t)f >= before, "sbrk(4096) returned %p below the real break %#lx: glibc's idea of the break is "
                                "stale, it just cut the heap", (void *)f, (unsigned long)before);
  t_fill_tag(f, 4096, 0xf00d);
  set_verify(&a, "after the foreign sbrk");
  for (int i = 0; i < 40000; i++) set_add(&b, mixed_size());
  set_verify(&a, "after growing past the foreign page");
  set_verify(&b, "after growing past the foreign page");
  set_avoid(&a, (uintptr_t)f, (uintptr_t)f + 4096, "the foreign sbrk page");
  set_avoid(&b, (uintptr_t)f, (uintptr_t)f + 4096, "the foreign sbrk page");
  REQUIRE(t_check_tag(f, 4096, 4096, 0xf00d) == (size_t)-1, "foreign sbrk page overwritten");
  set_free(&a, 2);
  set_release(&b);
  malloc_trim(0);
  REQUIRE(t_check_tag(f, 4096, 4096, 0xf00d) == (size_t)-1, "foreign sbrk page changed after malloc_trim");
  set_verify(&a, "after malloc_trim");
  for (int i = 0; i < 30000; i++) set_add(&c, mixed_size());
  set_verify(&a, "");
  set_verify(&c, "");
  set_avoid(&c, (uintptr_t)f, (uintptr_t)f + 4096, "the foreign sbrk page");
  set_release(&a);
  set_release(&c);
  malloc_trim(0);
  REQUIRE(t_brk_now() >= (uintptr_t)f + 4096, "the break went below the foreign sbrk page");
  REQUIRE(t_check_tag(f, 4096, 4096, 0xf00d) == (size_t)-1, "foreign sbrk page changed at the end");
  /* the foreign code gives its page back; tidemalloc keeps working */
  struct set d = {0};
  for (int i = 0; i < 5000; i++) set_add(&d, mixed_size());
  set_verify(&d, "");
  set_release(&d);
  return t_finish("sbrk");
}

static void *fallback_thread(void *arg) {
  (void)arg;
  struct set s = {0};
  for (int i = 0; i < 20000; i++) set_add(&s, mixed_size());
  set_verify(&s, "in a thread");
  set_release(&s);
  return NULL;
}

/* brk fails (fault injection or a mapping in the way): mmap segments. */
static void brk_refused_run(uintptr_t guard_lo, uintptr_t guard_hi, const char *guard) {
  struct tide_stats s0, s1;
  int have = stats(&s0) == 0;
  uintptr_t brk0 = t_brk_now();
  struct set a = {0};
  for (int i = 0; i < 60000; i++) set_add(&a, mixed_size());
  size_t total = 0;
  for (size_t i = 0; i < a.count; i++) total += a.b[i].n;
  set_verify(&a, "");
  if (guard) set_avoid(&a, guard_lo, guard_hi, guard);
  pthread_t t;
  pthread_create(&t, NULL, fallback_thread, NULL);
  pthread_join(t, NULL);
  void *big = malloc(5 * MiB);
  memset(big, 3, 5 * MiB);
  big = realloc(big, 9 * MiB);
  free(big);
  set_free(&a, 2);
  malloc_trim(0);
  set_verify(&a, "after free and trim");
  uintptr_t brk1 = t_brk_now();
  printf("%zu blocks, %zu KiB; break %#lx -> %#lx\n", a.count, total / 1024, (unsigned long)brk0,
         (unsigned long)brk1);
  CHECK(brk1 <= brk0, "the break moved up from %#lx to %#lx although brk is refused", (unsigned long)brk0,
        (unsigned long)brk1);
  if (have && stats(&s1) == 0) {
    printf("os_failures %llu, segments %llu (brk %llu), mapped %llu KiB, brk_grow calls %llu\n",
           (unsigned long long)s1.os_failures, (unsigned long long)s1.segments,
           (unsigned long long)s1.brk_segments, (unsigned long long)s1.mapped_bytes / 1024,
           (unsigned long long)s1.brk_grow.calls);
    CHECK(s1.os_failures >= 1, "tide_stats.os_failures = 0 although brk failed");
    CHECK(s1.mapped_bytes >= total / 2, "mapped_bytes %llu KiB while %zu KiB live in mmap'ed segments",
          (unsigned long long)s1.mapped_bytes / 1024, total / 1024);
  }
  set_release(&a);
}

static int mode_fault(void) {
  if (tide) {
    long long v = -1;
    int (*get)(const char *, long long *) = (int (*)(const char *, long long *))t_sym("tide_option_get");
    if (get && get("fault_brk", &v) == 0) CHECK(v == 1, "tide_option_get(fault_brk) = %lld, want 1", v);
  }
  uintptr_t brk0 = t_brk_now();
  brk_refused_run(0, 0, NULL);
  struct tide_stats s;
  if (stats(&s) == 0) {
    CHECK(s.brk_segments == 0, "brk_segments = %llu with every brk failing", (unsigned long long)s.brk_segments);
    CHECK(s.brk_grow.calls == 0, "brk_grow.calls = %llu with every brk failing",
          (unsigned long long)s.brk_grow.calls);
    CHECK(s.heap_bytes == 0, "heap_bytes = %llu with every brk failing", (unsigned long long)s.heap_bytes);
  }
  CHECK(t_brk_now() == brk0, "the real break moved");
  return t_finish("fault_brk");
}

/* brk works for a while, then fails (fault_brk=N): brk and mmap segments
 * side by side. */
static int mode_faultmid(void) {
  struct set a = {0}, b = {0};
  for (int i = 0; i < 60000; i++) set_add(&a, mixed_size());
  set_verify(&a, "");
  pthread_t t;
  pthread_create(&t, NULL, fallback_thread, NULL);
  pthread_join(t, NULL);
  set_free(&a, 3);
  malloc_trim(0);
  set_verify(&a, "after free and trim");
  for (int i = 0; i < 30000; i++) set_add(&b, mixed_size());
  set_verify(&a, "");
  set_verify(&b, "");
  struct tide_stats s;
  if (stats(&s) == 0) {
    printf("os_failures %llu, segments %llu (brk %llu), brk_grow calls %llu, heap %llu KiB, mapped %llu KiB\n",
           (unsigned long long)s.os_failures, (unsigned long long)s.segments, (unsigned long long)s.brk_segments,
           (unsigned long long)s.brk_grow.calls, (unsigned long long)s.heap_bytes / 1024,
           (unsigned long long)s.mapped_bytes / 1024);
    CHECK(s.os_failures >= 1, "os_failures = 0 although brk failed");
    CHECK(s.brk_grow.calls >= 1, "no brk growth although the first brk calls succeed");
    CHECK(s.segments > s.brk_segments, "no mmap segments although brk failed (segments %llu, brk %llu)",
          (unsigned long long)s.segments, (unsigned long long)s.brk_segments);
  }
  set_release(&a);
  set_release(&b);
  malloc_trim(0);
  return t_finish("fault_brk midway");
}

static int mode_collide(void) {
  /* get a heap going first */
  struct set pre = {0};
  for (int i = 0; i < 3000; i++) set_add(&pre, 1 + (size_t)i % 300);
  long pg = t_page();
  uintptr_t b = t_brk_now();
  uintptr_t top = (b + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
  unsigned char *m = mmap((void *)top, (size_t)pg, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED) {
    printf("SKIP: cannot map a page at the break %#lx: %s\n", (unsigned long)top, strerror(errno));
    return 77;
  }
  REQUIRE((uintptr_t)m == top, "MAP_FIXED_NOREPLACE gave %p, not %#lx (old kernel?)", (void *)m,
          (unsigned long)top);
  printf("break %#lx; page mapped at %p\n", (unsigned long)b, (void *)m);
  t_fill_tag(m, (size_t)pg, 0xbeef);
  /* the kernel now refuses to move the break up */
  errno = 0;
  REQUIRE(syscall(SYS_brk, top + 16 * (uintptr_t)pg) == (long)b, "the kernel let the break grow into the mapping");
  brk_refused_run(top, top + (uintptr_t)pg, "the page mapped above the break");
  set_verify(&pre, "");
  set_release(&pre);
  malloc_trim(0);
  REQUIRE(t_check_tag(m, (size_t)pg, (size_t)pg, 0xbeef) == (size_t)-1, "the page above the break was changed");
  return t_finish("collide");
}

/* A thread frees most of what it allocated, then waits (alive, idle)
 * without another malloc.  Its free pages can only go back through the
 * background purger: with background_purge=1 the resident memory falls
 * back within a second; without it (the control) it stays up. */
static int idle_pipe[2];
static _Atomic(int) idle_ready;

static void *idle_thread(void *arg) {
  (void)arg;
  enum { N = 64 * 1024 };
  static void *blk[N];
  uintptr_t last_seg = 0;
  for (int i = 0; i < N; i++) { /* 64 MiB in 1 KiB blocks */
    blk[i] = malloc(1024);
    REQUIRE(blk[i], "malloc(1024)");
    memset(blk[i], 1, 1024);
  }
  /* keep the first block of each 4 MiB, so no segment empties: the free
   * pages stay in the thread's own segments */
  for (int i = 0; i < N; i++) {
    uintptr_t seg = (uintptr_t)blk[i] >> 22;
    if (seg != last_seg) {
      last_seg = seg;
      continue;
    }
    free(blk[i]);
  }
  atomic_store(&idle_ready, 1);
  char c;
  ssize_t got = read(idle_pipe[0], &c, 1); /* idle until told to go */
  (void)got;
  return NULL;
}

static int mode_idle(int background) {
  REQUIRE(pipe(idle_pipe) == 0, "pipe");
  size_t rss0 = t_rss();
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, idle_thread, NULL) == 0, "pthread_create");
  while (!atomic_load(&idle_ready)) sleep_ms(1);
  size_t rss1 = t_rss(), rss2 = rss1;
  /* no allocation here meanwhile: the main thread's own heartbeat must not
   * be what purges */
  int waited = 0;
  for (; waited < 1500; waited += 10) {
    sleep_ms(10);
    rss2 = t_rss();
    if (background && rss2 < rss0 + 16 * 1024 * 1024) break;
  }
  REQUIRE(write(idle_pipe[1], "x", 1) == 1, "write");
  pthread_join(t, NULL);
  printf("idle thread: RSS %zu KiB before, %zu KiB after its frees, %zu KiB %d ms later (background_purge=%d)\n",
         rss0 / 1024, rss1 / 1024, rss2 / 1024, waited, background);
  CHECK(rss1 >= rss0 + 48 * 1024 * 1024, "64 MiB of blocks raised RSS by only %zu KiB", (rss1 - rss0) / 1024);
  if (background)
    CHECK(rss2 < rss0 + 16 * 1024 * 1024, "the idle thread's free pages still resident after %d ms: +%zu KiB",
          waited, (rss2 - rss0) / 1024);
  else
    CHECK(rss2 > rss0 + 40 * 1024 * 1024, "without the background purger the idle thread's pages went back "
          "(+%zu KiB): the control does not show what the purger is for", (rss2 - rss0) / 1024);
  return t_finish(background ? "idle background" : "idle control");
}

/* Pages of [from, to) present, from /proc/self/pagemap (bit 63): the
 * kernel's page tables, read independently of the mincore that tidemalloc
 * uses. */
static uint64_t pagemap_resident(uintptr_t from, uintptr_t to) {
  static int fd = -1;
  if (fd < 0) fd = open("/proc/self/pagemap", O_RDONLY);
  REQUIRE(fd >= 0, "open /proc/self/pagemap: %s", strerror(errno));
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uint64_t pages = 0, buf[512];
  for (uintptr_t a = from & ~(page - 1); a < to;) {
    size_t n = (to - a + page - 1) / page;
    if (n > 512) n = 512;
    ssize_t got = pread(fd, buf, n * 8, (off_t)(a / page * 8));
    REQUIRE(got == (ssize_t)(n * 8), "pread pagemap at %#lx", (unsigned long)a);
    for (size_t i = 0; i < n; i++) pages += buf[i] >> 63;
    a += n * page;
  }
  return pages * page;
}

/* tide_stats' resident_bytes against the page tables of the same ranges:
 * the brk heap [heap_start, heap_break) and the big block's mapping. */
static void resident_check(const char *when, const void *big, size_t big_size) {
  struct tide_stats s;
  REQUIRE(stats(&s) == 0, "tide_stats");
  uint64_t truth = pagemap_resident(s.heap_start, s.heap_break);
  if (big) truth += pagemap_resident((uintptr_t)big & ~(uintptr_t)4095, (uintptr_t)big + big_size);
  uint64_t got = s.resident_bytes, diff = got > truth ? got - truth : truth - got;
  uint64_t allowed = (truth > 4 * MiB ? truth : 4 * MiB) / 10;
  printf("%-28s resident_bytes %8llu KiB, page tables %8llu KiB (committed %llu KiB)\n", when,
         (unsigned long long)got / 1024, (unsigned long long)truth / 1024,
         (unsigned long long)s.committed_bytes / 1024);
  CHECK(diff <= allowed, "%s: resident_bytes %llu KiB, but the page tables show %llu KiB resident", when,
        (unsigned long long)got / 1024, (unsigned long long)truth / 1024);
}

/* Freed units of the brk heap below a block still in use go back by
 * madvise after the purge delay, each unit counting from its own free:
 * scratch blocks freed a moment ago must not hold back the 200 MiB freed
 * long before them (bench/frag's settle phase). */
static int mode_churn(void) {
  t_poke(64);
  malloc_trim(0);
  size_t n = 200 * MiB / 64;
  size_t rss0 = t_rss();
  void **v = fill_64(n);
  void *pin = malloc(64); /* at the top: the break cannot come down */
  REQUIRE(pin, "malloc(64)");
  for (size_t i = 0; i < n; i++) free(v[i]);
  munmap(v, n * sizeof *v);
  size_t rss1 = t_rss();
  /* Long past the purge delay, a burst of small calls: the first to look
   * at the clock gives the 200 MiB back, however recently the burst's own
   * scratch blocks went back to the pool. */
  sleep_ms(250);
  /* a big block from the pool's units (below the threshold), freed: its
   * units have waited no time at all */
  REQUIRE(mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1, "mallopt(M_MMAP_THRESHOLD)");
  void *big = malloc(8 * MiB);
  REQUIRE(big, "malloc(8 MiB)");
  memset(big, 3, 8 * MiB);
  free(big);
  for (int i = 0; i < 100; i++) {
    void *a = malloc(64), *b = malloc(4000), *c = malloc(100000);
    REQUIRE(a && b && c, "malloc");
    memset(c, 2, 100000);
    free(c);
    free(b);
    free(a);
  }
  size_t rss2 = t_rss();
  printf("RSS: start %zu KiB, %zu KiB after freeing 200 MiB below a live block, %zu KiB after a pause "
         "and 100 rounds of small calls\n", rss0 / 1024, rss1 / 1024, rss2 / 1024);
  CHECK(rss1 > rss0 + 150 * MiB, "RSS fell at once (+%zu KiB): nothing to wait for", (rss1 - rss0) / 1024);
  /* the 8 MiB block, freed a moment ago, may wait its own delay */
  CHECK(rss2 <= rss0 + 24 * MiB, "the freed 200 MiB still resident after the pause: +%zu KiB",
        (rss2 - rss0) / 1024);
  free(pin);
  return t_finish("churn");
}

/* The spare a heap holds while its free pages wait out the purge delay:
 * in a small program (allocated peak under 32 MiB) at most a quarter of the
 * peak, or 1 MiB, so freeing 6 MiB gives most of it back at once, long
 * before the delay (60 s here) is over; in a larger one (40 MiB) what was
 * freed stays resident for the delay, to be taken again without faults.
 * Blocks of 1000 bytes with one still in use above them: the break cannot
 * come down, so what falls is given back by madvise. */
static int mode_spare(int large) {
  size_t total = (large ? 40 : 6) * MiB, n = total / 1000;
  t_poke(64);
  void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(v != MAP_FAILED, "mmap");
  size_t rss0 = t_rss();
  for (size_t i = 0; i < n; i++) {
    v[i] = malloc(1000);
    REQUIRE(v[i], "malloc(1000) failed at %zu", i);
    memset(v[i], (int)(i & 0x7f) + 1, 1000);
  }
  void *pin = malloc(1000); /* the last page of the class: it stays */
  REQUIRE(pin, "malloc(1000)");
  size_t rss1 = t_rss();
  for (size_t i = 0; i < n; i++) free(v[i]);
  /* The program goes on: its heartbeats look at what the heap holds. */
  for (int i = 0; i < 200; i++) activity();
  size_t rss2 = t_rss();
  printf("RSS: start %zu KiB, %zu KiB with %zu MiB in use, %zu KiB after freeing it and 200 rounds of "
         "small calls (purge delay 60 s)\n", rss0 / 1024, rss1 / 1024, total / MiB, rss2 / 1024);
  CHECK(rss1 >= rss0 + total * 9 / 10, "the blocks were not resident (+%zu KiB)", (rss1 - rss0) / 1024);
  if (large)
    CHECK(rss2 >= rss0 + total * 3 / 4, "a program with a 40 MiB peak gave its spare back before the "
          "purge delay: +%zu KiB resident", rss2 > rss0 ? (rss2 - rss0) / 1024 : 0);
  else
    CHECK(rss2 <= rss0 + 2 * MiB, "a program with a 6 MiB peak holds %zu KiB of freed memory (at most "
          "a quarter of its peak, or 1 MiB, and activity's own blocks)", rss2 > rss0 ? (rss2 - rss0) / 1024 : 0);
  free(pin);
  munmap(v, n * sizeof *v);
  return t_finish(large ? "spare-large" : "spare");
}

/* A small program that cycles a working set larger than that spare: 6 MiB
 * of 1000-byte blocks made, written and freed, 60 times over (peak 6 MiB,
 * so a budget of 1.5 MiB).  Giving back the 4.5 MiB above the budget at
 * each cycle would fault it in again at the next, some 1,100 faults a
 * cycle; what is given back and taken again at once (more than 128 MiB a
 * second) doubles the budget instead, so the later cycles fault little. */
static int mode_cycle(void) {
  enum { CYCLES = 60, LATE = 40 };
  size_t total = 6 * MiB, n = total / 1000;
  t_poke(64);
  void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(v != MAP_FAILED, "mmap");
  void *pin = NULL;
  long late_faults = 0;
  for (int c = 0; c < CYCLES; c++) {
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    for (size_t i = 0; i < n; i++) {
      v[i] = malloc(1000);
      REQUIRE(v[i], "malloc(1000) failed at %zu", i);
      memset(v[i], (int)(i & 0x7f) + 1, 1000);
    }
    if (pin == NULL) pin = malloc(1000); /* the break cannot come down */
    REQUIRE(pin, "malloc(1000)");
    for (size_t i = 0; i < n; i++) {
      REQUIRE(((unsigned char *)v[i])[999] == (i & 0x7f) + 1, "block %zu lost its contents", i);
      free(v[i]);
    }
    for (int i = 0; i < 20; i++) activity();
    getrusage(RUSAGE_SELF, &r1);
    if (c >= CYCLES - LATE) late_faults += r1.ru_minflt - r0.ru_minflt;
  }
  long pages = (long)(total / 4096) * LATE;
  printf("page faults in the last %d of %d cycles of 6 MiB: %ld (%ld pages written)\n", LATE, CYCLES,
         late_faults, pages);
  CHECK(late_faults * 10 <= pages, "a small program cycling 6 MiB faulted %ld times in %d cycles: its "
        "spare went back at every cycle, to be taken again at the next", late_faults, LATE);
  free(pin);
  munmap(v, n * sizeof *v);
  return t_finish("cycle");
}

/* The last page of a size class, emptied again and again, waits a whole
 * purge delay without use before it goes back (heap.c,
 * heap_free_kept_pages): a class used every few milliseconds keeps its
 * page resident, with no page faults, while a live block of another class
 * keeps the segment in use; and once the class is no longer used, its page
 * goes back within a few delays (the page tables, not tidemalloc, say
 * so).  Freeing the page at every purge that found it empty made it again
 * at the next malloc, on another slice (this test saw a new page in 109 of
 * its 120 rounds). */
static void kept_pairs(int n) {
  for (int i = 0; i < n; i++) {
    void *volatile q = malloc(200); /* the last page of its class too */
    REQUIRE(q, "malloc(200)");
    free(q);
  }
}

static int mode_kept(void) {
  void *anchor = malloc(100); /* another class's live block */
  REQUIRE(anchor, "malloc(100)");
  memset(anchor, 1, 100);
  const size_t size = 5000;
  char *block = malloc(size);
  REQUIRE(block, "malloc(%zu)", size);
  memset(block, 2, size);
  uintptr_t first = (uintptr_t)block; /* an address only, from here on */
  free(block);
  kept_pairs(1000);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  long moved = 0, rounds = 0;
  for (; rounds < 120; rounds++) { /* 120 x 5 ms: a dozen purge delays */
    char *p = malloc(size);
    REQUIRE(p, "malloc(%zu)", size);
    memset(p, 3, size);
    if ((uintptr_t)p >> 16 != first >> 16) moved++; /* another slice: a new page */
    free(p);
    kept_pairs(200); /* heartbeats: 64 frees each */
    sleep_ms(5);
  }
  getrusage(RUSAGE_SELF, &r1);
  long faults = r1.ru_minflt - r0.ru_minflt;
  printf("%ld rounds of a %zu-byte block on its class's last page: %ld page faults, %ld new pages\n",
         rounds, size, faults, moved);
  CHECK(moved <= 2 && faults <= 8,
        "a page used every 5 ms was given back and made again: %ld new pages, %ld page faults in %ld rounds",
        moved, faults, rounds);
  /* Unused now: its page goes back, and its memory leaves the page tables. */
  uintptr_t at = first & ~(uintptr_t)4095;
  uint64_t resident = 0;
  for (int i = 0; i < 100; i++) {
    kept_pairs(200);
    sleep_ms(10);
    resident = pagemap_resident(at, at + 8192);
    if (resident == 0) break;
  }
  printf("the idle class's block: %llu bytes resident after waiting\n", (unsigned long long)resident);
  CHECK(resident == 0, "the last page of a class unused for a second is still resident (%llu bytes at %#lx)",
        (unsigned long long)resident, (unsigned long)first);
  free(anchor);
  return t_finish("kept");
}

static int mode_resident(void) {
  enum { N = 400000 };
  static void *v[N];
  t_poke(64);
  for (int i = 0; i < N; i++) {
    v[i] = malloc(100);
    REQUIRE(v[i], "malloc(100)");
    memset(v[i], 1, 100);
  }
  size_t big_size = 64 * MiB;
  char *big = malloc(big_size);
  REQUIRE(big, "malloc(64 MiB)");
  memset(big, 2, big_size / 2); /* half of it touched: the rest is not resident */
  resident_check("allocated", big, big_size);
  for (int i = 0; i < N; i += 2) free(v[i]);
  resident_check("every other block freed", big, big_size);
  free(big);
  for (int i = 1; i < N; i += 2) free(v[i]);
  resident_check("all freed", NULL, 0);
  /* purged by the allocator's own clock (madvise; the break may stay) */
  for (int i = 0; i < 40; i++) {
    sleep_ms(25);
    activity();
  }
  resident_check("after the purge delay", NULL, 0);
  malloc_trim(0);
  resident_check("after malloc_trim", NULL, 0);
  return t_finish("resident");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: os MODE\n");
    return 2;
  }
  tide = t_expect_tide();
  const char *m = argv[1];
  const char *arg = argc > 2 ? argv[2] : "";
  if (!strcmp(m, "small")) return mode_small();
  if (!strcmp(m, "large")) return mode_large();
  if (!strcmp(m, "mremap")) return mode_mremap();
  if (!strcmp(m, "trace")) return mode_trace();
  if (!strcmp(m, "trim")) return mode_trim(!strcmp(arg, "auto"));
  if (!strcmp(m, "pin")) return mode_pin(!strcmp(arg, "delayed"));
  if (!strcmp(m, "sbrk")) return mode_sbrk();
  if (!strcmp(m, "fault")) return mode_fault();
  if (!strcmp(m, "collide")) return mode_collide();
  if (!strcmp(m, "faultmid")) return mode_faultmid();
  if (!strcmp(m, "resident")) return mode_resident();
  if (!strcmp(m, "churn")) return mode_churn();
  if (!strcmp(m, "spare")) return mode_spare(!strcmp(arg, "large"));
  if (!strcmp(m, "cycle")) return mode_cycle();
  if (!strcmp(m, "kept")) return mode_kept();
  if (!strcmp(m, "idle")) return mode_idle(!strcmp(arg, "background"));
  fprintf(stderr, "unknown mode %s\n", m);
  return 2;
}

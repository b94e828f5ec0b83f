/* SPDX-License-Identifier: MIT */
/* Options and statistics, from a program linked with -ltidemalloc.
 * usage: opts MODE [args]
 *   get NAME...      allocate a little, then print NAME=value (tide_option_get)
 *   mallopt          mallopt / tide_option_set / tide_option_get agree, and
 *                    the threshold decides heap or mapping (checks itself)
 *   work             the accounting run for strace: markers written with
 *                    write(2) to stdout around the work, then the deltas of
 *                    tide_stats as "delta NAME VALUE" lines; checks
 *                    allocated_bytes and the call counts itself
 *   views FILE       malloc_info(0) into FILE, malloc_stats() on stderr, and
 *                    the tide_stats it should agree with on stdout
 *   exit N           N mallocs (half freed), print what was done, exit; for
 *                    stats=... at exit
 */
#include "common.h"

static const size_t KiB = 1024, MiB = 1024 * 1024;

static struct tide_stats st(void) {
  struct tide_stats s;
  memset(&s, 0, sizeof s);
  s.version = TIDE_STATS_VERSION;
  s.size = sizeof s;
  REQUIRE(tide_stats(&s) == 0, "tide_stats failed");
  return s;
}

static long long opt(const char *name) {
  long long v = -12345;
  REQUIRE(tide_option_get(name, &v) == 0, "tide_option_get(%s) failed", name);
  return v;
}

static void mark(const char *s) {
  size_t n = strlen(s);
  REQUIRE(write(1, s, n) == (ssize_t)n, "write");
}

static int mode_get(int argc, char **argv) {
  void *v[200];
  for (int i = 0; i < 200; i++) {
    v[i] = malloc((size_t)(i * 37 % 3000) + 1);
    memset(v[i], 1, 1);
  }
  for (int i = 0; i < 200; i++) free(v[i]);
  for (int i = 2; i < argc; i++) {
    long long val = 0;
    if (tide_option_get(argv[i], &val) == 0)
      printf("%s=%lld\n", argv[i], val);
    else
      printf("%s=?\n", argv[i]);
  }
  return 0;
}

/* Is p in the brk heap (as tide_stats sees it)? */
static int in_heap(const void *p) {
  struct tide_stats s = st();
  return (uintptr_t)p >= s.heap_start && (uintptr_t)p < s.heap_break;
}

static void expect_placement(size_t n, int mapped, const char *why) {
  struct tide_stats s0 = st();
  void *volatile p = malloc(n);
  REQUIRE(p, "malloc(%zu)", n);
  memset(p, 3, n);
  struct tide_stats s1 = st();
  if (mapped) {
    CHECK(s1.huge_blocks == s0.huge_blocks + 1, "%s: malloc(%zu) is not a mapped block (huge_blocks %llu -> %llu)",
          why, n, (unsigned long long)s0.huge_blocks, (unsigned long long)s1.huge_blocks);
    CHECK(!in_heap(p), "%s: malloc(%zu) = %p lies in the brk heap", why, n, p);
  } else {
    CHECK(s1.huge_blocks == s0.huge_blocks, "%s: malloc(%zu) got a mapping (huge_blocks %llu -> %llu)", why, n,
          (unsigned long long)s0.huge_blocks, (unsigned long long)s1.huge_blocks);
    CHECK(in_heap(p), "%s: malloc(%zu) = %p is not in the brk heap", why, n, p);
  }
  free(p);
  struct tide_stats s2 = st();
  CHECK(s2.huge_blocks == s0.huge_blocks, "%s: huge_blocks %llu after free, was %llu", why,
        (unsigned long long)s2.huge_blocks, (unsigned long long)s0.huge_blocks);
}

static int mode_mallopt(void) {
  /* defaults, untouched */
  CHECK(opt("mmap_threshold") == 128 * 1024, "default mmap_threshold %lld", opt("mmap_threshold"));
  expect_placement(512 * KiB, 1, "default threshold 128K");
  /* glibc's dynamic rule: freeing a mapped block above the threshold raises
   * it to the block's chunk size (the request, its header, rounded to a
   * page: 528384 for malloc(512K), in glibc too), and trim_threshold to
   * twice that; the same request then comes from the heap */
  long long thr = opt("mmap_threshold");
  CHECK(thr > 512 * 1024 && thr <= 512 * 1024 + 4096 && opt("trim_threshold") == 2 * thr,
        "after freeing a 512 KiB mapped block: mmap_threshold %lld, trim_threshold %lld (want 512K + header, twice "
        "that)", thr, opt("trim_threshold"));
  expect_placement(512 * KiB, 0, "dynamic threshold raised to 512K + header");
  expect_placement(400 * KiB, 0, "dynamic threshold raised to 512K");
  expect_placement(100 * KiB, 0, "default threshold 128K");

  CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1, "mallopt(M_MMAP_THRESHOLD, 1M) did not return 1");
  CHECK(opt("mmap_threshold") == 1 << 20, "after mallopt(M_MMAP_THRESHOLD, 1M): %lld", opt("mmap_threshold"));
  expect_placement(512 * KiB, 0, "mmap_threshold=1M by mallopt");
  expect_placement(2 * MiB, 1, "mmap_threshold=1M by mallopt");
  /* fixed: freeing a big mapped block does not move it */
  CHECK(opt("mmap_threshold") == 1 << 20, "mmap_threshold moved to %lld after a free with a fixed threshold",
        opt("mmap_threshold"));

  CHECK(tide_option_set("mmap_threshold", 256 * 1024) == 0, "tide_option_set(mmap_threshold, 256K)");
  CHECK(opt("mmap_threshold") == 256 * 1024, "after tide_option_set(256K): %lld", opt("mmap_threshold"));
  expect_placement(300 * KiB, 1, "mmap_threshold=256K by tide_option_set");
  expect_placement(200 * KiB, 0, "mmap_threshold=256K by tide_option_set");

  CHECK(mallopt(M_TRIM_THRESHOLD, 256 * 1024) == 1 && opt("trim_threshold") == 256 * 1024,
        "mallopt(M_TRIM_THRESHOLD, 256K): trim_threshold %lld", opt("trim_threshold"));
  CHECK(mallopt(M_TOP_PAD, 64 * 1024) == 1 && opt("top_pad") == 64 * 1024, "mallopt(M_TOP_PAD, 64K): top_pad %lld",
        opt("top_pad"));
  CHECK(mallopt(M_MMAP_MAX, 0) == 1 && opt("mmap_max") == 0, "mallopt(M_MMAP_MAX, 0): mmap_max %lld", opt("mmap_max"));
  /* no block gets a mapping of its own: as in glibc, even one too big for
   * a segment comes from the brk heap (a span of units) */
  expect_placement(1 * MiB, 0, "mmap_max=0");
  expect_placement(8 * MiB, 0, "mmap_max=0, a block bigger than a segment");
  CHECK(mallopt(M_MMAP_MAX, 100) == 1 && opt("mmap_max") == 100, "mallopt(M_MMAP_MAX, 100): mmap_max %lld",
        opt("mmap_max"));
  /* and tide_option_set is seen the same way */
  CHECK(tide_option_set("top_pad", 0) == 0 && opt("top_pad") == 0, "tide_option_set(top_pad, 0)");
  CHECK(tide_option_set("trim_threshold", 1 << 30) == 0 && opt("trim_threshold") == 1 << 30,
        "tide_option_set(trim_threshold, 1G)");

  /* bad values and unknown parameters: 0, nothing changes */
  CHECK(mallopt(M_MMAP_THRESHOLD, 64 << 20) == 0, "mallopt(M_MMAP_THRESHOLD, 64M) (above 32M) did not return 0");
  CHECK(opt("mmap_threshold") == 256 * 1024, "a refused mallopt changed mmap_threshold to %lld",
        opt("mmap_threshold"));
  CHECK(mallopt(12345, 1) == 0, "mallopt(12345, 1) did not return 0");
  CHECK(mallopt(0, 1) == 0, "mallopt(0, 1) did not return 0");
  errno = 0;
  long long v;
  CHECK(tide_option_set("no_such_option", 1) == -1 && errno == EINVAL, "tide_option_set(unknown) did not fail");
  errno = 0;
  CHECK(tide_option_get("no_such_option", &v) == -1 && errno == EINVAL, "tide_option_get(unknown) did not fail");
  errno = 0;
  CHECK(tide_option_set("purge_delay_ms", -2) == -1 && errno == EINVAL, "tide_option_set(purge_delay_ms, -2) accepted");
  CHECK(opt("purge_delay_ms") == 50, "purge_delay_ms %lld after a refused set", opt("purge_delay_ms"));

  /* glibc documents mallopt(M_TRIM_THRESHOLD, -1) as "disable trimming" and
   * returns 1 for it; programs use it. */
  CHECK(mallopt(M_TRIM_THRESHOLD, -1) == 1, "mallopt(M_TRIM_THRESHOLD, -1) (glibc: disables trimming) returned 0");
  CHECK(opt("trim_threshold") != 1 << 30, "mallopt(M_TRIM_THRESHOLD, -1) left trim_threshold at %lld",
        opt("trim_threshold"));
  return t_finish("opts mallopt");
}

/* The accounting run watched by strace. */
#define NSMALL 20000
static int mode_work(void) {
  static void *small[NSMALL];
  static size_t small_n[NSMALL];
  void *big[6];
  size_t big_n[6] = {1 * MiB, 2 * MiB, 3 * MiB + 5, 4 * MiB, 6 * MiB, 8 * MiB};
  unsigned long long mallocs = 0, frees = 0, reallocs = 0, reallocs_moved = 0;
  size_t live = 0;
  struct tide_stats a = st();
  mark("TIDE_OPTIONS_BEGIN\n");
  for (int i = 0; i < NSMALL; i++) {
    size_t n = 16 + (size_t)(t_mix((uint64_t)i) % 2000);
    small[i] = i % 10 == 0 ? calloc(1, n) : malloc(n);
    REQUIRE(small[i], "malloc(%zu)", n);
    memset(small[i], 1, n);
    small_n[i] = n;
    live += n;
    mallocs++;
  }
  for (int i = 0; i < 6; i++) {
    big[i] = malloc(big_n[i]);
    REQUIRE(big[i], "malloc(%zu)", big_n[i]);
    memset(big[i], 2, big_n[i]);
    live += big_n[i];
    mallocs++;
  }
  /* reallocs: small ones grow (they move), big ones grow and shrink (mremap) */
  for (int i = 0; i < NSMALL; i += 10) {
    void *old = small[i];
    size_t n = small_n[i] * 2 + 100;
    small[i] = realloc(small[i], n);
    REQUIRE(small[i], "realloc(%zu)", n);
    live += n - small_n[i];
    small_n[i] = n;
    reallocs++;
    reallocs_moved += small[i] != old;
  }
  big[0] = realloc(big[0], 5 * MiB);
  REQUIRE(big[0], "realloc 1 MiB -> 5 MiB");
  live += 4 * MiB;
  big_n[0] = 5 * MiB;
  big[5] = realloc(big[5], 2 * MiB);
  REQUIRE(big[5], "realloc 8 MiB -> 2 MiB");
  live -= 6 * MiB;
  big_n[5] = 2 * MiB;
  reallocs += 2;
  /* a pin above them: trimming must give back the free pages below it */
  void *pin = malloc(60000);
  REQUIRE(pin, "malloc(60000)");
  memset(pin, 3, 60000);
  live += 60000;
  mallocs++;
  struct tide_stats m = st();
  /* free half the small ones, every big one, the rest of the small ones */
  for (int i = 0; i < NSMALL; i += 2) free(small[i]), frees++;
  for (int i = 0; i < 6; i++) free(big[i]), frees++;
  for (int i = 1; i < NSMALL; i += 2) free(small[i]), frees++;
  malloc_trim(0);
  free(pin), frees++;
  malloc_trim(0);
  mark("TIDE_OPTIONS_END\n");
  struct tide_stats b = st();

  printf("delta brk %llu\n", (unsigned long long)(b.brk_grow.calls + b.brk_shrink.calls - a.brk_grow.calls -
                                                   a.brk_shrink.calls));
  printf("delta mmap %llu\n", (unsigned long long)(b.mmap.calls - a.mmap.calls));
  printf("delta munmap %llu\n", (unsigned long long)(b.munmap.calls - a.munmap.calls));
  printf("delta mremap %llu\n", (unsigned long long)(b.mremap.calls - a.mremap.calls));
  printf("delta madvise %llu\n", (unsigned long long)(b.madvise.calls - a.madvise.calls));
  printf("delta os_failures %llu\n", (unsigned long long)(b.os_failures - a.os_failures));
  long long grown = (long long)(m.allocated_bytes - a.allocated_bytes);
  printf("allocated: start %llu, with %zu bytes live %llu (+%lld), after freeing %llu\n",
         (unsigned long long)a.allocated_bytes, live, (unsigned long long)m.allocated_bytes, grown,
         (unsigned long long)b.allocated_bytes);
  CHECK(grown >= (long long)live, "allocated_bytes grew by %lld, less than the %zu bytes live", grown, live);
  CHECK(grown <= (long long)(live + live / 4 + MiB), "allocated_bytes grew by %lld, more than %zu + 25%% + 1 MiB",
        grown, live);
  CHECK(b.allocated_bytes == a.allocated_bytes, "allocated_bytes %llu after freeing everything, %llu before",
        (unsigned long long)b.allocated_bytes, (unsigned long long)a.allocated_bytes);
  CHECK(m.huge_blocks == a.huge_blocks + 6 && b.huge_blocks == a.huge_blocks, "huge_blocks %llu -> %llu -> %llu",
        (unsigned long long)a.huge_blocks, (unsigned long long)m.huge_blocks, (unsigned long long)b.huge_blocks);
  unsigned long long mc = b.malloc_calls - a.malloc_calls, fc = b.free_calls - a.free_calls;
  printf("malloc_calls +%llu for %llu malloc/calloc + %llu realloc (%llu moved); free_calls +%llu for %llu free\n",
         mc, mallocs, reallocs, reallocs_moved, fc, frees);
  CHECK(mc >= mallocs + reallocs, "malloc_calls grew by %llu for %llu malloc/calloc and %llu realloc calls", mc,
        mallocs, reallocs);
  CHECK(fc >= frees, "free_calls grew by %llu for %llu free calls", fc, frees);
  CHECK(b.requested_bytes - a.requested_bytes >= live, "requested_bytes grew by %llu, less than the %zu bytes live",
        (unsigned long long)(b.requested_bytes - a.requested_bytes), live);
  return t_finish("opts work");
}

static int mode_views(const char *path) {
  /* a block in every size class (each class's page then has free blocks
   * too), and two big ones */
  static void *keep[TIDE_SIZE_CLASS_MAX];
  int nk = 0;
  struct tide_stats s0 = st();
  REQUIRE(s0.class_count > 0 && s0.class_count <= TIDE_SIZE_CLASS_MAX, "class_count %u", s0.class_count);
  for (uint32_t i = 0; i < s0.class_count; i++) {
    size_t n = s0.classes[i].block_size;
    if (n >= 128 * KiB) n = 128 * KiB - 1; /* below the mmap threshold */
    void *a = malloc(n);
    REQUIRE(a, "malloc(%zu)", n);
    memset(a, 1, n);
    keep[nk++] = a;
  }
  void *big1 = malloc(3 * MiB), *big2 = malloc(1 * MiB);
  REQUIRE(big1 && big2, "big malloc");
  memset(big1, 1, 3 * MiB);
  memset(big2, 1, MiB);
  FILE *f = fopen(path, "w");
  REQUIRE(f, "fopen(%s)", path);
  REQUIRE(malloc_info(0, f) == 0, "malloc_info(0, f) failed");
  fclose(f);
  errno = 0;
  CHECK(malloc_info(1, stdout) == -1 && errno == EINVAL, "malloc_info(1, ...) did not fail with EINVAL");
  struct tide_stats s = st();
  struct mallinfo2 mi = mallinfo2();
  malloc_stats();
  printf("huge_blocks %llu\nhuge_bytes %llu\ncommitted_bytes %llu\nallocated_bytes %llu\n",
         (unsigned long long)s.huge_blocks, (unsigned long long)s.huge_bytes, (unsigned long long)s.committed_bytes,
         (unsigned long long)s.allocated_bytes);
  CHECK(mi.hblks == s.huge_blocks && mi.hblkhd == s.huge_bytes, "mallinfo2 hblks %zu hblkhd %zu, tide_stats %llu %llu",
        mi.hblks, mi.hblkhd, (unsigned long long)s.huge_blocks, (unsigned long long)s.huge_bytes);
  CHECK(mi.arena == s.committed_bytes, "mallinfo2 arena %zu, committed_bytes %llu", mi.arena,
        (unsigned long long)s.committed_bytes);
  CHECK(mi.uordblks + mi.hblkhd == s.allocated_bytes, "mallinfo2 uordblks %zu + hblkhd %zu != allocated_bytes %llu",
        mi.uordblks, mi.hblkhd, (unsigned long long)s.allocated_bytes);
  CHECK(s.huge_blocks >= 2 && s.huge_bytes >= 4 * MiB, "huge_blocks %llu huge_bytes %llu with 2 big blocks live",
        (unsigned long long)s.huge_blocks, (unsigned long long)s.huge_bytes);
  fflush(stdout);
  for (int i = 0; i < nk; i++) free(keep[i]);
  free(big1);
  free(big2);
  return t_finish("opts views");
}

static int mode_exit(long n) {
  void **v = malloc((size_t)n * sizeof *v);
  REQUIRE(v, "malloc");
  size_t held = 0;
  for (long i = 0; i < n; i++) {
    size_t sz = 1 + (size_t)(i * 131 % 5000);
    v[i] = malloc(sz);
    REQUIRE(v[i], "malloc(%zu)", sz);
    memset(v[i], 1, sz);
    if (i % 2) free(v[i]);
    else held += sz;
  }
  printf("pid %d\nmallocs %ld\nfrees %ld\nheld %zu\n", (int)getpid(), n + 1, n / 2, held);
  fflush(stdout);
  return 0; /* the even blocks stay live until exit */
}

int main(int argc, char **argv) {
  t_expect_tide();
  REQUIRE(argc >= 2, "usage: opts MODE [args]");
  if (!strcmp(argv[1], "get")) return mode_get(argc, argv);
  if (!strcmp(argv[1], "mallopt")) return mode_mallopt();
  if (!strcmp(argv[1], "work")) return mode_work();
  if (!strcmp(argv[1], "views") && argc == 3) return mode_views(argv[2]);
  if (!strcmp(argv[1], "exit") && argc == 3) return mode_exit(atol(argv[2]));
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}

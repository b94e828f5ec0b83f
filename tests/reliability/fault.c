/* SPDX-License-Identifier: MIT */
/* A fixed workload for fault injection (tests/reliability: fault/sweep).
 *
 * Run with TIDEMALLOC_OPTIONS=fault_at=N[,fault_kind=K]: the Nth OS call
 * (brk, mmap, mremap or madvise; of kind K only if given) fails once with
 * ENOMEM.  The workload is deterministic: mixed sizes from 1 byte to 8 MiB,
 * realloc growth and shrinking across the mmap threshold, calloc, aligned
 * allocations, frees and trims, every block filled with a pattern.
 *
 * A call may return NULL (errno ENOMEM; posix_memalign: ENOMEM returned)
 * and that is counted, not an error; after it every live block is checked,
 * a failed realloc's block must be intact and still usable, and the same
 * request is made again and must succeed (the fault fails one call only).
 * With --no-null (fault_kind=brk: a brk failure must fall back to mmap) any
 * NULL is an error.  Any corruption, misalignment, non-zero calloc byte or
 * crash is an error.
 *
 * The last line on stdout is
 *   fault-run: ops=.. nulls=.. os_failures=.. attempts=.. all=.. brk=.. mmap=.. mremap=.. madvise=..
 * where the per-kind numbers count the successful calls of each kind and
 * attempts is an upper bound on the calls fault_at counted (successful
 * calls of the kind, plus every failure), so that the driver knows when N
 * has passed the last call. */
#include "common.h"

#include <stdbool.h>

#define SLOTS 96

typedef struct blk {
  unsigned char *p;
  size_t size;
  size_t align;
  uint64_t tag;
} blk;

static blk live[SLOTS];
static uint64_t gen;
static long nulls, ops;
static int no_null;
static t_rng rng = {0x9e3779b97f4a7c15ULL};

static uint64_t rnd(void) { return t_rand(&rng); }

static size_t pick_size(void) {
  unsigned r = (unsigned)(rnd() % 1000);
  if (r < 550) return 1 + rnd() % 512;
  if (r < 800) return 513 + rnd() % (16 << 10);
  if (r < 900) return (16 << 10) + rnd() % (120 << 10);
  if (r < 960) return (120 << 10) + rnd() % (900 << 10); /* the threshold */
  if (r < 990) return (1 << 20) + rnd() % (3 << 20);
  return (4 << 20) + rnd() % (4 << 20);                  /* up to 8 MiB */
}

static void check_one(int i, const char *when) {
  blk *b = &live[i];
  if (!b->p) return;
  size_t bad = t_check_tag(b->p, b->size, b->size, b->tag);
  REQUIRE(bad == (size_t)-1, "%s: slot %d block %p (%zu bytes): byte %zu changed (op %ld)",
          when, i, (void *)b->p, b->size, bad, ops);
}

static void check_all(const char *when) {
  for (int i = 0; i < SLOTS; i++) check_one(i, when);
}

static void fill(int i, void *p, size_t size, size_t align) {
  blk *b = &live[i];
  b->p = p;
  b->size = size;
  b->align = align;
  b->tag = ++gen * 0x100000001b3ULL + (uint64_t)i;
  REQUIRE(((uintptr_t)p & 15) == 0, "%p is not 16-byte aligned (op %ld)", p, ops);
  if (align) REQUIRE(((uintptr_t)p & (align - 1)) == 0, "%p is not aligned to %zu (op %ld)", p, align, ops);
  REQUIRE(malloc_usable_size(p) >= size, "usable size %zu < %zu (op %ld)", malloc_usable_size(p), size, ops);
  t_fill_tag(p, size, b->tag);
}

static void drop(int i) {
  if (!live[i].p) return;
  check_one(i, "before free");
  free(live[i].p);
  live[i].p = NULL;
}

/* A call returned NULL: fine once; everything live must be intact. */
static void failed(const char *what, size_t size, int err) {
  nulls++;
  fprintf(stderr, "op %ld: %s(%zu) failed (errno %d)\n", ops, what, size, err);
  REQUIRE(!no_null, "%s(%zu) returned NULL, but a brk failure must fall back to mmap (op %ld)", what, size, ops);
  REQUIRE(err == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM (op %ld)", what, size, err, ops);
  check_all("after a failed call");
}

static void *must(void *p, const char *what, size_t size) {
  REQUIRE(p != NULL, "%s(%zu) failed again: the fault fails one call only (op %ld)", what, size, ops);
  return p;
}

static void op_malloc(int i) {
  drop(i);
  size_t n = pick_size();
  errno = 0;
  void *p = malloc(n);
  if (!p) {
    failed("malloc", n, errno);
    p = must(malloc(n), "malloc", n);
  }
  fill(i, p, n, 0);
}

static void op_calloc(int i) {
  drop(i);
  size_t n = pick_size(), count = 1 + rnd() % 8;
  n = n / count + 1;
  errno = 0;
  unsigned char *p = calloc(count, n);
  if (!p) {
    failed("calloc", count * n, errno);
    p = must(calloc(count, n), "calloc", count * n);
  }
  for (size_t k = 0; k < count * n; k++)
    REQUIRE(p[k] == 0, "calloc(%zu, %zu) = %p: byte %zu is not zero (op %ld)", count, n, (void *)p, k, ops);
  fill(i, p, count * n, 0);
}

static void op_realloc(int i) {
  blk *b = &live[i];
  size_t n;
  unsigned r = (unsigned)(rnd() % 4);
  if (!b->p || r == 0)
    n = pick_size();
  else if (r == 1)
    n = b->size + b->size / 2 + 1;                         /* grow */
  else if (r == 2)
    n = b->size / 3 + 1;                                   /* shrink */
  else
    n = b->size + (rnd() % (1 << 20));                     /* grow, maybe a lot */
  if (n > ((size_t)8 << 20)) n = (size_t)8 << 20;
  check_one(i, "before realloc");
  errno = 0;
  unsigned char *q = realloc(b->p, n);
  if (!q) {
    failed("realloc", n, errno);
    check_one(i, "the block of a failed realloc"); /* untouched, still ours */
    q = must(realloc(b->p, n), "realloc", n);
  }
  if (b->p) {
    size_t keep = b->size < n ? b->size : n;
    size_t bad = t_check_tag(q, b->size, keep, b->tag);
    REQUIRE(bad == (size_t)-1, "realloc(%p, %zu -> %zu) = %p: byte %zu not kept (op %ld)",
            (void *)b->p, b->size, n, (void *)q, bad, ops);
  }
  b->p = NULL;
  fill(i, q, n, 0);
}

static void op_aligned(int i) {
  drop(i);
  size_t align = (size_t)16 << (rnd() % 13); /* 16 .. 64 KiB */
  if (rnd() % 16 == 0) align = (size_t)1 << 20;
  size_t n = pick_size();
  void *p = NULL;
  int kind = (int)(rnd() % 3);
  errno = 0;
  if (kind == 0) {
    n = (n + align - 1) / align * align;
    p = aligned_alloc(align, n);
    if (!p) {
      failed("aligned_alloc", n, errno);
      p = must(aligned_alloc(align, n), "aligned_alloc", n);
    }
  } else if (kind == 1) {
    int saved = errno = 12345;
    int rc = posix_memalign(&p, align, n);
    REQUIRE(errno == saved, "posix_memalign changed errno (op %ld)", ops);
    if (rc) {
      failed("posix_memalign", n, rc);
      rc = posix_memalign(&p, align, n);
      must(rc == 0 ? p : NULL, "posix_memalign", n);
    }
  } else {
    p = memalign(align, n);
    if (!p) {
      failed("memalign", n, errno);
      p = must(memalign(align, n), "memalign", n);
    }
  }
  fill(i, p, n, align);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0); /* stdio must not allocate mid-run */
  long rounds = 2500;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--no-null"))
      no_null = 1;
    else
      rounds = atol(argv[a]);
  }
  t_expect_tide();

  for (ops = 0; ops < rounds; ops++) {
    int i = (int)(rnd() % SLOTS);
    unsigned r = (unsigned)(rnd() % 100);
    if (r < 30)
      op_malloc(i);
    else if (r < 40)
      op_calloc(i);
    else if (r < 60)
      op_realloc(i);
    else if (r < 70)
      op_aligned(i);
    else if (r < 98)
      drop(i);
    else if (r < 99)
      malloc_trim(0);
    else
      check_all("periodic check");
  }
  check_all("at the end");
  /* Everything can still be freed and allocated again. */
  for (int i = 0; i < SLOTS; i++) drop(i);
  malloc_trim(0);
  for (int i = 0; i < 8; i++) op_malloc(i);
  check_all("after the last allocations");
  for (int i = 0; i < SLOTS; i++) drop(i);

  struct tide_stats s;
  REQUIRE(t_stats(&s) == 0, "tide_stats failed");
  unsigned long long brk = s.brk_grow.calls + s.brk_shrink.calls;
  unsigned long long all = brk + s.mmap.calls + s.mremap.calls + s.madvise.calls;
  printf("fault-run: ops=%ld nulls=%ld os_failures=%llu attempts=%llu all=%llu brk=%llu mmap=%llu mremap=%llu madvise=%llu\n",
         ops, nulls, (unsigned long long)s.os_failures, all + (unsigned long long)s.os_failures,
         all, brk, (unsigned long long)s.mmap.calls, (unsigned long long)s.mremap.calls,
         (unsigned long long)s.madvise.calls);
  return 0;
}

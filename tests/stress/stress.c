/* SPDX-License-Identifier: MIT */
/* Single-threaded stress with content verification.
 * usage: stress [iterations] [seed]
 * Random sizes (mostly small, some up to 1 MiB), random realloc, calloc and
 * aligned allocations; every block holds a pattern derived from its address
 * and size, checked before it is freed or resized. */
#include "common.h"

static const size_t MiB = 1024 * 1024;

static t_rng rng = {88172645463325252ULL};
static uint64_t next(void) { return t_rand(&rng); }

static size_t rand_size(void) {
  uint64_t r = next();
  unsigned k = (unsigned)(r % 1000);
  r >>= 10;
  if (k < 700) return 1 + r % 128;           /* tiny */
  if (k < 900) return 1 + r % 2048;          /* small */
  if (k < 975) return 1 + r % (64 * 1024);   /* medium */
  if (k < 995) return 64 * 1024 + r % (192 * 1024); /* around the mmap threshold */
  return 1 + r % MiB;                         /* large */
}

struct blk {
  unsigned char *p;
  size_t n;
  int zero; /* came from calloc and was never written */
};

enum { SLOTS = 8000 };
static struct blk b[SLOTS];

static void verify(struct blk *x, const char *when) {
  if (x->zero) {
    for (size_t i = 0; i < x->n; i++)
      REQUIRE(x->p[i] == 0, "calloc'd block %p (%zu bytes) not zero at %zu (%s)", (void *)x->p, x->n, i, when);
    return;
  }
  size_t bad = t_check(x->p, x->n);
  REQUIRE(bad == (size_t)-1, "block %p (%zu bytes) corrupted at offset %zu (%s)", (void *)x->p, x->n, bad, when);
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 2000000;
  if (argc > 2) rng.s = (uint64_t)atoll(argv[2]) * 0x9e3779b97f4a7c15ULL + 1;
  int tide = t_expect_tide();
  size_t live = 0, peak = 0;
  long ops[5] = {0};
  for (long it = 0; it < iters; it++) {
    struct blk *x = &b[next() % SLOTS];
    uint64_t r = next() % 100;
    if (!x->p) {
      size_t n = rand_size();
      if (r < 10) {
        x->p = calloc(1, n);
        x->zero = 1;
        ops[1]++;
      } else if (r < 15) {
        size_t a = (size_t)16 << (next() % 9);
        x->p = aligned_alloc(a, n);
        REQUIRE(((uintptr_t)x->p & (a - 1)) == 0, "aligned_alloc(%zu) = %p", a, (void *)x->p);
        x->zero = 0;
        ops[2]++;
      } else {
        x->p = malloc(n);
        x->zero = 0;
        ops[0]++;
      }
      REQUIRE(x->p, "allocation of %zu failed (live %zu bytes)", n, live);
      REQUIRE(((uintptr_t)x->p & 15) == 0, "%p not 16-aligned", (void *)x->p);
      REQUIRE(malloc_usable_size(x->p) >= n, "usable %zu < %zu", malloc_usable_size(x->p), n);
      x->n = n;
      if (!x->zero) t_fill(x->p, n);
      else verify(x, "after calloc");
      live += n;
    } else if (r < 30) {
      verify(x, "before realloc");
      size_t n = next() % 4 ? rand_size() : x->n + 1 + next() % (x->n + 1);
      unsigned char *q = realloc(x->p, n);
      REQUIRE(q, "realloc(%zu -> %zu) failed", x->n, n);
      size_t keep = n < x->n ? n : x->n;
      if (x->zero) {
        for (size_t i = 0; i < keep; i++) REQUIRE(q[i] == 0, "realloc lost the zeroes of a calloc'd block");
      } else {
        size_t bad = t_check_tag(q, x->n, keep, (uintptr_t)x->p);
        REQUIRE(bad == (size_t)-1, "realloc %p (%zu) -> %p (%zu) lost contents at %zu", (void *)x->p, x->n,
                (void *)q, n, bad);
      }
      live = live - x->n + n;
      x->p = q;
      x->n = n;
      x->zero = 0;
      t_fill(q, n);
      ops[3]++;
    } else {
      verify(x, "before free");
      free(x->p);
      live -= x->n;
      x->p = NULL;
      ops[4]++;
    }
    if (live > peak) peak = live;
    if (it % 500000 == 0 && it) malloc_trim(0);
  }
  for (int i = 0; i < SLOTS; i++)
    if (b[i].p) {
      verify(&b[i], "at the end");
      free(b[i].p);
    }
  struct tide_stats s;
  if (tide && t_stats(&s) == 0) {
    printf("allocated_bytes at the end: %llu, committed %llu, peak live requested %zu\n",
           (unsigned long long)s.allocated_bytes, (unsigned long long)s.committed_bytes, peak);
    CHECK(s.allocated_bytes < 4 * MiB, "allocated_bytes %llu after freeing everything",
          (unsigned long long)s.allocated_bytes);
  }
  printf("malloc %ld calloc %ld aligned %ld realloc %ld free %ld; peak live %zu bytes\n", ops[0], ops[1], ops[2],
         ops[3], ops[4], peak);
  return t_finish("stress");
}

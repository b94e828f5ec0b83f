/* SPDX-License-Identifier: MIT */
/* The prefixed-only build (libtidemalloc-prefixed.a: tide_* names, no
 * malloc override) used next to the system malloc, built with
 * -fsanitize=address,undefined: our code must run clean under sanitizers. */
#include "common.h"

#include <pthread.h>

static const size_t MiB = 1024 * 1024;

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t rand_size(uint64_t *s) {
  uint64_t r = rng_next(s);
  switch (r % 100) {
  case 0: return 128 * 1024 + (size_t)(r >> 20) % (2 * MiB);
  case 1: case 2: case 3: return 1 + (size_t)(r >> 20) % (128 * 1024);
  default: return 1 + (size_t)(r >> 20) % 512;
  }
}

struct blk {
  void *p;
  size_t n;
};

static void *worker(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
  enum { SLOTS = 512 };
  static _Thread_local struct blk b[SLOTS];
  for (int it = 0; it < 60000; it++) {
    struct blk *x = &b[rng_next(&s) % SLOTS];
    if (x->p) {
      REQUIRE(t_check(x->p, x->n) == (size_t)-1, "block %p (%zu bytes) corrupted", x->p, x->n);
      if (rng_next(&s) % 4 == 0) {
        size_t n = rand_size(&s);
        void *q = tide_realloc(x->p, n);
        REQUIRE(q, "tide_realloc(%zu) NULL", n);
        size_t keep = n < x->n ? n : x->n;
        REQUIRE(t_check_tag(q, x->n, keep, (uintptr_t)x->p) == (size_t)-1, "tide_realloc lost contents");
        x->p = q;
        x->n = n;
        t_fill(q, n);
        continue;
      }
      tide_free(x->p);
      x->p = NULL;
    } else {
      size_t n = rand_size(&s);
      switch (rng_next(&s) % 4) {
      case 0: x->p = tide_calloc(1, n); break;
      case 1: x->p = tide_aligned_alloc((size_t)64 << (rng_next(&s) % 6), n); break;
      default: x->p = tide_malloc(n); break;
      }
      REQUIRE(x->p, "allocation of %zu failed", n);
      REQUIRE(tide_malloc_usable_size(x->p) >= n, "usable size too small");
      x->n = n;
      t_fill(x->p, n);
    }
  }
  for (int i = 0; i < SLOTS; i++)
    if (b[i].p) {
      REQUIRE(t_check(b[i].p, b[i].n) == (size_t)-1, "block corrupted");
      tide_free(b[i].p);
    }
  return NULL;
}

int main(void) {
  /* The system malloc is not ours here. */
  void *sys = malloc(100);
  struct tide_stats s0, s1;
  memset(&s0, 0, sizeof s0);
  s0.version = TIDE_STATS_VERSION;
  s0.size = sizeof s0;
  s1 = s0;
  REQUIRE(tide_stats(&s0) == 0, "tide_stats");
  free(sys);

  void *p = tide_malloc(0);
  CHECK(p != NULL, "tide_malloc(0) NULL");
  tide_free(p);
  errno = 0;
  p = tide_calloc(t_opaque(SIZE_MAX), 2);
  CHECK(p == NULL && errno == ENOMEM, "tide_calloc overflow");
  errno = 0;
  p = tide_reallocarray(NULL, t_opaque((size_t)1 << 40), (size_t)1 << 40);
  CHECK(p == NULL && errno == ENOMEM, "tide_reallocarray overflow");
  void *q = NULL;
  CHECK(tide_posix_memalign(&q, 3, 10) == EINVAL, "tide_posix_memalign(3)");
  CHECK(tide_posix_memalign(&q, 4096, 10) == 0 && ((uintptr_t)q & 4095) == 0, "tide_posix_memalign(4096)");
  tide_free(q);
  q = tide_memalign(1 << 20, 100);
  CHECK(q && ((uintptr_t)q & ((1 << 20) - 1)) == 0, "tide_memalign(1M)");
  tide_free(q);
  q = tide_valloc(10);
  tide_free_aligned_sized(q, (size_t)sysconf(_SC_PAGESIZE), 10); /* not free_sized: valloc aligns */
  q = tide_pvalloc(10);
  tide_free(q);
  q = tide_aligned_alloc(256, 1000);
  tide_free_aligned_sized(q, 256, 1000);
  CHECK(tide_mallopt(M_TOP_PAD, 128 * 1024) == 1, "tide_mallopt");
  struct mallinfo2 mi = tide_mallinfo2();
  (void)mi;
  FILE *f = tmpfile();
  CHECK(tide_malloc_info(0, f) == 0, "tide_malloc_info");
  fclose(f);

  pthread_t th[3];
  for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  worker((void *)(uintptr_t)99);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);

  REQUIRE(tide_stats(&s1) == 0, "tide_stats");
  CHECK(s1.malloc_calls > s0.malloc_calls + 100000, "tide_stats.malloc_calls %llu -> %llu",
        (unsigned long long)s0.malloc_calls, (unsigned long long)s1.malloc_calls);
  CHECK(s1.allocated_bytes <= s0.allocated_bytes + 1024 * 1024, "allocated_bytes %llu -> %llu after freeing all",
        (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes);
  tide_malloc_trim(0);
  tide_trim();
  return t_finish("prefixed");
}

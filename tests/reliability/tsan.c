/* SPDX-License-Identifier: MIT */
/* Threads on the prefixed API, for ThreadSanitizer (tests/reliability:
 * tsan/prefixed).  Built with -fsanitize=thread together with tidemalloc's
 * own sources (all of src/ but override.c), so that TSan sees every access
 * tidemalloc makes; the program calls tide_* and nothing else allocates
 * through tidemalloc.
 *
 *   tsan THREADS ITERATIONS [stats]
 *
 * Each thread allocates blocks of mixed sizes (16 B .. 2 MiB), writes a
 * pattern into them (their first 16 bytes keep its tag and the size),
 * and trades them with the other threads through shared slots (an atomic
 * exchange hands over a block, so the receiver frees blocks it did not
 * allocate); it also reallocs its private blocks up and down (content kept),
 * uses calloc and aligned allocations, and now and then trims.  Three
 * rounds of threads run one after the other (heaps parked and adopted).  With
 * "stats", one thread also reads tide_stats() while the others run.
 * Any content mismatch exits 1; a data race is TSan's to report. */
#include "../common.h" /* defines _GNU_SOURCE first */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define SHARED 256
#define PRIVATE 32

static _Atomic(uintptr_t) shared[SHARED];
static long iterations = 20000;
static int want_stats;
static _Atomic(int) failures;

typedef struct hdr {
  uint64_t size; /* bytes in the block, header included */
  uint64_t tag;
} hdr;

/* The bytes of a block that carry the pattern: the header, the first 256
 * bytes, 32 at every 4 KiB and the last 32.  (Everything would make TSan
 * runs ten times longer; these are enough to see a block given out twice,
 * and TSan checks the hand-over of every byte touched.) */
static size_t next_spot(size_t size, size_t i) {
  i++;
  if (i < 256 || i % 4096 < 32 || i + 32 >= size) return i;
  size_t next = (i / 4096 + 1) * 4096;
  if (next + 32 >= size) next = size > 32 ? size - 32 : i;
  return next > i ? next : i;
}

static unsigned char pat(uint64_t tag, size_t i) {
  return (unsigned char)(t_mix(tag + i / 8) >> (8 * (i % 8)));
}

static void fill(void *p, size_t size, uint64_t tag) {
  hdr h = {size, tag};
  memcpy(p, &h, sizeof h);
  unsigned char *b = p;
  for (size_t i = sizeof h; i < size; i = next_spot(size, i)) b[i] = pat(tag, i);
}

/* Check a block; only its first `limit` bytes (a realloc'ed prefix). */
static int verify(const void *p, size_t limit, const char *when) {
  hdr h;
  memcpy(&h, p, sizeof h);
  if (h.size < sizeof h || h.size > ((size_t)4 << 20)) {
    fprintf(stderr, "%s: block %p has a bad header (size %llu)\n", when, p,
            (unsigned long long)h.size);
    atomic_fetch_add(&failures, 1);
    return 0;
  }
  size_t n = h.size < limit ? h.size : limit;
  const unsigned char *b = p;
  for (size_t i = sizeof h; i < n; i = next_spot(h.size, i)) {
    if (b[i] != pat(h.tag, i)) {
      fprintf(stderr, "%s: block %p (%llu bytes): byte %zu changed\n", when, p,
              (unsigned long long)h.size, i);
      atomic_fetch_add(&failures, 1);
      return 0;
    }
  }
  return 1;
}

static size_t pick_size(t_rng *r) {
  unsigned k = (unsigned)(t_rand(r) % 1000);
  if (k < 700) return 16 + t_rand(r) % 512;
  if (k < 900) return 16 + t_rand(r) % 8192;
  if (k < 985) return 16 + t_rand(r) % (96 << 10);
  if (k < 998) return (128 << 10) + t_rand(r) % (384 << 10); /* mapped */
  return (1 << 20) + t_rand(r) % (1 << 20);
}

static void *new_block(t_rng *r, size_t size, uint64_t tag) {
  void *p;
  unsigned k = (unsigned)(t_rand(r) % 16);
  if (k == 0) {
    p = tide_calloc(1, size);
    if (p) {
      const unsigned char *b = p;
      for (size_t i = 0; i < size; i++)
        if (b[i]) {
          fprintf(stderr, "calloc(%zu) = %p: byte %zu not zero\n", size, p, i);
          atomic_fetch_add(&failures, 1);
          break;
        }
    }
  } else if (k == 1) {
    size_t align = (size_t)32 << (t_rand(r) % 8);
    if (tide_posix_memalign(&p, align, size) != 0) p = NULL;
    if (p && ((uintptr_t)p & (align - 1))) {
      fprintf(stderr, "posix_memalign(%zu) = %p: misaligned\n", align, p);
      atomic_fetch_add(&failures, 1);
    }
  } else {
    p = tide_malloc(size);
  }
  if (!p) {
    fprintf(stderr, "allocation of %zu bytes failed\n", size);
    atomic_fetch_add(&failures, 1);
    exit(1);
  }
  if (tide_malloc_usable_size(p) < size) {
    fprintf(stderr, "usable size %zu < %zu\n", tide_malloc_usable_size(p), size);
    atomic_fetch_add(&failures, 1);
  }
  fill(p, size, tag);
  return p;
}

static void *worker(void *arg) {
  long id = (long)arg;
  t_rng r = {t_mix((uint64_t)id + 1) | 1};
  void *priv[PRIVATE] = {0};
  uint64_t tag = (uint64_t)id << 40;
  for (long it = 0; it < iterations; it++) {
    unsigned k = (unsigned)(t_rand(&r) % 100);
    if (k < 45) {
      /* Trade a block through a shared slot: what comes back was most
       * likely made by another thread. */
      void *p = new_block(&r, pick_size(&r), ++tag);
      unsigned s = (unsigned)(t_rand(&r) % SHARED);
      void *old = (void *)atomic_exchange_explicit(&shared[s], (uintptr_t)p, memory_order_acq_rel);
      if (old) {
        verify(old, SIZE_MAX, "shared block");
        if (t_rand(&r) % 4 == 0) {
          /* realloc a block another thread made */
          size_t n = pick_size(&r);
          hdr h;
          memcpy(&h, old, sizeof h);
          void *q = tide_realloc(old, n);
          if (!q) exit(1);
          if (n >= sizeof(hdr)) {
            verify(q, n, "realloc'ed shared block");
            fill(q, n, ++tag);
            old = q;
          } else {
            old = q;
            tide_free(old);
            continue;
          }
        }
        tide_free(old);
      }
    } else if (k < 80) {
      /* realloc churn on a private block */
      unsigned j = (unsigned)(t_rand(&r) % PRIVATE);
      size_t n = pick_size(&r);
      if (!priv[j]) {
        priv[j] = new_block(&r, n, ++tag);
        continue;
      }
      verify(priv[j], SIZE_MAX, "private block");
      void *q = tide_realloc(priv[j], n);
      if (!q) exit(1);
      verify(q, n, "realloc'ed private block");
      fill(q, n, ++tag);
      priv[j] = q;
    } else if (k < 95) {
      unsigned j = (unsigned)(t_rand(&r) % PRIVATE);
      if (priv[j]) {
        verify(priv[j], SIZE_MAX, "private block");
        tide_free(priv[j]);
        priv[j] = NULL;
      }
    } else if (k < 99) {
      /* a short-lived block, freed at once */
      void *p = new_block(&r, pick_size(&r), ++tag);
      tide_free(p);
    } else if (t_rand(&r) % 64 == 0) {
      tide_malloc_trim(0);
    }
    if (want_stats && id % 64 == 0 && it % 256 == 0) {
      struct tide_stats st;
      memset(&st, 0, sizeof st);
      st.version = TIDE_STATS_VERSION;
      st.size = sizeof st;
      if (tide_stats(&st) != 0) atomic_fetch_add(&failures, 1);
    }
  }
  for (unsigned j = 0; j < PRIVATE; j++)
    if (priv[j]) {
      verify(priv[j], SIZE_MAX, "private block at the end");
      tide_free(priv[j]);
    }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 8;
  if (argc > 2) iterations = atol(argv[2]);
  if (argc > 3 && !strcmp(argv[3], "stats")) want_stats = 1;
  if (threads < 1 || threads > 64) threads = 8;
  /* Three rounds of threads: the blocks left in the shared slots by one
   * round's threads (whose heaps are parked when they exit) are freed by
   * the next round's, and new threads adopt the parked heaps. */
  pthread_t t[64];
  long total = iterations;
  iterations = total / 3 + 1;
  for (int round = 0; round < 3; round++) {
    for (long i = 0; i < threads; i++)
      if (pthread_create(&t[i], NULL, worker, (void *)(i + 64 * round)) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
      }
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  }
  iterations = total;
  for (unsigned s = 0; s < SHARED; s++) {
    void *p = (void *)atomic_load(&shared[s]);
    if (p) {
      verify(p, SIZE_MAX, "shared block at the end");
      tide_free(p);
    }
  }
  tide_malloc_trim(0);
  int f = atomic_load(&failures);
  if (f) {
    fprintf(stderr, "tsan: %d content check(s) failed\n", f);
    return 1;
  }
  printf("tsan: %d threads x %ld iterations: ok\n", threads, iterations);
  return 0;
}

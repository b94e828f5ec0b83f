/* SPDX-License-Identifier: MIT */
/* A counting layer over tidemalloc, preloaded in front of it, to check its
 * figures on real programs against an independent account of the same run.
 * Every allocation call goes through here to the tide_* entry points; the
 * live bytes (malloc_usable_size of each live block) and their peak are
 * counted here with atomics.  At exit (a destructor, after the program's
 * own) it appends one line to $PEAK_SHIM_OUT:
 *   pid=P shim_peak=B tide_peak=B shim_live=B tide_live=B resident=B pagemap=B
 * where pagemap is what /proc/self/pagemap shows present in the same
 * ranges that resident_bytes covers: the brk heap and every unit tidemalloc's
 * segment map marks (tide_introspect), outside it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tidemalloc.h"

static _Atomic(int64_t) live, peak;

static void *took(void *p) {
  if (p == NULL) return p;
  int64_t now = atomic_fetch_add(&live, (int64_t)tide_malloc_usable_size(p)) + (int64_t)tide_malloc_usable_size(p);
  int64_t old = atomic_load(&peak);
  while (now > old && !atomic_compare_exchange_weak(&peak, &old, now)) {
  }
  return p;
}

static void gone(void *p) {
  if (p != NULL) atomic_fetch_sub(&live, (int64_t)tide_malloc_usable_size(p));
}

void *malloc(size_t n) { return took(tide_malloc(n)); }
void *calloc(size_t c, size_t n) { return took(tide_calloc(c, n)); }
void *aligned_alloc(size_t a, size_t n) { return took(tide_aligned_alloc(a, n)); }
void *memalign(size_t a, size_t n) { return took(tide_memalign(a, n)); }
void *valloc(size_t n) { return took(tide_valloc(n)); }
void *pvalloc(size_t n) { return took(tide_pvalloc(n)); }
int posix_memalign(void **out, size_t a, size_t n) {
  int rc = tide_posix_memalign(out, a, n);
  if (rc == 0) took(*out);
  return rc;
}
void free(void *p) {
  gone(p);
  tide_free(p);
}
void free_sized(void *p, size_t n) {
  gone(p);
  tide_free_sized(p, n);
}
void free_aligned_sized(void *p, size_t a, size_t n) {
  gone(p);
  tide_free_aligned_sized(p, a, n);
}
/* A realloc that moves the block holds both blocks for a moment (it copies
 * one into the other): the new one counts before the old one goes. */
void *realloc(void *p, size_t n) {
  size_t was = p ? tide_malloc_usable_size(p) : 0;
  void *q = tide_realloc(p, n);
  if (q == NULL) {
    if (n == 0) atomic_fetch_sub(&live, (int64_t)was); /* realloc(p, 0) freed it */
    return q;
  }
  if (q == p) atomic_fetch_sub(&live, (int64_t)was); /* in place: no overlap */
  took(q);
  if (q != p) atomic_fetch_sub(&live, (int64_t)was);
  return q;
}
void *reallocarray(void *p, size_t c, size_t n) {
  size_t total;
  if (__builtin_mul_overflow(c, n, &total)) return tide_reallocarray(p, c, n); /* its errno */
  return realloc(p, total);
}
size_t malloc_usable_size(void *p) { return tide_malloc_usable_size(p); }

static uint64_t pagemap_present(int fd, uintptr_t from, uintptr_t to) {
  uint64_t pages = 0, buf[512];
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  for (uintptr_t a = from & ~(page - 1); a < to;) {
    size_t n = (to - a + page - 1) / page;
    if (n > 512) n = 512;
    ssize_t got = pread(fd, buf, n * 8, (off_t)(a / page * 8));
    if (got <= 0) break;
    for (size_t i = 0; i < (size_t)got / 8; i++) pages += buf[i] >> 63;
    a += n * page;
  }
  return pages * page;
}

__attribute__((destructor(101))) static void report(void) {
  const char *out = getenv("PEAK_SHIM_OUT");
  if (out == NULL) return;
  struct tide_stats s = {.version = TIDE_STATS_VERSION, .size = sizeof s};
  if (tide_stats(&s) != 0) return;
  int fd = open("/proc/self/pagemap", O_RDONLY);
  uint64_t present = 0;
  if (fd >= 0) {
    present = pagemap_present(fd, s.heap_start, s.heap_break);
    /* the segment map, outside the brk heap: the same units resident_bytes counts */
    const uint64_t *head = (const uint64_t *)(uintptr_t)tide_introspect.segment_map;
    const uint64_t *cont = (const uint64_t *)(uintptr_t)tide_introspect.segment_cont_map;
    unsigned shift = tide_introspect.segment_shift;
    uintptr_t skip_lo = s.heap_start, skip_hi = (s.heap_break + (1ULL << shift) - 1) >> shift << shift;
    for (uint64_t w = 0; w < tide_introspect.map_bits / 64; w++) {
      if (head[w] == 0 && cont[w] == 0) continue;
      for (unsigned b = 0; b < 64; b++) {
        uintptr_t unit = w * 64 + b;
        if (!((head[w] | cont[w]) >> b & 1)) continue;
        uintptr_t from = unit << shift, to = from + (1ULL << shift);
        if (s.heap_break && from < skip_hi && to > skip_lo) continue;
        present += pagemap_present(fd, from, to);
      }
    }
    close(fd);
  }
  FILE *f = fopen(out, "a");
  if (f == NULL) return;
  fprintf(f, "pid=%d shim_peak=%lld tide_peak=%llu shim_live=%lld tide_live=%llu resident=%llu pagemap=%llu\n",
          (int)getpid(), (long long)atomic_load(&peak), (unsigned long long)s.allocated_peak,
          (long long)atomic_load(&live), (unsigned long long)s.allocated_bytes,
          (unsigned long long)s.resident_bytes, (unsigned long long)present);
  fclose(f);
}

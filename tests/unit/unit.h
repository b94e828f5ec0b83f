/* SPDX-License-Identifier: MIT */
/* Shared helpers for the unit tests: programs linked directly with
 * tidemalloc's objects (built with -DTIDE_DEBUG=1, no override.c).  The
 * program keeps glibc's malloc for itself and calls tidemalloc's internals
 * and tide_* functions directly. */
#ifndef TIDE_UNIT_H
#define TIDE_UNIT_H

#include "common.h"
#include "internal/internal.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

static const size_t KiB = 1024, MiB = 1024 * 1024;

/* Keep glibc's own malloc off the brk heap: every block it makes from now on
 * is a mapping of its own, so only tidemalloc (and the test, on purpose)
 * moves the break.  stdout unbuffered: no stdio buffer either. */
static inline void u_glibc_off_brk(void) {
  mallopt(M_MMAP_THRESHOLD, 0);
  mallopt(M_TRIM_THRESHOLD, -1); /* glibc: never lower the break either */
  setvbuf(stdout, NULL, _IONBF, 0);
}

/* tidemalloc is set up (first allocation) and this thread has a heap. */
static inline tide_heap *u_heap(void) {
  void *volatile p = tide_malloc(1);
  REQUIRE(p != NULL, "tide_malloc(1) failed");
  tide_free(p);
  tide_heap *h = heap_get();
  REQUIRE(h != NULL && !h->is_empty_heap, "no thread heap after tide_malloc");
  return h;
}

static inline int u_stats(struct tide_stats *s) {
  memset(s, 0, sizeof *s);
  s->version = TIDE_STATS_VERSION;
  s->size = sizeof *s;
  return tide_stats(s);
}

/* Pages of [p, p + n) resident, by the kernel's count (mincore). */
static inline size_t u_resident_pages(const void *p, size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t from = (uintptr_t)p & ~(page - 1), to = ((uintptr_t)p + n + page - 1) & ~(page - 1);
  static unsigned char vec[4096];
  size_t count = (to - from) / page, resident = 0;
  REQUIRE(count <= sizeof vec, "range too long for mincore's vector");
  REQUIRE(mincore((void *)from, to - from, vec) == 0, "mincore: %s", strerror(errno));
  for (size_t i = 0; i < count; i++) resident += vec[i] & 1;
  return resident;
}

/* Every byte of [p, p + n) is v. */
static inline bool u_filled(const uint8_t *p, size_t n, uint8_t v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return false;
  return true;
}

static inline bool u_is_head(const void *addr) {
  return segmap_test(tide_segmap_head, (uintptr_t)addr);
}
static inline bool u_is_cont(const void *addr) {
  return segmap_test(tide_segmap_cont, (uintptr_t)addr);
}

#endif

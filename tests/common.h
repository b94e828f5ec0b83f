/* SPDX-License-Identifier: MIT */
/* Shared helpers for tidemalloc's tests (header-only). */
#ifndef TIDE_TEST_COMMON_H
#define TIDE_TEST_COMMON_H

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tidemalloc.h"

static int t_failures;

#define CHECK(cond, ...)                                                    \
  do {                                                                      \
    if (!(cond)) {                                                          \
      t_failures++;                                                         \
      fprintf(stderr, "CHECK FAILED %s:%d: ", __FILE__, __LINE__);           \
      fprintf(stderr, __VA_ARGS__);                                         \
      fprintf(stderr, " [%s]\n", #cond);                                    \
      if (t_failures > 50) {                                                \
        fprintf(stderr, "too many failures\n");                             \
        exit(1);                                                            \
      }                                                                     \
    }                                                                       \
  } while (0)

/* A fatal check: report and exit at once. */
#define REQUIRE(cond, ...)                                                  \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "REQUIRE FAILED %s:%d: ", __FILE__, __LINE__);         \
      fprintf(stderr, __VA_ARGS__);                                         \
      fprintf(stderr, " [%s]\n", #cond);                                    \
      exit(1);                                                              \
    }                                                                       \
  } while (0)

static inline int t_finish(const char *name) {
  if (t_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, t_failures);
    return 1;
  }
  printf("%s: ok\n", name);
  return 0;
}

/* Hide a constant from the compiler so that -Walloc-size-larger-than and
 * friends do not turn deliberate misuse into a build error. */
static inline size_t t_opaque(size_t v) {
  volatile size_t x = v;
  return x;
}

/* malloc + free that the compiler cannot elide (gcc drops free(malloc(n))). */
static inline void t_poke(size_t n) {
  void *volatile p = malloc(n);
  if (p) *(volatile char *)p = 1;
  free(p);
}

/* ---- random numbers --------------------------------------------------- */
/* xorshift64: seed with a non-zero value (t_mix(seed) | 1). */
typedef struct t_rng {
  uint64_t s;
} t_rng;

static inline uint64_t t_rand(t_rng *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return r->s;
}

/* ---- content patterns ------------------------------------------------- */
static inline uint64_t t_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static inline uint64_t t_seed(const void *p, size_t n) {
  return t_mix((uint64_t)(uintptr_t)p * 31 + n + 0x9e3779b97f4a7c15ULL);
}

/* Fill n bytes at p with a pattern that depends on (tag, n).  tag is usually
 * the block's address, so two blocks never look alike. */
static inline void t_fill_tag(void *p, size_t n, uint64_t tag) {
  unsigned char *b = p;
  uint64_t s = t_mix(tag * 31 + n + 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = s + i * 0x9e3779b97f4a7c15ULL;
    memcpy(b + i, &w, 8);
  }
  for (; i < n; i++) b[i] = (unsigned char)(s >> (8 * (i & 7))) ^ (unsigned char)i;
}

/* Check the first `check` bytes of a block filled with t_fill_tag(p, n, tag).
 * Returns the offset of the first bad byte, or (size_t)-1 when all match. */
static inline size_t t_check_tag(const void *p, size_t n, size_t check, uint64_t tag) {
  const unsigned char *b = p;
  uint64_t s = t_mix(tag * 31 + n + 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  if (check > n) check = n;
  for (; i + 8 <= check && i + 8 <= n; i += 8) {
    uint64_t w = s + i * 0x9e3779b97f4a7c15ULL, got;
    memcpy(&got, b + i, 8);
    if (got != w) {
      for (size_t k = 0; k < 8; k++)
        if (((const unsigned char *)&w)[k] != b[i + k]) return i + k;
    }
  }
  for (; i < check; i++) {
    unsigned char want;
    if ((n & ~(size_t)7) > i) { /* inside a full word */
      uint64_t w = s + (i & ~(size_t)7) * 0x9e3779b97f4a7c15ULL;
      want = ((const unsigned char *)&w)[i & 7];
    } else {
      want = (unsigned char)(s >> (8 * (i & 7))) ^ (unsigned char)i;
    }
    if (b[i] != want) return i;
  }
  return (size_t)-1;
}

static inline void t_fill(void *p, size_t n) { t_fill_tag(p, n, (uintptr_t)p); }
static inline size_t t_check(const void *p, size_t n) {
  return t_check_tag(p, n, n, (uintptr_t)p);
}

/* ---- process facts ---------------------------------------------------- */
static inline long t_page(void) { return sysconf(_SC_PAGESIZE); }

/* Resident bytes of this process, from /proc/self/statm. */
static inline size_t t_rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (!f) return 0;
  if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
  fclose(f);
  return (size_t)res * (size_t)t_page();
}

/* The real program break, asked of the kernel (glibc's sbrk(0) may answer
 * from a cache). */
static inline uintptr_t t_brk_now(void) { return (uintptr_t)syscall(SYS_brk, 0); }

/* Is libtidemalloc mapped into this process (shared build), or linked in
 * (static build: tide_stats is defined)? */
static inline int t_maps_have(const char *needle) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  int found = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle)) found = 1;
  fclose(f);
  return found;
}

/* tide_* entry points looked up at run time, so that one program can be
 * built without the library and run under LD_PRELOAD. */
#ifdef T_STATIC
static inline void *t_sym(const char *name) {
  if (!strcmp(name, "tide_stats")) return (void *)tide_stats;
  if (!strcmp(name, "tide_option_get")) return (void *)tide_option_get;
  return NULL;
}
#else
static inline void *t_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }
#endif

/* Fill *s from tide_stats when the library is present; returns 0 on success,
 * -1 when there is no tide_stats here (glibc). */
static inline int t_stats(struct tide_stats *s) {
  int (*fn)(struct tide_stats *) = (int (*)(struct tide_stats *))t_sym("tide_stats");
  memset(s, 0, sizeof *s);
  s->version = TIDE_STATS_VERSION;
  s->size = sizeof *s;
  if (!fn) return -1;
  return fn(s);
}

/* Returns 1 when tidemalloc provides malloc here.  With TIDE_TEST_GLIBC=1 in
 * the environment (used to develop the tests) returns 0 quietly; otherwise a
 * missing library is fatal: a test that runs on glibc proves nothing. */
static inline int t_expect_tide(void) {
  const char *g = getenv("TIDE_TEST_GLIBC");
  if (g && *g == '1') return 0;
  if (!t_maps_have("libtidemalloc") && !t_sym("tide_stats")) {
    fprintf(stderr, "tidemalloc is not loaded in this process\n");
    exit(2);
  }
  return 1;
}

#endif

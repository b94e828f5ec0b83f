/* SPDX-License-Identifier: MIT */
/* The hardened mode (TIDEMALLOC_OPTIONS=secure=1), one behaviour per mode.
 * Modes that must be caught print "ptr=0x..." before the misuse and
 * "survived" after it; the others check themselves (tests/common.h). */
#include "../common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv) {
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "canary")) return mode_canary();
  if (!strcmp(m, "double")) return mode_double();
  if (!strcmp(m, "guard")) return mode_guard();
  if (!strcmp(m, "guard-below")) return mode_guard_below();
  if (!strcmp(m, "reuse")) return mode_reuse();
  if (!strcmp(m, "order")) return mode_order(argc > 2 ? argv[2] : "random");
  if (!strcmp(m, "maps")) return mode_maps();
  if (!strcmp(m, "workload")) return mode_workload();
  if (!strcmp(m, "big")) return mode_big();
  fprintf(stderr, "usage: secure canary|double|guard|reuse|order [random|sequential]|maps|workload\n");
  return 2;
}

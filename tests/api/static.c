/* SPDX-License-Identifier: MIT */
/* Linked with -static against libtidemalloc.a: malloc must be tidemalloc's. */
#define T_STATIC 1
#include "common.h"

#include <pthread.h>

static void *thr(void *arg) {
  (void)arg;
  void *v[1000];
  for (int i = 0; i < 1000; i++) {
    v[i] = malloc((size_t)(i % 300) + 1);
    t_fill(v[i], (size_t)(i % 300) + 1);
  }
  for (int i = 0; i < 1000; i++) {
    REQUIRE(t_check(v[i], (size_t)(i % 300) + 1) == (size_t)-1, "thread block corrupted");
    free(v[i]);
  }
  return NULL;
}

int main(void) {
  struct tide_stats s0, s1;
  REQUIRE(t_stats(&s0) == 0, "tide_stats failed");
  void *v[200];
  for (int i = 0; i < 200; i++) {
    v[i] = malloc(100);
    t_fill(v[i], 100);
  }
  REQUIRE(t_stats(&s1) == 0, "tide_stats failed");
  CHECK(s1.malloc_calls >= s0.malloc_calls + 200,
        "malloc() is not tidemalloc's: tide_stats.malloc_calls %llu -> %llu after 200 mallocs",
        (unsigned long long)s0.malloc_calls, (unsigned long long)s1.malloc_calls);
  CHECK(s1.allocated_bytes >= s0.allocated_bytes + 200 * 100, "allocated_bytes %llu -> %llu",
        (unsigned long long)s0.allocated_bytes, (unsigned long long)s1.allocated_bytes);
  CHECK(malloc_usable_size(v[0]) == tide_malloc_usable_size(v[0]), "usable sizes differ");
  for (int i = 0; i < 200; i++) {
    CHECK(t_check(v[i], 100) == (size_t)-1, "block corrupted");
    free(v[i]);
  }
  /* stdio and threads allocate through it too */
  char *s = NULL;
  CHECK(asprintf(&s, "%d-%s", 42, "static") > 0 && !strcmp(s, "42-static"), "asprintf");
  free(s);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thr, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  void *big = malloc(3 << 20);
  memset(big, 1, 3 << 20);
  void *r = realloc(big, 9 << 20);
  CHECK(r && ((unsigned char *)r)[(3 << 20) - 1] == 1, "realloc of a big block");
  free(r);
  struct tide_stats s2;
  t_stats(&s2);
  CHECK(s2.free_calls >= s1.free_calls + 200, "free() is not tidemalloc's");
  return t_finish("static");
}

/* SPDX-License-Identifier: MIT */
/* A small program for valgrind's memcheck (tests/reliability:
 * valgrind/memcheck).  Run under valgrind with tidemalloc preloaded and
 * --soname-synonyms=somalloc=NONE, so that tidemalloc, not valgrind's own
 * allocator, serves malloc: memcheck then watches tidemalloc's code (its
 * brk and mmap calls, its metadata, its free lists) for invalid reads and
 * writes and for jumps on uninitialised values.
 *
 * Mixed sizes, realloc across the mmap threshold (mremap), calloc, aligned
 * allocations, malloc_usable_size, malloc_trim, a second thread freeing
 * blocks the first made, and a fork whose child allocates and exits. */
#include "common.h"

#include <pthread.h>
#include <sys/wait.h>

#define N 400

static void *blocks[N];
static size_t sizes[N];

static size_t size_of(int i) {
  static const size_t big[] = {100000, 140000, 300000, 1 << 20, 3 << 20, 9 << 20};
  if (i % 50 == 49) return big[(i / 50) % 6];
  return 1 + (size_t)(i * 7919) % (i % 3 ? 600 : 20000);
}

static void *freer(void *arg) {
  (void)arg;
  for (int i = 1; i < N; i += 2) {
    CHECK(t_check(blocks[i], sizes[i]) == (size_t)-1, "block %d changed before a remote free", i);
    free(blocks[i]);
    blocks[i] = NULL;
  }
  return NULL;
}

int main(void) {
  t_expect_tide();
  for (int i = 0; i < N; i++) {
    sizes[i] = size_of(i);
    blocks[i] = (i % 5 == 0) ? calloc(1, sizes[i]) : malloc(sizes[i]);
    REQUIRE(blocks[i], "malloc(%zu) failed", sizes[i]);
    if (i % 5 == 0) {
      const unsigned char *b = blocks[i];
      size_t sum = 0;
      for (size_t k = 0; k < sizes[i]; k++) sum += b[k];
      CHECK(sum == 0, "calloc(%zu) is not zero", sizes[i]);
    }
    CHECK(malloc_usable_size(blocks[i]) >= sizes[i], "usable size below %zu", sizes[i]);
    t_fill(blocks[i], sizes[i]);
  }
  /* realloc up and down, across the mmap threshold and back */
  static const size_t steps[] = {64, 4000, 70000, 200000, 2 << 20, 6 << 20, 500000, 1000, 24};
  char *r = malloc(16);
  REQUIRE(r, "malloc(16) failed");
  memset(r, 0x5a, 16);
  size_t have = 16;
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    char *q = realloc(r, steps[s]);
    REQUIRE(q, "realloc(%zu) failed", steps[s]);
    size_t keep = have < steps[s] ? have : steps[s];
    for (size_t k = 0; k < keep; k++) CHECK(q[k] == 0x5a, "realloc lost byte %zu", k);
    memset(q, 0x5a, steps[s]);
    r = q;
    have = steps[s];
  }
  free(r);
  /* aligned */
  for (size_t a = 16; a <= ((size_t)1 << 20); a <<= 2) {
    void *p = aligned_alloc(a, a * 2);
    void *q = NULL;
    CHECK(posix_memalign(&q, a, 100) == 0, "posix_memalign(%zu) failed", a);
    void *m = memalign(a, 3000);
    REQUIRE(p && q && m, "aligned allocation failed");
    CHECK(((uintptr_t)p | (uintptr_t)q | (uintptr_t)m) % a == 0, "misaligned for %zu", a);
    memset(p, 1, a * 2);
    memset(q, 2, 100);
    memset(m, 3, 3000);
    free(p);
    free(q);
    free(m);
  }
  /* a second thread frees half of the blocks */
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, freer, NULL) == 0, "pthread_create failed");
  pthread_join(t, NULL);
  /* fork: the child allocates, frees, exits */
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork failed");
  if (pid == 0) {
    for (int i = 0; i < 100; i++) {
      void *p = malloc(size_of(i));
      if (!p) _exit(3);
      memset(p, 7, size_of(i));
      free(p);
    }
    _exit(0);
  }
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid, "waitpid failed");
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed (status %#x)", st);
  for (int i = 0; i < N; i += 2) {
    CHECK(t_check(blocks[i], sizes[i]) == (size_t)-1, "block %d changed", i);
    free(blocks[i]);
  }
  malloc_trim(0);
  /* and again after the trim */
  for (int i = 0; i < 100; i++) {
    void *p = malloc(size_of(i));
    REQUIRE(p, "malloc after trim failed");
    free(p);
  }
  return t_finish("vgprog");
}

/* SPDX-License-Identifier: MIT */
/* A live block holding bytes copied out of a freed one is still live
 * (tests/api: api/copied-freed-bytes; issue 11, item 5).
 *
 * A freed block carries a key; a program that reads a freed block (undefined
 * behaviour, but it happens: a struct copied after free) and writes those
 * bytes into a live block must not make that block look freed.  Each case
 * copies a freed block's first 32 bytes into live blocks of the same size,
 * then frees the live blocks by the owning thread and by another thread;
 * every free must be accepted and the blocks' neighbours keep their
 * contents.  The freed block is freed by the owner or by another thread
 * (the two kinds of free write their keys on different paths).  A real
 * double free is still caught: tests/wrong's double-free cases. */
#include "common.h"

#include <pthread.h>

#define N 64
#define SIZE 48

static void *free_it(void *p) {
  free(p);
  return NULL;
}

static void free_elsewhere(void *p) {
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, free_it, p) == 0, "pthread_create");
  pthread_join(t, NULL);
}

/* Reads a freed block as the program would through a dangling pointer. */
static void copy_from(void *dst, const void *freed) {
  const volatile unsigned char *s = freed;
  unsigned char *d = dst;
  for (int i = 0; i < 32; i++) d[i] = s[i];
}

static void one_case(int freed_elsewhere, int victims_elsewhere) {
  void *keep[N], *victim[N];
  for (int i = 0; i < N; i++) {
    keep[i] = malloc(SIZE);
    victim[i] = malloc(SIZE);
    REQUIRE(keep[i] && victim[i], "malloc(%d)", SIZE);
    t_fill(keep[i], SIZE);
  }
  void *gone = malloc(SIZE);
  REQUIRE(gone != NULL, "malloc");
  if (freed_elsewhere)
    free_elsewhere(gone);
  else
    free(gone);
  for (int i = 0; i < N; i++) copy_from(victim[i], gone);
  for (int i = 0; i < N; i++) {
    if (victims_elsewhere)
      free_elsewhere(victim[i]);
    else
      free(victim[i]);
  }
  for (int i = 0; i < N; i++) {
    CHECK(t_check(keep[i], SIZE) == (size_t)-1, "freed by %s, copies freed by %s: a neighbour changed",
          freed_elsewhere ? "another thread" : "the owner", victims_elsewhere ? "another thread" : "the owner");
    free(keep[i]);
  }
  /* The allocator still hands out distinct, working blocks of that size. */
  void *again[N];
  for (int i = 0; i < N; i++) {
    again[i] = malloc(SIZE);
    REQUIRE(again[i] != NULL, "malloc after the frees");
    t_fill(again[i], SIZE);
  }
  for (int i = 0; i < N; i++) {
    CHECK(t_check(again[i], SIZE) == (size_t)-1, "block %d handed out twice (contents overwritten)", i);
    free(again[i]);
  }
}

int main(void) {
  t_expect_tide();
  for (int round = 0; round < 20; round++)
    for (int f = 0; f < 2; f++)
      for (int v = 0; v < 2; v++) one_case(f, v);
  printf("80 cases: every live block holding a freed block's bytes was freed without a false report\n");
  return t_finish("copied freed bytes");
}

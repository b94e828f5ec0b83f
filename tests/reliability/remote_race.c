/* SPDX-License-Identifier: MIT */
/* A remote free racing with the owner collecting its pages
 * (tests/reliability: race/remote-free-vs-trim).
 *
 *   remote_race ROUNDS [SIZE]
 *
 * The main thread allocates a block (by default one that fills a whole
 * segment: 63 slices, below the raised mmap threshold, so a heap page of
 * its own that is parked as full), hands it to a second thread that frees
 * it (a remote free: push on the page's thread_free list, then, the page
 * being full, push the page on the owner's wake list), and meanwhile calls
 * malloc_trim(0) in a loop (the owner collects its full pages, frees the
 * empty one, releases and unmaps the segment).  A remote free must not
 * touch the page after the block is published: if it does, the owner can
 * free the page and its segment in between, and the page lands on the wake
 * list after it is gone (the next malloc_trim/malloc then follows it into
 * unmapped memory: SIGSEGV in heap_wake_drain). */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static _Atomic(void *) box;
static _Atomic(int) stop;

static void *freer(void *arg) {
  (void)arg;
  for (;;) {
    void *p;
    while (!(p = atomic_exchange(&box, NULL))) {
      if (atomic_load(&stop)) return NULL;
      sched_yield(); /* the machine may be busy: let the main thread run */
    }
    free(p);
  }
}

int main(int argc, char **argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 5000;
  size_t size = argc > 2 ? strtoul(argv[2], NULL, 0) : (size_t)63 * 65536 - 64;
  t_expect_tide();
  /* Raise the dynamic mmap threshold as glibc does (a freed mapped block
   * bigger than it), so the blocks below come from heap pages. */
  void *big = malloc((size_t)8 << 20);
  REQUIRE(big, "malloc(8 MiB) failed");
  memset(big, 1, 4096);
  free(big);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, freer, NULL) == 0, "pthread_create failed");
  for (long i = 0; i < rounds; i++) {
    unsigned char *p = malloc(size);
    REQUIRE(p, "malloc(%zu) failed in round %ld", size, i);
    p[0] = 1;
    p[size - 1] = 2;
    atomic_store(&box, p);
    while (atomic_load(&box)) malloc_trim(0); /* collect while it is freed */
    malloc_trim(0);
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  printf("remote_race: %ld rounds of %zu-byte blocks\n", rounds, size);
  return t_finish("remote_race");
}

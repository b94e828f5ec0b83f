/* SPDX-License-Identifier: MIT */
/* free_sized and free_aligned_sized accept every size (and alignment) a
 * block could have been asked for (tests/api: api/free-sized-every-valid-size;
 * issue 13, item 2).  The checks that catch a wrong size (tests/wrong's
 * free-sized-* cases) must not catch a right one: every size from 0 to
 * 2 KiB and a spread above, up to mapped blocks; calloc; aligned_alloc with
 * alignments up to 1 MiB; malloc_usable_size's size; a block realloc kept
 * in place (smaller, down to half of it), small and mapped, freed with the
 * size realloc was given.  A
 * false report kills the program (SIGABRT); after each free the heap must
 * still serve. */
#include "common.h"

typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);

int main(void) {
  if (!t_expect_tide()) return 0;
  free_sized_fn fs = (free_sized_fn)t_sym("free_sized");
  free_aligned_sized_fn fas = (free_aligned_sized_fn)t_sym("free_aligned_sized");
  REQUIRE(fs != NULL && fas != NULL, "free_sized / free_aligned_sized not exported");
  size_t frees = 0;
  for (size_t s = 0; s < (size_t)6 << 20; s += s < 2048 ? 1 : s < 300000 ? 97 : 40961) {
    unsigned char *p = malloc(s);
    REQUIRE(p != NULL, "malloc(%zu)", s);
    if (s) p[s - 1] = 1;
    fs(p, s);
    p = malloc(s); /* all of the block's usable bytes, as jemalloc's sdallocx */
    REQUIRE(p != NULL, "malloc(%zu)", s);
    fs(p, malloc_usable_size(p));
    p = calloc(1, s);
    REQUIRE(p != NULL, "calloc(1, %zu)", s);
    fs(p, s);
    frees += 2;
    if (s % 7 == 0 || s < 300) {
      for (size_t a = 32; a <= ((size_t)1 << 20); a <<= 1) {
        if (s > ((size_t)1 << 20) && a < 4096) continue; /* enough of those */
        p = aligned_alloc(a, s);
        REQUIRE(p != NULL && (uintptr_t)p % a == 0, "aligned_alloc(%zu, %zu)", a, s);
        fas(p, a, s);
        frees++;
      }
    }
  }
  /* realloc keeps a block for a smaller size: free_sized gets that size. */
  size_t sizes[] = {100, 1000, 5000, 70000, 200000, 1 << 20, 5 << 20, 40 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    for (size_t k = 1; k <= 8; k++) {
      size_t s = sizes[i], t = s - s * k / 16; /* down to half */
      unsigned char *p = malloc(s);
      REQUIRE(p != NULL, "malloc(%zu)", s);
      memset(p, 7, s);
      unsigned char *q = realloc(p, t);
      REQUIRE(q != NULL && q[t - 1] == 7, "realloc(%zu -> %zu)", s, t);
      fs(q, t);
      frees++;
    }
  }
  void *last = malloc(64);
  CHECK(last != NULL, "malloc after %zu sized frees", frees);
  free(last);
  printf("%zu sized frees accepted\n", frees);
  return t_finish("free_sized valid sizes");
}

/* SPDX-License-Identifier: MIT */
/* Size classes (sizeclass.c): the table, sizeclass_bin, the aligned variant
 * and pages per class, checked against a plain search of the table. */
#include "unit.h"

/* The smallest class >= size, by looking. */
static unsigned naive_bin(size_t size) {
  for (unsigned b = 1; b < TIDE_BIN_COUNT; b++)
    if (tide_bin_size[b] >= size) return b;
  return 0;
}

static unsigned naive_bin_aligned(size_t size, size_t a) {
  for (unsigned b = 1; b < TIDE_BIN_COUNT; b++)
    if (tide_bin_size[b] >= size && tide_bin_size[b] % a == 0) return b;
  return 0;
}

int main(void) {
  /* The table: increasing multiples of 16 up to TIDE_BIN_MAX. */
  CHECK(tide_bin_size[0] == 0, "bin 0 is unused, has size %u", tide_bin_size[0]);
  CHECK(tide_bin_size[1] == 16, "the smallest class is %u, not 16", tide_bin_size[1]);
  CHECK(tide_bin_size[TIDE_BIN_COUNT - 1] == TIDE_BIN_MAX, "the largest class is %u, not %zu",
        tide_bin_size[TIDE_BIN_COUNT - 1], TIDE_BIN_MAX);
  for (unsigned b = 1; b < TIDE_BIN_COUNT; b++) {
    CHECK(tide_bin_size[b] % 16 == 0, "class %u (%u bytes) is not a multiple of 16", b, tide_bin_size[b]);
    if (b > 1)
      CHECK(tide_bin_size[b] > tide_bin_size[b - 1], "classes %u and %u do not increase (%u, %u)", b - 1, b,
            tide_bin_size[b - 1], tide_bin_size[b]);
    /* the class of a class's own size is itself */
    CHECK(sizeclass_bin(tide_bin_size[b]) == b, "sizeclass_bin(%u) = %u, want %u", tide_bin_size[b],
          sizeclass_bin(tide_bin_size[b]), b);
  }
  CHECK(sizeclass_bin(0) == 1, "sizeclass_bin(0) = %u, want 1", sizeclass_bin(0));

  /* Every size: the smallest class that holds it, and the waste bound. */
  size_t worst_small = 0, worst_big = 0;
  for (size_t size = 1; size <= TIDE_BIN_MAX; size++) {
    unsigned b = sizeclass_bin(size), want = naive_bin(size);
    if (b != want) {
      CHECK(b == want, "sizeclass_bin(%zu) = %u (%u bytes), want %u (%u bytes)", size, b,
            b < TIDE_BIN_COUNT ? tide_bin_size[b] : 0, want, tide_bin_size[want]);
      continue;
    }
    size_t cls = tide_bin_size[b], waste = cls - size;
    /* 25% at most, except below 64 bytes where the 16-byte grain rules:
     * there the waste is under 16 bytes (17 -> 32 cannot be helped). */
    if (size > 16) {
      CHECK(waste * 4 <= size || (size < 64 && waste < 16), "size %zu -> class %zu wastes more than 25%%", size,
            cls);
      if (size >= 64 && waste * 1000 / size > worst_small) worst_small = waste * 1000 / size;
    }
    if (size > 1024) {
      CHECK(waste * 8 <= size, "size %zu -> class %zu wastes more than 12.5%%", size, cls);
      if (waste * 1000 / size > worst_big) worst_big = waste * 1000 / size;
    }
  }
  printf("worst waste: %zu.%zu%% (>= 64 bytes), %zu.%zu%% (> 1 KiB)\n", worst_small / 10, worst_small % 10,
         worst_big / 10, worst_big % 10);

  /* Aligned classes: a multiple of the alignment, the smallest such. */
  for (size_t a = 1; a <= 64 * KiB; a <<= 1) {
    for (size_t size = 1; size <= TIDE_BIN_MAX; size += (size < 4096 ? 1 : 7)) {
      unsigned b = sizeclass_bin_aligned(size, a), want = naive_bin_aligned(size, a);
      if (b != want || b == 0) {
        CHECK(b == want && b != 0, "sizeclass_bin_aligned(%zu, %zu) = %u, want %u", size, a, b, want);
        continue;
      }
      CHECK(tide_bin_size[b] % a == 0 && tide_bin_size[b] >= size,
            "sizeclass_bin_aligned(%zu, %zu) gives %u bytes", size, a, tide_bin_size[b]);
    }
    CHECK(sizeclass_bin_aligned(TIDE_BIN_MAX, a) == TIDE_BIN_COUNT - 1,
          "sizeclass_bin_aligned(%zu, %zu) = %u", TIDE_BIN_MAX, a, sizeclass_bin_aligned(TIDE_BIN_MAX, a));
  }
  CHECK(sizeclass_bin_aligned(16, 128 * KiB) == 0, "an alignment above a slice has no class");
  CHECK(sizeclass_bin_aligned(TIDE_BIN_MAX + 1, 16) == 0, "a size above the largest class has no class");

  /* Pages: one slice for every class up to a slice (so that any free slice
   * fits any class's next page), just enough for one block above, inside a
   * segment. */
  for (unsigned b = 1; b < TIDE_BIN_COUNT; b++) {
    unsigned slices = sizeclass_page_slices(b);
    size_t bytes = (size_t)slices * TIDE_SLICE_SIZE, blocks = bytes / tide_bin_size[b];
    CHECK(slices >= 1 && slices < TIDE_SLICES, "class %u: %u slices per page", tide_bin_size[b], slices);
    CHECK(blocks >= 1, "class %u: a page of %u slices holds no block", tide_bin_size[b], slices);
    if (tide_bin_size[b] <= TIDE_SLICE_SIZE)
      CHECK(slices == 1, "class %u: %u slices per page, not one", tide_bin_size[b], slices);
    else
      CHECK((bytes - TIDE_SLICE_SIZE) < tide_bin_size[b], "class %u: %u slices where %u hold a block",
            tide_bin_size[b], slices, slices - 1);
  }

  /* And malloc agrees: blocks of every class are 16-byte aligned and have
   * exactly the class's usable size. */
  for (unsigned b = 1; b < TIDE_BIN_COUNT; b++) {
    size_t size = tide_bin_size[b] - (b > 1 ? 1 : 0);
    void *p = tide_malloc(size);
    REQUIRE(p != NULL, "tide_malloc(%zu) failed", size);
    CHECK((uintptr_t)p % 16 == 0, "tide_malloc(%zu) = %p is not 16-byte aligned", size, p);
    CHECK(tide_malloc_usable_size(p) == tide_bin_size[b], "tide_malloc_usable_size(tide_malloc(%zu)) = %zu, want %u",
          size, tide_malloc_usable_size(p), tide_bin_size[b]);
    tide_free(p);
  }
  return t_finish("sizeclass");
}

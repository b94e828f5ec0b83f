/* SPDX-License-Identifier: MIT */
/* Size classes: multiples of 16 up to 128 bytes; four classes per doubling
 * up to 1 KiB (160, 192, 224, 256, 320, ...); eight per doubling above, up
 * to 128 KiB (1152, 1280, ..., 2048, 2304, ...).  From 64 bytes up at most
 * a fifth of a block goes unused (129 -> 160: 19% of the block, 24% of the
 * request), above 1 KiB at most a ninth, where the bytes are; every class is
 * a multiple of 16, so every block is 16-byte aligned. */
#include "internal/sizeclass.h"

#define B4(s) (s) * 5 / 4, (s) * 6 / 4, (s) * 7 / 4, (s) * 2
#define B8(s) (s) * 9 / 8, (s) * 10 / 8, (s) * 11 / 8, (s) * 12 / 8, \
              (s) * 13 / 8, (s) * 14 / 8, (s) * 15 / 8, (s) * 2
const uint32_t tide_bin_size[TIDE_BIN_COUNT] = {
    0,        16,        32,        48,        64,        80,       96,
    112,      128,       B4(128),   B4(256),   B4(512),   B8(1024), B8(2048),
    B8(4096), B8(8192),  B8(16384), B8(32768), B8(65536)};
_Static_assert(sizeof(tide_bin_size) / sizeof(tide_bin_size[0]) == TIDE_BIN_COUNT,
               "bin table size");

/* The class of the sizes (16(i-1), 16i] up to TIDE_SMALL_MAX (a class there
 * is a multiple of 16, so all of them share one), by sizeclass_bin's rule
 * below, made a table: one load, where the rule's branches on the size
 * mispredict in a program of mixed small sizes (every malloc of secure mode
 * takes this path: half of its mispredicted branches but the memset's, in
 * bench/batch). */
#define SMALL_W(i) ((i) * 16 - 1)
#define SMALL_B(i) (SMALL_W(i) >= 512 ? 9 : SMALL_W(i) >= 256 ? 8 : 7)
#define SMALL_BIN(i)                  \
  ((i) <= 8 ? ((i) ? (i) : 1)         \
            : 9 + (SMALL_B(i) - 7) * 4 + ((SMALL_W(i) >> (SMALL_B(i) - 2)) & 3))
#define SMALL_ROW(i)                                                                      \
  SMALL_BIN(i), SMALL_BIN(i + 1), SMALL_BIN(i + 2), SMALL_BIN(i + 3), SMALL_BIN(i + 4), \
      SMALL_BIN(i + 5), SMALL_BIN(i + 6), SMALL_BIN(i + 7)
static const uint8_t sizeclass_small_bin[TIDE_DIRECT_COUNT] = {
    SMALL_ROW(0),  SMALL_ROW(8),  SMALL_ROW(16), SMALL_ROW(24), SMALL_ROW(32),
    SMALL_ROW(40), SMALL_ROW(48), SMALL_ROW(56), SMALL_BIN(64)};
_Static_assert(TIDE_DIRECT_COUNT == 65, "the small table's rows");

/* w = size - 1 has its top bit at b; the next two (below 1 KiB) or three
 * bits pick the class in the doubling. */
unsigned sizeclass_bin(size_t size) {
  if (tide_likely(size <= TIDE_SMALL_MAX))
    return sizeclass_small_bin[(size + TIDE_ALIGN - 1) / TIDE_ALIGN];
  size_t w = size - 1;
  unsigned b = 63u - (unsigned)__builtin_clzll(w);
  return 21 + (b - 10) * 8 + ((unsigned)(w >> (b - 3)) & 7);
}

/* Slices per page: one for every class up to 64 KiB, however few blocks it
 * holds, so that a free slice fits any class's next page (bench/mixed, sizes
 * to 64 KiB over 8 threads: 10% less peak RSS and half the page faults of
 * pages of at least 8 blocks, whose multi-slice spans a page of another
 * class could not take); enough for one block above. */
unsigned sizeclass_page_slices(unsigned bin) { return sizeclass_slices_for(tide_bin_size[bin]); }

/* The smallest class >= size whose block size is a multiple of alignment
 * (pages start on 64 KiB boundaries, so such blocks are all aligned), or 0
 * if no class fits. */
unsigned sizeclass_bin_aligned(size_t size, size_t alignment) {
  if (size > TIDE_BIN_MAX || alignment > TIDE_SLICE_SIZE) return 0;
  for (unsigned bin = sizeclass_bin(size); bin < TIDE_BIN_COUNT; bin++)
    if (tide_bin_size[bin] % alignment == 0) return bin;
  return 0;
}

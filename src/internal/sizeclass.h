/* SPDX-License-Identifier: MIT */
/* Size classes (sizeclass.c): the table of block sizes, the rule that maps
 * a request to its class, and the pages a class uses.  It stands on the
 * data model alone. */
#ifndef TIDE_SIZECLASS_H
#define TIDE_SIZECLASS_H

#include "base.h"

extern tide_hidden const uint32_t tide_bin_size[TIDE_BIN_COUNT];
tide_hidden unsigned sizeclass_bin(size_t size);
tide_hidden unsigned sizeclass_page_slices(unsigned bin);
/* The slices that hold `bytes`: a page of more than one slice (a class above
 * a slice, or a large page) therefore holds a single block, at its start. */
static inline unsigned sizeclass_slices_for(size_t bytes) {
  return (unsigned)((bytes + TIDE_SLICE_SIZE - 1) >> TIDE_SLICE_SHIFT);
}
/* The direct-table indexes of bin (request sizes in (16(i-1), 16i]), *lo to
 * *hi; false for a bin above TIDE_SMALL_MAX, which has none. */
static inline bool sizeclass_direct_range(unsigned bin, unsigned *lo, unsigned *hi) {
  if (bin == 0 || bin >= TIDE_BIN_COUNT || tide_bin_size[bin] > TIDE_SMALL_MAX) return false;
  *lo = bin == 1 ? 0 : tide_bin_size[bin - 1] / TIDE_ALIGN + 1;
  *hi = tide_bin_size[bin] / TIDE_ALIGN;
  return true;
}
tide_hidden unsigned sizeclass_bin_aligned(size_t size, size_t alignment);

#endif /* TIDE_SIZECLASS_H */

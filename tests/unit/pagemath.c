/* SPDX-License-Identifier: MIT */
/* Page arithmetic (page.c page_init through page_alloc, internal.h
 * page_lookup / page_block_valid / page_of_block): for every size class,
 * the divisibility test (multiply the address by the inverse of the size's
 * odd part, subtract the page's grid_base, rotate) maps every block start
 * to its index and rejects every other address, exhaustively over the page;
 * and over a whole segment's range of offsets near every multiple of the
 * block size. */
#include "unit.h"

static unsigned long checked;

/* Exhaustive over the page: start + offset valid <=> offset a multiple of
 * the size below capacity.  Also page_lookup/page_of_block. */
static void check_page(tide_page *page, const char *what) {
  tide_segment *seg = segment_of(page);
  size_t bs = page->block_size, bytes = (size_t)page->slice_count << TIDE_SLICE_SHIFT;
  REQUIRE(bs > 0 && page->slice_count > 0, "%s: page %p has block_size %zu, %u slices", what, (void *)page, bs,
          page->slice_count);
  uint8_t *start = page_start(page);
  int bad = 0;
  for (size_t off = 0; off < bytes && bad < 5; off++) {
    bool want = off % bs == 0 && off / bs < page->capacity;
    bool got = page_block_valid(page, start + off);
    if (got != want) {
      CHECK(got == want, "%s: block %zu bytes (inv %u, shift %u, capacity %u): offset %zu judged %s", what, bs,
            page->block_odd_inv, page->block_shift, page->capacity, off, got ? "a block start" : "not a block start");
      bad++;
    }
  }
  checked += bytes;
  /* The same through addresses: every slice of the page leads to its head. */
  for (size_t k = 0; k <= page->capacity && bad < 5; k++) {
    static const long deltas[] = {0, 1, -1, 8, -8, 16, -16};
    for (unsigned d = 0; d < sizeof deltas / sizeof deltas[0]; d++) {
      long off = (long)(k * bs) + deltas[d];
      if (off < 0 || (size_t)off >= bytes) continue;
      tide_page *p = page_lookup(seg, start + off);
      bool want = (size_t)off % bs == 0 && (size_t)off / bs < page->capacity;
      if (p != page || (page_of_block(seg, start + off) != NULL) != want) {
        CHECK(p == page, "%s: page_lookup(%p) = page %p, want %p", what, (void *)(start + off), (void *)p,
              (void *)page);
        CHECK((page_of_block(seg, start + off) != NULL) == want, "%s: page_of_block(start + %ld) %s", what, off,
              want ? "rejects a block start" : "accepts an offset that is not a block start");
        bad++;
      }
    }
  }
}

/* The divisibility test alone, for offsets up to a segment past the page's
 * start (an address past the page's end must be rejected too): the rotated
 * product (p * odd^-1 - grid_base) must be offset / size for a multiple of
 * the size, and above every possible capacity (2^32 / size) for any other
 * offset, near every multiple. */
static void check_divisibility(const tide_page *page) {
  size_t bs = page->block_size;
  uint64_t above = (uint64_t)UINT32_MAX / bs;
  int bad = 0;
  for (uint64_t k = 0; k * bs < TIDE_SEGMENT_SIZE + bs && bad < 5; k++) {
    static const long deltas[] = {0, 1, -1, 8, -8, 16, -16};
    for (unsigned d = 0; d < sizeof deltas / sizeof deltas[0]; d++) {
      long off = (long)(k * bs) + deltas[d];
      if (off < 0 || off >= (long)TIDE_SEGMENT_SIZE) continue;
      uint32_t q = (uint32_t)(uintptr_t)(page_start(page) + off) * page->block_odd_inv - page->grid_base;
      unsigned r = page->block_shift;
      q = (q >> r) | (q << ((32 - r) & 31));
      bool ok = (size_t)off % bs == 0 ? q == (uint64_t)off / bs : q > above;
      if (!ok) {
        CHECK(ok, "block %zu: offset %ld * %u rotated by %u = %u, want %s", bs, off, page->block_odd_inv, r, q,
              (size_t)off % bs == 0 ? "the quotient" : "above 2^32 / size");
        bad++;
      }
    }
  }
}

int main(void) {
  u_glibc_off_brk();
  tide_heap *heap = u_heap();
  /* A page of every class, made by page_alloc (which runs page_init) and
   * extended to its full capacity. */
  for (unsigned bin = 1; bin < TIDE_BIN_COUNT; bin++) {
    tide_page *page = page_alloc(heap, bin);
    REQUIRE(page != NULL, "page_alloc(%u) failed", bin);
    char what[64];
    snprintf(what, sizeof what, "class %u", tide_bin_size[bin]);
    CHECK(page->block_size == tide_bin_size[bin], "%s: block_size %u", what, page->block_size);
    CHECK(page->slice_count == sizeclass_page_slices(bin), "%s: %u slices, want %u", what, page->slice_count,
          sizeclass_page_slices(bin));
    CHECK(segment_of(page)->slice_page[page - segment_of(page)->pages] == segment_page_offset((unsigned)(page - segment_of(page)->pages)),
          "%s: the head's slice does not lead to its descriptor", what);
    CHECK(page->capacity > 0 && page->capacity <= page_reserved(page), "%s: capacity %u after page_alloc (room %u)",
          what, page->capacity, page_reserved(page));
    /* a partly carved page first: blocks past capacity are not blocks yet */
    check_page(page, what);
    while (page_extend(page)) {
    }
    CHECK(page->capacity == page_reserved(page), "%s: capacity %u, want %u", what, page->capacity,
          page_reserved(page));
    check_page(page, what);
    check_divisibility(page);
    if (t_failures) break;
  }
  /* Pages of one large block (above the largest class), at several sizes. */
  REQUIRE(tide_option_set("mmap_threshold", 32 * MiB) == 0, "tide_option_set(mmap_threshold, 32M)");
  static const size_t larges[] = {TIDE_BIN_MAX + 1, 200 * KiB, 1 * MiB, 1 * MiB + 1, 3 * MiB + 12345,
                                  TIDE_LARGE_MAX};
  for (unsigned i = 0; i < sizeof larges / sizeof larges[0]; i++) {
    void *p = tide_malloc(larges[i]);
    REQUIRE(p != NULL, "tide_malloc(%zu) failed", larges[i]);
    tide_segment *seg = segment_of(p);
    REQUIRE(seg->kind != TIDE_SEG_HUGE, "tide_malloc(%zu) with mmap_threshold=32M is a huge block", larges[i]);
    tide_page *page = page_of_block(seg, p);
    REQUIRE(page != NULL, "large block %p (%zu bytes) not found by page_of_block", p, larges[i]);
    char what[64];
    snprintf(what, sizeof what, "large %zu", larges[i]);
    CHECK(page->bin == TIDE_BIN_LARGE && page->capacity == 1, "%s: bin %u capacity %u", what, page->bin,
          page->capacity);
    CHECK(page->block_size == tide_align_up(larges[i], TIDE_SLICE_SIZE), "%s: block_size %u", what,
          page->block_size);
    check_page(page, what);
    check_divisibility(page);
    tide_free(p);
  }
  printf("%lu offsets checked exhaustively\n", checked);
  return t_finish("pagemath");
}

/* SPDX-License-Identifier: MIT */
/* A page made on resident free slices (segment.c, segment_trim_tails) gives
 * back, at its owner's purge, the part of its span it has not carved: that
 * memory still holds an earlier page's blocks and serves nobody.  A page
 * that is still carving keeps its tail until a later purge.  Resident
 * memory is measured by mincore; contents are checked across the trim and
 * across the page's growth into the trimmed tail. */
#include "unit.h"

#include <unistd.h>

#define SMALL 64
#define PER_PAGE (65536 / SMALL)
#define BIG 1024 /* a class with no page yet: one slice, 4 blocks carved at first */

int main(void) {
  u_glibc_off_brk();
  (void)u_heap();
  tide_opt.purge_delay_ms = 1000 * 1000; /* no purge of its own during the test */
  size_t os_page = (size_t)sysconf(_SC_PAGESIZE);

  /* Two pages of 64-byte blocks, every block written; the first page's
   * blocks all freed: it is not the last page of its class, so its slice
   * goes back to the segment, resident, waiting for its purge. */
  static uint8_t *small[2 * PER_PAGE];
  for (int i = 0; i < 2 * PER_PAGE; i++) {
    small[i] = tide_malloc(SMALL);
    REQUIRE(small[i] != NULL, "tide_malloc(64)");
    memset(small[i], 0xa5, SMALL);
  }
  tide_segment *seg = segment_find(small[0]);
  REQUIRE(seg != NULL, "no segment for a block");
  tide_page *first = page_of(seg, small[0]);
  uint8_t *span = page_start(first);
  unsigned slice = (unsigned)((span - (uint8_t *)seg) >> TIDE_SLICE_SHIFT);
  for (int i = 0; i < 2 * PER_PAGE; i++)
    if (page_of(seg, small[i]) == first) small[i] = (tide_free(small[i]), NULL);
  CHECK((seg->free_slices >> slice & 1) && (seg->purge_slices >> slice & 1),
        "the emptied page's slice is not free and waiting (free %llx, waiting %llx)",
        (unsigned long long)seg->free_slices, (unsigned long long)seg->purge_slices);
  size_t whole = TIDE_SLICE_SIZE / os_page;
  CHECK(u_resident_pages(span, TIDE_SLICE_SIZE) == whole, "the freed slice has %zu of %zu pages resident",
        u_resident_pages(span, TIDE_SLICE_SIZE), whole);

  /* A page of a new class lands on that warm slice and carves one OS page. */
  uint8_t *big[40];
  big[0] = tide_malloc(BIG);
  REQUIRE(big[0] != NULL, "tide_malloc(%d)", BIG);
  tide_page *page = page_of(seg, big[0]);
  CHECK(segment_find(big[0]) == seg && page_start(page) == span,
        "the new class's page is not on the warm slice (%p, slice at %p)", (void *)page_start(page),
        (void *)span);
  CHECK(seg->warm_tails >> slice & 1, "a page made on a resident slice is not marked (warm_tails %llx)",
        (unsigned long long)seg->warm_tails);
  memset(big[0], 0x5a, BIG);
  uint32_t carved = page->capacity;
  REQUIRE(carved >= 2 && (size_t)carved * BIG < TIDE_SLICE_SIZE / 2, "page carved %u blocks at first",
          carved);

  /* Still carving: every carved block in use.  The trim leaves it. */
  for (uint32_t i = 1; i < carved; i++) {
    big[i] = tide_malloc(BIG);
    REQUIRE(big[i] != NULL && page_of(seg, big[i]) == page, "block %u not on the page", i);
    memset(big[i], (int)(0x10 + i), BIG);
  }
  REQUIRE(page->capacity == carved, "the page carved more (%u) before it ran out", page->capacity);
  segment_trim_tails(seg);
  CHECK(u_resident_pages(span, TIDE_SLICE_SIZE) == whole,
        "a page with all its carved blocks in use lost its tail: %zu of %zu pages resident",
        u_resident_pages(span, TIDE_SLICE_SIZE), whole);
  CHECK(seg->warm_tails >> slice & 1, "a page left for later was unmarked");

  /* Most of its blocks free again: the next trim gives the tail back. */
  for (uint32_t i = 1; i < carved; i++) tide_free(big[i]);
  struct tide_stats s0, s1;
  u_stats(&s0);
  segment_trim_tails(seg);
  u_stats(&s1);
  size_t head = tide_align_up((size_t)carved * BIG, os_page);
  CHECK(u_resident_pages(span + head, TIDE_SLICE_SIZE - head) == 0,
        "the uncarved tail still has %zu pages resident after the trim",
        u_resident_pages(span + head, TIDE_SLICE_SIZE - head));
  CHECK(u_resident_pages(span, head) == head / os_page, "the carved part lost memory: %zu of %zu resident",
        u_resident_pages(span, head), head / os_page);
  CHECK(u_filled(big[0], BIG, 0x5a), "the live block's contents changed across the trim");
  CHECK(!(seg->warm_tails >> slice & 1), "a trimmed page is still marked");
  CHECK(s1.madvise.calls == s0.madvise.calls + 1, "the trim made %llu madvise calls, want 1",
        (unsigned long long)(s1.madvise.calls - s0.madvise.calls));
  CHECK(s1.committed_bytes == s0.committed_bytes,
        "the trim moved committed_bytes (%llu -> %llu): the tail is still the page's",
        (unsigned long long)s0.committed_bytes, (unsigned long long)s1.committed_bytes);

  /* The page grows into the trimmed tail: the kernel's zeros, not the old
   * page's 0xa5, writable, and the old block is untouched. */
  int more = 0;
  for (int i = 1; i < 40; i++, more++) {
    big[i] = tide_malloc(BIG);
    REQUIRE(big[i] != NULL, "tide_malloc(%d)", BIG);
    if (page_of(seg, big[i]) == page && (uint8_t *)big[i] >= span + head)
      CHECK(u_filled(big[i] + 16, BIG - 16, 0), /* the first two words: its link, its key */
            "a block carved from the trimmed tail holds the old page's bytes");
    memset(big[i], (int)(0x20 + i), BIG);
  }
  CHECK(page->capacity > carved, "the page did not grow into its tail (capacity %u)", page->capacity);
  for (int i = 1; i <= more; i++)
    CHECK(u_filled(big[i], BIG, (uint8_t)(0x20 + i)), "block %d lost its contents", i);
  CHECK(u_filled(big[0], BIG, 0x5a), "the first block lost its contents");
  printf("page on a warm slice: %u blocks carved, tail of %zu KiB given back, grew to %u blocks\n",
         carved, (TIDE_SLICE_SIZE - head) / 1024, page->capacity);
  for (int i = 0; i <= more; i++) tide_free(big[i]);
  for (int i = 0; i < 2 * PER_PAGE; i++) tide_free(small[i]);
  return t_finish("warm pages give back their uncarved tails");
}

/* SPDX-License-Identifier: MIT */
/* The purge clock of a segment's free slices (segment.c): every slice waits
 * a whole purge delay before it is given back.  A slice freed while another
 * slice of its segment is already waiting is not given back at that wait's
 * deadline (it would be faulted in again at once by a program that churns:
 * mstress made 550-1350 madvise calls of this kind), but at the next one.
 * Resident memory is measured by mincore, not by our own bookkeeping. */
#include "unit.h"

#include <unistd.h>

static uint64_t slices_of(tide_segment *seg, const void *p, size_t n) {
  unsigned first = (unsigned)(((uintptr_t)p - (uintptr_t)seg) >> TIDE_SLICE_SHIFT);
  unsigned last = (unsigned)(((uintptr_t)p + n - 1 - (uintptr_t)seg) >> TIDE_SLICE_SHIFT);
  return (last - first + 1 >= 64 ? ~0ULL : ((1ULL << (last - first + 1)) - 1)) << first;
}

int main(void) {
  u_glibc_off_brk();
  (void)u_heap();
  /* Blocks above the largest class, below the mmap threshold: pages of one
   * block, of 5 slices, in one segment; `keep` holds the segment so that it
   * does not go back whole. */
  tide_mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  const size_t n = 300 * KiB;
  uint8_t *a = tide_malloc(n), *b = tide_malloc(n);
  uint8_t *keep = tide_malloc(n); /* above them: the break stays over a and b */
  REQUIRE(keep && a && b, "tide_malloc(300 KiB)");
  tide_segment *seg = segment_find(a);
  REQUIRE(seg != NULL && segment_find(b) == seg && segment_find(keep) == seg,
          "the three blocks are not in one segment: %p %p %p", (void *)segment_find(keep),
          (void *)seg, (void *)segment_find(b));
  memset(a, 1, n);
  memset(b, 2, n);
  uint64_t bits_a = slices_of(seg, a, n), bits_b = slices_of(seg, b, n);

  tide_free(a);
  uint64_t first_deadline = seg->purge_deadline_ns;
  CHECK(first_deadline != 0, "a freed page's slices started no wait");
  CHECK((seg->purge_slices & bits_a) == bits_a, "a's slices are not waiting to be purged");
  tide_free(b); /* freed while a's wait runs */
  CHECK(seg->purge_deadline_ns == first_deadline, "b's free moved the running wait");
  CHECK((seg->purge_slices & bits_b) == bits_b, "b's slices are not waiting to be purged");
  size_t pages = n / 4096;
  CHECK(u_resident_pages(a, n) >= pages - 1 && u_resident_pages(b, n) >= pages - 1,
        "freed pages left memory before any purge: a %zu, b %zu of %zu resident", u_resident_pages(a, n),
        u_resident_pages(b, n), pages);

  /* a's deadline: a has waited a whole delay, b almost none. */
  uint64_t next = segment_purge(seg, first_deadline, false, 1);
  CHECK((seg->purged_slices & bits_a) == bits_a, "a's slices were not purged at their deadline");
  CHECK(u_resident_pages(a, n) == 0, "a still has %zu pages resident after its purge", u_resident_pages(a, n));
  CHECK((seg->purged_slices & bits_b) == 0, "b's slices were purged after a fraction of the delay");
  CHECK(u_resident_pages(b, n) >= pages - 1, "b lost its memory at a's deadline: %zu of %zu resident",
        u_resident_pages(b, n), pages);
  CHECK(next != 0 && next == seg->purge_deadline_ns && next > first_deadline,
        "no new wait for b's slices (next deadline %llu, first %llu)", (unsigned long long)next,
        (unsigned long long)first_deadline);

  /* b's own deadline: now it goes back. */
  CHECK(segment_purge(seg, next, false, 1) == 0, "a wait is still running after every slice went back");
  CHECK((seg->purged_slices & bits_b) == bits_b, "b's slices were not purged at their own deadline");
  CHECK(u_resident_pages(b, n) == 0, "b still has %zu pages resident after its purge", u_resident_pages(b, n));
  printf("a purged at its deadline; b, freed later, kept until the next (%.1f ms later)\n",
         (double)(next - first_deadline) / 1e6);
  tide_free(keep);
  return t_finish("purge waits a whole delay");
}

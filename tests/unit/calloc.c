/* SPDX-License-Identifier: MIT */
/* calloc clears only what may hold old data (alloc.c, calloc_dirty_bytes):
 * a block carved from a page made on zero slices, and never handed out,
 * is zero but for its link word; a block of one slice run made on zero
 * slices is zero whole.  Every other block is cleared.  Checked here: the
 * contents of every calloc'd block, whichever way the block came back
 * (local frees swapped in, remote frees collected, slices reused resident,
 * purged, under a lowered and raised break, or a span of both written and
 * zero slices), and that a fresh big block is not faulted in by calloc
 * (mincore). */
#include "unit.h"

#include <pthread.h>

#define SMALL 1000 /* a class of its own here: no page yet */
#define COUNT 200  /* over three pages of it */
#define BIG ((size_t)200 * 1024) /* above the largest class: a page of 4 slices */

static uint8_t *blocks[COUNT];

#define REMOTE_SIZE 2000 /* 32 blocks of 2048 bytes fill a page */
#define REMOTE_COUNT 32
static uint8_t *remote[REMOTE_COUNT];

static void *free_half(void *arg) {
  (void)arg;
  for (int i = 0; i < REMOTE_COUNT; i += 2) tide_free(remote[i]);
  return NULL;
}

/* Callocs of SMALL into every step-th slot, each checked zero whole, then
 * filled with v. */
static int calloc_round(const char *when, uint8_t v, int step) {
  int bad = 0;
  for (int i = 0; i < COUNT; i += step) {
    blocks[i] = tide_calloc(1, SMALL);
    REQUIRE(blocks[i] != NULL, "tide_calloc(1, %d)", SMALL);
    if (!u_filled(blocks[i], SMALL, 0)) bad++;
    memset(blocks[i], v, SMALL);
  }
  CHECK(bad == 0, "%s: %d calloc'd blocks held old bytes", when, bad);
  return bad;
}

int main(void) {
  u_glibc_off_brk();
  (void)u_heap();
  tide_opt.purge_delay_ms = 1000 * 1000; /* no purge but the test's own */
  tide_mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); /* big blocks in pages */
  size_t os_page = (size_t)sysconf(_SC_PAGESIZE);

  /* A block of a class of a few per page, carved fresh: calloc writes its
   * link word's OS page only. */
  uint8_t *medium = tide_calloc(1, 30000);
  REQUIRE(medium != NULL, "tide_calloc(1, 30000)");
  size_t touched = u_resident_pages(medium, 30000);
  CHECK(touched <= 1, "calloc of a fresh 30000-byte block faulted in %zu of its pages", touched);
  CHECK(u_filled(medium, 30000, 0), "a fresh 30000-byte block is not zero");
  memset(medium, 0x66, 30000);
  /* A big block on zero slices: calloc writes none of it. */
  uint8_t *big = tide_calloc(1, BIG);
  REQUIRE(big != NULL, "tide_calloc(1, %zu)", BIG);
  CHECK(segment_find(big) != NULL && huge_find(segment_find(big)) == NULL,
        "the %zu-byte block is not a page of a segment", BIG);
  touched = u_resident_pages(big, BIG);
  CHECK(touched <= 1, "calloc of a block on fresh slices faulted in %zu of its %zu pages", touched,
        BIG / os_page);
  CHECK(u_filled(big, BIG, 0), "a fresh big block is not zero");
  memset(big, 0x77, BIG);

  /* A fresh page of another class carved to the end, half of it freed by
   * another thread: the blocks come back collected as remote frees, onto a
   * list that was all new blocks. */
  for (int i = 0; i < REMOTE_COUNT; i++) {
    remote[i] = tide_calloc(1, REMOTE_SIZE);
    REQUIRE(remote[i] != NULL, "tide_calloc(1, %d)", REMOTE_SIZE);
    CHECK(u_filled(remote[i], REMOTE_SIZE, 0), "fresh block %d of %d bytes is not zero", i, REMOTE_SIZE);
    memset(remote[i], 0x3c, REMOTE_SIZE);
  }
  tide_page *rpage = page_of(segment_find(remote[0]), remote[0]);
  REQUIRE(rpage->flags & TIDE_PAGE_FREE_ZERO, "the %d-byte page is not marked fresh", REMOTE_SIZE);
  REQUIRE(page_of(segment_find(remote[REMOTE_COUNT - 1]), remote[REMOTE_COUNT - 1]) == rpage &&
              rpage->capacity == REMOTE_COUNT && rpage->free == NULL,
          "the %d-byte blocks do not fill one page", REMOTE_SIZE);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, free_half, NULL) == 0, "pthread_create");
  REQUIRE(pthread_join(t, NULL) == 0, "pthread_join");
  int stale = 0;
  for (int i = 0; i < REMOTE_COUNT; i += 2) {
    remote[i] = tide_calloc(1, REMOTE_SIZE);
    REQUIRE(remote[i] != NULL, "tide_calloc(1, %d) after the remote frees", REMOTE_SIZE);
    stale += !u_filled(remote[i], REMOTE_SIZE, 0);
  }
  CHECK(stale == 0, "remote frees: %d calloc'd blocks held old bytes", stale);
  for (int i = 0; i < REMOTE_COUNT; i++) tide_free(remote[i]);

  /* A new class on the fresh brk heap: the page says its list is new. */
  calloc_round("fresh pages", 0xa5, 1);
  tide_page *page = page_of(segment_find(blocks[0]), blocks[COUNT - 1]);
  CHECK(page->flags & TIDE_PAGE_FRESH, "a page made on the fresh heap is not marked fresh");
  CHECK(page->flags & TIDE_PAGE_FREE_ZERO, "a fresh page's carved list is not marked zero");

  /* All freed and taken again: they come back through the local list
   * (swapped in by the fast path and by the slow one). */
  for (int i = 0; i < COUNT; i++) tide_free(blocks[i]);
  calloc_round("local frees", 0x5a, 1);

  for (int i = 0; i < COUNT; i++) tide_free(blocks[i]);

  tide_free(big);
  /* Its slices, resident and written, serve the next one: cleared. */
  uint8_t *again = tide_calloc(1, BIG);
  REQUIRE(again != NULL, "tide_calloc(1, %zu) again", BIG);
  CHECK(!(page_of(segment_find(again), again)->flags & TIDE_PAGE_FRESH),
        "the second big block's page (%p; the first at %p) is marked fresh on reused slices",
        (void *)again, (void *)big);
  CHECK(u_filled(again, BIG, 0), "a big block on reused resident slices held old bytes");
  memset(again, 0x77, BIG);
  tide_free(again);

  /* The medium block, freed and taken again, is cleared. */
  tide_free(medium);
  medium = tide_calloc(1, 30000);
  REQUIRE(medium != NULL, "tide_calloc(1, 30000) again");
  CHECK(u_filled(medium, 30000, 0), "a 30000-byte block freed and taken again held old bytes");
  tide_free(medium);

  /* Purged: zero again, and calloc leaves it untouched. */
  tide_segment *seg = segment_find(blocks[0]);
  REQUIRE(seg != NULL && segment_find(big) == seg, "the blocks are not in one segment");
  pthread_mutex_lock(&u_heap()->seg_lock);
  segment_purge(seg, init_clock_ns(), true, 1);
  pthread_mutex_unlock(&u_heap()->seg_lock);
  uint8_t *purged = tide_calloc(1, BIG);
  REQUIRE(purged != NULL, "tide_calloc(1, %zu) after the purge", BIG);
  REQUIRE(segment_find(purged) == seg, "the block after the purge is in another segment");
  touched = u_resident_pages(purged, BIG);
  CHECK(touched <= 1, "calloc of a block on purged slices faulted in %zu of its %zu pages", touched,
        BIG / os_page);
  CHECK(u_filled(purged, BIG, 0), "a big block on purged slices held old bytes");
  memset(purged, 0x44, BIG);
  tide_free(purged);

  /* The break lowered over the free top: what it left reads as zero,
   * whatever was known before (knowing less is always safe). */
  seg->zero_slices = 0;
  if (seg->kind == TIDE_SEG_BRK && brk_trim_top(seg, true) > 0) {
    unsigned above = (unsigned)(((uintptr_t)seg->commit_end - (uintptr_t)seg) >> TIDE_SLICE_SHIFT);
    uint64_t gone = above < 64 ? seg->free_slices & (~0ULL << above) : 0;
    CHECK(gone != 0 && (seg->zero_slices & gone) == gone,
          "slices above the lowered break are not known zero (free %llx, zero %llx, from %u)",
          (unsigned long long)seg->free_slices, (unsigned long long)seg->zero_slices, above);
  } else {
    CHECK(false, "the break did not come down over the segment's free top");
  }

  /* Then all of it (tide_malloc_trim): purged and the break lowered. */
  tide_malloc_trim(0);
  purged = tide_calloc(1, BIG);
  REQUIRE(purged != NULL, "tide_calloc(1, %zu) after the trim", BIG);
  touched = u_resident_pages(purged, BIG);
  CHECK(touched <= 1, "calloc of a block on purged slices faulted in %zu of its %zu pages", touched,
        BIG / os_page);
  CHECK(u_filled(purged, BIG, 0), "a big block after malloc_trim held old bytes");
  tide_free(purged);

  /* A span partly on written slices, partly on zero ones: cleared whole.
   * The four slices are written and freed, purged (zero), then three of
   * them written again by a block of its own and freed. */
  uint8_t *q = tide_malloc(BIG);
  REQUIRE(q != NULL, "tide_malloc(%zu)", BIG);
  memset(q, 0x99, BIG);
  tide_free(q);
  pthread_mutex_lock(&u_heap()->seg_lock);
  segment_purge(segment_find(q), init_clock_ns(), true, 1);
  pthread_mutex_unlock(&u_heap()->seg_lock);
  const size_t three = 2 * TIDE_SLICE_SIZE + 1; /* above the largest class: 3 slices */
  uint8_t *w = tide_malloc(three);
  REQUIRE(w >= q && w + three <= q + BIG, "the %zu-byte block (%p) is not on the purged span (%p)", three,
          (void *)w, (void *)q);
  memset(w, 0xbb, three);
  tide_free(w);
  tide_segment *qseg = segment_find(q);
  uint64_t zero_before = qseg->zero_slices;
  uint8_t *mixed = tide_calloc(1, BIG);
  REQUIRE(mixed != NULL && segment_find(mixed) == qseg, "tide_calloc(1, %zu) left the segment", BIG);
  unsigned at = (unsigned)(((uintptr_t)mixed - (uintptr_t)qseg) >> TIDE_SLICE_SHIFT);
  uint64_t span = ((1ULL << (BIG + TIDE_SLICE_SIZE - 1) / TIDE_SLICE_SIZE) - 1) << at;
  REQUIRE((zero_before & span) != 0 && (zero_before & span) != span && mixed < w + three && mixed + BIG > w,
          "the calloc'd block (%p, slices %llx) is not on both written and zero slices (zero %llx)",
          (void *)mixed, (unsigned long long)span, (unsigned long long)zero_before);
  CHECK(!(page_of(segment_find(mixed), mixed)->flags & TIDE_PAGE_FRESH),
        "a page on both written and zero slices is marked fresh");
  CHECK(u_filled(mixed, BIG, 0), "a big block on half-written slices held old bytes");
  tide_free(mixed);

  /* Small blocks on slices reused resident (the pages freed above went
   * back written): cleared whole. */
  uint8_t *filler[COUNT];
  for (int i = 0; i < COUNT; i++) {
    filler[i] = tide_malloc(SMALL);
    REQUIRE(filler[i] != NULL, "tide_malloc(%d)", SMALL);
    memset(filler[i], 0x11, SMALL);
  }
  for (int i = 0; i < COUNT; i++) tide_free(filler[i]);
  int bad = 0;
  for (int i = 0; i < COUNT; i++) {
    filler[i] = tide_calloc(1, SMALL);
    REQUIRE(filler[i] != NULL, "tide_calloc(1, %d)", SMALL);
    if (!u_filled(filler[i], SMALL, 0)) bad++;
  }
  CHECK(bad == 0, "after reuse: %d calloc'd blocks held old bytes", bad);
  for (int i = 0; i < COUNT; i++) tide_free(filler[i]);
  printf("calloc: %d blocks of %d bytes and %d of %d checked; a fresh %zu KiB block left "
         "untouched (%zu page resident)\n",
         3 * COUNT, SMALL, REMOTE_COUNT * 3 / 2, REMOTE_SIZE, BIG / 1024, touched);
  return t_finish("calloc clears what may hold old data, and only that");
}

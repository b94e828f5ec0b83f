/* SPDX-License-Identifier: MIT */
/* The large-object path (large.c): huge blocks are segments of their own
 * (TIDE_SEG_HUGE) marked in the segment map, head and continuation bits;
 * freed, the bits are clear; realloc uses mremap and keeps contents; aligned
 * huge blocks are aligned and freeable; a reused cached mapping is zeroed by
 * calloc. */
#include "unit.h"

/* Head bit at seg, continuation bits over the rest of its units, and no bit
 * on the unit just above. */
static void check_map(tide_segment *seg, const char *what) {
  uintptr_t a = (uintptr_t)seg;
  size_t units = tide_align_up(seg->size, TIDE_SEGMENT_SIZE) / TIDE_SEGMENT_SIZE;
  CHECK(a % TIDE_SEGMENT_SIZE == 0, "%s: segment %#lx not 4 MiB aligned", what, (unsigned long)a);
  CHECK(u_is_head((void *)a) && !u_is_cont((void *)a), "%s: head bit %d / cont bit %d at the segment", what,
        u_is_head((void *)a), u_is_cont((void *)a));
  for (size_t u = 1; u < units; u++) {
    void *at = (void *)(a + u * TIDE_SEGMENT_SIZE);
    CHECK(u_is_cont(at) && !u_is_head(at), "%s: unit %zu of %zu: cont bit %d head bit %d", what, u, units,
          u_is_cont(at), u_is_head(at));
    CHECK(segment_find((uint8_t *)at + 12345) == seg, "%s: segment_find in unit %zu gives %p, not %p", what, u,
          (void *)segment_find((uint8_t *)at + 12345), (void *)seg);
  }
  void *above = (void *)(a + units * TIDE_SEGMENT_SIZE);
  CHECK(!u_is_cont(above), "%s: the unit above the segment (%p) has a cont bit", what, above);
}

/* Nothing of [a, a + size) is in the map any more. */
static void check_unmapped(uintptr_t a, size_t size, const char *what) {
  for (uintptr_t u = a; u < a + size; u += TIDE_SEGMENT_SIZE)
    if (u_is_head((void *)u) || u_is_cont((void *)u)) {
      CHECK(0, "%s: unit %#lx still has head %d / cont %d after free", what, (unsigned long)u, u_is_head((void *)u),
            u_is_cont((void *)u));
      return;
    }
}

static tide_segment *huge_of(void *p, size_t size, const char *what) {
  tide_segment *seg = segment_find(p);
  REQUIRE(seg != NULL, "%s: segment_find(%p) found nothing", what, p);
  CHECK(seg->kind == TIDE_SEG_HUGE, "%s: block %p (%zu bytes) in a segment of kind %u", what, p, size, seg->kind);
  tide_big *big = huge_find(seg);
  REQUIRE(big != NULL, "%s: block %p's segment %p has no big-block record", what, p, (void *)seg);
  CHECK(p == huge_block(big), "%s: block %p is not the segment's block %p", what, p, huge_block(big));
  CHECK((uint8_t *)p + size <= (uint8_t *)seg + seg->size, "%s: block %p+%zu beyond the mapping %p+%zu", what, p, size,
        (void *)seg, seg->size);
  CHECK(tide_malloc_usable_size(p) >= size, "%s: usable size %zu < %zu", what, tide_malloc_usable_size(p), size);
  return seg;
}

int main(void) {
  u_glibc_off_brk();
  (void)u_heap();
  struct tide_stats s0, s1;

  /* 1 MiB and 20 MiB at the default threshold: mapped. */
  REQUIRE(u_stats(&s0) == 0, "tide_stats");
  uint8_t *a = tide_malloc(1 * MiB), *b = tide_malloc(20 * MiB);
  REQUIRE(a && b, "tide_malloc(1 MiB / 20 MiB)");
  t_fill(a, MiB);
  t_fill(b, 20 * MiB);
  tide_segment *sa = huge_of(a, MiB, "1 MiB"), *sb = huge_of(b, 20 * MiB, "20 MiB");
  check_map(sa, "1 MiB");
  check_map(sb, "20 MiB");
  CHECK(sb->size >= 20 * MiB && sb->size < 20 * MiB + TIDE_SEGMENT_SIZE, "20 MiB block in a mapping of %zu bytes",
        sb->size);
  CHECK(segment_find(b + 10 * MiB) == sb && segment_find(b + 20 * MiB - 1) == sb,
        "segment_find of an interior address of the 20 MiB block does not find its head");
  CHECK(segment_find(b + 20 * MiB + TIDE_SEGMENT_SIZE) != sb, "segment_find past the 20 MiB block finds it");
  REQUIRE(u_stats(&s1) == 0, "tide_stats");
  CHECK(s1.huge_blocks == s0.huge_blocks + 2, "huge_blocks %llu -> %llu, want +2", (unsigned long long)s0.huge_blocks,
        (unsigned long long)s1.huge_blocks);
  CHECK(s1.mmap.calls >= s0.mmap.calls + 2, "mmap.calls %llu -> %llu", (unsigned long long)s0.mmap.calls,
        (unsigned long long)s1.mmap.calls);
  /* freed: munmap, and the bits clear */
  uintptr_t sa_at = (uintptr_t)sa, sb_at = (uintptr_t)sb;
  size_t sa_size = sa->size, sb_size = sb->size;
  CHECK(t_check(a, MiB) == (size_t)-1 && t_check(b, 20 * MiB) == (size_t)-1, "huge blocks lost their contents");
  tide_free(a);
  check_unmapped(sa_at, sa_size, "1 MiB");
  tide_free(b);
  check_unmapped(sb_at, sb_size, "20 MiB");
  REQUIRE(u_stats(&s0) == 0, "tide_stats");
  CHECK(s0.huge_blocks == s1.huge_blocks - 2, "huge_blocks %llu after freeing both (was %llu)",
        (unsigned long long)s0.huge_blocks, (unsigned long long)s1.huge_blocks);
  CHECK(s0.munmap.calls >= s1.munmap.calls + 2, "munmap.calls %llu -> %llu", (unsigned long long)s1.munmap.calls,
        (unsigned long long)s0.munmap.calls);

  /* Fix the threshold from here on: freed huge blocks go straight back. */
  REQUIRE(tide_option_set("mmap_threshold", 128 * KiB) == 0, "tide_option_set(mmap_threshold, 128K)");

  /* realloc 1 MiB -> 8 MiB -> 2 MiB: mremap, contents kept, bits follow. */
  uint8_t *r = tide_malloc(MiB);
  REQUIRE(r, "tide_malloc(1 MiB)");
  t_fill_tag(r, MiB, 42);
  REQUIRE(u_stats(&s0) == 0, "tide_stats");
  uintptr_t old_seg = (uintptr_t)segment_of(r);
  uint8_t *r2 = tide_realloc(r, 8 * MiB);
  REQUIRE(r2, "tide_realloc(1 MiB -> 8 MiB)");
  REQUIRE(u_stats(&s1) == 0, "tide_stats");
  CHECK(t_check_tag(r2, MiB, MiB, 42) == (size_t)-1, "realloc 1 -> 8 MiB lost contents at %zu",
        t_check_tag(r2, MiB, MiB, 42));
  CHECK(s1.mremap.calls > s0.mremap.calls, "realloc 1 -> 8 MiB made no mremap (mremap.calls %llu -> %llu)",
        (unsigned long long)s0.mremap.calls, (unsigned long long)s1.mremap.calls);
  tide_segment *s8 = huge_of(r2, 8 * MiB, "realloc to 8 MiB");
  check_map(s8, "realloc to 8 MiB");
  if ((uintptr_t)s8 != old_seg) check_unmapped(old_seg, TIDE_SEGMENT_SIZE, "the 1 MiB block's old place");
  memset(r2 + MiB, 0x5a, 7 * MiB);
  uintptr_t s8_at = (uintptr_t)s8;
  size_t s8_size = s8->size;
  uint8_t *r3 = tide_realloc(r2, 2 * MiB);
  REQUIRE(r3, "tide_realloc(8 MiB -> 2 MiB)");
  CHECK(t_check_tag(r3, MiB, MiB, 42) == (size_t)-1 && r3[MiB] == 0x5a && r3[2 * MiB - 1] == 0x5a,
        "realloc 8 -> 2 MiB lost contents");
  tide_segment *s2 = huge_of(r3, 2 * MiB, "realloc to 2 MiB");
  check_map(s2, "realloc to 2 MiB");
  /* the units the 8 MiB block had above the 2 MiB one are not ours any more */
  if ((uintptr_t)s2 == s8_at)
    check_unmapped(s8_at + TIDE_SEGMENT_SIZE, s8_size - TIDE_SEGMENT_SIZE, "the tail of the shrunk block");
  else
    check_unmapped(s8_at, s8_size, "the 8 MiB block's old place");
  uintptr_t s2_at = (uintptr_t)s2;
  size_t s2_size = s2->size;
  tide_free(r3);
  check_unmapped(s2_at, s2_size, "the reallocated block");

  /* A mapping right above a huge block: growing it cannot happen in place,
   * the pages move (mremap MAYMOVE|FIXED into a fresh aligned range). */
  {
    uint8_t *g = tide_malloc(MiB);
    REQUIRE(g, "tide_malloc(1 MiB)");
    t_fill_tag(g, MiB, 99);
    tide_segment *gs = segment_find(g);
    REQUIRE(gs, "segment_find");
    uintptr_t gs_at = (uintptr_t)gs;
    size_t gs_size = gs->size;
    void *blocker = mmap((uint8_t *)gs + gs->size, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | 0x100000 /* MAP_FIXED_NOREPLACE */, -1, 0);
    if (blocker == MAP_FAILED || blocker != (void *)((uint8_t *)gs + gs->size)) {
      printf("could not map a blocker above the block: the move path is not tested\n");
      if (blocker != MAP_FAILED) munmap(blocker, 4096);
      tide_free(g);
    } else {
      REQUIRE(u_stats(&s0) == 0, "tide_stats");
      uint8_t *g2 = tide_realloc(g, 3 * MiB);
      REQUIRE(g2, "tide_realloc(1 MiB -> 3 MiB) with a mapping above");
      REQUIRE(u_stats(&s1) == 0, "tide_stats");
      CHECK(g2 != g, "the block grew in place over a mapping that is not ours");
      CHECK(t_check_tag(g2, MiB, MiB, 99) == (size_t)-1, "the moved block lost its contents at %zu",
            t_check_tag(g2, MiB, MiB, 99));
      tide_segment *ms = huge_of(g2, 3 * MiB, "moved block");
      check_map(ms, "moved block");
      if ((uintptr_t)ms != gs_at) check_unmapped(gs_at, gs_size, "the moved block's old place");
      CHECK(s1.mapped_bytes - s0.mapped_bytes == ms->size - gs_size,
            "mapped_bytes grew by %lld for a mapping that grew by %lld", (long long)(s1.mapped_bytes - s0.mapped_bytes),
            (long long)(ms->size - gs_size));
      CHECK(s1.huge_bytes - s0.huge_bytes == ms->size - gs_size, "huge_bytes grew by %lld, the block by %lld",
            (long long)(s1.huge_bytes - s0.huge_bytes), (long long)(ms->size - gs_size));
      CHECK(s1.huge_blocks == s0.huge_blocks, "huge_blocks %llu -> %llu across a realloc",
            (unsigned long long)s0.huge_blocks, (unsigned long long)s1.huge_blocks);
      memset(g2 + MiB, 1, 2 * MiB);
      tide_free(g2);
      munmap(blocker, 4096);
      REQUIRE(u_stats(&s1) == 0, "tide_stats");
      CHECK(s1.mapped_bytes == s0.mapped_bytes - gs_size, "mapped_bytes %llu after free, want %llu",
            (unsigned long long)s1.mapped_bytes, (unsigned long long)(s0.mapped_bytes - gs_size));
    }
  }

  /* Aligned huge blocks: aligned, found, counted, freeable.  Blocks below
   * the threshold may wait in the cache after free (until tide_trim). */
  static const size_t aligns[] = {1 * MiB, 4 * MiB, 8 * MiB};
  static const size_t asizes[] = {16, 200 * KiB, 1 * MiB, 5 * MiB};
  struct {
    uintptr_t at;
    size_t size;
  } cached[12];
  unsigned ncached = 0;
  for (unsigned i = 0; i < 3; i++)
    for (unsigned j = 0; j < 4; j++) {
      size_t al = aligns[i], n = asizes[j];
      void *p = NULL;
      REQUIRE(u_stats(&s0) == 0, "tide_stats");
      int rc = tide_posix_memalign(&p, al, n);
      REQUIRE(rc == 0 && p, "tide_posix_memalign(%zu, %zu) = %d", al, n, rc);
      REQUIRE(u_stats(&s1) == 0, "tide_stats");
      char what[64];
      snprintf(what, sizeof what, "memalign(%zu KiB, %zu)", al / KiB, n);
      CHECK((uintptr_t)p % al == 0, "%s = %p is not aligned", what, p);
      tide_segment *seg = huge_of(p, n, what);
      check_map(seg, what);
      CHECK(s1.malloc_calls == s0.malloc_calls + 1, "%s: malloc_calls %llu -> %llu, want +1", what,
            (unsigned long long)s0.malloc_calls, (unsigned long long)s1.malloc_calls);
      CHECK(s1.huge_blocks == s0.huge_blocks + 1 && s1.huge_bytes >= s0.huge_bytes + n &&
                s1.huge_bytes - s0.huge_bytes <= n + al + TIDE_SEGMENT_SIZE,
            "%s: huge_blocks %llu -> %llu, huge_bytes %llu -> %llu", what, (unsigned long long)s0.huge_blocks,
            (unsigned long long)s1.huge_blocks, (unsigned long long)s0.huge_bytes, (unsigned long long)s1.huge_bytes);
      memset(p, 0x77, n);
      uintptr_t at = (uintptr_t)seg;
      size_t sz = seg->size;
      void *q = tide_aligned_alloc(al, n); /* a second one, freed first */
      REQUIRE(q && (uintptr_t)q % al == 0, "tide_aligned_alloc(%zu, %zu) = %p", al, n, q);
      tide_free(q);
      CHECK(((uint8_t *)p)[n - 1] == 0x77, "%s: contents changed", what);
      tide_free(p);
      REQUIRE(u_stats(&s1) == 0, "tide_stats");
      CHECK(s1.huge_blocks == s0.huge_blocks && s1.huge_bytes == s0.huge_bytes && s1.allocated_bytes == s0.allocated_bytes,
            "%s: after free huge_blocks %llu -> %llu, huge_bytes %llu -> %llu, allocated_bytes %llu -> %llu", what,
            (unsigned long long)s0.huge_blocks, (unsigned long long)s1.huge_blocks, (unsigned long long)s0.huge_bytes,
            (unsigned long long)s1.huge_bytes, (unsigned long long)s0.allocated_bytes,
            (unsigned long long)s1.allocated_bytes);
      if (n >= 128 * KiB)
        check_unmapped(at, sz, what);
      else
        cached[ncached].at = at, cached[ncached++].size = sz;
    }
  tide_trim();
  for (unsigned i = 0; i < ncached; i++) check_unmapped(cached[i].at, cached[i].size, "small aligned block after trim");

  /* Back to the dynamic threshold: a freed block below it waits in the cache
   * and is reused; calloc must still hand out zeros, realloc must copy. */
  tide_option_set("mmap_threshold", 32 * MiB);
  {
    uint8_t *big = tide_malloc(8 * MiB);
    REQUIRE(big, "tide_malloc(8 MiB)");
    memset(big, 0xAB, 8 * MiB);
    tide_free(big);
    uint8_t *z = tide_calloc(1, 8 * MiB - 100 * KiB);
    REQUIRE(z, "tide_calloc(8 MiB - 100 KiB)");
    size_t nz = 0;
    for (size_t i = 0; i < 8 * MiB - 100 * KiB; i++) nz += z[i] != 0;
    CHECK(nz == 0, "calloc of a reused mapping has %zu non-zero bytes", nz);
    memset(z, 0xCD, 8 * MiB - 100 * KiB);
    tide_free(z);
    uint8_t *g = tide_malloc(6 * MiB);
    REQUIRE(g, "tide_malloc(6 MiB)");
    t_fill_tag(g, 6 * MiB, 7);
    uint8_t *g2 = tide_realloc(g, 7 * MiB + 512 * KiB);
    REQUIRE(g2, "tide_realloc(6 MiB -> 7.5 MiB)");
    CHECK(t_check_tag(g2, 6 * MiB, 6 * MiB, 7) == (size_t)-1, "realloc into a cached mapping lost contents at %zu",
          t_check_tag(g2, 6 * MiB, 6 * MiB, 7));
    huge_of(g2, 7 * MiB + 512 * KiB, "realloc to 7.5 MiB");
    tide_free(g2);
  }
  /* A mapping freed after the dynamic threshold rose past it (a bigger
   * block's free raised it) waits in the cache; the next block below the
   * threshold that fits takes it, resident already, instead of growing the
   * brk heap.  calloc still hands out zeros from it. */
  {
    tide_opt_write(mmap_threshold_fixed, false);
    tide_opt_write(mmap_threshold, 5 * MiB);
    uint8_t *a = tide_malloc(6 * MiB), *b = tide_malloc(10 * MiB);
    REQUIRE(a && b, "tide_malloc(6 MiB, 10 MiB)");
    tide_big *ra = huge_find(segment_find(a));
    REQUIRE(ra != NULL && !ra->in_brk, "a 6 MiB block above a 5 MiB threshold is not a mapping");
    memset(a, 0x11, 6 * MiB);
    tide_free(b);
    CHECK(tide_opt_read(mmap_threshold) > 6 * MiB, "freeing a 10 MiB mapping left the threshold at %zu",
          (size_t)tide_opt_read(mmap_threshold));
    tide_free(a);
    struct tide_stats c0, c1;
    REQUIRE(u_stats(&c0) == 0, "tide_stats");
    uint8_t *c = tide_malloc(6 * MiB - 64 * KiB);
    REQUIRE(u_stats(&c1) == 0 && c != NULL, "tide_malloc(6 MiB - 64 KiB)");
    CHECK(c == a, "the cached mapping was not reused: block at %p, the mapping's at %p", (void *)c, (void *)a);
    CHECK(c1.brk_grow.calls == c0.brk_grow.calls && c1.mmap.calls == c0.mmap.calls,
          "a block that fits a cached mapping made %llu brk and %llu mmap calls",
          (unsigned long long)(c1.brk_grow.calls - c0.brk_grow.calls),
          (unsigned long long)(c1.mmap.calls - c0.mmap.calls));
    tide_free(c);
    uint8_t *z = tide_calloc(1, 6 * MiB - 64 * KiB);
    REQUIRE(z != NULL, "tide_calloc(6 MiB - 64 KiB)");
    size_t nz = 0;
    for (size_t i = 0; i < 6 * MiB - 64 * KiB; i++) nz += z[i] != 0;
    CHECK(z == a && nz == 0, "calloc from the cached mapping: block at %p (mapping's %p), %zu non-zero bytes",
          (void *)z, (void *)a, nz);
    tide_free(z);
  }
  /* Everything gone: tide_trim() empties the cache and the map. */
  tide_trim();
  REQUIRE(u_stats(&s1) == 0, "tide_stats");
  CHECK(s1.huge_blocks == 0 && s1.huge_bytes == 0, "huge_blocks %llu, huge_bytes %llu with none live",
        (unsigned long long)s1.huge_blocks, (unsigned long long)s1.huge_bytes);
  return t_finish("large");
}

/* SPDX-License-Identifier: MIT */
/* Big blocks in the brk heap (brk.c, large.c).  usage: spans MODE
 *   place     a block too big for a segment but below the mmap threshold is
 *             a span of brk units: inside [heap_start, break), head bit on its
 *             first unit, cont bits on the others; freed, the units go to the
 *             pool and the next block of that size gets the same address
 *             without moving the break; calloc of a reused span is zero
 *   realloc   every realloc path keeps the contents: a span grown in place
 *             (free units above it), shrunk in place, moved to another span,
 *             moved down into a segment page, a page grown into a span, a
 *             span grown past the threshold into a mapping
 *   refault   a loop of zeroed 6-20 MiB blocks (malloc-large's pattern) is
 *             served from resident memory: page faults stay a small multiple
 *             of the memory live at once, not one per page per block
 *   return    after every span is freed, resident memory and the break fall
 *             back within a few purge delays, with no malloc_trim */
#include "unit.h"

#include <sys/resource.h>

static struct tide_stats st;

static bool in_brk_heap(const void *p) {
  REQUIRE(u_stats(&st) == 0, "tide_stats");
  return (uintptr_t)p >= st.heap_start && (uintptr_t)p < st.heap_break;
}

static tide_segment *span_of(void *p, size_t size, const char *what) {
  tide_segment *seg = segment_find(p);
  REQUIRE(seg != NULL, "%s: segment_find(%p) found nothing", what, p);
  REQUIRE(seg->kind == TIDE_SEG_HUGE && seg->in_brk, "%s: %p is in a segment of kind %u, in_brk %u", what, p,
          seg->kind, seg->in_brk);
  CHECK(in_brk_heap(p), "%s: span %p outside the brk heap [%#lx, %#lx)", what, p, (unsigned long)st.heap_start,
        (unsigned long)st.heap_break);
  CHECK(tide_malloc_usable_size(p) >= size, "%s: usable size %zu < %zu", what, tide_malloc_usable_size(p), size);
  size_t units = tide_align_up(seg->size, TIDE_SEGMENT_SIZE) / TIDE_SEGMENT_SIZE;
  CHECK(u_is_head(seg) && !u_is_cont(seg), "%s: no head bit at the span", what);
  for (size_t u = 1; u < units; u++)
    CHECK(u_is_cont((uint8_t *)seg + u * TIDE_SEGMENT_SIZE), "%s: unit %zu of %zu has no cont bit", what, u, units);
  CHECK(!u_is_cont((uint8_t *)seg + units * TIDE_SEGMENT_SIZE), "%s: the unit above the span has a cont bit", what);
  return seg;
}

static long minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

static int mode_place(void) {
  tide_mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); /* glibc's ceiling */
  REQUIRE(u_stats(&st) == 0, "tide_stats");
  uint64_t mmaps0 = st.mmap.calls;
  size_t n = 10 * MiB;
  uint8_t *a = tide_malloc(n);
  REQUIRE(a, "tide_malloc(10 MiB)");
  t_fill(a, n);
  span_of(a, n, "10 MiB");
  uintptr_t brk1 = t_brk_now();
  REQUIRE(u_stats(&st) == 0, "tide_stats");
  CHECK(st.huge_blocks == 0, "a 10 MiB heap block counted as a mapped one (huge_blocks %llu)",
        (unsigned long long)st.huge_blocks);
  CHECK(st.mmap.calls == mmaps0, "a 10 MiB heap block made %llu mmap calls",
        (unsigned long long)(st.mmap.calls - mmaps0));
  CHECK(t_check(a, n) == (size_t)-1, "10 MiB span lost its contents");
  tide_free(a);
  CHECK(!u_is_head(a) && segment_find(a) == NULL, "a freed span is still in the segment map");
  /* The same size again: the same units, the break where it was. */
  uint8_t *b = tide_calloc(1, n);
  REQUIRE(b, "tide_calloc(10 MiB)");
  CHECK(b == a, "the freed span's units were not reused: %p, then %p", (void *)a, (void *)b);
  CHECK(t_brk_now() == brk1, "reusing a free span moved the break from %#lx to %#lx", (unsigned long)brk1,
        (unsigned long)t_brk_now());
  for (size_t i = 0; i < n; i += 4096)
    if (b[i] != 0 || b[i + 4095] != 0) {
      CHECK(0, "calloc of a reused span is not zero at %zu", i);
      break;
    }
  /* A smaller block best fits elsewhere or in the same run. */
  uint8_t *c = tide_malloc(5 * MiB);
  REQUIRE(c, "tide_malloc(5 MiB)");
  span_of(c, 5 * MiB, "5 MiB");
  CHECK(c + 5 * MiB <= b || c >= b + n, "two live spans overlap");
  tide_free(b);
  tide_free(c);
  return t_finish("spans place");
}

static int mode_realloc(void) {
  tide_mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  /* Keep something above, so the spans are not at the top of the heap. */
  size_t n = 6 * MiB;
  uint8_t *a = tide_malloc(n);
  uint8_t *gap = tide_malloc(12 * MiB); /* freed: three free units above a */
  uint8_t *above = tide_malloc(5 * MiB);
  REQUIRE(a && gap && above, "tide_malloc");
  t_fill(a, n);
  t_fill(above, 5 * MiB);
  tide_free(gap);
  /* grown in place into the free units above */
  uint8_t *g = tide_realloc(a, 14 * MiB);
  REQUIRE(g, "realloc 6 -> 14 MiB");
  CHECK(g == a, "realloc 6 -> 14 MiB moved (%p -> %p) although the units above were free", (void *)a, (void *)g);
  CHECK(t_check_tag(g, n, n, (uintptr_t)a) == (size_t)-1, "realloc 6 -> 14 MiB in place lost contents");
  span_of(g, 14 * MiB, "grown in place");
  memset(g + n, 0x5a, 14 * MiB - n);
  /* shrunk in place: units come off the end */
  uint8_t *s = tide_realloc(g, 7 * MiB);
  REQUIRE(s == g, "realloc 14 -> 7 MiB moved (%p -> %p)", (void *)g, (void *)s);
  CHECK(t_check_tag(s, n, n, (uintptr_t)a) == (size_t)-1 && s[7 * MiB - 1] == 0x5a,
        "realloc 14 -> 7 MiB in place lost contents");
  span_of(s, 7 * MiB, "shrunk in place");
  /* grown where the units above are taken: moved to another span */
  uint8_t *fill = tide_malloc(9 * MiB); /* takes the free units above s */
  REQUIRE(fill, "tide_malloc(9 MiB)");
  uint8_t *m = tide_realloc(s, 20 * MiB);
  REQUIRE(m, "realloc 7 -> 20 MiB");
  CHECK(t_check_tag(m, n, n, (uintptr_t)a) == (size_t)-1 && m[7 * MiB - 1] == 0x5a, "realloc 7 -> 20 MiB lost contents");
  span_of(m, 20 * MiB, "moved span");
  /* down into a segment: a page of its own */
  uint8_t *d = tide_realloc(m, 300 * KiB);
  REQUIRE(d, "realloc 20 MiB -> 300 KiB");
  CHECK(t_check_tag(d, n, 300 * KiB, (uintptr_t)a) == (size_t)-1, "realloc 20 MiB -> 300 KiB lost contents");
  tide_segment *ds = segment_find(d);
  CHECK(ds && ds->kind == TIDE_SEG_BRK, "a 300 KiB block is not in a brk segment (kind %u)", ds ? ds->kind : 0);
  /* up again from a page into a span */
  uint8_t *u = tide_realloc(d, 8 * MiB);
  REQUIRE(u, "realloc 300 KiB -> 8 MiB");
  CHECK(t_check_tag(u, n, 300 * KiB, (uintptr_t)a) == (size_t)-1, "realloc 300 KiB -> 8 MiB lost contents");
  span_of(u, 8 * MiB, "page grown into a span");
  /* past the threshold: in place if the units above are free (as glibc
   * grows a chunk into its top), else moved into a mapping of its own */
  uint8_t *big = tide_realloc(u, 40 * MiB);
  REQUIRE(big, "realloc 8 -> 40 MiB");
  CHECK(t_check_tag(big, n, 300 * KiB, (uintptr_t)a) == (size_t)-1, "realloc 8 -> 40 MiB lost contents");
  tide_segment *bs = segment_find(big);
  CHECK(bs && bs->kind == TIDE_SEG_HUGE && (big == u ? bs->in_brk : !bs->in_brk),
        "realloc 8 -> 40 MiB: %s, in_brk %d", big == u ? "in place" : "moved", bs ? bs->in_brk : -1);
  memset(big + 20 * MiB, 7, 20 * MiB);
  /* and a mapping that moves back below the threshold keeps its bytes too */
  uint8_t *mapped = tide_malloc(36 * MiB);
  REQUIRE(mapped, "tide_malloc(36 MiB)");
  tide_segment *ms = segment_find(mapped);
  CHECK(ms && !ms->in_brk, "a 36 MiB block above the threshold is not a mapping");
  t_fill(mapped, 36 * MiB);
  uint8_t *back = tide_realloc(mapped, 12 * MiB);
  REQUIRE(back, "realloc 36 -> 12 MiB");
  CHECK(t_check_tag(back, 36 * MiB, 12 * MiB, (uintptr_t)mapped) == (size_t)-1, "realloc 36 -> 12 MiB lost contents");
  tide_free(back);
  CHECK(t_check(above, 5 * MiB) == (size_t)-1, "the block above the spans was overwritten");
  tide_free(big);
  tide_free(fill);
  tide_free(above);
  return t_finish("spans realloc");
}

static int mode_refault(void) {
  enum { SLOTS = 8, ROUNDS = 300 };
  uint8_t *slot[SLOTS] = {0};
  size_t live_max = 0, live = 0, sizes[SLOTS] = {0};
  uint64_t r = 12345;
  long f0 = minflt();
  for (int i = 0; i < ROUNDS; i++) {
    r = r * 6364136223846793005ULL + 1442695040888963407ULL;
    int k = (int)((r >> 33) % SLOTS);
    size_t n = 6 * MiB + (size_t)((r >> 40) % (14 * MiB));
    if (slot[k]) {
      CHECK(slot[k][0] == (uint8_t)k && slot[k][sizes[k] - 1] == (uint8_t)k, "block %d lost its contents", k);
      tide_free(slot[k]);
      live -= sizes[k];
    }
    slot[k] = tide_malloc(n);
    REQUIRE(slot[k], "tide_malloc(%zu)", n);
    memset(slot[k], k, n); /* every page touched, as make_unique<char[]> does */
    sizes[k] = n;
    live += n;
    if (live > live_max) live_max = live;
  }
  long faults = minflt() - f0;
  long pages_live = (long)(live_max / 4096);
  printf("%d blocks of 6-20 MiB: %ld page faults, %ld pages live at most (%.1f faults per page of the peak)\n",
         ROUNDS, faults, pages_live, (double)faults / (double)pages_live);
  /* A fresh mapping per block would fault every page of every block:
   * about ROUNDS * 13 MiB / 4 KiB = 1,000,000. */
  CHECK(faults < 3 * pages_live, "%ld page faults for %d blocks: the big blocks are faulted in again and again",
        faults, ROUNDS);
  for (int k = 0; k < SLOTS; k++) tide_free(slot[k]);
  return t_finish("spans refault");
}

static int mode_return(void) {
  tide_mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  uintptr_t brk0 = t_brk_now();
  size_t rss0 = t_rss();
  uint8_t *b[6];
  for (int i = 0; i < 6; i++) {
    b[i] = tide_malloc((size_t)(5 + 3 * i) * MiB);
    REQUIRE(b[i], "tide_malloc");
    memset(b[i], 1, (size_t)(5 + 3 * i) * MiB);
  }
  size_t rss1 = t_rss();
  uintptr_t brk1 = t_brk_now();
  for (int i = 0; i < 6; i += 2) tide_free(b[i]); /* holes first */
  for (int i = 1; i < 6; i += 2) tide_free(b[i]);
  /* The program goes on with small work; the purge clock runs in it. */
  int waited = 0;
  for (; waited < 3000 && (t_rss() > rss0 + 8 * MiB || t_brk_now() > brk0 + 8 * MiB); waited += 10) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 200; i++) tide_free(tide_malloc(2000 + (size_t)i));
  }
  size_t rss2 = t_rss();
  uintptr_t brk2 = t_brk_now();
  printf("RSS %zu -> %zu -> %zu KiB; break +%lu -> +%lu KiB; back after %d ms\n", rss0 / 1024, rss1 / 1024,
         rss2 / 1024, (unsigned long)(brk1 - brk0) / 1024, (unsigned long)(brk2 - brk0) / 1024, waited);
  CHECK(brk1 >= brk0 + 60 * MiB, "90 MiB of big blocks moved the break by only %lu KiB",
        (unsigned long)(brk1 - brk0) / 1024);
  CHECK(rss2 <= rss0 + 8 * MiB, "freed spans still resident: RSS +%zu KiB over the start", (rss2 - rss0) / 1024);
  CHECK(brk2 <= brk0 + 8 * MiB, "the break did not come down over the freed spans: +%lu KiB",
        (unsigned long)(brk2 - brk0) / 1024);
  return t_finish("spans return");
}

int main(int argc, char **argv) {
  u_glibc_off_brk();
  (void)u_heap();
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "place")) return mode_place();
  if (!strcmp(m, "realloc")) return mode_realloc();
  if (!strcmp(m, "refault")) return mode_refault();
  if (!strcmp(m, "return")) return mode_return();
  fprintf(stderr, "usage: spans place|realloc|refault|return\n");
  return 2;
}

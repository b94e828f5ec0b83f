/* SPDX-License-Identifier: MIT */
/* The brk heap (brk.c).  usage: brk MODE
 *   grow     small blocks move the break up in steps of a few hundred KiB;
 *            segments are 4 MiB aligned inside [heap_start, break); freeing
 *            everything and tide_trim() brings the break back to its start
 *   foreign  a foreign sbrk(4096) between allocations is never overlapped,
 *            and tidemalloc keeps working (in the brk heap)
 *   fault    fault_brk=N / fault_at=N set at run time: a refused brk is
 *            survived, later segments come from mmap, older blocks intact */
#include "unit.h"

#define MAXB 400000
static unsigned char *blk[MAXB];
static size_t blen[MAXB];
static size_t nblk;

static void add(size_t n) {
  REQUIRE(nblk < MAXB, "too many blocks");
  unsigned char *p = tide_malloc(n);
  REQUIRE(p, "tide_malloc(%zu) failed after %zu blocks", n, nblk);
  t_fill(p, n);
  blk[nblk] = p;
  blen[nblk] = n;
  nblk++;
}

static void verify(const char *when) {
  for (size_t i = 0; i < nblk; i++)
    if (blk[i]) {
      size_t bad = t_check(blk[i], blen[i]);
      REQUIRE(bad == (size_t)-1, "block %zu (%p, %zu bytes) corrupted at %zu %s", i, (void *)blk[i], blen[i], bad,
              when);
    }
}

static void free_all(void) {
  for (size_t i = 0; i < nblk; i++) {
    tide_free(blk[i]);
    blk[i] = NULL;
  }
  nblk = 0;
}

static uintptr_t cur_brk(void) {
  uintptr_t glibc = (uintptr_t)sbrk(0), kernel = t_brk_now();
  CHECK(glibc == kernel, "sbrk(0) = %#lx but the kernel's break is %#lx", (unsigned long)glibc,
        (unsigned long)kernel);
  return kernel;
}

/* Every block's segment: a live brk segment, 4 MiB aligned, inside the heap. */
static void check_in_heap(size_t from, const char *when) {
  struct tide_stats s;
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  uintptr_t brk_now = cur_brk();
  CHECK(s.heap_break == brk_now, "tide_stats heap_break %#lx, real break %#lx %s", (unsigned long)s.heap_break,
        (unsigned long)brk_now, when);
  for (size_t i = from; i < nblk; i++) {
    tide_segment *seg = segment_of(blk[i]);
    uintptr_t a = (uintptr_t)seg;
    if (seg->kind != TIDE_SEG_BRK || a % TIDE_SEGMENT_SIZE || a < s.heap_start ||
        (uintptr_t)blk[i] + blen[i] > brk_now || !u_is_head(seg) || (uint8_t *)blk[i] + blen[i] > seg->commit_end) {
      CHECK(seg->kind == TIDE_SEG_BRK, "block %p in a segment of kind %u %s", (void *)blk[i], seg->kind, when);
      CHECK(a % TIDE_SEGMENT_SIZE == 0 && u_is_head(seg), "segment %#lx not aligned / not in the map", (unsigned long)a);
      CHECK(a >= s.heap_start && (uintptr_t)blk[i] + blen[i] <= brk_now,
            "block %p+%zu outside the heap [%#lx, %#lx) %s", (void *)blk[i], blen[i], (unsigned long)s.heap_start,
            (unsigned long)brk_now, when);
      CHECK((uint8_t *)blk[i] + blen[i] <= seg->commit_end, "block %p+%zu above commit_end %p", (void *)blk[i],
            blen[i], (void *)seg->commit_end);
      return;
    }
  }
}

static int mode_grow(void) {
  uintptr_t b0 = cur_brk();
  size_t steps = 0, max_step = 0, segs = 0;
  uintptr_t prev = b0, first_step_end = 0;
  tide_segment *last_seg = NULL;
  /* 12 MiB of 64-byte blocks: three segments */
  for (int i = 0; i < 200000; i++) {
    add(64);
    uintptr_t now = (uintptr_t)sbrk(0);
    CHECK(now >= prev, "the break went down (%#lx -> %#lx) while allocating", (unsigned long)prev,
          (unsigned long)now);
    if (now != prev) {
      if (steps == 0)
        first_step_end = now;
      else if (now - prev > max_step)
        max_step = now - prev;
      steps++;
      prev = now;
    }
    if (segment_of(blk[nblk - 1]) != last_seg) {
      last_seg = segment_of(blk[nblk - 1]);
      segs++;
    }
  }
  struct tide_stats s;
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  printf("break %#lx -> %#lx in %zu steps (largest after the first: %zu KiB), %zu segments; heap_start %#lx\n",
         (unsigned long)b0, (unsigned long)prev, steps, max_step / KiB, segs, (unsigned long)s.heap_start);
  CHECK(s.heap_start == b0, "heap_start %#lx is not where the break was before (%#lx)", (unsigned long)s.heap_start,
        (unsigned long)b0);
  CHECK(segs >= 3, "12 MiB of small blocks in %zu segments", segs);
  CHECK(steps >= 3 * 12, "the break moved only %zu times for 12 MiB", steps);
  CHECK(max_step <= 512 * KiB, "the break moved by %zu KiB at once (more than a few hundred KiB)", max_step / KiB);
  /* the first step: the alignment pad to the first segment plus a little */
  uintptr_t pad = tide_align_up(b0, TIDE_SEGMENT_SIZE) - b0;
  CHECK(first_step_end - b0 <= pad + 512 * KiB, "the first step moved the break %zu KiB (pad %zu KiB)",
        (size_t)(first_step_end - b0) / KiB, (size_t)pad / KiB);
  CHECK(s.brk_grow.calls == steps, "tide_stats brk_grow.calls = %llu, the break moved %zu times",
        (unsigned long long)s.brk_grow.calls, steps);
  CHECK(s.heap_bytes == prev - b0 && s.brk_grow.bytes == prev - b0, "heap_bytes %llu, brk_grow.bytes %llu, moved %lu",
        (unsigned long long)s.heap_bytes, (unsigned long long)s.brk_grow.bytes, (unsigned long)(prev - b0));
  CHECK(s.brk_segments == segs, "brk_segments %llu, blocks in %zu segments", (unsigned long long)s.brk_segments, segs);
  check_in_heap(0, "after growing");
  verify("after growing");
  /* Give it all back: the break returns to where it was. */
  free_all();
  size_t given = tide_trim();
  uintptr_t after = cur_brk();
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  printf("after free + tide_trim: break %#lx (gave %zu KiB), brk_segments %llu\n", (unsigned long)after, given / KiB,
         (unsigned long long)s.brk_segments);
  CHECK(after == b0, "the break is at %#lx after freeing everything and tide_trim(), not back at %#lx (%+ld KiB)",
        (unsigned long)after, (unsigned long)b0, ((long)after - (long)b0) / 1024);
  CHECK(s.heap_break == after && s.heap_bytes == 0, "tide_stats: heap_break %#lx heap_bytes %llu",
        (unsigned long)s.heap_break, (unsigned long long)s.heap_bytes);
  CHECK(s.brk_segments == 0, "%llu brk segments left", (unsigned long long)s.brk_segments);
  /* and it grows again */
  add(100);
  CHECK(cur_brk() > b0, "allocating after the trim did not move the break");
  check_in_heap(0, "after growing again");
  free_all();
  tide_trim();
  CHECK(cur_brk() == b0, "the break did not come back a second time");
  return t_finish("brk grow");
}

static int mode_foreign(void) {
  for (int i = 0; i < 20000; i++) add(100);
  size_t before = nblk;
  unsigned char *f = sbrk(4096);
  REQUIRE(f != (void *)-1, "sbrk(4096) failed");
  memset(f, 0xA5, 4096);
  uintptr_t lo = (uintptr_t)f, hi = lo + 4096;
  printf("foreign sbrk: [%#lx, %#lx)\n", (unsigned long)lo, (unsigned long)hi);
  /* Enough to need the top segment to grow and then new segments. */
  for (int i = 0; i < 120000; i++) add(16 + (size_t)(i * 7919) % 700);
  for (int i = 0; i < 20; i++) add(100000);
  for (size_t i = 0; i < nblk; i++) {
    uintptr_t a = (uintptr_t)blk[i], e = a + blen[i];
    if (!(e <= lo || a >= hi)) {
      CHECK(e <= lo || a >= hi, "block %p+%zu overlaps the foreign sbrk [%#lx, %#lx)", (void *)blk[i], blen[i],
            (unsigned long)lo, (unsigned long)hi);
      break;
    }
  }
  for (int i = 0; i < 4096; i++)
    if (f[i] != 0xA5) {
      CHECK(f[i] == 0xA5, "the foreign sbrk's byte %d was overwritten", i);
      break;
    }
  verify("after the foreign sbrk");
  check_in_heap(0, "after the foreign sbrk");
  /* New segments start above the foreign data, still in the brk heap. */
  size_t above = 0;
  for (size_t i = before; i < nblk; i++)
    if ((uintptr_t)segment_of(blk[i]) >= hi) above++;
  CHECK(above > 0, "no block was placed above the foreign sbrk (the heap did not go on growing)");
  struct tide_stats s;
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  CHECK(s.os_failures == 0, "%llu OS calls failed", (unsigned long long)s.os_failures);
  /* Free everything: the break never drops below the foreign data. */
  free_all();
  tide_trim();
  CHECK(cur_brk() >= hi, "the break %#lx is below the foreign sbrk's end %#lx", (unsigned long)cur_brk(),
        (unsigned long)hi);
  for (int i = 0; i < 4096; i++)
    if (f[i] != 0xA5) {
      CHECK(f[i] == 0xA5, "the foreign sbrk's byte %d was overwritten after trim", i);
      break;
    }
  /* and it still works */
  for (int i = 0; i < 1000; i++) add(200);
  verify("after the trim");
  free_all();
  return t_finish("brk foreign");
}

static int mode_fault(void) {
  uintptr_t b0 = cur_brk();
  /* 1. fault_at: one brk call fails, once; nothing is lost. */
  for (int i = 0; i < 10000; i++) add(300);
  struct tide_stats s0, s;
  REQUIRE(u_stats(&s0) == 0, "tide_stats");
  REQUIRE(tide_option_set("fault_kind", 1) == 0, "tide_option_set(fault_kind, brk)");
  REQUIRE(tide_option_set("fault_at", 1) == 0, "tide_option_set(fault_at, 1)");
  for (int i = 0; i < 20000; i++) add(300);
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  CHECK(s.os_failures == s0.os_failures + 1, "fault_at=1 (brk): os_failures %llu -> %llu, want +1",
        (unsigned long long)s0.os_failures, (unsigned long long)s.os_failures);
  verify("after one brk failed");
  check_in_heap(0, "after one brk failed");
  tide_option_set("fault_at", 0);

  /* 2. fault_brk: this brk call and every later one fail: new segments
   * come from mmap. */
  struct tide_stats s1;
  REQUIRE(u_stats(&s1) == 0, "tide_stats");
  REQUIRE(tide_option_set("fault_brk", 1) == 0, "tide_option_set(fault_brk, 1)");
  uintptr_t b1 = cur_brk();
  size_t old = nblk;
  for (int i = 0; i < 40000; i++) add(100 + (size_t)i % 400);
  for (int i = 0; i < 10; i++) add(120000);
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  CHECK(cur_brk() == b1, "the break moved (%#lx -> %#lx) with every brk refused", (unsigned long)b1,
        (unsigned long)cur_brk());
  CHECK(s.os_failures > s1.os_failures, "fault_brk=1: no OS call failed");
  CHECK(s.brk_grow.calls == s1.brk_grow.calls, "brk_grow.calls grew with brk refused");
  size_t mapped = 0;
  for (size_t i = old; i < nblk; i++) {
    tide_segment *seg = segment_of(blk[i]);
    if (seg->kind == TIDE_SEG_MMAP) {
      mapped++;
      CHECK(u_is_head(seg) && (uintptr_t)seg % TIDE_SEGMENT_SIZE == 0, "mmap segment %p unaligned or not in the map",
            (void *)seg);
      CHECK((uintptr_t)seg >= b1 || (uintptr_t)seg + TIDE_SEGMENT_SIZE <= s.heap_start,
            "mmap segment %p inside the brk heap", (void *)seg);
    } else {
      CHECK(seg->kind == TIDE_SEG_BRK, "block %p in a segment of kind %u", (void *)blk[i], seg->kind);
    }
  }
  printf("with brk refused: %zu of %zu new blocks in mmap segments\n", mapped, nblk - old);
  CHECK(mapped > 0, "no new segment came from mmap with brk refused");
  CHECK(s.mmap.calls > s1.mmap.calls, "no mmap call counted");
  verify("after brk was refused");
  /* Everything freed while brk is still refused: the break cannot come
   * down, and nothing breaks. */
  free_all();
  tide_trim();
  CHECK(cur_brk() == b1, "the break moved (%#lx -> %#lx) with every brk refused", (unsigned long)b1,
        (unsigned long)cur_brk());
  for (int i = 0; i < 1000; i++) add(64);
  verify("after the trim");
  free_all();
  /* brk allowed again: trimming gives the whole heap back. */
  tide_option_set("fault_brk", 0);
  tide_trim();
  REQUIRE(u_stats(&s) == 0, "tide_stats");
  CHECK(cur_brk() == b0, "with brk allowed again, free + tide_trim() left the break at %#lx, not %#lx (%+ld KiB)",
        (unsigned long)cur_brk(), (unsigned long)b0, ((long)cur_brk() - (long)b0) / 1024);
  CHECK(s.heap_break == cur_brk(), "heap_break %#lx, real break %#lx", (unsigned long)s.heap_break,
        (unsigned long)cur_brk());
  return t_finish("brk fault");
}

int main(int argc, char **argv) {
  u_glibc_off_brk();
  REQUIRE(argc == 2, "usage: brk grow|foreign|fault");
  if (!strcmp(argv[1], "grow")) return mode_grow();
  if (!strcmp(argv[1], "foreign")) return mode_foreign();
  if (!strcmp(argv[1], "fault")) return mode_fault();
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}

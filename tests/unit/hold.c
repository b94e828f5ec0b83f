/* SPDX-License-Identifier: MIT */
/* The purge hold (heap.c, heap_purge_hold): how many purge delays a heap's
 * free slices wait.  It doubles when much of what the heap gave back was
 * taken again, is judged at most once a delay however many segments reach
 * their deadlines in it, and comes down only after the hold has lasted
 * its whole length with nothing taken again.  The heap is a zeroed one of the test's
 * own, fed the evidence that segment.c records (slices given back, slices
 * taken again), at chosen times. */
#include "unit.h"

static tide_heap h;
static const uint64_t ms = 1000000;

static unsigned judge(uint64_t now, uint32_t purged, uint32_t again) {
  h.purged_recent += purged;
  h.refaulted_recent += again;
  return heap_purge_hold(&h, now);
}

int main(void) {
  (void)u_heap(); /* options read: purge_delay_ms is its default */
  REQUIRE(tide_opt.purge_delay_ms == 50, "purge_delay_ms is %ld, not the default 50",
          (long)tide_opt.purge_delay_ms);
  const uint64_t d = 50 * ms;
  uint64_t t = 1000 * ms;

  CHECK(judge(t, 0, 0) == 1, "a heap with no evidence holds %u delays, not 1", h.purge_hold);
  /* Below TIDE_PURGE_REFAULT_SLICES taken again: no change. */
  t += d;
  CHECK(judge(t, 8, 8) == 1, "8 slices taken again of 8 raised the hold to %u", h.purge_hold);
  /* Much taken again: 2, then 4 at the next delay... */
  t += d;
  CHECK(judge(t, 200, 100) == 2, "100 slices taken again of 200: hold %u, not 2", h.purge_hold);
  /* ...but not within the same delay, however often it is asked: segments
   * reach their deadlines one after another. */
  for (int i = 1; i <= 20; i++)
    CHECK(judge(t + (uint64_t)i * ms, 200, 100) == 2, "asked again %d ms later, the hold became %u", i,
          h.purge_hold);
  unsigned want = 2;
  for (int i = 0; i < 6; i++) {
    t += d;
    want = want * 2 > TIDE_PURGE_HOLD ? TIDE_PURGE_HOLD : want * 2;
    CHECK(judge(t, 200, 100) == want, "delay %d of steady evidence: hold %u, not %u", i, h.purge_hold, want);
  }
  REQUIRE(h.purge_hold == TIDE_PURGE_HOLD, "the hold did not reach its ceiling %u", TIDE_PURGE_HOLD);
  uint64_t set = t;
  /* What was counted decays by half at each judgment, and would still
   * count as evidence for a few more: the quiet starts from none. */
  h.purged_recent = h.refaulted_recent = 0;

  /* Quiet: nothing given back or taken again.  The hold stays for its
   * whole length (a purge at every delay, and in between), then halves. */
  for (uint64_t now = set + d; now < set + TIDE_PURGE_HOLD * d; now += d / 2)
    CHECK(judge(now, 0, 0) == TIDE_PURGE_HOLD, "%llu ms into the quiet the hold came down to %u",
          (unsigned long long)((now - set) / ms), h.purge_hold);
  t = set + TIDE_PURGE_HOLD * d;
  CHECK(judge(t, 0, 0) == TIDE_PURGE_HOLD / 2, "after a whole hold of quiet: hold %u, not %u", h.purge_hold,
        TIDE_PURGE_HOLD / 2);
  /* The next halving waits the whole new hold. */
  CHECK(judge(t + d, 0, 0) == TIDE_PURGE_HOLD / 2, "the hold halved again a delay later (%u)", h.purge_hold);
  t += (TIDE_PURGE_HOLD / 2) * d;
  CHECK(judge(t, 0, 0) == TIDE_PURGE_HOLD / 4, "after the halved hold: %u, not %u", h.purge_hold,
        TIDE_PURGE_HOLD / 4);
  /* Something taken again, if too little to raise the hold, stops the fall. */
  t += (TIDE_PURGE_HOLD / 4) * d;
  CHECK(judge(t, 400, 10) == TIDE_PURGE_HOLD / 4, "10 slices taken again of 400 changed the hold to %u",
        h.purge_hold);
  printf("hold 1 -> %u on evidence, once a delay; down after a whole hold of quiet, to %u\n", TIDE_PURGE_HOLD,
         h.purge_hold);
  return t_finish("purge hold judged once a delay");
}

/* SPDX-License-Identifier: MIT */
/* secure_pick's choice of the k-th available block of a map word
 * (secure.c, secure_kth_bit): the pdep form, where this CPU runs it, and
 * the loop every CPU runs give the same bit, and the right one, for every
 * k of words of every density. */
#include "unit.h"

/* The k-th set bit by counting, one bit at a time. */
static uint64_t naive_kth(uint64_t m, unsigned k) {
  for (unsigned i = 0; i < 64; i++)
    if ((m >> i) & 1) {
      if (k == 0) return (uint64_t)1 << i;
      k--;
    }
  return 0;
}

static t_rng rng = {0x9e3779b97f4a7c15ULL};
static uint64_t next_random(void) { return t_rand(&rng); }

int main(void) {
  unsigned long checked = 0;
  for (int round = 0; round < 200000; round++) {
    /* Dense, half and sparse words, and the edges: all ones, one bit. */
    uint64_t m = next_random();
    switch (round % 5) {
    case 1: m &= next_random(); break;
    case 2: m &= next_random() & next_random(); break;
    case 3: m = ~(uint64_t)0; break;
    case 4: m = (uint64_t)1 << (next_random() % 64); break;
    default: break;
    }
    if (m == 0) continue;
    unsigned n = (unsigned)__builtin_popcountll(m);
    for (unsigned k = 0; k < n; k += round % 5 == 3 ? 1 : 1 + (unsigned)(next_random() % 4)) {
      uint64_t want = naive_kth(m, k);
      uint64_t loop = secure_kth_bit_variant(m, k, false);
      uint64_t fast = secure_kth_bit_variant(m, k, true);
      CHECK(loop == want, "loop: bit %u of %#llx is %#llx, want %#llx", k, (unsigned long long)m,
            (unsigned long long)loop, (unsigned long long)want);
      CHECK(fast == want, "pdep: bit %u of %#llx is %#llx, want %#llx", k, (unsigned long long)m,
            (unsigned long long)fast, (unsigned long long)want);
      checked++;
    }
  }
  printf("%lu choices checked\n", checked);
  return t_finish("secure-kth-bit");
}

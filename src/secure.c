/* SPDX-License-Identifier: MIT */
/* Secure mode's free state, kept out of the blocks (types.h, "Secure mode's
 * free state"): two bits per block in a map beside the segment header say
 * whether the block is the program's, in a quarantine, in transit to its
 * owner, or available.  The map is the owner's free list: malloc picks an
 * available block from it at a random place, and follows no link the
 * program could have written, so one dangling read and one dangling write
 * can no longer make malloc return a live block, a quarantined one, or an
 * address the program chose.  Only remote frees still travel on in-band
 * links (the batch and the page's thread_free list); page_collect follows
 * a link only to a block of the page's grid that the map says is in
 * transit.  And as the pick is random among at least TIDE_SECURE_PICK
 * blocks (and a quarter of those carved) while the page has room, and not
 * swayed by where the others lie, a freed slot is not the next one handed
 * out. */
#define _GNU_SOURCE
#include "internal/internal.h"

/* The even bits of word w whose granule is AVAIL (10). */
static inline uint64_t secure_avail_bits(uint64_t w) {
  return (w >> 1) & ~w & 0x5555555555555555ULL;
}

/* A new page: no block of it is carved yet, whatever an earlier page in
 * these slices left.  A page starts on a slice, so on a word: clear whole
 * words. */
void secure_page_reset(const tide_page *page) {
  _Atomic(uint64_t) *w = secure_word(page_start(page));
  size_t words = ((size_t)page->slice_count << TIDE_SLICE_SHIFT) >> TIDE_SECURE_GRANULE_SHIFT >> 5;
  for (size_t i = 0; i < words; i++) atomic_store_explicit(&w[i], 0, memory_order_relaxed);
}

/* count blocks from first were just carved: LIVE (never used) -> AVAIL,
 * one RMW per word (other threads may be freeing blocks of the same word). */
void secure_carve(const tide_page *page, uint8_t *first, uint32_t count) {
  _Atomic(uint64_t) *word = NULL;
  uint64_t bits = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *b = first + (size_t)i * page->block_size;
    if (secure_word(b) != word) {
      if (bits) atomic_fetch_or_explicit(word, bits, memory_order_relaxed);
      word = secure_word(b);
      bits = 0;
    }
    bits |= (uint64_t)TIDE_SECURE_AVAIL << secure_shift(b);
  }
  if (bits) atomic_fetch_or_explicit(word, bits, memory_order_relaxed);
}

/* page_collect's walk of the list first... it took from thread_free: each
 * block becomes available.  A link is followed only to a carved block of
 * the page's grid that the map says is in transit, and no further than the
 * blocks out (a cycle or a list longer than that is reported); a bad link
 * is reported at the block that holds it (the head, which only a CAS of
 * ours writes, at itself). */
void secure_collect(tide_page *page, tide_block *first) {
  uint32_t used = page_used(page), count = 0;
  const tide_block *at = NULL;
  for (tide_block *b = first, *next; b != NULL; at = b, b = next) {
    if (count == used || ((uintptr_t)b ^ (uintptr_t)page) >> TIDE_SEGMENT_SHIFT ||
        page_block_index(page, b) >= page->capacity)
      tide_fatal("malloc", "corrupted free list at", at != NULL ? at : b);
    if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_DEFINED(b, sizeof(*b));
    next = block_decode(b->next_encoded);
    /* TRANSIT -> AVAIL: clear bit 0; any other state is a forged link. */
    unsigned shift = secure_shift(b);
    uint64_t old = atomic_fetch_and_explicit(secure_word(b), ~((uint64_t)1 << shift),
                                             memory_order_relaxed);
    if (((old >> shift) & 3) != TIDE_SECURE_TRANSIT)
      tide_fatal("malloc", "corrupted free list at", at != NULL ? at : b);
    count++;
  }
  page->used -= count;
}

/* The granule of page's block i, from the page's first granule. */
static inline size_t secure_block_granule(size_t i, size_t bs) {
  return (i * bs) >> TIDE_SECURE_GRANULE_SHIFT;
}

/* secure_pick counts map words' set bits (__builtin_popcountll, as brk.c
 * and segment.c do).  On x86-64 it is built twice, picked once at load by
 * an ifunc: with POPCNT (every x86-64 CPU since 2008) a count is one
 * instruction, and a warm secure pair 25 fewer (callgrind, bench/bin/ipp);
 * the baseline clone calls libgcc's. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SECURE_NO_IFUNC 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SECURE_NO_IFUNC 1
#endif
/* Not under ThreadSanitizer: the loader runs an ifunc's resolver while it
 * relocates, before the TSan runtime is up, and the resolver TSan
 * instruments then faults in __tsan_func_entry (tests: tsan/prefixed). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(SECURE_NO_IFUNC)
#define SECURE_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define SECURE_CLONES
#endif

/* The k-th lowest set bit of m (k below its count), alone.  Clearing the
 * lowest bit k times is a loop whose exit mispredicts, and k averages half
 * the available blocks of a word; BMI2's pdep deposits bit k in one
 * instruction, where it is fast: Intel's, and AMD's from Zen 3 (family
 * 0x19).  Zen 1 and 2 (and Hygon's) run it in microcode, hundreds of
 * cycles, so they keep the loop, as does every other CPU. */
static inline uint64_t secure_kth_bit_loop(uint64_t m, unsigned k) {
  for (; k > 0; k--) m &= m - 1;
  return m & -m;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

static __attribute__((target("bmi2"), noinline)) uint64_t secure_kth_bit_pdep(uint64_t m,
                                                                              unsigned k) {
  return __builtin_ia32_pdep_di((uint64_t)1 << k, m);
}

/* 0: not asked yet; 1: pdep is fast here; 2: it is not.  Racing first
 * picks of two threads find the same answer. */
static _Atomic(unsigned char) secure_pdep_state;

static tide_noinline bool secure_pdep_probe(void) {
  unsigned a, b, c, d, family = 0, leaf7_b = 0;
  bool fast = false;
  if (__get_cpuid(0, &a, &b, &c, &d) && a >= 7) {
    bool intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
    bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   /* AuthenticAMD */
    if (__get_cpuid(1, &a, &b, &c, &d)) {
      family = (a >> 8) & 0xf;
      if (family == 0xf) family += (a >> 20) & 0xff;
    }
    if (__get_cpuid_count(7, 0, &a, &leaf7_b, &c, &d))
      fast = ((leaf7_b >> 8) & 1) && (intel || (amd && family >= 0x19)); /* BMI2 */
  }
  atomic_store_explicit(&secure_pdep_state, fast ? 1 : 2, memory_order_relaxed);
  return fast;
}

static inline bool secure_pdep_fast(void) {
  unsigned state = atomic_load_explicit(&secure_pdep_state, memory_order_relaxed);
  return tide_likely(state == 1) || (tide_unlikely(state == 0) && secure_pdep_probe());
}
#else
static inline bool secure_pdep_fast(void) { return false; }
/* Never called: secure_pdep_fast says no. */
static inline uint64_t secure_kth_bit_pdep(uint64_t m, unsigned k) { return secure_kth_bit_loop(m, k); }
#endif

static inline uint64_t secure_kth_bit(uint64_t m, unsigned k) {
  return secure_pdep_fast() ? secure_kth_bit_pdep(m, k) : secure_kth_bit_loop(m, k);
}

uint64_t secure_kth_bit_variant(uint64_t m, unsigned k, bool pdep) {
  return pdep ? secure_kth_bit(m, k) : secure_kth_bit_loop(m, k);
}

/* malloc's block from page, which has an available block (capacity >
 * page_used): a uniformly random one of the available blocks of two random
 * words of the page's map (if both have none, of the next word that has
 * some, wrapping round): AVAIL -> LIVE.  Not swayed by the length of the
 * run of unavailable blocks before a block (the first available block
 * after a random place would favour a block that follows a long run, and
 * so, once it was freed, the same block again); a block alone in its word
 * is chosen with chance about 2 / (words * (1 + the blocks of a word)).
 * secure_page_can_pick keeps a quarter of the carved blocks available
 * while the page has room, so few words have none. */
static SECURE_CLONES tide_block *secure_pick_cloned(tide_page *page) {
  uint32_t cap = page->capacity;
  size_t bs = page->block_size;
  uint8_t *start = page_start(page);
  _Atomic(uint64_t) *map = secure_word(start); /* a page starts on a word */
  size_t words = secure_block_granule(cap - 1, bs) / 32 + 1;
  uint64_t r = page_random();
  /* 24 random bits a word, scaled to the count (Lemire's multiply). */
  size_t w = (size_t)(((r & 0xffffff) * words) >> 24);
  size_t w2 = (size_t)((((r >> 24) & 0xffffff) * words) >> 24);
  uint64_t m = secure_avail_bits(atomic_load_explicit(&map[w], memory_order_relaxed));
  uint64_t m2 = w2 == w ? 0 : secure_avail_bits(atomic_load_explicit(&map[w2], memory_order_relaxed));
  unsigned n = (unsigned)__builtin_popcountll(m), n2 = (unsigned)__builtin_popcountll(m2);
  if (tide_unlikely(n + n2 == 0)) {
    /* At most once round the page. */
    for (size_t turn = 0; m == 0; turn++) {
      if (turn == words) tide_fatal("malloc", "corrupted free list at", start);
      if (++w == words) w = 0;
      m = secure_avail_bits(atomic_load_explicit(&map[w], memory_order_relaxed));
    }
    n = (unsigned)__builtin_popcountll(m);
  }
  /* The top 16 random bits scaled to the count (at most 64): no division. */
  unsigned k = (unsigned)(((r >> 48) * (n + n2)) >> 16);
  /* Which word is as random as k: selects, not a branch that mispredicts
   * half the time. */
  uint64_t second = (uint64_t)0 - (uint64_t)(k >= n);
  k -= n & (unsigned)second;
  w ^= (w ^ w2) & (size_t)second;
  m ^= (m ^ m2) & second;
  m = secure_kth_bit(m, k);
  unsigned pos = (unsigned)__builtin_ctzll(m);
  size_t gran = w * 32 + pos / 2; /* from the page's first granule */
  /* The block that starts in that granule (blocks are at least a granule,
   * so one does), at its first or its second 16 bytes: the one on the
   * page's grid, with no division by the block size. */
  uint8_t *b = start + (gran << TIDE_SECURE_GRANULE_SHIFT);
  bool on_grid = page_block_index(page, b) < cap;
  if (!on_grid) {
    b += TIDE_ALIGN;
    on_grid = page_block_index(page, b) < cap;
  }
  /* Only the owner ends AVAIL, so the bit is still set; bit 0 was clear
   * when the word was read, and no other thread sets it in AVAIL. */
  uint64_t bit = (uint64_t)1 << (pos + 1); /* AVAIL's bit */
  if (tide_unlikely(!(atomic_fetch_and_explicit(&map[w], ~bit, memory_order_relaxed) & bit) ||
                    !on_grid))
    tide_fatal("malloc", "corrupted free list at", b);
  return (tide_block *)b;
}

/* The clones' ifunc is local to this file (clang resolves a multiversioned
 * function only in the unit that defines it). */
tide_block *secure_pick(tide_page *page) { return secure_pick_cloned(page); }

/* secure_pick, once the page has enough blocks to choose among: while
 * fewer are available than secure_page_can_pick wants and the page has
 * room, more are carved, so that the block freed last is one of many. */
tide_block *secure_pop(tide_page *page) {
  while (!secure_page_can_pick(page) && page_extend(page)) {
  }
  return secure_pick(page);
}

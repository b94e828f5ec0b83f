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
 * transit.  And as the pick is random among at least SECURE_PICK blocks
 * while the page has room, a freed slot is not the next one handed out. */
#define _GNU_SOURCE
#include "internal/internal.h"

/* Available blocks malloc chooses among, while the page has room. */
#define SECURE_PICK 64

/* The granule index of b in its segment. */
static inline size_t secure_granule(const void *b) {
  return ((uintptr_t)b & TIDE_SEGMENT_MASK) >> TIDE_SECURE_GRANULE_SHIFT;
}

/* The map's word for granule g of the segment at seg, and the shift of the
 * granule's two bits in it. */
static inline _Atomic(uint64_t) *secure_map(uintptr_t seg) {
  return (_Atomic(uint64_t) *)(seg + TIDE_SECURE_MAP_OFFSET);
}
static inline _Atomic(uint64_t) *secure_word(const void *b) {
  return secure_map((uintptr_t)b & ~(uintptr_t)TIDE_SEGMENT_MASK) + secure_granule(b) / 32;
}
static inline unsigned secure_shift(const void *b) { return (unsigned)(secure_granule(b) % 32) * 2; }

/* Change b's state by the RMW op with bits (at b's place); its old state. */
#define SECURE_RMW(op, b, bits)                                                          \
  ((unsigned)(atomic_##op##_explicit(secure_word(b), (uint64_t)(bits) << secure_shift(b), \
                                     memory_order_relaxed) >>                            \
              secure_shift(b)) &                                                         \
   3u)

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

/* The program frees b, a block of a class or a large page that passed the
 * grid check: LIVE -> QUARANTINE.  The map, not the block's bytes, says
 * whether it was the program's: a double free is caught from every other
 * state (quarantined, in transit, available) even when the freed key was
 * erased. */
void secure_note_free(const void *b, const char *func) {
  if (SECURE_RMW(fetch_or, b, TIDE_SECURE_QUARANTINE) != TIDE_SECURE_LIVE)
    tide_fatal(func, "double free", b);
}

/* The quarantine gives b back: to its owner, who may hand it out at once
 * (QUARANTINE -> AVAIL), or, from another thread, in transit to the owner
 * (QUARANTINE -> TRANSIT), before the push that makes it reachable.  Only a
 * block freed once is in a quarantine once. */
void secure_release_owner(const void *b) {
  if (SECURE_RMW(fetch_xor, b, TIDE_SECURE_QUARANTINE ^ TIDE_SECURE_AVAIL) !=
      TIDE_SECURE_QUARANTINE)
    tide_fatal("free", "double free", b);
}
void secure_release_remote(const void *b) {
  if (SECURE_RMW(fetch_or, b, TIDE_SECURE_TRANSIT) != TIDE_SECURE_QUARANTINE)
    tide_fatal("free", "double free", b);
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

/* malloc's block from page, which has an available block (capacity >
 * page_used): first, while fewer than SECURE_PICK are available and the
 * page has room, more are carved, so that the block freed last is one of
 * many; then the first available block at or after a random carved block
 * (wrapping round the page) is handed out: AVAIL -> LIVE. */
tide_block *secure_pop(tide_page *page) {
  while (page->capacity - page_used(page) < SECURE_PICK && page_extend(page)) {
  }
  uint32_t cap = page->capacity;
  size_t bs = page->block_size;
  uint8_t *start = page_start(page);
  _Atomic(uint64_t) *map = secure_word(start);
  size_t words = ((((size_t)(cap - 1) * bs) >> TIDE_SECURE_GRANULE_SHIFT) >> 5) + 1;
  uint64_t r = page_random();
  /* A random carved block (Lemire's multiply for the range), its granule. */
  size_t g = (size_t)((((r & 0xffffffffu) * cap) >> 32) * bs) >> TIDE_SECURE_GRANULE_SHIFT;
  size_t w = g / 32;
  uint64_t m = secure_avail_bits(atomic_load_explicit(&map[w], memory_order_relaxed)) &
               (~(uint64_t)0 << (g % 32 * 2));
  /* At most once round: back at the first word, all of it counts. */
  for (size_t n = 0; m == 0; n++) {
    if (n == words) tide_fatal("malloc", "corrupted free list at", start);
    if (++w == words) w = 0;
    m = secure_avail_bits(atomic_load_explicit(&map[w], memory_order_relaxed));
  }
  unsigned pos = (unsigned)__builtin_ctzll(m);
  size_t gran = w * 32 + pos / 2; /* from the page's first granule */
  size_t index = ((gran << TIDE_SECURE_GRANULE_SHIFT) + bs - 1) / bs;
  tide_block *b = (tide_block *)(start + index * bs);
  /* Only the owner ends AVAIL, so the bit is still set. */
  uint64_t old = atomic_fetch_and_explicit(&map[w], ~((uint64_t)TIDE_SECURE_AVAIL << pos),
                                           memory_order_relaxed);
  if (((old >> pos) & 3) != TIDE_SECURE_AVAIL || index >= cap)
    tide_fatal("malloc", "corrupted free list at", b);
  return b;
}

/* SPDX-License-Identifier: MIT */
/* Secure mode's free state, kept out of the blocks (types.h, "Secure mode's
 * free state"): which blocks are the program's, and which are on their
 * page's lists.  The in-band links still say in what order a page's lists
 * run, but a link is followed only to a block the bitmaps say is on a list
 * of this page: one dangling read (which gives the link secret away) and
 * one dangling write can no longer make malloc return a live block, a
 * quarantined one, or an address the program chose.  And malloc takes a
 * random one of the first SECURE_PICK blocks of the page's lists, not the
 * head, so that a freed slot is not the next one handed out. */
#define _GNU_SOURCE
#include "internal/internal.h"

/* Blocks malloc chooses among: the walk reads this many links at most. */
#define SECURE_PICK 64

/* The granule index of b in its segment. */
static inline size_t secure_granule(const void *b) {
  return ((uintptr_t)b & TIDE_SEGMENT_MASK) >> TIDE_SECURE_GRANULE_SHIFT;
}

static inline _Atomic(uint64_t) *secure_word(const void *b, unsigned which) {
  uintptr_t seg = (uintptr_t)b & ~(uintptr_t)TIDE_SEGMENT_MASK;
  return (_Atomic(uint64_t) *)(seg + TIDE_SECURE_MAP_OFFSET + which * TIDE_SECURE_MAP_BYTES) +
         secure_granule(b) / 64;
}
static inline uint64_t secure_bit(const void *b) { return (uint64_t)1 << (secure_granule(b) & 63); }

static inline bool secure_test(const void *b, unsigned which) {
  return (atomic_load_explicit(secure_word(b, which), memory_order_relaxed) & secure_bit(b)) != 0;
}

/* Set (or clear) the bit; its old state. */
static inline bool secure_set(const void *b, unsigned which) {
  uint64_t bit = secure_bit(b);
  return (atomic_fetch_or_explicit(secure_word(b, which), bit, memory_order_relaxed) & bit) != 0;
}
static inline bool secure_clear(const void *b, unsigned which) {
  uint64_t bit = secure_bit(b);
  return (atomic_fetch_and_explicit(secure_word(b, which), ~bit, memory_order_relaxed) & bit) != 0;
}

/* A new page: no block of it is carved yet, whatever an earlier page in
 * these slices left. */
void secure_page_reset(const tide_page *page) {
  uint8_t *start = page_start(page);
  size_t words = ((size_t)page->slice_count << TIDE_SLICE_SHIFT) >> TIDE_SECURE_GRANULE_SHIFT >> 6;
  /* A page starts on a slice, so on a word: clear whole words. */
  uint8_t *seg = (uint8_t *)segment_of(page) + TIDE_SECURE_MAP_OFFSET;
  for (unsigned which = 0; which < 2; which++) {
    _Atomic(uint64_t) *w =
        (_Atomic(uint64_t) *)(seg + which * TIDE_SECURE_MAP_BYTES) + secure_granule(start) / 64;
    for (size_t i = 0; i < words; i++) atomic_store_explicit(&w[i], 0, memory_order_relaxed);
  }
}

/* count blocks from first were just carved and linked onto the page. */
void secure_carve(const tide_page *page, uint8_t *first, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *b = first + (size_t)i * page->block_size;
    secure_set(b, TIDE_SECURE_FREED);
    secure_set(b, TIDE_SECURE_AVAIL);
  }
}

/* The program frees b, a block of a class or a large page that passed the
 * grid check.  The bitmap, not the block's bytes, says whether it was the
 * program's: a double free is caught even when the freed key was erased. */
void secure_note_free(const void *b, const char *func) {
  if (secure_set(b, TIDE_SECURE_FREED)) tide_fatal(func, "double free", b);
}

/* The quarantine gives b back to its page: from now on it may be on the
 * page's lists.  Only a block freed once is in a quarantine once. */
void secure_note_release(const void *b) {
  if (secure_set(b, TIDE_SECURE_AVAIL)) tide_fatal("free", "double free", b);
}

/* May a link of page's lists lead to b?  Only to a carved block of this
 * page on the grid that the bitmap says is on a list.  The owner's test:
 * it alone changes capacity. */
bool secure_linkable(const tide_page *page, const void *b) {
  if (((uintptr_t)b ^ (uintptr_t)page) >> TIDE_SEGMENT_SHIFT) return false;
  if (page_block_index(page, b) >= page->capacity) return false;
  return secure_test(b, TIDE_SECURE_AVAIL);
}

/* The link after `at` (NULL: a list head, which only we write) leads to
 * bad: name the block whose link was overwritten. */
static _Noreturn void secure_corrupt(const tide_page *page, const tide_block *at,
                                     const tide_block *bad) {
  if (at != NULL) tide_fatal("malloc", "corrupted free list at", at);
  page_free_list_corrupt(page, bad);
}

static inline tide_block *secure_next(const tide_page *page, const tide_block *b) {
  tide_block *next = block_next_slow(b); /* leaves the segment: reported there */
  if (next != NULL && !secure_linkable(page, next)) secure_corrupt(page, b, next);
  return next;
}

/* malloc's block from page, whose free or local_free list is not empty:
 * a random one of the first SECURE_PICK blocks of the two, unlinked; every
 * link read on the way is checked against the grid, the capacity and the
 * bitmap before it is followed.  NULL if both lists are empty. */
typedef struct secure_walk {
  tide_block *cand[SECURE_PICK], *prev[SECURE_PICK];
  uint8_t list[SECURE_PICK];
} secure_walk;

static unsigned secure_gather(tide_page *page, secure_walk *w) {
  tide_block **cand = w->cand, **prev = w->prev;
  uint8_t *list = w->list;
  unsigned n = 0;
  for (unsigned l = 0; l < 2 && n < SECURE_PICK; l++) {
    tide_block *b = l == 0 ? page->free : page->local_free, *before = NULL;
    if (b != NULL && !secure_linkable(page, b)) secure_corrupt(page, NULL, b);
    while (b != NULL && n < SECURE_PICK) {
      cand[n] = b;
      prev[n] = before;
      list[n] = (uint8_t)l;
      n++;
      before = b;
      b = secure_next(page, b);
    }
  }
  return n;
}

tide_block *secure_pop(tide_page *page) {
  secure_walk w;
  tide_block **cand = w.cand, **prev = w.prev;
  unsigned n = secure_gather(page, &w);
  /* Too few to choose from (a page that has handed most of its blocks out,
   * or one block freed into an empty page): carve more, while the page has
   * room, so that the block freed last is one of many. */
  while (n < SECURE_PICK && page_extend(page)) n = secure_gather(page, &w);
  if (n == 0) return NULL;
  unsigned k = (unsigned)(page_random() % n);
  tide_block *b = cand[k];
  /* Its successor, checked even when the walk stopped short of it: the
   * link a dangling write changed is reported at the block that holds it. */
  tide_block *next = secure_next(page, b);
  if (prev[k] == NULL) {
    if (w.list[k] == 0)
      page->free = next;
    else
      page->local_free = next;
  } else {
    prev[k]->next_encoded = block_encode(next);
  }
  /* The walk proved the bit set, and only the owner clears it. */
  if (!secure_clear(b, TIDE_SECURE_AVAIL) || !secure_clear(b, TIDE_SECURE_FREED))
    tide_fatal("malloc", "corrupted free list at", b);
  return b;
}

/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for tidemalloc's prefixed API (tide_* names).
 *
 * Built by fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined from
 * tidemalloc's own sources (src/override.c left out, so the sanitizers keep
 * their malloc and ours is reached only as tide_*), with -DTIDE_DEBUG=1 so
 * the internal asserts are on.
 *
 * The input is a program: a sequence of operations, each an opcode byte
 * followed by its argument bytes (a missing byte reads as 0).  The harness
 * keeps a table of live blocks; every block is filled with a pattern that
 * depends on (slot, size, generation) and is checked in full before it is
 * freed or reallocated (realloc: the preserved prefix is checked after the
 * move).  A second thread takes blocks through a small queue, checks them
 * and frees them (cross-thread frees), and can allocate blocks that the
 * main thread later frees.  Any mismatch, a misaligned pointer, a calloc
 * block that is not zero, a usable size below the request, or a NULL where
 * the request was reasonable: __builtin_trap().
 *
 * Input format (documented so that seeds can be written by hand; see
 * fuzz/mkcorpus.py):
 *   op = byte % OP_COUNT, then per op:
 *   MALLOC   slot size          CALLOC  slot size         REALLOC slot size
 *   FREE     slot               ALIGNED slot align size   POSIX   slot align size
 *   MEMALIGN slot align size    USABLE  slot              TRIM
 *   REMOTE_FREE slot            REMOTE_ALLOC slot size    SWAP slot slot
 *   FREE_SIZED slot             OPTION  which             CHECK_ALL
 *   REALLOC_SAME slot           FREE_NULL                 BURST count size
 *   slot: 1 byte (% SLOTS); align: 1 byte (2^(4 + b % 9): 16..4096, or,
 *   when b >= 0xF0, 2^(13 + b % 10): 8 KiB..4 MiB); size: 3 bytes, see
 *   size_decode (a range selector and a 16-bit value).
 *
 * harness-corrupt (built with -DFUZZ_CORRUPT=1, fuzz/run.sh --corrupt) adds
 * operations that write where a buggy program writes, between the calls:
 *   SMASH_FREED which off value8    into a block freed earlier (a dangling
 *                                   pointer: the last DANGLING freed blocks)
 *   SMASH_NEAR  slot where value8   just below or past a live block, big
 *                                   blocks' headers and ends included
 *   FORGE       which which slot    (secure mode) a freed block's first word
 *                                   ^= (other freed block ^ live block): the
 *                                   link, if it led to the other, now leads
 *                                   to the live block
 * In the default mode, whose links are only checked to stay in their
 * segment, a write is one whole word of the input's: a word the program
 * does not know the secret for.  In secure mode also single bytes, and
 * FORGE.  Writes go only where memory is mapped and writable (probed), and
 * never into the first 64 KiB of a 4 MiB unit (a segment's header and
 * secure mode's bitmaps) but for a big block's own header below it, which
 * tidemalloc never reads.  Then either the allocator goes on working or
 * it reports the damage (tide_fatal: "tidemalloc: ..." and abort); the
 * harness's SIGABRT handler ends the process with status 0 after such a
 * report (libFuzzer's -fork mode starts another), and anything else -- a
 * fault in the allocator, a sanitizer report, an abort without a report, a
 * hang -- is a crash.  Once an input has written, the blocks' patterns are
 * not checked (the program broke them itself).
 */
#include "../tests/common.h" /* defines _GNU_SOURCE first */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tidemalloc.h"

#define SLOTS 64
#define MAX_SIZE ((size_t)4 << 20) /* sizes are capped at 4 MiB */

#ifndef FUZZ_VERBOSE
#define FUZZ_VERBOSE 0
#endif

static int verbose = FUZZ_VERBOSE;

#ifndef FUZZ_CORRUPT
#define FUZZ_CORRUPT 0
#endif
/* harness-corrupt: this input has written over memory it does not own, so
 * block contents are the program's own doing, not the allocator's. */
static bool smashed;
/* And some input of this process has (set with smashed, never reset): its
 * stray writes may lie in memory no block held then, which a later calloc
 * may hand out uncleared (memory the kernel gave zero and no block was
 * carved from is not cleared again, as glibc does not clear a fresh top
 * chunk).  Later inputs of the process (libFuzzer's -fork children run
 * many) do not expect calloc's zeros. */
static bool ever_smashed;

#define DIE(...)                                                   \
  do {                                                             \
    fprintf(stderr, "fuzz harness: " __VA_ARGS__);                 \
    fprintf(stderr, "\n");                                         \
    __builtin_trap();                                              \
  } while (0)

/* ---- patterns ------------------------------------------------------------ */
/* Filling and checking is most of the work: keep the coverage
 * instrumentation (and ASan's checks, which cannot see inside tidemalloc's
 * blocks anyway) out of these loops, or fuzzing runs ten times slower. */
#define FAST_LOOP __attribute__((no_sanitize("coverage", "address")))

static uint64_t make_tag(unsigned slot, size_t size, uint64_t gen) {
  return t_mix(((uint64_t)slot << 56) ^ ((uint64_t)size << 8) ^ (gen * 0x9e3779b97f4a7c15ULL)) | 1;
}

/* Byte i of a block with this tag does not depend on the block's length, so
 * the preserved prefix of a realloc'ed block can be checked against the old
 * tag.  Words are the tag plus a multiple of the word index; the last bytes
 * are those of the word they would fall in. */
FAST_LOOP static inline uint64_t pat_word(uint64_t tag, size_t word) {
  return tag + word * 0xd6e8feb86659fd93ULL;
}

FAST_LOOP static void pat_fill(unsigned char *p, size_t n, uint64_t tag) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = pat_word(tag, i / 8);
    memcpy(p + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = pat_word(tag, i / 8);
    memcpy(p + i, &w, n - i);
  }
}

/* Offset of the first bad byte in [from, to) of a block with this tag, or
 * (size_t)-1.  Eight words at a time, differences or-ed together. */
FAST_LOOP static size_t pat_check_range(const unsigned char *p, size_t from, size_t to,
                                        uint64_t tag) {
  size_t i = from;
  while (i % 8 && i < to) {
    uint64_t w = pat_word(tag, i / 8);
    if (p[i] != ((unsigned char *)&w)[i % 8]) return i;
    i++;
  }
  for (; i + 64 <= to; i += 64) {
    uint64_t d = 0;
    for (size_t k = 0; k < 8; k++) {
      uint64_t got;
      memcpy(&got, p + i + 8 * k, 8);
      d |= got ^ pat_word(tag, i / 8 + k);
    }
    if (d) break;
  }
  for (; i < to; i++) {
    uint64_t w = pat_word(tag, i / 8);
    if (p[i] != ((unsigned char *)&w)[i % 8]) return i;
  }
  return (size_t)-1;
}

/* Blocks are always filled in full; blocks above CHECK_FULL_MAX are checked
 * in their first and last 16 KiB and in two 64-byte spots of every 4 KiB in
 * between (a page-sized overlap or a stale page shows; checking 4 MiB blocks
 * in full would make fuzzing ten times slower).  The spots depend only on
 * the offset, so any prefix of a filled block can be checked. */
#define CHECK_FULL_MAX ((size_t)256 << 10)
#define CHECK_EDGE ((size_t)16 << 10)
FAST_LOOP static size_t pat_check(const unsigned char *p, size_t n, uint64_t tag) {
  if (n <= CHECK_FULL_MAX) return pat_check_range(p, 0, n, tag);
  size_t bad = pat_check_range(p, 0, CHECK_EDGE, tag);
  if (bad != (size_t)-1) return bad;
  for (size_t pg = CHECK_EDGE; pg + 4096 <= n - CHECK_EDGE; pg += 4096) {
    size_t spot = pg + ((pg / 4096 * 1237) % 4032 & ~(size_t)7);
    if ((bad = pat_check_range(p, pg, pg + 64, tag)) != (size_t)-1) return bad;
    if ((bad = pat_check_range(p, spot, spot + 64, tag)) != (size_t)-1) return bad;
  }
  return pat_check_range(p, n - CHECK_EDGE, n, tag);
}

/* Offset of the first non-zero byte among the first n, or (size_t)-1;
 * sampled as pat_check is above CHECK_FULL_MAX. */
FAST_LOOP static size_t zero_range(const unsigned char *p, size_t from, size_t to) {
  size_t i = from;
  for (; i + 64 <= to; i += 64) {
    uint64_t d = 0;
    for (size_t k = 0; k < 8; k++) {
      uint64_t got;
      memcpy(&got, p + i + 8 * k, 8);
      d |= got;
    }
    if (d) break;
  }
  for (; i < to; i++)
    if (p[i]) return i;
  return (size_t)-1;
}

FAST_LOOP static size_t zero_check(const unsigned char *p, size_t n) {
  if (n <= CHECK_FULL_MAX) return zero_range(p, 0, n);
  size_t bad = zero_range(p, 0, CHECK_EDGE);
  if (bad != (size_t)-1) return bad;
  for (size_t pg = CHECK_EDGE; pg + 4096 <= n - CHECK_EDGE; pg += 4096) {
    size_t spot = pg + ((pg / 4096 * 1237) % 4032 & ~(size_t)7);
    if ((bad = zero_range(p, pg, pg + 64)) != (size_t)-1) return bad;
    if ((bad = zero_range(p, spot, spot + 64)) != (size_t)-1) return bad;
  }
  return zero_range(p, n - CHECK_EDGE, n);
}

/* ---- the live-block table ------------------------------------------------ */
typedef struct live {
  unsigned char *p;
  size_t size;   /* bytes that hold the pattern (requested, or usable) */
  size_t align;  /* alignment asked for (0: none) */
  uint64_t tag;
} live;

static live table[SLOTS];
static uint64_t generation;

static void block_fill(unsigned slot, unsigned char *p, size_t size, size_t align) {
  live *l = &table[slot];
  l->p = p;
  l->size = size;
  l->align = align;
  l->tag = make_tag(slot, size, ++generation);
  pat_fill(p, size, l->tag);
}

static void block_check(unsigned slot, const char *why) {
  live *l = &table[slot];
  if (!l->p) return;
  if (smashed) return;
  size_t bad = pat_check(l->p, l->size, l->tag);
  if (bad != (size_t)-1)
    DIE("%s: slot %u block %p size %zu: byte %zu changed", why, slot, (void *)l->p,
        l->size, bad);
}

static void check_align(const void *p, size_t align, const char *what) {
  size_t a = align > 16 ? align : 16;
  if ((uintptr_t)p & (a - 1)) DIE("%s returned %p, not aligned to %zu", what, p, a);
}

/* Every pointer tidemalloc hands out must report a usable size at least the
 * request; checked on every allocation (cheap: a lookup). */
static void check_usable(const void *p, size_t size, const char *what) {
  size_t u = tide_malloc_usable_size(p);
  if (u < size) DIE("%s: usable size %zu < requested %zu at %p", what, u, size, p);
}

/* ---- the second thread ---------------------------------------------------- */
/* Requests go through a small ring, answered in order.  FREE requests are
 * fire-and-forget (the block is checked and freed there); ALLOC requests are
 * answered through `reply`, and the main thread waits for them. */
enum { REQ_FREE = 1, REQ_ALLOC = 2 };
typedef struct request {
  int kind;
  unsigned char *p;
  size_t size;
  uint64_t tag;
  unsigned slot;
} request;

#define RING 16
static request ring[RING];
static unsigned ring_head, ring_tail; /* head: next to take; tail: next free */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t ring_done = PTHREAD_COND_INITIALIZER;
static unsigned ring_busy; /* requests taken but not finished */
static unsigned char *reply;
static bool reply_ready;
static pthread_t helper;
static bool helper_started;

static void *helper_main(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&ring_lock);
    while (ring_head == ring_tail) pthread_cond_wait(&ring_cond, &ring_lock);
    request r = ring[ring_head % RING];
    ring_head++;
    ring_busy++;
    pthread_mutex_unlock(&ring_lock);

    unsigned char *out = NULL;
    if (r.kind == REQ_FREE) {
      size_t bad = __atomic_load_n(&smashed, __ATOMIC_RELAXED) ? (size_t)-1 : pat_check(r.p, r.size, r.tag);
      if (bad != (size_t)-1)
        DIE("remote free: slot %u block %p size %zu: byte %zu changed", r.slot,
            (void *)r.p, r.size, bad);
      tide_free(r.p);
    } else {
      out = tide_malloc(r.size);
      if (out) {
        check_align(out, 0, "remote malloc");
        check_usable(out, r.size, "remote malloc");
        pat_fill(out, r.size, r.tag);
      } else if (r.size < ((size_t)64 << 20)) {
        DIE("remote malloc(%zu) returned NULL", r.size);
      }
    }

    pthread_mutex_lock(&ring_lock);
    ring_busy--;
    if (r.kind == REQ_ALLOC) {
      reply = out;
      reply_ready = true;
    }
    pthread_cond_broadcast(&ring_done);
    pthread_mutex_unlock(&ring_lock);
  }
  return NULL;
}

static void helper_start(void) {
  if (helper_started) return;
  if (pthread_create(&helper, NULL, helper_main, NULL) != 0) DIE("pthread_create failed");
  pthread_detach(helper);
  helper_started = true;
}

static void ring_push(request r) {
  helper_start();
  pthread_mutex_lock(&ring_lock);
  while (ring_tail - ring_head >= RING) pthread_cond_wait(&ring_done, &ring_lock);
  ring[ring_tail % RING] = r;
  ring_tail++;
  pthread_cond_signal(&ring_cond);
  pthread_mutex_unlock(&ring_lock);
}

/* Wait until the helper has finished everything queued. */
static void ring_drain(void) {
  if (!helper_started) return;
  pthread_mutex_lock(&ring_lock);
  while (ring_head != ring_tail || ring_busy) pthread_cond_wait(&ring_done, &ring_lock);
  pthread_mutex_unlock(&ring_lock);
}

static unsigned char *remote_alloc(size_t size, uint64_t tag, unsigned slot) {
  request r = {REQ_ALLOC, NULL, size, tag, slot};
  pthread_mutex_lock(&ring_lock);
  reply_ready = false;
  pthread_mutex_unlock(&ring_lock);
  ring_push(r);
  pthread_mutex_lock(&ring_lock);
  while (!reply_ready) pthread_cond_wait(&ring_done, &ring_lock);
  unsigned char *p = reply;
  pthread_mutex_unlock(&ring_lock);
  return p;
}

/* ---- input decoding ------------------------------------------------------- */
typedef struct reader {
  const uint8_t *d;
  size_t n, i;
} reader;

static unsigned rd8(reader *r) { return r->i < r->n ? r->d[r->i++] : 0; }
static unsigned rd16(reader *r) {
  unsigned a = rd8(r);
  return a | rd8(r) << 8;
}

/* Every byte of every block is written and checked, and a big block is
 * fresh pages from the kernel: unbounded, an input of a thousand 4 MiB
 * blocks or of many 64 x 64 KiB bursts takes seconds, and fuzzing crawled
 * at 28 executions a second, three quarters of the time in the pattern
 * loops and page faults.  So each input may ask for REQUEST_BUDGET bytes in
 * all, plus one block of any size (up to 4 MiB: the segment-sized and huge
 * paths); past that, sizes fold below 1 KiB.  Every size range is still
 * reached by an input's first requests, and the allocator's paths do not
 * depend on how many bytes came before.  With it, 430 executions a second. */
#define REQUEST_BUDGET ((size_t)2 << 20)
static size_t request_spent;
static bool oversize_spent;

static size_t budget(size_t size) {
  if (request_spent + size <= REQUEST_BUDGET)
    request_spent += size;
  else if (!oversize_spent)
    oversize_spent = true;
  else
    size %= 1025;
  return size;
}

static size_t size_pick(unsigned sel, size_t v);

/* A size: the selector picks a range that matters to the allocator, the
 * 16-bit value a point in it; within the input's budget. */
static size_t size_decode(reader *r) {
  unsigned sel = rd8(r);
  size_t v = rd16(r);
  return budget(size_pick(sel, v));
}

static size_t size_pick(unsigned sel, size_t v) {
  switch (sel % 16) {
  case 0: return v % 49;                                  /* 0..48: tiny */
  case 1: return v % 1025;                                /* small classes */
  case 2: return v % 16385;                               /* medium */
  case 3: return v * 2;                                   /* up to 128 KiB */
  case 4: return (128u << 10) - 256 + v % 512;            /* the mmap threshold */
  case 5: return (size_t)v * 16 % (1u << 20);             /* up to 1 MiB */
  case 6: return (4032u << 10) - 512 + v % 1024;          /* 63 slices: segment limit */
  case 7: return (size_t)v * 64 % MAX_SIZE + v % 64;      /* up to 4 MiB */
  case 8: return ((size_t)1 << (v % 23)) + (size_t)(int8_t)(v >> 8) % 3 - 1; /* 2^k +-1 */
  case 9: return (size_t)(v % 4097) * 16;                /* multiples of 16 */
  case 10:
  case 11:
  case 12: return v % 257;                                /* more small ones: */
  case 13: return v % 1025;                               /* big blocks are slow */
  case 14: return v % 4097;
  default: return v % 32769;
  }
}

static size_t align_decode(reader *r) {
  unsigned b = rd8(r);
  if (b >= 0xF0) return (size_t)1 << (13 + b % 10); /* 8 KiB .. 4 MiB */
  return (size_t)1 << (4 + b % 9);                  /* 16 .. 4096 */
}

/* ---- operations ----------------------------------------------------------- */
enum {
  OP_MALLOC,
  OP_CALLOC,
  OP_REALLOC,
  OP_FREE,
  OP_ALIGNED,
  OP_POSIX,
  OP_MEMALIGN,
  OP_USABLE,
  OP_TRIM,
  OP_REMOTE_FREE,
  OP_REMOTE_ALLOC,
  OP_SWAP,
  OP_FREE_SIZED,
  OP_OPTION,
  OP_CHECK_ALL,
  OP_REALLOC_SAME,
  OP_FREE_NULL,
  OP_BURST,
#if FUZZ_CORRUPT
  OP_SMASH_FREED,
  OP_SMASH_NEAR,
  OP_FORGE,
#endif
  OP_COUNT
};

#if FUZZ_CORRUPT
static void dangling_note(const unsigned char *p, size_t size);
#else
static void dangling_note(const unsigned char *p, size_t size) {
  (void)p;
  (void)size;
}
#endif

static void slot_free(unsigned slot) {
  live *l = &table[slot];
  if (!l->p) return;
  block_check(slot, "free");
  size_t size = l->size;
  tide_free(l->p);
  dangling_note(l->p, size); /* harness-corrupt keeps the pointer */
  l->p = NULL;
}

static void do_malloc(unsigned slot, size_t size) {
  slot_free(slot);
  unsigned char *p = tide_malloc(size);
  if (!p) DIE("malloc(%zu) returned NULL (errno %d)", size, errno);
  check_align(p, 0, "malloc");
  check_usable(p, size, "malloc");
  block_fill(slot, p, size, 0);
}

static void do_calloc(unsigned slot, size_t size, unsigned split) {
  slot_free(slot);
  /* count * each == size exactly, with count from the input. */
  size_t count = 1 + split % 16, each;
  while (count > 1 && size % count) count--;
  each = size / count;
  unsigned char *p = tide_calloc(count, each);
  if (!p) DIE("calloc(%zu, %zu) returned NULL", count, each);
  check_align(p, 0, "calloc");
  check_usable(p, size, "calloc");
  size_t nz = __atomic_load_n(&ever_smashed, __ATOMIC_RELAXED) ? (size_t)-1 : zero_check(p, size);
  if (nz != (size_t)-1)
    DIE("calloc(%zu, %zu) = %p: byte %zu is %#x, not 0", count, each, (void *)p, nz, p[nz]);
  block_fill(slot, p, size, 0);
}

static void do_realloc(unsigned slot, size_t size) {
  live *l = &table[slot];
  if (!l->p) {
    unsigned char *p = tide_realloc(NULL, size);
    if (!p) DIE("realloc(NULL, %zu) returned NULL", size);
    check_align(p, 0, "realloc(NULL)");
    check_usable(p, size, "realloc(NULL)");
    block_fill(slot, p, size, 0);
    return;
  }
  block_check(slot, "before realloc");
  if (size == 0) { /* glibc's rule, which tidemalloc follows: free, NULL */
    void *q = tide_realloc(l->p, 0);
    if (q) DIE("realloc(p, 0) returned %p, not NULL", q);
    l->p = NULL;
    return;
  }
  unsigned char *q = tide_realloc(l->p, size);
  if (!q) DIE("realloc(%p, %zu) returned NULL", (void *)l->p, size);
  check_align(q, 0, "realloc");
  check_usable(q, size, "realloc");
  size_t keep = l->size < size ? l->size : size;
  size_t bad = smashed ? (size_t)-1 : pat_check(q, keep, l->tag);
  if (bad != (size_t)-1)
    DIE("realloc(%p size %zu -> %zu) = %p: preserved byte %zu differs", (void *)l->p,
        l->size, size, (void *)q, bad);
  /* The old alignment is not promised any more: realloc gives 16. */
  block_fill(slot, q, size, 0);
}

static void do_aligned(int kind, unsigned slot, size_t align, size_t size) {
  slot_free(slot);
  unsigned char *p = NULL;
  const char *what;
  if (kind == OP_ALIGNED) {
    what = "aligned_alloc";
    p = tide_aligned_alloc(align, size);
  } else if (kind == OP_POSIX) {
    what = "posix_memalign";
    void *out = NULL;
    int rc = tide_posix_memalign(&out, align, size);
    if (rc) DIE("posix_memalign(%zu, %zu) = %d", align, size, rc);
    p = out;
  } else {
    what = "memalign";
    p = tide_memalign(align, size);
  }
  if (!p) DIE("%s(%zu, %zu) returned NULL", what, align, size);
  check_align(p, align, what);
  check_usable(p, size, what);
  block_fill(slot, p, size, align);
}

/* All of malloc_usable_size is writable: fill it, and from now on the whole
 * usable size is what is checked. */
static void do_usable(unsigned slot) {
  live *l = &table[slot];
  if (!l->p) {
    if (tide_malloc_usable_size(NULL) != 0) DIE("malloc_usable_size(NULL) != 0");
    return;
  }
  block_check(slot, "usable");
  size_t u = tide_malloc_usable_size(l->p);
  if (u < l->size) DIE("usable size %zu < %zu at %p", u, l->size, (void *)l->p);
  if (u > l->size + ((size_t)1 << 21) + 4096 && u > l->size * 2 + 4096)
    DIE("usable size %zu for a %zu-byte block is absurd", u, l->size);
  block_fill(slot, l->p, u, l->align);
}

static void do_remote_free(unsigned slot) {
  live *l = &table[slot];
  if (!l->p) return;
  block_check(slot, "remote free (send)");
  request r = {REQ_FREE, l->p, l->size, l->tag, slot};
  l->p = NULL;
  ring_push(r);
}

static void do_remote_alloc(unsigned slot, size_t size) {
  slot_free(slot);
  uint64_t tag = make_tag(slot, size, ++generation);
  unsigned char *p = remote_alloc(size, tag, slot);
  if (!p) DIE("remote malloc(%zu) returned NULL", size);
  live *l = &table[slot];
  l->p = p;
  l->size = size;
  l->align = 0;
  l->tag = tag;
  block_check(slot, "remote alloc (received)");
}

static void do_option(unsigned which) {
  /* Options are process-wide: each input restores them at its end. */
  switch (which % 6) {
  case 0: tide_option_set("purge_delay_ms", 0); break;
  case 1: tide_option_set("purge_delay_ms", -1); break;
  case 2: tide_option_set("purge_delay_ms", 10); break;
  case 3: tide_option_set("mmap_threshold", 64 << 10); break;
  case 4: tide_option_set("mmap_threshold", 1 << 20); break;
  default: tide_option_set("trim_threshold", 0); break;
  }
}

static long long saved_purge, saved_threshold, saved_trim;
static bool options_saved;

static void options_restore(void) {
  if (!options_saved) {
    tide_option_get("purge_delay_ms", &saved_purge);
    tide_option_get("mmap_threshold", &saved_threshold);
    tide_option_get("trim_threshold", &saved_trim);
    options_saved = true;
    return;
  }
  tide_option_set("purge_delay_ms", saved_purge);
  tide_option_set("mmap_threshold", saved_threshold);
  tide_option_set("trim_threshold", saved_trim);
}

static const char *op_name(unsigned op) {
  static const char *names[] = {"malloc", "calloc", "realloc", "free", "aligned_alloc",
                                "posix_memalign", "memalign", "usable", "trim",
                                "remote_free", "remote_alloc", "swap", "free_sized",
                                "option", "check_all", "realloc_same", "free_null", "burst",
                                "smash_freed", "smash_near", "forge"};
  return op < OP_COUNT ? names[op] : "?";
}

/* ---- harness-corrupt: the program's own wild writes ---------------------- */
#if FUZZ_CORRUPT
#include <sys/uio.h>

#define DANGLING 16
#define UNIT ((uintptr_t)4 << 20)
#define HEADER_SLICE ((uintptr_t)64 << 10)
#define BIN_MAX ((size_t)128 << 10)

typedef struct dangling {
  unsigned char *p;
  size_t size;
} dangling;
static dangling dangle[DANGLING]; /* the last blocks freed by slot_free */
static unsigned dangle_next;
static bool secure_mode; /* TIDEMALLOC_OPTIONS has secure=1 */
static unsigned long inputs_run;

/* Blocks of a class and large pages only: they never lie in the first
 * 64 KiB of their unit, which holds a segment's header once the unit is a
 * segment again (a freed big block's memory may become one). */
static void dangling_note(const unsigned char *p, size_t size) {
  if (((uintptr_t)p & (UNIT - 1)) < HEADER_SLICE) return;
  dangle[dangle_next++ % DANGLING] = (dangling){(unsigned char *)p, size};
}

/* Write n bytes at dst if all of them are mapped writable, through the
 * kernel (process_vm_writev fails with EFAULT where a store would fault: a
 * guard page, memory given back, a read-only neighbour). */
static bool poke(void *dst, const void *src, size_t n) {
  if (((uintptr_t)dst & (UNIT - 1)) < HEADER_SLICE ||
      (((uintptr_t)dst + n - 1) & (UNIT - 1)) < HEADER_SLICE)
    return false;
  struct iovec l = {(void *)src, n}, r = {dst, n};
  if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != (ssize_t)n) return false;
  __atomic_store_n(&smashed, true, __ATOMIC_RELAXED);
  __atomic_store_n(&ever_smashed, true, __ATOMIC_RELAXED);
  return true;
}

/* poke for a big block's own header, just below it: tidemalloc keeps
 * what it needs of a big block out of line and never reads the header. */
static bool poke_header(unsigned char *block, void *dst, const void *src, size_t n) {
  if ((uintptr_t)dst / UNIT != (uintptr_t)block / UNIT) return false;
  struct iovec l = {(void *)src, n}, r = {dst, n};
  if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != (ssize_t)n) return false;
  __atomic_store_n(&smashed, true, __ATOMIC_RELAXED);
  __atomic_store_n(&ever_smashed, true, __ATOMIC_RELAXED);
  return true;
}

static uint64_t rd64(reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)rd8(r) << (8 * i);
  return v;
}

/* Into a block freed earlier: a whole word at a word offset (any mode), or
 * in secure mode a single byte at any offset, of the block's first 64. */
static void do_smash_freed(unsigned which, reader *r) {
  unsigned off = rd8(r);
  uint64_t v = rd64(r);
  ring_drain(); /* no free in flight that could give the memory back */
  dangling *d = &dangle[which % DANGLING];
  if (!d->p) return;
  size_t span = d->size < 64 ? d->size : 64;
  if (span < 8) span = 8; /* a block is at least 16 bytes */
  if (secure_mode && (off & 0x80)) {
    unsigned char b = (unsigned char)v;
    poke(d->p + (off & 0x7f) % span, &b, 1);
  } else {
    poke(d->p + ((off % span) & ~7u), &v, 8);
  }
  if (verbose) fprintf(stderr, "smash_freed %p off %u\n", (void *)d->p, off);
}

/* Just below or just past a live block: the bytes a small overflow or
 * underflow reaches (the neighbour, secure mode's canary, a guard page, a
 * big block's header). */
static void do_smash_near(unsigned slot, reader *r) {
  unsigned where = rd8(r);
  uint64_t v = rd64(r);
  ring_drain();
  live *l = &table[slot];
  if (!l->p) return;
  size_t u = tide_malloc_usable_size(l->p);
  size_t k = (size_t)(where >> 2) % 8; /* which word */
  unsigned char *at;
  if (where & 1)
    at = l->p + u + 8 * k; /* past the usable bytes */
  else
    at = l->p - 8 * (k + 1); /* below the block */
  if (verbose) fprintf(stderr, "smash_near slot %u %p at %p\n", slot, (void *)l->p, (void *)at);
  if (secure_mode && (where & 2)) {
    unsigned char b = (unsigned char)v;
    at += (where >> 5) % 8;
    if (!poke(at, &b, 1) && at < l->p && u > BIN_MAX) poke_header(l->p, at, &b, 1);
    return;
  }
  if (!poke(at, &v, 8) && at < l->p && u > BIN_MAX) poke_header(l->p, at, &v, 8);
}

/* Secure mode: a dangling read of two freed blocks and a write through one
 * of them.  If a's link led to b, it now leads to the live block. */
static void do_forge(unsigned a, reader *r) {
  unsigned b = rd8(r) % DANGLING, slot = rd8(r) % SLOTS;
  a %= DANGLING;
  ring_drain();
  if (!secure_mode || !dangle[a].p || !dangle[b].p || !table[slot].p) return;
  uintptr_t link;
  if (((uintptr_t)dangle[a].p & (UNIT - 1)) < HEADER_SLICE) return;
  struct iovec lv = {&link, sizeof link}, rv = {dangle[a].p, sizeof link};
  /* read through the kernel too: the memory may be gone */
  if (process_vm_readv(getpid(), &lv, 1, &rv, 1, 0) != (ssize_t)sizeof link) return;
  link ^= (uintptr_t)dangle[b].p ^ (uintptr_t)table[slot].p;
  poke(dangle[a].p, &link, sizeof link);
  if (verbose) fprintf(stderr, "forge %p -> %p\n", (void *)dangle[a].p, (void *)table[slot].p);
}

/* tide_fatal is wrapped (-Wl,--wrap=tide_fatal): a report on its way out is
 * the allocator doing its job, and the SIGABRT that follows ends the
 * process cleanly; libFuzzer's -fork mode starts another.  An abort
 * without a report (an internal assert, libc) stays a crash. */
static volatile sig_atomic_t fatal_reported;
_Noreturn void __real_tide_fatal(const char *func, const char *what, const void *addr);
_Noreturn void __wrap_tide_fatal(const char *func, const char *what, const void *addr);
_Noreturn void __wrap_tide_fatal(const char *func, const char *what, const void *addr) {
  fatal_reported = 1;
  __real_tide_fatal(func, what, addr);
}

static void on_abort(int sig) {
  if (!fatal_reported) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  /* libFuzzer's -fork parent reads the executions from the job's log. */
  char line[96];
  int n = snprintf(line, sizeof line,
                   "harness-corrupt: tidemalloc reported the damage\n"
                   "stat::number_of_executed_units: %lu\n",
                   inputs_run);
  if (n > 0) (void)!write(2, line, (size_t)n);
  _exit(0);
}

static void corrupt_init(void) {
  static bool done;
  if (done) return;
  done = true;
  const char *o = getenv("TIDEMALLOC_OPTIONS");
  secure_mode = o && strstr(o, "secure=1");
  /* After libFuzzer's and ASan's own handlers are in place: ours wins. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_abort;
  sigaction(SIGABRT, &sa, NULL);
}
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *v = getenv("TIDE_FUZZ_VERBOSE");
  if (v && *v == '1') verbose = 1;
  options_restore(); /* remember the starting values */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size, 0};
  unsigned ops = 0;
  request_spent = 0;
  oversize_spent = false;
#if FUZZ_CORRUPT
  corrupt_init();
  inputs_run++;
  __atomic_store_n(&smashed, false, __ATOMIC_RELAXED);
  memset(dangle, 0, sizeof dangle); /* the last input's blocks may be anything now */
#endif
  while (r.i < r.n && ops < 4096) {
    unsigned op = rd8(&r) % OP_COUNT;
    unsigned slot = rd8(&r) % SLOTS;
    ops++;
    size_t sz = 0, al = 0;
    switch (op) {
    case OP_MALLOC:
      sz = size_decode(&r);
      if (verbose) fprintf(stderr, "%s slot %u size %zu\n", op_name(op), slot, sz);
      do_malloc(slot, sz);
      break;
    case OP_CALLOC: {
      sz = size_decode(&r);
      unsigned split = rd8(&r);
      if (verbose) fprintf(stderr, "%s slot %u size %zu\n", op_name(op), slot, sz);
      do_calloc(slot, sz, split);
      break;
    }
    case OP_REALLOC:
      sz = size_decode(&r);
      if (verbose) fprintf(stderr, "%s slot %u size %zu\n", op_name(op), slot, sz);
      do_realloc(slot, sz);
      break;
    case OP_FREE:
      if (verbose) fprintf(stderr, "free slot %u\n", slot);
      slot_free(slot);
      break;
    case OP_ALIGNED:
    case OP_POSIX:
    case OP_MEMALIGN:
      al = align_decode(&r);
      sz = size_decode(&r);
      if (op == OP_ALIGNED && sz % al) sz = sz / al * al; /* C11's rule; tidemalloc takes any */
      if (verbose) fprintf(stderr, "%s slot %u align %zu size %zu\n", op_name(op), slot, al, sz);
      do_aligned(op, slot, al, sz);
      break;
    case OP_USABLE:
      if (verbose) fprintf(stderr, "usable slot %u\n", slot);
      do_usable(slot);
      break;
    case OP_TRIM:
      if (verbose) fprintf(stderr, "trim\n");
      if (slot & 1)
        tide_malloc_trim(0);
      else
        tide_trim();
      break;
    case OP_REMOTE_FREE:
      if (verbose) fprintf(stderr, "remote_free slot %u\n", slot);
      do_remote_free(slot);
      break;
    case OP_REMOTE_ALLOC:
      sz = size_decode(&r);
      if (verbose) fprintf(stderr, "remote_alloc slot %u size %zu\n", slot, sz);
      do_remote_alloc(slot, sz);
      break;
    case OP_SWAP: {
      unsigned other = rd8(&r) % SLOTS;
      if (verbose) fprintf(stderr, "swap %u %u\n", slot, other);
      /* Tags depend on the slot only when made: moving keeps them valid. */
      live t = table[slot];
      table[slot] = table[other];
      table[other] = t;
      break;
    }
    case OP_FREE_SIZED: {
      live *l = &table[slot];
      if (verbose) fprintf(stderr, "free_sized slot %u\n", slot);
      if (!l->p) break;
      block_check(slot, "free_sized");
      if (l->align > 16)
        tide_free_aligned_sized(l->p, l->align, l->size);
      else
        tide_free_sized(l->p, l->size);
      l->p = NULL;
      break;
    }
    case OP_OPTION:
      if (verbose) fprintf(stderr, "option %u\n", slot);
      do_option(slot);
      break;
    case OP_CHECK_ALL:
      if (verbose) fprintf(stderr, "check_all\n");
      ring_drain();
      for (unsigned s = 0; s < SLOTS; s++) block_check(s, "check_all");
      break;
    case OP_REALLOC_SAME: {
      /* realloc to the same size, and to its usable size: in place. */
      live *l = &table[slot];
      if (verbose) fprintf(stderr, "realloc_same slot %u\n", slot);
      if (!l->p) break;
      block_check(slot, "realloc_same");
      size_t u = tide_malloc_usable_size(l->p);
      size_t want = (slot & 1) || l->size == 0 ? u : l->size; /* realloc(p, 0) frees */
      unsigned char *q = tide_realloc(l->p, want);
      if (!q) DIE("realloc to the same size returned NULL");
      size_t bad = smashed ? (size_t)-1 : pat_check(q, l->size, l->tag);
      if (bad != (size_t)-1) DIE("realloc to the same size: byte %zu changed", bad);
      check_align(q, 0, "realloc_same");
      l->p = q;
      l->align = 0;
      /* The block's size is now the one realloc was given (free_sized
       * checks it from below): its pattern covers that much. */
      if (want != l->size) block_fill(slot, q, want, 0);
      break;
    }
    case OP_FREE_NULL:
      tide_free(NULL);
      tide_free_sized(NULL, 0);
      break;
    case OP_BURST: {
      /* Many blocks of one size at once, freed in an order from the
       * input: fills pages and segments, makes pages empty. */
      unsigned count = 1 + slot % 64;
      unsigned sel = rd8(&r);
      size_t v = rd16(&r);
      sz = size_pick(sel, v) % (64u << 10);
      sz = budget(sz * count) / count; /* all of the burst's bytes count */
      unsigned order = rd8(&r);
      if (verbose) fprintf(stderr, "burst %u x %zu order %u\n", count, sz, order);
      unsigned char *blk[64];
      for (unsigned k = 0; k < count; k++) {
        blk[k] = tide_malloc(sz);
        if (!blk[k]) DIE("burst malloc(%zu) returned NULL", sz);
        check_align(blk[k], 0, "burst malloc");
        pat_fill(blk[k], sz, make_tag(k, sz, generation));
      }
      for (unsigned k = 0; k < count; k++) {
        unsigned j = (order & 1) ? count - 1 - k : (order & 2) ? (k * 7) % count : k;
        if ((order & 2) && count % 7 == 0) j = k;
        size_t bad = smashed ? (size_t)-1 : pat_check(blk[j], sz, make_tag(j, sz, generation));
        if (bad != (size_t)-1) DIE("burst block %u (%zu bytes): byte %zu changed", j, sz, bad);
        if ((order & 4) && (k & 1)) {
          ring_push((request){REQ_FREE, blk[j], sz, make_tag(j, sz, generation), 99});
        } else {
          tide_free(blk[j]);
        }
      }
      break;
    }
#if FUZZ_CORRUPT
    case OP_SMASH_FREED: /* the slot byte chooses the freed block */
      do_smash_freed(slot, &r);
      break;
    case OP_SMASH_NEAR:
      do_smash_near(slot, &r);
      break;
    case OP_FORGE:
      do_forge(slot, &r);
      break;
#endif
    }
  }

  /* End of input: wait for the helper, check and free everything, so that
   * the next input starts from a clean table. */
  ring_drain();
  for (unsigned s = 0; s < SLOTS; s++) {
    if (table[s].p && (s & 3) == 0 && (ops & 1))
      do_remote_free(s);
    else
      slot_free(s);
  }
  ring_drain();
  options_restore();
  return 0;
}

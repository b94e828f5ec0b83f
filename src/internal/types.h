/* SPDX-License-Identifier: MIT */
/* The data model of tidemalloc: every structure, constant and invariant.
 *
 * Glossary
 *   block    what malloc hands out.  Blocks of one page all have one size.
 *   slice    64 KiB of a segment; the unit in which pages are carved.
 *   page     a run of slices holding blocks of one size class (a "span").
 *            A page of a size class is 1..16 slices; a large block (bigger
 *            than the largest class, below the mmap threshold) is a page
 *            of one block spanning as many slices as it needs.
 *   segment  4 MiB, aligned to 4 MiB, carved out of the brk heap (or, when
 *            brk is unavailable, mapped with mmap).  Slice 0 holds the
 *            segment header below and never holds blocks.  Every pointer a
 *            block can have finds its segment by masking, and its page by
 *            a shift: free() searches nothing.
 *   huge     a block too big for a page of a segment: a segment of its own
 *            (kind TIDE_SEG_HUGE) whose header takes the first OS page and
 *            whose block follows it (in secure mode after a guard page);
 *            what it is, its size and where its block lies are its record's
 *            (tide_big, out of line), never the header's.  At or above the mmap threshold it is
 *            a mapping (any size, aligned to 4 MiB), resized with mremap and
 *            unmapped when freed; below it, as in glibc, it is a "span":
 *            as many contiguous 4 MiB units of the brk heap as it needs
 *            (in_brk), which go back to the brk heap's pool when freed.
 *   unit     4 MiB of the brk heap, aligned: a segment, part of a span, or
 *            free in the brk heap's pool (brk.c), where free units wait
 *            purge_delay_ms before the break comes down over them (at the
 *            top) or madvise gives their pages back (anywhere else).
 *   heap     per-thread state: queues of pages by size class, the segments
 *            the thread owns.  Only the owning thread touches a heap's pages'
 *            free lists; other threads batch their frees per page and push
 *            each batch onto the page's atomic thread_free list, which the
 *            owner collects.
 *   segment map  two bitmaps over the address space (one bit per 4 MiB):
 *            which units start a live segment, and which continue a huge
 *            one.  free() of an address we never handed out is caught here.
 *            Beside them, one 16-bit tag per unit for free's fast path:
 *            TIDE_TAG_NONE (no segment starts here), TIDE_TAG_SLOW (a
 *            segment whose frees take the checked path: huge or unowned),
 *            TIDE_TAG_CHECKED (a heap's segment, in secure mode or under
 *            valgrind, where every free is checked), or the owning heap's
 *            fast_tag.  A free whose block's tag is the calling thread's
 *            heap's is a local free.
 *
 * Address space (x86-64, high addresses on top):
 *
 *   stack
 *   ...                 huge blocks: one mapping each, 4 MiB aligned
 *   ...                 segments from mmap when brk is unavailable
 *   ~~~ unmapped ~~~
 *   brk heap:  [pad][segment][span.....][free][segment]...[top, committed part]  <- break
 *   bss, data, text
 *
 * The break is moved only as far as the top segment's committed part needs
 * (plus top_pad), or over the whole of a span; it is lowered when the top of
 * the heap is free.  Free pages and units anywhere are given back with
 * madvise after purge_delay_ms, adjacent ones in one call.
 */
#ifndef TIDE_TYPES_H
#define TIDE_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Geometry ------------------------------------------------------------ */
#define TIDE_SEGMENT_SHIFT 22
#define TIDE_SEGMENT_SIZE ((size_t)1 << TIDE_SEGMENT_SHIFT)
#define TIDE_SEGMENT_MASK (TIDE_SEGMENT_SIZE - 1)
#define TIDE_SLICE_SHIFT 16
#define TIDE_SLICE_SIZE ((size_t)1 << TIDE_SLICE_SHIFT)
#define TIDE_SLICES (TIDE_SEGMENT_SIZE / TIDE_SLICE_SIZE) /* 64: one bitmap word */
#define TIDE_ALIGN 16                                      /* minimum alignment */

/* Blocks up to this size are found through heap->direct (one load). */
#define TIDE_SMALL_MAX 1024
#define TIDE_DIRECT_COUNT (TIDE_SMALL_MAX / TIDE_ALIGN + 1)
/* The largest size class; above it a block is a page of its own. */
#define TIDE_BIN_MAX ((size_t)128 * 1024)
#define TIDE_BIN_COUNT 77 /* bins 1..76 are size classes; 0 is unused */
#define TIDE_BIN_LARGE TIDE_BIN_COUNT /* queue index of single-block pages */
/* The largest block a segment can hold (all slices but the header's). */
#define TIDE_LARGE_MAX ((TIDE_SLICES - 1) * TIDE_SLICE_SIZE)
/* Free slices of a heap's segments wait 1..TIDE_PURGE_HOLD purge delays
 * before they are given back (heap_purge_hold): longer while what the heap
 * gave back keeps being taken again, at least this many slices a purge. */
#define TIDE_PURGE_HOLD 16
#define TIDE_PURGE_REFAULT_SLICES 64 /* 4 MiB */
/* What a heap of a small program may hold in resident free slices while
 * they wait: a quarter of the allocated peak, and at least this; a program
 * whose peak reached TIDE_HOLD_PEAK_MAX holds what waits, as long as it
 * waits (heap_holds_too_much). */
#define TIDE_HOLD_MIN_BYTES ((uint64_t)1 << 20)
#define TIDE_HOLD_PEAK_MAX ((uint64_t)32 << 20)
/* That budget doubles, up to this many times, while half of what the heap
 * gave back under it is taken again faster than TIDE_SPARE_REFAULT_RATE
 * bytes a second (a program that cycles a working set above the budget;
 * about 32,000 page faults a second, several percent of a core), and
 * halves when none of it was (heap_spare_grows).  espresso takes its
 * spare back at less than that, xmalloc-test at more. */
#define TIDE_SPARE_SHIFT_MAX 5
#define TIDE_SPARE_REFAULT_RATE ((uint64_t)128 << 20)
/* glibc's ceiling for the dynamic mmap threshold on 64-bit. */
#define TIDE_MMAP_THRESHOLD_MAX ((size_t)32 * 1024 * 1024)

/* The segment map covers the user address space. */
#if defined(__x86_64__)
#define TIDE_VA_BITS 47
#else
#define TIDE_VA_BITS 48
#endif
#define TIDE_MAP_BITS ((size_t)1 << (TIDE_VA_BITS - TIDE_SEGMENT_SHIFT))

/* Segment map tags (see the glossary).  Heaps get tags from TIDE_TAG_FIRST
 * on; a heap made when they have run out, and the empty heap, carry
 * TIDE_TAG_NEVER, which no segment has: their frees take the slow path. */
#define TIDE_TAG_NONE 0
#define TIDE_TAG_SLOW 1
#define TIDE_TAG_CHECKED 2
#define TIDE_TAG_FIRST 3
#define TIDE_TAG_NEVER 0xffff

/* ---- Blocks -------------------------------------------------------------- */
/* A free block.  next is stored xored with the process's secret
 * (block_encode) so that a stray write through a dangling
 * pointer is caught when the list is next used (it no longer points into
 * the segment), not followed.  freed_key marks a block as free with a key
 * of its own address (block_freed_key): only a free writes it, so a free()
 * that finds it there has found a double free, whoever freed the block
 * first; bytes copied from a freed block into a live one are not the live
 * block's key. */
typedef struct tide_block {
  uintptr_t next_encoded;
  uintptr_t freed_key;
} tide_block;

/* ---- Pages --------------------------------------------------------------- */
struct tide_heap;

/* Low bits of page->thread_free (blocks are 16-byte aligned). */
#define TIDE_TF_FULL ((uintptr_t)1)   /* the page is parked in heap->full */
#define TIDE_TF_WAKING ((uintptr_t)2) /* a freer is putting it on heap->wake,
                                         or it is there, not yet drained */
#define TIDE_TF_FLAGS (TIDE_TF_FULL | TIDE_TF_WAKING)

#define TIDE_USED_FULL 0x8000u /* page->used's mark of TIDE_PAGE_IN_FULL */
/* A page of one slice holds at most 4096 blocks (of 16 bytes); a page of
 * several slices, blocks above 64 KiB, one: used never reaches
 * the mark, and a page's mallocs between two counts (page_count_flush)
 * never wrap their 16 bits. */
_Static_assert(TIDE_SLICE_SIZE / TIDE_ALIGN < TIDE_USED_FULL, "used has room for the full mark");

typedef enum tide_page_flag {
  TIDE_PAGE_IN_FULL = 1, /* in heap->full: no free block when last looked at */
  TIDE_PAGE_DIRTY = 2,   /* huge: a reused mapping, not known to be zero */
  TIDE_PAGE_IDLE = 4,    /* the kept last page of its class, found empty by
                            a purge and not freed into since: the next purge
                            that finds it so gives it back (heap.c) */
  TIDE_PAGE_FRESH = 8,   /* made on slices that read as zero (the segment's
                            zero_slices): what the page has not carved yet
                            is zero */
  TIDE_PAGE_FREE_ZERO = 16, /* FRESH, and `free` holds only blocks carved
                            and never handed out: zero but for their link
                            word, so calloc clears only that.  Cleared
                            whenever freed blocks join `free` (the local
                            swap, page_collect); set again when the list,
                            empty, is carved anew (page_extend).  Never in
                            secure mode */
} tide_page_flag;

/* One per slice, in the segment header.  Only the first slice of a page
 * describes the page; the segment's slice_page table leads from any slice
 * to it.
 * Invariants (owner's view, for a page in use):
 *   used = capacity - |free| - |thread_free not yet collected|... precisely:
 *   capacity == used + |free| + |local_free| (secure mode: + the blocks
 *   the map says are available, its lists empty), where used counts blocks
 *   handed out and not yet collected back (one on thread_free, or still in
 *   the batch of the thread that freed it, page_free_remote, still counts):
 *   so a page with a block in some thread's batch cannot be freed;
 *   capacity <= page_reserved(page); block_size == 0 <=> the slice is not a
 *   page head. */
typedef struct tide_page {
  tide_block *free;       /* blocks malloc hands out; owner only */
  tide_block *local_free; /* blocks the owner freed; become `free` when it
                             runs dry, so malloc's slow path runs regularly */
  /* used and mallocs share a word: malloc's fast path bumps both with one
   * add (page_count_malloc), which is all it counts. */
  union {
    uint32_t counts;
    struct {
      uint16_t used;     /* blocks out (including uncollected remote frees),
                            | TIDE_USED_FULL while in heap->full: free's
                            fast path then needs one signed test for both
                            "now empty" and "parked full" (page_used) */
      uint16_t mallocs;  /* blocks handed out since the owner last added
                            them to its heap's bin_malloc (page_count_flush:
                            at every slow event of the page, when it stops
                            being the current page of its class, when the
                            statistics are read) */
    };
  };
  uint32_t capacity;     /* blocks carved so far (free list extended lazily) */
  uint32_t block_size;   /* bytes per block; 0 if not a page head */
  uint32_t block_odd_inv; /* inverse of block_size's odd part, mod 2^32 */
  uint32_t grid_base;     /* (uint32_t)page_start * block_odd_inv: the
                             grid test works on the address itself */
  uint8_t block_shift;    /* trailing zero bits of block_size */
  uint8_t slice_count;   /* slices in the page (head only) */
  uint8_t bin;           /* size class, or TIDE_BIN_LARGE */
  uint8_t flags;         /* tide_page_flag; owner only */
  /* Remote frees: the list head (its links encoded) | TIDE_TF_* flags.  A
   * freer's push and its decision to wake the owner are one CAS on this
   * word, and a page is never freed while TIDE_TF_WAKING is set. */
  _Atomic(uintptr_t) thread_free;
  struct tide_page *next, *prev;  /* in a heap queue */
} tide_page;
/* One cache line, and a shift rather than a multiply on free's path.  The
 * page's first block is at its first slice (page_start); the blocks that fit
 * are page_reserved().  A page of more than one slice holds one block
 * (sizeclass_slices_for), so every block starts in its page's first slice:
 * free finds the descriptor from the block's own slice (page_of_slice). */
_Static_assert(sizeof(tide_page) == 64, "a page descriptor is one cache line");

typedef struct tide_page_queue {
  tide_page *first; /* the page malloc tries first */
  tide_page *last;
} tide_page_queue;

/* ---- Segments ------------------------------------------------------------ */
typedef enum tide_segment_kind {
  TIDE_SEG_BRK = 1,  /* carved out of the brk heap */
  TIDE_SEG_MMAP = 2, /* a 4 MiB mapping standing in for brk */
  TIDE_SEG_HUGE = 3, /* one huge block in a mapping of its own */
} tide_segment_kind;

/* Invariants:
 *   (uintptr_t)segment % TIDE_SEGMENT_SIZE == 0, and its head bit is set in
 *   the segment map for as long as it exists;
 *   bit 0 of free_slices is clear (the header); purge_slices and
 *   purged_slices are disjoint subsets of free_slices; purge_young is a
 *   subset of purge_slices, empty while no wait is running (deadline 0),
 *   and purge_young_ns is the time its first slice was freed;
 *   zero_slices is a subset of free_slices disjoint from purge_slices (a
 *   page's slices are written from the moment it is made: span_take takes
 *   their bits);
 *   warm_tails is a subset of the head slices of pages (never a free slice);
 *   for a BRK segment every slice a page uses lies below commit_end, and the
 *   break is at or above commit_end while the segment is the heap top;
 *   heap == NULL for huge segments and for segments in the global cache;
 *   HUGE, in_brk: the segment is size bytes (page-rounded, header and block)
 *   in ceil(size / TIDE_SEGMENT_SIZE) whole units below the break; the
 *   segment map has its head bit and cont bits over the other units. */
typedef struct tide_segment {
  struct tide_heap *heap;      /* owner; its fast_tag is in the segment map
                                  (segment_set_owner) unless frees must all
                                  take the checked path (secure mode) */
  uint32_t kind;               /* tide_segment_kind */
  uint8_t capped;              /* BRK: the break can no longer grow here */
  uint8_t in_full_list;        /* in heap->segments_full: no free slice */
  uint8_t guards;              /* secure: TIDE_GUARD_* pages made PROT_NONE */
  uint8_t in_brk;               /* HUGE: a span of units of the brk heap, not
                                  a mapping of its own (brk.c); a copy of
                                  the record's (tide_big), never read */
  size_t guard_bytes;          /* HUGE, secure: PROT_NONE bytes at the end
                                  (a copy of the record's, never read) */
  uint64_t free_slices;        /* bit i: slice i is free */
  uint64_t purge_slices;       /* free slices whose memory is still resident */
  uint64_t purge_young;        /* of those, the ones freed after the current
                                  wait began: they wait for the next one */
  uint64_t purged_slices;      /* free slices already given back (madvise) */
  uint64_t zero_slices;        /* free slices that read as zero: the
                                  kernel's since it gave them (a new mapping,
                                  units the break has just reached or came
                                  back up to) or since they were purged */
  uint64_t warm_tails;         /* heads of pages made on resident free slices:
                                  the part of the span the page has not
                                  carved may still hold an earlier page's
                                  memory (segment_trim_tails) */
  uint64_t purge_deadline_ns;  /* when purge_slices should be given back */
  uint64_t purge_young_ns;     /* when the first of purge_young was freed */
  size_t size;                 /* bytes: TIDE_SEGMENT_SIZE, or the huge mapping */
  uint8_t *commit_end;         /* memory below is usable (BRK: below break) */
  struct tide_segment *next, *prev; /* in a heap's list or the cache */
  size_t huge_offset;          /* HUGE: the block's distance from the start
                                  (a copy of the record's, never read) */
  /* For slice i, where its page's descriptor lies (distance from the
   * segment: offsetof(pages) + head slice * 64); a slice in no page points
   * at its own descriptor.  The slow paths find a block's page with one
   * load from here; free's fast path reads the descriptor of the block's
   * own slice (page_of_slice), which is all zero unless the slice is the
   * first of a page: segment_reset and segment_span_free clear them, and a
   * span takes only free slices. */
  uint32_t slice_page[TIDE_SLICES];
  tide_page *wake_next[TIDE_SLICES]; /* links of heap->wake, by slice */
  tide_page pages[];           /* TIDE_SLICES entries (1 for huge) */
} tide_segment;

/* A big block's record ("huge" segments: mappings and brk spans), kept out
 * of line in a table keyed by the segment's unit (large.c), never in the
 * mapping: the segment header lies just below the block, where an
 * underflow reaches it.  The header's copies of kind, size, in_brk,
 * huge_offset and guard_bytes are written for tools and tests and never
 * read to compute an address or a length or to choose a path.
 * Invariants: state != TIDE_BIG_NONE <=> seg is the segment's address and
 * its head bit is set in the segment map; the map's cont bits cover
 * ceil(size / TIDE_SEGMENT_SIZE) - 1 units after it; offset is a multiple
 * of the OS page, the block lies in [seg + offset, seg + size - guard). */
#define TIDE_BIG_NONE 0
#define TIDE_BIG_LIVE 1   /* handed out */
#define TIDE_BIG_CACHED 2 /* freed, waiting in the huge cache */
typedef struct tide_big {
  uintptr_t seg;  /* the segment's address */
  size_t size;    /* bytes of the mapping or span, page-rounded */
  size_t offset;  /* the block's distance from seg */
  size_t guard;   /* secure: PROT_NONE bytes at the end of the mapping */
  size_t asked;   /* the size last asked for (malloc, or realloc in place) */
  size_t align;   /* the alignment asked for (0: malloc's) */
  /* TIDE_BIG_*; atomic: the store of NONE, after the last read of the
   * record, orders those reads before whatever the next block at the same
   * address (mapped by another thread once the kernel reuses it) writes. */
  _Atomic(uint8_t) state;
  uint8_t in_brk; /* a span of brk units, not a mapping */
  uint8_t dirty;  /* a reused mapping or span, not known to be zero */
} tide_big;

/* The header fields a segment must have before it is used, whoever made it
 * (brk.c for brk units, segment.c for mappings): memory that held an
 * earlier segment, or that valgrind's brk emulation hands out, may hold
 * anything. */
static inline void tide_segment_header_init(tide_segment *seg, uint32_t kind,
                                            uint8_t *commit_end, bool capped) {
  seg->guards = 0;
  seg->in_full_list = 0;
  seg->in_brk = 0;
  seg->guard_bytes = 0;
  seg->kind = kind;
  seg->size = (size_t)1 << TIDE_SEGMENT_SHIFT;
  seg->commit_end = commit_end;
  __atomic_store_n(&seg->capped, capped ? 1 : 0, __ATOMIC_RELAXED);
}

/* Secure mode's guard pages in a segment: the unused tail of the header
 * slice (between the header and the first page), and the last slice (between
 * the segment's pages and whatever follows it, often the next segment's
 * header), which secure mode never hands out. */
#define TIDE_GUARD_HEAD 1
#define TIDE_GUARD_TAIL 2
/* Secure mode: a canary after every block of a size class, checked on free. */
#define TIDE_CANARY_SIZE 8
/* Secure mode: freed blocks wait in a per-thread quarantine before reuse. */
#define TIDE_QUARANTINE_SLOTS 512
#define TIDE_QUARANTINE_BYTES ((size_t)4 << 20)

#define TIDE_SEGMENT_HEADER_SIZE \
  (sizeof(tide_segment) + TIDE_SLICES * sizeof(tide_page))

/* Secure mode's free state, out of line (secure.c): a map in the header
 * slice, after the header and before the head guard, where no block lies
 * and no block's overflow or underflow reaches (the guard stands between
 * them and slice 1).  Two bits per 32-byte granule of the segment, for the
 * block that starts in the granule (secure mode's blocks are at least
 * TIDE_SECURE_MIN_BLOCK bytes, so no two share one), both in one 64-bit
 * word (granule g: word g / 32, bits 2 (g % 32) and up), so that one atomic
 * read-modify-write changes a block's state and tells the state it was in.
 * For a page of a size class or a large page in secure mode the map IS the
 * owner's free state: no owner-side list exists, and malloc follows no link
 * but those of remote frees (page_collect).
 *   LIVE       00  the program's: handed out by malloc; also every granule
 *                  that starts no carved block (a new page's slices are
 *                  cleared: secure_page_reset), and a large page's block.
 *   QUARANTINE 01  freed, waiting in the freeing thread's quarantine.
 *   TRANSIT    11  released by a thread that does not own the page: in its
 *                  remote batch or on the page's thread_free list.
 *   AVAIL      10  the owner may hand it out: carved and never handed out,
 *                  released by the owner, or collected from thread_free.
 * Transitions and who makes them (old state checked in the same RMW):
 *   carve (owner, page_extend)        LIVE -> AVAIL
 *   malloc (owner)                    AVAIL -> LIVE
 *   free (any thread)                 LIVE -> QUARANTINE; any other old
 *                                     state is a double free, whatever the
 *                                     block's bytes say (bit 0 or bit 1 set)
 *   quarantine release, owner         QUARANTINE -> AVAIL
 *   quarantine release, other thread  QUARANTINE -> TRANSIT, before the push
 *   page_collect (owner)              TRANSIT -> AVAIL; a link of thread_free
 *                                     to a block in any other state (or off
 *                                     the grid, or beyond capacity) is
 *                                     reported, not followed
 * Invariants, for a live page in secure mode: every carved block not
 * AVAIL counts in page->used (LIVE, QUARANTINE and TRANSIT blocks are all
 * out: a page with a block in a quarantine or in transit is never freed),
 * so the page's AVAIL blocks number capacity - page_used(page); only the
 * owner makes or ends AVAIL.  Blocks of one word belong to one page but
 * may be freed or released by different threads at once: every change is
 * an atomic read-modify-write. */
#define TIDE_SECURE_GRANULE_SHIFT 5
#define TIDE_SECURE_MIN_BLOCK ((size_t)1 << TIDE_SECURE_GRANULE_SHIFT)
#define TIDE_SECURE_MAP_OFFSET 8192
#define TIDE_SECURE_MAP_BYTES (TIDE_SEGMENT_SIZE >> TIDE_SECURE_GRANULE_SHIFT >> 2)
#define TIDE_SECURE_LIVE 0u
#define TIDE_SECURE_QUARANTINE 1u
#define TIDE_SECURE_TRANSIT 3u
#define TIDE_SECURE_AVAIL 2u
#define TIDE_SECURE_META_END (TIDE_SECURE_MAP_OFFSET + TIDE_SECURE_MAP_BYTES)
_Static_assert(TIDE_SEGMENT_HEADER_SIZE <= TIDE_SECURE_MAP_OFFSET,
               "the secure bitmaps follow the segment header");
_Static_assert(TIDE_SECURE_META_END <= TIDE_SLICE_SIZE, "the secure bitmaps fit the header slice");
#define TIDE_HUGE_HEADER_SIZE (sizeof(tide_segment) + sizeof(tide_page))

/* ---- Thread heaps ---------------------------------------------------------- */
/* Per-thread counters, merged on read: no shared atomic on the fast path.
 * Blocks of a class in use = sum over heaps of bin_malloc - bin_free (a block
 * is counted by the thread that allocates it and the one that frees it).
 * Frees are counted as they happen; a class's mallocs from the heap's
 * current page wait in that page (page->mallocs) until its next slow event,
 * so a heap's bin_malloc is behind by at most one page per class (none once
 * the owner has read its statistics or exited: page_count_flush). */
typedef struct tide_heap_stats {
  uint64_t requested_bytes;                   /* sizes asked for */
  uint64_t bin_malloc[TIDE_BIN_COUNT + 1];    /* [TIDE_BIN_LARGE]: large pages */
  uint64_t bin_free[TIDE_BIN_COUNT + 1];
  uint64_t large_bytes_malloc, large_bytes_free;
  uint64_t huge_malloc, huge_free, huge_bytes_malloc, huge_bytes_free;
  uint64_t realloc_in_place;                  /* reallocs that kept the block */
  int64_t bin_pages[TIDE_BIN_COUNT + 1];      /* pages made - pages freed */
  /* The allocated peak (stats.c, stats_note_alloc): live bytes by this
   * heap's own counters, per bin ([TIDE_BIN_LARGE + 1]: mapped blocks) as
   * of the bin's last slow event, their sum, and the sum when every heap
   * was last counted afresh.  Owner only. */
  int64_t live_bin[TIDE_BIN_COUNT + 2];
  int64_t live_sum, live_counted;
} tide_heap_stats;

/* Invariants:
 *   direct[i] is the first page of the queue for sizes in (16(i-1), 16i], or
 *   the shared empty page; a page is in exactly one of queues[bin] or full;
 *   only the owning thread (or, while pooled, whoever claimed the heap under
 *   the pool lock) touches anything but wake. */
typedef struct tide_heap {
  tide_page *direct[TIDE_DIRECT_COUNT];
  /* Held while the heap's segments' slices or lists change (pages made or
   * given back, purges, the top trimmed): slow paths only.  The owner takes
   * it; so does the background purger (background_purge=1), the only other
   * thread that purges a heap whose owner lives. */
  pthread_mutex_t seg_lock;
  tide_page_queue queues[TIDE_BIN_COUNT + 1]; /* + TIDE_BIN_LARGE */
  tide_page_queue full;
  _Atomic(tide_page *) wake;    /* full pages that got a remote free */
  tide_segment *segments;       /* owned segments that have free slices */
  tide_segment *segments_full;  /* owned segments with no free slice */
  tide_heap_stats stats;
  uint64_t purge_deadline_ns;   /* earliest purge due in this heap, 0: none */
  /* The purge's evidence (slices, decayed by half each time it is judged,
   * at most once a purge delay, at hold_judged_ns): pages given back, and
   * given-back pages taken again.  When much of what was given back comes
   * back soon, the wait grows (purge_hold: 1..HOLD waits); it shrinks again
   * when nothing has come back for a whole hold since it last changed
   * (hold_set_ns). */
  uint32_t purged_recent, refaulted_recent;
  uint32_t purge_hold;
  uint64_t hold_judged_ns, hold_set_ns;
  /* The small-program spare (heap_holds_too_much): what heap_purge_over
   * gave back last time and the refault count then (purged_total and
   * refaulted_total count slices since the heap was made, never decayed),
   * and how many times the budget doubled because what it gave back was
   * taken again (0..TIDE_SPARE_SHIFT_MAX). */
  uint64_t purged_total, refaulted_total;
  uint64_t spare_given, spare_refault_mark, spare_given_ns;
  uint32_t spare_shift;
  uint32_t heartbeat;           /* events until the purge clock is read */
  uint32_t idle_beats;          /* heartbeats with nothing to purge */
  /* Secure mode: a ring of freed blocks (zeroed) not yet given back to their
   * pages, oldest at quarantine_head. */
  tide_block *quarantine[TIDE_QUARANTINE_SLOTS];
  uint32_t quarantine_head, quarantine_count;
  size_t quarantine_bytes;
  bool is_empty_heap;           /* the static sentinel no thread owns */
  /* The heap's mark in the segment map (TIDE_TAG_*): free's fast path
   * compares it with the map's entry for the block's segment. */
  uint16_t fast_tag;
  struct tide_heap *all_next;   /* every heap ever made (never freed) */
  struct tide_heap *pool_next;  /* heaps of exited threads, for reuse */
  uint32_t pool_visit;          /* last turn of heap_pool_visit it had */
} tide_heap;

/* ---- Requests, for the trace ---------------------------------------------- */
typedef enum tide_request {
  TIDE_REQ_INTERNAL = 0,
  TIDE_REQ_MALLOC,
  TIDE_REQ_CALLOC,
  TIDE_REQ_REALLOC,
  TIDE_REQ_ALIGNED_ALLOC,
  TIDE_REQ_POSIX_MEMALIGN,
  TIDE_REQ_MEMALIGN,
  TIDE_REQ_VALLOC,
  TIDE_REQ_PVALLOC,
  TIDE_REQ_FREE,
  TIDE_REQ_TRIM,
  TIDE_REQ_THREAD_EXIT,
  TIDE_REQ_INIT,
  TIDE_REQ_PURGE,
} tide_request;

#endif /* TIDE_TYPES_H */

/* SPDX-License-Identifier: MIT */
/* The segment layer (segment.c): 4 MiB segments of 64 KiB slices, their
 * purging, the segment map that says which units are ours and whose, and
 * the cache of mapped segments.  It stands on the brk layer. */
#ifndef TIDE_SEGMENT_H
#define TIDE_SEGMENT_H

#include "brk.h"

/* ---- Segment map (segment.c) ---------------------------------------------- */
extern tide_hidden _Atomic(uint64_t) tide_segmap_head[TIDE_MAP_BITS / 64];
extern tide_hidden _Atomic(uint64_t) tide_segmap_cont[TIDE_MAP_BITS / 64];
/* The segment map's tags (types.h), one 16-bit word per unit, for free()'s
 * fast path: one load and one compare decide both "a segment of ours" and
 * "owned by the calling thread".  64 MiB of bss, of which only the pages
 * over addresses we use are ever touched. */
extern tide_hidden _Atomic(uint16_t) tide_segmap_fast[TIDE_MAP_BITS];

/* The tag of the unit holding p: TIDE_TAG_NONE beyond the map (with the
 * checks: base.h). */
static inline uint16_t segmap_unit_tag(uintptr_t unit) {
  if (TIDE_CHECKS && tide_unlikely(unit >= TIDE_MAP_BITS)) return TIDE_TAG_NONE;
  return tide_load(&tide_segmap_fast[unit]);
}
static inline uint16_t segmap_fast_tag(const void *p) {
  return segmap_unit_tag((uintptr_t)p >> TIDE_SEGMENT_SHIFT);
}

static inline bool segmap_test(_Atomic(uint64_t) *map, uintptr_t addr) {
  uintptr_t unit = addr >> TIDE_SEGMENT_SHIFT;
  if (tide_unlikely(unit >= TIDE_MAP_BITS)) return false;
  return (tide_load(&map[unit / 64]) >> (unit % 64)) & 1;
}

/* ---- A pointer's segment, and the page its slice belongs to -------------- */
static inline tide_segment *segment_of(const void *p) {
  return (tide_segment *)((uintptr_t)p & ~(uintptr_t)TIDE_SEGMENT_MASK);
}
/* The segment of the unit the map was just read at: the unit shifted back,
 * one instruction where segment_of takes a copy and a mask.  The empty asm
 * keeps the compiler from folding the two shifts back into that mask. */
static inline tide_segment *segment_of_unit(uintptr_t unit) {
  __asm__("" : "+r"(unit));
  return (tide_segment *)(unit << TIDE_SEGMENT_SHIFT);
}

/* The page holding p, for a segment that is not huge: one load from the
 * segment's slice table, which holds the descriptor's offset. */
static inline uint32_t segment_page_offset(unsigned slice) {
  return (uint32_t)(offsetof(tide_segment, pages) + slice * sizeof(tide_page));
}

static inline tide_page *page_lookup(tide_segment *seg, const void *p) {
  uintptr_t slice = ((uintptr_t)p >> TIDE_SLICE_SHIFT) & (TIDE_SLICES - 1);
  return (tide_page *)((uint8_t *)seg + seg->slice_page[slice]);
}

/* free's fast path: the descriptor of p's own slice, without the table's
 * load.  Every block starts in its page's first slice (types.h); the
 * descriptors of other slices are all zero, so a pointer into one (an
 * interior pointer of a block of several slices) fails the grid test. */
static inline tide_page *page_of_slice(tide_segment *seg, const void *p) {
  /* slice * 64 in one shift and mask: the descriptor is one add away. */
  uintptr_t at = ((uintptr_t)p >> (TIDE_SLICE_SHIFT - 6)) & ((uintptr_t)(TIDE_SLICES - 1) << 6);
  return (tide_page *)((uint8_t *)seg + offsetof(tide_segment, pages) + at);
}

/* ---- Segments (segment.c) ------------------------------------------------- */
tide_hidden tide_page *segment_span_alloc(tide_heap *heap, unsigned slices);
tide_hidden void segment_span_free(tide_heap *heap, tide_page *page);
/* Slices of seg that pages hold (the owner's view). */
tide_hidden unsigned segment_used_slices(const tide_segment *seg);
tide_hidden uint64_t segment_purge(tide_segment *seg, uint64_t now_ns, bool force, unsigned hold);
tide_hidden void segment_trim_tails(tide_segment *seg);
tide_hidden void segment_map_set(tide_segment *seg, bool live);
tide_hidden void segment_set_owner(tide_segment *seg, tide_heap *heap);
tide_hidden void segment_map_range(uintptr_t addr, size_t size, bool live);
tide_hidden tide_segment *segment_find(const void *p);
tide_hidden void segment_release(tide_segment *seg);
tide_hidden size_t segment_cache_trim(void);
tide_hidden void segment_cache_purge(uint64_t now_ns, bool force);
tide_hidden void segment_fork_prepare(void);
tide_hidden void segment_fork_parent(void);
tide_hidden void segment_fork_child(void);
tide_hidden uint64_t segment_count(void);
tide_hidden uint64_t segment_resident(uintptr_t heap_start, uintptr_t heap_break);

#endif /* TIDE_SEGMENT_H */

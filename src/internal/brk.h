/* SPDX-License-Identifier: MIT */
/* The brk layer (brk.c): the data segment cut into 4 MiB units, for
 * segments and for big blocks, with a pool of free units.  Below it only
 * the OS layer. */
#ifndef TIDE_BRK_H
#define TIDE_BRK_H

#include "os.h"

typedef struct tide_brk_info {
  uintptr_t start, brk, peak;
  uint64_t segments;   /* live segments in the brk heap */
  uint64_t spans;      /* live big blocks in the brk heap */
  uint64_t free_bytes; /* units in the pool */
} tide_brk_info;

/* Segments: a unit from the pool (lowest first) or, if grow, a new one at
 * the top with first_commit bytes below the break; NULL if brk cannot
 * give one.  Only the brk fields of the header are set; *dirty says
 * whether the unit may hold old data (else it reads as zero). */
tide_hidden tide_segment *brk_segment_new(size_t first_commit, bool grow, bool *dirty);
/* An empty brk segment, already out of the segment map, to the pool. */
tide_hidden void brk_segment_free(tide_segment *seg);
/* The top segment: grow its committed part, or lower the break inside it. */
tide_hidden bool brk_extend(tide_segment *seg, uint8_t *need_end);
tide_hidden size_t brk_trim_top(tide_segment *seg, bool force);
/* seg is the top and a free unit lies below: it makes no new page. */
tide_hidden bool brk_top_drains(const tide_segment *seg);

/* Big blocks: `units` contiguous whole units below the break (*dirty: some
 * may hold old data), given back whole, grown in place, or cut at the end
 * (brk_units_give of the units past the new end). */
tide_hidden uintptr_t brk_span_take(uint32_t units, bool *dirty);
tide_hidden void brk_span_give(uintptr_t addr, uint32_t units);
tide_hidden bool brk_span_grow(uintptr_t addr, uint32_t old_units, uint32_t new_units);
tide_hidden void brk_units_give(uintptr_t addr, uint32_t count, bool resident);

/* The pool goes back on the purge clock (init_note_purge): free units at
 * the top by lowering the break, the others by madvise, each after at
 * least purge_delay_ms; all at once if force. */
tide_hidden void brk_pool_purge(uint64_t now_ns, bool force);
tide_hidden void brk_info(tide_brk_info *out);
tide_hidden void brk_fork_prepare(void);
tide_hidden void brk_fork_parent(void);
tide_hidden void brk_fork_child(void);

#endif /* TIDE_BRK_H */

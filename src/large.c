/* SPDX-License-Identifier: MIT */
/* Huge blocks: a request at or above the mmap threshold gets a mapping of
 * its own, as the seed text describes, so that freeing it gives the memory
 * straight back with munmap and it never pins the brk heap.  The mapping is
 * a segment (4 MiB aligned, header in its first OS page) so free() finds it
 * like any other block; realloc resizes it with mremap.  A block too big
 * for a segment but below the threshold is a span of the brk heap instead,
 * with the same header (huge_alloc_span). */
#define _GNU_SOURCE
#include "internal/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static _Atomic(uint64_t) huge_count;

/* ---- Records, out of line ----------------------------------------------------- */
/* Every big block's size, offset and kind (tide_big, types.h) live here, in
 * bss or in mappings of their own, not in the block's header: a write below
 * a block (an underflow) reaches the header, not this.  One leaf of records per
 * 1024 units (4 GiB of address space), made when the first big block
 * there is and kept for good: the first few in bss (a process's big blocks
 * lie in one or two such regions: the brk heap, the mappings), then mapped.
 * The top table is in bss. */
#define BIG_LEAF_SHIFT 10
#define BIG_LEAF_UNITS ((size_t)1 << BIG_LEAF_SHIFT)
#define BIG_STATIC_LEAVES 4
static _Atomic(tide_big *) big_table[TIDE_MAP_BITS >> BIG_LEAF_SHIFT];
static tide_big big_static[BIG_STATIC_LEAVES][BIG_LEAF_UNITS];
static _Atomic(unsigned) big_static_used;

static tide_big *big_leaf_new(void) {
  unsigned i = atomic_fetch_add(&big_static_used, 1);
  if (i < BIG_STATIC_LEAVES) return big_static[i];
  size_t bytes = tide_align_up(BIG_LEAF_UNITS * sizeof(tide_big), tide_os_page);
  tide_big *fresh = os_mmap(NULL, bytes);
  if (fresh != NULL) os_name(fresh, bytes, "tidemalloc big-block records");
  return fresh;
}

/* The record slot of the unit at addr (its leaf made if make); NULL if
 * there is none, or it cannot be made. */
static tide_big *big_slot(uintptr_t addr, bool make) {
  uintptr_t unit = addr >> TIDE_SEGMENT_SHIFT;
  if (unit >= TIDE_MAP_BITS) return NULL;
  _Atomic(tide_big *) *top = &big_table[unit >> BIG_LEAF_SHIFT];
  tide_big *leaf = atomic_load_explicit(top, memory_order_acquire);
  if (leaf == NULL && make) {
    tide_big *fresh = big_leaf_new();
    if (fresh == NULL) return NULL;
    if (atomic_compare_exchange_strong(top, &leaf, fresh))
      leaf = fresh;
    else if ((uintptr_t)fresh - (uintptr_t)big_static >= sizeof(big_static))
      os_munmap(fresh, tide_align_up(BIG_LEAF_UNITS * sizeof(tide_big), tide_os_page));
    /* (another thread made it first; a static leaf lost so stays unused) */
  }
  return leaf != NULL ? &leaf[unit & (BIG_LEAF_UNITS - 1)] : NULL;
}

/* The record of a big block (live or cached) whose segment starts at seg,
 * or NULL: seg is then no big block's, whatever its header says. */
tide_big *huge_find(const void *seg) {
  /* big_slot without making a leaf, inline: every checked free asks. */
  uintptr_t unit = (uintptr_t)seg >> TIDE_SEGMENT_SHIFT;
  if (unit >= TIDE_MAP_BITS) return NULL;
  tide_big *leaf = atomic_load_explicit(&big_table[unit >> BIG_LEAF_SHIFT], memory_order_acquire);
  tide_big *b = leaf != NULL ? &leaf[unit & (BIG_LEAF_UNITS - 1)] : NULL;
  if (b == NULL || b->state == TIDE_BIG_NONE || b->seg != (uintptr_t)seg) return NULL;
  return b;
}

/* A record made anew for a block at seg (not yet live): the acquire load
 * pairs with the store that ended the slot's last use (huge_unmap). */
static void big_fill(tide_big *b, uintptr_t seg, size_t size, size_t offset, size_t asked,
                     size_t align, uint8_t in_brk, uint8_t dirty) {
  (void)atomic_load_explicit(&b->state, memory_order_acquire);
  b->seg = seg;
  b->size = size;
  b->offset = offset;
  b->guard = 0;
  b->asked = asked;
  b->align = align;
  b->in_brk = in_brk;
  b->dirty = dirty;
}

/* The block's address, from the record. */
void *huge_block(const tide_big *b) { return (uint8_t *)b->seg + b->offset; }

/* Blocks too big for a segment but below the (raised) mmap threshold are
 * ones glibc would serve from its heap.  Their mappings are kept a while
 * after free, like free pages, and reused: a program that keeps making and
 * dropping 8 MiB buffers must not fault in fresh pages every time.  Blocks
 * at or above the threshold always go straight back with munmap.  Sizes
 * are the records': a cached mapping's header is not read. */
#define HUGE_CACHE_SLOTS 8
#define HUGE_CACHE_BYTES ((size_t)64 << 20)
static struct {
  tide_lock lock;
  tide_big *slot[HUGE_CACHE_SLOTS];
  uint64_t freed_ns[HUGE_CACHE_SLOTS];
  size_t bytes;
  const tide_big *last; /* put last: secure mode does not hand it out next */
} huge_cache = {.lock = TIDE_LOCK_INIT};

/* A cached mapping of at least map_size bytes (at most a quarter more, or
 * any size in secure mode, whose reuse gives back the rest: see
 * huge_reuse_guarded), or NULL.  Secure mode passes over the mapping freed
 * last: a freed block does not come back at the next malloc that fits.  Its
 * record stays TIDE_BIG_CACHED: the caller makes it live. */
static tide_big *huge_cache_take(size_t map_size) {
  tide_big *best = NULL;
  tide_lock_take(&huge_cache.lock);
  int pick = -1;
  for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
    tide_big *s = huge_cache.slot[i];
    if (s && s->size >= map_size && (tide_opt.secure || s->size - map_size <= map_size / 4) &&
        !(tide_opt.secure && s == huge_cache.last) &&
        (pick < 0 || s->size < huge_cache.slot[pick]->size))
      pick = i;
  }
  if (pick >= 0) {
    best = huge_cache.slot[pick];
    huge_cache.slot[pick] = NULL;
    huge_cache.bytes -= best->size;
  }
  tide_lock_give(&huge_cache.lock);
  return best;
}

static bool huge_cache_put(tide_big *b) {
  bool kept = false;
  tide_lock_take(&huge_cache.lock);
  for (int i = 0; i < HUGE_CACHE_SLOTS && !kept; i++) {
    if (huge_cache.slot[i] == NULL && huge_cache.bytes + b->size <= HUGE_CACHE_BYTES) {
      b->state = TIDE_BIG_CACHED;
      huge_cache.slot[i] = b;
      huge_cache.freed_ns[i] = init_clock_ns();
      huge_cache.bytes += b->size;
      huge_cache.last = b;
      kept = true;
    }
  }
  tide_lock_give(&huge_cache.lock);
  if (kept) init_note_purge(init_clock_ns() + (uint64_t)tide_opt.purge_delay_ms * 1000000u);
  return kept;
}

/* The mapping of a big block that is gone: out of the map, its record
 * cleared, unmapped. */
static void huge_unmap(tide_big *b) {
  tide_segment *seg = (tide_segment *)b->seg;
  size_t size = b->size;
  segment_map_range((uintptr_t)seg, size, false);
  b->state = TIDE_BIG_NONE;
  os_munmap(seg, size);
}

/* Unmap cached mappings freed more than purge_delay_ms ago (all if force). */
void huge_cache_expire(uint64_t now_ns, bool force) {
  tide_big *gone[HUGE_CACHE_SLOTS];
  int n = 0;
  uint64_t delay = (uint64_t)(tide_opt.purge_delay_ms < 0 ? 0 : tide_opt.purge_delay_ms) * 1000000u;
  tide_lock_take(&huge_cache.lock);
  for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
    tide_big *s = huge_cache.slot[i];
    if (s == NULL) continue;
    if (force || now_ns >= huge_cache.freed_ns[i] + delay) {
      gone[n++] = s;
      huge_cache.slot[i] = NULL;
      huge_cache.bytes -= s->size;
    } else {
      init_note_purge(huge_cache.freed_ns[i] + delay);
    }
  }
  tide_lock_give(&huge_cache.lock);
  for (int i = 0; i < n; i++) huge_unmap(gone[i]);
}

void huge_fork_prepare(void) { tide_lock_take(&huge_cache.lock); }
void huge_fork_parent(void) { tide_lock_give(&huge_cache.lock); }
void huge_fork_child(void) { tide_lock_reset(&huge_cache.lock); }

uint64_t huge_live(void) { return tide_load(&huge_count); }

/* Offset of the block from the segment start: past the header (and, in
 * secure mode, past a guard page below the block), aligned. */
static size_t huge_offset(size_t alignment) {
  size_t header = tide_align_up(TIDE_HUGE_HEADER_SIZE, tide_os_page);
  if (tide_opt.secure) header += tide_os_page;
  return tide_align_up(header, alignment > tide_os_page ? alignment : tide_os_page);
}

/* The header, for tools and tests: nothing here is read back to free,
 * resize or measure the block (the record is). */
static void huge_init(tide_segment *seg, const tide_big *b) {
  seg->heap = NULL; /* segment_map_set leaves huge segments' tag SLOW */
  seg->in_brk = b->in_brk;
  for (unsigned i = 0; i < TIDE_SLICES; i++) seg->slice_page[i] = segment_page_offset(0);
  seg->kind = TIDE_SEG_HUGE;
  seg->size = b->size;
  seg->commit_end = (uint8_t *)seg + b->size;
  seg->free_slices = 0;
  seg->guard_bytes = b->guard;
  tide_page *page = &seg->pages[0];
  memset(page, 0, sizeof(*page));
  seg->huge_offset = b->offset;
  page->capacity = page->used = 1;
  page->bin = TIDE_BIN_LARGE;
  if (b->dirty) page->flags = TIDE_PAGE_DIRTY;
}

/* A cached mapping made live again, for a block at offset. */
static void *huge_reuse(tide_big *b, size_t offset, size_t asked, size_t alignment) {
  b->offset = offset;
  b->asked = asked;
  b->align = alignment;
  b->dirty = 1; /* its pages are resident already, with old data */
  b->state = TIDE_BIG_LIVE;
  huge_init((tide_segment *)b->seg, b);
  tide_add(&huge_count, 1);
  return huge_block(b);
}

/* A block below the threshold from a cached mapping, if one fits: it is
 * resident already, where a brk span would grow the heap while the cache
 * holds its memory until the purge (malloc-large: 54 MiB of mappings,
 * freed after the threshold rose past them, waited out the whole run). */
void *huge_alloc_cached(size_t size) {
  if (tide_opt.secure) return NULL; /* its blocks need a guard page after them */
  size_t offset = huge_offset(0);
  size_t map_size = tide_align_up(offset + size, tide_os_page);
  if (size > PTRDIFF_MAX || map_size < size) return NULL;
  tide_big *b = huge_cache_take(map_size);
  return b != NULL ? huge_reuse(b, offset, size, 0) : NULL;
}

/* Secure mode keeps freed mappings too (bench large: every block was a
 * fresh mapping, each of its pages faulted in, 8 times the faults of the
 * default mode): a cached one is PROT_NONE from its block on, so a dangling
 * pointer faults as it would on an unmapped block, and the old data cannot
 * be read.  Only plain ones ([header | guard | block | guard] at the offset
 * of alignment 0) are kept; see huge_free. */
static bool huge_secure_cacheable(const tide_big *b) {
  return tide_opt.secure && !tide_valgrind && b->guard == tide_os_page &&
         b->offset == huge_offset(0);
}

/* A cached secure mapping made a block of map_size (guard included) again:
 * the block's pages usable (zeroed: what the last owner left there is not
 * the next one's to read), the page after it the guard, what lies beyond
 * given back.  NULL if a call fails: the mapping is unmapped. */
static void *huge_reuse_guarded(tide_big *b, size_t asked, size_t alignment, size_t map_size) {
  uint8_t *seg = (uint8_t *)b->seg;
  size_t offset = b->offset, guard = b->guard, old_size = b->size;
  if (!os_unprotect(seg + offset, map_size - guard - offset)) {
    huge_unmap(b);
    return NULL;
  }
  if (old_size > map_size) {
    segment_map_range((uintptr_t)seg, old_size, false);
    os_munmap(seg + map_size, old_size - map_size);
    b->size = map_size;
    segment_map_range((uintptr_t)seg, map_size, true);
  }
  memset(seg + offset, 0, map_size - guard - offset);
  void *p = huge_reuse(b, offset, asked, alignment);
  b->dirty = 0;
  return p;
}

void *huge_alloc(size_t size, size_t alignment) {
  size_t asked = size;
  if (size == 0) size = 1; /* the block must lie inside its mapping */
  size_t offset = huge_offset(alignment);
  size_t guard = tide_opt.secure ? tide_os_page : 0; /* PROT_NONE after the block */
  size_t map_size = tide_align_up(offset + size, tide_os_page) + guard;
  if (size > PTRDIFF_MAX || map_size < size) {
    errno = ENOMEM;
    return NULL;
  }
  size_t map_align = alignment > TIDE_SEGMENT_SIZE ? alignment : TIDE_SEGMENT_SIZE;
  bool secure_reuse = guard != 0 && tide_opt.secure && !tide_valgrind && offset == huge_offset(0);
  tide_big *b = map_align == TIDE_SEGMENT_SIZE && (guard == 0 || secure_reuse)
                    ? huge_cache_take(map_size)
                    : NULL;
  if (b != NULL && guard != 0) {
    void *p = huge_reuse_guarded(b, asked, alignment, map_size);
    if (p != NULL) return p;
    b = NULL;
  }
  if (b != NULL) return huge_reuse(b, offset, asked, alignment); /* the map bits stayed set */
  tide_segment *seg = os_mmap_aligned(map_size, map_align);
  if (seg == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  b = big_slot((uintptr_t)seg, true);
  if (b == NULL) {
    os_munmap(seg, map_size);
    errno = ENOMEM;
    return NULL;
  }
  big_fill(b, (uintptr_t)seg, map_size, offset, asked, alignment, 0, 0);
  os_name(seg, map_size, "tidemalloc huge block");
  if (guard != 0 && os_protect((uint8_t *)seg + map_size - guard, guard)) b->guard = guard;
  /* Secure mode: the page below the block is a guard too, so an underflow
   * faults before it reaches the header (which nothing trusts anyway). */
  if (tide_opt.secure) os_protect((uint8_t *)seg + offset - tide_os_page, tide_os_page);
  huge_init(seg, b);
  b->state = TIDE_BIG_LIVE;
  segment_map_range((uintptr_t)seg, map_size, true);
  tide_add(&huge_count, 1);
  return huge_block(b);
}

/* ---- Big blocks in the brk heap ---------------------------------------------- */
static uint32_t span_units(size_t bytes) {
  return (uint32_t)(tide_align_up(bytes, TIDE_SEGMENT_SIZE) >> TIDE_SEGMENT_SHIFT);
}

/* The part of a span's last unit past its block, after realloc made the
 * block smaller: the program gave those pages up, so they go back (if it is
 * worth a call). */
#define SPAN_TAIL_PURGE_MIN ((size_t)64 << 10)
static void span_purge_tail(const tide_big *b) {
  uintptr_t from = tide_align_up(b->seg + b->size, tide_os_page);
  uintptr_t to = b->seg + ((size_t)span_units(b->size) << TIDE_SEGMENT_SHIFT);
  if (to > from && to - from >= SPAN_TAIL_PURGE_MIN) os_purge((void *)from, to - from);
}

/* A block too big for a segment, below the mmap threshold: as glibc would,
 * serve it from the heap, here as a span of whole brk units (reused units
 * first, so its pages are often resident already).  NULL if brk cannot. */
void *huge_alloc_span(size_t size) {
  size_t offset = huge_offset(0);
  size_t span_size = tide_align_up(offset + size, tide_os_page);
  if (size > PTRDIFF_MAX || span_size < size) return NULL;
  bool dirty;
  uint32_t units = span_units(span_size);
  uintptr_t at = brk_span_take(units, &dirty);
  if (at == 0) return NULL;
  tide_big *b = big_slot(at, true);
  if (b == NULL) {
    brk_span_give(at, units);
    return NULL;
  }
  /* The last unit's tail past the block may hold an earlier block's
   * pages: left as it is, the next span to take this unit reuses them
   * without a fault (giving them back here cost malloc-large three times
   * the faults for a tenth less peak RSS). */
  big_fill(b, at, span_size, offset, size, 0, 1, dirty);
  tide_segment *seg = (tide_segment *)at;
  seg->guards = 0;
  seg->in_full_list = 0;
  seg->capped = 0;
  huge_init(seg, b);
  b->state = TIDE_BIG_LIVE;
  segment_map_range(at, span_size, true);
  return huge_block(b);
}

/* Resize a span in place: whole units come off its end or are added from
 * free units above it (or by moving the break, at the top).  NULL if it
 * cannot, or if the block would now fit a segment: the caller moves it. */
static void *huge_realloc_span(tide_big *b, void *p, size_t size) {
  size_t new_size = tide_align_up(b->offset + size, tide_os_page);
  if (new_size < size || size <= TIDE_LARGE_MAX) return NULL;
  uint32_t old_units = span_units(b->size), new_units = span_units(new_size);
  if (new_units > old_units && !brk_span_grow(b->seg, old_units, new_units))
    return NULL;
  segment_map_range(b->seg, b->size, false);
  b->size = new_size;
  b->asked = size;
  huge_init((tide_segment *)b->seg, b);
  segment_map_range(b->seg, new_size, true);
  if (new_units < old_units)
    brk_units_give(b->seg + ((size_t)new_units << TIDE_SEGMENT_SHIFT),
                   old_units - new_units, true);
  if (new_units <= old_units) span_purge_tail(b); /* what the block gave up */
  return p;
}

/* glibc's dynamic threshold: freeing a mapped block bigger than the
 * threshold raises it, so a program that repeatedly allocates blocks of
 * that size gets them from the heap instead of a fresh mapping each time. */
static void huge_adjust_threshold(size_t block) {
  if (tide_opt_read(mmap_threshold_fixed)) return;
  if (block > tide_opt_read(mmap_threshold) && block <= TIDE_MMAP_THRESHOLD_MAX) {
    tide_opt_write(mmap_threshold, block);
    tide_opt_write(trim_threshold, 2 * block);
  }
}

void huge_free(tide_big *b, void *p, const char *func) {
  if (p != huge_block(b)) tide_fatal(func, "invalid pointer", p);
  if (b->state != TIDE_BIG_LIVE) tide_fatal(func, "double free", p);
  if (b->in_brk) {
    size_t size = b->size;
    segment_map_range(b->seg, size, false);
    b->state = TIDE_BIG_NONE;
    brk_span_give(b->seg, span_units(size));
    return;
  }
  size_t block = b->size - b->offset;
  bool below_threshold = block < tide_opt_read(mmap_threshold);
  /* The mapping's size, header and rounding included (glibc's chunk size):
   * a request of the same size is then below the threshold. */
  huge_adjust_threshold(b->size);
  atomic_fetch_sub(&huge_count, 1);
  if (below_threshold && tide_opt.purge_delay_ms != 0) {
    if (!tide_slow_only() && huge_cache_put(b)) return;
    if (huge_secure_cacheable(b) &&
        os_protect((uint8_t *)b->seg + b->offset, b->size - b->guard - b->offset) &&
        huge_cache_put(b))
      return;
  }
  huge_unmap(b);
}

/* free_sized's check: 0 if size needs the pages the size last asked for
 * needed (the mapping's extent is page-rounded), -1 if fewer, 1 if more (a
 * cached mapping may be a quarter bigger than the size asked for needs). */
int huge_sized_fit(const tide_big *b, size_t size) {
  size_t want = tide_align_up(b->offset + (b->asked ? b->asked : 1), tide_os_page);
  size_t have = tide_align_up(b->offset + (size ? size : 1), tide_os_page);
  return have < want ? -1 : have > want;
}

/* free_aligned_sized's: the alignment is the one the block was asked with
 * (all of malloc's, up to TIDE_ALIGN, count as one). */
bool huge_aligned_as(const tide_big *b, size_t alignment) {
  size_t known = b->align > TIDE_ALIGN ? b->align : 0;
  return known == (alignment > TIDE_ALIGN ? alignment : 0);
}

size_t huge_usable(const tide_big *b, const void *p) {
  return (size_t)((uint8_t *)b->seg + b->size - b->guard - (const uint8_t *)p);
}

/* Secure mode's mapping, [header | guard | block | guard]: realloc moves
 * the end guard instead of copying the block into a new mapping (bench
 * large: every grow copied and faulted in up to 16 MiB).  Growing maps the
 * pages just above (os_mmap_aligned leaves room there) and makes the old
 * guard part of the block (never written, so zeros); shrinking guards the
 * new end and unmaps what lies past it.  NULL, with the block as it was,
 * if the pages above are taken or a call fails: the caller copies. */
static void *huge_realloc_guarded(tide_big *b, void *p, size_t size) {
  uint8_t *seg = (uint8_t *)b->seg;
  size_t guard = b->guard, old_size = b->size;
  size_t new_size = tide_align_up(b->offset + size, tide_os_page) + guard;
  if (new_size < size) return NULL;
  if (new_size == old_size) {
    b->asked = size;
    return p;
  }
  if (new_size < old_size) {
    if (!os_protect(seg + new_size - guard, guard)) return NULL;
    segment_map_range((uintptr_t)seg, old_size, false);
    os_munmap(seg + new_size, old_size - new_size);
  } else {
    uint8_t *above = seg + old_size;
    uint8_t *got = os_mmap(above, new_size - old_size);
    if (got == NULL) return NULL;
    if (got != above || !os_protect(seg + new_size - guard, guard)) {
      os_munmap(got, new_size - old_size);
      return NULL;
    }
    if (!os_unprotect(seg + old_size - guard, guard)) {
      os_munmap(got, new_size - old_size); /* the old guard is still in place */
      return NULL;
    }
    segment_map_range((uintptr_t)seg, old_size, false);
    os_name(got, new_size - old_size, "tidemalloc huge block");
  }
  b->size = new_size;
  b->asked = size;
  huge_init((tide_segment *)seg, b);
  segment_map_range((uintptr_t)seg, new_size, true);
  return p;
}

/* Resize in place if the kernel can; else move the pages (no copy) into a
 * fresh aligned reservation.  NULL with errno = ENOMEM if neither works; the
 * block is then untouched.  p is the block of b (alloc_lookup checked). */
void *huge_realloc(tide_big *b, void *p, size_t size) {
  /* Valgrind: the block moves as a new one.  The caller copies. */
  if (tide_valgrind) return NULL;
  if (b->guard != 0) return huge_realloc_guarded(b, p, size);
  if (b->in_brk) return huge_realloc_span(b, p, size);
  tide_segment *seg = (tide_segment *)b->seg;
  size_t offset = b->offset;
  size_t new_size = tide_align_up(offset + size, tide_os_page);
  if (new_size < size) {
    errno = ENOMEM;
    return NULL;
  }
  if (new_size == b->size) {
    b->asked = size;
    return p;
  }
  size_t old_size = b->size;
  /* Growing into a cached mapping copies, but into pages already resident:
   * cheaper than faulting in fresh ones (a fault costs more than copying a
   * page). */
  if (new_size > old_size && offset == huge_offset(0)) {
    tide_big *reuse = huge_cache_take(new_size);
    if (reuse != NULL) {
      void *q = huge_reuse(reuse, offset, size, b->align);
      memcpy(q, p, old_size - offset);
      huge_free(b, p, "realloc");
      return q;
    }
  }
  /* In place first: shrinking always works, and huge mappings are placed
   * with room above them to grow (os_mmap_aligned). */
  if (os_mremap(seg, old_size, new_size, 0, NULL) != NULL) {
    segment_map_range((uintptr_t)seg, old_size, false);
    b->size = new_size;
    b->asked = size;
    huge_init(seg, b);
    segment_map_range((uintptr_t)seg, new_size, true);
    return p;
  }
  size_t align = offset > TIDE_SEGMENT_SIZE ? offset : TIDE_SEGMENT_SIZE;
  uint8_t *dest = os_mmap_aligned(new_size, align);
  if (dest == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  tide_big *moved_to = big_slot((uintptr_t)dest, true);
  size_t asked_align = b->align;
  uint8_t dirty = b->dirty;
  /* The old range is forgotten before the move: once the kernel has it
   * back, another thread's mapping may start there, with a record and map
   * bits of its own that must not be cleared after they are made. */
  segment_map_range((uintptr_t)seg, old_size, false);
  b->state = TIDE_BIG_NONE;
  void *moved = moved_to == NULL ? NULL
                                 : os_mremap(seg, old_size, new_size,
                                             MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  if (moved == NULL) {
    b->state = TIDE_BIG_LIVE; /* still ours: nobody else can map there */
    segment_map_range((uintptr_t)seg, old_size, true);
    os_munmap(dest, new_size);
    errno = ENOMEM;
    return NULL;
  }
  /* The reservation's pages were replaced, not given back: undo its count. */
  atomic_fetch_sub(&tide_os_stats.mapped, new_size);
  big_fill(moved_to, (uintptr_t)dest, new_size, offset, size, asked_align, 0, dirty);
  moved_to->state = TIDE_BIG_LIVE;
  huge_init((tide_segment *)dest, moved_to);
  segment_map_range((uintptr_t)dest, new_size, true);
  os_name(dest, new_size, "tidemalloc huge block");
  return huge_block(moved_to);
}

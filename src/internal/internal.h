/* Internal interface: checks, shared state, the hot inline helpers, and the
 * prototypes of every layer grouped by the file that defines them.
 * Layers only call downwards: api (alloc.c, free.c) -> heap -> page ->
 * segment -> brk/os; options, stats, trace and fmt stand beside them. */
#ifndef TIDE_INTERNAL_H
#define TIDE_INTERNAL_H

#include "types.h"
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#define tide_hidden __attribute__((visibility("hidden")))
#define tide_likely(x) __builtin_expect(!!(x), 1)
#define tide_unlikely(x) __builtin_expect(!!(x), 0)
#define tide_noinline __attribute__((noinline))

/* ---- Checks ------------------------------------------------------------ */
/* tide_assert: invariants of our own code; on in the debug/test build
 * (TIDE_DEBUG=1), compiled away in release.  Safety checks on user input are
 * not asserts: they call tide_fatal and stay on in every build. */
#ifndef TIDE_DEBUG
#define TIDE_DEBUG 0
#endif
/* TIDE_CHECKS=0 exists only to measure what the default build's detection
 * costs (`make bench-checks`): it drops the checks on freed pointers and on
 * free lists (interior pointers, double frees, encoded and range-checked
 * links).  Such a library is never installed or tested.  The segment-map
 * test stays: it is how free() tells our blocks, huge ones included, from
 * NULL, not only a check. */
#ifndef TIDE_CHECKS
#define TIDE_CHECKS 1
#endif
/* `make SECURE=1` builds a library whose hardened mode is on by default. */
#ifndef TIDE_SECURE_DEFAULT
#define TIDE_SECURE_DEFAULT 0
#endif
#if TIDE_DEBUG
#define tide_assert(cond) \
  ((cond) ? (void)0 : tide_assert_fail(#cond, __FILE__, __LINE__))
#else
#define tide_assert(cond) ((void)0)
#endif
tide_hidden _Noreturn void tide_assert_fail(const char *what, const char *file,
                                            int line);
/* One line "tidemalloc: FUNC(): WHAT 0xADDR" on stderr, then abort(). */
tide_hidden _Noreturn __attribute__((cold)) void tide_fatal(const char *func, const char *what,
                                      const void *addr);

/* ---- Valgrind -------------------------------------------------------------- */
/* Under valgrind (memcheck with --soname-synonyms=somalloc=NONE keeps
 * tidemalloc in charge) every call takes the slow paths, which tell memcheck
 * which bytes are a live block, so it can report the program's errors in
 * them.  Natively the requests are a few no-op instructions, on slow paths
 * only.  Without valgrind's headers at build time they compile to nothing. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define TIDE_HAVE_VALGRIND 1
#endif
#endif
#ifndef TIDE_HAVE_VALGRIND
#define TIDE_HAVE_VALGRIND 0
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MALLOCLIKE_BLOCK(p, size, rz, zeroed) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(p, rz) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(p, old, new, rz) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)0)
#endif
extern tide_hidden bool tide_valgrind; /* running under valgrind */
/* Secure mode and valgrind both want every call on the checked slow path. */
#define tide_slow_only() (tide_opt.secure || tide_valgrind)

/* ---- Relaxed atomics, for counters and flags read by other threads ------ */
#define tide_load(p) atomic_load_explicit((p), memory_order_relaxed)
#define tide_store(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define tide_add(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)

/* ---- Small arithmetic ---------------------------------------------------- */
static inline uintptr_t tide_align_up(uintptr_t x, uintptr_t a) {
  return (x + a - 1) & ~(a - 1);
}
static inline uintptr_t tide_align_down(uintptr_t x, uintptr_t a) {
  return x & ~(a - 1);
}
static inline bool tide_is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* ---- Locks: a mutex that never allocates and survives fork ------------- */
typedef struct tide_lock {
  pthread_mutex_t m;
} tide_lock;
#define TIDE_LOCK_INIT {PTHREAD_MUTEX_INITIALIZER}
static inline void tide_lock_take(tide_lock *l) { pthread_mutex_lock(&l->m); }
static inline void tide_lock_give(tide_lock *l) { pthread_mutex_unlock(&l->m); }
static inline void tide_lock_reset(tide_lock *l) {
  pthread_mutex_init(&l->m, NULL);
}

/* ---- Options (options.c) ------------------------------------------------ */
typedef struct tide_options {
  size_t mmap_threshold;
  bool mmap_threshold_fixed; /* set by the user: the dynamic rule stops */
  size_t trim_threshold;
  size_t top_pad;
  long mmap_max;
  long purge_delay_ms; /* -1: never purge on a timer */
  int stats;           /* 0 off, 1 text, 2 json */
  int verbose;
  int use_brk;
  int secure;          /* hardened mode: guards, canaries, quarantine... */
  long fault_brk;      /* test hook: brk call number N and later fail */
  long fault_at;       /* test hook: the Nth brk/mmap/mremap/madvise fails */
  int fault_kind;      /* 0: any of those; else a tide_os_op + 1 to count */
  char stats_file[256];
  char trace[256];
} tide_options;
extern tide_hidden tide_options tide_opt;
/* The options that change while threads run (the dynamic mmap threshold,
 * mallopt) are read and written through these. */
#define tide_opt_read(field) __atomic_load_n(&tide_opt.field, __ATOMIC_RELAXED)
#define tide_opt_write(field, v) __atomic_store_n(&tide_opt.field, (v), __ATOMIC_RELAXED)
tide_hidden void options_init(void);
tide_hidden int options_mallopt(int param, int value);

/* ---- Secrets and process state (init.c) ------------------------------------ */
extern tide_hidden uintptr_t tide_list_secret; /* free-list encoding */
extern tide_hidden uintptr_t tide_freed_key;   /* marks a freed block */
extern tide_hidden uintptr_t tide_canary_secret; /* secure: block canaries */
extern tide_hidden size_t tide_os_page;        /* OS page size */
extern tide_hidden _Atomic(int) tide_init_state; /* 0 no, 1 running, 2 done */
tide_hidden void init_process(void);
tide_hidden uint64_t init_clock_ns(void); /* monotonic, since process start */
tide_hidden void init_publish_heap(uintptr_t start, uintptr_t brk, uintptr_t peak);

/* ---- Segment map (segment.c) ---------------------------------------------- */
extern tide_hidden _Atomic(uint64_t) tide_segmap_head[TIDE_MAP_BITS / 64];
extern tide_hidden _Atomic(uint64_t) tide_segmap_cont[TIDE_MAP_BITS / 64];

static inline bool segmap_test(_Atomic(uint64_t) *map, uintptr_t addr) {
  uintptr_t unit = addr >> TIDE_SEGMENT_SHIFT;
  if (tide_unlikely(unit >= TIDE_MAP_BITS)) return false;
  return (tide_load(&map[unit / 64]) >> (unit % 64)) & 1;
}

/* ---- Hot helpers ---------------------------------------------------------- */
static inline tide_segment *segment_of(const void *p) {
  return (tide_segment *)((uintptr_t)p & ~(uintptr_t)TIDE_SEGMENT_MASK);
}

/* The page holding p, for a segment that is not huge; *offset is p's
 * distance from the page's first block. */
static inline tide_page *page_lookup(tide_segment *seg, const void *p,
                                     uintptr_t *offset) {
  uintptr_t slice = ((uintptr_t)p & TIDE_SEGMENT_MASK) >> TIDE_SLICE_SHIFT;
  uintptr_t back = seg->pages[slice].slice_offset;
  /* p's offset in its slice, plus the slices between the head and it. */
  *offset = ((uintptr_t)p & (TIDE_SLICE_SIZE - 1)) + (back << TIDE_SLICE_SHIFT);
  return &seg->pages[slice - back];
}

static inline tide_page *page_of(tide_segment *seg, const void *p) {
  uintptr_t offset;
  return page_lookup(seg, p, &offset);
}

/* Where the page's first block lies. */
static inline uint8_t *page_start(const tide_page *page) {
  tide_segment *seg = segment_of(page);
  if (seg->kind == TIDE_SEG_HUGE) return (uint8_t *)seg + seg->huge_offset;
  return (uint8_t *)seg + ((size_t)(page - seg->pages) << TIDE_SLICE_SHIFT);
}

static inline uint32_t page_reserved(const tide_page *page) {
  return (uint32_t)(((size_t)page->slice_count << TIDE_SLICE_SHIFT) /
                    page->block_size);
}

/* Is offset (from page_lookup) the start of a block the page has carved?
 * With size = odd * 2^shift, q = rotr32(offset * odd^-1, shift) is
 * offset / size when size divides offset, and above 2^32 / size (so above
 * any capacity) when it does not: one multiply, one rotate and one compare
 * decide both "on the grid" and "carved" (Granlund-Montgomery, Lemire).
 * Offsets lie below a segment, 2^22, so 32 bits hold them. */
static inline bool page_offset_valid(const tide_page *page, uintptr_t offset) {
  if (!TIDE_CHECKS) return true;
  uint32_t q = (uint32_t)offset * page->block_odd_inv;
  unsigned r = page->block_shift;
  q = (q >> r) | (q << ((32 - r) & 31));
  /* capacity only grows while the page lives, and another thread may be
   * checking a block it was handed while the owner extends the page. */
  return q < __atomic_load_n(&page->capacity, __ATOMIC_RELAXED);
}

/* The page of a block-start pointer p, or NULL if p is not one. */
static inline tide_page *page_of_block(tide_segment *seg, const void *p) {
  uintptr_t offset;
  tide_page *page = page_lookup(seg, p, &offset);
  return page_offset_valid(page, offset) ? page : NULL;
}

static inline uintptr_t block_encode(const tide_block *next,
                                     const tide_block *at) {
  if (!TIDE_CHECKS) return (uintptr_t)next;
  return (uintptr_t)next ^ ((uintptr_t)at >> 12) ^ tide_list_secret;
}
static inline tide_block *block_decode(uintptr_t enc, const tide_block *at) {
  if (!TIDE_CHECKS) return (tide_block *)enc;
  return (tide_block *)(enc ^ ((uintptr_t)at >> 12) ^ tide_list_secret);
}
/* The freed key: written when a block is freed, cleared when it is handed
 * out, so that a second free of it can be told at once. */
static inline void block_mark_freed(tide_block *b) {
  if (TIDE_CHECKS) b->freed_key = tide_freed_key;
}
static inline void block_mark_live(tide_block *b) {
  if (TIDE_CHECKS) b->freed_key = 0;
}
static inline bool block_has_freed_key(const tide_block *b) {
  return TIDE_CHECKS && b->freed_key == tide_freed_key;
}
/* block_has_freed_key for the slow paths: under valgrind the word may be
 * data the program never wrote, and reading it is ours, not the program's,
 * error. */
static inline bool block_looks_freed(const tide_block *b) {
  if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_DEFINED(&b->freed_key, sizeof(b->freed_key));
  return block_has_freed_key(b);
}

/* The next free block after b, checked: a list never leaves its segment. */
static inline tide_block *block_next(const tide_block *b) {
  tide_block *next = block_decode(b->next_encoded, b);
  if (TIDE_CHECKS && tide_unlikely(((uintptr_t)next ^ (uintptr_t)b) >> TIDE_SEGMENT_SHIFT) &&
      next != NULL)
    tide_fatal("malloc", "corrupted free list at", b);
  return next;
}

/* block_next for the slow paths: under valgrind the free block's link words
 * are no-access to the program, so they are opened for the read. */
static inline tide_block *block_next_slow(const tide_block *b) {
  if (tide_unlikely(tide_valgrind)) VALGRIND_MAKE_MEM_DEFINED(b, sizeof(*b));
  return block_next(b);
}

/* ---- Thread heaps (heap.c) ---------------------------------------------- */
extern tide_hidden tide_heap tide_heap_empty;
extern tide_hidden tide_page tide_page_empty;
extern __thread tide_heap *tide_tls_heap
    __attribute__((tls_model("initial-exec"))) tide_hidden;
static inline tide_heap *heap_get(void) { return tide_tls_heap; }
tide_hidden tide_heap *heap_init_thread(void);
tide_hidden void heap_queue_push(tide_heap *heap, tide_page_queue *q,
                                 tide_page *page);
tide_hidden void heap_queue_append(tide_heap *heap, tide_page_queue *q,
                                   tide_page *page);
tide_hidden void heap_queue_remove(tide_heap *heap, tide_page_queue *q,
                                   tide_page *page);
tide_hidden void heap_update_direct(tide_heap *heap, unsigned bin);
tide_hidden void heap_collect(tide_heap *heap, bool force_purge);
tide_hidden void heap_wake_drain(tide_heap *heap);
tide_hidden void heap_wake_unlink(tide_heap *heap, tide_page *page);
tide_hidden void heap_heartbeat(tide_heap *heap);
tide_hidden void heap_note_purge(tide_heap *heap, uint64_t deadline_ns);
tide_hidden void heap_note_cache_purge(uint64_t deadline_ns);
static inline bool page_has_free(const tide_page *page) {
  return page->free != NULL || page->local_free != NULL;
}
tide_hidden void heap_page_unfull(tide_heap *heap, tide_page *page);
tide_hidden size_t heap_trim_all(void);
tide_hidden void heap_reclaim_pooled(void);
typedef void (*heap_visit_fn)(tide_heap *heap, void *arg);
tide_hidden void heap_for_each(heap_visit_fn fn, void *arg);
tide_hidden void heap_process_init(void);
tide_hidden void heap_counts(uint64_t *alive, uint64_t *created);
tide_hidden void heap_fork_prepare(void);
tide_hidden void heap_fork_parent(void);
tide_hidden void heap_fork_child(void);

/* ---- Size classes (sizeclass.c) --------------------------------------------- */
extern tide_hidden const uint32_t tide_bin_size[TIDE_BIN_COUNT];
tide_hidden unsigned sizeclass_bin(size_t size);
tide_hidden unsigned sizeclass_page_slices(unsigned bin);
tide_hidden unsigned sizeclass_bin_aligned(size_t size, size_t alignment);

/* ---- Pages (page.c) ------------------------------------------------------ */
tide_hidden tide_page *page_alloc(tide_heap *heap, unsigned bin);
tide_hidden void *page_alloc_large(tide_heap *heap, size_t size);
tide_hidden bool page_extend(tide_page *page);
tide_hidden void page_collect(tide_page *page);
tide_hidden void page_retire(tide_heap *heap, tide_page *page);
tide_hidden void page_free(tide_heap *heap, tide_page *page);
tide_hidden bool page_contains_free(tide_page *page, const tide_block *b);
tide_hidden void *page_malloc_generic(tide_heap *heap, size_t size,
                                      unsigned bin);

/* ---- Segments (segment.c) ------------------------------------------------- */
tide_hidden tide_page *segment_span_alloc(tide_heap *heap, unsigned slices);
tide_hidden void segment_span_free(tide_heap *heap, tide_page *page);
tide_hidden void segment_purge(tide_segment *seg, uint64_t now_ns, bool force);
tide_hidden void segment_map_set(tide_segment *seg, bool live);
tide_hidden void segment_map_range(uintptr_t addr, size_t size, bool live);
tide_hidden tide_segment *segment_find(const void *p);
tide_hidden void segment_release(tide_segment *seg);
tide_hidden size_t segment_cache_trim(void);
tide_hidden void segment_cache_trim_brk(void);
tide_hidden void segment_cache_purge(uint64_t now_ns, bool force);
tide_hidden void segment_fork_prepare(void);
tide_hidden void segment_fork_parent(void);
tide_hidden void segment_fork_child(void);
tide_hidden uint64_t segment_count(void);

/* ---- The brk heap (brk.c) --------------------------------------------------- */
typedef struct tide_brk_info {
  uintptr_t start, brk, peak;
  uint64_t segments;
} tide_brk_info;
tide_hidden tide_segment *brk_segment_new(size_t first_commit);
tide_hidden bool brk_extend(tide_segment *seg, uint8_t *need_end);
tide_hidden size_t brk_trim_top(tide_segment *seg, bool force);
tide_hidden bool brk_release(tide_segment *seg);
tide_hidden bool brk_is_top(tide_segment *seg);
tide_hidden void brk_info(tide_brk_info *out);
tide_hidden void brk_fork_prepare(void);
tide_hidden void brk_fork_parent(void);
tide_hidden void brk_fork_child(void);

/* ---- Huge blocks (large.c) ---------------------------------------------- */
tide_hidden void *huge_alloc(size_t size, size_t alignment);
tide_hidden void huge_free(tide_segment *seg, void *p);
tide_hidden void *huge_realloc(tide_segment *seg, void *p, size_t size);
tide_hidden size_t huge_usable(tide_segment *seg, const void *p);
tide_hidden uint64_t huge_live(void);
tide_hidden void huge_cache_expire(uint64_t now_ns, bool force);
tide_hidden void huge_fork_prepare(void);
tide_hidden void huge_fork_parent(void);
tide_hidden void huge_fork_child(void);

/* ---- The OS (os.c): the only file that calls the kernel for memory ------- */
/* Each call is counted and traced; failures set errno and return
 * NULL / false; nothing here aborts. */
tide_hidden void *os_mmap(void *hint, size_t size);
tide_hidden void *os_mmap_aligned(size_t size, size_t alignment);
tide_hidden bool os_munmap(void *p, size_t size);
tide_hidden void *os_mremap(void *p, size_t old_size, size_t new_size,
                            int flags, void *new_addr);
tide_hidden bool os_purge(void *p, size_t size);
tide_hidden bool os_protect(void *p, size_t size); /* PROT_NONE: a guard */
tide_hidden uintptr_t os_brk_current(void);
tide_hidden bool os_brk_set(uintptr_t new_break);
tide_hidden void os_name(void *p, size_t size, const char *name);

typedef enum tide_os_op {
  TIDE_OS_BRK_GROW,
  TIDE_OS_BRK_SHRINK,
  TIDE_OS_MMAP,
  TIDE_OS_MUNMAP,
  TIDE_OS_MREMAP,
  TIDE_OS_MADVISE,
  TIDE_OS_OPS
} tide_os_op;
typedef struct tide_os_counts {
  _Atomic(uint64_t) calls[TIDE_OS_OPS];
  _Atomic(uint64_t) bytes[TIDE_OS_OPS];
  _Atomic(uint64_t) failures;
  _Atomic(uint64_t) mapped, mapped_peak;       /* bytes mapped now / at most */
  _Atomic(uint64_t) purged;                    /* bytes madvised, not reused */
  _Atomic(uint64_t) returned;                  /* ever given back */
} tide_os_counts;
extern tide_hidden tide_os_counts tide_os_stats;
tide_hidden void os_note_reused(size_t bytes); /* purged memory in use again */

/* ---- Trace (trace.c) ----------------------------------------------------- */
extern __thread int tide_tls_request
    __attribute__((tls_model("initial-exec"))) tide_hidden;
extern __thread size_t tide_tls_request_size
    __attribute__((tls_model("initial-exec"))) tide_hidden;
static inline void trace_request(tide_request req, size_t size) {
  tide_tls_request = (int)req;
  tide_tls_request_size = size;
}
tide_hidden void trace_open(void);
tide_hidden void trace_os(tide_os_op op, uintptr_t addr, size_t len,
                          uintptr_t ret, int err, uintptr_t aux);
tide_hidden void trace_fork_child(void);

/* ---- Stats (stats.c) ------------------------------------------------------- */
tide_hidden void stats_at_exit(void);
tide_hidden void stats_sample(void);

/* ---- Formatting without allocation (fmt.c) ---------------------------------- */
typedef struct tide_buf {
  char *p;
  size_t len, cap;
  int fd;     /* flushed with write(2) when full, if >= 0 */
  FILE *file; /* or with fwrite, if set (malloc_info: we hold no lock) */
} tide_buf;
tide_hidden void fmt_str(tide_buf *b, const char *s);
tide_hidden void fmt_u64(tide_buf *b, uint64_t v);
tide_hidden void fmt_i64(tide_buf *b, int64_t v);
tide_hidden void fmt_hex(tide_buf *b, uint64_t v);
tide_hidden void fmt_size(tide_buf *b, uint64_t bytes); /* "12.5 MiB" */
tide_hidden void fmt_flush(tide_buf *b);
tide_hidden void fmt_write_all(int fd, const char *p, size_t len);

/* ---- The public API's internal entry points (alloc.c, free.c) ------------- */
tide_hidden void *alloc_generic(tide_heap *heap, size_t size, size_t alignment,
                                tide_request req);
tide_hidden size_t alloc_usable_size(const void *p, const char *func);
tide_hidden void free_quarantine_flush(tide_heap *heap);

/* Secure mode: the canary after a block of a size class. */
static inline uint64_t *block_canary(const tide_page *page, const void *b) {
  return (uint64_t *)((uint8_t *)b + page->block_size - TIDE_CANARY_SIZE);
}
static inline uint64_t block_canary_value(const void *b) {
  return tide_canary_secret ^ (uintptr_t)b;
}

#endif /* TIDE_INTERNAL_H */

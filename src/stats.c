/* SPDX-License-Identifier: MIT */
/* Statistics: per-thread counters merged on read, the OS counters of os.c,
 * and the brk heap's extent.  One list of fields drives the JSON and text
 * printers; mallinfo, malloc_stats and malloc_info are views of the same. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every scalar field of struct tide_stats, in order. */
#define STATS_SCALARS(X)                                                        \
  X(requested_bytes) X(allocated_bytes) X(allocated_peak) X(committed_bytes)   \
  X(committed_peak) X(resident_bytes) X(returned_bytes) X(heap_start)          \
  X(heap_break) X(heap_peak_break) X(heap_bytes) X(mapped_bytes)               \
  X(mapped_peak) X(huge_blocks) X(huge_bytes)
#define STATS_OS(X) X(brk_grow) X(brk_shrink) X(mmap) X(munmap) X(mremap) X(madvise)
#define STATS_TAIL(X)                                                           \
  X(os_failures) X(malloc_calls) X(free_calls) X(threads_alive)                \
  X(threads_created) X(segments) X(brk_segments)

static _Atomic(uint64_t) peak_allocated;

static void stats_raise(_Atomic(uint64_t) *peak, uint64_t now) {
  uint64_t old = tide_load(peak);
  while (now > old && !atomic_compare_exchange_weak(peak, &old, now)) {
  }
}

static void stats_add_heap(tide_heap *heap, void *arg) {
  struct tide_stats *s = arg;
  const tide_heap_stats *h = &heap->stats;
  s->requested_bytes += __atomic_load_n(&h->requested_bytes, __ATOMIC_RELAXED);
  for (unsigned bin = 1; bin <= TIDE_BIN_LARGE; bin++) {
    uint64_t made = __atomic_load_n(&h->bin_malloc[bin], __ATOMIC_RELAXED);
    uint64_t freed = __atomic_load_n(&h->bin_free[bin], __ATOMIC_RELAXED);
    int64_t pages = __atomic_load_n(&h->bin_pages[bin], __ATOMIC_RELAXED);
    s->malloc_calls += made;
    s->free_calls += freed;
    if (bin == TIDE_BIN_LARGE) continue;
    s->classes[bin - 1].blocks_used += made - freed; /* wraps back when summed */
    s->classes[bin - 1].pages += (uint64_t)pages;
  }
  s->allocated_bytes += h->large_bytes_malloc - h->large_bytes_free;
  s->allocated_bytes += h->huge_bytes_malloc - h->huge_bytes_free;
  s->huge_bytes += h->huge_bytes_malloc - h->huge_bytes_free;
  s->malloc_calls += h->huge_malloc + h->realloc_in_place;
  s->free_calls += h->huge_free;
}

/* ---- The allocated peak ------------------------------------------------------ */
/* Exact to within one page per size class per thread, with nothing on the
 * fast paths.  Between two slow events of a bin, a heap's mallocs of it
 * come from one page (its free list, refilled from its own freed blocks at
 * a swap, which is no event), so its live bytes can rise by at most that
 * page.  At each event the heap brings that bin's figure up to date
 * (its own counters: no other thread writes them) and, once its sum has
 * grown by PEAK_SLACK (plus 1/256 of the peak) since every heap was
 * last counted, counts all of them afresh and raises the peak.  Frees by
 * other threads are in their counters, so only the fresh count across
 * heaps is ever compared with the peak. */
#define PEAK_SLACK ((int64_t)16 << 10)

/* bin's live bytes by h's counters (negative if h freed more than it made). */
static inline int64_t stats_bin_live(const tide_heap_stats *h, unsigned bin) {
  if (bin == TIDE_BIN_LARGE)
    return (int64_t)(__atomic_load_n(&h->large_bytes_malloc, __ATOMIC_RELAXED) -
                     __atomic_load_n(&h->large_bytes_free, __ATOMIC_RELAXED));
  if (bin == TIDE_BIN_LARGE + 1)
    return (int64_t)(__atomic_load_n(&h->huge_bytes_malloc, __ATOMIC_RELAXED) -
                     __atomic_load_n(&h->huge_bytes_free, __ATOMIC_RELAXED));
  uint64_t freed = __atomic_load_n(&h->bin_free[bin], __ATOMIC_RELAXED);
  uint64_t made = __atomic_load_n(&h->bin_malloc[bin], __ATOMIC_RELAXED);
  return (int64_t)(made - freed) * (int64_t)tide_bin_size[bin];
}

/* All of h: read by another thread too, racing with its owner's plain
 * increments (see tests/reliability/tsan.supp).  A recount reads every
 * heap, and a thread that allocates what another frees recounts every
 * PEAK_SLACK bytes or so (xmalloc-test: every 2,000 mallocs): stats_bin_live
 * is two loads and a multiply, inline for this loop. */
static int64_t stats_heap_live(const tide_heap_stats *h) {
  int64_t live = 0;
  for (unsigned bin = 1; bin <= TIDE_BIN_LARGE + 1; bin++) live += stats_bin_live(h, bin);
  return live;
}

uint64_t stats_peak_process(void) { return tide_load(&peak_allocated); }

/* Count every heap afresh and raise the peak.  The heap's own per-bin
 * figures stay as its events last left them (each at most a page behind):
 * the next recount is due once their sum has grown by the slack again. */
static void stats_peak_recount(tide_heap *heap) {
  heap_count_flush(heap);
  int64_t total = stats_heap_live(&tide_heap_empty.stats);
  for (tide_heap *h = heap_all(); h != NULL; h = h->all_next) total += stats_heap_live(&h->stats);
  if (total > 0) stats_raise(&peak_allocated, (uint64_t)total);
  heap->stats.live_counted = heap->stats.live_sum;
}

void stats_note_alloc(tide_heap *heap, unsigned bin) {
  if (heap->is_empty_heap) return; /* shared by threads without a heap */
  tide_heap_stats *st = &heap->stats;
  int64_t now = stats_bin_live(st, bin);
  st->live_sum += now - st->live_bin[bin];
  st->live_bin[bin] = now;
  /* A peak of many MiB needs no recount every 16 KiB: a producer whose
   * blocks another thread frees (xmalloc-test, peak 29 MiB) recounts every
   * 2,000 mallocs of 64 bytes, not every 300. */
  int64_t slack = PEAK_SLACK + (int64_t)(tide_load(&peak_allocated) >> 8);
  if (st->live_sum > st->live_counted + slack) stats_peak_recount(heap);
}

static void stats_collect(struct tide_stats *s) {
  uint32_t version = s->version, size = s->size;
  memset(s, 0, sizeof(*s));
  s->version = version;
  s->size = size;
  s->class_count = TIDE_BIN_COUNT - 1;
  heap_count_flush(heap_get());
  heap_for_each(stats_add_heap, s);
  stats_add_heap(&tide_heap_empty, s);
  for (unsigned bin = 1; bin < TIDE_BIN_COUNT; bin++) {
    struct tide_class_stats *c = &s->classes[bin - 1];
    c->block_size = tide_bin_size[bin];
    if ((int64_t)c->blocks_used < 0) c->blocks_used = 0; /* racy read */
    uint64_t per_page =
        ((uint64_t)sizeclass_page_slices(bin) << TIDE_SLICE_SHIFT) / c->block_size;
    uint64_t room = c->pages * per_page;
    c->blocks_free = room > c->blocks_used ? room - c->blocks_used : 0;
    s->allocated_bytes += c->blocks_used * c->block_size;
  }
  tide_brk_info brk;
  brk_info(&brk);
  s->heap_start = brk.start;
  s->heap_break = brk.brk;
  s->heap_peak_break = brk.peak;
  s->heap_bytes = brk.brk - brk.start;
  s->brk_segments = brk.segments;
  s->mapped_bytes = tide_load(&tide_os_stats.mapped);
  s->mapped_peak = tide_load(&tide_os_stats.mapped_peak);
  s->huge_blocks = huge_live();
  s->committed_bytes = tide_load(&tide_os_stats.committed);
  /* Pages really resident, not committed minus purged. */
  s->resident_bytes = segment_resident(brk.brk ? brk.start : 0, brk.brk);
  s->returned_bytes = tide_load(&tide_os_stats.returned);
#define OS_COUNTER(name, op)                                    \
  s->name.calls = tide_load(&tide_os_stats.calls[op]);         \
  s->name.bytes = tide_load(&tide_os_stats.bytes[op]);
  OS_COUNTER(brk_grow, TIDE_OS_BRK_GROW)
  OS_COUNTER(brk_shrink, TIDE_OS_BRK_SHRINK)
  OS_COUNTER(mmap, TIDE_OS_MMAP)
  OS_COUNTER(munmap, TIDE_OS_MUNMAP)
  OS_COUNTER(mremap, TIDE_OS_MREMAP)
  OS_COUNTER(madvise, TIDE_OS_MADVISE)
#undef OS_COUNTER
  s->os_failures = tide_load(&tide_os_stats.failures);
  heap_counts(&s->threads_alive, &s->threads_created);
  s->segments = segment_count();
  stats_raise(&peak_allocated, s->allocated_bytes);
  s->allocated_peak = tide_load(&peak_allocated);
  s->committed_peak = tide_load(&tide_os_stats.committed_peak);
}

int tide_stats(struct tide_stats *out) {
  if (out == NULL || out->version != TIDE_STATS_VERSION ||
      out->size != sizeof(struct tide_stats)) {
    errno = EINVAL;
    return -1;
  }
  stats_collect(out);
  return 0;
}

/* ---- Printing -------------------------------------------------------------- */
static void print_json(tide_buf *b, const struct tide_stats *s) {
  fmt_str(b, "{\"tidemalloc\":\"0.1\",\"pid\":");
  fmt_u64(b, (uint64_t)getpid());
#define JSON_FIELD(name) fmt_str(b, ",\"" #name "\":"); fmt_u64(b, s->name);
#define JSON_OS(name)                                 \
  fmt_str(b, ",\"" #name "\":{\"calls\":");           \
  fmt_u64(b, s->name.calls);                          \
  fmt_str(b, ",\"bytes\":");                          \
  fmt_u64(b, s->name.bytes);                          \
  fmt_str(b, "}");
  STATS_SCALARS(JSON_FIELD)
  STATS_OS(JSON_OS)
  STATS_TAIL(JSON_FIELD)
#undef JSON_FIELD
#undef JSON_OS
  fmt_str(b, ",\"classes\":[");
  bool first = true;
  for (uint32_t i = 0; i < s->class_count; i++) {
    const struct tide_class_stats *c = &s->classes[i];
    if (c->pages == 0) continue;
    fmt_str(b, first ? "{\"block_size\":" : ",{\"block_size\":");
    first = false;
    fmt_u64(b, c->block_size);
    fmt_str(b, ",\"blocks_used\":");
    fmt_u64(b, c->blocks_used);
    fmt_str(b, ",\"blocks_free\":");
    fmt_u64(b, c->blocks_free);
    fmt_str(b, ",\"pages\":");
    fmt_u64(b, c->pages);
    fmt_str(b, "}");
  }
  fmt_str(b, "]}\n");
}

static bool ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), t = strlen(tail);
  return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Addresses in hex, byte counts with units, the rest as numbers. */
static void print_field(tide_buf *b, const char *label, uint64_t v) {
  fmt_str(b, label);
  for (size_t n = strlen(label); n < 24; n++) fmt_str(b, " ");
  if (strncmp(label, "heap_", 5) == 0 && !ends_with(label, "_bytes"))
    fmt_hex(b, v);
  else if (ends_with(label, "_bytes") || ends_with(label, "_peak"))
    fmt_size(b, v);
  else
    fmt_u64(b, v);
  fmt_str(b, "\n");
}

static void print_text(tide_buf *b, const struct tide_stats *s) {
  fmt_str(b, "tidemalloc statistics (pid ");
  fmt_u64(b, (uint64_t)getpid());
  fmt_str(b, ")\n");
#define TEXT_FIELD(name) print_field(b, #name, s->name);
  STATS_SCALARS(TEXT_FIELD)
#undef TEXT_FIELD
#define TEXT_OS(name)                              \
  fmt_str(b, #name);                               \
  for (size_t n = strlen(#name); n < 24; n++) fmt_str(b, " "); \
  fmt_u64(b, s->name.calls);                       \
  fmt_str(b, " calls, ");                          \
  fmt_size(b, s->name.bytes);                      \
  fmt_str(b, "\n");
  STATS_OS(TEXT_OS)
#undef TEXT_OS
#define TEXT_COUNT(name) print_field(b, #name, s->name);
  STATS_TAIL(TEXT_COUNT)
#undef TEXT_COUNT
  fmt_str(b, "size class   in use     free      pages\n");
  for (uint32_t i = 0; i < s->class_count; i++) {
    const struct tide_class_stats *c = &s->classes[i];
    if (c->pages == 0) continue;
    uint64_t cols[4] = {c->block_size, c->blocks_used, c->blocks_free, c->pages};
    for (int k = 0; k < 4; k++) {
      char num[24];
      tide_buf nb = {num, 0, sizeof(num), -1, NULL};
      fmt_u64(&nb, cols[k]);
      for (size_t n = nb.len; n < 10; n++) fmt_str(b, " ");
      num[nb.len] = '\0';
      fmt_str(b, num);
      fmt_str(b, " ");
    }
    fmt_str(b, "\n");
  }
}

/* The reports are not cancellation points: write(2), open(2), close(2) and
 * stdio are, and a thread cancelled in one would print nothing or half a
 * report (at exit: a report lost, or a process taken down by the unwind).
 * glibc makes malloc_stats non-cancellable; here malloc_info and the report
 * at exit are too.  pthread_setcancelstate only flips a bit of the thread's
 * own descriptor: it neither allocates nor blocks, and a request that came
 * meanwhile acts at the thread's next cancellation point. */
static int stats_cancel_off(void) {
  int old = PTHREAD_CANCEL_ENABLE;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  return old;
}

static void stats_cancel_restore(int old) {
  int ignored;
  pthread_setcancelstate(old, &ignored);
}

void tide_stats_print(int fd, int format) {
  int cancel = stats_cancel_off();
  struct tide_stats s = {.version = TIDE_STATS_VERSION, .size = sizeof(s)};
  stats_collect(&s);
  /* Big enough for the whole JSON line: one write(2), so that processes
   * appending to one stats file never interleave their lines. */
  char buf[16384];
  tide_buf b = {buf, 0, sizeof(buf), fd, NULL};
  if (format == TIDE_STATS_JSON)
    print_json(&b, &s);
  else
    print_text(&b, &s);
  fmt_flush(&b);
  stats_cancel_restore(cancel);
}

/* stats_file is opened at start-up: a relative path means the folder the
 * program started in, and a path that cannot be opened is said while the
 * user still watches (once per program; at exit, for a report turned on
 * later).  The device and inode tell at exit whether the descriptor is still
 * ours (a program may close it and the number go to another file). */
static int stats_fd = -1;
static dev_t stats_dev;
static ino_t stats_ino;
static bool stats_warned;

static int stats_open_file(void) {
  int fd = open(tide_opt.stats_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0 || stats_warned) return fd;
  int err = errno;
  stats_warned = true;
  char line[512];
  tide_buf b = {line, 0, sizeof(line), init_stderr_fd(), NULL};
  fmt_str(&b, "tidemalloc: warning: cannot open stats_file '");
  fmt_str(&b, tide_opt.stats_file);
  fmt_str(&b, "': ");
  fmt_errno(&b, err);
  fmt_str(&b, "; the statistics at exit go to stderr\n");
  fmt_flush(&b);
  return -1;
}

void stats_open(void) {
  if (tide_opt.stats == 0 || tide_opt.stats_file[0] == '\0') return;
  int fd = stats_open_file();
  struct stat st;
  if (fd < 0) return;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return;
  }
  stats_fd = fd;
  stats_dev = st.st_dev;
  stats_ino = st.st_ino;
}

static bool stats_fd_still_ours(void) {
  struct stat st;
  return stats_fd >= 0 && fstat(stats_fd, &st) == 0 && st.st_dev == stats_dev &&
         st.st_ino == stats_ino;
}

void stats_at_exit(void) {
  if (tide_opt.stats == 0) return;
  int cancel = stats_cancel_off();
  int fd = -1;
  bool opened = false;
  if (tide_opt.stats_file[0] != '\0') {
    if (stats_fd_still_ours()) {
      fd = stats_fd;
    } else {
      fd = stats_open_file();
      opened = fd >= 0;
    }
  }
  if (fd < 0) fd = init_stderr_fd();
  tide_stats_print(fd, tide_opt.stats == 2 ? TIDE_STATS_JSON : TIDE_STATS_TEXT);
  if (opened) close(fd);
  stats_cancel_restore(cancel);
}

/* ---- glibc's views ----------------------------------------------------------- */
struct mallinfo2 tide_mallinfo2(void) {
  struct tide_stats s = {.version = TIDE_STATS_VERSION, .size = sizeof(s)};
  stats_collect(&s);
  uint64_t free_blocks = 0;
  for (uint32_t i = 0; i < s.class_count; i++) free_blocks += s.classes[i].blocks_free;
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof(mi));
  mi.arena = s.committed_bytes;
  mi.ordblks = free_blocks;
  mi.hblks = s.huge_blocks;
  mi.hblkhd = s.huge_bytes;
  mi.uordblks = s.allocated_bytes - s.huge_bytes;
  mi.fordblks = s.committed_bytes > s.allocated_bytes ? s.committed_bytes - s.allocated_bytes : 0;
  mi.usmblks = s.committed_peak;
  return mi;
}

struct mallinfo tide_mallinfo(void) {
  struct mallinfo2 m2 = tide_mallinfo2();
  struct mallinfo mi;
  mi.arena = (int)m2.arena;
  mi.ordblks = (int)m2.ordblks;
  mi.smblks = (int)m2.smblks;
  mi.hblks = (int)m2.hblks;
  mi.hblkhd = (int)m2.hblkhd;
  mi.usmblks = (int)m2.usmblks;
  mi.fsmblks = (int)m2.fsmblks;
  mi.uordblks = (int)m2.uordblks;
  mi.fordblks = (int)m2.fordblks;
  mi.keepcost = (int)m2.keepcost;
  return mi;
}

void tide_malloc_stats(void) {
  int cancel = stats_cancel_off();
  struct tide_stats s = {.version = TIDE_STATS_VERSION, .size = sizeof(s)};
  stats_collect(&s);
  char buf[512];
  tide_buf b = {buf, 0, sizeof(buf), 2, NULL};
  /* glibc's lines first, so that scripts reading them keep working. */
  fmt_str(&b, "Arena 0:\nsystem bytes     = ");
  fmt_u64(&b, s.committed_bytes);
  fmt_str(&b, "\nin use bytes     = ");
  fmt_u64(&b, s.allocated_bytes);
  fmt_str(&b, "\nTotal (incl. mmap):\nsystem bytes     = ");
  fmt_u64(&b, s.committed_bytes);
  fmt_str(&b, "\nin use bytes     = ");
  fmt_u64(&b, s.allocated_bytes);
  fmt_str(&b, "\nmax mmap regions = ");
  fmt_u64(&b, s.huge_blocks);
  fmt_str(&b, "\nmax mmap bytes   = ");
  fmt_u64(&b, s.mapped_peak);
  fmt_str(&b, "\n");
  print_text(&b, &s);
  fmt_flush(&b);
  stats_cancel_restore(cancel);
}

static void info_attr(tide_buf *b, const char *open, uint64_t v) {
  fmt_str(b, open);
  fmt_u64(b, v);
  fmt_str(b, "\"");
}

/* The totals glibc writes after each heap and once for the process. */
static void info_totals(tide_buf *b, const struct tide_stats *s, uint64_t free_count,
                        uint64_t free_bytes, bool process) {
  fmt_str(b, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
  info_attr(b, "<total type=\"rest\" count=\"", free_count);
  info_attr(b, " size=\"", free_bytes);
  fmt_str(b, "/>\n");
  if (process) {
    info_attr(b, "<total type=\"mmap\" count=\"", s->huge_blocks);
    info_attr(b, " size=\"", s->huge_bytes);
    fmt_str(b, "/>\n");
  }
  info_attr(b, "<system type=\"current\" size=\"", s->committed_bytes);
  fmt_str(b, "/>\n");
  info_attr(b, "<system type=\"max\" size=\"", s->committed_peak);
  fmt_str(b, "/>\n");
  info_attr(b, "<aspace type=\"total\" size=\"", s->committed_bytes);
  fmt_str(b, "/>\n");
  info_attr(b, "<aspace type=\"mprotect\" size=\"", s->committed_bytes);
  fmt_str(b, "/>\n");
}

int tide_malloc_info(int options, FILE *stream) {
  if (options != 0 || stream == NULL) {
    errno = EINVAL;
    return -1;
  }
  int cancel = stats_cancel_off();
  struct tide_stats s = {.version = TIDE_STATS_VERSION, .size = sizeof(s)};
  stats_collect(&s);
  char buf[4096];
  tide_buf b = {buf, 0, sizeof(buf), -1, stream};
  uint64_t free_count = 0, free_bytes = 0;
  fmt_str(&b, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
  uint64_t from = 1;
  for (uint32_t i = 0; i < s.class_count; i++) {
    const struct tide_class_stats *c = &s.classes[i];
    if (c->pages > 0 && c->blocks_free > 0) {
      fmt_str(&b, "<size from=\"");
      fmt_u64(&b, from);
      fmt_str(&b, "\" to=\"");
      fmt_u64(&b, c->block_size);
      fmt_str(&b, "\" total=\"");
      fmt_u64(&b, c->blocks_free * c->block_size);
      fmt_str(&b, "\" count=\"");
      fmt_u64(&b, c->blocks_free);
      fmt_str(&b, "\"/>\n");
      free_count += c->blocks_free;
      free_bytes += c->blocks_free * c->block_size;
    }
    from = c->block_size + 1;
  }
  fmt_str(&b, "</sizes>\n");
  info_totals(&b, &s, free_count, free_bytes, false);
  fmt_str(&b, "</heap>\n");
  info_totals(&b, &s, free_count, free_bytes, true);
  fmt_str(&b, "</malloc>\n");
  fmt_flush(&b); /* stdio may allocate its buffer: fine, we hold no lock */
  stats_cancel_restore(cancel);
  return 0;
}

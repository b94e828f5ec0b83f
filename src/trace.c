/* SPDX-License-Identifier: MIT */
/* The trace: one line per OS call, in the format of docs/trace-format.md.
 * Each line is formatted on the stack and written with a single write(2) to
 * a file opened with O_APPEND, so lines of concurrent threads and of forked
 * children never interleave, and nothing is allocated or locked. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread int tide_tls_request __attribute__((tls_model("initial-exec")));
__thread size_t tide_tls_request_size __attribute__((tls_model("initial-exec")));

static int trace_fd = -1;

static const char *const request_names[] = {
    [TIDE_REQ_INTERNAL] = "internal",
    [TIDE_REQ_MALLOC] = "malloc",
    [TIDE_REQ_CALLOC] = "calloc",
    [TIDE_REQ_REALLOC] = "realloc",
    [TIDE_REQ_ALIGNED_ALLOC] = "aligned_alloc",
    [TIDE_REQ_POSIX_MEMALIGN] = "posix_memalign",
    [TIDE_REQ_MEMALIGN] = "memalign",
    [TIDE_REQ_VALLOC] = "valloc",
    [TIDE_REQ_PVALLOC] = "pvalloc",
    [TIDE_REQ_FREE] = "free",
    [TIDE_REQ_TRIM] = "malloc_trim",
    [TIDE_REQ_THREAD_EXIT] = "thread_exit",
    [TIDE_REQ_INIT] = "init",
    [TIDE_REQ_PURGE] = "purge",
};

static const char *const op_names[TIDE_OS_OPS] = {
    [TIDE_OS_BRK_GROW] = "brk",   [TIDE_OS_BRK_SHRINK] = "brk",
    [TIDE_OS_MMAP] = "mmap",      [TIDE_OS_MUNMAP] = "munmap",
    [TIDE_OS_MREMAP] = "mremap",  [TIDE_OS_MADVISE] = "madvise",
};

/* The header starts each process image's lines (and a forked child's: its
 * clock is still its parent's).  start= is CLOCK_MONOTONIC at t_ns = 0, so
 * a reader can put every process of a run on one time axis, and the lines
 * of a child that forked and then exec'd (two headers, one pid, two clocks)
 * in order. */
static void trace_header(void) {
  char line[96];
  tide_buf b = {line, 0, sizeof(line), -1, NULL};
  fmt_str(&b, "# tidemalloc-trace 2 pid=");
  fmt_u64(&b, (uint64_t)getpid());
  fmt_str(&b, " start=");
  fmt_u64(&b, init_clock_start_ns());
  fmt_str(&b, "\n");
  fmt_write_all(trace_fd, line, b.len);
}

void trace_open(void) {
  const char *path = tide_opt.trace;
  if (path[0] == '\0') return;
  if (strcmp(path, "stderr") == 0) {
    trace_fd = init_stderr_fd(); /* the copy: a program's close(2) ends no trace */
  } else {
    trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (trace_fd < 0) {
      int err = errno;
      char line[512];
      tide_buf b = {line, 0, sizeof(line), 2, NULL};
      fmt_str(&b, "tidemalloc: warning: cannot open the trace file '");
      fmt_str(&b, path);
      fmt_str(&b, "': ");
      fmt_errno(&b, err);
      fmt_str(&b, "; tracing is off\n");
      fmt_flush(&b);
      return;
    }
  }
  trace_header();
}

void trace_fork_child(void) {
  if (trace_fd >= 0) trace_header();
}

/* The fields every line starts with: t_ns, pid, tid. */
static void trace_line_start(tide_buf *b, uint64_t now) {
  fmt_u64(b, now);
  fmt_str(b, " ");
  fmt_u64(b, (uint64_t)getpid()); /* a system call, as gettid: only when tracing */
  fmt_str(b, " ");
  fmt_u64(b, (uint64_t)syscall(SYS_gettid));
  fmt_str(b, " ");
}

/* The request fields every line ends with. */
static void trace_line_end(tide_buf *b) {
  int req = tide_tls_request;
  if (req < 0 || req > TIDE_REQ_PURGE) req = TIDE_REQ_INTERNAL;
  fmt_str(b, " ");
  fmt_str(b, request_names[req]);
  fmt_str(b, " ");
  fmt_u64(b, tide_tls_request_size);
  fmt_str(b, "\n");
}

/* What the kernel holds resident of tidemalloc's memory, after a call that
 * changed it: the brk heap (to brk_end) and the segments and mappings, as
 * tide_stats' resident_bytes.  At most one line every TRACE_RESIDENT_NS per
 * process, so that a program making thousands of calls is not slowed much
 * more by its trace.  Reads only the segment map and the published break:
 * callers may hold the brk heap's lock. */
#define TRACE_RESIDENT_NS 2000000u
static _Atomic(uint64_t) resident_last_ns;

static void trace_resident(uint64_t now, uintptr_t brk_end) {
  uint64_t last = tide_load(&resident_last_ns);
  if (now - last < TRACE_RESIDENT_NS || !atomic_compare_exchange_strong(&resident_last_ns, &last, now))
    return;
  uintptr_t start = (uintptr_t)__atomic_load_n(&tide_introspect.heap_start, __ATOMIC_RELAXED);
  uint64_t resident = segment_resident(start, brk_end);
  char line[256];
  tide_buf b = {line, 0, sizeof(line), -1, NULL};
  trace_line_start(&b, now);
  fmt_str(&b, "resident 0x0 ");
  fmt_u64(&b, resident);
  fmt_str(&b, " 0x0 0 -");
  trace_line_end(&b);
  fmt_write_all(trace_fd, line, b.len);
}

void trace_os(tide_os_op op, uintptr_t addr, size_t len, uintptr_t ret, int err,
              uintptr_t aux) {
  if (tide_likely(trace_fd < 0)) return;
  char line[256];
  tide_buf b = {line, 0, sizeof(line), -1, NULL};
  uint64_t now = init_clock_ns();
  trace_line_start(&b, now);
  fmt_str(&b, op_names[op]);
  fmt_str(&b, " ");
  fmt_hex(&b, addr);
  fmt_str(&b, " ");
  fmt_u64(&b, len);
  fmt_str(&b, " ");
  fmt_hex(&b, ret);
  fmt_str(&b, " ");
  fmt_u64(&b, (uint64_t)err);
  fmt_str(&b, " ");
  switch (op) {
  case TIDE_OS_BRK_GROW: fmt_str(&b, "grow"); break;
  case TIDE_OS_BRK_SHRINK: fmt_str(&b, "shrink"); break;
  case TIDE_OS_MREMAP: fmt_u64(&b, aux); break;
  case TIDE_OS_MADVISE: fmt_str(&b, aux == MADV_FREE ? "free" : "dontneed"); break;
  default: fmt_str(&b, "-"); break;
  }
  trace_line_end(&b);
  fmt_write_all(trace_fd, line, b.len);
  if (err == 0) {
    uintptr_t brk_end = (uintptr_t)__atomic_load_n(&tide_introspect.heap_break, __ATOMIC_RELAXED);
    if (op == TIDE_OS_BRK_GROW || op == TIDE_OS_BRK_SHRINK) brk_end = ret; /* not published yet */
    trace_resident(now, brk_end);
  }
}

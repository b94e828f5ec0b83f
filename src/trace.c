/* SPDX-License-Identifier: MIT */
/* The trace: one line per OS call, in the format of docs/trace-format.md.
 * Each line is formatted on the stack and written with a single write(2) to
 * a file opened with O_APPEND, so lines of concurrent threads and of forked
 * children never interleave, and nothing is allocated or locked. */
#define _GNU_SOURCE
#include "internal/internal.h"

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

void trace_os(tide_os_op op, uintptr_t addr, size_t len, uintptr_t ret, int err,
              uintptr_t aux) {
  if (tide_likely(trace_fd < 0)) return;
  char line[256];
  tide_buf b = {line, 0, sizeof(line), -1, NULL};
  fmt_u64(&b, init_clock_ns());
  fmt_str(&b, " ");
  fmt_u64(&b, (uint64_t)getpid()); /* a system call, as gettid: only when tracing */
  fmt_str(&b, " ");
  fmt_u64(&b, (uint64_t)syscall(SYS_gettid));
  fmt_str(&b, " ");
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
  int req = tide_tls_request;
  if (req < 0 || req > TIDE_REQ_PURGE) req = TIDE_REQ_INTERNAL;
  fmt_str(&b, " ");
  fmt_str(&b, request_names[req]);
  fmt_str(&b, " ");
  fmt_u64(&b, tide_tls_request_size);
  fmt_str(&b, "\n");
  fmt_write_all(trace_fd, line, b.len);
}

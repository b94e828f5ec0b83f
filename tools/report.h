/* SPDX-License-Identifier: MIT */
/* report.h — `tide report`: a trace file (docs/trace-format.md) read into
 * processes and events (report.c), summarised, and charted (report_svg.c). */
#ifndef TIDE_REPORT_H
#define TIDE_REPORT_H

#include <stdint.h>

#include "tide.h"

enum trace_op { OP_BRK, OP_MMAP, OP_MUNMAP, OP_MREMAP, OP_MADVISE, OP_COUNT };
/* A version 2 line that is not an OS call: a sample of resident memory
 * (len), kept apart from the events. */
#define OP_RESIDENT OP_COUNT

struct trace_event {
  uint64_t t; /* ns since the process started using tidemalloc */
  uint64_t addr, len, ret;
  uint64_t old_len; /* mremap: the old length (aux) */
  uint64_t req_size;
  long pid, tid;
  int op;     /* enum trace_op */
  int err;    /* errno, 0 on success */
  int shrink; /* brk: aux was "shrink" */
  int exec;   /* the first line of its process after an exec (a new image) */
  char req[16];
};

/* One point of a step plot: from time t on, the value is v. */
struct point {
  uint64_t t;
  int64_t v;
  int failed; /* the call at t failed */
};

/* Memory given back to the OS at t: madvise, munmap, a lowered break or a
 * shrinking mremap (op is enum trace_op). */
struct giveback {
  uint64_t t, len;
  int op;
};

struct trace_proc {
  long pid;
  /* Version 2 headers: CLOCK_MONOTONIC at t = 0 of the first and of the
   * latest image (after exec); lines are kept on the first one's clock. */
  int have_start;
  uint64_t start0, start_cur;
  int exec_seen; /* a header of a new image came; its next line has .exec */
  struct trace_event *ev;
  size_t n, cap;
  /* Filled by report.c's analysis. */
  uint64_t t0, t1; /* first and last time */
  int have_break;
  uint64_t first_break; /* the break before the first brk call */
  struct point *brk_pts, *map_pts;
  size_t n_brk, n_map;
  struct giveback *back;
  size_t n_back;
  struct point *res_pts; /* resident samples (OP_RESIDENT lines), read in */
  size_t n_res;
  int64_t peak_resident;
  uint64_t back_bytes[OP_COUNT]; /* given back, by the op that did it */
  int64_t peak_height, final_height, peak_mapped, final_mapped;
};

/* report_svg.c: the timelines of break height, mapped bytes and the bytes
 * given back, one row per process (the largest few; the rest summed up). */
void report_svg(const struct trace_proc *procs, size_t nprocs, const char *trace_name,
                struct strbuf *sb);

#endif /* TIDE_REPORT_H */

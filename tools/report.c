/* SPDX-License-Identifier: MIT */
/* report.c — `tide report TRACE`: read a trace (docs/trace-format.md) and say
 * what OS calls tidemalloc made, what they cost, what came back, and which
 * requests caused them.
 *
 * Several processes may share one trace file (fork, or exec of programs
 * that load the library): each line names its pid (version 2; version 1
 * lines are placed by their tid).  A pid is one process however many
 * headers it wrote (after fork and again after exec).  The first process,
 * or the one --pid names, is summarised in full, the others get one line
 * each, and the chart has a row for every process.
 */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void report_usage(FILE *f) {
  fputs("usage: tide report TRACE [--pid N] [--svg FILE]\n"
        "\n"
        "Summarise a trace written by tidemalloc (TIDEMALLOC_OPTIONS=trace=FILE, or\n"
        "'tide run --trace FILE'; '-' reads standard input): the OS calls per kind with\n"
        "bytes and failures, the time covered, the peak break height above the first\n"
        "break, the peak of mapped bytes, the bytes given back, and the requests that\n"
        "caused the most OS calls.\n"
        "\n"
        "Every process of the run is listed once (a child that forked and then exec'd\n"
        "is one process); the first, or the one --pid names, is summarised in full.\n"
        "A file that is not a trace, or is cut short, is an error naming its first bad\n"
        "line.\n"
        "\n"
        "options:\n"
        "  --pid N       summarise the process N\n"
        "  --svg FILE    also draw timelines of the break height, the mapped bytes and\n"
        "                the bytes given back, one row per process, as SVG to FILE\n"
        "                ('-' for stdout, and then no summary is printed)\n"
        "  -h, --help    show this help and exit\n",
        f);
}

static const char *const op_names[OP_COUNT] = {"brk", "mmap", "munmap", "mremap", "madvise"};

/* ---- reading ------------------------------------------------------------------- */

struct trace {
  const char *path;
  struct trace_proc *p;
  size_t n;
  size_t lines;
};

static struct trace_proc *find_proc(struct trace *tr, long pid) {
  for (size_t i = 0; i < tr->n; i++)
    if (tr->p[i].pid == pid)
      return &tr->p[i];
  return NULL;
}

/* The process of that pid, made on first sight: a child that forked and
 * then exec'd writes two headers with one pid, and is one process. */
static struct trace_proc *proc_of(struct trace *tr, long pid) {
  struct trace_proc *p = find_proc(tr, pid);
  if (p)
    return p;
  tr->p = util_xrealloc(tr->p, (tr->n + 1) * sizeof *tr->p);
  p = &tr->p[tr->n++];
  memset(p, 0, sizeof *p);
  p->pid = pid;
  return p;
}

/* Version 1 lines carry no pid: the header whose pid is the largest at or
 * below the tid (thread ids are handed out in increasing order, after their
 * process's pid). */
static struct trace_proc *proc_for_tid(struct trace *tr, long tid) {
  struct trace_proc *best = NULL;
  for (size_t i = 0; i < tr->n; i++)
    if (tr->p[i].pid <= tid && (!best || tr->p[i].pid >= best->pid))
      best = &tr->p[i];
  return best ? best : &tr->p[0];
}

static int parse_u64(const char *s, int base, uint64_t *out) {
  if (!*s)
    return -1;
  if (base == 16) {
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2])
      return -1;
    s += 2;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, base);
  if (errno || *end || s[0] == '-' || s[0] == '+')
    return -1;
  *out = v;
  return 0;
}

/* Parses one event line of the given version (1: ten fields, 2: eleven,
 * the pid second); returns 0, or -1 with why set. */
static int parse_event(char *line, int version, struct trace_event *e, const char **why) {
  char *f[12];
  int nf = 0, want = version == 1 ? 10 : 11;
  for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
    if (nf == 12)
      break;
    f[nf++] = tok;
  }
  if (nf != want) {
    *why = version == 1 ? "not the ten fields of a version 1 line"
                        : "not the eleven fields of a version 2 line";
    return -1;
  }
  memset(e, 0, sizeof *e);
  uint64_t pid = 0, tid, err;
  char **g = f;
  if (version != 1) {
    if (parse_u64(f[1], 10, &pid)) {
      *why = "the pid does not parse";
      return -1;
    }
    g = f + 1; /* the rest as in version 1, from t_ns's place on */
    g[0] = f[0];
  }
  if (parse_u64(g[0], 10, &e->t) || parse_u64(g[1], 10, &tid) || parse_u64(g[3], 16, &e->addr) ||
      parse_u64(g[4], 10, &e->len) || parse_u64(g[5], 16, &e->ret) || parse_u64(g[6], 10, &err) ||
      parse_u64(g[9], 10, &e->req_size)) {
    *why = "a number field does not parse";
    return -1;
  }
  e->pid = (long)pid;
  e->tid = (long)tid;
  e->err = (int)err;
  e->op = -1;
  for (int k = 0; k < OP_COUNT; k++)
    if (strcmp(g[2], op_names[k]) == 0)
      e->op = k;
  if (version != 1 && strcmp(g[2], "resident") == 0) {
    e->op = OP_RESIDENT;
    util_fmt(e->req, sizeof e->req, "%s", g[8]);
    return 0;
  }
  if (e->op < 0) {
    *why = "unknown op";
    return -1;
  }
  if (e->op == OP_BRK) {
    if (strcmp(g[7], "grow") && strcmp(g[7], "shrink")) {
      *why = "brk aux is not grow or shrink";
      return -1;
    }
    e->shrink = strcmp(g[7], "shrink") == 0;
  } else if (e->op == OP_MREMAP && parse_u64(g[7], 10, &e->old_len)) {
    *why = "mremap aux is not the old length";
    return -1;
  }
  util_fmt(e->req, sizeof e->req, "%s", g[8]);
  return 0;
}

/* A file that is not a trace, or one cut short, is not summarised: numbers
 * from half a trace look as trustworthy as the real ones.  One line names
 * the file and the first bad line, and tide exits 1. */
static void bad_line(const struct trace *tr, size_t lineno, const char *line, const char *why) {
  char shown[64];
  size_t n = strcspn(line, "\n");
  util_fmt(shown, sizeof shown, "%.*s%s", (int)(n < 48 ? n : 48), line, n > 48 ? "..." : "");
  util_die("report: %s:%zu: %s: '%s'", tr->path, lineno, why, shown);
}

static void push(struct point **pts, size_t *n, uint64_t t, int64_t v, int failed);

static void read_trace(const char *path, struct trace *tr) {
  size_t len;
  char *text = util_read_file(path, &len);
  if (!text)
    util_die("report: cannot read '%s': %s", path, strerror(errno));
  memset(tr, 0, sizeof *tr);
  tr->path = strcmp(path, "-") ? path : "(stdin)";
  if (len == 0)
    util_die("report: %s: empty file, not a tidemalloc trace", tr->path);
  if (memchr(text, 0, len))
    util_die("report: %s: binary data, not a tidemalloc trace", tr->path);
  size_t lineno = 0;
  int version = 0; /* of the latest header; 0 before the first */
  for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    lineno++;
    if (!nl)
      bad_line(tr, lineno, line, "truncated: the last line has no newline");
    *nl = 0;
    if (line[strspn(line, " \t\r")] == 0)
      continue;
    if (strncmp(line, "# tidemalloc-trace ", 19) == 0) {
      int ver, used = 0;
      long pid;
      unsigned long long start = 0;
      if (sscanf(line, "# tidemalloc-trace %d pid=%ld%n", &ver, &pid, &used) != 2 ||
          (ver != 1 && ver != 2) || pid <= 0 ||
          (ver == 2 && sscanf(line + used, " start=%llu", &start) != 1))
        bad_line(tr, lineno, line, "a header this tide cannot read (it reads versions 1 and 2)");
      version = ver;
      struct trace_proc *cur = proc_of(tr, pid);
      if (ver == 2) {
        if (!cur->have_start) {
          cur->have_start = 1;
          cur->start0 = start;
        } else if (start != cur->start_cur) {
          cur->exec_seen = 1; /* a forked child's header has its parent's start */
        }
        cur->start_cur = start;
      }
      continue;
    }
    if (version == 0)
      bad_line(tr, lineno, line, "not a tidemalloc trace (no '# tidemalloc-trace' header first)");
    if (line[0] == '#')
      continue; /* a comment */
    struct trace_event e;
    const char *why = "";
    char copy[512];
    util_fmt(copy, sizeof copy, "%s", line);
    if (parse_event(line, version, &e, &why) != 0)
      bad_line(tr, lineno, copy, why);
    tr->lines++;
    struct trace_proc *p = version == 1 ? proc_for_tid(tr, e.tid) : proc_of(tr, e.pid);
    /* One clock per process: a line after its process's exec counts from
     * the new image's start, which lies start_cur - start0 after the first. */
    if (p->have_start && p->start_cur > p->start0)
      e.t += p->start_cur - p->start0;
    if (e.op == OP_RESIDENT) { /* a sample, not an OS call */
      push(&p->res_pts, &p->n_res, e.t, (int64_t)e.len, 0);
      if ((int64_t)e.len > p->peak_resident)
        p->peak_resident = (int64_t)e.len;
      continue;
    }
    e.pid = p->pid;
    e.exec = p->exec_seen;
    p->exec_seen = 0;
    if (p->n == p->cap)
      p->ev = util_xrealloc(p->ev, (p->cap = p->cap ? p->cap * 2 : 1024) * sizeof *p->ev);
    p->ev[p->n++] = e;
  }
  free(text);
}

/* ---- analysis -------------------------------------------------------------------- */

static uint64_t got_bytes(const struct trace_event *e) {
  if (e->err)
    return 0;
  if (e->op == OP_BRK)
    return e->shrink ? 0 : e->len;
  if (e->op == OP_MMAP)
    return e->len;
  if (e->op == OP_MREMAP && e->len > e->old_len)
    return e->len - e->old_len;
  return 0;
}

static uint64_t returned_bytes(const struct trace_event *e) {
  if (e->err)
    return 0;
  if (e->op == OP_BRK)
    return e->shrink ? e->len : 0;
  if (e->op == OP_MUNMAP || e->op == OP_MADVISE)
    return e->len;
  if (e->op == OP_MREMAP && e->len < e->old_len)
    return e->old_len - e->len;
  return 0;
}

static void push(struct point **pts, size_t *n, uint64_t t, int64_t v, int failed) {
  if ((*n & (*n - 1)) == 0)
    *pts = util_xrealloc(*pts, (*n ? *n * 2 : 1) * sizeof **pts);
  (*pts)[(*n)++] = (struct point){t, v, failed};
}

static void analyse(struct trace_proc *p) {
  int64_t mapped = 0, height = 0;
  if (p->n) {
    p->t0 = p->ev[0].t;
    p->t1 = p->ev[p->n - 1].t;
  }
  push(&p->map_pts, &p->n_map, p->t0, 0, 0);
  for (size_t i = 0; i < p->n; i++) {
    const struct trace_event *e = &p->ev[i];
    if (e->t < p->t0)
      p->t0 = e->t;
    if (e->t > p->t1)
      p->t1 = e->t;
    int ok = e->err == 0;
    if (e->exec) {
      /* exec replaced the address space: what the old image had mapped is
       * gone, and the new one has a break of its own */
      mapped = 0;
      push(&p->map_pts, &p->n_map, e->t, 0, 0);
      if (p->have_break) {
        p->have_break = 0;
        height = 0;
      }
    }
    switch (e->op) {
    case OP_BRK:
      if (!p->have_break) {
        p->have_break = 1;
        p->first_break = !ok ? e->ret : e->shrink ? e->ret + e->len : e->ret - e->len;
        push(&p->brk_pts, &p->n_brk, e->t, 0, 0);
      }
      height = (int64_t)(e->ret - p->first_break);
      push(&p->brk_pts, &p->n_brk, e->t, height, !ok);
      if (height > p->peak_height)
        p->peak_height = height;
      break;
    case OP_MMAP:
      if (ok)
        mapped += (int64_t)e->len;
      push(&p->map_pts, &p->n_map, e->t, mapped, !ok);
      break;
    case OP_MUNMAP:
      if (ok)
        mapped -= (int64_t)e->len;
      push(&p->map_pts, &p->n_map, e->t, mapped, !ok);
      break;
    case OP_MREMAP:
      if (ok)
        mapped += (int64_t)e->len - (int64_t)e->old_len;
      push(&p->map_pts, &p->n_map, e->t, mapped, !ok);
      break;
    default:
      break;
    }
    if (mapped > p->peak_mapped)
      p->peak_mapped = mapped;
    uint64_t back = returned_bytes(e);
    if (back) {
      if ((p->n_back & (p->n_back - 1)) == 0)
        p->back = util_xrealloc(p->back, (p->n_back ? p->n_back * 2 : 1) * sizeof *p->back);
      p->back[p->n_back++] = (struct giveback){e->t, back, e->op};
      p->back_bytes[e->op] += back;
    }
  }
  p->final_height = height;
  p->final_mapped = mapped;
}

static const char *ms(uint64_t ns) {
  static char bufs[8][32];
  static unsigned next;
  char *b = bufs[next++ % 8];
  if (ns < 1000000)
    util_fmt(b, 32, "%.3f ms", (double)ns / 1e6);
  else if (ns < 10000000000ull)
    util_fmt(b, 32, "%.1f ms", (double)ns / 1e6);
  else
    util_fmt(b, 32, "%.2f s", (double)ns / 1e9);
  return b;
}

static const char *ssz(int64_t v) {
  static char bufs[8][40];
  static unsigned next;
  char *b = bufs[next++ % 8];
  char tmp[32];
  util_fmt(b, 40, "%s%s", v < 0 ? "-" : "",
           util_size(v < 0 ? (uint64_t)-v : (uint64_t)v, tmp, sizeof tmp));
  return b;
}

/* Requests grouped by (req, req_size). */
struct req_row {
  const char *req;
  uint64_t size, calls, got, returned;
};

static int by_req_key(const void *a, const void *b) {
  const struct req_row *x = a, *y = b;
  int c = strcmp(x->req, y->req);
  if (c)
    return c;
  return x->size < y->size ? -1 : x->size > y->size;
}

static int by_weight(const void *a, const void *b) {
  const struct req_row *x = a, *y = b;
  if (x->got + x->returned != y->got + y->returned)
    return x->got + x->returned < y->got + y->returned ? 1 : -1;
  if (x->calls != y->calls)
    return x->calls < y->calls ? 1 : -1;
  return by_req_key(a, b);
}

static size_t group_requests(const struct trace_proc *p, struct req_row **out, int by_kind_only) {
  struct req_row *rows = util_xmalloc((p->n ? p->n : 1) * sizeof *rows);
  for (size_t i = 0; i < p->n; i++)
    rows[i] = (struct req_row){p->ev[i].req, by_kind_only ? 0 : p->ev[i].req_size, 1,
                               got_bytes(&p->ev[i]), returned_bytes(&p->ev[i])};
  qsort(rows, p->n, sizeof *rows, by_req_key);
  size_t n = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (n && by_req_key(&rows[n - 1], &rows[i]) == 0) {
      rows[n - 1].calls++;
      rows[n - 1].got += rows[i].got;
      rows[n - 1].returned += rows[i].returned;
    } else {
      rows[n++] = rows[i];
    }
  }
  qsort(rows, n, sizeof *rows, by_weight);
  *out = rows;
  return n;
}

static void print_full(FILE *out, const struct trace_proc *p) {
  uint64_t calls[OP_COUNT + 1] = {0}, failed[OP_COUNT + 1] = {0}, bytes[OP_COUNT + 1] = {0};
  /* Rows: brk grow, brk shrink, mmap, munmap, mremap, madvise. */
  static const char *const rows[] = {"brk grow", "brk shrink",  "mmap",
                                     "munmap",   "mremap (to)", "madvise"};
  uint64_t returned = 0;
  for (size_t i = 0; i < p->n; i++) {
    const struct trace_event *e = &p->ev[i];
    int row = e->op == OP_BRK ? e->shrink : e->op + 1;
    calls[row]++;
    if (e->err)
      failed[row]++;
    else
      bytes[row] += e->len;
    returned += returned_bytes(e);
  }
  fprintf(out, "OS calls         %8s %8s %12s\n", "calls", "failed", "bytes");
  for (int r = 0; r < 6; r++)
    fprintf(out, "  %-14s %8s %8s %12s\n", rows[r], util_num(calls[r]), util_num(failed[r]),
            util_sz(bytes[r]));
  fprintf(out, "\n");
  if (p->have_break)
    fprintf(out, "break            starts at 0x%llx; peak height %s above it, %s at the end\n",
            (unsigned long long)p->first_break, ssz(p->peak_height), ssz(p->final_height));
  else
    fprintf(out, "break            never moved (no brk calls)\n");
  fprintf(out, "mapped           peak %s, %s at the end (mmap - munmap +/- mremap)\n",
          ssz(p->peak_mapped), ssz(p->final_mapped));
  fprintf(out, "given back       %s: break lowered %s, unmapped %s, madvised %s\n",
          util_sz(returned), util_sz(bytes[1]), util_sz(bytes[3]), util_sz(bytes[5]));
  if (p->n_res)
    fprintf(out, "resident         peak %s, %s at the last of %zu samples (the kernel's count)\n",
            ssz(p->peak_resident), ssz(p->res_pts[p->n_res - 1].v), p->n_res);

  /* Failures, the first few. */
  uint64_t nfail = 0;
  for (int r = 0; r < 6; r++)
    nfail += failed[r];
  if (nfail) {
    fprintf(out, "failures         %s in all; the first:\n", util_num(nfail));
    int shown = 0;
    for (size_t i = 0; i < p->n && shown < 5; i++) {
      const struct trace_event *e = &p->ev[i];
      if (!e->err)
        continue;
      shown++;
      fprintf(out, "  at %-11s %s%s %s failed: %s (errno %d), for %s(%llu)\n", ms(e->t - p->t0),
              op_names[e->op], e->op == OP_BRK ? (e->shrink ? " shrink" : " grow") : "",
              util_sz(e->len), strerror(e->err), e->err, e->req, (unsigned long long)e->req_size);
    }
  }

  struct req_row *rr;
  size_t n = group_requests(p, &rr, 1);
  fprintf(out, "\nOS calls by the request that caused them:\n");
  fprintf(out, "  %-16s %10s %12s %12s\n", "request", "OS calls", "got", "gave back");
  for (size_t i = 0; i < n; i++)
    fprintf(out, "  %-16s %10s %12s %12s\n", rr[i].req, util_num(rr[i].calls), util_sz(rr[i].got),
            util_sz(rr[i].returned));
  free(rr);
  n = group_requests(p, &rr, 0);
  size_t shown = n < 10 ? n : 10;
  fprintf(out, "\nTop %zu requests (by bytes moved) that caused OS calls:\n", shown);
  fprintf(out, "  %-16s %14s %10s %12s %12s\n", "request", "size", "OS calls", "got", "gave back");
  for (size_t i = 0; i < shown; i++) {
    char req[40];
    util_fmt(req, sizeof req, "%s", rr[i].req);
    fprintf(out, "  %-16s %14s %10s %12s %12s\n", req, util_num(rr[i].size), util_num(rr[i].calls),
            util_sz(rr[i].got), util_sz(rr[i].returned));
  }
  free(rr);
}

static void print_process_line(FILE *out, const struct trace_proc *q) {
  fprintf(out, "  pid %-8ld %8s OS calls over %s; break peak +%s, mapped peak %s, gave back %s\n",
          q->pid, util_num(q->n), ms(q->t1 - q->t0), ssz(q->peak_height), ssz(q->peak_mapped),
          util_sz(q->back_bytes[OP_BRK] + q->back_bytes[OP_MUNMAP] + q->back_bytes[OP_MREMAP] +
                  q->back_bytes[OP_MADVISE]));
}

int cmd_report(int argc, char **argv) {
  const char *svg = NULL, *path = NULL, *pid_arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (util_is_help(a)) {
      report_usage(stdout);
      return 0;
    }
    if (util_opt_value(argc, argv, &i, "--svg", NULL, &svg))
      continue;
    if (util_opt_value(argc, argv, &i, "--pid", NULL, &pid_arg))
      continue;
    if (strcmp(a, "--") == 0 && i + 1 < argc && !path) {
      path = argv[++i];
      continue;
    }
    if (a[0] == '-' && a[1])
      util_usage_error("report: unknown option '%s' (try 'tide report --help')", a);
    if (path)
      util_usage_error("report: one trace at a time ('%s' and '%s')", path, a);
    path = a;
  }
  if (!path)
    util_usage_error("report: which trace? (usage: tide report TRACE [--pid N] [--svg FILE])");
  long want_pid = 0;
  if (pid_arg) {
    char *end;
    errno = 0;
    want_pid = strtol(pid_arg, &end, 10);
    if (errno || *end || end == pid_arg || want_pid <= 0)
      util_usage_error("report: --pid takes a process id (a number above 0), not '%s'", pid_arg);
  }

  struct trace tr;
  read_trace(path, &tr);
  if (tr.n == 0)
    util_die("report: %s: no process header, not a tidemalloc trace", tr.path);
  for (size_t i = 0; i < tr.n; i++)
    analyse(&tr.p[i]);
  size_t chosen = 0;
  if (pid_arg) {
    struct trace_proc *q = find_proc(&tr, want_pid);
    if (!q) {
      char pids[200] = "";
      size_t used = 0;
      for (size_t i = 0; i < tr.n && used + 24 < sizeof pids; i++)
        used += (size_t)util_fmt(pids + used, sizeof pids - used, "%s%ld", i ? ", " : "",
                                 tr.p[i].pid);
      util_die("report: %s: no process %ld in this trace (its pids: %s%s)", tr.path, want_pid, pids,
               tr.n * 8 > sizeof pids ? ", ..." : "");
    }
    chosen = (size_t)(q - tr.p);
  }
  struct trace_proc *p = &tr.p[chosen];

  if (!svg || strcmp(svg, "-") != 0) {
    FILE *out = stdout;
    fprintf(out, "== tidemalloc trace %s ==\n", tr.path);
    fprintf(out, "%zu process%s in this trace\n", tr.n, tr.n == 1 ? "" : "es");
    fprintf(out, "pid %ld: ", p->pid);
    fprintf(out, "%s OS calls over %s (%s to %s after tidemalloc started)\n", util_num(p->n),
            ms(p->t1 - p->t0), ms(p->t0), ms(p->t1));
    if (p->n == 0) {
      fprintf(out, "no OS calls recorded\n");
    } else {
      fputc('\n', out);
      print_full(out, p);
    }
    if (tr.n > 1) {
      fprintf(out, "\n%zu %sprocess%s in this trace:\n", tr.n - 1, pid_arg ? "other " : "more ",
              tr.n > 2 ? "es" : "");
      size_t shown = 0;
      for (size_t i = 0; i < tr.n && shown < 20; i++)
        if (i != chosen) {
          print_process_line(out, &tr.p[i]);
          shown++;
        }
      if (tr.n - 1 > shown)
        fprintf(out, "  ... and %zu more (tide report --pid N shows one)\n", tr.n - 1 - shown);
    }
  }
  if (svg) {
    struct strbuf sb = {0};
    if (pid_arg)
      report_svg(p, 1, tr.path, &sb);
    else
      report_svg(tr.p, tr.n, tr.path, &sb);
    sb_write_file(&sb, svg);
    sb_free(&sb);
    if (strcmp(svg, "-") != 0)
      printf("\ntimeline written to %s\n", svg);
  }
  for (size_t i = 0; i < tr.n; i++) {
    free(tr.p[i].ev);
    free(tr.p[i].brk_pts);
    free(tr.p[i].map_pts);
    free(tr.p[i].res_pts);
    free(tr.p[i].back);
  }
  free(tr.p);
  return 0;
}

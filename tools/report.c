/* SPDX-License-Identifier: MIT */
/* report.c — `tide report TRACE`: read a trace (docs/trace-format.md) and say
 * what OS calls tidemalloc made, what they cost, what came back, and which
 * requests caused them.
 *
 * Several processes may share one trace file (fork, or exec of programs
 * that load the library): each writes a header line with its pid first.
 * A line's process is found from its tid: the header whose pid is the
 * largest at or below the tid (thread ids are handed out in increasing
 * order, after their process's pid).  The first process is summarised in
 * full and charted; the others get one line each.
 */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void report_usage(FILE *f) {
  fputs("usage: tide report TRACE [--svg FILE]\n"
        "\n"
        "Summarise a trace written by tidemalloc (TIDEMALLOC_OPTIONS=trace=FILE, or\n"
        "'tide run --trace FILE'; '-' reads standard input): the OS calls per kind with\n"
        "bytes and failures, the time covered, the peak break height above the first\n"
        "break, the peak of mapped bytes, the bytes given back, and the requests that\n"
        "caused the most OS calls.\n"
        "\n"
        "options:\n"
        "  --svg FILE    also draw a timeline of the break height and the mapped bytes\n"
        "                as SVG to FILE ('-' for stdout, and then no summary is printed)\n"
        "  -h, --help    show this help and exit\n",
        f);
}

static const char *const op_names[OP_COUNT] = {"brk", "mmap", "munmap", "mremap", "madvise"};

/* ---- reading ------------------------------------------------------------------- */

struct trace {
  struct trace_proc *p;
  size_t n;
  size_t lines, bad;
};

static struct trace_proc *new_proc(struct trace *tr, long pid) {
  tr->p = util_xrealloc(tr->p, (tr->n + 1) * sizeof *tr->p);
  struct trace_proc *p = &tr->p[tr->n++];
  memset(p, 0, sizeof *p);
  p->pid = pid;
  return p;
}

static struct trace_proc *proc_for_tid(struct trace *tr, long tid) {
  struct trace_proc *best = NULL;
  for (size_t i = 0; i < tr->n; i++)
    if (tr->p[i].pid <= tid && (!best || tr->p[i].pid >= best->pid))
      best = &tr->p[i];
  if (!best)
    best = tr->n ? &tr->p[0] : new_proc(tr, 0);
  return best;
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

/* Parses one event line; returns 0, or -1 if malformed. */
static int parse_event(char *line, struct trace_event *e, const char **why) {
  char *f[11];
  int nf = 0;
  for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
    if (nf == 11)
      break;
    f[nf++] = tok;
  }
  if (nf != 10) {
    *why = "not ten fields";
    return -1;
  }
  memset(e, 0, sizeof *e);
  uint64_t tid, err;
  if (parse_u64(f[0], 10, &e->t) || parse_u64(f[1], 10, &tid) || parse_u64(f[3], 16, &e->addr) ||
      parse_u64(f[4], 10, &e->len) || parse_u64(f[5], 16, &e->ret) || parse_u64(f[6], 10, &err) ||
      parse_u64(f[9], 10, &e->req_size)) {
    *why = "a number field does not parse";
    return -1;
  }
  e->tid = (long)tid;
  e->err = (int)err;
  e->op = -1;
  for (int k = 0; k < OP_COUNT; k++)
    if (strcmp(f[2], op_names[k]) == 0)
      e->op = k;
  if (e->op < 0) {
    *why = "unknown op";
    return -1;
  }
  if (e->op == OP_BRK) {
    if (strcmp(f[7], "grow") && strcmp(f[7], "shrink")) {
      *why = "brk aux is not grow or shrink";
      return -1;
    }
    e->shrink = strcmp(f[7], "shrink") == 0;
  } else if (e->op == OP_MREMAP && parse_u64(f[7], 10, &e->old_len)) {
    *why = "mremap aux is not the old length";
    return -1;
  }
  util_fmt(e->req, sizeof e->req, "%s", f[8]);
  return 0;
}

static void read_trace(const char *path, struct trace *tr) {
  size_t len;
  char *text = util_read_file(path, &len);
  if (!text)
    util_die("report: cannot read '%s': %s", path, strerror(errno));
  memset(tr, 0, sizeof *tr);
  size_t lineno = 0;
  for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    if (nl)
      *nl = 0;
    lineno++;
    if (line[strspn(line, " \t\r")] == 0)
      continue;
    if (line[0] == '#') {
      int ver;
      long pid;
      if (sscanf(line, "# tidemalloc-trace %d pid=%ld", &ver, &pid) == 2) {
        if (ver != 1 && tr->n == 0)
          util_warn("report: %s: trace version %d; this tide reads version 1", path, ver);
        new_proc(tr, pid);
      }
      continue;
    }
    struct trace_event e;
    const char *why = "";
    if (parse_event(line, &e, &why) != 0) {
      if (++tr->bad <= 3)
        util_warn("report: %s:%zu: malformed line skipped (%s)", path, lineno, why);
      continue;
    }
    tr->lines++;
    struct trace_proc *p = proc_for_tid(tr, e.tid);
    if (p->n == p->cap)
      p->ev = util_xrealloc(p->ev, (p->cap = p->cap ? p->cap * 2 : 1024) * sizeof *p->ev);
    p->ev[p->n++] = e;
  }
  if (tr->bad > 3)
    util_warn("report: %s: %zu malformed lines skipped in all", path, tr->bad);
  free(text);
}

/* ---- analysis -------------------------------------------------------------------- */

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

int cmd_report(int argc, char **argv) {
  const char *svg = NULL, *path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (util_is_help(a)) {
      report_usage(stdout);
      return 0;
    }
    if (util_opt_value(argc, argv, &i, "--svg", NULL, &svg))
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
    util_usage_error("report: which trace? (usage: tide report TRACE [--svg FILE])");

  struct trace tr;
  read_trace(path, &tr);
  if (tr.n == 0)
    new_proc(&tr, 0);
  for (size_t i = 0; i < tr.n; i++)
    analyse(&tr.p[i]);
  struct trace_proc *p = &tr.p[0];

  if (!svg || strcmp(svg, "-") != 0) {
    FILE *out = stdout;
    fprintf(out, "== tidemalloc trace %s ==\n", strcmp(path, "-") ? path : "(stdin)");
    if (p->pid)
      fprintf(out, "pid %ld: ", p->pid);
    fprintf(out, "%s OS calls over %s (%s to %s after tidemalloc started)\n", util_num(p->n),
            ms(p->t1 - p->t0), ms(p->t0), ms(p->t1));
    if (tr.lines == 0) {
      fprintf(out, "no OS calls recorded%s\n", tr.bad ? " (every line was malformed)" : "");
    } else {
      fputc('\n', out);
      print_full(out, p);
    }
    if (tr.n > 1) {
      fprintf(out, "\n%zu more process%s in this trace:\n", tr.n - 1, tr.n > 2 ? "es" : "");
      for (size_t i = 1; i < tr.n && i <= 20; i++) {
        const struct trace_proc *q = &tr.p[i];
        fprintf(out, "  pid %-8ld %8s OS calls over %s; break peak +%s, mapped peak %s\n", q->pid,
                util_num(q->n), ms(q->t1 - q->t0), ssz(q->peak_height), ssz(q->peak_mapped));
      }
      if (tr.n > 21)
        fprintf(out, "  ... and %zu more\n", tr.n - 21);
    }
  }
  if (svg) {
    struct strbuf sb = {0};
    report_svg(p, strcmp(path, "-") ? path : "(stdin)", tr.n, &sb);
    sb_write_file(&sb, svg);
    sb_free(&sb);
    if (strcmp(svg, "-") != 0)
      printf("\ntimeline written to %s\n", svg);
  }
  for (size_t i = 0; i < tr.n; i++) {
    free(tr.p[i].ev);
    free(tr.p[i].brk_pts);
    free(tr.p[i].map_pts);
  }
  free(tr.p);
  return 0;
}

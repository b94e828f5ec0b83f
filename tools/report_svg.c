/* SPDX-License-Identifier: MIT */
/* report_svg.c — `tide report --svg`: for each process of the trace, step
 * plots over time of the break height above the first break, of the bytes
 * tidemalloc has mapped and of what of its memory is resident (the samples
 * the trace carries), and a strip of the memory it gave back (madvise,
 * munmap, a lowered break), one tick per give-back.  Small multiples: one
 * row per process, the largest few by OS calls, the rest summed in a line. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 900.0
#define LEFT 96.0
#define RIGHT 40.0
#define PANEL_H 200.0    /* one process */
#define PANEL_H_ROW 110.0 /* one of several */
#define STRIP_H 36.0      /* the give-back ticks */
#define MAX_ROWS 6
#define PLOT_W (W - LEFT - RIGHT)

/* A round step near range/target: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int target) {
  double raw = range / target, mag = 1.0;
  if (raw <= 0)
    return 1.0;
  while (mag * 10.0 <= raw)
    mag *= 10.0;
  while (mag > raw)
    mag /= 10.0;
  double f = raw / mag;
  return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

struct axis_unit {
  double div;
  const char *name;
};

static struct axis_unit time_unit(uint64_t span) {
  if (span < 1000000)
    return (struct axis_unit){1e3, "µs"};
  if (span < 10000000000ull)
    return (struct axis_unit){1e6, "ms"};
  return (struct axis_unit){1e9, "s"};
}

static struct axis_unit byte_unit(double max) {
  if (max < 1024.0)
    return (struct axis_unit){1.0, "B"};
  if (max < 1048576.0)
    return (struct axis_unit){1024.0, "KiB"};
  if (max < 1073741824.0)
    return (struct axis_unit){1048576.0, "MiB"};
  return (struct axis_unit){1073741824.0, "GiB"};
}

static void fmt_tick(char *buf, size_t len, double v, double step, const char *unit) {
  if (step >= 1.0)
    util_fmt(buf, len, "%.0f %s", v, unit);
  else if (step >= 0.1)
    util_fmt(buf, len, "%.1f %s", v, unit);
  else if (step >= 0.01)
    util_fmt(buf, len, "%.2f %s", v, unit);
  else
    util_fmt(buf, len, "%.3f %s", v, unit);
}

struct panel {
  double top, h;
  uint64_t t0, t1;
  double vmin, vmax; /* bytes */
};

static double px(const struct panel *pn, uint64_t t) {
  if (pn->t1 <= pn->t0)
    return LEFT;
  return LEFT + PLOT_W * (double)(t - pn->t0) / (double)(pn->t1 - pn->t0);
}

static double py(const struct panel *pn, double v) {
  return pn->top + pn->h - pn->h * (v - pn->vmin) / (pn->vmax - pn->vmin);
}

static void draw_time_axis(struct strbuf *sb, const struct panel *pn) {
  char buf[64];
  struct axis_unit tu = time_unit(pn->t1 - pn->t0);
  double span = (double)(pn->t1 - pn->t0) / tu.div, tstep = nice_step(span > 0 ? span : 1, 8);
  for (double t = 0; t <= span + tstep / 1000; t += tstep) {
    double x = px(pn, pn->t0 + (uint64_t)(t * tu.div));
    if (span <= 0)
      x = LEFT;
    svg_line(sb, x, pn->top + pn->h, x, pn->top + pn->h + 4, "#666666", 1, NULL);
    fmt_tick(buf, sizeof buf, t, tstep, tu.name);
    svg_text(sb, x, pn->top + pn->h + 16, "middle", "axis", buf);
    if (span <= 0)
      break;
  }
  svg_text(sb, LEFT + PLOT_W / 2, pn->top + pn->h + 32, "middle", "axis",
           pn->t0 == 0 ? "time since the process started using tidemalloc"
                       : "time since the process's first OS call");
}

static void draw_panel(struct strbuf *sb, struct panel *pn, const char *title, const char *colour,
                       const struct point *pts, size_t n, int64_t peak, const char *empty) {
  /* Axis ranges. */
  double lo = 0, hi = 0;
  for (size_t i = 0; i < n; i++) {
    if (pts[i].v < lo)
      lo = (double)pts[i].v;
    if (pts[i].v > hi)
      hi = (double)pts[i].v;
  }
  struct axis_unit bu = byte_unit(hi - lo > 0 ? hi - lo : 1);
  double ystep = nice_step((hi - lo > 0 ? hi - lo : bu.div) / bu.div, 5);
  pn->vmin = lo < 0 ? -ystep * bu.div * (double)(long long)(-lo / bu.div / ystep + 1) : 0;
  pn->vmax = ((double)(long long)(hi / bu.div / ystep) + 1) * ystep * bu.div;

  svg_text(sb, LEFT, pn->top - 12, NULL, "label", title);
  svg_rect(sb, LEFT, pn->top, PLOT_W, pn->h, "#fbfbfb", "#999999");
  char buf[64];
  for (double v = pn->vmin / bu.div; v <= pn->vmax / bu.div + ystep / 2; v += ystep) {
    double y = py(pn, v * bu.div);
    svg_line(sb, LEFT - 4, y, LEFT + PLOT_W, y, "#dddddd", 1, NULL);
    fmt_tick(buf, sizeof buf, v, ystep, bu.name);
    svg_text(sb, LEFT - 8, y + 4, "end", "axis", buf);
  }
  draw_time_axis(sb, pn);
  if (n < 2) {
    svg_text(sb, LEFT + PLOT_W / 2, pn->top + pn->h / 2, "middle", "gap", empty);
    return;
  }

  /* The step line; several points in one pixel column become one vertical
   * stroke from their lowest to their highest value. */
  sb_printf(sb, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" d=\"M%.1f %.1f", colour,
            px(pn, pn->t0), py(pn, (double)pts[0].v));
  double col = -1, cmin = 0, cmax = 0, clast = 0;
  for (size_t i = 1; i <= n; i++) {
    double x = i < n ? (double)(long long)(px(pn, pts[i].t) * 2) / 2 : -2;
    if (x != col && col >= 0) {
      sb_printf(sb, " H%.1f V%.1f V%.1f V%.1f", col, py(pn, cmin), py(pn, cmax), py(pn, clast));
    }
    if (i == n)
      break;
    double v = (double)pts[i].v;
    if (x != col) {
      col = x;
      cmin = cmax = v;
    }
    if (v < cmin)
      cmin = v;
    if (v > cmax)
      cmax = v;
    clast = v;
  }
  sb_printf(sb, " H%.1f\"/>\n", LEFT + PLOT_W);

  int fails = 0;
  for (size_t i = 0; i < n; i++) {
    if (!pts[i].failed || fails++ > 200)
      continue;
    sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d00000\"/>\n",
              px(pn, pts[i].t), py(pn, (double)pts[i].v));
  }
  double yp = py(pn, (double)peak);
  svg_line(sb, LEFT, yp, LEFT + PLOT_W, yp, colour, 0.8, "4 3");
  char tmp[32];
  util_fmt(buf, sizeof buf, "peak %s", util_size(peak > 0 ? (uint64_t)peak : 0, tmp, sizeof tmp));
  svg_text(sb, LEFT + PLOT_W - 4, yp - 4, "end", "axis", buf);
}

static const char *giveback_name(int op) {
  return op == OP_MADVISE  ? "madvise"
         : op == OP_MUNMAP ? "munmap"
         : op == OP_BRK    ? "brk shrink"
                           : "mremap shrink";
}

static const char *giveback_colour(int op) {
  return op == OP_MADVISE ? "#2a9d8f" : op == OP_MUNMAP ? "#8338ec" : op == OP_BRK ? "#e76f51"
                                                                                  : "#f4a261";
}

/* One tick per give-back, as tall as the square root of its bytes against
 * the largest (a 4 KiB madvise stays visible beside a 64 MiB munmap).
 * Give-backs of one kind in one pixel column become one tick of their sum. */
static void draw_givebacks(struct strbuf *sb, struct panel *pn, const struct trace_proc *p) {
  char title[300], a[32], b[32], c[32], d[32];
  util_fmt(title, sizeof title, "given back to the OS: madvise %s, munmap %s, break lowered %s, "
           "mremap shrink %s",
           util_size(p->back_bytes[OP_MADVISE], a, sizeof a),
           util_size(p->back_bytes[OP_MUNMAP], b, sizeof b),
           util_size(p->back_bytes[OP_BRK], c, sizeof c),
           util_size(p->back_bytes[OP_MREMAP], d, sizeof d));
  svg_text(sb, LEFT, pn->top - 12, NULL, "label", title);
  svg_rect(sb, LEFT, pn->top, PLOT_W, pn->h, "#fbfbfb", "#999999");
  draw_time_axis(sb, pn);
  if (p->n_back == 0) {
    svg_text(sb, LEFT + PLOT_W / 2, pn->top + pn->h / 2 + 4, "middle", "gap",
             "nothing was given back");
    return;
  }
  uint64_t most = 1;
  for (size_t i = 0; i < p->n_back; i++)
    if (p->back[i].len > most)
      most = p->back[i].len;
  double col = -1;
  int op = -1;
  uint64_t sum = 0;
  for (size_t i = 0; i <= p->n_back; i++) {
    double x = i < p->n_back ? floor(px(pn, p->back[i].t) * 2) / 2 : -2;
    int o = i < p->n_back ? p->back[i].op : -1;
    if ((x != col || o != op) && sum) {
      double hgt = pn->h * sqrt((double)(sum < most ? sum : most) / (double)most);
      if (hgt < 2)
        hgt = 2;
      sb_printf(sb,
                "<line class=\"giveback\" data-op=\"%s\" data-bytes=\"%llu\" x1=\"%.1f\" "
                "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.2\"/>\n",
                giveback_name(op), (unsigned long long)sum, col, pn->top + pn->h, col,
                pn->top + pn->h - hgt, giveback_colour(op));
      sum = 0;
    }
    if (i == p->n_back)
      break;
    col = x;
    op = o;
    sum += p->back[i].len;
  }
}

/* One process: its break and mapped panels and its give-back strip, from
 * top; returns the height it took. */
static double draw_process(struct strbuf *sb, const struct trace_proc *p, double top, double h) {
  /* Time runs from the start of tidemalloc in the process (t_ns = 0). */
  uint64_t origin = p->t0 < p->t1 / 4 + 1 ? 0 : p->t0;
  char t1[200];
  if (p->have_break)
    util_fmt(t1, sizeof t1, "pid %ld: break height above the first break (0x%llx), from brk",
             p->pid, (unsigned long long)p->first_break);
  else
    util_fmt(t1, sizeof t1, "pid %ld: break height (no brk calls)", p->pid);
  struct panel a = {top, h, origin, p->t1, 0, 1};
  draw_panel(sb, &a, t1, "#e76f51", p->brk_pts, p->n_brk, p->peak_height, "the break never moved");
  char t2[200];
  util_fmt(t2, sizeof t2, "pid %ld: bytes mapped by tidemalloc (mmap - munmap +/- mremap)", p->pid);
  struct panel b = {top + h + 70, h, origin, p->t1, 0, 1};
  draw_panel(sb, &b, t2, "#264653", p->map_pts, p->n_map, p->peak_mapped, "nothing was mapped");
  char t3[200];
  util_fmt(t3, sizeof t3, "pid %ld: resident in tidemalloc's memory (the kernel's count, mincore, "
           "sampled after OS calls)", p->pid);
  struct panel r = {top + 2 * (h + 70), h, origin, p->t1, 0, 1};
  draw_panel(sb, &r, t3, "#2a9d8f", p->res_pts, p->n_res, p->peak_resident,
             "no samples (a trace of tidemalloc before 0.1.0, or too short a run)");
  struct panel c = {top + 3 * (h + 70), STRIP_H, origin, p->t1, 0, 1};
  draw_givebacks(sb, &c, p);
  return 3 * (h + 70) + STRIP_H + 70;
}

static int by_calls(const void *x, const void *y) {
  const struct trace_proc *const *a = x, *const *b = y;
  if ((*a)->n != (*b)->n)
    return (*a)->n < (*b)->n ? 1 : -1;
  return *a < *b ? -1 : *a > *b; /* then in the trace's order */
}

static int by_order(const void *x, const void *y) {
  const struct trace_proc *const *a = x, *const *b = y;
  return *a < *b ? -1 : *a > *b;
}

void report_svg(const struct trace_proc *procs, size_t nprocs, const char *trace_name,
                struct strbuf *sb) {
  /* The largest few by OS calls, drawn in the trace's order. */
  const struct trace_proc **rows = util_xmalloc((nprocs ? nprocs : 1) * sizeof *rows);
  for (size_t i = 0; i < nprocs; i++)
    rows[i] = &procs[i];
  qsort(rows, nprocs, sizeof *rows, by_calls);
  size_t nrows = nprocs < MAX_ROWS ? nprocs : MAX_ROWS;
  qsort(rows, nrows, sizeof *rows, by_order);
  uint64_t rest_calls = 0, rest_back = 0;
  for (size_t i = nrows; i < nprocs; i++) {
    rest_calls += rows[i]->n;
    for (int op = 0; op < OP_COUNT; op++)
      rest_back += rows[i]->back_bytes[op];
  }
  double h = nprocs > 1 ? PANEL_H_ROW : PANEL_H;
  double row_h = 3 * (h + 70) + STRIP_H + 70 + 30;
  double height = 60 + 40 + row_h * (double)nrows + (nrows < nprocs ? 30 : 0) + 20;
  char title[300];
  const char *base = strrchr(trace_name, '/');
  util_fmt(title, sizeof title, "tidemalloc trace %s: where memory came from over time",
           base ? base + 1 : trace_name);
  svg_begin(sb, (int)W, (int)height, title);
  svg_text(sb, LEFT, 26, NULL, "title", title);
  uint64_t calls = 0;
  for (size_t i = 0; i < nprocs; i++)
    calls += procs[i].n;
  char sub[300];
  util_fmt(sub, sizeof sub, "%zu process%s, %s OS calls; red dots: failed calls", nprocs,
           nprocs == 1 ? "" : "es", util_num(calls));
  svg_text(sb, LEFT, 44, NULL, "note", sub);
  double top = 100;
  for (size_t i = 0; i < nrows; i++) {
    sb_printf(sb, "<g class=\"process\" data-pid=\"%ld\">\n", rows[i]->pid);
    top += draw_process(sb, rows[i], top, h) + 30;
    sb_puts(sb, "</g>\n");
  }
  if (nrows < nprocs) {
    char more[300], tmp[32];
    util_fmt(more, sizeof more,
             "and %zu more process%s, not drawn: %s OS calls, %s given back in all "
             "(tide report --pid N --svg FILE draws one)",
             nprocs - nrows, nprocs - nrows == 1 ? "" : "es", util_num(rest_calls),
             util_size(rest_back, tmp, sizeof tmp));
    svg_text(sb, LEFT, top, NULL, "note", more);
  }
  svg_end(sb);
  free(rows);
}

/* SPDX-License-Identifier: MIT */
/* report_svg.c — `tide report --svg`: two step plots over time, the break
 * height above the first break and the bytes tidemalloc has mapped. */
#include "report.h"

#include <string.h>

#define W 900.0
#define LEFT 96.0
#define RIGHT 40.0
#define PANEL_H 200.0
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
  double top;
  uint64_t t0, t1;
  double vmin, vmax; /* bytes */
};

static double px(const struct panel *pn, uint64_t t) {
  if (pn->t1 <= pn->t0)
    return LEFT;
  return LEFT + PLOT_W * (double)(t - pn->t0) / (double)(pn->t1 - pn->t0);
}

static double py(const struct panel *pn, double v) {
  return pn->top + PANEL_H - PANEL_H * (v - pn->vmin) / (pn->vmax - pn->vmin);
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
  svg_rect(sb, LEFT, pn->top, PLOT_W, PANEL_H, "#fbfbfb", "#999999");
  char buf[64];
  for (double v = pn->vmin / bu.div; v <= pn->vmax / bu.div + ystep / 2; v += ystep) {
    double y = py(pn, v * bu.div);
    svg_line(sb, LEFT - 4, y, LEFT + PLOT_W, y, "#dddddd", 1, NULL);
    fmt_tick(buf, sizeof buf, v, ystep, bu.name);
    svg_text(sb, LEFT - 8, y + 4, "end", "axis", buf);
  }
  struct axis_unit tu = time_unit(pn->t1 - pn->t0);
  double span = (double)(pn->t1 - pn->t0) / tu.div, tstep = nice_step(span > 0 ? span : 1, 8);
  for (double t = 0; t <= span + tstep / 1000; t += tstep) {
    double x = px(pn, pn->t0 + (uint64_t)(t * tu.div));
    if (span <= 0)
      x = LEFT;
    svg_line(sb, x, pn->top + PANEL_H, x, pn->top + PANEL_H + 4, "#666666", 1, NULL);
    fmt_tick(buf, sizeof buf, t, tstep, tu.name);
    svg_text(sb, x, pn->top + PANEL_H + 16, "middle", "axis", buf);
    if (span <= 0)
      break;
  }
  svg_text(sb, LEFT + PLOT_W / 2, pn->top + PANEL_H + 32, "middle", "axis",
           pn->t0 == 0 ? "time since the process started using tidemalloc"
                       : "time since the first OS call in the trace");
  if (n < 2) {
    svg_text(sb, LEFT + PLOT_W / 2, pn->top + PANEL_H / 2, "middle", "gap", empty);
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

void report_svg(const struct trace_proc *p, const char *trace_name, size_t nprocs,
                struct strbuf *sb) {
  double height = 60 + 40 + PANEL_H + 70 + PANEL_H + 80;
  char title[300];
  const char *base = strrchr(trace_name, '/');
  util_fmt(title, sizeof title, "tidemalloc trace %s: where memory came from over time",
           base ? base + 1 : trace_name);
  svg_begin(sb, (int)W, (int)height, title);
  svg_text(sb, LEFT, 26, NULL, "title", title);
  char sub[300];
  util_fmt(sub, sizeof sub, "pid %ld, %s OS calls%s; red dots: failed calls", p->pid,
           util_num(p->n), nprocs > 1 ? " (first process of the trace only)" : "");
  svg_text(sb, LEFT, 44, NULL, "note", sub);

  /* Time runs from the start of tidemalloc in the process (t_ns = 0). */
  uint64_t origin = p->t0 < p->t1 / 4 + 1 ? 0 : p->t0;
  struct panel a = {100, origin, p->t1, 0, 1};
  char t1[200];
  if (p->have_break)
    util_fmt(t1, sizeof t1, "break height above the first break (0x%llx), from brk",
             (unsigned long long)p->first_break);
  else
    util_fmt(t1, sizeof t1, "break height (no brk calls)");
  draw_panel(sb, &a, t1, "#e76f51", p->brk_pts, p->n_brk, p->peak_height, "the break never moved");

  struct panel b = {100 + PANEL_H + 70, origin, p->t1, 0, 1};
  draw_panel(sb, &b, "bytes mapped by tidemalloc (mmap - munmap +/- mremap)", "#264653", p->map_pts,
             p->n_map, p->peak_mapped, "nothing was mapped");
  svg_end(sb);
}

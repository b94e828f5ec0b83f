/* SPDX-License-Identifier: MIT */
/* map_draw.c — draw `tide map`'s regions as text (the seed's column of
 * boxes, high addresses on top) and as SVG. */
#include "map.h"

#include <string.h>

#define TEXT_INNER 66              /* characters between the walls of a text box */
#define USER_TOP 0x800000000000ull /* end of x86-64 user space (4-level paging) */

static const struct {
  const char *name, *fill;
} kinds[RK_COUNT] = {
    [RK_STACK] = {"stack", "#cdb4db"},
    [RK_KERNEL] = {"kernel (vdso, vvar)", "#e0e0e0"},
    [RK_EXE] = {"executable (text, data, bss)", "#90caf9"},
    [RK_LIB] = {"shared library", "#bbdefb"},
    [RK_TIDELIB] = {"libtidemalloc", "#ffd6a5"},
    [RK_FILE] = {"file mapping", "#dcedc8"},
    [RK_HEAP] = {"brk heap (not tidemalloc's)", "#ffe0b2"},
    [RK_TIDE_HEAP] = {"tidemalloc brk heap", "#f4a261"},
    [RK_ANON] = {"anonymous mapping", "#f5f5f5"},
    [RK_TIDE_SEG] = {"tidemalloc segments (mmap)", "#e76f51"},
    [RK_TIDE_LARGE] = {"tidemalloc large blocks (mmap)", "#e9c46a"},
    [RK_TIDE_META] = {"tidemalloc metadata", "#f6bd60"},
};

const char *map_kind_name(enum region_kind k) { return kinds[k].name; }

/* Fits s into width characters: a path loses its start (after any words
 * before it: "file .../gconv/gconv-modules.cache"), other text its end. */
static void fit(char *out, size_t outlen, const char *s, size_t width) {
  size_t n = strlen(s);
  const char *path = s[0] == '/' ? s : strstr(s, " /");
  if (path && path != s)
    path++;
  if (n <= width) {
    util_fmt(out, outlen, "%s", s);
  } else if (path && (size_t)(path - s) + 8 < width) {
    size_t keep = width - (size_t)(path - s) - 3;
    util_fmt(out, outlen, "%.*s...%s", (int)(path - s), s, s + n - keep);
  } else {
    util_fmt(out, outlen, "%.*s...", (int)(width - 3), s);
  }
}

static void tide_totals(const struct address_map *am, uint64_t *heap, uint64_t *seg, int *nseg,
                        uint64_t *large, int *nlarge) {
  *heap = *seg = *large = 0;
  *nseg = *nlarge = 0;
  for (size_t i = 0; i < am->n; i++) {
    const struct region *r = &am->r[i];
    if (r->kind == RK_TIDE_HEAP)
      *heap += r->end - r->start;
    if (r->kind == RK_TIDE_SEG)
      *seg += r->end - r->start, *nseg += r->nsegs;
    if (r->kind == RK_TIDE_LARGE)
      *large += r->end - r->start, *nlarge += r->nsegs;
  }
}

static void text_border(FILE *out, uint64_t addr) {
  fputc('+', out);
  for (int i = 0; i < TEXT_INNER; i++)
    fputc('-', out);
  fprintf(out, "+ 0x%012llx\n", (unsigned long long)addr);
}

static void text_line(FILE *out, int owned, const char *left, const char *right) {
  char wall = owned ? '#' : '|';
  size_t rl = right ? strlen(right) : 0;
  char l[REGION_TEXT + 8];
  fit(l, sizeof l, left, TEXT_INNER - 2 - (rl ? rl + 2 : 0));
  fprintf(out, "%c %-*s%s%s %c\n", wall, (int)(TEXT_INNER - 2 - (rl ? rl + 1 : 0)), l,
          rl ? " " : "", rl ? right : "", wall);
}

void map_draw_text(const struct address_map *am, FILE *out) {
  fprintf(out, "Address space of pid %ld (%s): %d mappings, %s; high addresses on top\n", am->pid,
          am->comm, am->nmappings, util_sz(am->total));
  fprintf(out, "%s\n\n", am->tide_note);
  int any_owned = 0;
  for (size_t k = am->n; k-- > 0;) {
    const struct region *r = &am->r[k];
    any_owned |= r->owned;
    if (k == am->n - 1) {
      text_border(out, r->end);
    } else if (am->r[k + 1].start != r->end) {
      char gap[96];
      util_fmt(gap, sizeof gap, " %s unmapped%s ", util_sz(am->r[k + 1].start - r->end),
               r->end <= USER_TOP && am->r[k + 1].start > USER_TOP
                   ? " (user space ends; kernel above)"
                   : "");
      int len = (int)strlen(gap), side = (TEXT_INNER + 2 - len) / 2;
      for (int i = 0; i < side; i++)
        fputc(i % 2 ? ' ' : '~', out);
      fputs(gap, out);
      for (int i = side + len; i < TEXT_INNER + 2; i++)
        fputc((i - side - len) % 2 ? ' ' : '~', out);
      fputc('\n', out);
      text_border(out, r->end);
    }
    text_line(out, r->owned, r->title, util_sz(r->end - r->start));
    for (int d = 0; d < r->ndetail; d++) {
      char line[REGION_TEXT + 4];
      util_fmt(line, sizeof line, "  %s", r->detail[d]);
      text_line(out, r->owned, line, NULL);
    }
    text_border(out, r->start);
  }
  if (any_owned) {
    uint64_t heap, seg, large;
    int nseg, nlarge;
    tide_totals(am, &heap, &seg, &nseg, &large, &nlarge);
    fprintf(out,
            "\nBoxes walled with '#' are tidemalloc's: brk heap %s, %d segment%s mapped (%s), "
            "%d large block%s (%s).\n",
            util_sz(heap), nseg, nseg == 1 ? "" : "s", util_sz(seg), nlarge, nlarge == 1 ? "" : "s",
            util_sz(large));
  }
}

/* ---- SVG ---------------------------------------------------------------------- */

#define SVG_X 20.0
#define SVG_BOX_W 520.0
#define SVG_GAP_H 30.0
#define SVG_TOP 78.0

static double box_height(const struct region *r) { return 24.0 + 14.0 * r->ndetail + 6.0; }

static void zigzag(struct strbuf *sb, double y) {
  sb_puts(sb, "<polyline fill=\"none\" stroke=\"#888888\" stroke-width=\"1\" points=\"");
  int i = 0;
  for (double x = SVG_X; x <= SVG_X + SVG_BOX_W + 0.1; x += 8.0, i++)
    sb_printf(sb, "%.1f,%.1f ", x, y + (i % 2 ? 5.0 : 0.0));
  sb_puts(sb, "\"/>\n");
}

void map_draw_svg(const struct address_map *am, struct strbuf *sb) {
  double h = SVG_TOP;
  int present[RK_COUNT] = {0};
  for (size_t k = am->n; k-- > 0;) {
    if (k < am->n - 1 && am->r[k + 1].start != am->r[k].end)
      h += SVG_GAP_H;
    h += box_height(&am->r[k]);
    present[am->r[k].kind] = 1;
  }
  int nlegend = 0;
  for (int k = 0; k < RK_COUNT; k++)
    nlegend += present[k];
  double legend_y = h + 30.0;
  double height = legend_y + 20.0 * ((nlegend + 1) / 2) + 40.0;
  int width = (int)(SVG_X + SVG_BOX_W + 150.0);

  char title[160];
  util_fmt(title, sizeof title, "Address space of pid %ld (%s)", am->pid, am->comm);
  svg_begin(sb, width, (int)height, title);
  svg_text(sb, SVG_X, 26, NULL, "title", title);
  char line[600];
  util_fmt(line, sizeof line, "%d mappings, %s; high addresses on top", am->nmappings,
           util_sz(am->total));
  svg_text(sb, SVG_X, 46, NULL, "note", line);
  fit(line, sizeof line, am->tide_note, 96);
  svg_text(sb, SVG_X, 62, NULL, "note", line);

  double y = SVG_TOP;
  for (size_t k = am->n; k-- > 0;) {
    const struct region *r = &am->r[k];
    char addr[32];
    if (k < am->n - 1 && am->r[k + 1].start != r->end) {
      /* A folded gap: torn edges and its size. */
      zigzag(sb, y + 4.0);
      zigzag(sb, y + SVG_GAP_H - 9.0);
      util_fmt(line, sizeof line, "~ %s unmapped%s ~", util_sz(am->r[k + 1].start - r->end),
               r->end <= USER_TOP && am->r[k + 1].start > USER_TOP
                   ? " (user space ends; kernel above)"
                   : "");
      svg_text(sb, SVG_X + SVG_BOX_W / 2, y + SVG_GAP_H / 2 + 3.0, "middle", "gap", line);
      y += SVG_GAP_H;
    }
    double bh = box_height(r);
    sb_printf(sb,
              "<g class=\"region\" data-kind=\"%s\" data-start=\"0x%llx\" data-end=\"0x%llx\">\n",
              kinds[r->kind].name, (unsigned long long)r->start, (unsigned long long)r->end);
    sb_printf(sb,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
              "stroke=\"%s\" stroke-width=\"%s\"/>\n",
              SVG_X, y, SVG_BOX_W, bh, kinds[r->kind].fill, r->owned ? "#9c2a00" : "#555555",
              r->owned ? "2" : "1");
    char t[REGION_TEXT + 8];
    fit(t, sizeof t, r->title, 58);
    svg_text(sb, SVG_X + 8, y + 17, NULL, "label", t);
    svg_text(sb, SVG_X + SVG_BOX_W - 8, y + 17, "end", "size", util_sz(r->end - r->start));
    for (int d = 0; d < r->ndetail; d++) {
      fit(t, sizeof t, r->detail[d], 80);
      svg_text(sb, SVG_X + 16, y + 31 + 14.0 * d, NULL, "detail", t);
    }
    sb_puts(sb, "</g>\n");
    util_fmt(addr, sizeof addr, "0x%012llx", (unsigned long long)r->end);
    if (k == am->n - 1 || am->r[k + 1].start != r->end)
      svg_text(sb, SVG_X + SVG_BOX_W + 8, y + 4, NULL, "addr", addr);
    util_fmt(addr, sizeof addr, "0x%012llx", (unsigned long long)r->start);
    svg_text(sb, SVG_X + SVG_BOX_W + 8, y + bh + 4, NULL, "addr", addr);
    y += bh;
  }

  svg_text(sb, SVG_X, legend_y, NULL, "label",
           "Legend (boxes with a dark red border are tidemalloc's)");
  int i = 0;
  for (int k = 0; k < RK_COUNT; k++) {
    if (!present[k])
      continue;
    double lx = SVG_X + (i % 2) * 300.0, ly = legend_y + 12.0 + 20.0 * (i / 2);
    int owned = k == RK_TIDE_HEAP || k == RK_TIDE_SEG || k == RK_TIDE_LARGE || k == RK_TIDE_META;
    sb_printf(sb,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\" stroke=\"%s\" "
              "stroke-width=\"%s\"/>\n",
              lx, ly, kinds[k].fill, owned ? "#9c2a00" : "#555555", owned ? "2" : "1");
    svg_text(sb, lx + 20, ly + 11, NULL, "detail", kinds[k].name);
    i++;
  }
  svg_end(sb);
}

/* SPDX-License-Identifier: MIT */
/* svg.c — the few SVG elements the tool draws (boxes, lines, text). */
#include "tide.h"

void svg_begin(struct strbuf *sb, int width, int height, const char *title) {
  sb_printf(sb,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" "
            "font-size=\"12\" xml:space=\"preserve\">\n",
            width, height, width, height);
  sb_puts(sb, "<title>");
  sb_xml(sb, title);
  sb_puts(sb, "</title>\n");
  sb_puts(sb, "<style>\n"
              "  .title { font-size: 16px; font-weight: bold; }\n"
              "  .label { font-size: 12px; font-weight: bold; }\n"
              "  .detail { font-size: 11px; fill: #333333; }\n"
              "  .addr { font-size: 11px; fill: #444444; }\n"
              "  .size { font-size: 12px; }\n"
              "  .gap { font-size: 11px; fill: #666666; font-style: italic; }\n"
              "  .axis { font-size: 10px; fill: #444444; }\n"
              "  .note { font-size: 11px; fill: #555555; }\n"
              "</style>\n");
  sb_printf(sb, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width,
            height);
}

void svg_end(struct strbuf *sb) { sb_puts(sb, "</svg>\n"); }

void svg_text(struct strbuf *sb, double x, double y, const char *anchor, const char *cls,
              const char *text) {
  sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\"", x, y);
  if (anchor)
    sb_printf(sb, " text-anchor=\"%s\"", anchor);
  if (cls)
    sb_printf(sb, " class=\"%s\"", cls);
  sb_puts(sb, ">");
  sb_xml(sb, text);
  sb_puts(sb, "</text>\n");
}

void svg_rect(struct strbuf *sb, double x, double y, double w, double h, const char *fill,
              const char *stroke) {
  sb_printf(sb,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
            "stroke=\"%s\"/>\n",
            x, y, w, h, fill, stroke ? stroke : "none");
}

void svg_line(struct strbuf *sb, double x1, double y1, double x2, double y2, const char *stroke,
              double width, const char *dash) {
  sb_printf(sb,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"%.1f\"",
            x1, y1, x2, y2, stroke, width);
  if (dash)
    sb_printf(sb, " stroke-dasharray=\"%s\"", dash);
  sb_puts(sb, "/>\n");
}

#!/usr/bin/python3.11
# SPDX-License-Identifier: MIT
"""Turn the runner's results (results/latest.json) into latest.md and latest.svg.

    /usr/bin/python3.11 bench/report.py [results/latest.json]

run.py calls write_all() itself; running this file by hand redraws the table
and the chart from a saved JSON file.  Standard library only.
"""

import json
import math
import os
import statistics
import sys
from xml.sax.saxutils import escape

COLORS = {
    "glibc": "#7f7f7f",
    "jemalloc": "#1f77b4",
    "tcmalloc": "#ff7f0e",
    "mimalloc": "#2ca02c",
    "tidemalloc": "#d62728",
}
PEER_LABEL = {
    "glibc": "glibc",
    "jemalloc": "jemalloc",
    "tcmalloc": "tcmalloc",
    "mimalloc": "mimalloc",
    "tidemalloc": "tidemalloc",
}
PKG = {
    "glibc": "libc6",
    "jemalloc": "libjemalloc2",
    "tcmalloc": "libtcmalloc-minimal4",
    "mimalloc": "libmimalloc2.0",
}
TIDE = "tidemalloc"
FAIL = "FAIL"


# ---------------------------------------------------------------- statistics

def median_of(runs, key):
    """Median of key over the runs; FAIL if any run failed; None if no runs."""
    if not runs:
        return None
    if any(not r.get("ok") for r in runs):
        return FAIL
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def geomean(vals):
    vals = [v for v in vals if is_num(v) and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def summarise(data):
    """Medians, ratios to glibc, tidemalloc vs best other, geomeans."""
    allocs = data["allocators"]
    out = {}
    for metric, key in (("time", "wall_s"), ("rss", "peak_rss_kib"), ("final", "final_rss_kib")):
        med = {}
        ratio = {}
        best = {}
        for w in data["workloads"]:
            med[w] = {a: median_of(data["runs"][w].get(a, []), key) for a in allocs}
            g = med[w].get("glibc")
            ratio[w] = {}
            for a in allocs:
                v = med[w][a]
                ratio[w][a] = v / g if is_num(v) and is_num(g) and g > 0 else (FAIL if v == FAIL else None)
            if TIDE in allocs:
                others = [(med[w][a], a) for a in allocs if a != TIDE and is_num(med[w][a])]
                t = med[w][TIDE]
                if others and is_num(t):
                    bv, ba = min(others)
                    best[w] = (t / bv if bv > 0 else None, ba)
        gm = {a: geomean([ratio[w][a] for w in data["workloads"]]) for a in allocs}
        counted = {a: sum(1 for w in data["workloads"] if is_num(ratio[w][a])) for a in allocs}
        gm_best = geomean([best[w][0] for w in best]) if best else None
        out[metric] = {"median": med, "ratio": ratio, "best": best, "geomean": gm,
                       "counted": counted, "geomean_best": gm_best}
    return out


# ---------------------------------------------------------------- markdown

def fmt_time(v):
    if v == FAIL:
        return "**FAIL**"
    if v is None:
        return "–"
    return "%.3f" % v if v < 10 else "%.2f" % v


def fmt_mib(kib):
    if kib == FAIL:
        return "**FAIL**"
    if kib is None:
        return "–"
    m = kib / 1024.0
    return "%.1f" % m if m < 100 else "%.0f" % m


def fmt_ratio(r):
    if r is None or r == FAIL:
        return ""
    return "%.2f" % r


def metric_table(data, s, metric, fmt, unit):
    allocs = data["allocators"]
    has_tide = TIDE in allocs
    head = ["workload"] + ["%s (%s)" % (a, unit) for a in allocs]
    if has_tide:
        head.append("tidemalloc / best other")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    st = s[metric]
    for w in data["workloads"]:
        cells = [w]
        for a in allocs:
            v = st["median"][w][a]
            c = fmt(v)
            r = st["ratio"][w][a]
            if a != "glibc" and is_num(r):
                c += " (%s)" % fmt_ratio(r)
            if a == TIDE:
                c = "**" + c + "**" if is_num(v) else c
            cells.append(c)
        if has_tide:
            b = st["best"].get(w)
            cells.append("%.2f vs %s" % b if b and is_num(b[0]) else "–")
        lines.append("| " + " | ".join(cells) + " |")
    n = len(data["workloads"])
    cells = ["**geomean of ratios to glibc**"]
    for a in allocs:
        g = st["geomean"][a]
        c = "%.2f" % g if g else "–"
        if g and st["counted"][a] < n:
            c += " (%d of %d)" % (st["counted"][a], n)
        cells.append(c)
    if has_tide:
        gb = st["geomean_best"]
        cells.append("%.2f" % gb if gb else "–")
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt_ratio3(r):
    return "%.3f" % r if is_num(r) else "FAIL"


def targets(data, s):
    allocs = data["allocators"]
    if TIDE not in allocs:
        return ["- tidemalloc was not measured (%s)." % data.get("skipped", {}).get(TIDE, "not selected")]
    out = []
    t = s["time"]
    slower = [w for w in data["workloads"] if not (is_num(t["ratio"][w][TIDE]) and t["ratio"][w][TIDE] < 1.0)]
    out.append("- Faster than glibc on every workload: %s" %
               ("**met**" if not slower else "**not met** (%s)" % ", ".join(
                   "%s %s" % (w, fmt_ratio3(t["ratio"][w][TIDE])) for w in slower)))
    gt, gm = t["geomean"].get(TIDE), t["geomean"].get("mimalloc")
    n = len(data["workloads"])
    if gt and gm and t["counted"][TIDE] == n and t["counted"]["mimalloc"] == n:
        out.append("- Geometric mean of time at or below mimalloc's: %s (tidemalloc %.3f, mimalloc %.3f, as ratios to glibc)"
                   % ("**met**" if gt <= gm else "**not met**", gt, gm))
    elif "mimalloc" in allocs:
        out.append("- Geometric mean of time at or below mimalloc's: **not met** (not every workload has a time)")
    r = s["rss"]
    worse = [w for w in data["workloads"] if not (is_num(r["ratio"][w][TIDE]) and r["ratio"][w][TIDE] <= 1.0)]
    out.append("- Peak RSS no worse than glibc's: %s" %
               ("**met**" if not worse else "**not met** (%s)" % ", ".join(
                   "%s %s" % (w, fmt_ratio3(r["ratio"][w][TIDE])) for w in worse)))
    return out


def render_md(data, s):
    allocs = data["allocators"]
    m = data["machine"]
    v = m.get("versions", {})
    quick = data["mode"] == "quick"
    L = []
    L.append("# tidemalloc benchmarks%s" % (" — QUICK run (small sizes; a development check, not evidence)" if quick else ""))
    L.append("")
    L.append("Made by `%s` on %s: %s, %s CPUs, Linux %s; %s, allocators interleaved "
             "round by round; %.0f s in all. tidemalloc at `%s`."
             % (data["command"], data["date"], m.get("cpu", "?"), m.get("cpus", "?"), m.get("kernel", "?"),
                plural(data["rounds"], "round"), data.get("elapsed_s", 0), m.get("tidemalloc_commit", "?")))
    L.append("")
    vers = ["glibc %s (no preload)" % v.get("libc6", "?")]
    for a in ["jemalloc", "tcmalloc", "mimalloc"]:
        if a in allocs:
            vers.append("%s %s" % (a, v.get(PKG[a], "?")))
    L.append("Allocators: " + ", ".join(vers) + "; python3.11 %s, sqlite3 %s."
             % (v.get("python3.11", "?"), v.get("sqlite3", "?")))
    for a, why in data.get("skipped", {}).items():
        L.append("")
        L.append("**%s was not measured: %s.**" % (a, why))
    L.append("")
    L.append("Each cell is the median over the rounds; in brackets the ratio to glibc (below 1 is better). "
             "*tidemalloc / best other* divides tidemalloc's median by the best of the other four. "
             "Geometric means are of the ratios to glibc over the workloads. Chart: `latest.svg`; "
             "every run: `latest.json`; workloads: `bench/README.md`.")
    L.append("")
    L.append("## Wall time (seconds)")
    L.append("")
    L.append(metric_table(data, s, "time", fmt_time, "s"))
    L.append("")
    L.append("## Peak resident memory (MiB, ru_maxrss)")
    L.append("")
    L.append(metric_table(data, s, "rss", fmt_mib, "MiB"))
    L.append("")
    if "frag" in data["workloads"]:
        f = s["final"]["median"]["frag"]
        L.append("## Memory given back: frag, resident memory after everything is freed (MiB)")
        L.append("")
        L.append("| | " + " | ".join(allocs) + " |")
        L.append("|---|" + "---|" * len(allocs))
        L.append("| final RSS (peak RSS) | " + " | ".join(
            "%s (%s)" % (fmt_mib(f.get(a)), fmt_mib(s["rss"]["median"]["frag"].get(a))) for a in allocs) + " |")
        L.append("")
    if data.get("ipp"):
        L.append("## Instructions per warm malloc(64) + free pair (callgrind)")
        L.append("")
        L.append("(Ir of `bench/bin/ipp %d` minus Ir of `ipp 0`, divided by %d; includes about 9 "
                 "instructions of loop and call.)" % (data["ipp_pairs"], data["ipp_pairs"]))
        L.append("")
        L.append("| " + " | ".join(allocs) + " |")
        L.append("|" + "---|" * len(allocs))
        L.append("| " + " | ".join("%.1f" % data["ipp"][a] if data["ipp"].get(a) is not None else "–"
                                   for a in allocs) + " |")
        L.append("")
    L.append("## Targets (MISSION.md, part 3: faster than glibc everywhere, geomean time at or below mimalloc's, peak RSS no worse than glibc's)")
    L.append("")
    L.extend(targets(data, s))
    L.append("")
    fails = []
    for w in data["workloads"]:
        for a in allocs:
            for i, r in enumerate(data["runs"][w].get(a, [])):
                if not r.get("ok"):
                    fails.append("- %s under %s, round %d: %s" % (w, a, i + 1, r.get("why", "?")))
    if fails:
        L.append("## Failures")
        L.append("")
        L.extend(fails)
        L.append("")
    L.append("<details><summary>Every run (wall s / peak MiB)</summary>")
    L.append("")
    L.append("| workload | allocator | runs |")
    L.append("|---|---|---|")
    for w in data["workloads"]:
        for a in allocs:
            rs = data["runs"][w].get(a, [])
            L.append("| %s | %s | %s |" % (w, a, ", ".join(
                ("%.3f/%.0f" % (r["wall_s"], r["peak_rss_kib"] / 1024.0)) if r.get("ok") else "FAIL" for r in rs)))
    L.append("")
    L.append("</details>")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- SVG

def ticks_for(lo, hi):
    cands = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 0.75, 1, 1.5, 2, 3, 4, 8, 16, 32]
    octaves = math.log2(hi / lo)
    if octaves > 4:
        cands = [c for c in cands if c not in (0.75, 1.5, 3)]
    return [c for c in cands if lo <= c <= hi]


def tick_label(t):
    if t >= 1:
        return "%g" % t
    return {0.5: "1/2", 0.25: "1/4", 0.125: "1/8", 0.0625: "1/16", 0.75: "0.75"}.get(t, "%g" % t)


def ratio_panel(data, s, metric, top, title, ylabel, W):
    """A grouped bar chart of ratios to glibc on a log scale; returns (svg parts, height)."""
    allocs = data["allocators"]
    groups = list(data["workloads"]) + ["geomean"]
    st = s[metric]
    vals = {}
    for w in data["workloads"]:
        vals[w] = {a: st["ratio"][w][a] for a in allocs}
    vals["geomean"] = {a: st["geomean"][a] for a in allocs}
    nums = [v for g in vals.values() for v in g.values() if is_num(v) and v > 0] + [1.0]
    lo = 2 ** math.floor(math.log2(min(nums)) - 0.25)
    hi = 2 ** math.ceil(math.log2(max(nums)) + 0.25)
    lo, hi = max(lo, 1 / 16), min(hi, 32)
    if lo >= 1:
        lo = 0.5
    if hi <= 1:
        hi = 2
    H = 330
    left, right, ptop, pbot = 70, 20, top + 40, top + H - 45
    pw = W - left - right
    P = []

    def y(v):
        v = min(max(v, lo), hi)
        return ptop + (math.log2(hi) - math.log2(v)) / (math.log2(hi) - math.log2(lo)) * (pbot - ptop)

    P.append('<text x="%d" y="%d" class="h2">%s</text>' % (left, top + 22, escape(title)))
    # grid and axis
    for t in ticks_for(lo, hi):
        yy = y(t)
        P.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="%s"/>' % (
            left, yy, left + pw, yy, "one" if t == 1 else "grid"))
        P.append('<text x="%d" y="%.1f" class="%s" text-anchor="end">%s</text>' % (
            left - 6, yy + 4, "tick b" if t == 1 else "tick", tick_label(t)))
    P.append('<text transform="translate(%d,%.1f) rotate(-90)" class="axis" text-anchor="middle">%s</text>' % (
        16, (ptop + pbot) / 2, escape(ylabel)))
    P.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="frame"/>' % (left, ptop, left, pbot))
    # the geomean group is wider, so its bars can carry their values
    unit = pw / (len(groups) - 1 + 1.6)
    for gi, g in enumerate(groups):
        gx = left + gi * unit
        gw = unit * (1.6 if g == "geomean" else 1)
        bw = gw * 0.8 / max(1, len(allocs))
        if g == "geomean":
            P.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="sep"/>' % (gx, ptop, gx, pbot))
        for ai, a in enumerate(allocs):
            v = vals[g][a]
            x = gx + gw * 0.1 + ai * bw
            if v == FAIL:
                P.append('<text x="%.1f" y="%.1f" class="fail" text-anchor="middle" fill="%s">✗</text>' % (
                    x + bw / 2, y(1) - 3, COLORS.get(a, "#000")))
                continue
            if not is_num(v):
                continue
            y0, y1 = y(1), y(v)
            top_y, h = min(y0, y1), abs(y1 - y0)
            if h < 1.5:
                top_y, h = y0 - 0.75, 1.5
            tip = "%s %s: %.2f× glibc" % (g, a, v)
            P.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>' % (
                x, top_y, bw * 0.92, h, COLORS.get(a, "#000"), escape(tip)))
            if v > hi or v < lo:
                P.append('<text x="%.1f" y="%.1f" class="val" text-anchor="middle">%.1f</text>' % (
                    x + bw / 2, (ptop - 3) if v > hi else (pbot + 10), v))
            elif a == TIDE or (g == "geomean" and a != "glibc"):
                yy = (y1 - 3) if v >= 1 else (y1 + 10)
                star = "*" if g == "geomean" and st["counted"][a] < len(data["workloads"]) else ""
                P.append('<text x="%.1f" y="%.1f" class="val" text-anchor="middle">%.2f%s</text>' % (
                    x + bw * 0.46, yy, v, star))
        P.append('<text x="%.1f" y="%d" class="%s" text-anchor="middle">%s</text>' % (
            gx + gw / 2, pbot + 24, "glabel b" if g == "geomean" else "glabel", escape(g)))
        if g == "geomean" and any(st["counted"][a] < len(data["workloads"]) for a in allocs):
            P.append('<text x="%.1f" y="%d" class="val" text-anchor="middle">* failed workloads left out</text>' % (
                gx + gw / 2, pbot + 36))
    return P, H


def ipp_panel(data, top, W):
    allocs = [a for a in data["allocators"] if data["ipp"].get(a) is not None]
    if not allocs:
        return [], 0
    P = []
    left, right = 170, 90
    rowh = 22
    H = 50 + rowh * len(allocs) + 10
    P.append('<text x="%d" y="%d" class="h2">Instructions per warm malloc(64) + free pair (callgrind; lower is better)</text>' % (70, top + 22))
    mx = max(data["ipp"][a] for a in allocs)
    pw = W - left - right
    for i, a in enumerate(allocs):
        v = data["ipp"][a]
        yy = top + 40 + i * rowh
        w = pw * v / mx if mx > 0 else 0
        P.append('<text x="%d" y="%d" class="glabel" text-anchor="end">%s</text>' % (left - 8, yy + 14, a))
        P.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, yy + 2, w, rowh - 6, COLORS.get(a, "#000")))
        P.append('<text x="%.1f" y="%d" class="val2">%.0f</text>' % (left + w + 6, yy + 14, v))
    return P, H


def render_svg(data, s):
    W = 1100
    allocs = data["allocators"]
    m = data["machine"]
    P = []
    mode = "QUICK run (small sizes)" if data["mode"] == "quick" else "full run"
    P.append('<text x="%d" y="30" class="h1">tidemalloc vs glibc, jemalloc, tcmalloc, mimalloc</text>' % 20)
    P.append('<text x="%d" y="52" class="sub">%s · median of %s per allocator · %s CPUs (%s) · %s · bars are ratios to glibc on a log scale: below the 1.0 line is better</text>' % (
        20, mode, plural(data["rounds"], "run"), m.get("cpus", "?"), escape(m.get("cpu", "?")), escape(data["date"][:10])))
    # legend
    lx = 20
    for a in ["glibc", "jemalloc", "tcmalloc", "mimalloc", "tidemalloc"]:
        label = a + (" (= 1.0)" if a == "glibc" else "") + ("" if a in allocs else " (not run)")
        P.append('<rect x="%d" y="66" width="14" height="14" fill="%s"/>' % (lx, COLORS[a]))
        P.append('<text x="%d" y="78" class="legend">%s</text>' % (lx + 19, escape(label)))
        lx += 30 + 8 * len(label)
    P.append('<text x="%d" y="78" class="legend">✗ failed its own check (no time)</text>' % (lx + 10))
    y = 90
    p, h = ratio_panel(data, s, "time", y, "Wall time, ratio to glibc (lower is better)", "wall time / glibc  (1 = glibc)", W)
    P += p
    y += h
    p, h = ratio_panel(data, s, "rss", y, "Peak resident memory, ratio to glibc (lower is better)", "peak RSS / glibc  (1 = glibc)", W)
    P += p
    y += h
    if data.get("ipp"):
        p, h = ipp_panel(data, y, W)
        P += p
        y += h
    H = y + 10
    style = """<style>
text { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; fill: #222; }
.h1 { font-size: 20px; font-weight: bold; }
.h2 { font-size: 14px; font-weight: bold; }
.sub { font-size: 11.5px; fill: #444; }
.legend { font-size: 12.5px; }
.tick { font-size: 11px; fill: #555; }
.axis { font-size: 12px; fill: #333; }
.glabel { font-size: 12px; }
.b { font-weight: bold; }
.val { font-size: 9px; fill: #333; }
.val2 { font-size: 11px; fill: #333; }
.fail { font-size: 13px; font-weight: bold; }
.grid { stroke: #ddd; stroke-width: 1; }
.one { stroke: #222; stroke-width: 1.5; }
.frame { stroke: #888; stroke-width: 1; }
.sep { stroke: #999; stroke-width: 1; stroke-dasharray: 4 3; }
</style>"""
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
            '<rect width="100%%" height="100%%" fill="white"/>\n%s\n%s\n</svg>\n'
            % (W, H, W, H, style, "\n".join(P)))


def write_all(data, out_dir):
    s = summarise(data)
    md = render_md(data, s)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "latest.svg"), "w") as f:
        f.write(render_svg(data, s))
    return md


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")
    with open(path) as f:
        data = json.load(f)
    print(write_all(data, os.path.dirname(os.path.abspath(path))))


if __name__ == "__main__":
    main()

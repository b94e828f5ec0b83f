#!/usr/bin/python3.11
# SPDX-License-Identifier: MIT
"""What tidemalloc's safety costs: tidemalloc against a variant of itself.

    /usr/bin/python3.11 bench/cost.py checks|secure [--quick] [--rounds N]
                                      [--workloads a,b] [--no-callgrind]
                                      [--out DIR]

(`make bench-checks` and `make bench-secure` build what is needed and call
this.)

checks: the default library checks every pointer given to free() (interior
  pointers, double frees) and keeps its free lists encoded and
  range-checked.  The same sources built with TIDE_CHECKS=0
  (build/nochecks/libtidemalloc.so, a measurement-only library that is
  never installed) are the baseline.
secure: the hardened mode (TIDEMALLOC_OPTIONS=secure=1) against the default
  mode of the same library.

The workloads of `make bench` run under both, interleaved, the order
alternating round by round.  frag first runs once untimed in every round:
the first frag of a round took 2-4x as long as the second whichever
library it ran with (the kernel reclaiming what the workloads before it
left), so with two libraries its median depended on which went first more
often.  Reported per workload: the median time of the
first divided by the median of the second, and the same for peak RSS.

Times on a shared machine are noisy, so it also counts instructions, which
are not: for every workload in its quick size, the total instructions under
`valgrind --tool=callgrind` with each, and the instructions per warm
malloc(64)+free pair (bench/bin/ipp).

Writes results/MODE-cost.md and results/MODE-cost.json (with --quick, into
build/bench-quick/ instead: the committed results stay as they are).
"""

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import run  # noqa: E402

LIB = os.path.join(ROOT, "build", "libtidemalloc.so")
# mode: [(name, library, TIDEMALLOC_OPTIONS)], the one whose cost is measured first
MODES = {
    "checks": [("checks", LIB, ""), ("nochecks", os.path.join(ROOT, "build", "nochecks", "libtidemalloc.so"), "")],
    "secure": [("secure", LIB, "secure=1"), ("default", LIB, "")],
}
TITLES = {
    "checks": "What detection costs: tidemalloc with and without its checks",
    "secure": "What the hardened mode costs: tidemalloc with secure=1 and without",
}
EXPLAIN = {
    "checks": "*checks* is the default library; *nochecks* the same sources built with TIDE_CHECKS=0 "
              "(no interior-pointer or double-free check on free, plain free-list links).",
    "secure": "*secure* is the default library run with `TIDEMALLOC_OPTIONS=secure=1` (guard pages, "
              "canaries, zeroing, quarantine, random order); *default* the same library without it.",
}


class options_env:
    """TIDEMALLOC_OPTIONS set for the runs inside the block."""

    def __init__(self, opts):
        self.opts = opts

    def __enter__(self):
        os.environ.pop("TIDEMALLOC_OPTIONS", None)
        if self.opts:
            os.environ["TIDEMALLOC_OPTIONS"] = self.opts

    def __exit__(self, *exc):
        os.environ.pop("TIDEMALLOC_OPTIONS", None)


# Workloads run once untimed at the start of each round (see the top).
WARM_UP = {"frag"}


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def callgrind_total(argv, preload, stdin_path):
    """Instructions (Ir) of one whole run under callgrind, or None."""
    with tempfile.TemporaryDirectory(prefix="tidebench.") as tmp:
        env = dict(os.environ, LD_PRELOAD=preload)
        with open(stdin_path or os.devnull, "rb") as inp:
            p = subprocess.run(
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.path.join(tmp, "cg.%p"),
                 "--trace-children=no"] + argv,
                env=env, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1200,
            )
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr.decode(errors="replace"))
    if p.returncode != 0 or not m:
        return None
    return int(m.group(1))


def fmt_ratio(x):
    return "n/a" if x is None else "%.3f" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=sorted(MODES))
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 rounds")
    ap.add_argument("--rounds", type=int, help="rounds (default 9, quick 3)")
    ap.add_argument("--workloads", help="comma-separated subset")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", help="default bench/results/; with --quick build/bench-quick/")
    args = ap.parse_args()
    if args.out is None:
        args.out = run.default_out(args.quick)

    LIBS = MODES[args.mode]
    first, second = LIBS[0][0], LIBS[1][0]
    for name, lib, _ in LIBS:
        if not os.path.exists(lib):
            run.log("cost: %s not found (make bench-%s builds it)" % (lib, args.mode))
            return 2
    mode = "quick" if args.quick else "full"
    rounds = args.rounds or (3 if args.quick else 9)
    timeout = 60 if args.quick else 180
    started = time.time()
    wl = run.workloads(mode)
    if args.workloads:
        keep = set(args.workloads.split(","))
        wl = [w for w in wl if w[0] in keep]

    runs = {w[0]: {n: [] for n, _, _ in LIBS} for w in wl}
    rss = {w[0]: {n: [] for n, _, _ in LIBS} for w in wl}
    failed = False
    for rnd in range(rounds):
        order = LIBS if rnd % 2 == 0 else LIBS[::-1]
        for wname, argv, stdin_path, _ in wl:
            line = []
            if wname in WARM_UP:
                with options_env(order[0][2]):
                    run.run_once(argv, order[0][1], stdin_path, timeout)
            for lname, lib, opts in order:
                with options_env(opts):
                    r = run.run_once(argv, lib, stdin_path, timeout)
                if not r["ok"]:
                    failed = True
                    run.log("cost: FAIL %s with %s: %s" % (wname, lname, r.get("why", "")))
                    continue
                runs[wname][lname].append(r["wall_s"])
                rss[wname][lname].append(r["peak_rss_kib"])
                line.append("%s %.3fs" % (lname, r["wall_s"]))
            run.log("round %d/%d %-10s %s" % (rnd + 1, rounds, wname, "  ".join(line)))

    time_ratio, rss_ratio = {}, {}
    for wname in runs:
        a, b = median(runs[wname][first]), median(runs[wname][second])
        time_ratio[wname] = a / b if a and b else None
        a, b = median(rss[wname][first]), median(rss[wname][second])
        rss_ratio[wname] = a / b if a and b else None

    ir, ipp = {}, {}
    if not args.no_callgrind and shutil.which("valgrind"):
        for wname, argv, stdin_path, _ in run.workloads("quick"):
            if args.workloads and wname not in keep:
                continue
            ir[wname] = {}
            for ln, lib, opts in LIBS:
                with options_env(opts):
                    ir[wname][ln] = callgrind_total(argv, lib, stdin_path)
            run.log("callgrind %-10s %s" % (wname, ir[wname]))
        npairs = 1000000
        for ln, lib, opts in LIBS:
            with options_env(opts):
                base, full = run.callgrind_ir(lib, 0), run.callgrind_ir(lib, npairs)
            ipp[ln] = None if base is None or full is None else (full - base) / npairs
        run.log("callgrind ipp %s" % ipp)

    data = {
        "mode": mode,
        "rounds": rounds,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 1),
        "machine": run.machine_info(),
        "compared": [first, second],
        "runs": runs,
        "peak_rss_kib": rss,
        "time_ratio": time_ratio,
        "rss_ratio": rss_ratio,
        "callgrind_ir": ir,
        "ipp": ipp,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "%s-cost.json" % args.mode), "w") as f:
        json.dump(data, f, indent=1)

    L = ["# " + TITLES[args.mode], ""]
    L.append("`make bench-%s%s` at `%s`, %s; %d rounds, interleaved, %.0f s. %s "
             "A ratio of 1.030 means %s costs 3%% more than %s."
             % (args.mode, " QUICK=1" if args.quick else "", data["machine"].get("tidemalloc_commit", "?"),
                data["date"], rounds, data["elapsed_s"], EXPLAIN[args.mode], first, second))
    L += ["", "| workload | median time, %s / %s | median peak RSS, %s / %s | instructions (callgrind, quick size), %s / %s |"
          % (first, second, first, second, first, second), "|---|---|---|---|"]
    ir_ratio = {}
    for wname in runs:
        c = ir.get(wname, {})
        ir_ratio[wname] = c[first] / c[second] if c.get(first) and c.get(second) else None
        L.append("| %s | %s | %s | %s |" % (wname, fmt_ratio(time_ratio[wname]), fmt_ratio(rss_ratio[wname]),
                                           fmt_ratio(ir_ratio[wname])))
    L.append("| **geomean** | **%s** | **%s** | **%s** |" % (
        fmt_ratio(geomean(time_ratio.values())), fmt_ratio(geomean(rss_ratio.values())),
        fmt_ratio(geomean(ir_ratio.values()))))
    if ipp:
        L += ["", "Instructions per warm malloc(64)+free pair: %s %s, %s %s."
              % (first, "%.1f" % ipp[first] if ipp.get(first) is not None else "n/a",
                 second, "%.1f" % ipp[second] if ipp.get(second) is not None else "n/a")]
    md = "\n".join(L) + "\n"
    with open(os.path.join(args.out, "%s-cost.md" % args.mode), "w") as f:
        f.write(md)
    print(md)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3.11
"""What the default build's detection costs.

    /usr/bin/python3.11 bench/checks_cost.py [--quick] [--rounds N]
                                             [--workloads a,b] [--no-callgrind]
                                             [--out DIR]

(`make bench-checks` builds both libraries and calls this.)

The default library checks every pointer given to free() (interior pointers,
double frees) and keeps its free lists encoded and range-checked.  To see
what that costs, the same sources are built a second time with
TIDE_CHECKS=0 (build/nochecks/libtidemalloc.so, a measurement-only library
that is never installed) and the workloads of `make bench` run under both,
interleaved, the order alternating round by round.  Reported per workload:
the median time with checks divided by the median without.

Times on a shared machine are noisy, so it also counts instructions, which
are not: for every workload in its quick size, the total instructions under
`valgrind --tool=callgrind` with each library, and the instructions per warm
malloc(64)+free pair (bench/bin/ipp).

Writes results/checks-cost.md and results/checks-cost.json.
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

LIBS = [
    ("checks", os.path.join(ROOT, "build", "libtidemalloc.so")),
    ("nochecks", os.path.join(ROOT, "build", "nochecks", "libtidemalloc.so")),
]


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
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 rounds")
    ap.add_argument("--rounds", type=int, help="rounds (default 9, quick 3)")
    ap.add_argument("--workloads", help="comma-separated subset")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()

    for name, lib in LIBS:
        if not os.path.exists(lib):
            run.log("checks_cost: %s not found (make bench-checks builds it)" % lib)
            return 2
    mode = "quick" if args.quick else "full"
    rounds = args.rounds or (3 if args.quick else 9)
    timeout = 60 if args.quick else 180
    started = time.time()
    wl = run.workloads(mode)
    if args.workloads:
        keep = set(args.workloads.split(","))
        wl = [w for w in wl if w[0] in keep]

    runs = {w[0]: {n: [] for n, _ in LIBS} for w in wl}
    failed = False
    for rnd in range(rounds):
        order = LIBS if rnd % 2 == 0 else LIBS[::-1]
        for wname, argv, stdin_path, _ in wl:
            line = []
            for lname, lib in order:
                r = run.run_once(argv, lib, stdin_path, timeout)
                if not r["ok"]:
                    failed = True
                    run.log("checks_cost: FAIL %s with %s: %s" % (wname, lname, r.get("why", "")))
                    continue
                runs[wname][lname].append(r["wall_s"])
                line.append("%s %.3fs" % (lname, r["wall_s"]))
            run.log("round %d/%d %-10s %s" % (rnd + 1, rounds, wname, "  ".join(line)))

    time_ratio = {}
    for wname in runs:
        a, b = median(runs[wname]["checks"]), median(runs[wname]["nochecks"])
        time_ratio[wname] = a / b if a and b else None

    ir, ipp = {}, {}
    if not args.no_callgrind and shutil.which("valgrind"):
        for wname, argv, stdin_path, _ in run.workloads("quick"):
            if args.workloads and wname not in keep:
                continue
            ir[wname] = {ln: callgrind_total(argv, lib, stdin_path) for ln, lib in LIBS}
            run.log("callgrind %-10s %s" % (wname, ir[wname]))
        npairs = 1000000
        for ln, lib in LIBS:
            base, full = run.callgrind_ir(lib, 0), run.callgrind_ir(lib, npairs)
            ipp[ln] = None if base is None or full is None else (full - base) / npairs
        run.log("callgrind ipp %s" % ipp)

    data = {
        "mode": mode,
        "rounds": rounds,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 1),
        "machine": run.machine_info(),
        "runs": runs,
        "time_ratio": time_ratio,
        "callgrind_ir": ir,
        "ipp": ipp,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "checks-cost.json"), "w") as f:
        json.dump(data, f, indent=1)

    L = ["# What detection costs: tidemalloc with and without its checks", ""]
    L.append("`make bench-checks%s` at `%s`, %s; %d rounds, interleaved, %.0f s. "
             "*checks* is the default library; *nochecks* the same sources built with "
             "TIDE_CHECKS=0 (no interior-pointer or double-free check on free, plain free-list "
             "links). A ratio of 1.030 means the checks cost 3%%."
             % (" QUICK=1" if args.quick else "", data["machine"].get("tidemalloc_commit", "?"),
                data["date"], rounds, data["elapsed_s"]))
    L += ["", "| workload | median time, checks / nochecks | instructions (callgrind, quick size), checks / nochecks |",
          "|---|---|---|"]
    ir_ratio = {}
    for wname in runs:
        c = ir.get(wname, {})
        ir_ratio[wname] = c["checks"] / c["nochecks"] if c.get("checks") and c.get("nochecks") else None
        L.append("| %s | %s | %s |" % (wname, fmt_ratio(time_ratio[wname]), fmt_ratio(ir_ratio[wname])))
    L.append("| **geomean** | **%s** | **%s** |" % (fmt_ratio(geomean(time_ratio.values())),
                                                    fmt_ratio(geomean(ir_ratio.values()))))
    if ipp:
        L += ["", "Instructions per warm malloc(64)+free pair: checks %s, nochecks %s."
              % tuple("%.1f" % ipp[n] if ipp.get(n) is not None else "n/a" for n, _ in LIBS)]
    md = "\n".join(L) + "\n"
    with open(os.path.join(args.out, "checks-cost.md"), "w") as f:
        f.write(md)
    print(md)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

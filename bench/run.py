#!/usr/bin/python3.11
# SPDX-License-Identifier: MIT
"""Run the tidemalloc benchmark suite against five allocators.

    /usr/bin/python3.11 bench/run.py [--quick] [--rounds N]
                                     [--workloads a,b] [--allocators a,b]
                                     [--no-callgrind] [--out DIR]

(`make bench` and `make bench QUICK=1` call this through `make -C bench run`,
which first builds the workloads.)

Every workload runs under every allocator, interleaved round by round
(A B C D E, A B C D E, ...): glibc with no preload, then jemalloc, tcmalloc,
mimalloc and tidemalloc through LD_PRELOAD.  bench/bin/measure launches each
run and reports its wall time and peak RSS (wait4's ru_maxrss).  A run that
exits non-zero, is killed, times out or (python, sqlite) prints something
other than what it printed under glibc is a failure: its cell reads FAIL and
the runner exits with status 1 after writing the results.

Then instructions per warm malloc(64)+free pair under
`valgrind --tool=callgrind` (which does not replace malloc).

Writes results/latest.json (every run), results/latest.md (tables) and
results/latest.svg (chart) through report.py; a --quick run writes them into
build/bench-quick/ instead, leaving the committed results alone.  Standard
library only.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Where quick runs write: outside the committed bench/results/.
QUICK_OUT = os.path.join(ROOT, "build", "bench-quick")


def default_out(quick):
    """Where results go without --out: the committed bench/results/ for a full
    run, build/bench-quick/ for a quick one."""
    return QUICK_OUT if quick else os.path.join(HERE, "results")


BIN = os.path.join(HERE, "bin")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PYTHON = "/usr/bin/python3.11"
SQLITE = "/usr/bin/sqlite3"

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import report  # noqa: E402

# name, preload library (None: glibc, no preload), Debian package
ALLOCATORS = [
    ("glibc", None, None),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2.0", "libmimalloc2.0"),
    ("tidemalloc", os.environ.get("TIDEMALLOC_LIB", os.path.join(ROOT, "build", "libtidemalloc.so")), None),
]


def workloads(mode):
    """(name, argv, stdin file or None, compare output with glibc's)."""
    w = []
    for name in ["pairs", "batch", "server", "prodcons", "falseshare", "mixed", "large", "frag"]:
        w.append((name, [os.path.join(BIN, name), mode], None, False))
    w.append(("python", [PYTHON, "-I", os.path.join(HERE, "py_workload.py"), mode], None, True))
    w.append(("sqlite", [SQLITE, "-bail", ":memory:"], os.path.join(BIN, "sqlite-%s.sql" % mode), True))
    return w


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_peers():
    """Install the Debian peer allocators if missing (only as root)."""
    missing = [pkg for _, lib, pkg in ALLOCATORS if pkg and not os.path.exists(lib)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("bench: missing %s and not root: those allocators are skipped" % " ".join(missing))
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("bench: installing %s" % " ".join(missing))
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        subprocess.run(cmd, env=env)


def run_once(argv, preload, stdin_path, timeout):
    """One measured run.  Returns a dict."""
    with tempfile.TemporaryDirectory(prefix="tidebench.") as tmp:
        res = os.path.join(tmp, "result")
        out_path = os.path.join(tmp, "out")
        err_path = os.path.join(tmp, "err")
        with open(stdin_path or os.devnull, "rb") as inp, open(out_path, "wb") as out, open(
            err_path, "wb"
        ) as err:
            cmd = [os.path.join(BIN, "measure"), res, str(int(timeout)), preload or "-"] + argv
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            rc = subprocess.run(cmd, stdin=inp, stdout=out, stderr=err, env=env).returncode
        with open(out_path, "rb") as f:
            stdout = f.read()
        with open(err_path, "rb") as f:
            stderr = f.read()
        if rc != 0 or not os.path.exists(res):
            return {"ok": False, "why": "launcher failed: " + stderr.decode(errors="replace")[-300:]}
        with open(res) as f:
            wall, rss, code, tmo = f.read().split()
    r = {
        "wall_s": float(wall),
        "peak_rss_kib": int(rss),
        "exit": int(code),
        "ok": int(code) == 0 and tmo == "0",
        "out_md5": hashlib.md5(stdout).hexdigest(),
    }
    m = re.search(rb"final_rss_kb=(\d+)", stdout)
    if m:
        r["final_rss_kib"] = int(m.group(1))
    m = re.search(rb"settle_s=([0-9.]+)", stdout)
    if m:  # frag's pause before its final RSS reading is not the allocator's time
        r["raw_wall_s"] = r["wall_s"]
        r["wall_s"] = max(0.0, r["wall_s"] - float(m.group(1)))
    if not r["ok"]:
        why = "timed out after %ss" % timeout if tmo != "0" else "exit status %s" % code
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        r["why"] = why + (": " + " | ".join(tail) if tail else "")
    return r


def callgrind_ir(preload, npairs):
    """Total instructions (Ir) of bin/ipp NPAIRS under callgrind, or None."""
    if not shutil.which("valgrind"):
        return None
    with tempfile.TemporaryDirectory(prefix="tidebench.") as tmp:
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = preload
        p = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.path.join(tmp, "cg.out"),
             os.path.join(BIN, "ipp"), str(npairs)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600,
        )
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr.decode(errors="replace"))
    if p.returncode != 0 or not m:
        return None
    return int(m.group(1))


def machine_info():
    info = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for pkg in ["libc6", "libjemalloc2", "libtcmalloc-minimal4", "libmimalloc2.0", "python3.11", "sqlite3", "valgrind"]:
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        if p.returncode == 0:
            versions[pkg] = p.stdout.strip()
    info["versions"] = versions
    p = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True)
    info["tidemalloc_commit"] = p.stdout.strip() if p.returncode == 0 else "unknown"
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, 2 rounds (< 2 minutes)")
    ap.add_argument("--rounds", type=int, help="rounds (default 5, quick 2)")
    ap.add_argument("--workloads", help="comma-separated subset")
    ap.add_argument("--allocators", help="comma-separated subset (glibc is always run)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", help="output directory (default bench/results/, the committed "
                    "results; with --quick build/bench-quick/, so that a quick run leaves them alone)")
    args = ap.parse_args()
    if args.out is None:
        args.out = default_out(args.quick)

    mode = "quick" if args.quick else "full"
    rounds = args.rounds or (2 if args.quick else 5)
    timeout = 60 if args.quick else 180
    started = time.time()

    ensure_peers()
    allocs = []
    wanted = set(args.allocators.split(",")) | {"glibc"} if args.allocators else None
    skipped = {}
    for name, lib, _ in ALLOCATORS:
        if wanted is not None and name not in wanted:
            continue
        if lib and not os.path.exists(lib):
            skipped[name] = "library not found: " + lib
            log("bench: WARNING: %s skipped (%s)" % (name, skipped[name]))
            continue
        allocs.append((name, lib))

    wl = workloads(mode)
    if args.workloads:
        keep = args.workloads.split(",")
        unknown = set(keep) - {w[0] for w in wl}
        if unknown:
            ap.error("unknown workloads: " + ",".join(sorted(unknown)))
        wl = [w for w in wl if w[0] in keep]

    runs = {w[0]: {a[0]: [] for a in allocs} for w in wl}
    reference = {}
    failed = False
    for rnd in range(1, rounds + 1):
        for wname, argv, stdin_path, compare in wl:
            line = []
            for aname, lib in allocs:
                r = run_once(argv, lib, stdin_path, timeout)
                if r["ok"] and compare:
                    if aname == "glibc" and wname not in reference:
                        reference[wname] = r["out_md5"]
                    elif wname in reference and r["out_md5"] != reference[wname]:
                        r["ok"] = False
                        r["why"] = "output differs from glibc's"
                runs[wname][aname].append(r)
                if r["ok"]:
                    line.append("%s %.2fs %dM" % (aname, r["wall_s"], r["peak_rss_kib"] // 1024))
                else:
                    failed = True
                    line.append("%s FAIL" % aname)
                    log("bench: FAIL %s under %s: %s" % (wname, aname, r.get("why", "")))
            log("round %d/%d %-10s %s" % (rnd, rounds, wname, "  ".join(line)))

    ipp = {}
    if not args.no_callgrind:
        npairs = 200000 if args.quick else 1000000
        for aname, lib in allocs:
            base = callgrind_ir(lib, 0)
            full = callgrind_ir(lib, npairs)
            if base is None or full is None:
                ipp[aname] = None
                log("callgrind %-10s failed" % aname)
            else:
                ipp[aname] = (full - base) / npairs
                log("callgrind %-10s %.1f instructions per malloc+free pair" % (aname, ipp[aname]))

    data = {
        "mode": mode,
        "rounds": rounds,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "make bench" + (" QUICK=1" if args.quick else ""),
        "elapsed_s": round(time.time() - started, 1),
        "machine": machine_info(),
        "allocators": [a[0] for a in allocs],
        "skipped": skipped,
        "workloads": [w[0] for w in wl],
        "runs": runs,
        "ipp": ipp,
        "ipp_pairs": 200000 if args.quick else 1000000,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(data, f, indent=1)
    md = report.write_all(data, args.out)
    print(md)
    log("bench: wrote %s/latest.{md,svg,json} in %.0f s" % (args.out, time.time() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

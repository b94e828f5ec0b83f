#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check what tests/os/os.c did to the OS, from `strace -f -s 256 -o FILE`.

usage: strace_check.py MODE STRACE_FILE [TRACE_FILE]
MODE is small | large | mremap | trace.  Prints what it saw; exits 1 with a
'FAIL: reason' line when the behaviour is wrong.

The program writes markers `TIDE_MARK <name> [k=v...]` with write(2) to
stdout; only calls between markers are judged (the dynamic loader's mmaps,
for one, come before main).
"""
import re
import sys

OPS = ("brk", "mmap", "munmap", "mremap", "madvise")
LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\((.*)\)\s+=\s+(-?\w+)(.*)$")
UNFINISHED = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\((.*)\s+<unfinished \.\.\.>$")
RESUMED = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(-?\w+)(.*)$")
FAILED = 0xFFFFFFFFFFFFFFFF


class Fail(Exception):
    pass


def num(s):
    s = s.strip()
    if s == "NULL":
        return 0
    return int(s, 0)


def split_args(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_strace(path):
    """Events: dicts with op, args, ret (int), pid; markers: op 'mark'."""
    events, pending = [], {}
    with open(path, errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            m = UNFINISHED.match(raw)
            if m:
                pending[m.group(1)] = (m.group(2), m.group(3))
                continue
            m = RESUMED.match(raw)
            if m:
                pid, name, rest, ret, tail = m.groups()
                head = pending.pop(pid, (name, ""))[1]
                args = head + rest
                raw_args, name = args, name
            else:
                m = LINE.match(raw)
                if not m:
                    continue
                pid, name, raw_args, ret, tail = m.groups()
            if name == "write":
                mm = re.search(r'"TIDE_MARK ([^"\\]*)', raw_args)
                if mm:
                    words = mm.group(1).split()
                    kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
                    events.append({"op": "mark", "name": words[0], "kv": kv, "pid": pid})
                continue
            if name not in OPS:
                continue
            args = split_args(raw_args)
            r = FAILED if ret.startswith("-1") and name != "brk" else int(ret, 0) & FAILED
            events.append({"op": name, "args": args, "ret": r, "pid": pid, "raw": raw})
    return events


def window(events, start, end):
    """Events strictly between marker `start` and marker `end`."""
    i0 = next((i for i, e in enumerate(events) if e["op"] == "mark" and e["name"] == start), None)
    if i0 is None:
        raise Fail("marker '%s' not found in strace output" % start)
    i1 = next((i for i, e in enumerate(events) if i > i0 and e["op"] == "mark" and e["name"] == end), None)
    if i1 is None:
        raise Fail("marker '%s' not found in strace output" % end)
    return [e for e in events[i0 + 1:i1] if e["op"] != "mark"]


def marker(events, name):
    for e in events:
        if e["op"] == "mark" and e["name"] == name:
            return e["kv"]
    raise Fail("marker '%s' not found" % name)


def real(evs, op):
    """Calls of op, leaving out brk(NULL) queries."""
    out = [e for e in evs if e["op"] == op]
    if op == "brk":
        out = [e for e in out if num(e["args"][0]) != 0]
    return out


def describe(evs):
    return "; ".join(e["raw"].split(None, 1)[-1] for e in evs[:6]) or "none"


def mode_small(events):
    w = window(events, "start", "end")
    n = int(marker(events, "end")["count"])
    brks, mmaps = real(w, "brk"), real(w, "mmap")
    print("%d x malloc(64): %d brk calls, %d mmap calls" % (n, len(brks), len(mmaps)))
    if not brks:
        raise Fail("%d small allocations (6 MiB) did not move the break (no brk call)" % n)
    if len(mmaps) > 2:
        raise Fail("%d small allocations made %d mmap calls (want brk, not per-object mmaps): %s"
                   % (n, len(mmaps), describe(mmaps)))
    grow = [e for e in brks if e["ret"] == num(e["args"][0])]
    if not grow:
        raise Fail("no brk call in the window succeeded")
    r = marker(events, "range")
    lo, hi, top = int(r["lo"], 16), int(r["hi"], 16), int(r["brk"], 16)
    first_brk = min(num(e["args"][0]) for e in grow)
    print("blocks %#x..%#x, break %#x" % (lo, hi, top))
    if hi >= top or lo < first_brk - (1 << 30):
        raise Fail("the small blocks %#x..%#x are not in the brk heap (break %#x)" % (lo, hi, top))


def mode_large(events):
    w1 = window(events, "start", "malloced")
    p = int(marker(events, "malloced")["p"], 16)
    mm, mu = real(w1, "mmap"), real(w1, "munmap")
    print("malloc(1 MiB): mmap %s; munmap %s" % (describe(mm), describe(mu)))
    if len(mm) != 1:
        raise Fail("malloc(1 MiB) made %d mmap calls, want exactly 1: %s" % (len(mm), describe(mm)))
    if mu:
        raise Fail("malloc(1 MiB) made munmap calls: %s" % describe(mu))
    if real(w1, "brk"):
        raise Fail("malloc(1 MiB) moved the break: %s" % describe(real(w1, "brk")))
    base, length = mm[0]["ret"], num(mm[0]["args"][1])
    if not (base <= p < base + length and p + (1 << 20) <= base + length):
        raise Fail("the block %#x is not inside its mapping %#x+%d" % (p, base, length))
    if length > (1 << 20) + (64 << 10):
        raise Fail("the mapping for 1 MiB is %d bytes (more than 64 KiB of overhead)" % length)
    w2 = window(events, "touched", "freed")
    mu, mm2 = real(w2, "munmap"), real(w2, "mmap")
    print("free: munmap %s" % describe(mu))
    if len(mu) != 1:
        raise Fail("free of the 1 MiB block made %d munmap calls, want 1: %s" % (len(mu), describe(mu)))
    a, l = num(mu[0]["args"][0]), num(mu[0]["args"][1])
    if a != base or l != length:
        raise Fail("free unmapped %#x+%d, but the block's mapping is %#x+%d" % (a, l, base, length))
    if mm2:
        raise Fail("free made mmap calls: %s" % describe(mm2))


def mode_mremap(events):
    p = int(marker(events, "start")["p"], 16)
    q = int(marker(events, "realloced")["q"], 16)
    w = window(events, "start", "realloced")
    mr, mm, mu = real(w, "mremap"), real(w, "mmap"), real(w, "munmap")
    print("realloc 1 MiB -> 8 MiB: mremap %s; mmap %s; munmap %s" % (describe(mr), describe(mm), describe(mu)))
    if len(mr) != 1:
        raise Fail("realloc of a mapped block 1 MiB -> 8 MiB made %d mremap calls, want 1 (mmap %d, munmap %d)"
                   % (len(mr), len(mm), len(mu)))
    if mm or mu:
        raise Fail("realloc by mremap also made mmap/munmap calls: %s" % describe(mm + mu))
    old, newlen, ret = num(mr[0]["args"][0]), num(mr[0]["args"][2]), mr[0]["ret"]
    if not (old <= p < old + (64 << 10)):
        raise Fail("mremap moved %#x, but the block was at %#x" % (old, p))
    if newlen < 8 << 20 or not (ret <= q < ret + newlen):
        raise Fail("mremap to %d bytes at %#x does not hold the 8 MiB block at %#x" % (newlen, ret, q))


# ---- trace file --------------------------------------------------------------

HEX = r"0x[0-9a-f]+"
REQS = {"malloc", "calloc", "realloc", "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc",
        "free", "malloc_trim", "thread_exit", "init", "purge", "internal"}
HEADER = re.compile(r"^# tidemalloc-trace 2 pid=(\d+) start=\d+$")


def parse_trace(path, pid):
    lines, headers = [], []
    with open(path, errors="replace") as f:
        text = f.read()
    if not text.endswith("\n"):
        raise Fail("trace file does not end with a newline (a line cut short?)")
    for no, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            m = HEADER.match(line)
            if not m:
                raise Fail("trace line %d: bad header %r" % (no, line))
            headers.append(int(m.group(1)))
            continue
        if not headers:
            raise Fail("trace line %d comes before the header" % no)
        f = line.split(" ")
        if len(f) != 11:
            raise Fail("trace line %d has %d fields, want 11: %r" % (no, len(f), line))
        t, lpid, tid, op, addr, ln, ret, err, aux, req, rsz = f
        if lpid != str(pid):
            raise Fail("trace line %d: pid %s, the process was %d: %r" % (no, lpid, pid, line))
        if op == "resident":  # a sample of resident memory, not an OS call
            if not (re.fullmatch(r"\d+", t) and addr == "0x0" and re.fullmatch(r"\d+", ln) and ret == "0x0"
                    and err == "0" and aux == "-" and req in REQS):
                raise Fail("trace line %d: malformed resident sample: %r" % (no, line))
            continue
        ok = (re.fullmatch(r"\d+", t) and re.fullmatch(r"\d+", tid) and op in OPS
              and re.fullmatch(HEX, addr) and re.fullmatch(r"\d+", ln) and re.fullmatch(HEX, ret)
              and re.fullmatch(r"\d+", err) and req in REQS and re.fullmatch(r"\d+", rsz))
        if not ok:
            raise Fail("trace line %d malformed: %r" % (no, line))
        want_aux = {"brk": r"grow|shrink", "mremap": r"\d+", "madvise": r"dontneed|free",
                    "mmap": r"-", "munmap": r"-"}[op]
        if not re.fullmatch(want_aux, aux):
            raise Fail("trace line %d: aux field %r wrong for %s: %r" % (no, aux, op, line))
        e = {"op": op, "t": int(t), "tid": int(tid), "addr": int(addr, 16), "len": int(ln),
             "ret": int(ret, 16), "err": int(err), "aux": aux, "req": req, "line": line, "no": no}
        failed = e["err"] != 0
        if op in ("mmap", "mremap") and failed != (e["ret"] == FAILED):
            raise Fail("trace line %d: err and ret disagree: %r" % (no, line))
        if op in ("munmap", "madvise") and e["ret"] not in (0, FAILED):
            raise Fail("trace line %d: ret must be 0x0 or 0xffffffffffffffff: %r" % (no, line))
        if op == "brk" and e["len"] <= 0:
            raise Fail("trace line %d: brk len must be positive: %r" % (no, line))
        if op == "brk" and not failed and e["ret"] != e["addr"]:
            raise Fail("trace line %d: successful brk but ret != addr: %r" % (no, line))
        lines.append(e)
    if headers != [pid]:
        raise Fail("trace headers %s; want one, for pid %d" % (headers, pid))
    last = {}
    for e in lines:
        if e["t"] < last.get(e["tid"], 0):
            raise Fail("trace line %d: time goes backwards for thread %d" % (e["no"], e["tid"]))
        last[e["tid"]] = e["t"]
    return lines


def same_call(s, t):
    """Does strace event s show the call trace line t describes?"""
    if s["op"] != t["op"]:
        return False
    a = s["args"]
    try:
        if s["op"] == "brk":
            return num(a[0]) == t["addr"] and s["ret"] == t["ret"]
        if s["op"] == "mmap":
            return num(a[0]) == t["addr"] and num(a[1]) == t["len"] and s["ret"] == t["ret"]
        if s["op"] in ("munmap", "madvise"):
            if num(a[0]) != t["addr"] or num(a[1]) != t["len"]:
                return False
            if s["op"] == "madvise":
                adv = {"MADV_DONTNEED": "dontneed", "MADV_FREE": "free"}.get(a[2].strip(), a[2].strip())
                if adv != t["aux"]:
                    return False
            return (s["ret"] == FAILED) == (t["ret"] == FAILED)
        if s["op"] == "mremap":
            return (num(a[0]) == t["addr"] and num(a[2]) == t["len"] and num(a[1]) == int(t["aux"])
                    and s["ret"] == t["ret"])
    except (IndexError, ValueError):
        return False
    return False


def mode_trace(events, trace_path):
    pids = {e["pid"] for e in events if e["op"] == "mark"}
    if len(pids) != 1:
        raise Fail("expected one process writing markers, saw %s" % pids)
    pid = int(pids.pop())
    tl = parse_trace(trace_path, pid)
    if not tl:
        raise Fail("the trace file has no call lines")
    calls = [e for e in events if e["op"] == "mark" or not (e["op"] == "brk" and num(e["args"][0]) == 0)]
    inside, j, untraced = False, 0, []
    matched = {op: 0 for op in OPS}
    in_window = {op: [0, 0] for op in OPS}  # strace calls, trace lines
    for e in calls:
        if e["op"] == "mark":
            if e["name"] == "start":
                inside = True
            elif e["name"] == "end":
                inside = False
            continue
        if j < len(tl) and same_call(e, tl[j]):
            matched[e["op"]] += 1
            if inside:
                in_window[e["op"]][1] += 1
            j += 1
        elif inside:
            untraced.append(e)
        if inside:
            in_window[e["op"]][0] += 1
    counts = {op: sum(1 for t in tl if t["op"] == op) for op in OPS}
    print("trace lines: %s" % counts)
    print("between the markers, strace/trace: %s" % {k: "%d/%d" % tuple(v) for k, v in in_window.items()})
    if j < len(tl):
        raise Fail("trace line %d has no matching system call in strace's output: %r" % (tl[j]["no"], tl[j]["line"]))
    if untraced:
        raise Fail("%d system calls made during the run are missing from the trace, first: %s"
                   % (len(untraced), untraced[0]["raw"]))
    for op in ("brk", "mmap", "munmap"):
        if in_window[op][0] != in_window[op][1]:
            raise Fail("%s: strace counted %d calls, the trace %d" % (op, in_window[op][0], in_window[op][1]))
    if counts["brk"] == 0 or counts["mmap"] == 0 or counts["munmap"] == 0 or counts["mremap"] == 0:
        raise Fail("the run should show brk, mmap, munmap and mremap lines; trace has %s" % counts)
    reqs = {t["req"] for t in tl}
    print("requests seen: %s" % sorted(reqs))
    if "malloc" not in reqs or not ({"free", "malloc_trim", "purge"} & reqs):
        raise Fail("trace req fields implausible: %s" % sorted(reqs))
    big = [t for t in tl if t["op"] == "mmap" and t["req"] == "malloc" and t["len"] >= 1 << 20]
    if not any(int(t["line"].split()[-1]) == 1 << 20 for t in big):
        raise Fail("no mmap line for the malloc(1048576) with req_size 1048576")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    try:
        events = parse_strace(path)
        if not any(e["op"] == "mark" for e in events):
            raise Fail("no markers in the strace output (did strace trace write?)")
        if mode == "small":
            mode_small(events)
        elif mode == "large":
            mode_large(events)
        elif mode == "mremap":
            mode_mremap(events)
        elif mode == "trace":
            mode_trace(events, sys.argv[3])
        else:
            raise Fail("unknown mode " + mode)
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

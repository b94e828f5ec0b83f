# SPDX-License-Identifier: MIT
"""Count the successful memory calls strace saw between two markers.

usage: strace_count.py STRACE_FILE BEGIN_MARKER END_MARKER
Prints "strace NAME COUNT" for brk, mmap, munmap, mremap, madvise.  brk(NULL)
(a query of the break) is not a call that moves it and is not counted; a brk
whose result is not the address asked for failed (the kernel refused).
Exits 1 if the markers are not found exactly once, in order.
"""
import re
import sys

path, begin, end = sys.argv[1:4]
CALL = re.compile(r'^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\((.*)\)\s+=\s+(-?\w+)')
RESUMED = re.compile(r'^(?:\[pid\s+)?(\d+)\]?\s+<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(-?\w+)')
UNFINISHED = re.compile(r'^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\((.*) <unfinished \.\.\.>$')

counts = {k: 0 for k in ("brk", "mmap", "munmap", "mremap", "madvise")}
failed = {k: 0 for k in counts}
state = "before"
pending = {}
seen_begin = seen_end = 0
for line in open(path, errors="replace"):
    line = line.rstrip("\n")
    m = UNFINISHED.match(line)
    if m:
        pending[m.group(1)] = m.group(3)
        continue
    m = CALL.match(line)
    if m:
        pid, name, args, ret = m.groups()
    else:
        m = RESUMED.match(line)
        if not m:
            continue
        pid, name, rest, ret = m.groups()
        args = pending.pop(pid, "") + rest
    if name == "write":
        if begin in args:
            seen_begin += 1
            state = "inside"
        elif end in args:
            seen_end += 1
            state = "after"
        continue
    if state != "inside" or name not in counts:
        continue
    first = args.split(",")[0].strip()
    if name == "brk":
        if first in ("NULL", "0"):
            continue
        ok = ret == first or (ret.startswith("0x") and first.startswith("0x") and int(ret, 16) == int(first, 16))
    elif name in ("mmap", "mremap"):
        ok = not ret.startswith("-")
    else:
        ok = ret == "0"
    if ok:
        counts[name] += 1
    else:
        failed[name] += 1

if seen_begin != 1 or seen_end != 1 or state != "after":
    print("FAIL: markers seen %d/%d times (state %s)" % (seen_begin, seen_end, state))
    sys.exit(1)
for k, v in counts.items():
    print("strace %s %d" % (k, v))
print("strace failed %d" % sum(failed.values()))

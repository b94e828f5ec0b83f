#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/demo.sh — `make demo`: tidemalloc and the tide tool on a real program.
#
#   1. tide run     Python builds and drops a large dict and a large bytes
#                   object; tide says where the memory came from and went.
#   2. tide report  the trace of that run: every brk/mmap/munmap/madvise, with
#                   the requests that caused them, and a timeline picture.
#   3. tide map     the address space of a running Python, drawn as boxes,
#                   with tidemalloc's brk heap and mappings marked.
#
# Pictures (SVG) go to build/demo/.  Needs `make` to have built build/tide and
# build/libtidemalloc.so.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tide=$root/build/tide
lib=$root/build/libtidemalloc.so
out=$root/build/demo
python=/usr/bin/python3.11
[ -x "$python" ] || python=$(command -v python3 || true)

if [ ! -x "$tide" ] || [ ! -f "$lib" ]; then
  echo "demo: build/tide or build/libtidemalloc.so is missing; run 'make' first" >&2
  exit 1
fi
if [ -z "$python" ]; then
  echo "demo: no python3 found (looked for /usr/bin/python3.11 and python3)" >&2
  exit 1
fi
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tide-demo.XXXXXX")
bg=
cleanup() {
  if [ -n "$bg" ]; then kill "$bg" 2>/dev/null || true; wait "$bg" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

heading() {
  printf '\n%s\n %s\n%s\n' "======================================================================" \
    "$1" "======================================================================"
}
say() { printf '%s\n' "$@"; }
show() { printf '\n$ %s\n' "$*"; }

# PYTHONMALLOC=malloc makes Python ask malloc for every object, instead of
# carving small ones out of its own 256 KiB arenas, so we see them all.
export PYTHONMALLOC=malloc

heading "tidemalloc demo, part 1 of 3: tide run -- where did the memory come from?"
say "Python builds a dict of 300,000 small strings (small objects: tidemalloc's brk heap" \
    "grows, the data segment gets taller), then a 64 MiB bytes object (a large request:" \
    "it gets an mmap of its own), then drops both (munmap, madvise, a lower break)."
cat > "$tmp/work.py" <<'EOF'
import gc, time
d = {i: str(i) * 3 for i in range(300000)}   # many small blocks from the brk heap
big = bytes(64 * 1024 * 1024)                # one large block: its own mapping
print(f"python: built a dict of {len(d):,} entries and {len(big) >> 20} MiB of bytes")
del big                                      # munmap: straight back to the OS
del d
gc.collect()                                 # the small blocks are free now
time.sleep(0.05)                             # past purge_delay_ms (10 ms) ...
junk = [bytearray(64) for _ in range(2000)]  # ... so later calls purge and trim
print("python: dropped them")
EOF
show "tide run --trace $tmp/python.trace -- $python work.py"
"$tide" run --trace "$tmp/python.trace" -- "$python" "$tmp/work.py"

heading "tidemalloc demo, part 2 of 3: tide report -- every OS call of that run"
say "The trace has one line per OS call (docs/trace-format.md). tide report counts them," \
    "finds the peaks, and names the requests that made tidemalloc call the kernel."
show "tide report python.trace --svg build/demo/timeline.svg"
"$tide" report "$tmp/python.trace" --svg "$out/timeline.svg"

heading "tidemalloc demo, part 3 of 3: tide map -- the address space of a live process"
say "A Python process on tidemalloc (LD_PRELOAD) allocates, prints 'ready' and sleeps;" \
    "tide map draws its memory as the seed document does, high addresses on top."
cat > "$tmp/live.py" <<'EOF'
import os, sys, time
d = {i: str(i) for i in range(200000)}
big = bytearray(32 * 1024 * 1024)
print("ready", os.getpid(), flush=True)
time.sleep(60)
EOF
LD_PRELOAD=$lib "$python" "$tmp/live.py" > "$tmp/ready" &
bg=$!
for _ in $(seq 1 100); do
  grep -q ready "$tmp/ready" 2>/dev/null && break
  kill -0 "$bg" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q ready "$tmp/ready" 2>/dev/null; then
  echo "demo: the Python process did not start" >&2
  exit 1
fi
show "LD_PRELOAD=build/libtidemalloc.so $python live.py &   # pid $bg"
show "tide map $bg --svg build/demo/map.svg"
"$tide" map "$bg" --svg "$out/map.svg"
kill "$bg" 2>/dev/null || true
wait "$bg" 2>/dev/null || true
bg=

heading "Pictures"
say "  $out/timeline.svg   break height and mapped bytes over time (part 2)" \
    "  $out/map.svg        the address space of part 3" \
    "" "Try it on your own program:  build/tide run -- PROGRAM ARGS..." \
    "See build/tide --help or man -l docs/tide.1, and man -l docs/tidemalloc.3 for the options."

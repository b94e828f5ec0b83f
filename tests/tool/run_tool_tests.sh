#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tests of build/tide, the command-line tool (tools/).
#
#   bash tests/tool/run_tool_tests.sh
#
# Prints `PASS name`, `FAIL name: why` or `SKIP name: why`, one line per test,
# and exits 1 if any failed.  Needs build/tide; the tests that run programs on
# the real allocator need build/libtidemalloc.so (they are skipped without
# it); the others use tests/tool/fake_stats.c, a stand-in library that only
# writes a statistics line, so they test the tool alone.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 2
tide=$root/build/tide
lib=$root/build/libtidemalloc.so
py=/usr/bin/python3.11
[ -x "$py" ] || py=$(command -v python3)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tide-tool-tests.XXXXXX")
bgpids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
failed=0

pass() { printf 'PASS %s\n' "$1"; }
fail() { printf 'FAIL %s: %s\n' "$1" "$2"; failed=1; }
skip() { printf 'SKIP %s: %s\n' "$1" "$2"; }

if [ ! -x "$tide" ]; then
  fail tool/build "build/tide is missing (run make)"
  exit 1
fi

# ---- help, version, bad arguments -------------------------------------------
t=tool/help
ok=1
for args in "--help" "-h" "help" "help run" "help map" "help report" "run --help" "map --help" \
            "report --help"; do
  # shellcheck disable=SC2086
  out=$("$tide" $args 2>"$tmp/err"); rc=$?
  if [ $rc -ne 0 ] || ! grep -q '^usage: tide' <<<"$out" || [ -s "$tmp/err" ]; then
    fail $t "'tide $args' gave status $rc or no usage on stdout"
    ok=0
    break
  fi
done
[ $ok = 1 ] && pass $t

t=tool/version
out=$("$tide" --version); rc=$?
if [ $rc -eq 0 ] && grep -Eq '^tide [0-9]+\.[0-9]+' <<<"$out"; then pass $t; else fail $t "status $rc, '$out'"; fi

t=tool/bad-args
ok=1
while IFS= read -r args; do
  # shellcheck disable=SC2086
  "$tide" $args >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
  if [ "$args" = "" ]; then
    # No command at all: usage on stderr, status 2.
    if [ $rc -ne 2 ] || ! grep -q '^usage: tide' "$tmp/err"; then fail $t "'tide' gave status $rc"; ok=0; break; fi
    continue
  fi
  if [ $rc -ne 2 ]; then fail $t "'tide $args' gave status $rc, not 2"; ok=0; break; fi
  if [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q '^tide: ' "$tmp/err"; then
    fail $t "'tide $args' did not give one 'tide: ...' line on stderr: $(head -c 200 "$tmp/err")"
    ok=0
    break
  fi
  if [ -s "$tmp/out" ]; then fail $t "'tide $args' wrote to stdout"; ok=0; break; fi
done <<'EOF'

bogus
--bogus
run
run --bogus -- true
run --trace
map
map abc
map -5
map 1 2
map --svg
map 1 --bogus
report
report a b
report --svg
report --bogus x
help bogus
EOF
[ $ok = 1 ] && pass $t

# ---- tide run, with the stand-in library ----------------------------------------
fake=$tmp/fake/libtidemalloc.so
mkdir -p "$tmp/fake"
if ! cc -O1 -fPIC -shared tests/tool/fake_stats.c -o "$fake" 2>"$tmp/cc.err"; then
  fail tool/run-fake "cannot build the stand-in library: $(head -c 200 "$tmp/cc.err")"
else
  t=tool/run-exit-status
  TIDE_LIB=$fake "$tide" run -- bash -c 'exit 5' 2>/dev/null; rc1=$?
  TIDE_LIB=$fake "$tide" run -- bash -c 'kill -TERM $$' 2>/dev/null; rc2=$?
  TIDE_LIB=$fake "$tide" run -- /nonexistent/program 2>/dev/null; rc3=$?
  TIDE_LIB=$fake "$tide" run /bin/true 2>/dev/null; rc4=$?
  if [ $rc1 = 5 ] && [ $rc2 = 143 ] && [ $rc3 = 127 ] && [ $rc4 = 0 ]; then pass $t
  else fail $t "statuses $rc1 $rc2 $rc3 $rc4, want 5 143 127 0"; fi

  t=tool/run-streams-untouched
  out=$(echo input | TIDE_LIB=$fake "$tide" run -- bash -c 'cat; echo to-stdout; echo to-stderr >&2' 2>"$tmp/err")
  if [ "$out" = $'input\nto-stdout' ] && grep -q '^to-stderr$' "$tmp/err" && grep -q 'where the memory' "$tmp/err"; then
    pass $t
  else
    fail $t "stdout was '$out'"
  fi

  t=tool/run-env
  # The library goes first in LD_PRELOAD, the user's options are kept.
  # shellcheck disable=SC2016 # expanded by the inner bash
  out=$(LD_PRELOAD=/lib/x86_64-linux-gnu/libc.so.6 TIDEMALLOC_OPTIONS=verbose=0 TIDE_LIB=$fake \
        "$tide" run -- bash -c 'echo "$LD_PRELOAD|$TIDEMALLOC_OPTIONS"' 2>/dev/null)
  case $out in
  "$fake:/lib/x86_64-linux-gnu/libc.so.6|verbose=0,stats=json,stats_file=/"*) pass $t ;;
  *) fail $t "environment was '$out'" ;;
  esac

  t=tool/run-summary-processes
  # bash and its two children each write a line: one summary, 2 others.
  TIDE_LIB=$fake "$tide" run -- bash -c '/bin/true; /bin/true; exit 0' 2>"$tmp/err"; rc=$?
  if [ $rc = 0 ] && grep -q 'brk heap *peak 8.0 MiB, at exit 4.0 MiB' "$tmp/err" &&
     grep -q '2 more processes ran on tidemalloc' "$tmp/err" && grep -q 'block size' "$tmp/err"; then
    pass $t
  else
    fail $t "status $rc; summary: $(head -c 300 "$tmp/err")"
  fi

  t=tool/run-json
  TIDE_LIB=$fake "$tide" run --json -o "$tmp/run.json" -- bash -c '/bin/true; exit 0' 2>/dev/null; rc=$?
  if [ $rc = 0 ] && "$py" - "$tmp/run.json" <<'EOF'; then pass $t; else fail $t "bad JSON output (status $rc)"; fi
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(objs) == 2, objs
assert all(isinstance(o["pid"], int) and o["brk_grow"]["calls"] == 3 for o in objs)
EOF

  t=tool/run-no-stats
  TIDE_LIB=$fake "$tide" run -- bash -c 'exec env -u LD_PRELOAD /bin/true' 2>"$tmp/err"; rc=$?
  if [ $rc = 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q 'no statistics' "$tmp/err"; then pass $t
  else fail $t "status $rc; stderr: $(head -c 300 "$tmp/err")"; fi
fi

# ---- tide report on a hand-written trace ---------------------------------------
cat >"$tmp/hand.trace" <<'EOF'
# tidemalloc-trace 1 pid=4242
15021 4242 brk 0x55d0c0800000 2269184 0x55d0c0800000 0 grow init 0
15877 4242 brk 0x55d0c0860000 393216 0x55d0c0860000 0 grow malloc 24
88310 4242 mmap 0x0 1052672 0x7f3a9c400000 0 - malloc 1048576
89000 4243 mmap 0x0 4194304 0xffffffffffffffff 12 - malloc 4000000
90122 4242 munmap 0x7f3a9c400000 1052672 0x0 0 - free 0
95000 4242 mremap 0x7f3a9c600000 8388608 0x7f3a9c600000 0 4194304 realloc 8000000
99000 4242 madvise 0x55d0c0810000 65536 0x0 0 dontneed purge 0
120000 4242 brk 0x55d0c0800000 393216 0x55d0c0800000 0 shrink free 0
# tidemalloc-trace 1 pid=5000
1000 5000 brk 0x1000 4096 0x2000 0 grow init 0
EOF
t=tool/report-summary
"$tide" report "$tmp/hand.trace" --svg "$tmp/hand.svg" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc = 0 ] && [ ! -s "$tmp/err" ] &&
   grep -q 'peak height 2.5 MiB above it, 2.2 MiB at the end' "$tmp/out" &&
   grep -q 'mapped  *peak 4.0 MiB, 4.0 MiB at the end' "$tmp/out" &&
   grep -Eq '^  mmap +2 +1 +1.0 MiB$' "$tmp/out" &&
   grep -q 'Cannot allocate memory' "$tmp/out" &&
   grep -Eq '^  realloc +8,000,000 +1 +4.0 MiB' "$tmp/out" &&
   grep -q 'pid 5000' "$tmp/out"; then
  pass $t
else
  fail $t "status $rc; $(head -c 400 "$tmp/out" "$tmp/err")"
fi

t=tool/report-svg
# hand.trace has two processes: a row each, with its two step lines, and the
# give-back strip of pid 4242 with its munmap, madvise and brk shrink ticks.
cat >"$tmp/check_svg.py" <<'EOF'
import sys, xml.etree.ElementTree as E
ns = "{http://www.w3.org/2000/svg}"
r = E.parse(sys.argv[1]).getroot()
assert r.tag.endswith("svg"), r.tag
rows = [g for g in r.iter(ns + "g") if g.get("class") == "process"]
pids = [g.get("data-pid") for g in rows]
assert pids == sys.argv[2].split(","), "process rows %s, want %s" % (pids, sys.argv[2])
for g in rows:
    n = len(list(g.iter(ns + "path")))
    assert n in (1, 2), "pid %s: %d step lines" % (g.get("data-pid"), n)
first = rows[0]
ops = sorted({l.get("data-op") for l in first.iter(ns + "line") if l.get("class") == "giveback"})
want = sys.argv[3].split(",") if len(sys.argv) > 3 else []
assert ops == want, "pid %s give-back ticks %s, want %s" % (first.get("data-pid"), ops, want)
EOF
if why=$("$py" "$tmp/check_svg.py" "$tmp/hand.svg" 4242,5000 "brk shrink,madvise,munmap" 2>&1); then
  pass $t
else
  fail $t "timeline SVG: $(tail -1 <<<"$why")"
fi

# Not a trace, cut short, or empty: status 1 and one line naming the file
# and the first bad line; no summary.
t=tool/report-bad-input
ok=1
printf '# tidemalloc-trace 2 pid=7 start=5\n1 7 7 brk 0x1000 4096 0x2000 0 grow init 0\nnot a trace line\n' >"$tmp/bad.trace"
head -c 60 "$tmp/hand.trace" >"$tmp/cut.trace"
: >"$tmp/empty.trace"
while IFS='|' read -r file want; do
  "$tide" report "$file" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc != 1 ] || [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -qF "tide: report: $want" "$tmp/err" || [ -s "$tmp/out" ]; then
    fail $t "tide report $file: status $rc, stderr '$(head -c 300 "$tmp/err")', want status 1 and one line 'tide: report: $want...' and no summary"
    ok=0
    break
  fi
done <<EOF
/etc/passwd|/etc/passwd:1: not a tidemalloc trace
$tmp/bad.trace|$tmp/bad.trace:3: not the eleven fields
$tmp/cut.trace|$tmp/cut.trace:2: truncated
$tmp/empty.trace|$tmp/empty.trace: empty file
EOF
if [ $ok = 1 ]; then
  printf '# tidemalloc-trace 1 pid=7\nnot a trace line\n' | "$tide" report - >/dev/null 2>"$tmp/err"; rc=$?
  "$tide" report "$tmp/does-not-exist" >/dev/null 2>"$tmp/err2"; rc2=$?
  "$tide" report "$tmp/hand.trace" --pid 77 >/dev/null 2>"$tmp/err3"; rc3=$?
  if [ $rc = 1 ] && grep -q '^tide: report: (stdin):2: ' "$tmp/err" && [ $rc2 = 1 ] && [ $rc3 = 1 ] &&
     grep -q "no process 77 in this trace (its pids: 4242, 5000)" "$tmp/err3"; then
    pass $t
  else
    fail $t "stdin: status $rc, $(cat "$tmp/err"); missing file: status $rc2; --pid 77: status $rc3, $(cat "$tmp/err3")"
  fi
fi

# --pid: the full summary of that process, the others one line each
t=tool/report-pid
"$tide" report "$tmp/hand.trace" --pid 5000 >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc = 0 ] && grep -q '^2 processes in this trace$' "$tmp/out" && grep -q '^pid 5000: 1 OS calls' "$tmp/out" &&
   grep -Eq '^  brk grow +1 +0 +4.0 KiB$' "$tmp/out" && grep -q '^1 other process in this trace:' "$tmp/out" &&
   grep -Eq '^  pid 4242 +8 OS calls' "$tmp/out"; then
  pass $t
else
  fail $t "status $rc; $(head -c 400 "$tmp/out" "$tmp/err")"
fi

# Version 2 lines name their pid: a line of pid 5000 whose tid is above 6000
# stays with 5000, and the headers of a forked-then-exec'd child (same pid,
# a later start) make one process whose mapped bytes start again at exec.
t=tool/report-v2-pids
cat >"$tmp/v2.trace" <<'EOF'
# tidemalloc-trace 2 pid=5000 start=1000000
10 5000 5000 mmap 0x0 1048576 0x7f0000000000 0 - malloc 1000000
# tidemalloc-trace 2 pid=6000 start=1000000
20 6000 6000 mmap 0x0 2097152 0x7f0000200000 0 - malloc 2000000
30 5000 7001 munmap 0x7f0000000000 1048576 0x0 0 - free 0
# tidemalloc-trace 2 pid=6000 start=3000000
40 6000 6000 mmap 0x0 4194304 0x7f0000400000 0 - malloc 4000000
EOF
"$tide" report "$tmp/v2.trace" --pid 6000 >"$tmp/out" 2>"$tmp/err"; rc=$?
"$tide" report "$tmp/v2.trace" >"$tmp/out2" 2>>"$tmp/err"; rc2=$?
if [ $rc = 0 ] && [ $rc2 = 0 ] && grep -q '^2 processes in this trace$' "$tmp/out" &&
   grep -q '^pid 6000: 2 OS calls over 2.0 ms' "$tmp/out" &&
   grep -q 'mapped  *peak 4.0 MiB, 4.0 MiB at the end' "$tmp/out" &&
   grep -Eq '^  munmap +1 +0 +1.0 MiB$' "$tmp/out2" && ! grep -q 'pid 7001' "$tmp/out2"; then
  pass $t
else
  fail $t "statuses $rc $rc2; $(head -c 500 "$tmp/out" "$tmp/out2" "$tmp/err")"
fi

# ---- tide map --------------------------------------------------------------------
t=tool/map-matches-maps
sleep 30 &
spid=$!
bgpids+=("$spid")
sleep 0.2
if "$tide" map "$spid" --svg "$tmp/sleep.svg" >"$tmp/sleep.txt" 2>"$tmp/err" &&
   cp "/proc/$spid/maps" "$tmp/sleep.maps" &&
   why=$("$py" tests/tool/check_map.py text "$tmp/sleep.maps" "$tmp/sleep.txt") &&
   grep -q '\[stack\]' "$tmp/sleep.txt" && grep -q 'executable /usr/bin/sleep' "$tmp/sleep.txt" &&
   grep -q 'unmapped ~' "$tmp/sleep.txt"; then
  pass $t
else
  fail $t "${why:-tide map failed: $(head -c 200 "$tmp/err")}"
fi
why=
t=tool/map-svg
if why=$("$py" tests/tool/check_map.py svg "$tmp/sleep.maps" "$tmp/sleep.svg" 2>&1); then pass $t
else fail $t "$why"; fi

t=tool/map-self
if "$tide" map self >"$tmp/self.txt" 2>&1 && grep -q 'executable .*/tide' "$tmp/self.txt"; then pass $t
else fail $t "$(head -c 200 "$tmp/self.txt")"; fi

t=tool/map-no-process
"$tide" map 999999999 >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q '^tide: map: no process' "$tmp/err"; then pass $t; else fail $t "status $rc"; fi

# ---- on the real library ---------------------------------------------------------------
if [ ! -f "$lib" ]; then
  for t in tool/real-run tool/real-json tool/real-report tool/real-map; do skip $t "build/libtidemalloc.so is missing"; done
  exit $failed
fi
if ! cc -O1 tests/tool/alloc_known.c -o "$tmp/alloc_known" 2>"$tmp/cc.err"; then
  fail tool/real-run "cannot build alloc_known.c"
else
  t=tool/real-run
  "$tide" run --trace "$tmp/known.trace" -- "$tmp/alloc_known" 2>"$tmp/err"; rc=$?
  if [ $rc = 7 ] && grep -q "pid [0-9]*, exit status 7" "$tmp/err" && grep -Eq '^mappings \(mmap\)  ([3-9]|[1-9][0-9]+) mappings' "$tmp/err" &&
     grep -q '^brk heap  *peak' "$tmp/err"; then
    pass $t
  else
    fail $t "status $rc; $(head -c 400 "$tmp/err")"
  fi

  t=tool/real-json
  cat >"$tmp/check_json.py" <<'EOF'
import json, re, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(objs) == 1, f"{len(objs)} objects"
o = objs[0]
# The keys are the fields of struct tide_stats, less four, plus two.
hdr = open(sys.argv[2]).read()
body = re.search(r"struct tide_stats \{(.*?)\n\};", hdr, re.S).group(1)
fields = re.findall(r"^\s*(?:uint\d+_t|struct tide_os_counter|struct tide_class_stats)\s+(\w+)", body, re.M)
want = (set(fields) - {"version", "size", "reserved", "class_count"}) | {"pid", "tidemalloc"}
assert set(o) == want, f"keys differ: missing {want - set(o)}, extra {set(o) - want}"
for k in ("brk_grow", "brk_shrink", "mmap", "munmap", "mremap", "madvise"):
    assert set(o[k]) == {"calls", "bytes"}, k
assert o["mmap"]["calls"] >= 3, o["mmap"]
assert o["malloc_calls"] >= 10003, o["malloc_calls"]
for c in o["classes"]:
    assert set(c) == {"block_size", "blocks_used", "blocks_free", "pages"} and c["pages"] > 0, c
EOF
  "$tide" run --json -o "$tmp/known.json" -- "$tmp/alloc_known" 2>/dev/null; rc=$?
  if [ $rc = 7 ] && why=$("$py" "$tmp/check_json.py" "$tmp/known.json" include/tidemalloc.h 2>&1); then pass $t
  else fail $t "status $rc; $(tail -1 <<<"$why")"; fi

  t=tool/real-report
  if "$tide" report "$tmp/known.trace" --svg "$tmp/known.svg" >"$tmp/out" 2>"$tmp/err" &&
     grep -Eq '^  mmap +([3-9]|[1-9][0-9]+) ' "$tmp/out" &&
     "$py" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$tmp/known.svg"; then
    pass $t
  else
    fail $t "$(head -c 300 "$tmp/out" "$tmp/err")"
  fi
fi

t=tool/real-map
LD_PRELOAD=$lib PYTHONMALLOC=malloc "$py" -c '
import time
d = {i: str(i) for i in range(100000)}
b = bytearray(8 << 20)
print("ready", flush=True)
time.sleep(30)' >"$tmp/ready" &
ppid=$!
bgpids+=("$ppid")
for _ in $(seq 1 100); do grep -q ready "$tmp/ready" 2>/dev/null && break; sleep 0.1; done
why=
if "$tide" map "$ppid" --svg "$tmp/py.svg" >"$tmp/py.txt" 2>"$tmp/err" &&
   cp "/proc/$ppid/maps" "$tmp/py.maps" &&
   why=$("$py" tests/tool/check_map.py text "$tmp/py.maps" "$tmp/py.txt") &&
   why=$("$py" tests/tool/check_map.py svg "$tmp/py.maps" "$tmp/py.svg") &&
   grep -q '^# tidemalloc brk heap' "$tmp/py.txt" && grep -q '^# tidemalloc large block' "$tmp/py.txt" &&
   grep -q 'data-kind="tidemalloc brk heap"' "$tmp/py.svg"; then
  pass $t
else
  fail $t "${why:-no tidemalloc marks: $(grep -m3 tidemalloc "$tmp/py.txt" "$tmp/err")}"
fi
# ---- tide run: the process's peak RSS is the kernel's ru_maxrss --------------
t=tool/run-peak-rss
cat >"$tmp/rss.c" <<'EOF_C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
int main(void) {
  volatile char *p = malloc(30 << 20); /* volatile: the writes stay */
  if (!p) return 1;
  for (size_t i = 0; i < (30 << 20); i += 4096) p[i] = 1;
  free((void *)p);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("maxrss=%ld\n", ru.ru_maxrss);
  return 0;
}
EOF_C
if ! cc -O1 "$tmp/rss.c" -o "$tmp/rss" 2>"$tmp/cc.err"; then
  fail $t "cannot build the test program: $(head -c 200 "$tmp/cc.err")"
elif "$tide" run -- "$tmp/rss" >"$tmp/rss.out" 2>"$tmp/rss.err"; then
  self=$(sed -n 's/^maxrss=//p' "$tmp/rss.out")
  shown=$(sed -n 's/.*ru_maxrss \([0-9]*\) KiB.*/\1/p' "$tmp/rss.err")
  # the report at exit runs after the program's last look: a few pages more
  if [ -n "$self" ] && [ -n "$shown" ] && [ "$self" -ge 30000 ] && [ "$shown" -ge "$self" ] &&
     [ "$shown" -le $((self + 512)) ]; then
    pass $t
  else
    fail $t "tide run shows ru_maxrss '${shown}' KiB; the program saw '${self}' KiB itself"
  fi
else
  fail $t "tide run failed: $(head -c 200 "$tmp/rss.err")"
fi

# ---- the trace's resident samples, in tide report and its SVG ----------------
t=tool/report-resident-samples
cat >"$tmp/res.c" <<'EOF_C'
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>
int main(void) {
  enum { N = 500000 };
  static void *v[N];
  for (int i = 0; i < N; i++) {
    v[i] = malloc(100);
    if (!v[i]) return 1;
    memset(v[i], 1, 100);
  }
  for (int i = 0; i < N; i++) free(v[i]);
  malloc_trim(0);
  usleep(5000);
  void *p = malloc(1000); /* an OS call after the trim: a last sample */
  free(p);
  return 0;
}
EOF_C
if ! cc -O1 "$tmp/res.c" -o "$tmp/res" 2>"$tmp/cc.err"; then
  fail $t "cannot build the test program: $(head -c 200 "$tmp/cc.err")"
elif ! "$tide" run --trace "$tmp/res.trace" -- "$tmp/res" >/dev/null 2>"$tmp/res.err"; then
  fail $t "tide run failed: $(head -c 200 "$tmp/res.err")"
elif ! "$tide" report "$tmp/res.trace" --svg "$tmp/res.svg" >"$tmp/res.rep" 2>&1; then
  fail $t "tide report failed: $(head -c 200 "$tmp/res.rep")"
else
  # 500,000 blocks of 112 bytes touched: about 53 MiB resident at the crest
  # (samples are at most one per 2 ms: the highest may come a little before
  # it); after the trim, a few pages
  peak=$(awk '$4 == "resident" && $6 > m {m = $6} END {print m + 0}' "$tmp/res.trace")
  last=$(awk '$4 == "resident" {l = $6} END {print l + 0}' "$tmp/res.trace")
  if [ "$peak" -ge $((40 << 20)) ] && [ "$peak" -le $((64 << 20)) ] && [ "$last" -le $((4 << 20)) ] &&
     grep -q '^resident  *peak ' "$tmp/res.rep" && grep -q 'resident in tidemalloc' "$tmp/res.svg"; then
    pass $t
  else
    fail $t "resident samples: peak $peak, last $last; report: $(grep -m1 '^resident' "$tmp/res.rep")"
  fi
fi

exit $failed

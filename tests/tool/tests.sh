# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The tide command (run, map, report): tests/tool/run_tool_tests.sh checks it
# piece by piece; this runs it as one test and names the first failure.
# Sourced by tests/run.sh.

tool_all() {
  need_tide
  [ -x "$T_ROOT/build/tide" ] || fail "build/tide is missing (run make)"
  t_script 240 10 "$T_ROOT/tests/tool/run_tool_tests.sh"
}
t_test tool/run-map-report tool_all

# A program that forks and execs a known number of children (fork_exec.c):
# the report lists every process of the run once, and no other (each child
# writes a trace header after fork and again after exec), and the chart has
# a row for each.
tool_every_process_once() {
  need_tide
  [ -x "$T_ROOT/build/tide" ] || fail "build/tide is missing (run make)"
  t_cc tool/fork_exec tests/tool/fork_exec.c
  local dir=$T_BUILD/tool tr=$T_BUILD/tool/fork_exec.trace
  t_run 60 "$T_ROOT/build/tide" run --trace "$tr" -- "$dir/fork_exec" >"$dir/fork_exec.pids" 2>"$dir/fork_exec.err" ||
    fail "tide run fork_exec failed: $(head -c 300 "$dir/fork_exec.err")"
  local want got n
  want=$(sort -n "$dir/fork_exec.pids" | tr '\n' ' ')
  [ "$(wc -l <"$dir/fork_exec.pids")" -eq 5 ] || fail "fork_exec printed $(wc -l <"$dir/fork_exec.pids") pids, want 5"
  t_run 60 "$T_ROOT/build/tide" report "$tr" --svg "$dir/fork_exec.svg" >"$dir/fork_exec.report" 2>&1 ||
    fail "tide report failed: $(head -c 300 "$dir/fork_exec.report")"
  cat "$dir/fork_exec.report"
  n=$(sed -n 's/^\([0-9]*\) processes in this trace$/\1/p' "$dir/fork_exec.report")
  [ "$n" = 5 ] || fail "the report counts '$n' processes, the run had 5 ($want)"
  got=$(sed -n -e 's/^pid \([0-9]*\): .*/\1/p' -e 's/^  pid \([0-9]*\) .*/\1/p' "$dir/fork_exec.report" | sort -n | tr '\n' ' ')
  [ "$got" = "$want" ] || fail "the report lists pids '$got', the run's were '$want'"
  got=$("$T_PY" -c '
import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
print(" ".join(sorted((g.get("data-pid") for g in r.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "process"), key=int)), end=" ")
' "$dir/fork_exec.svg") || fail "the SVG does not parse"
  [ "$got" = "$want" ] || fail "the SVG has rows for pids '$got', the run's were '$want'"
  # the kernel's list of the same run's processes: strace -f, tide itself left out
  if t_have_strace; then
    local st=$dir/fork_exec.strace
    t_run 60 strace -f -qq -o "$st" -e trace=execve,exit_group "$T_ROOT/build/tide" run --trace "$tr.2" -- \
      "$dir/fork_exec" >/dev/null 2>&1 || fail "tide run fork_exec under strace failed"
    t_run 60 "$T_ROOT/build/tide" report "$tr.2" >"$dir/fork_exec.report2" 2>&1 || fail "tide report failed"
    local tide_pid kernel
    tide_pid=$(awk 'NR == 1 {print $1}' "$st") # its own execve comes first
    kernel=$(awk -v t="$tide_pid" '$1 != t && $2 ~ /^exit_group\(/ {print $1}' "$st" | sort -nu | tr '\n' ' ')
    got=$(sed -n -e 's/^pid \([0-9]*\): .*/\1/p' -e 's/^  pid \([0-9]*\) .*/\1/p' "$dir/fork_exec.report2" | sort -n | tr '\n' ' ')
    [ -n "$kernel" ] && [ "$got" = "$kernel" ] ||
      fail "the report lists pids '$got'; strace -f saw the processes '$kernel' under tide"
  fi
  # one child alone: the exec'd image's 2 MiB block and the forked image's 3 MiB one
  local child
  child=$(sed -n 2p "$dir/fork_exec.pids")
  t_run 60 "$T_ROOT/build/tide" report "$tr" --pid "$child" >"$dir/fork_exec.child" 2>&1 || fail "tide report --pid $child failed"
  grep -q "^pid $child: " "$dir/fork_exec.child" || fail "--pid $child: not the process summarised: $(sed -n 3p "$dir/fork_exec.child")"
  grep -Eq '^  malloc +3,145,728 +1 ' "$dir/fork_exec.child" && grep -Eq '^  malloc +2,097,152 +1 ' "$dir/fork_exec.child" ||
    fail "--pid $child: the child's requests before and after exec are not both there"
}
t_test tool/report-every-process-once tool_every_process_once

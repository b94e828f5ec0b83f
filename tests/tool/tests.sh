# shellcheck shell=bash
# The tide command (run, map, report): tests/tool/run_tool_tests.sh checks it
# piece by piece; this runs it as one test and names the first failure.
# Sourced by tests/run.sh.

tool_all() {
  need_tide
  [ -x "$T_ROOT/build/tide" ] || fail "build/tide is missing (run make)"
  local out=$T_BUILD/tool/all.out
  mkdir -p "$T_BUILD/tool"
  t_run 240 bash "$T_ROOT/tests/tool/run_tool_tests.sh" >"$out" 2>&1
  local rc=$?
  cat "$out"
  local n
  n=$(grep -c '^PASS' "$out")
  grep -q '^FAIL' "$out" && fail "$(grep -m1 '^FAIL' "$out") ($n passed)"
  [ $rc -eq 0 ] || fail "run_tool_tests.sh: $(t_status_str $rc)"
  [ "$n" -ge 10 ] || fail "only $n tool checks passed"
}
t_test tool/run-map-report tool_all

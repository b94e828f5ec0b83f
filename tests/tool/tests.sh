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

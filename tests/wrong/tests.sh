# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Wrong use: each bad program must die by SIGABRT with one clear line.
# Sourced by tests/run.sh.

# wrong_case MODE REGEX: REGEX matches the message after "tidemalloc: ";
# the string PTR in it stands for the pointer the program printed.
wrong_case() {
  local mode=$1 want=$2 out=$T_BUILD/wrong/$1
  need_tide
  t_cc wrong/bad tests/wrong/bad.c
  t_run 20 env -u TIDEMALLOC_OPTIONS "$(t_preload_env)" "$T_BUILD/wrong/bad" "$mode" >"$out.out" 2>"$out.err"
  rc=$?
  echo "--- stdout"; cat "$out.out"; echo "--- stderr"; cat "$out.err"; echo "--- status $rc"
  local ptr
  ptr=$(sed -n 's/^ptr=//p' "$out.out")
  [ -n "$ptr" ] || fail "the bad program died before misusing the pointer ($(t_status_str $rc))"
  grep -q survived "$out.out" && fail "free/realloc of a bad pointer ($mode) went unnoticed: the program survived"
  [ $rc -eq 134 ] || fail "want death by SIGABRT, got $(t_status_str $rc)"
  local re=${want//PTR/$ptr}
  grep -Eq "^tidemalloc: $re\$" "$out.err" ||
    fail "stderr lacks the line 'tidemalloc: ${want//PTR/$ptr}'; got: $(head -c 200 "$out.err" | head -n 2 | tr '\n' '|')"
  local n
  n=$(grep -c '^tidemalloc: ' "$out.err")
  [ "$n" -eq 1 ] || fail "want one 'tidemalloc:' line on stderr, got $n"
}

wrong_stack() { wrong_case stack 'free\(\): invalid pointer PTR'; }
t_test wrong/free-stack-address wrong_stack
wrong_interior() { wrong_case interior 'free\(\): invalid pointer PTR'; }
t_test wrong/free-interior-pointer wrong_interior
wrong_double() { wrong_case double 'free\(\): double free PTR'; }
t_test wrong/double-free wrong_double
wrong_double_cross() { wrong_case double-cross-thread 'free\(\): double free PTR'; }
t_test wrong/double-free-after-remote-free wrong_double_cross
wrong_double_remote() { wrong_case double-remote-twice 'free\(\): double free PTR'; }
t_test wrong/double-free-remote-twice wrong_double_remote
wrong_double_erased() { wrong_case double-erased 'free\(\): double free PTR'; }
t_test wrong/double-free-erased-key wrong_double_erased
wrong_double_medium() { wrong_case double-medium 'free\(\): double free PTR'; }
t_test wrong/double-free-medium wrong_double_medium
wrong_realloc_freed() { wrong_case realloc-freed 'realloc\(\): (invalid pointer|double free) PTR'; }
t_test wrong/realloc-freed-block wrong_realloc_freed
wrong_global() { wrong_case global 'free\(\): invalid pointer PTR'; }
wrong_free_sized() { wrong_case free-sized-wrong 'free_sized\(\): size larger than the block at PTR'; }
t_test wrong/free-sized-wrong-size wrong_free_sized
wrong_mmap() { wrong_case mmap-region 'free\(\): invalid pointer PTR'; }
t_test wrong/free-foreign-mapping wrong_mmap
t_test wrong/free-global wrong_global
wrong_uaf_link() { wrong_case uaf-link 'malloc\(\): corrupted free list at PTR'; }
t_test wrong/use-after-free-link-caught wrong_uaf_link

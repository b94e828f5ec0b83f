# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Wrong use: each bad program must die by SIGABRT with one clear line.
# Sourced by tests/run.sh.

# wrong_run SECONDS MODE OUT [OPTIONS]: run tests/wrong/bad.c's MODE with
# TIDEMALLOC_OPTIONS=OPTIONS (unset if not given); stdout in OUT.out, stderr
# in OUT.err, the status in rc; stderr's first lines echoed for the log.
wrong_run() {
  local secs=$1 mode=$2 out=$3
  need_tide
  t_cc wrong/bad tests/wrong/bad.c
  local opts=(-u TIDEMALLOC_OPTIONS)
  [ -n "${4-}" ] && opts=(TIDEMALLOC_OPTIONS="$4")
  t_run "$secs" env "${opts[@]}" "$(t_preload_env)" "$T_BUILD/wrong/bad" "$mode" >"$out.out" 2>"$out.err"
  rc=$?
  echo "--- stdout"; cat "$out.out"; echo "--- stderr"; head -n 20 "$out.err"; echo "--- status $rc"
}

# wrong_case MODE REGEX [OPTIONS]: REGEX matches the message after
# "tidemalloc: "; the string PTR in it stands for the pointer the program
# printed.  OPTIONS: TIDEMALLOC_OPTIONS for the run (none if not given).
wrong_case() {
  local mode=$1 want=$2 out=$T_BUILD/wrong/$1${3:+.$3}
  wrong_run 20 "$mode" "$out" "${3-}"
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
wrong_double_multi() { wrong_case double-multi-slice 'free\(\): double free PTR'; }
t_test wrong/double-free-multi-slice-page wrong_double_multi
wrong_interior_later() { wrong_case interior-later-slice 'free\(\): invalid pointer PTR'; }
t_test wrong/free-interior-beyond-first-slice wrong_interior_later
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

# ---- big blocks' headers: nothing in them is trusted -----------------------
# wrong_modes MODE REGEX: wrong_case in the default and the hardened mode.
wrong_modes() {
  wrong_case "$1" "$2"
  wrong_case "$1" "$2" secure=1
}

# wrong_intact MODE [OPTIONS]: the program overwrites a big block's header
# and frees it; it must end well and find its other live blocks intact
# ("intact"), or die by abort() after one 'tidemalloc: ' line.
wrong_intact() {
  local mode=$1 out=$T_BUILD/wrong/$1${2:+.$2}
  wrong_run 60 "$mode" "$out" "${2-}"
  local bad
  bad=$(grep -Ev '^tidemalloc: [a-z_]+\(\): [a-z -]+ 0x[0-9a-f]+$' "$out.err" | grep -c .)
  [ "$bad" -eq 0 ] || fail "$mode${2:+ ($2)}: stderr has $bad lines that are not one-line reports: $(grep -Ev '^tidemalloc: ' "$out.err" | head -n 2 | tr '\n' '|')"
  if [ $rc -eq 134 ]; then
    [ "$(grep -c '^tidemalloc: ' "$out.err")" -eq 1 ] || fail "$mode${2:+ ($2)}: SIGABRT without exactly one 'tidemalloc:' line"
    return 0
  fi
  [ $rc -eq 0 ] || fail "$mode${2:+ ($2)}: $(t_status_str $rc): $(grep -v '^ptr=' "$out.out" | head -n 3 | tr '\n' '|')"
  grep -qx intact "$out.out" || fail "$mode${2:+ ($2)}: a live block was lost: $(tail -n 1 "$out.out")"
}

wrong_big_underflow() { wrong_intact big-underflow; }
t_test wrong/big-block-underflow-over-header wrong_big_underflow
wrong_big_size_word() { wrong_intact big-size-word; wrong_intact big-size-word secure=1; }
t_test wrong/big-block-size-word-overwritten wrong_big_size_word
wrong_big_words() { wrong_intact big-header-words; wrong_intact big-header-words secure=1; }
t_test wrong/big-block-header-word-by-word wrong_big_words 120
wrong_big_interior() { wrong_modes big-interior 'free\(\): invalid pointer PTR'; }
t_test wrong/big-block-free-interior wrong_big_interior
wrong_big_forged() { wrong_modes big-forged-offset 'free\(\): invalid pointer PTR'; }
t_test wrong/big-block-forged-offset wrong_big_forged

wrong_sized_small() { wrong_modes free-sized-small 'free_sized\(\): size smaller than the block at PTR'; }
t_test wrong/free-sized-too-small wrong_sized_small
wrong_sized_big_small() { wrong_modes free-sized-big-small 'free_sized\(\): size smaller than the block at PTR'; }
t_test wrong/free-sized-too-small-big-block wrong_sized_big_small
wrong_sized_big_large() { wrong_modes free-sized-big-large 'free_sized\(\): size larger than the block at PTR'; }
t_test wrong/free-sized-too-big-big-block wrong_sized_big_large
wrong_sized_large_secure() { wrong_case free-sized-wrong 'free_sized\(\): size larger than the block at PTR' secure=1; }
t_test wrong/free-sized-too-big-secure wrong_sized_large_secure
wrong_aligned_small() { wrong_modes free-aligned-sized-small 'free_aligned_sized\(\): size smaller than the block at PTR'; }
t_test wrong/free-aligned-sized-too-small wrong_aligned_small
wrong_aligned_align() { wrong_modes free-aligned-sized-align 'free_aligned_sized\(\): alignment does not match the block at PTR'; }
t_test wrong/free-aligned-sized-other-alignment wrong_aligned_align
wrong_aligned_class() { wrong_modes free-aligned-sized-class 'free_aligned_sized\(\): alignment does not match the block at PTR'; }
t_test wrong/free-aligned-sized-class-not-aligned-so wrong_aligned_class

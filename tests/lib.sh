# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for tidemalloc's test suite; sourced by tests/run.sh.
#
# A test is a bash function registered with `t_test NAME FUNCTION`.  It runs
# in its own bash process (under a timeout), with its output in
# build/tests/logs/NAME.log.  It ends by returning/exiting 0 (PASS), by
# calling `fail REASON` or `skip REASON`, or by dying (FAIL, see the log).
#
# Environment knobs (all optional):
#   TIDE_TEST_GLIBC=1   develop the tests against glibc: no preload, no -l.
#                       Tests that need tidemalloc itself then SKIP.
#   TIDE_TEST_TIMEOUT   seconds per test (default 300)
#   CC                  C compiler (default cc)

T_ROOT=${T_ROOT:-$PWD}
T_BUILD=$T_ROOT/build/tests
T_LOGS=$T_BUILD/logs
T_LIB=$T_ROOT/build/libtidemalloc.so
T_LIB_A=$T_ROOT/build/libtidemalloc.a
T_LIB_PREFIXED=$T_ROOT/build/libtidemalloc-prefixed.a
CC=${CC:-cc}
T_CFLAGS=(-O1 -g -Wall -Wextra -Werror -std=gnu11 -pthread -I"$T_ROOT/include" -I"$T_ROOT/tests")
T_GLIBC=${TIDE_TEST_GLIBC:-0}
# Debian's own python, not whatever python3 is first in PATH.
T_PY=/usr/bin/python3
[ -x "$T_PY" ] || T_PY=$(command -v python3 || echo python3)

T_NAMES=()
T_FUNCS=()
T_LIMITS=()

# t_test NAME FUNCTION [SECONDS]: register a test (default limit 300 s, or
# TIDE_TEST_TIMEOUT).
t_test() { T_NAMES+=("$1"); T_FUNCS+=("$2"); T_LIMITS+=("${3:-${TIDE_TEST_TIMEOUT:-300}}"); }

# ---- inside a test --------------------------------------------------------

fail() {
  printf '%s\n' "$*" >"$T_REASON"
  echo "FAIL: $*"
  exit 1
}

skip() {
  printf '%s\n' "$*" >"$T_REASON"
  echo "SKIP: $*"
  exit 77
}

# Fail unless the shared library is there (or we are in glibc mode).
need_lib() {
  [ "$T_GLIBC" = 1 ] && return 0
  [ -f "$T_LIB" ] || fail "build/libtidemalloc.so is missing (run make first)"
}

# Skip in glibc mode: the test checks tidemalloc-only behaviour.
need_tide() {
  [ "$T_GLIBC" = 1 ] && skip "checks tidemalloc-only behaviour (TIDE_TEST_GLIBC=1)"
  need_lib
}

# The environment assignment that loads the library into a program.
t_preload_env() {
  if [ "$T_GLIBC" = 1 ]; then echo "LD_PRELOAD="; else echo "LD_PRELOAD=$T_LIB"; fi
}

# preload CMD...: run CMD with the library preloaded (and nothing else of ours).
preload() { env "$(t_preload_env)" "$@"; }

# Is OUT older than any of the given files?
t_stale() {
  local out=$1 f
  shift
  [ -e "$out" ] || return 0
  for f in "$@"; do
    [ -e "$f" ] && [ "$f" -nt "$out" ] && return 0
  done
  return 1
}

# t_core_lib LIB CC [FLAGS...]: tidemalloc's own sources (every src/*.c but
# override.c: the objects of the prefixed archive) compiled by CC with the
# checked build's flags (-O1, asserts on, no builtin malloc) plus FLAGS,
# two at a time, into the archive LIB.  Rebuilt only when a source, a header
# or the Makefile is newer.  For the unit tests, the sanitizer builds, TSan.
t_core_lib() {
  local lib=$1 cc=$2 srcs=() f
  shift 2
  for f in src/*.c; do case $f in */override.c) ;; *) srcs+=("$f") ;; esac; done
  t_stale "$lib" "${srcs[@]}" src/internal/*.h include/tidemalloc.h Makefile || return 0
  local objdir=${lib%.a}-obj n=0
  rm -rf "$objdir" "$lib"
  mkdir -p "$objdir" "$(dirname "$lib")"
  echo "+ $cc -O1 -DTIDE_DEBUG=1 $* -c (${#srcs[@]} sources into ${lib#"$T_ROOT"/})"
  for f in "${srcs[@]}"; do
    "$cc" -std=gnu11 -g -O1 -DTIDE_DEBUG=1 -ftls-model=initial-exec -fno-builtin-malloc \
      -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free -Iinclude -Isrc "$@" \
      -c "$f" -o "$objdir/$(basename "$f" .c).o" >"$objdir/$(basename "$f" .c).log" 2>&1 &
    n=$((n + 1))
    [ $((n % 2)) -eq 0 ] && wait
  done
  wait
  for f in "${srcs[@]}"; do
    if [ ! -f "$objdir/$(basename "$f" .c).o" ]; then
      cat "$objdir/$(basename "$f" .c).log"
      fail "$f does not compile with $cc $*: $(grep -m1 error "$objdir/$(basename "$f" .c).log")"
    fi
  done
  ar rcs "$lib.tmp" "$objdir"/*.o || fail "ar failed"
  mv "$lib.tmp" "$lib"
}

# t_cc OUT SRC [extra cc args...]: build a plain program (no tidemalloc at
# link time; run it with `preload`).  Rebuilds only when stale.
t_cc() {
  local out=$T_BUILD/$1 src=$T_ROOT/$2
  shift 2
  mkdir -p "$(dirname "$out")"
  if t_stale "$out" "$src" "$T_ROOT/tests/common.h" "$T_ROOT/include/tidemalloc.h"; then
    echo "+ $CC ${T_CFLAGS[*]} -o $out $src $* -ldl"
    "$CC" "${T_CFLAGS[@]}" -o "$out.tmp" "$src" "$@" -ldl >"$out.cc.log" 2>&1 || {
      cat "$out.cc.log"
      fail "compile error in ${src#"$T_ROOT"/}: $(grep -m1 -E 'error|undefined' "$out.cc.log")"
    }
    mv "$out.tmp" "$out"
  fi
}

# t_cc_linked OUT SRC [extra...]: build a program linked with -ltidemalloc
# (rpath to build/).  In glibc mode it is built plain.
t_cc_linked() {
  local out=$T_BUILD/$1 src=$T_ROOT/$2
  shift 2
  mkdir -p "$(dirname "$out")"
  local link=(-L"$T_ROOT/build" -ltidemalloc -Wl,-rpath,"$T_ROOT/build")
  [ "$T_GLIBC" = 1 ] && link=()
  if t_stale "$out" "$src" "$T_ROOT/tests/common.h" "$T_ROOT/include/tidemalloc.h" "$T_LIB"; then
    echo "+ $CC ${T_CFLAGS[*]} -o $out $src $* ${link[*]} -ldl"
    "$CC" "${T_CFLAGS[@]}" -o "$out.tmp" "$src" "$@" "${link[@]}" -ldl >"$out.cc.log" 2>&1 || {
      cat "$out.cc.log"
      fail "compile/link error in ${src#"$T_ROOT"/}: $(grep -m1 -E 'error|undefined' "$out.cc.log")"
    }
    mv "$out.tmp" "$out"
  fi
}

# t_run SECONDS CMD...: run with a time limit; returns CMD's status (124 on
# timeout).
t_run() {
  local secs=$1
  shift
  timeout -k 5 "$secs" "$@"
}

# The first failed CHECK/REQUIRE message in FILE (from tests/common.h), if any.
t_first_check() {
  grep -m1 -E '^(CHECK|REQUIRE) FAILED' "$1" 2>/dev/null | sed -e 's/^[A-Z]* FAILED [^:]*:[0-9]*: //' \
    -e 's/ \[.*\]$//' | cut -c1-300
}

# t_prog SECONDS NAME CMD...: run a test program with its output in the log,
# and fail with the first failed check (or how it died) unless it exits 0.
# Exit status 77 from the program means SKIP (its last "SKIP: " line says why).
t_prog() {
  local secs=$1 what=$2 out
  shift 2
  out=$(mktemp "$T_BUILD/prog.XXXXXX")
  t_run "$secs" "$@" >"$out" 2>&1
  local rc=$?
  cat "$out"
  local why
  why=$(t_first_check "$out")
  if [ $rc -eq 77 ]; then
    why=$(grep -m1 '^SKIP: ' "$out" | cut -c7-)
    rm -f "$out"
    skip "${why:-$what skipped itself}"
  fi
  rm -f "$out"
  [ $rc -eq 0 ] && return 0
  if [ -n "$why" ]; then fail "$what: $why ($(t_status_str $rc))"; fi
  fail "$what: $(t_status_str $rc)"
}

# t_prog_modes SECS WHAT PROGRAM ARGS...: t_prog under tidemalloc (preloaded)
# in the default mode, then in the hardened mode (secure=1).
t_prog_modes() {
  local secs=$1 what=$2
  shift 2
  t_prog "$secs" "$what" env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$@"
  t_prog "$secs" "$what (secure=1)" env TIDEMALLOC_OPTIONS=secure=1 TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$@"
}


# Can strace trace here (ptrace may be forbidden in containers)?
t_have_strace() {
  command -v strace >/dev/null 2>&1 || return 1
  strace -f -o /dev/null true >/dev/null 2>&1
}

# Describe a wait status the way a person wants to read it.
t_status_str() {
  local rc=$1
  if [ "$rc" -eq 124 ]; then echo "timed out"
  elif [ "$rc" -gt 128 ]; then echo "killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
  else echo "exit status $rc"; fi
}

# ---- the runner -----------------------------------------------------------

t_run_one() { # NAME FUNC LIMIT
  local name=$1 func=$2 limit=$3 log rc reason start
  log=$T_LOGS/${name//\//_}.log
  export T_REASON=$T_LOGS/${name//\//_}.reason
  rm -f "$T_REASON"
  mkdir -p "$T_LOGS"
  start=$(date +%s)
  timeout -k 10 "$limit" bash "$T_ROOT/tests/run.sh" --one "$func" >"$log" 2>&1 </dev/null
  rc=$?
  echo "[$name: status $rc after $(($(date +%s) - start)) s]" >>"$log"
  reason=$(head -c 400 "$T_REASON" 2>/dev/null | head -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "PASS $name"
    T_PASS=$((T_PASS + 1))
  elif [ "$rc" -eq 77 ]; then
    echo "SKIP $name: ${reason:-skipped}"
    T_SKIP=$((T_SKIP + 1))
  else
    if [ -z "$reason" ]; then
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then reason="test timed out after ${limit}s"
      else reason="test script $(t_status_str "$rc")"; fi
    fi
    echo "FAIL $name: $reason (log: ${log#"$T_ROOT"/})"
    T_FAIL=$((T_FAIL + 1))
  fi
}

t_run_all() {
  local i name pat want
  T_PASS=0 T_FAIL=0 T_SKIP=0
  mkdir -p "$T_BUILD" "$T_LOGS"
  for i in "${!T_NAMES[@]}"; do
    name=${T_NAMES[$i]}
    if [ $# -gt 0 ]; then
      want=0
      for pat in "$@"; do
        [[ $name == *$pat* ]] && want=1
      done
      [ $want = 1 ] || continue
    fi
    t_run_one "$name" "${T_FUNCS[$i]}" "${T_LIMITS[$i]}"
  done
  echo "$T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
  [ "$T_FAIL" -eq 0 ]
}

# t_script SECONDS MIN SCRIPT...: run a script that prints PASS/FAIL lines
# (bench/smoke.sh, tests/tool/run_tool_tests.sh); fail with its first FAIL
# line, a bad exit status, or fewer than MIN passes.
t_script() {
  local secs=$1 min=$2 out n
  shift 2
  out=$(mktemp "$T_BUILD/script.XXXXXX")
  t_run "$secs" bash "$@" >"$out" 2>&1
  local rc=$?
  cat "$out"
  n=$(grep -c '^PASS' "$out")
  local first
  first=$(grep '^FAIL' "$out" | head -n 3 | tr '\n' ' ')
  rm -f "$out"
  [ -z "$first" ] || fail "$first($n passed)"
  [ $rc -eq 0 ] || fail "$*: $(t_status_str $rc)"
  [ "$n" -ge "$min" ] || fail "only $n checks passed"
}

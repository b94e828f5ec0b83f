#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzz tidemalloc's prefixed API with libFuzzer + ASan + UBSan.
#
#   bash fuzz/run.sh [SECONDS]     build, then fuzz for SECONDS (default 60)
#   bash fuzz/run.sh --build       only build build/fuzz/harness
#   bash fuzz/run.sh --replay      run every input of fuzz/corpus and
#                                  fuzz/regressions once (no fuzzing)
#   bash fuzz/run.sh --replay FILE...   run these inputs once
#   bash fuzz/run.sh --corrupt [any of the above]
#                                  the same with build/fuzz/harness-corrupt,
#                                  whose inputs also write over freed blocks
#                                  and live blocks' neighbours (harness.c);
#                                  a tidemalloc report ends a run cleanly, so
#                                  it fuzzes in libFuzzer's -fork mode
#
# The harness (fuzz/harness.c) is built into build/fuzz/ from tidemalloc's
# sources (all of src/ but override.c, asserts on) with
# clang -fsanitize=fuzzer,address,undefined.  Fuzzing starts from a copy of
# fuzz/corpus/ and fuzz/regressions/ in build/fuzz/corpus/ (kept between
# runs, so coverage accumulates there and nothing new lands in git).
# A crash is saved in fuzz/crashes/ and the exit status is non-zero; keep a
# crash that was fixed as a regression input in fuzz/regressions/ (the
# reliability tests replay them).  Replay one with
#   TIDE_FUZZ_VERBOSE=1 build/fuzz/harness fuzz/crashes/crash-...
# to see the operations it performs.
#
# Environment: FUZZ_CC (default clang), FUZZ_JOBS (parallel fuzzing
# processes, default 1), FUZZ_ARGS (extra libFuzzer flags), FUZZ_CORPUS_MAX
# (merge build/fuzz/corpus down when it holds more inputs, default 1000), FUZZ_SRC (a
# directory with src/ and include/ to build instead of this tree's, e.g. a
# patched copy; the harness is then build/fuzz/harness-alt), FUZZ_OPTIONS
# (TIDEMALLOC_OPTIONS for the harness, e.g. secure=1 or use_brk=0).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$PWD
OUT=$ROOT/build/fuzz
BIN=$OUT/harness
SRCROOT=$ROOT
if [ -n "${FUZZ_SRC:-}" ]; then
  SRCROOT=$(cd "$FUZZ_SRC" && pwd) || exit 2
  BIN=$OUT/harness-alt
fi
CORRUPT=0
SEEDS=(fuzz/corpus)
if [ "${1:-}" = --corrupt ]; then
  shift
  CORRUPT=1
  BIN=$BIN-corrupt
  SEEDS+=(fuzz/corpus-corrupt)
fi
CC_FUZZ=${FUZZ_CC:-clang}
mkdir -p "$OUT"

die() {
  echo "fuzz/run.sh: $*" >&2
  exit 2
}

# The sources the prefixed archive is made of: every src/*.c but override.c.
SRCS=()
for f in "$SRCROOT"/src/*.c; do
  case $f in */override.c) ;; *) SRCS+=("$f") ;; esac
done

stale() {
  local out=$1 f
  shift
  [ -e "$out" ] || return 0
  for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done
  return 1
}

have_libfuzzer() {
  command -v "$CC_FUZZ" >/dev/null 2>&1 || return 1
  printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' >"$OUT/probe.c"
  "$CC_FUZZ" -fsanitize=fuzzer,address,undefined -o "$OUT/probe" "$OUT/probe.c" >/dev/null 2>&1
}

build() {
  if ! stale "$BIN" fuzz/harness.c tests/common.h "${SRCS[@]}" "$SRCROOT"/src/internal/*.h "$SRCROOT"/include/tidemalloc.h fuzz/run.sh; then
    return 0
  fi
  have_libfuzzer || {
    echo "fuzz/run.sh: $CC_FUZZ has no libFuzzer runtime (-fsanitize=fuzzer)" >&2
    exit 77
  }
  local common=(-std=gnu11 -g -O1 -DTIDE_DEBUG=1 -I"$SRCROOT/include" -I"$SRCROOT/src" -pthread
    -ftls-model=initial-exec -fno-builtin-malloc -fno-builtin-calloc
    -fno-builtin-realloc -fno-builtin-free -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  local objdir=$OUT/obj${FUZZ_SRC:+-alt}
  local extra=()
  if [ "$CORRUPT" = 1 ]; then
    objdir=$objdir-corrupt
    # tide_fatal wrapped: the harness tells a report from any other abort.
    extra=(-DFUZZ_CORRUPT=1 -Wl,--wrap=tide_fatal)
  fi
  rm -rf "$objdir"
  mkdir -p "$objdir"
  echo "+ $CC_FUZZ -fsanitize=fuzzer-no-link,address,undefined ${SRCS[*]}"
  # Two at a time: the machine is shared.
  local f n=0
  for f in "${SRCS[@]}"; do
    "$CC_FUZZ" "${common[@]}" -fsanitize=fuzzer-no-link,address,undefined \
      -c "$f" -o "$objdir/$(basename "$f" .c).o" &
    n=$((n + 1))
    [ $((n % 2)) -eq 0 ] && wait
  done
  wait
  for f in "${SRCS[@]}"; do
    [ -f "$objdir/$(basename "$f" .c).o" ] || die "$f does not compile for fuzzing"
  done
  echo "+ $CC_FUZZ -fsanitize=fuzzer,address,undefined fuzz/harness.c"
  "$CC_FUZZ" "${common[@]}" -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
    "${extra[@]}" -o "$BIN.tmp" fuzz/harness.c "$objdir"/*.o || die "the harness does not build"
  mv "$BIN.tmp" "$BIN"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:abort_on_error=0:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
unset TIDEMALLOC_OPTIONS
[ -n "${FUZZ_OPTIONS:-}" ] && export TIDEMALLOC_OPTIONS="$FUZZ_OPTIONS"

case "${1:-}" in
--build)
  build
  exit 0
  ;;
--replay)
  shift
  build
  files=("$@")
  if [ ${#files[@]} -eq 0 ]; then
    # shellcheck disable=SC2068
    for f in ${SEEDS[@]/%//*} fuzz/regressions/*; do
      [ -f "$f" ] && files+=("$f")
    done
  fi
  [ ${#files[@]} -gt 0 ] || die "no inputs to replay"
  echo "replaying ${#files[@]} inputs"
  if [ "$CORRUPT" = 1 ]; then
    # One process each: a tidemalloc report ends the process (cleanly).
    rc=0
    for f in "${files[@]}"; do
      "$BIN" -runs=1 -error_exitcode=1 -timeout_exitcode=1 "$f" >"$OUT/replay-one.log" 2>&1 && continue
      rc=1
      echo "Running: $f"
      tail -n 40 "$OUT/replay-one.log"
      break
    done
  else
    "$BIN" -runs=1 -error_exitcode=1 -timeout_exitcode=1 "${files[@]}" 2>&1 | tail -n 40
    rc=${PIPESTATUS[0]}
  fi
  [ "$rc" -eq 0 ] && echo "replay: ${#files[@]} inputs ok" || echo "replay: FAILED (status $rc)"
  exit "$rc"
  ;;
--help | -h)
  sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
  ;;
esac

SECONDS_TO_RUN=${1:-60}
case $SECONDS_TO_RUN in
'' | *[!0-9]*) die "usage: fuzz/run.sh [SECONDS] | --build | --replay [FILE...]" ;;
esac

build
WORK=$OUT/corpus
[ "$CORRUPT" = 1 ] && WORK=$OUT/corpus-corrupt
mkdir -p "$WORK" fuzz/crashes
for d in "${SEEDS[@]}"; do cp -f "$d"/* "$WORK"/ 2>/dev/null; done
[ -d fuzz/regressions ] && cp -f fuzz/regressions/* "$WORK"/ 2>/dev/null
LOG=$OUT/fuzz.log
[ "$CORRUPT" = 1 ] && LOG=$OUT/fuzz-corrupt.log
# One log per FUZZ_OPTIONS, so that both modes can fuzz at once.
[ -n "${FUZZ_OPTIONS:-}" ] && LOG=${LOG%.log}-$(printf '%s' "$FUZZ_OPTIONS" | tr -c 'a-zA-Z0-9=' _ | tr = -).log
# Every input is run once at start: keep the kept corpus from growing
# without end by merging it down (to what covers the same features).
if [ "$(find "$WORK" -type f | wc -l)" -gt "${FUZZ_CORPUS_MAX:-1000}" ]; then
  echo "merging the corpus in ${WORK#"$ROOT"/} ($(find "$WORK" -type f | wc -l) inputs)"
  rm -rf "$WORK.new" && mkdir -p "$WORK.new"
  if "$BIN" -merge=1 -timeout=30 -detect_leaks=0 -max_len=4096 "$WORK.new" "$WORK" >"$OUT/merge.log" 2>&1; then
    rm -rf "$WORK" && mv "$WORK.new" "$WORK"
  else
    echo "merge failed (see ${OUT#"$ROOT"/}/merge.log); fuzzing from the whole corpus"
    rm -rf "$WORK.new"
  fi
fi
echo "fuzzing for ${SECONDS_TO_RUN}s from $(find "$WORK" -type f | wc -l) inputs (log: ${LOG#"$ROOT"/})"
PAR=(${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS})
# harness-corrupt: a tidemalloc report ends the process with status 0;
# -fork runs the inputs in child processes and starts another when one ends.
# The parent tells a child's crash from its timeout by the exit status
# alone: with one status for both, every crash counted as a timeout, which
# -fork ignores by default, and fuzzing went on past it.  A hang is a
# failure too (-ignore_timeouts=0).
[ "$CORRUPT" = 1 ] && PAR=(-fork="${FUZZ_JOBS:-1}" -ignore_timeouts=0)
# shellcheck disable=SC2086
"$BIN" -max_total_time="$SECONDS_TO_RUN" -timeout=30 -detect_leaks=0 -error_exitcode=77 -timeout_exitcode=78 -rss_limit_mb=3072 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$ROOT/fuzz/crashes/" \
  "${PAR[@]}" ${FUZZ_ARGS:-} "$WORK" >"$LOG" 2>&1
rc=$?
execs=$(grep -m1 -E '^stat::number_of_executed_units:' "$LOG" | awk '{print $2}')
rate=$(grep -m1 -E '^stat::average_exec_per_sec:' "$LOG" | awk '{print $2}')
if [ "$CORRUPT" = 1 ]; then # the -fork parent's last status line: #EXECS: ... exec/s: N
  execs=$(grep -E '^#[0-9]+' "$LOG" | tail -n 1 | sed -E 's/^#([0-9]+).*/\1/')
  secs=$(grep -E '^#[0-9]+' "$LOG" | tail -n 1 | grep -oE ' time: [0-9]+s' | tr -d s | awk '{print $2}')
  [ -n "$execs" ] && [ "${secs:-0}" -gt 0 ] && rate=$((execs / secs))
fi
cov=$(grep -E '^#[0-9]+' "$LOG" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
echo "executions: ${execs:-?} total, ${rate:-?}/s; ${cov:-coverage ?}; corpus $(find "$WORK" -type f | wc -l) inputs"
if [ "$rc" -ne 0 ]; then
  echo "--- the end of the log ---"
  tail -n 60 "$LOG"
  crash=$(grep -oE "Test unit written to [^ ]+" "$LOG" | tail -n 1 | sed 's/Test unit written to //')
  echo "FUZZ FAILURE (status $rc)${crash:+: input saved as ${crash#"$ROOT"/}}"
  [ -n "$crash" ] && echo "replay: TIDE_FUZZ_VERBOSE=1 $BIN $crash"
  exit 1
fi
echo "fuzz: no crash"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The soak test (not part of `make test`; `make soak` runs it).
#
#   bash tests/soak/run.sh [MINUTES]      default 10
#
# Runs tests/soak/soak.c on build/libtidemalloc.so (LD_PRELOAD) for MINUTES:
# 8 threads, cross-thread frees, realloc churn, a fork every 2 s, every
# block checked in full, under an address-space limit (prlimit --as, or
# ulimit -v).  Prints the operations done, the peak RSS (VmHWM) and whether
# the RSS stayed bounded; exits non-zero on any error.
#
# Environment: SOAK_THREADS (8), SOAK_LIB (the library, default
# build/libtidemalloc.so), SOAK_AS_LIMIT (bytes of address space,
# default 2 GiB), SOAK_OPTIONS (TIDEMALLOC_OPTIONS for the run),
# SOAK_FORK_EVERY (seconds between forks, default 2; 0: none), CC (cc).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$PWD
MINUTES=${1:-10}
case $MINUTES in '' | *[!0-9]*) echo "usage: tests/soak/run.sh [MINUTES]" >&2; exit 2 ;; esac
LIB=${SOAK_LIB:-$ROOT/build/libtidemalloc.so}
[ -f "$LIB" ] || { echo "tests/soak/run.sh: $LIB is missing (run make first)" >&2; exit 2; }
OUT=$ROOT/build/soak
mkdir -p "$OUT"
BIN=$OUT/soak
if [ ! -x "$BIN" ] || [ tests/soak/soak.c -nt "$BIN" ] || [ tests/common.h -nt "$BIN" ]; then
  echo "+ ${CC:-cc} -O2 -g -pthread tests/soak/soak.c -o build/soak/soak"
  "${CC:-cc}" -O2 -g -Wall -Wextra -Werror -std=gnu11 -pthread -Iinclude -Itests \
    -o "$BIN" tests/soak/soak.c -ldl || exit 2
fi

LIMIT=${SOAK_AS_LIMIT:-$((2 << 30))} # about 3x what the run needs (VmPeak ~700 MiB)
SECS=$((MINUTES * 60))
[ "$SECS" -gt 0 ] || SECS=20
LOG=$OUT/soak.log
echo "soak: ${MINUTES} min, ${SOAK_THREADS:-8} threads, address space limited to $((LIMIT >> 20)) MiB, log ${LOG#"$ROOT"/}"
run=(env LD_PRELOAD="$LIB" "$BIN" "$SECS" "${SOAK_THREADS:-8}")
if [ -n "${SOAK_OPTIONS:-}" ]; then
  run=(env TIDEMALLOC_OPTIONS="$SOAK_OPTIONS" "${run[@]:1}")
else
  run=(env -u TIDEMALLOC_OPTIONS "${run[@]:1}")
fi
start=$(date +%s)
if command -v prlimit >/dev/null 2>&1; then
  timeout -k 10 $((SECS + 300)) prlimit --as="$LIMIT" "${run[@]}" 2>&1 | tee "$LOG"
  rc=${PIPESTATUS[0]}
else
  (ulimit -v $((LIMIT >> 10)) && timeout -k 10 $((SECS + 300)) "${run[@]}") 2>&1 | tee "$LOG"
  rc=${PIPESTATUS[0]}
fi
echo "soak: status $rc after $(($(date +%s) - start)) s"
if [ "$rc" -ne 0 ]; then
  grep -m1 -E 'SOAK ERROR|tidemalloc:|not bounded|after freeing' "$LOG" | sed 's/^/soak: first problem: /'
  exit 1
fi
grep -q '^soak: PASS' "$LOG" || exit 1

# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The hardened mode: TIDEMALLOC_OPTIONS=secure=1, and `make SECURE=1`.
# Sourced by tests/run.sh.

secure_build() { t_cc secure/secure tests/secure/secure.c; }

# secure_caught MODE SIGNAL REGEX: the misuse must kill the program with
# SIGNAL, and (for SIGABRT) print the one line REGEX (PTR: the pointer).
secure_caught() {
  local mode=$1 sig=$2 want=$3 out=$T_BUILD/secure/$1
  need_tide
  secure_build
  t_run 20 env TIDEMALLOC_OPTIONS=secure=1 "$(t_preload_env)" "$T_BUILD/secure/secure" "$mode" >"$out.out" 2>"$out.err"
  local rc=$?
  echo "--- stdout"; cat "$out.out"; echo "--- stderr"; cat "$out.err"; echo "--- status $rc"
  local ptr
  ptr=$(sed -n 's/^ptr=\([^ ]*\).*/\1/p' "$out.out")
  [ -n "$ptr" ] || fail "the program died before the misuse ($(t_status_str $rc))"
  grep -q survived "$out.out" && fail "$mode went unnoticed in secure mode"
  [ $rc -eq $((128 + sig)) ] || fail "want death by signal $sig, got $(t_status_str $rc)"
  [ -z "$want" ] && return 0
  grep -Eq "^tidemalloc: ${want//PTR/$ptr}\$" "$out.err" ||
    fail "stderr lacks 'tidemalloc: ${want//PTR/$ptr}'; got: $(head -n 2 "$out.err" | tr '\n' '|')"
}

secure_canary() { secure_caught canary 6 'free\(\): heap overflow: canary after the block overwritten at PTR'; }
t_test secure/canary-catches-overflow secure_canary
secure_double() { secure_caught double 6 'free\(\): double free PTR'; }
t_test secure/double-free secure_double
secure_guard() { secure_caught guard 11 ''; }
t_test secure/guard-page-after-big-block secure_guard
secure_guard_below() { secure_caught guard-below 11 ''; }
t_test secure/guard-page-below-big-block secure_guard_below
secure_guard_grown() { secure_caught guard-grown 11 ''; }
t_test secure/guard-page-after-grown-big-block secure_guard_grown
secure_guard_shrunk() { secure_caught guard-shrunk 11 ''; }
t_test secure/guard-page-after-shrunk-big-block secure_guard_shrunk

# Issue 13: one dangling read and one dangling write must not steer malloc
# to a live block or to an address the program chose: the owner's free
# state is out of line (no link of it to forge), and a forged link of a
# remote free is reported at the block that holds it; a double free is
# caught by the out-of-line map in every state (quarantined, in transit,
# available) even with the block's bytes (its freed key) zeroed.
secure_steer_live() { secure_caught steer-live 6 'malloc\(\): corrupted free list at PTR'; }
t_test secure/forged-link-to-live-block secure_steer_live
secure_steer_inside() { secure_caught steer-inside 6 'malloc\(\): corrupted free list at PTR'; }
t_test secure/forged-link-inside-live-block secure_steer_inside
secure_steer_stack() { secure_caught steer-stack 6 'malloc\(\): corrupted free list at PTR'; }
t_test secure/forged-link-to-stack secure_steer_stack
secure_steer_global() { secure_caught steer-global 6 'malloc\(\): corrupted free list at PTR'; }
t_test secure/forged-link-to-global secure_steer_global
secure_double_zeroed() { secure_caught double-zeroed 6 'free\(\): double free PTR'; }
t_test secure/double-free-key-erased secure_double_zeroed
secure_double_zeroed_flushed() { secure_caught double-zeroed-flushed 6 'free\(\): double free PTR'; }
t_test secure/double-free-key-erased-after-flush secure_double_zeroed_flushed
secure_double_released() { secure_caught double-released 6 'free\(\): double free PTR'; }
t_test secure/double-free-after-quarantine-release secure_double_released
secure_double_transit() { secure_caught double-transit 6 'free\(\): double free PTR'; }
t_test secure/double-free-in-transit secure_double_transit

secure_self() { # MODE [ARG] [OPTIONS]
  need_tide
  secure_build
  t_prog 120 "secure $1" env TIDEMALLOC_OPTIONS="${3-secure=1}" "$(t_preload_env)" "$T_BUILD/secure/secure" "$1" ${2:+"$2"}
}
secure_reuse() { secure_self reuse; }
t_test secure/zeroed-and-quarantined secure_reuse
secure_reuse_random() { secure_self reuse-random; }
t_test secure/reuse-random-after-flush secure_reuse_random
secure_reuse_random_busy() { secure_self reuse-random-busy; }
t_test secure/reuse-random-busy-page secure_reuse_random_busy
secure_forged_local() { secure_self forged-local; }
t_test secure/forged-local-links-ignored secure_forged_local
secure_order() { secure_self order random; }
t_test secure/random-order secure_order
secure_order_plain() { secure_self order sequential ""; }
t_test secure/order-without-secure-is-sequential secure_order_plain
secure_maps() { secure_self maps; }
t_test secure/guard-regions-mapped secure_maps
secure_workload() { secure_self workload; }
t_test secure/workload-contents secure_workload
secure_big_cached() { secure_self big-cached; }
t_test secure/freed-big-block-kept-protected secure_big_cached
secure_big() { secure_self big; }
t_test secure/blocks-around-segment-size secure_big
secure_big_resize() { secure_self big-resize; }
t_test secure/big-block-resized-in-place secure_big_resize

# `make SECURE=1` builds a library whose hardened mode is on by default.
secure_make_flag() {
  need_tide
  local dir=$T_BUILD/secure/build
  make -s -C "$T_ROOT" BUILD="$dir" SECURE=1 "$dir/libtidemalloc.so" >/dev/null || fail "make SECURE=1 failed"
  secure_build
  t_run 30 env -u TIDEMALLOC_OPTIONS LD_PRELOAD="$dir/libtidemalloc.so" "$T_BUILD/secure/secure" order random ||
    fail "a SECURE=1 library does not randomise the order by default"
  t_run 30 env -u TIDEMALLOC_OPTIONS LD_PRELOAD="$dir/libtidemalloc.so" "$T_BUILD/secure/secure" canary >/dev/null 2>&1
  [ $? -eq 134 ] || fail "a SECURE=1 library does not catch an overflow by default"
}
t_test secure/make-flag secure_make_flag 300

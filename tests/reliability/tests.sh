# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Reliability: fuzzing, ThreadSanitizer, valgrind, OS-call fault injection,
# memory limits.
# Sourced by tests/run.sh.  The whole suite takes about 2.5 minutes on 2
# cores (a minute of it fuzzing; TIDE_FUZZ_SECONDS changes that).

# ---- fuzz/short: the libFuzzer harness (fuzz/) ------------------------------
# Replays the seed corpus and every input of fuzz/regressions (crashes found
# and fixed), then fuzzes for TIDE_FUZZ_SECONDS (default 60).
rel_fuzz_short() {
  need_tide
  local out=$T_BUILD/reliability
  mkdir -p "$out"
  bash fuzz/run.sh --build >"$out/fuzz-build.log" 2>&1
  local rc=$?
  cat "$out/fuzz-build.log"
  [ $rc -eq 77 ] && skip "no libFuzzer runtime here (clang -fsanitize=fuzzer)"
  [ $rc -eq 0 ] || fail "the fuzz harness does not build: $(grep -m1 -E 'error|fuzz/run.sh' "$out/fuzz-build.log")"
  bash fuzz/run.sh --replay >"$out/fuzz-replay.log" 2>&1
  rc=$?
  cat "$out/fuzz-replay.log"
  if [ $rc -ne 0 ]; then
    local which why
    which=$(grep -E '^Running: ' "$out/fuzz-replay.log" | tail -n 1 | cut -c10-)
    why=$(grep -m1 -E '^fuzz harness: |SUMMARY: |ERROR: ' "$out/fuzz-replay.log")
    fail "replaying ${which:-the corpus}: ${why:-status $rc}"
  fi
  bash fuzz/run.sh "${TIDE_FUZZ_SECONDS:-60}" 2>&1 | tee "$out/fuzz-run.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    fail "fuzzing found a crash: $(grep -m1 -E '^fuzz harness: |SUMMARY: ' "$out/fuzz-run.log") ($(grep -m1 -oE 'input saved as [^ ]+' "$out/fuzz-run.log"))"
  fi
}
t_test fuzz/short rel_fuzz_short 240

# fuzz/corrupt-short: harness-corrupt, whose inputs also write over freed
# blocks and live blocks' neighbours: a tidemalloc report is a clean end, a
# fault inside the allocator or a sanitizer report a failure.  Both modes.
rel_fuzz_corrupt_short() {
  need_tide
  local out=$T_BUILD/reliability mode rc
  mkdir -p "$out"
  bash fuzz/run.sh --corrupt --build >"$out/fuzz-corrupt-build.log" 2>&1
  rc=$?
  cat "$out/fuzz-corrupt-build.log"
  [ $rc -eq 77 ] && skip "no libFuzzer runtime here (clang -fsanitize=fuzzer)"
  [ $rc -eq 0 ] || fail "harness-corrupt does not build: $(grep -m1 -E 'error|fuzz/run.sh' "$out/fuzz-corrupt-build.log")"
  for mode in "" secure=1; do
    echo "+ FUZZ_OPTIONS=$mode fuzz/run.sh --corrupt --replay"
    FUZZ_OPTIONS=$mode bash fuzz/run.sh --corrupt --replay >"$out/fuzz-corrupt-replay.log" 2>&1
    rc=$?
    cat "$out/fuzz-corrupt-replay.log"
    [ $rc -eq 0 ] || fail "replaying (${mode:-default}): $(grep -m1 -E '^Running: |^fuzz harness: |SUMMARY: |ERROR: ' "$out/fuzz-corrupt-replay.log")"
    echo "+ FUZZ_OPTIONS=$mode fuzz/run.sh --corrupt ${TIDE_FUZZ_CORRUPT_SECONDS:-30}"
    FUZZ_OPTIONS=$mode bash fuzz/run.sh --corrupt "${TIDE_FUZZ_CORRUPT_SECONDS:-30}" 2>&1 | tee "$out/fuzz-corrupt-run.log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] ||
      fail "corrupting fuzzing (${mode:-default}) found a crash: $(grep -m1 -E '^fuzz harness: |SUMMARY: ' "$out/fuzz-corrupt-run.log") ($(grep -m1 -oE 'input saved as [^ ]+' "$out/fuzz-corrupt-run.log"))"
  done
}
t_test fuzz/corrupt-short rel_fuzz_corrupt_short 300

# ---- tsan/prefixed: tidemalloc's sources under ThreadSanitizer ---------------
# tests/reliability/tsan.supp may name races that are benign by design
# (per-thread statistics read by another thread); nothing else.
rel_tsan_prefixed() {
  need_tide
  local out=$T_BUILD/reliability c tcc=""
  mkdir -p "$out"
  for c in clang "$CC" gcc; do
    command -v "$c" >/dev/null 2>&1 || continue
    echo 'int main(void){return 0;}' >"$out/tsan-probe.c"
    if "$c" -fsanitize=thread -o "$out/tsan-probe" "$out/tsan-probe.c" >/dev/null 2>&1 &&
      "$out/tsan-probe" >/dev/null 2>&1; then
      tcc=$c
      break
    fi
  done
  [ -n "$tcc" ] || skip "no compiler here has a working ThreadSanitizer runtime"
  echo "tsan compiler: $tcc"
  local lib=$out/tsan-obj/libtide-tsan.a
  t_core_lib "$lib" "$tcc" -fsanitize=thread
  "$tcc" -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=thread -Iinclude -pthread \
    -o "$out/tsan" tests/reliability/tsan.c "$lib" || fail "tests/reliability/tsan.c does not build"
  # Default options, then pages purged and the break lowered at once.
  local o log rc
  for o in "" purge_delay_ms=0,trim_threshold=0; do
    log=$out/tsan${o:+-purge-now}.out
    echo "+ TIDEMALLOC_OPTIONS=$o tsan 8 45000 stats"
    local envo=(-u TIDEMALLOC_OPTIONS)
    [ -n "$o" ] && envo=(TIDEMALLOC_OPTIONS="$o")
    t_run 240 env "${envo[@]}" \
      TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$T_ROOT/tests/reliability/tsan.supp" \
      "$out/tsan" 8 45000 stats >"$log" 2>&1
    rc=$?
    cat "$log"
    if grep -q 'WARNING: ThreadSanitizer' "$log"; then
      fail "ThreadSanitizer${o:+ ($o)}: $(grep -m1 -E '^SUMMARY: ThreadSanitizer' "$log" | sed -e 's/^SUMMARY: ThreadSanitizer: //' -e 's/ (BuildId[^)]*)//' -e "s|$T_ROOT/||")"
    fi
    [ $rc -eq 0 ] || fail "tsan program${o:+ ($o)}: $(grep -m1 -E 'changed|bad header|failed|not zero' "$log") ($(t_status_str $rc))"
  done
}
t_test tsan/prefixed rel_tsan_prefixed 300

# ---- valgrind/memcheck: tidemalloc in charge, memcheck watching it ----------
# With --soname-synonyms=somalloc=NONE valgrind leaves the preloaded
# tidemalloc serving malloc (verbose=1 makes it say so at start; valgrind's
# heap summary counts its blocks through tidemalloc's client requests),
# and memcheck checks tidemalloc's code: no invalid read/write and no jump
# on an uninitialised value may come from it.
rel_valgrind() {
  need_tide
  command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed"
  local out=$T_BUILD/reliability
  t_cc reliability/vgprog tests/reliability/vgprog.c
  local vg=(valgrind --error-exitcode=1 --leak-check=no --trace-children=yes
    --soname-synonyms=somalloc=NONE)
  local log=$out/valgrind-prog.out
  t_run 120 env TIDEMALLOC_OPTIONS=verbose=1 LD_PRELOAD="$T_LIB" "${vg[@]}" "$T_BUILD/reliability/vgprog" >"$log" 2>&1
  local rc=$?
  cat "$log"
  rel_vg_judge "$log" $rc "vgprog"
  # Other paths: purge at once and a low mmap threshold; the hardened mode
  # with its guard pages (under memcheck its segments come from mmap:
  # valgrind's brk emulation would give new break pages the protection of
  # the PROT_NONE guard slice below them).
  local o i=0
  for o in purge_delay_ms=0,mmap_threshold=32K,trim_threshold=0 secure=1; do
    i=$((i + 1))
    log=$out/valgrind-prog-$i.out
    t_run 120 env TIDEMALLOC_OPTIONS="$o,verbose=1" LD_PRELOAD="$T_LIB" "${vg[@]}" "$T_BUILD/reliability/vgprog" >"$log" 2>&1
    rc=$?
    cat "$log"
    rel_vg_judge "$log" $rc "vgprog with $o"
  done
  # An interpreter: Python builds and parses a 1.5 MB JSON document.
  log=$out/valgrind-python.out
  t_run 120 env TIDEMALLOC_OPTIONS=verbose=1 LD_PRELOAD="$T_LIB" "${vg[@]}" "$T_PY" -c \
    'import json; d={str(i):[i]*10 for i in range(20000)}; s=json.dumps(d); assert len(json.loads(s)) == 20000; print("python ok", len(s))' \
    >"$log" 2>&1
  rc=$?
  cat "$log"
  rel_vg_judge "$log" $rc "python3"
}
rel_vg_judge() { # LOG RC WHAT
  local log=$1 rc=$2 what=$3 first
  first=$(grep -m1 -E '== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination)' "$log" | sed 's/^==[0-9]*== //')
  [ -z "$first" ] || fail "memcheck on $what: $first"
  [ "$rc" -eq 0 ] || fail "$what under valgrind: $(t_first_check "$log") ($(t_status_str "$rc"))"
  grep -q 'ERROR SUMMARY: 0 errors' "$log" || fail "memcheck on $what reported errors"
  grep -q '^tidemalloc: options:' "$log" ||
    fail "$what: tidemalloc did not start: valgrind's allocator served malloc"
  return 0
}
t_test valgrind/memcheck rel_valgrind 300

# ---- fault/sweep: every OS call of a fixed workload fails in turn -----------
# fault_at=N fails the Nth brk/mmap/mremap/madvise once (fault_kind=K: the
# Nth of that kind).  N goes 1, 2, 3, ... until N is past the last call the
# run made (the program reports how many it made); each run must exit 0:
# NULL from the failed call is fine, corruption, a crash or a second NULL is
# not.  With fault_kind=brk there must be no NULL at all (mmap takes over).
rel_fault_sweep() {
  need_tide
  local out=$T_BUILD/reliability/fault-runs
  mkdir -p "$out"
  t_cc reliability/fault tests/reliability/fault.c
  local base
  base=$(env TIDEMALLOC_OPTIONS=purge_delay_ms=0 LD_PRELOAD="$T_LIB" "$T_BUILD/reliability/fault" 800 2>&1 | tail -n 1)
  echo "without faults: $base"
  case $base in fault-run:*) ;; *) fail "the fault workload fails without faults: $base" ;; esac
  local summary=()
  rel_sweep all purge_delay_ms=0 800 || return 1
  rel_sweep brk "fault_kind=brk" 800 --no-null || return 1
  rel_sweep mmap "fault_kind=mmap" 800 || return 1
  rel_sweep mremap "fault_kind=mremap" 800 || return 1
  echo "--- fault sweep summary ---"
  printf '%s\n' "${summary[@]}"
}
# rel_sweep KIND OPTS ROUNDS [ARGS...]: runs N and N+1 side by side (2 cores).
rel_sweep() {
  local kind=$1 opts=$2 rounds=$3
  shift 3
  local n=1 last=0 hits=0 nulls=0 m line rc bound field
  [ "$kind" = all ] && field=attempts || field=$kind
  while :; do
    for m in $n $((n + 1)); do
      env TIDEMALLOC_OPTIONS="$opts,fault_at=$m" LD_PRELOAD="$T_LIB" \
        timeout -k 5 60 "$T_BUILD/reliability/fault" "$rounds" "$@" >"$out/$kind.$m.out" 2>&1 &
    done
    wait
    for m in $n $((n + 1)); do
      line=$(tail -n 1 "$out/$kind.$m.out")
      case $line in
      fault-run:*) ;;
      *)
        tail -n 20 "$out/$kind.$m.out"
        rc=$(grep -m1 -E 'FAILED|Segmentation|Aborted|tidemalloc:' "$out/$kind.$m.out")
        fail "fault_at=$m (kind $kind): the workload failed: ${rc:-$(tail -n 1 "$out/$kind.$m.out")} (log: ${out#"$T_ROOT"/}/$kind.$m.out)"
        ;;
      esac
      local fails nul v
      fails=$(sed -n 's/.* os_failures=\([0-9]*\).*/\1/p' <<<"$line")
      nul=$(sed -n 's/.* nulls=\([0-9]*\).*/\1/p' <<<"$line")
      v=$(sed -n "s/.* $field=\([0-9]*\).*/\1/p" <<<"$line")
      bound=$v
      [ "$kind" = all ] || bound=$((v + fails))
      [ "$fails" -gt 0 ] && hits=$((hits + 1))
      nulls=$((nulls + nul))
      if [ "$m" -le "$v" ] && [ "$fails" -eq 0 ]; then
        fail "fault_at=$m (kind $kind): the run made $v such calls but none failed: fault injection is not working"
      fi
      if [ "$m" -gt "$bound" ]; then
        last=$((m - 1))
        break 2
      fi
      rm -f "$out/$kind.$m.out"
    done
    n=$((n + 2))
    [ $n -gt 5000 ] && fail "fault sweep ($kind) did not end by N=5000"
  done
  summary+=("fault_kind=$kind ($opts): $last injection points tested, $hits runs hit a failure, $nulls NULL returns in all")
}
t_test fault/sweep rel_fault_sweep 300

# ---- oom/rlimit-as, oom/rlimit-data ----------------------------------------------
# Real exhaustion under RLIMIT_AS and RLIMIT_DATA (tests/reliability/oom.c):
# every failure is NULL + ENOMEM, a failed realloc keeps its block, live
# blocks stay intact, freed memory is allocated again, nothing leaks, and
# another thread gets memory once it is given back.  With the defaults,
# mmap-only segments, the hardened mode and purging at once.
rel_oom() {
  need_tide
  t_cc_linked reliability/oom tests/reliability/oom.c
  local o
  for o in "" use_brk=0 secure=1 purge_delay_ms=0; do
    t_prog 60 "oom under RLIMIT_$2${o:+ ($o)}" env TIDEMALLOC_OPTIONS="$o" "$T_BUILD/reliability/oom" "$1"
  done
}
rel_oom_as() { rel_oom as AS; }
rel_oom_data() { rel_oom data DATA; }
t_test oom/rlimit-as rel_oom_as 120
t_test oom/rlimit-data rel_oom_data 120

# ---- race/remote-free-vs-trim -------------------------------------------------
# A remote free racing with the owner collecting the page (malloc_trim):
# see tests/reliability/remote_race.c.
rel_remote_race() {
  need_tide
  t_cc reliability/remote_race tests/reliability/remote_race.c
  local o
  for o in "" use_brk=0 purge_delay_ms=0,use_brk=0; do
    if [ -n "$o" ]; then
      t_prog 90 "remote free vs malloc_trim ($o)" env TIDEMALLOC_OPTIONS="$o" LD_PRELOAD="$T_LIB" "$T_BUILD/reliability/remote_race" 5000
    else
      t_prog 90 "remote free vs malloc_trim" env -u TIDEMALLOC_OPTIONS LD_PRELOAD="$T_LIB" "$T_BUILD/reliability/remote_race" 5000
    fi
  done
}
t_test race/remote-free-vs-trim rel_remote_race 200

# ---- fork/remote-free-in-flight --------------------------------------------
# fork() while threads free each other's blocks; every child trims and must
# finish (see tests/reliability/fork_wake.c).
rel_fork_wake() {
  need_tide
  t_cc reliability/fork_wake tests/reliability/fork_wake.c
  t_prog 120 "fork during remote frees" env -u TIDEMALLOC_OPTIONS LD_PRELOAD="$T_LIB" "$T_BUILD/reliability/fork_wake" 300 6
}
t_test fork/remote-free-in-flight rel_fork_wake 150

# memcheck sees the program's errors in tidemalloc's blocks (client requests)
# and none in a clean program.
rel_vg_user() { # MODE WANT
  need_tide
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  t_cc reliability/vg_user tests/reliability/vg_user.c -O0
  local out=$T_BUILD/reliability/vg_user.$1
  t_run 120 env TIDEMALLOC_OPTIONS=verbose=1 "$(t_preload_env)" valgrind -q \
    --soname-synonyms=somalloc=NONE --error-exitcode=9 "$T_BUILD/reliability/vg_user" "$1" >"$out" 2>&1
  local rc=$?
  cat "$out"
  grep -q '^tidemalloc: options:' "$out" || fail "tidemalloc did not serve malloc under valgrind"
  if [ -z "$2" ]; then
    [ $rc -eq 0 ] || fail "memcheck reported errors in a clean program ($(t_status_str $rc))"
  else
    grep -aq "$2" "$out" || fail "memcheck did not report '$2' (client requests missing?)"
  fi
}
rel_vg_clean() { rel_vg_user 0 ""; }
t_test valgrind/clean-program-no-reports rel_vg_clean 150
rel_vg_uaf() { rel_vg_user 1 "Invalid read"; }
t_test valgrind/sees-use-after-free rel_vg_uaf 150
rel_vg_uninit() { rel_vg_user 2 "depends on uninitialised"; }
t_test valgrind/sees-uninitialised rel_vg_uninit 150

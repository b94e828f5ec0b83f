# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# How tidemalloc uses the OS, observed from outside.  Sourced by tests/run.sh.

# os_strace MODE: run `os MODE` under strace with the library preloaded and
# judge the calls with strace_check.py.
os_strace() {
  local mode=$1 out=$T_BUILD/os/strace-$1.txt
  need_lib
  t_have_strace || skip "strace is missing or cannot trace here"
  t_cc os/os tests/os/os.c
  rm -f "$out"
  t_run 60 strace -f -s 256 -o "$out" -e trace=brk,mmap,munmap,mremap,madvise,write \
    env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/os/os" "$mode" \
    >"$T_BUILD/os/$mode.stdout"
  rc=$?
  cat "$T_BUILD/os/$mode.stdout"
  [ $rc -eq 0 ] || fail "os $mode failed under strace ($(t_status_str $rc))"
  "$T_PY" tests/os/strace_check.py "$mode" "$out" | tee "$T_BUILD/os/$mode.check"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail "$(grep -m1 '^FAIL: ' "$T_BUILD/os/$mode.check" | cut -c7-)"
}

os_small_brk() { os_strace small; }
t_test os/small-uses-brk os_small_brk
os_large_mmap() { os_strace large; }
t_test os/large-is-one-mmap os_large_mmap
os_mremap() { os_strace mremap; }
t_test os/realloc-mremap os_mremap

# os_self MODE [ARG] [OPTIONS]: a mode that checks itself.
os_self() {
  local mode=$1 arg=${2:-} opts=${3:-}
  need_lib
  t_cc os/os tests/os/os.c
  local envopt=(-u TIDEMALLOC_OPTIONS)
  [ -n "$opts" ] && envopt=(TIDEMALLOC_OPTIONS="$opts")
  # shellcheck disable=SC2086
  t_prog 90 "os $mode $arg" env "${envopt[@]}" TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/os/os" "$mode" $arg
}

os_trim() { os_self trim; }
t_test os/trim-returns-memory os_trim
os_trim_auto() { os_self trim auto; }
t_test os/free-returns-memory-without-trim os_trim_auto
os_pin() { need_tide; os_self pin "" purge_delay_ms=0; }
t_test os/pinned-heap-purged os_pin
os_pin_delayed() { need_tide; os_self pin delayed; }
t_test os/pinned-heap-purged-after-delay os_pin_delayed
os_idle_bg() { need_tide; os_self idle background background_purge=1; }
t_test os/idle-thread-purged-in-background os_idle_bg
os_idle_control() { need_tide; os_self idle; }
t_test os/idle-thread-keeps-pages-without-purger os_idle_control
os_churn() { os_self churn; }
t_test os/freed-units-return-despite-churn os_churn
os_spare() { need_tide; os_self spare "" purge_delay_ms=60000; }
t_test os/small-program-keeps-small-spare os_spare
os_spare_large() { need_tide; os_self spare large purge_delay_ms=60000; }
t_test os/large-program-keeps-its-spare os_spare_large
os_cycle() { need_tide; os_self cycle "" purge_delay_ms=60000; }
t_test os/cycling-program-keeps-its-spare os_cycle
os_kept() { need_tide; os_self kept; }
t_test os/kept-page-waits-a-delay-unused os_kept
os_resident() { need_tide; os_self resident; }
t_test os/resident-matches-page-tables os_resident
os_sbrk() { os_self sbrk; }
t_test os/foreign-sbrk os_sbrk
os_fault() { need_tide; os_self fault "" fault_brk=1; }
t_test os/brk-fails-fault-injection os_fault
os_fault_midway() { need_tide; os_self faultmid "" fault_brk=4; }
t_test os/brk-fails-midway os_fault_midway
os_collide() { os_self collide; }
t_test os/brk-fails-mapping-above-break os_collide

# The trace option: lines as docs/trace-format.md says, one per real call.
os_trace() {
  need_tide
  t_have_strace || skip "strace is missing or cannot trace here"
  t_cc os/os tests/os/os.c
  local tr=$T_BUILD/os/trace.txt st=$T_BUILD/os/strace-trace.txt
  rm -f "$tr" "$st"
  t_run 60 strace -f -s 256 -o "$st" -e trace=brk,mmap,munmap,mremap,madvise,write \
    env TIDEMALLOC_OPTIONS="trace=$tr" TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/os/os" trace \
    >"$T_BUILD/os/trace.stdout"
  rc=$?
  [ $rc -eq 0 ] || fail "os trace failed under strace ($(t_status_str $rc))"
  [ -s "$tr" ] || fail "TIDEMALLOC_OPTIONS=trace=$tr wrote nothing"
  head -5 "$tr"
  "$T_PY" tests/os/strace_check.py trace "$st" "$tr" | tee "$T_BUILD/os/trace.check"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail "$(grep -m1 '^FAIL: ' "$T_BUILD/os/trace.check" | cut -c7-)"
  # trace=stderr: the same lines on fd 2
  t_run 60 env TIDEMALLOC_OPTIONS=trace=stderr "$(t_preload_env)" "$T_BUILD/os/os" large \
    >/dev/null 2>"$T_BUILD/os/trace-stderr.txt"
  rc=$?
  [ $rc -eq 0 ] || fail "os large with trace=stderr failed ($(t_status_str $rc))"
  grep -Eq '^# tidemalloc-trace 2 pid=[0-9]+ start=[0-9]+$' "$T_BUILD/os/trace-stderr.txt" ||
    fail "trace=stderr: no header line on stderr"
  grep -Eq '^[0-9]+ [0-9]+ [0-9]+ mmap 0x[0-9a-f]+ [0-9]+ 0x[0-9a-f]+ 0 - malloc 1048576$' "$T_BUILD/os/trace-stderr.txt" ||
    fail "trace=stderr: no mmap line for malloc(1048576)"
  grep -Eq '^[0-9]+ [0-9]+ [0-9]+ munmap 0x[0-9a-f]+ [0-9]+ 0x0 0 - free 0$' "$T_BUILD/os/trace-stderr.txt" ||
    fail "trace=stderr: no munmap line for the free"
}
t_test os/trace-matches-strace os_trace

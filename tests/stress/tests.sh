# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Stress tests with content verification.  Sourced by tests/run.sh.

stress_single() {
  need_lib
  t_cc stress/stress tests/stress/stress.c
  t_prog 150 "single-threaded stress" env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/stress/stress" 3000000 1
}
t_test stress/single stress_single

# Same, with options that move the paths around: a low mmap threshold,
# immediate purging, low trim threshold and top pad.
stress_single_options() {
  need_lib
  t_cc stress/stress tests/stress/stress.c
  t_prog 150 "stress with mmap_threshold=32K,purge_delay_ms=0" env TIDEMALLOC_OPTIONS=mmap_threshold=32K,purge_delay_ms=0,trim_threshold=64K,top_pad=0 \
    TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/stress/stress" 1500000 2
}
t_test stress/single-options stress_single_options

stress_threads() {
  need_lib
  t_cc stress/stress_threads tests/stress/stress_threads.c
  t_prog 150 "8-thread cross-free stress" env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" \
    "$T_BUILD/stress/stress_threads" 1000000 8
}
t_test stress/threads stress_threads

# The same with immediate purging and a low mmap threshold: madvise and
# munmap race with the other threads' allocations.
stress_threads_purge() {
  need_lib
  t_cc stress/stress_threads tests/stress/stress_threads.c
  t_prog 150 "8-thread stress with purge_delay_ms=0" env TIDEMALLOC_OPTIONS=purge_delay_ms=0,mmap_threshold=64K,trim_threshold=0 \
    TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/stress/stress_threads" 500000 8
}
t_test stress/threads-purge-now stress_threads_purge

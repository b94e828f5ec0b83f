# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Thread lifecycle tests.  Sourced by tests/run.sh.

threads_fork() {
  need_lib
  t_cc threads/fork tests/threads/fork.c
  t_prog 120 "fork under threads" env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/threads/fork" 100
}
t_test threads/fork threads_fork

threads_exit_churn() {
  need_lib
  t_cc threads/churn tests/threads/churn.c
  t_prog 120 "thread-exit churn" env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/threads/churn" 3000 64
}
t_test threads/exit-churn threads_exit_churn

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

# threads_fork_case NAME FORKS WHAT: tests/threads/NAME.c run with FORKS
# forks (TIDE_TEST_FORKS overrides) and a 60 s alarm, in both modes.
threads_fork_case() {
  need_lib
  t_cc "threads/$1" "tests/threads/$1.c"
  t_prog_modes 120 "$3" "$T_BUILD/threads/$1" "${TIDE_TEST_FORKS:-$2}" 60
}

# fork() against stdio's locks: eight getline threads, one fflush(NULL)
# thread, FORKS forks (default 1000); a three-way deadlock (fork -> stdio
# list lock -> a FILE's lock -> the allocator) hangs, and the program's
# alarm turns the hang into a failure.  Default and hardened mode.
threads_fork_stdio() { threads_fork_case fork_stdio 1000 "fork against stdio"; }
t_test threads/fork-stdio threads_fork_stdio 280

# fork() in a SIGALRM handler (every 5 ms) that interrupted malloc or free
# in a single-threaded program: no lock may be taken, or the process waits
# for itself.  FORKS forks (TIDE_TEST_FORKS, default 300: 5 ms apart, about
# 2 s); a watchdog timer turns a hang into a failure.  Both modes.
threads_fork_signal() { threads_fork_case fork_signal 300 "fork in a signal handler"; }
t_test threads/fork-signal threads_fork_signal 280

# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The benchmark workloads with tiny sizes under tidemalloc, each checking its
# own results (bench/smoke.sh), so that `make bench` cannot rot unnoticed.
# Sourced by tests/run.sh.

bench_smoke() {
  need_tide
  t_script 280 10 "$T_ROOT/bench/smoke.sh"
}
t_test bench/smoke-every-workload bench_smoke 300

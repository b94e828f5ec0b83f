# shellcheck shell=bash
# The benchmark workloads with tiny sizes under tidemalloc, each checking its
# own results (bench/smoke.sh), so that `make bench` cannot rot unnoticed.
# Sourced by tests/run.sh.

bench_smoke() {
  need_tide
  local out=$T_BUILD/bench-smoke.out
  t_run 280 bash "$T_ROOT/bench/smoke.sh" >"$out" 2>&1
  local rc=$?
  cat "$out"
  local n
  n=$(grep -c '^PASS' "$out")
  grep -q '^FAIL' "$out" && fail "$(grep '^FAIL' "$out" | head -n 3 | tr '\n' ' ')($n passed)"
  [ $rc -eq 0 ] || fail "bench/smoke.sh: $(t_status_str $rc)"
  [ "$n" -ge 10 ] || fail "only $n workloads passed"
}
t_test bench/smoke-every-workload bench_smoke 300

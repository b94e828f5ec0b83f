#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tidemalloc's test suite.  `make test` runs `bash tests/run.sh` from the
# repository root after `make`.
#
#   bash tests/run.sh                 run everything
#   bash tests/run.sh api os/trim     run the tests whose names contain a word
#   bash tests/run.sh --list          list the tests
#   TIDE_TEST_GLIBC=1 bash tests/run.sh   exercise the tests on glibc
#
# Prints `PASS name`, `FAIL name: reason` or `SKIP name: reason` per test and
# ends with `N passed, N failed, N skipped`; exits non-zero if any failed.
# Each test's full output is in build/tests/logs/<name>.log.

set -u
ulimit -c 0 2>/dev/null || true # the wrong-use tests abort on purpose: no core files
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
T_ROOT=$PWD
export T_ROOT
# shellcheck source=tests/lib.sh
. tests/lib.sh
# Every tests/*/tests.sh registers its tests: these first, in this order,
# then any other suite in alphabetical order.
T_ORDER=(unit api options stress threads os wrong secure reliability tool programs)
T_SUITES=()
for suite in "${T_ORDER[@]}"; do
  [ -f "tests/$suite/tests.sh" ] && T_SUITES+=("$suite")
done
for f in tests/*/tests.sh; do
  suite=${f#tests/}
  suite=${suite%/tests.sh}
  case " ${T_ORDER[*]} " in *" $suite "*) ;; *) T_SUITES+=("$suite") ;; esac
done
for suite in "${T_SUITES[@]}"; do
  if bash -n "tests/$suite/tests.sh" 2>/dev/null; then
    # shellcheck disable=SC1090
    . "tests/$suite/tests.sh"
  else # a broken suite fails as one test instead of taking the runner down
    eval "t_broken_${suite//[^A-Za-z0-9_]/_}() { fail 'tests/$suite/tests.sh has a syntax error'; }"
    t_test "$suite/load" "t_broken_${suite//[^A-Za-z0-9_]/_}"
  fi
done

case "${1:-}" in
--one)
  # Internal: run one test function (called by t_run_one).
  set -o pipefail
  cd "$T_ROOT" || exit 2
  "$2"
  exit $?
  ;;
--list)
  printf '%s\n' "${T_NAMES[@]}"
  exit 0
  ;;
esac

t_run_all "$@"

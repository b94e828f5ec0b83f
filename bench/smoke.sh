#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke test of the benchmark workloads under tidemalloc: every workload with
# tiny sizes (a few seconds in all), preloaded with build/libtidemalloc.so,
# each checking its own results.  Prints one line per workload,
#   PASS name   or   FAIL name
# (the reason of a failure goes to stderr), and exits 0 only if all pass.
#
#   bash bench/smoke.sh                    # tidemalloc, build/libtidemalloc.so
#   TIDEMALLOC_LIB=/path/lib.so bash bench/smoke.sh
#   TIDEMALLOC_LIB=none bash bench/smoke.sh     # no preload: glibc (checks the workloads)
#
# Builds the workloads first (make -C bench), with the system compiler.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
lib=${TIDEMALLOC_LIB:-$root/build/libtidemalloc.so}
python=/usr/bin/python3.11
sqlite=/usr/bin/sqlite3
limit=${SMOKE_TIMEOUT:-60}

if ! make -s -C "$here" all >&2; then
	echo "FAIL build"
	exit 1
fi
if [ "$lib" = none ]; then
	preload=
elif [ -f "$lib" ]; then
	preload=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
else
	echo "smoke: $lib not found (build it first, or set TIDEMALLOC_LIB)" >&2
	preload=MISSING
fi

tmp=$(mktemp -d /tmp/tidesmoke.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0

# run NAME STDIN COMPARE CMD...: run CMD under the preload with a time
# limit; COMPARE=1 also requires its stdout to equal the output under glibc.
run() {
	local name=$1 input=$2 compare=$3
	shift 3
	if [ "$preload" = MISSING ]; then
		echo "FAIL $name"
		failed=1
		return
	fi
	local rc=0
	# (the braces keep bash's "Segmentation fault" report out of the output)
	{ LD_PRELOAD=$preload timeout -k 5 "$limit" "$@" <"$input" >"$tmp/$name.out" 2>"$tmp/$name.err"; } 2>/dev/null || rc=$?
	local why=
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		why="timed out after ${limit}s"
	elif [ $rc -ne 0 ]; then
		why="exit status $rc: $(tail -n 3 "$tmp/$name.err" | tr '\n' ' ')"
	elif [ "$compare" = 1 ]; then
		env -u LD_PRELOAD timeout -k 5 "$limit" "$@" <"$input" >"$tmp/$name.ref" 2>/dev/null
		if ! cmp -s "$tmp/$name.out" "$tmp/$name.ref"; then
			why="output differs from the output under glibc"
		fi
	fi
	if [ -z "$why" ]; then
		echo "PASS $name"
	else
		echo "FAIL $name"
		echo "smoke: $name: $why" >&2
		failed=1
	fi
}

for w in pairs batch server prodcons falseshare mixed large frag; do
	run "$w" /dev/null 0 "$here/bin/$w" smoke
done
run ipp /dev/null 0 "$here/bin/ipp" 100000
run python /dev/null 1 "$python" -I "$here/py_workload.py" smoke
run sqlite "$here/bin/sqlite-smoke.sql" 1 "$sqlite" -bail :memory:
exit $failed

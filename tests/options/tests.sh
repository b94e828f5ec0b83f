# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Options, statistics and their consistency: TIDEMALLOC_OPTIONS parsing,
# glibc's names and mallopt, tide_stats against strace, and the views
# (malloc_info, malloc_stats, stats at exit).  Sourced by tests/run.sh.

OPT_KEYS="mmap_threshold trim_threshold top_pad mmap_max purge_delay_ms stats stats_file trace verbose use_brk fault_brk"

# opt_build: the test program, linked with -ltidemalloc.
opt_build() {
  need_tide
  t_cc_linked options/opts tests/options/opts.c
  OPT_BIN=$T_BUILD/options/opts
  OPT_OUT=$T_BUILD/options/out.txt
  OPT_ERR=$T_BUILD/options/err.txt
}

# opt_with [VAR=VALUE...] -- ARGS...: run the program with only the given
# allocator variables set (the library also preloaded); stdout in $OPT_OUT,
# stderr in $OPT_ERR; returns its status.
opt_with() {
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    envs+=("$1")
    shift
  done
  shift
  t_run 60 env -u TIDEMALLOC_OPTIONS -u GLIBC_TUNABLES -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ \
    -u MALLOC_TOP_PAD_ -u MALLOC_MMAP_MAX_ "$(t_preload_env)" "${envs[@]}" "$OPT_BIN" "$@" >"$OPT_OUT" 2>"$OPT_ERR"
}

# opt_expect_get "VAR=VALUE ..." NAME=WANT...: with that environment, each
# option reads back as WANT and nothing is printed on stderr.
opt_expect_get() {
  local envs=() names=() want w got
  read -r -a envs <<<"$1"
  shift
  for w in "$@"; do names+=("${w%%=*}"); done
  opt_with "${envs[@]}" -- get "${names[@]}" || fail "[$*] with ${envs[*]}: program failed ($(head -c 200 "$OPT_ERR"))"
  for w in "$@"; do
    got=$(grep -m1 "^${w%%=*}=" "$OPT_OUT")
    [ "$got" = "$w" ] || fail "with ${envs[*]}: got '$got', want '$w'"
  done
  [ -s "$OPT_ERR" ] && fail "with ${envs[*]}: unexpected output on stderr: $(head -n1 "$OPT_ERR")"
  echo "ok: ${envs[*]} -> $*"
}

opt_parse_good() {
  opt_build
  opt_expect_get "TIDEMALLOC_OPTIONS=" mmap_threshold=131072 trim_threshold=131072 top_pad=131072 mmap_max=65536 \
    purge_delay_ms=50 stats=0 verbose=0 use_brk=1 fault_brk=0
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=131072" mmap_threshold=131072
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=128K" mmap_threshold=131072
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=1M" mmap_threshold=1048576
  opt_expect_get "TIDEMALLOC_OPTIONS=trim_threshold=1G" trim_threshold=1073741824
  opt_expect_get "TIDEMALLOC_OPTIONS=top_pad=64k" top_pad=65536
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=2MiB" mmap_threshold=2097152
  opt_expect_get "TIDEMALLOC_OPTIONS=trim_threshold=128kb" trim_threshold=131072
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=0" mmap_threshold=0
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=32M" mmap_threshold=33554432
  opt_expect_get "TIDEMALLOC_OPTIONS=mmap_threshold=1M,top_pad=0,trim_threshold=256K,mmap_max=17,purge_delay_ms=-1" \
    mmap_threshold=1048576 top_pad=0 trim_threshold=262144 mmap_max=17 purge_delay_ms=-1
  opt_expect_get "TIDEMALLOC_OPTIONS=use_brk=no,verbose=off" use_brk=0 verbose=0
  opt_expect_get "TIDEMALLOC_OPTIONS=use_brk=false" use_brk=0
  opt_expect_get "TIDEMALLOC_OPTIONS=,,top_pad=1M,," top_pad=1048576
  # the last of two wins
  opt_expect_get "TIDEMALLOC_OPTIONS=top_pad=1M,top_pad=2M" top_pad=2097152
  # stats=json / bare `stats` (= 1): the value, and the report at exit
  local f=$T_BUILD/options/parse-stats.txt
  rm -f "$f"
  opt_expect_get "TIDEMALLOC_OPTIONS=stats=json,stats_file=$f" stats=2
  grep -q '^{"tidemalloc":' "$f" || fail "stats=json,stats_file=...: no JSON in the file at exit"
  rm -f "$f"
  opt_expect_get "TIDEMALLOC_OPTIONS=stats,stats_file=$f" stats=1
  grep -q '^tidemalloc statistics' "$f" || fail "bare 'stats': no text statistics in stats_file at exit"
  rm -f "$f"
}
t_test options/parse-good-values opt_parse_good

# opt_expect_warning OPTIONS KEY NAME=WANT...: exactly one warning line on
# stderr naming KEY, the program runs, the values are WANT.
opt_expect_warning() {
  local opts=$1 key=$2 w got lines
  shift 2
  local names=()
  for w in "$@"; do names+=("${w%%=*}"); done
  opt_with "TIDEMALLOC_OPTIONS=$opts" -- get "${names[@]}"
  local rc=$?
  [ $rc -eq 0 ] || fail "TIDEMALLOC_OPTIONS='$opts': the program failed ($(t_status_str $rc)): $(head -n1 "$OPT_ERR")"
  lines=$(wc -l <"$OPT_ERR")
  [ "$lines" -eq 1 ] || fail "TIDEMALLOC_OPTIONS='$opts': $lines lines on stderr, want exactly one warning: $(head -c 300 "$OPT_ERR")"
  grep -q "^tidemalloc: " "$OPT_ERR" || fail "TIDEMALLOC_OPTIONS='$opts': the warning does not start with 'tidemalloc: ': $(cat "$OPT_ERR")"
  grep -q "'$key'" "$OPT_ERR" || fail "TIDEMALLOC_OPTIONS='$opts': the warning does not name '$key': $(cat "$OPT_ERR")"
  for w in "$@"; do
    got=$(grep -m1 "^${w%%=*}=" "$OPT_OUT")
    [ "$got" = "$w" ] || fail "TIDEMALLOC_OPTIONS='$opts': got '$got', want '$w'"
  done
  echo "ok: '$opts' -> $(cat "$OPT_ERR")"
}

opt_parse_bad() {
  opt_build
  local v
  for v in abc 12Q -5 "" 1T 1M5 K 99999999999999999999999 64M " 1M"; do
    opt_expect_warning "mmap_threshold=$v,top_pad=64K" mmap_threshold mmap_threshold=131072 top_pad=65536
  done
  for v in abc -5 "" 2G; do
    opt_expect_warning "top_pad=$v" top_pad top_pad=131072
  done
  opt_expect_warning "trim_threshold=12Q" trim_threshold trim_threshold=131072
  opt_expect_warning "mmap_max=-1" mmap_max mmap_max=65536
  opt_expect_warning "purge_delay_ms=fast" purge_delay_ms purge_delay_ms=50
  opt_expect_warning "use_brk=maybe" use_brk use_brk=1
  opt_expect_warning "stats=xml" stats stats=0
  # unknown keys: one line that also lists every valid key
  local k
  for v in "bogus=1" "bogus" "MMAP_THRESHOLD=1M"; do
    opt_expect_warning "$v,top_pad=64K" "${v%%=*}" mmap_threshold=131072 top_pad=65536
    for k in $OPT_KEYS; do
      grep -qw -- "$k" "$OPT_ERR" || fail "unknown key '$v': the warning does not list the valid key $k: $(cat "$OPT_ERR")"
    done
  done
}
t_test options/parse-bad-values-warn opt_parse_bad

# A bad value's warning names what the option takes (the table's range), and
# "stats=2" is no spelling of json (it was taken silently).
opt_bad_value_range() {
  opt_build
  local spec opts want
  while IFS='|' read -r opts want spec; do
    opt_expect_warning "$opts" "${opts%%=*}" "$spec"
    grep -qF "(allowed: $want)" "$OPT_ERR" || fail "TIDEMALLOC_OPTIONS='$opts': the warning does not say '(allowed: $want)': $(cat "$OPT_ERR")"
  done <<'EOF2'
mmap_threshold=64M|a size (bytes, or with K, M, G) from 0 to 32M|mmap_threshold=131072
top_pad=2G|a size (bytes, or with K, M, G) from 0 to 1G|top_pad=131072
trim_threshold=12Q|a size (bytes, or with K, M, G), 0 or more|trim_threshold=131072
purge_delay_ms=-2|a number from -1 to 1000000|purge_delay_ms=50
mmap_max=-1|a number from 0 to 2147483648|mmap_max=65536
use_brk=maybe|0, 1, yes, no, on, off, true, false|use_brk=1
stats=2|0, 1, text, json|stats=0
stats=xml|0, 1, text, json|stats=0
EOF2
  # stats=2 warned and printed no statistics at exit
  opt_with "TIDEMALLOC_OPTIONS=stats=2" -- exit 10
  grep -q '^tidemalloc statistics\|^{' "$OPT_ERR" && fail "stats=2 still printed statistics at exit"
  return 0
}
t_test options/bad-value-names-range opt_bad_value_range

# Files that cannot be opened: one line naming the path and the reason.
opt_unopenable_files() {
  opt_build
  local bad=/nonexistent/dir/x n
  opt_with "TIDEMALLOC_OPTIONS=stats=1,stats_file=$bad" -- exit 10 || fail "stats_file=$bad: the program failed"
  n=$(grep -c "cannot open stats_file '$bad': No such file or directory" "$OPT_ERR")
  [ "$n" -eq 1 ] || fail "stats_file=$bad: $n warnings naming the path and the reason, want exactly one: $(head -c 300 "$OPT_ERR")"
  [ "$(grep -c 'warning' "$OPT_ERR")" -eq 1 ] || fail "stats_file=$bad: more than one warning: $(grep warning "$OPT_ERR")"
  grep -q '^tidemalloc statistics' "$OPT_ERR" || fail "stats_file=$bad: no statistics on stderr instead"
  opt_with "TIDEMALLOC_OPTIONS=trace=$bad" -- exit 10 || fail "trace=$bad: the program failed"
  [ "$(wc -l <"$OPT_ERR")" -eq 1 ] || fail "trace=$bad: want one line on stderr: $(head -c 300 "$OPT_ERR")"
  grep -q "cannot open the trace file '$bad': No such file or directory (ENOENT); tracing is off" "$OPT_ERR" ||
    fail "trace=$bad: the warning does not name the path and the reason: $(cat "$OPT_ERR")"
}
t_test options/unopenable-files-named-once opt_unopenable_files

# coreutils close stderr in an atexit handler (close_stdout); the report at
# exit still reaches it, through the copy made at start-up.
opt_stats_closed_stderr() {
  need_tide
  local err=$T_BUILD/options/ls.err
  mkdir -p "$T_BUILD/options"
  t_run 30 env TIDEMALLOC_OPTIONS=stats=1 LD_PRELOAD="$T_LIB" ls / >/dev/null 2>"$err" || fail "ls / failed under tidemalloc"
  grep -Eq '^tidemalloc statistics \(pid [0-9]+\)$' "$err" || fail "stats=1 ls /: no statistics on stderr: $(head -c 200 "$err")"
  grep -Eq '^malloc_calls +[1-9]' "$err" || fail "stats=1 ls /: no malloc_calls line"
  t_run 30 env TIDEMALLOC_OPTIONS=stats=1 LD_PRELOAD="$T_LIB" sort /etc/passwd >/dev/null 2>"$err" || fail "sort failed under tidemalloc"
  grep -q '^tidemalloc statistics' "$err" || fail "stats=1 sort: no statistics on stderr"
  # the kept copy does not outlive exec: a program run by a preloaded shell
  # sees no descriptor of ours (close-on-exec)
  local fds base
  base=$(t_run 30 sh -c 'exec ls /proc/self/fd' 2>/dev/null | tr '\n' ' ')
  fds=$(t_run 30 env TIDEMALLOC_OPTIONS=stats=1 LD_PRELOAD="$T_LIB" sh -c 'exec env -u LD_PRELOAD ls /proc/self/fd' 2>/dev/null | tr '\n' ' ')
  [ "$fds" = "$base" ] || fail "a descriptor of tidemalloc's outlived exec: '$fds', without tidemalloc '$base'"
  return 0
}
t_test options/stats-survive-closed-stderr opt_stats_closed_stderr

opt_verbose() {
  opt_build
  opt_with "TIDEMALLOC_OPTIONS=verbose=1,mmap_threshold=1M" -- get verbose mmap_threshold ||
    fail "verbose=1: program failed"
  [ "$(wc -l <"$OPT_ERR")" -eq 1 ] || fail "verbose=1: want one options line on stderr, got: $(head -c 300 "$OPT_ERR")"
  grep -q '^tidemalloc: options:' "$OPT_ERR" || fail "verbose=1: no 'tidemalloc: options:' line: $(cat "$OPT_ERR")"
  local w
  for w in mmap_threshold=1048576 verbose=1 trim_threshold=131072 top_pad=131072 purge_delay_ms=50 use_brk=1; do
    grep -qw -- "$w" "$OPT_ERR" || fail "verbose=1: the options line lacks $w: $(cat "$OPT_ERR")"
  done
  grep -qx 'verbose=1' "$OPT_OUT" || fail "verbose=1 reads back as $(grep verbose "$OPT_OUT")"
  opt_with "TIDEMALLOC_OPTIONS=verbose" -- get verbose || fail "bare verbose: program failed"
  grep -q '^tidemalloc: options:.*verbose=1' "$OPT_ERR" || fail "bare 'verbose' printed no options line"
  opt_with "TIDEMALLOC_OPTIONS=verbose=0" -- get verbose || fail "verbose=0: program failed"
  [ -s "$OPT_ERR" ] && fail "verbose=0 printed: $(head -n1 "$OPT_ERR")"
  cat "$OPT_ERR"
}
t_test options/verbose-prints-options opt_verbose

opt_glibc_names() {
  opt_build
  opt_expect_get "MALLOC_MMAP_THRESHOLD_=1048576" mmap_threshold=1048576
  opt_expect_get "MALLOC_TRIM_THRESHOLD_=262144" trim_threshold=262144
  opt_expect_get "MALLOC_TOP_PAD_=65536" top_pad=65536
  opt_expect_get "MALLOC_MMAP_MAX_=17" mmap_max=17
  opt_expect_get "MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=262144 MALLOC_TOP_PAD_=65536 MALLOC_MMAP_MAX_=17" \
    mmap_threshold=1048576 trim_threshold=262144 top_pad=65536 mmap_max=17
  opt_expect_get "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=524288:glibc.malloc.trim_threshold=1048576" \
    mmap_threshold=524288 trim_threshold=1048576
  opt_expect_get "GLIBC_TUNABLES=glibc.malloc.top_pad=65536:glibc.malloc.mmap_max=9" top_pad=65536 mmap_max=9
  # tunables of other namespaces are not ours
  opt_expect_get "GLIBC_TUNABLES=glibc.rtld.nns=2:glibc.malloc.mmap_threshold=262144:glibc.elision.enable=0" \
    mmap_threshold=262144 trim_threshold=131072
  # the order: MALLOC_*_, then GLIBC_TUNABLES, then TIDEMALLOC_OPTIONS
  opt_expect_get "MALLOC_MMAP_THRESHOLD_=1048576 GLIBC_TUNABLES=glibc.malloc.mmap_threshold=524288" \
    mmap_threshold=524288
  opt_expect_get "MALLOC_MMAP_THRESHOLD_=1048576 GLIBC_TUNABLES=glibc.malloc.mmap_threshold=524288 TIDEMALLOC_OPTIONS=mmap_threshold=256K" \
    mmap_threshold=262144
  opt_expect_get "MALLOC_TOP_PAD_=65536 TIDEMALLOC_OPTIONS=top_pad=0" top_pad=0
  opt_expect_get "MALLOC_TRIM_THRESHOLD_=262144 TIDEMALLOC_OPTIONS=trim_threshold=1M" trim_threshold=1048576
  opt_expect_get "MALLOC_MMAP_MAX_=17 TIDEMALLOC_OPTIONS=mmap_max=3" mmap_max=3
  # a value glibc rejects (above its 32 MiB ceiling) is not taken either
  opt_expect_get "MALLOC_MMAP_THRESHOLD_=67108864" mmap_threshold=131072
}
t_test options/glibc-names opt_glibc_names

# glibc reads its numbers with strtoul's rules: "0x100000" is 1 MiB (glibc
# 2.36: GLIBC_TUNABLES=glibc.malloc.mmap_threshold=0x100000 and
# MALLOC_MMAP_THRESHOLD_=0x100000 both give a 1 MiB threshold).
opt_glibc_hex() {
  opt_build
  opt_expect_get "MALLOC_MMAP_THRESHOLD_=0x100000" mmap_threshold=1048576
  opt_expect_get "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=0x100000" mmap_threshold=1048576
  opt_expect_get "GLIBC_TUNABLES=glibc.malloc.top_pad=0x10000" top_pad=65536
}
t_test options/glibc-hex-values opt_glibc_hex

opt_mallopt() {
  opt_build
  t_prog 60 "opts mallopt" env -u TIDEMALLOC_OPTIONS -u GLIBC_TUNABLES -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ \
    -u MALLOC_TOP_PAD_ -u MALLOC_MMAP_MAX_ "$(t_preload_env)" "$OPT_BIN" mallopt
}
t_test options/mallopt-and-threshold opt_mallopt

# Every OS call tidemalloc counts, strace sees, and the other way round.
# opt_strace_with OPTIONS: with TIDEMALLOC_OPTIONS=OPTIONS (may be empty).
opt_strace_with() {
  opt_build
  t_have_strace || skip "strace is missing or cannot trace here"
  local tag=${1:-default}
  tag=${tag//[^a-z0-9]/_}
  local st=$T_BUILD/options/strace-$tag.txt out=$T_BUILD/options/work-$tag.out
  rm -f "$st"
  t_run 90 strace -f -s 64 -o "$st" -e trace=brk,mmap,munmap,mremap,madvise,write \
    env -u GLIBC_TUNABLES -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ -u MALLOC_TOP_PAD_ \
    -u MALLOC_MMAP_MAX_ TIDEMALLOC_OPTIONS="$1" "$(t_preload_env)" "$OPT_BIN" work >"$out" 2>"$out.err"
  local rc=$?
  cat "$out" "$out.err"
  # the program's own checks (allocated_bytes, call counts) are judged last
  [ $rc -eq 0 ] || grep -q '^delta madvise' "$out" || fail "opts work under strace: $(t_status_str $rc)"
  "$T_PY" tests/options/strace_count.py "$st" TIDE_OPTIONS_BEGIN TIDE_OPTIONS_END >"$st.counts" ||
    fail "$(cat "$st.counts")"
  cat "$st.counts"
  local k ours theirs
  for k in brk mmap munmap mremap madvise; do
    ours=$(awk -v k="$k" '$1 == "delta" && $2 == k {print $3}' "$out")
    theirs=$(awk -v k="$k" '$1 == "strace" && $2 == k {print $3}' "$st.counts")
    if [ -z "$ours" ] || [ -z "$theirs" ]; then fail "no count for $k (ours '$ours', strace '$theirs')"; fi
    [ "$ours" = "$theirs" ] || fail "$k: tide_stats counted $ours calls, strace saw $theirs"
  done
  ours=$(awk '$1 == "delta" && $2 == "os_failures" {print $3}' "$out")
  theirs=$(awk '$1 == "strace" && $2 == "failed" {print $3}' "$st.counts")
  [ "$ours" = "$theirs" ] || fail "failed calls: tide_stats os_failures +$ours, strace saw $theirs"
  # the run must have exercised every kind of call it is checked on
  for k in brk mmap munmap mremap; do
    theirs=$(awk -v k="$k" '$1 == "strace" && $2 == k {print $3}' "$st.counts")
    [ "${theirs:-0}" -gt 0 ] || fail "the run made no $k call: the comparison proves nothing for it"
  done
  [ $rc -eq 0 ] || fail "opts work: $(t_first_check "$out.err") ($(t_status_str $rc))"
}
opt_strace() { opt_strace_with ""; }
t_test options/stats-match-strace opt_strace
# the same with pages given back at once and no padding of the break
opt_strace_eager() { opt_strace_with "purge_delay_ms=0,top_pad=0,trim_threshold=0"; }
t_test options/stats-match-strace-eager opt_strace_eager

opt_views() {
  opt_build
  local xml=$T_BUILD/options/malloc_info.xml
  rm -f "$xml"
  opt_with -- views "$xml"
  local rc=$?
  cat "$OPT_OUT"
  if [ $rc -ne 0 ]; then
    cat "$OPT_ERR"
    fail "opts views: $(t_first_check "$OPT_ERR") ($(t_status_str $rc))"
  fi
  [ -s "$xml" ] || fail "malloc_info(0, f) wrote nothing"
  local chk=$T_BUILD/options/views.check
  "$T_PY" - "$xml" "$OPT_OUT" >"$chk" 2>&1 <<'PY' || { cat "$chk"; fail "malloc_info: $(tail -n1 "$chk")"; }
import sys
import xml.etree.ElementTree as ET
xml_path, stats_path = sys.argv[1:3]
stats = {}
for line in open(stats_path):
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        stats[parts[0]] = int(parts[1])
text = open(xml_path).read()
try:
    root = ET.fromstring(text)
except ET.ParseError as e:
    sys.exit("malloc_info output is not XML (%s); it ends with %r" % (e, text[-120:]))
assert root.tag == "malloc" and root.get("version") == "1", "root is <%s version=%s>" % (root.tag, root.get("version"))
heaps = root.findall("heap")
assert heaps and heaps[0].get("nr") == "0", "no <heap nr=\"0\">"
def typed(el, tag):
    return {t.get("type"): t for t in el.findall(tag)}
for h in heaps:
    sizes = h.find("sizes")
    assert sizes is not None, "heap without <sizes>"
    total_count = total_bytes = 0
    for s in sizes.findall("size"):
        f, t, tot, cnt = (int(s.get(k)) for k in ("from", "to", "total", "count"))
        assert 0 < f <= t and tot == cnt * t, "bad <size %s>" % s.attrib
        total_count += cnt
        total_bytes += tot
    tt = typed(h, "total")
    assert set(tt) >= {"fast", "rest"}, "heap totals %s" % sorted(tt)
    assert int(tt["rest"].get("count")) == total_count and int(tt["rest"].get("size")) == total_bytes, \
        "heap <total type=rest> %s does not add up the <size> lines (%d blocks, %d bytes)" % (tt["rest"].attrib, total_count, total_bytes)
    assert set(typed(h, "system")) >= {"current", "max"}, "heap <system> types"
    assert set(typed(h, "aspace")) >= {"total", "mprotect"}, "heap <aspace> types"
tt = typed(root, "total")
assert set(tt) >= {"fast", "rest", "mmap"}, "process totals %s" % sorted(tt)
assert int(tt["mmap"].get("count")) == stats["huge_blocks"], "<total type=mmap count> %s, huge_blocks %d" % (tt["mmap"].get("count"), stats["huge_blocks"])
assert int(tt["mmap"].get("size")) == stats["huge_bytes"], "<total type=mmap size> %s, huge_bytes %d" % (tt["mmap"].get("size"), stats["huge_bytes"])
sysc = typed(root, "system")
assert set(sysc) >= {"current", "max"} and set(typed(root, "aspace")) >= {"total", "mprotect"}, "process <system>/<aspace>"
assert int(sysc["current"].get("size")) == stats["committed_bytes"], "<system type=current> %s, committed_bytes %d" % (sysc["current"].get("size"), stats["committed_bytes"])
assert int(sysc["max"].get("size")) >= int(sysc["current"].get("size")), "system max < current"
print("malloc_info ok: %d heap(s), %d size lines" % (len(heaps), len(heaps[0].find("sizes"))))
PY
  cat "$chk"
  # malloc_stats: glibc's lines on stderr
  grep -q '^Arena 0:$' "$OPT_ERR" || fail "malloc_stats wrote no 'Arena 0:' line on stderr"
  grep -Eq '^in use bytes += [0-9]+$' "$OPT_ERR" || fail "malloc_stats wrote no 'in use bytes = N' line on stderr"
  grep -Eq '^system bytes += [0-9]+$' "$OPT_ERR" || fail "malloc_stats wrote no 'system bytes = N' line on stderr"
  local inuse want
  inuse=$(grep -m1 -E '^in use bytes' "$OPT_ERR" | awk '{print $NF}')
  want=$(awk '$1 == "allocated_bytes" {print $2}' "$OPT_OUT")
  [ "$inuse" = "$want" ] || fail "malloc_stats 'in use bytes = $inuse', tide_stats allocated_bytes $want"
  grep -q 'Arena 0:' "$OPT_OUT" && fail "malloc_stats wrote to stdout"
  head -n 8 "$OPT_ERR"
}
t_test options/malloc-info-and-stats opt_views

opt_stats_exit() {
  opt_build
  local js=$T_BUILD/options/exit.json
  rm -f "$js"
  opt_with "TIDEMALLOC_OPTIONS=stats=json,stats_file=$js" -- exit 3000 || fail "stats=json run failed: $(head -n1 "$OPT_ERR")"
  [ -s "$OPT_ERR" ] && fail "stats=json with stats_file wrote on stderr: $(head -c 200 "$OPT_ERR")"
  [ -s "$js" ] || fail "stats=json,stats_file=...: nothing written at exit"
  cat "$OPT_OUT"
  local chk=$T_BUILD/options/json.check
  "$T_PY" - "$js" "$OPT_OUT" >"$chk" 2>&1 <<'PY' || { cat "$chk"; fail "stats=json: $(tail -n1 "$chk")"; }
import json, sys
path, facts_path = sys.argv[1:3]
facts = {}
for line in open(facts_path):
    k, v = line.split()
    facts[k] = int(v)
lines = open(path).read().split("\n")
assert lines[-1] == "", "the JSON does not end with a newline"
lines = lines[:-1]
def die(msg):
    sys.exit(msg)
if len(lines) != 1:
    die("%d lines in the stats file, want one" % len(lines))
try:
    obj = json.loads(lines[0])
except ValueError as e:
    die("not valid JSON (%s): %r" % (e, lines[0][:200]))
for k in ("tidemalloc", "pid", "requested_bytes", "allocated_bytes", "allocated_peak", "committed_bytes",
          "brk_grow", "brk_shrink", "mmap", "munmap", "mremap", "madvise", "malloc_calls", "free_calls",
          "heap_start", "heap_break", "huge_blocks", "segments", "classes"):
    if k not in obj:
        die("key %s missing" % k)
for k in ("brk_grow", "brk_shrink", "mmap", "munmap", "mremap", "madvise"):
    v = obj[k]
    if not (isinstance(v, dict) and set(v) == {"calls", "bytes"} and all(isinstance(x, int) and x >= 0 for x in v.values())):
        die("%s is %r, want {calls, bytes}" % (k, v))
for k, v in obj.items():
    if k not in ("tidemalloc", "classes") and not isinstance(v, dict):
        if not (isinstance(v, int) and v >= 0):
            die("%s is %r, not an unsigned integer" % (k, v))
if obj["pid"] != facts["pid"]:
    die("pid %d, the program was %d" % (obj["pid"], facts["pid"]))
if obj["malloc_calls"] < facts["mallocs"]:
    die("malloc_calls %d, the program made %d" % (obj["malloc_calls"], facts["mallocs"]))
if obj["free_calls"] < facts["frees"]:
    die("free_calls %d, the program made %d" % (obj["free_calls"], facts["frees"]))
if obj["allocated_bytes"] < facts["held"]:
    die("allocated_bytes %d, the program held %d at exit" % (obj["allocated_bytes"], facts["held"]))
if obj["requested_bytes"] < facts["held"]:
    die("requested_bytes %d < %d" % (obj["requested_bytes"], facts["held"]))
if obj["brk_grow"]["calls"] < 1 or obj["heap_break"] <= obj["heap_start"]:
    die("no brk heap: brk_grow %r, heap %d..%d" % (obj["brk_grow"], obj["heap_start"], obj["heap_break"]))
cl = obj["classes"]
if not isinstance(cl, list) or not cl:
    die("classes is %r" % (cl,))
prev = 0
used = 0
for c in cl:
    if set(c) != {"block_size", "blocks_used", "blocks_free", "pages"}:
        die("class entry %r" % c)
    if c["block_size"] <= prev or c["pages"] <= 0:
        die("classes not in increasing block_size / with pages: %r" % c)
    prev = c["block_size"]
    used += c["block_size"] * c["blocks_used"]
if used > obj["allocated_bytes"]:
    die("classes hold %d bytes in use, allocated_bytes is %d" % (used, obj["allocated_bytes"]))
print("stats json ok: malloc_calls %d free_calls %d allocated_bytes %d, %d classes" % (
    obj["malloc_calls"], obj["free_calls"], obj["allocated_bytes"], len(cl)))
PY
  cat "$chk"
  # O_APPEND: a second process adds its own line
  opt_with "TIDEMALLOC_OPTIONS=stats=json,stats_file=$js" -- exit 10 || fail "second stats=json run failed"
  [ "$(wc -l <"$js")" -eq 2 ] || fail "a second run did not append one line (file has $(wc -l <"$js") lines)"
  # stats=1 (and stats=text): the text form on stderr
  local mode
  for mode in 1 text; do
    opt_with "TIDEMALLOC_OPTIONS=stats=$mode" -- exit 3000 || fail "stats=$mode run failed"
    grep -Eq '^tidemalloc statistics \(pid [0-9]+\)$' "$OPT_ERR" || fail "stats=$mode: no statistics header on stderr"
    local mc want
    mc=$(awk '$1 == "malloc_calls" {print $2}' "$OPT_ERR")
    want=$(awk '$1 == "mallocs" {print $2}' "$OPT_OUT")
    if [ -z "$mc" ] || [ "$mc" -lt "$want" ]; then fail "stats=$mode: malloc_calls '$mc', the program made $want"; fi
    grep -Eq '^brk_grow +[0-9]+ calls, ' "$OPT_ERR" || fail "stats=$mode: no brk_grow line"
    grep -q '^size class' "$OPT_ERR" || fail "stats=$mode: no size class table"
    grep -q '^{' "$OPT_ERR" && fail "stats=$mode wrote JSON"
  done
  head -n 12 "$OPT_ERR"
}
t_test options/stats-at-exit opt_stats_exit

# docs/stats-format.md: "each process writes its object with one write", so
# that processes sharing a stats_file never interleave their lines.
opt_stats_one_write() {
  opt_build
  t_have_strace || skip "strace is missing or cannot trace here"
  local js=$T_BUILD/options/onewrite.json st=$T_BUILD/options/onewrite.strace
  rm -f "$js" "$st"
  t_run 60 strace -f -s 16 -o "$st" -e trace=openat,write env -u TIDEMALLOC_OPTIONS "$(t_preload_env)" \
    TIDEMALLOC_OPTIONS="stats=json,stats_file=$js" "$OPT_BIN" exit 3000 >/dev/null 2>&1 || fail "stats=json run failed"
  local fd n
  fd=$(grep -F "$js" "$st" | grep -m1 -oE '= [0-9]+$' | awk '{print $2}')
  [ -n "$fd" ] || fail "strace did not see the stats file opened"
  n=$(awk -v fd="$fd" -v f="$js" 'index($0, f) {on=1; next} on && $0 ~ "write\\(" fd "," {c++} END {print c+0}' "$st")
  echo "stats file fd $fd: $n write(s) for $(wc -c <"$js") bytes"
  [ "$n" -eq 1 ] || fail "the JSON line ($(wc -c <"$js") bytes) was written with $n write calls, not one"
}
t_test options/stats-json-one-write opt_stats_one_write

# ---- options/stats-not-cancellable ------------------------------------------
# A thread with a cancellation request pending calls malloc_stats,
# malloc_info (unbuffered FILE) or exit(0) with stats=1 (stderr, then a
# stats_file): every report is written whole, and the thread is cancelled
# at its next cancellation point (tests/options/cancel_stats.c).  Default
# and hardened mode.
opt_cancel_one() { # OPTS
  local prog=$T_BUILD/options/cancel_stats m o=$1 log
  for m in stats info; do
    t_prog 30 "cancelled $m${o:+ ($o)}" env TIDEMALLOC_OPTIONS="$o" TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$prog" "$m"
  done
  [ "$T_GLIBC" = 1 ] && return 0
  log=$T_BUILD/options/cancel-exit.err
  t_run 30 env TIDEMALLOC_OPTIONS="${o:+$o,}stats=1" "$(t_preload_env)" "$prog" exit >/dev/null 2>"$log"
  local rc=$?
  cat "$log"
  [ $rc -eq 0 ] || fail "exit(0) on a cancelled thread${o:+ ($o)}: $(t_status_str $rc)"
  grep -q '^tidemalloc statistics (pid' "$log" || fail "exit(0) on a cancelled thread${o:+ ($o)}: no report at exit"
  grep -q 'size class' "$log" || fail "exit(0) on a cancelled thread${o:+ ($o)}: the report at exit is cut short"
  grep -q 'main done' "$log" && fail "exit(0) on a cancelled thread${o:+ ($o)}: the thread was cancelled inside exit"
  local sf=$T_BUILD/options/cancel-exit.stats
  rm -f "$sf"
  t_run 30 env TIDEMALLOC_OPTIONS="${o:+$o,}stats=1,stats_file=$sf" "$(t_preload_env)" "$prog" exit >/dev/null 2>"$log"
  rc=$?
  [ $rc -eq 0 ] || fail "exit(0) on a cancelled thread, stats_file${o:+ ($o)}: $(t_status_str $rc)"
  grep -q '^tidemalloc statistics (pid' "$sf" 2>/dev/null || fail "exit(0) on a cancelled thread${o:+ ($o)}: nothing in the stats_file"
  echo "report at exit on a cancelled thread${o:+ ($o)}: ok"
}
opt_cancel() {
  need_lib
  t_cc options/cancel_stats tests/options/cancel_stats.c
  opt_cancel_one ""
  opt_cancel_one secure=1
}
t_test options/stats-not-cancellable opt_cancel 120

# The peaks of tide_stats against the program's own account of the run.
opt_peaks() {
  need_tide
  t_cc options/peaks tests/options/peaks.c -pthread
  t_prog 120 "peaks $1" env -u TIDEMALLOC_OPTIONS "$(t_preload_env)" "$T_BUILD/options/peaks" "$1"
}
opt_peak_allocated() { opt_peaks allocated; }
t_test options/allocated-peak-exact opt_peak_allocated
opt_peak_threads() { opt_peaks threads; }
t_test options/allocated-peak-across-threads opt_peak_threads
opt_peak_committed() { opt_peaks committed; }
t_test options/committed-peak-exact opt_peak_committed
opt_counts() { opt_peaks counts; }
t_test options/counts-exact-after-fast-mallocs opt_counts

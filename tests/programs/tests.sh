# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Real programs under LD_PRELOAD=build/libtidemalloc.so.  Sourced by
# tests/run.sh.  Each checks its output, and that the library really was
# loaded into the program (its /proc/PID/maps).

T_PY311=/usr/bin/python3.11

prog_python() {
  need_lib
  [ -x "$T_PY311" ] || skip "$T_PY311 is not installed"
  "$T_PY311" -c 'import test.test_dict' 2>/dev/null || skip "libpython3.11-testsuite is not installed"
  local pyenv=(env -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP -u TIDEMALLOC_OPTIONS "$(t_preload_env)")
  if [ "$T_GLIBC" != 1 ]; then
    t_run 60 "${pyenv[@]}" "$T_PY311" -c \
      'import sys; sys.exit(0 if "libtidemalloc" in open("/proc/self/maps").read() else 3)' ||
      fail "libtidemalloc is not in python's /proc/self/maps"
  fi
  local out=$T_BUILD/programs/python.out
  mkdir -p "$T_BUILD/programs"
  # PYTHONMALLOC=malloc: every object through malloc (no pymalloc arenas).
  # Two workers (-j2), each a python of its own under the preload too.
  (cd "$T_BUILD/programs" && t_run 600 "${pyenv[@]}" PYTHONMALLOC=malloc "$T_PY311" -m test -j2 --timeout 300 \
    test_dict test_list test_set test_unicode test_json test_pickle test_threading test_re test_gc) >"$out" 2>&1
  rc=$?
  tail -30 "$out"
  [ $rc -eq 0 ] || fail "python3.11 -m test: $(t_status_str $rc); $(grep -m1 -E 'failed|crashed|Fatal' "$out")"
  grep -q '^Tests result: SUCCESS' "$out" || fail "no 'Tests result: SUCCESS' line"
}
t_test programs/python-testsuite prog_python 660

prog_sqlite() {
  need_lib
  command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
  local d=$T_BUILD/programs/sqlite
  rm -rf "$d" && mkdir -p "$d"
  if [ "$T_GLIBC" != 1 ]; then
    local n
    n=$(cd "$d" && t_run 30 env "$(t_preload_env)" sqlite3 :memory: '.system grep -c libtidemalloc /proc/$PPID/maps')
    [ "${n:-0}" -ge 1 ] 2>/dev/null || fail "libtidemalloc is not in sqlite3's /proc/PID/maps (got '$n')"
  fi
  "$T_PY" tests/programs/sqlite_expect.py >"$d/expected" || fail "computing the expected numbers failed"
  t_run 120 env -u TIDEMALLOC_OPTIONS "$(t_preload_env)" sqlite3 "$d/t.db" <tests/programs/sqlite.sql >"$d/got" 2>"$d/err"
  rc=$?
  cat "$d/got" "$d/err"
  [ $rc -eq 0 ] || fail "sqlite3 $(t_status_str $rc): $(head -n1 "$d/err")"
  diff -u "$d/expected" "$d/got" || fail "sqlite3's aggregates differ from the expected ones: $(diff "$d/expected" "$d/got" | grep -m1 '^>')"
}
t_test programs/sqlite prog_sqlite

prog_git() {
  need_lib
  command -v git >/dev/null || skip "git is not installed"
  local d=$T_BUILD/programs/git
  rm -rf "$d" && mkdir -p "$d/home" "$d/repo"
  local genv=(env -u TIDEMALLOC_OPTIONS -u GIT_DIR -u GIT_WORK_TREE HOME="$d/home" GIT_CONFIG_NOSYSTEM=1
    GIT_AUTHOR_NAME=Tide GIT_AUTHOR_EMAIL=tide@example.org GIT_COMMITTER_NAME=Tide
    GIT_COMMITTER_EMAIL=tide@example.org GIT_AUTHOR_DATE='2024-01-01T00:00:00Z'
    GIT_COMMITTER_DATE='2024-01-01T00:00:00Z' "$(t_preload_env)")
  g() { (cd "$d/repo" && t_run 120 "${genv[@]}" git "$@"); }
  "$T_PY" tests/programs/gitfiles.py "$d/repo" 0 >/dev/null || fail "generating files failed"
  g init -q . || fail "git init failed"
  if [ "$T_GLIBC" != 1 ]; then
    local n
    n=$(g -c 'alias.tidecheck=!grep -c libtidemalloc /proc/$PPID/maps' tidecheck)
    [ "${n:-0}" -ge 1 ] 2>/dev/null || fail "libtidemalloc is not in git's /proc/PID/maps (got '$n')"
  fi
  g add -A || fail "git add failed"
  g commit -q -m "round 0" || fail "git commit failed"
  local r
  for r in 1 2 3; do
    "$T_PY" tests/programs/gitfiles.py "$d/repo" $r >/dev/null || fail "generating files failed"
    g commit -q -a -m "round $r" || fail "git commit (round $r) failed"
  done
  g gc -q || fail "git gc failed ($(t_status_str $?))"
  g fsck --full --strict >"$d/fsck" 2>&1 || { cat "$d/fsck"; fail "git fsck failed: $(head -n1 "$d/fsck")"; }
  cat "$d/fsck"
  grep -Eiq 'error|missing|broken|corrupt' "$d/fsck" && fail "git fsck complained: $(head -n1 "$d/fsck")"
  local commits files status loose
  commits=$(g log --oneline | wc -l)
  [ "$commits" -eq 4 ] || fail "git log shows $commits commits, want 4"
  files=$(g ls-files | wc -l)
  [ "$files" -eq 3000 ] || fail "git ls-files shows $files files, want 3000"
  status=$(g status --porcelain | wc -l)
  [ "$status" -eq 0 ] || fail "git status shows $status changed files after the last commit"
  loose=$(g count-objects -v | sed -n 's/^count: //p')
  [ "$loose" = 0 ] || fail "git gc left $loose loose objects"
  # contents of the first and the last revision, via the packs (deltas resolved)
  local r2
  for r2 in 0 1 2 3; do
    for r in $(seq 0 $r2); do
      "$T_PY" tests/programs/gitfiles.py "$d/ref$r2" "$r" >/dev/null || fail "generating the reference tree failed"
    done
    mkdir -p "$d/arch$r2"
    g archive "HEAD~$((3 - r2))" | tar -x -C "$d/arch$r2" || fail "git archive HEAD~$((3 - r2)) failed"
    diff -r -q "$d/ref$r2" "$d/arch$r2" >"$d/archdiff" || fail "git archive HEAD~$((3 - r2)) differs from what was committed: $(head -n1 "$d/archdiff")"
  done
  g diff --stat HEAD~3 HEAD >"$d/diffstat" || fail "git diff failed"
  tail -n1 "$d/diffstat" | grep -q '^ *[0-9]* files\{0,1\} changed' || fail "git diff --stat: $(tail -n1 "$d/diffstat")"
}
t_test programs/git prog_git

# tidemalloc's figures on real programs against tests/programs/peak_shim.c, a
# counting layer preloaded in front of the library that sees every call:
# allocated_peak within 2% (and 16 KiB, the recount step) of the live bytes
# it counted, resident_bytes within 10% of /proc/self/pagemap over the same
# ranges, for every process of the run, at its exit.
prog_figures() {
  need_tide
  local d=$T_BUILD/programs/figures shim=$T_BUILD/programs/peak_shim.so
  rm -rf "$d" && mkdir -p "$d"
  "$CC" -O1 -g -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -I"$T_ROOT/include" -o "$shim" \
    "$T_ROOT/tests/programs/peak_shim.c" -L"$T_ROOT/build" -ltidemalloc -Wl,-rpath,"$T_ROOT/build" \
    >"$d/cc.log" 2>&1 || fail "cannot build peak_shim.c: $(head -c 300 "$d/cc.log")"
  seq 1 300000 | shuf --random-source=<(yes) >"$d/lines.txt"
  printf '%s\n' 'd = {i: str(i) * 3 for i in range(300000)}' 'del d' 'b = bytearray(30 << 20)' \
    'l = [bytes(100) for _ in range(100000)]' >"$d/work.py"
  printf '%s\n' 'create table t(a, b);' \
    'insert into t select value, randomblob(500) from generate_series(1, 20000);' \
    'create index ti on t(b);' 'select count(*) from t;' >"$d/work.sql"
  # a repository of its own (a copied tree has no .git): 40 commits of 20 files
  local g=$d/repo i
  git init -q "$g" && for i in $(seq 1 40); do
    seq "$i" 2000 | split -l 100 - "$g/f$i." && git -C "$g" add -A &&
      git -C "$g" -c user.name=t -c user.email=t@example.org commit -qm "commit $i" || break
  done >"$d/git.log" 2>&1 || fail "cannot make the test repository: $(head -c 200 "$d/git.log")"
  local runs=("sort $d/lines.txt" "git -C $g log --stat -n 300")
  [ -x "$T_PY311" ] && runs+=("$T_PY311 $d/work.py")
  command -v sqlite3 >/dev/null && runs+=("sqlite3 :memory: .read\ $d/work.sql")
  local run
  for run in "${runs[@]}"; do
    rm -f "$d/figures.txt"
    # shellcheck disable=SC2086 # the command line splits into words
    eval "t_run 120 env -u TIDEMALLOC_OPTIONS PEAK_SHIM_OUT=$d/figures.txt LD_PRELOAD='$shim $T_ROOT/build/libtidemalloc.so' $run" \
      >"$d/out.txt" 2>"$d/err.txt" || fail "'$run' failed: $(head -c 200 "$d/err.txt")"
    [ -s "$d/figures.txt" ] || fail "'$run': no line from the counting layer"
    echo "== $run"
    cat "$d/figures.txt"
    "$T_PY" - "$run" "$d/figures.txt" <<'PY' || fail "$(cat "$d/why" 2>/dev/null)"
import re, sys
run, path = sys.argv[1], sys.argv[2]
bad = []
for line in open(path):
    f = dict(kv.split("=") for kv in line.split())
    shim, tide = int(f["shim_peak"]), int(f["tide_peak"])
    res, pm = int(f["resident"]), int(f["pagemap"])
    if abs(tide - shim) > max(shim // 50, 16 << 10):
        bad.append("pid %s: allocated_peak %d, the counting layer saw %d live at most" % (f["pid"], tide, shim))
    if abs(int(f["tide_live"]) - int(f["shim_live"])) > 4096:
        bad.append("pid %s: allocated_bytes %s at exit, the counting layer has %s live" % (f["pid"], f["tide_live"], f["shim_live"]))
    if abs(res - pm) > max(pm // 10, 64 << 10):
        bad.append("pid %s: resident_bytes %d, the page tables show %d" % (f["pid"], res, pm))
if bad:
    sys.stderr.write("'%s': %s\n" % (run, "; ".join(bad)))
    sys.exit(1)
PY
  done
}
t_test programs/figures-match-independent-counts prog_figures 300

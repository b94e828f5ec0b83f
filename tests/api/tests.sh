# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# API conformance tests.  Sourced by tests/run.sh.

api_linked() {
  need_lib
  t_cc_linked api/api-linked tests/api/api.c
  if [ "$T_GLIBC" != 1 ]; then
    ldd "$T_BUILD/api/api-linked" >"$T_BUILD/api/api-linked.ldd" 2>&1
    grep -q libtidemalloc "$T_BUILD/api/api-linked.ldd" || fail "api-linked is not linked with libtidemalloc.so"
  fi
  t_prog 60 "api (linked)" env -u TIDEMALLOC_OPTIONS LD_PRELOAD= TIDE_TEST_GLIBC="$T_GLIBC" "$T_BUILD/api/api-linked"
}
t_test api/linked api_linked

api_preload() {
  need_lib
  t_cc api/api-plain tests/api/api.c
  t_prog 60 "api (LD_PRELOAD)" env -u TIDEMALLOC_OPTIONS TIDE_TEST_GLIBC="$T_GLIBC" "$(t_preload_env)" "$T_BUILD/api/api-plain"
}
t_test api/preload api_preload

# C++: every operator new and delete is tidemalloc's, bad_alloc included.
api_cxx() {
  need_tide
  command -v g++ >/dev/null 2>&1 || fail "g++ is missing (build-essential)"
  local out=$T_BUILD/api/cxx
  mkdir -p "$T_BUILD/api"
  if t_stale "$out" tests/api/cxx.cpp include/tidemalloc.h; then
    echo "+ g++ -std=c++17 -O1 -Wall -Wextra -Werror -o $out tests/api/cxx.cpp -ldl"
    g++ -std=c++17 -O1 -g -Wall -Wextra -Werror -I"$T_ROOT/include" -o "$out.tmp" tests/api/cxx.cpp -ldl \
      >"$out.cc.log" 2>&1 || { cat "$out.cc.log"; fail "compile error in tests/api/cxx.cpp"; }
    mv "$out.tmp" "$out"
  fi
  t_prog 60 "cxx (LD_PRELOAD)" env -u TIDEMALLOC_OPTIONS "$(t_preload_env)" "$out"
}
t_test api/cxx-new-delete api_cxx

# The prefixed-only code next to the system malloc, under ASan+UBSan: first
# build/libtidemalloc-prefixed.a as built, then tidemalloc's own sources
# compiled with the sanitizers (so that they check our code, not just the test).
api_prefixed_sanitizers() {
  need_tide
  [ -f "$T_LIB_PREFIXED" ] || fail "build/libtidemalloc-prefixed.a is missing"
  local san_cc="" c
  for c in "$CC" clang gcc; do
    command -v "$c" >/dev/null 2>&1 || continue
    echo 'int main(void){return 0;}' >"$T_BUILD/san-probe.c"
    if "$c" -fsanitize=address,undefined -o "$T_BUILD/san-probe" "$T_BUILD/san-probe.c" >/dev/null 2>&1 &&
      "$T_BUILD/san-probe"; then
      san_cc=$c
      break
    fi
  done
  [ -n "$san_cc" ] || skip "no compiler here has a working ASan/UBSan runtime"
  echo "sanitizer compiler: $san_cc"
  # The prefixed archive must not define malloc & co.
  local std
  std=$(nm -g --defined-only "$T_LIB_PREFIXED" 2>/dev/null | awk '{print $3}' |
    grep -Ex '(malloc|free|calloc|realloc|reallocarray|memalign|aligned_alloc|posix_memalign|valloc|pvalloc|malloc_usable_size|malloc_trim|mallopt|mallinfo2?)' | tr '\n' ' ')
  [ -z "$std" ] || fail "libtidemalloc-prefixed.a defines standard allocator names: $std"

  local san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  local senv=(env -u TIDEMALLOC_OPTIONS ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
  mkdir -p "$T_BUILD/api/san"
  local out=$T_BUILD/api/prefixed-asan
  echo "+ $san_cc ${san[*]} tests/api/prefixed.c build/libtidemalloc-prefixed.a"
  "$san_cc" "${T_CFLAGS[@]}" "${san[@]}" -o "$out" tests/api/prefixed.c "$T_LIB_PREFIXED" -ldl 2>&1 ||
    fail "the test does not link with build/libtidemalloc-prefixed.a ($san_cc)"
  t_run 120 "${senv[@]}" "$out" >"$out.out" 2>&1
  rc=$?
  cat "$out.out"
  local first=""
  if grep -Eq 'runtime error|AddressSanitizer|UndefinedBehaviorSanitizer' "$out.out"; then
    first="sanitizer report (prefixed archive): $(grep -m1 -E 'runtime error|ERROR: AddressSanitizer|UndefinedBehaviorSanitizer' "$out.out")"
  elif [ $rc -ne 0 ]; then
    first="prefixed archive: $(t_first_check "$out.out") ($(t_status_str $rc))"
  fi

  # Now tidemalloc's sources themselves instrumented: the objects the
  # Makefile puts in the prefixed archive (its CORE list), checked build.
  local lib=$T_BUILD/api/san/libtide-san.a
  t_core_lib "$lib" "$san_cc" "${san[@]}"
  local out2=$T_BUILD/api/prefixed-asan-src
  "$san_cc" "${T_CFLAGS[@]}" "${san[@]}" -o "$out2" tests/api/prefixed.c "$lib" -ldl -pthread 2>&1 ||
    fail "the test does not link with the sanitized sources"
  t_run 120 "${senv[@]}" "$out2" >"$out2.out" 2>&1
  rc=$?
  cat "$out2.out"
  if grep -Eq 'runtime error|AddressSanitizer|UndefinedBehaviorSanitizer' "$out2.out"; then
    fail "sanitizer report in tidemalloc's code: $(grep -m1 -E 'runtime error|ERROR: AddressSanitizer|UndefinedBehaviorSanitizer' "$out2.out")"
  fi
  [ $rc -eq 0 ] || fail "prefixed test on sanitized sources: $(t_first_check "$out2.out") ($(t_status_str $rc))"
  [ -z "$first" ] || fail "$first"
}
t_test api/prefixed-sanitizers api_prefixed_sanitizers

# A static program: libtidemalloc.a must replace glibc's malloc without
# duplicate symbols.
api_static() {
  need_tide
  [ -f "$T_LIB_A" ] || fail "build/libtidemalloc.a is missing"
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || skip "no static libc (libc6-dev) here"
  mkdir -p "$T_BUILD/api"
  local out=$T_BUILD/api/static
  echo "+ $CC -static ... tests/api/static.c build/libtidemalloc.a -pthread"
  "$CC" "${T_CFLAGS[@]}" -static -o "$out" tests/api/static.c "$T_LIB_A" -pthread >"$out.link.log" 2>&1
  rc=$?
  cat "$out.link.log"
  [ $rc -eq 0 ] || fail "static link failed: $(grep -m1 -E 'multiple definition|undefined|error' "$out.link.log")"
  grep -q 'multiple definition' "$out.link.log" && fail "duplicate symbols in the static link"
  file "$out" >"$out.file" 2>&1
  grep -q dynamically "$out.file" && fail "static program is dynamically linked"
  t_prog 60 "static program" env -u TIDEMALLOC_OPTIONS "$out"
}
t_test api/static api_static

# TIDEMALLOC_OPTIONS: parsing, size suffixes, bad input, stats at exit.
api_options() {
  need_tide
  t_cc api/options tests/api/options.c
  local o=$T_BUILD/api/options opts got
  run_opts() { t_run 30 env TIDEMALLOC_OPTIONS="$1" "$(t_preload_env)" "$o" "${@:2}"; }
  got=$(run_opts "" mmap_threshold trim_threshold top_pad purge_delay_ms | tr '\n' ' ')
  [ "$got" = "mmap_threshold=131072 trim_threshold=131072 top_pad=131072 purge_delay_ms=50 " ] ||
    fail "defaults: got '$got'"
  got=$(run_opts "mmap_threshold=1M,trim_threshold=256K,top_pad=0,purge_delay_ms=0" mmap_threshold trim_threshold top_pad purge_delay_ms | tr '\n' ' ')
  [ "$got" = "mmap_threshold=1048576 trim_threshold=262144 top_pad=0 purge_delay_ms=0 " ] ||
    fail "TIDEMALLOC_OPTIONS=mmap_threshold=1M,trim_threshold=256K,...: got '$got'"
  got=$(run_opts "mmap_threshold=131072,trim_threshold=1G" mmap_threshold trim_threshold | tr '\n' ' ')
  [ "$got" = "mmap_threshold=131072 trim_threshold=1073741824 " ] || fail "plain number / 1G suffix: got '$got'"
  # Bad input must not take the program down.
  for opts in "bogus=1" "mmap_threshold=abc" "mmap_threshold=" ",,," "stats" "=5" "mmap_threshold=99999999999999999999999"; do
    got=$(run_opts "$opts" mmap_threshold 2>"$o.err")
    rc=$?
    [ $rc -eq 0 ] || fail "TIDEMALLOC_OPTIONS='$opts' made the program fail ($(t_status_str $rc)): $(head -n1 "$o.err")"
    [ -n "$got" ] || fail "TIDEMALLOC_OPTIONS='$opts': program printed nothing"
  done
  # stats=json to a file at exit: one JSON object a tool can read.
  rm -f "$o.json"
  run_opts "stats=json,stats_file=$o.json" >/dev/null || fail "stats=json run failed"
  [ -s "$o.json" ] || fail "stats=json,stats_file=...: no file written at exit"
  "$T_PY" - "$o.json" <<'PY' || fail "stats=json output is not one JSON object with the counters: $(head -c 200 "$o.json")"
import json, sys
text = open(sys.argv[1]).read()
obj = json.loads(text)
assert isinstance(obj, dict), "not an object"
for k in ("malloc_calls", "free_calls", "allocated_bytes", "committed_bytes"):
    assert k in obj, "missing " + k
assert obj["malloc_calls"] >= 1000, obj["malloc_calls"]
assert obj["free_calls"] >= 500, obj["free_calls"]
print("stats json ok:", {k: obj[k] for k in ("malloc_calls", "free_calls", "allocated_bytes")})
PY
  # stats=1: text on stderr at exit (stdout untouched)
  t_run 30 env TIDEMALLOC_OPTIONS=stats=1 "$(t_preload_env)" "$o" mmap_threshold >"$o.out" 2>"$o.err" ||
    fail "stats=1 run failed"
  [ -s "$o.err" ] || fail "stats=1 printed nothing on stderr at exit"
  [ "$(cat "$o.out")" = "mmap_threshold=131072" ] || fail "stats=1 wrote to stdout: $(head -c 100 "$o.out")"
}
t_test api/options api_options

# errno for impossible requests as glibc sets it: ENOMEM for every
# power-of-two alignment (2^62, 2^63) with a size that cannot be served,
# EINVAL only for an alignment that is not one (memalign rounds up, so only
# past 2^63); valloc/pvalloc at the top of the address space.  The default
# and the hardened mode (tests/api/errno_extremes.c).
api_errno_extremes() {
  need_lib
  t_cc api/errno_extremes tests/api/errno_extremes.c
  t_prog_modes 30 "errno" "$T_BUILD/api/errno_extremes"
}
t_test api/errno-extremes api_errno_extremes 90

# A live block holding bytes copied out of a freed block (its freed key
# among them) is freed without a false "double free", by its owner and by
# another thread, in the default and the hardened mode
# (tests/api/copied_freed.c).
api_copied_freed() {
  need_lib
  t_cc api/copied_freed tests/api/copied_freed.c
  t_prog_modes 60 "copied freed bytes" "$T_BUILD/api/copied_freed"
}
t_test api/copied-freed-bytes api_copied_freed 150

# free_sized and free_aligned_sized accept every size and alignment a block
# could have been asked for, realloc's in-place sizes included, in the
# default and the hardened mode (tests/api/sized_ok.c): the size checks
# (tests/wrong's free-sized-*) must catch only wrong ones.
api_sized_ok() {
  need_lib
  t_cc api/sized_ok tests/api/sized_ok.c
  t_prog_modes 120 "free_sized valid sizes" "$T_BUILD/api/sized_ok"
}
t_test api/free-sized-every-valid-size api_sized_ok 240

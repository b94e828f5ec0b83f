# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Unit tests of each layer: C programs linked directly with tidemalloc's
# objects (asserts on, no override.c), calling its internals.  Sourced by
# tests/run.sh.

# unit_objs: tidemalloc's sources with asserts on, in
# build/tests/unit/libtide-unit.a (t_core_lib).  Sets UNIT_LIB.
unit_objs() {
  UNIT_LIB=$T_BUILD/unit/libtide-unit.a
  t_core_lib "$UNIT_LIB" "$CC" -pthread
}

# unit_cc NAME: build tests/unit/NAME.c against the objects, as
# build/tests/unit/NAME.
unit_cc() {
  local name=$1 out=$T_BUILD/unit/$1 src=tests/unit/$1.c
  unit_objs
  if t_stale "$out" "$src" tests/unit/unit.h tests/common.h "$UNIT_LIB"; then
    echo "+ $CC ${T_CFLAGS[*]} -Isrc -DTIDE_DEBUG=1 -o $out $src libtide-unit.a"
    "$CC" "${T_CFLAGS[@]}" -I"$T_ROOT/src" -DTIDE_DEBUG=1 -o "$out.tmp" "$src" "$UNIT_LIB" -ldl >"$out.cc.log" 2>&1 || {
      cat "$out.cc.log"
      fail "compile error in $src: $(grep -m1 -E 'error|undefined' "$out.cc.log")"
    }
    mv "$out.tmp" "$out"
  fi
}

# unit_run NAME [ARGS...]: build and run one unit program (options from the
# environment cleared: the defaults are what the checks expect).
unit_run() {
  local name=$1
  shift
  need_tide
  unit_cc "$name"
  t_prog 60 "unit $name${1:+ $*}" env -u TIDEMALLOC_OPTIONS -u GLIBC_TUNABLES -u MALLOC_MMAP_THRESHOLD_ \
    -u MALLOC_TRIM_THRESHOLD_ -u MALLOC_TOP_PAD_ -u MALLOC_MMAP_MAX_ LD_PRELOAD= "$T_BUILD/unit/$name" "$@"
}

unit_sizeclass() { unit_run sizeclass; }
t_test unit/sizeclass unit_sizeclass
unit_secure_kth_bit() { unit_run secure-kth-bit; }
t_test unit/secure-kth-bit unit_secure_kth_bit

unit_page_math() { unit_run pagemath; }
t_test unit/page-block-grid unit_page_math

unit_segment() { unit_run segment; }
t_test unit/segment-spans unit_segment

unit_brk_grow() { unit_run brk grow; }
t_test unit/brk-grow-and-trim unit_brk_grow
unit_brk_foreign() { unit_run brk foreign; }
t_test unit/brk-foreign-sbrk unit_brk_foreign
unit_brk_fault() { unit_run brk fault; }
t_test unit/brk-fault-falls-back-to-mmap unit_brk_fault

unit_large() { unit_run large; }
t_test unit/large-huge-blocks unit_large

unit_spans_place() { unit_run spans place; }
t_test unit/spans-big-blocks-in-brk-heap unit_spans_place
unit_spans_realloc() { unit_run spans realloc; }
t_test unit/spans-realloc-keeps-contents unit_spans_realloc
unit_spans_refault() { unit_run spans refault; }
t_test unit/spans-no-refault-storm unit_spans_refault
unit_spans_return() { unit_run spans return; }
t_test unit/spans-memory-falls-back unit_spans_return

unit_fmt() { unit_run fmt; }
t_test unit/fmt unit_fmt

unit_purge() { unit_run purge; }
t_test unit/purge-waits-whole-delay unit_purge
unit_hold() { unit_run hold; }
t_test unit/purge-hold-judged-once-a-delay unit_hold

unit_tails() { unit_run tails; }
t_test unit/warm-page-gives-back-tail unit_tails

# calloc clears what may hold old data, and leaves fresh memory untouched.
unit_calloc() { unit_run calloc; }
t_test unit/calloc-clears-only-old-data unit_calloc

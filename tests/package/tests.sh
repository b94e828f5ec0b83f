# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What a user or a packager gets: the license, the ABI (soname, version
# node, the exported names against docs/abi-symbols.txt, the version), the
# header on its own under four compilers, and `make install` into a DESTDIR
# used through pkg-config and CMake.  Sourced by tests/run.sh.

PKG_SO=$T_ROOT/build/libtidemalloc.so.0

# CMD | pkg_has PATTERN: does a line match?  Reads all of its input (grep -q
# would stop early and, under pipefail, fail the pipe with SIGPIPE).
pkg_has() { [ "$(grep -c -e "$1")" -gt 0 ]; }
pkg_has_line() { [ "$(grep -c -x -e "$1")" -gt 0 ]; }

# The header's version, "MAJOR.MINOR.PATCH".
pkg_header_version() {
  local v
  v=$(sed -n 's/^#define TIDEMALLOC_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' \
    "$T_ROOT/include/tidemalloc.h" | paste -sd.)
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "cannot read MAJOR/MINOR/PATCH from include/tidemalloc.h (got '$v')"
  echo "$v"
}

# LICENSE is MIT for the tidemalloc authors, and every source file names it
# in its first line (the second after a #! line).
pkg_license() {
  grep -q '^MIT License$' LICENSE || fail "LICENSE is not the MIT license"
  grep -q 'Copyright (c) .* the tidemalloc authors$' LICENSE || fail "LICENSE lacks 'Copyright (c) YEAR the tidemalloc authors'"
  local files f first n=0 missing=()
  if git -C "$T_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    files=$(git -C "$T_ROOT" ls-files)
  else
    # No git (a copied tree): everything but what .gitignore leaves out.
    files=$(find . \( -path ./build -o -path ./.git -o -path ./bench/bin -o -path ./fuzz/crashes \
      -o -path ./debian/tmp -o -path ./debian/.debhelper -o -path ./debian/libtidemalloc0 \
      -o -path ./debian/libtidemalloc-dev -o -path ./debian/tidemalloc-tools \) -prune -o -type f -print |
      sed 's|^\./||')
  fi
  while IFS= read -r f; do
    case $f in
    *.c | *.h | *.cpp | *.sh | *.py | *.1 | *.3 | *.in | *.map | *.supp | *.sql | Makefile | */Makefile | .ci/run | debian/rules) ;;
    *) continue ;;
    esac
    [ -f "$f" ] || continue
    n=$((n + 1))
    first=$(head -n 1 "$f")
    case $first in '#!'*) first=$(sed -n 2p "$f") ;; esac
    case $first in *'SPDX-License-Identifier: MIT'*) ;; *) missing+=("$f") ;; esac
  done <<<"$files"
  echo "$n source files checked"
  [ "$n" -gt 50 ] || fail "only $n source files found"
  [ ${#missing[@]} -eq 0 ] || fail "${#missing[@]} source files lack a first-line SPDX-License-Identifier: MIT: ${missing[*]:0:5}"
}
t_test package/license pkg_license

# The soname, the links, and exactly the documented exports, each with its
# version node (objdump -T against docs/abi-symbols.txt).
pkg_abi() {
  need_tide
  command -v objdump >/dev/null || fail "objdump is missing (binutils)"
  local v d=$T_BUILD/package
  v=$(pkg_header_version)
  mkdir -p "$d"
  [ -f "$T_ROOT/build/libtidemalloc.so.$v" ] && [ ! -L "$T_ROOT/build/libtidemalloc.so.$v" ] ||
    fail "build/libtidemalloc.so.$v is not a file"
  [ "$(readlink "$T_ROOT/build/libtidemalloc.so.0")" = "libtidemalloc.so.$v" ] ||
    fail "build/libtidemalloc.so.0 does not link to libtidemalloc.so.$v"
  [ "$(readlink "$T_ROOT/build/libtidemalloc.so")" = "libtidemalloc.so.0" ] ||
    fail "build/libtidemalloc.so does not link to libtidemalloc.so.0"
  local soname
  soname=$(objdump -p "$PKG_SO" | awk '$1 == "SONAME" {print $2}')
  [ "$soname" = "libtidemalloc.so.${v%%.*}" ] || fail "the soname is '$soname', not libtidemalloc.so.${v%%.*}"
  # Defined dynamic symbols: "ADDR FLAGS SECTION SIZE VERSION NAME"; the
  # version node's own *ABS* symbol is not a name.
  objdump -T "$PKG_SO" | awk '/^[0-9a-f]+ / && !/\*UND\*/ && !($NF == $(NF-1) && /\*ABS\*/) {print $NF, $(NF-1)}' |
    LC_ALL=C sort >"$d/exported.txt"
  grep -v -e '^#' -e '^$' "$T_ROOT/docs/abi-symbols.txt" | LC_ALL=C sort >"$d/documented.txt"
  cat "$d/exported.txt"
  [ -s "$d/exported.txt" ] || fail "objdump -T shows no defined symbols"
  if ! diff -u "$d/documented.txt" "$d/exported.txt" >"$d/abi.diff"; then
    cat "$d/abi.diff"
    fail "exports differ from docs/abi-symbols.txt: $(grep -E '^[-+][^-+]' "$d/abi.diff" | head -n 4 | tr '\n' ' ')"
  fi
  grep -q ' TIDEMALLOC_' "$d/exported.txt" || fail "no symbol has a TIDEMALLOC_ version node"
  # tidemalloc's own names are versioned, the standard ones must not be
  # (they would not interpose glibc's; see src/tidemalloc.map).
  grep -E '^tide_' "$d/exported.txt" | grep -v ' TIDEMALLOC_' && fail "a tide_ name has no version node"
  grep -E '^(malloc|free|calloc|realloc|_Znwm|__libc_malloc) ' "$d/exported.txt" | grep -v ' Base$' &&
    fail "a standard name is versioned: it would no longer interpose glibc's"
  # Debian's symbols file lists the same names (dpkg-gensymbols -c4 holds
  # the package build to it).
  if [ -f "$T_ROOT/debian/libtidemalloc0.symbols" ]; then
    sed -n 's/^ \([^ ]*\)@\([^ ]*\) .*/\1 \2/p' "$T_ROOT/debian/libtidemalloc0.symbols" |
      grep -v '^TIDEMALLOC_' | LC_ALL=C sort >"$d/debian-symbols.txt"
    diff -u "$d/documented.txt" "$d/debian-symbols.txt" >"$d/debian.diff" ||
      { cat "$d/debian.diff"; fail "debian/libtidemalloc0.symbols differs from docs/abi-symbols.txt"; }
  fi
  echo "$(wc -l <"$d/exported.txt") names as documented"
}
t_test package/abi-symbols pkg_abi

# tide_version() is the header's version, the Makefile's, the pkg-config
# file's and CHANGELOG.md's newest release.
pkg_version() {
  need_tide
  local v d=$T_BUILD/package got
  v=$(pkg_header_version)
  mkdir -p "$d"
  "$CC" -std=gnu11 -Wall -Wextra -Werror -I"$T_ROOT/include" -o "$d/version" tests/package/header.c \
    -L"$T_ROOT/build" -ltidemalloc -Wl,-rpath,"$T_ROOT/build" >"$d/version.cc.log" 2>&1 ||
    { cat "$d/version.cc.log"; fail "tests/package/header.c does not build"; }
  got=$(t_run 20 "$d/version") || fail "the version program failed: $got"
  echo "tide_version() and the macros: $got"
  [ "$got" = "$v $v" ] || fail "tide_version() and the macros say '$got', the header $v"
  local mk
  mk=$(make -s -C "$T_ROOT" --no-print-directory -p -n all 2>/dev/null | sed -n 's/^VERSION := //p' | head -n 1)
  [ "$mk" = "$v" ] || fail "the Makefile's VERSION is '$mk', the header's $v"
  grep -qx "Version: $v" "$T_ROOT/build/tidemalloc.pc" || fail "build/tidemalloc.pc does not say Version: $v"
  local cl
  cl=$(grep -m1 -oE '^## \[?[0-9]+\.[0-9]+\.[0-9]+' "$T_ROOT/CHANGELOG.md" | grep -oE '[0-9.]+$')
  [ "$cl" = "$v" ] || fail "CHANGELOG.md's newest release is '$cl', the header's $v"
}
t_test package/version pkg_version

# include/tidemalloc.h first and alone, under gcc, clang, g++ and clang++,
# C11/C17 and C++11/C++17, -Wall -Wextra -Werror -pedantic; each build linked
# and run.
pkg_header() {
  need_tide
  local d=$T_BUILD/package/header cc std lang out ok=() missing=()
  rm -rf "$d"
  mkdir -p "$d"
  for cc in gcc clang g++ clang++; do
    if ! command -v "$cc" >/dev/null 2>&1; then
      missing+=("$cc")
      continue
    fi
    case $cc in *++) lang=c++ stds="c++11 c++17" ;; *) lang=c stds="c11 c17" ;; esac
    for std in $stds; do
      out=$d/$cc-$std
      echo "+ $cc -x $lang -std=$std -Wall -Wextra -Werror -pedantic tests/package/header.c"
      "$cc" -x "$lang" -std="$std" -Wall -Wextra -Werror -pedantic -I"$T_ROOT/include" \
        -o "$out" tests/package/header.c -x none -L"$T_ROOT/build" -ltidemalloc -Wl,-rpath,"$T_ROOT/build" \
        >"$out.log" 2>&1 || { cat "$out.log"; fail "$cc -std=$std: $(grep -m1 -E 'error|warning' "$out.log")"; }
      t_run 20 "$out" || fail "$cc -std=$std: the program failed"
      ok+=("$cc/$std")
    done
  done
  echo "compiled, linked and ran: ${ok[*]}"
  [ ${#missing[@]} -eq 0 ] || skip "passed with ${ok[*]:-nothing}, but ${missing[*]} missing (apt-get install g++ clang)"
}
t_test package/header-alone pkg_header

# `make install` into DIR/root with a build of its own (DIR/build), a
# multiarch-style LIBDIR and marked CFLAGS/CPPFLAGS/LDFLAGS.
PKG_PREFIX=/usr
PKG_MA=$( (cc -print-multiarch 2>/dev/null || true) | grep . || echo multiarch)
PKG_LIBDIR=/usr/lib/$PKG_MA
pkg_make() { # DIR TARGET...
  local dir=$1
  shift
  make -s -C "$T_ROOT" --no-print-directory BUILD="$dir/build" PREFIX=$PKG_PREFIX LIBDIR="$PKG_LIBDIR" \
    CFLAGS="-frecord-gcc-switches" CPPFLAGS="-include $dir/cppflags-seen.h" \
    LDFLAGS="-Wl,-rpath,/tide-pkg-ldflags-seen" DESTDIR="$dir/root" "$@"
}
pkg_install() { # DIR
  rm -rf "$1"
  mkdir -p "$1"
  # CPPFLAGS leaves a mark in every object: a string kept by "used".
  echo 'static const char tide_pkg_cppflags_seen[] __attribute__((used)) = "TIDE_PKG_CPPFLAGS_SEEN";' \
    >"$1/cppflags-seen.h"
  echo "+ make BUILD=$1/build PREFIX=$PKG_PREFIX LIBDIR=$PKG_LIBDIR DESTDIR=$1/root install"
  pkg_make "$1" -j2 install >"$1/install.log" 2>&1 || { cat "$1/install.log"; fail "make install failed: $(grep -m1 -iE 'error|No rule' "$1/install.log")"; }
}

pkg_install_test() {
  need_tide
  command -v pkg-config >/dev/null || fail "pkg-config is missing"
  local d=$T_BUILD/package/install v
  v=$(pkg_header_version)
  pkg_install "$d"
  local r=$d/root lib=$d/root$PKG_LIBDIR f
  for f in "$lib/libtidemalloc.so.$v" "$lib/libtidemalloc.a" "$lib/pkgconfig/tidemalloc.pc" \
    "$lib/cmake/tidemalloc/tidemalloc-config.cmake" "$lib/cmake/tidemalloc/tidemalloc-config-version.cmake" \
    "$r/usr/include/tidemalloc.h" "$r/usr/bin/tide" "$r/usr/share/man/man1/tide.1" \
    "$r/usr/share/man/man3/tidemalloc.3"; do
    [ -f "$f" ] || fail "make install did not install ${f#"$r"}"
  done
  [ "$(readlink "$lib/libtidemalloc.so.0")" = "libtidemalloc.so.$v" ] || fail "no libtidemalloc.so.0 link in LIBDIR"
  [ "$(readlink "$lib/libtidemalloc.so")" = "libtidemalloc.so.0" ] || fail "no libtidemalloc.so link in LIBDIR"
  # CFLAGS, CPPFLAGS and LDFLAGS reached the library and the tool.
  for f in "$lib/libtidemalloc.so.$v" "$r/usr/bin/tide"; do
    # -frecord-gcc-switches (CFLAGS) makes this section; the compiler's own
    # flags are in it too.
    readelf -p .GCC.command.line "$f" 2>/dev/null | pkg_has '-O2' || fail "${f#"$r"} was not built with CFLAGS"
    strings "$f" | pkg_has TIDE_PKG_CPPFLAGS_SEEN || fail "${f#"$r"} was not built with CPPFLAGS"
    readelf -d "$f" | pkg_has tide-pkg-ldflags-seen || fail "${f#"$r"} was not linked with LDFLAGS"
  done
  # pkg-config from the staged tree, then the program with LD_LIBRARY_PATH
  # and with an rpath, as the README shows.
  local flags
  flags=$(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$r" \
    PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 pkg-config --cflags --libs tidemalloc) ||
    fail "pkg-config does not find tidemalloc in the installed tree"
  echo "pkg-config: $flags"
  [ "$(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$lib/pkgconfig" pkg-config --modversion tidemalloc)" = "$v" ] ||
    fail "pkg-config --modversion is not $v"
  # shellcheck disable=SC2086
  "$CC" -std=c11 -Wall -Wextra -Werror -o "$d/prog" tests/package/header.c $flags >"$d/prog.log" 2>&1 ||
    { cat "$d/prog.log"; fail "a program does not build with pkg-config's flags: $(grep -m1 error "$d/prog.log")"; }
  t_run 20 env LD_LIBRARY_PATH="$lib" "$d/prog" || fail "the pkg-config program failed with LD_LIBRARY_PATH"
  env LD_LIBRARY_PATH="$lib" ldd "$d/prog" | pkg_has "libtidemalloc.so.0 => $lib/libtidemalloc.so.0" ||
    fail "the program does not load libtidemalloc.so.0 from the installed tree: $(ldd "$d/prog" | grep tide)"
  # shellcheck disable=SC2086
  "$CC" -std=c11 -o "$d/prog-rpath" tests/package/header.c $flags -Wl,-rpath,"$lib" >>"$d/prog.log" 2>&1 ||
    fail "the rpath program does not build"
  t_run 20 env -u LD_LIBRARY_PATH "$d/prog-rpath" || fail "the program linked with an rpath failed"
  # The installed tool runs a program under the installed library.
  # Without TIDE_LIB: it finds LIBDIR from its own folder.
  t_run 30 env -u TIDE_LIB "$r/usr/bin/tide" run -o "$d/summary" -- ls -l / >/dev/null ||
    fail "the installed tide run failed"
  [ -s "$d/summary" ] || fail "the installed tide run wrote no summary"
  strings "$r/usr/bin/tide" | pkg_has_line "$PKG_LIBDIR" || fail "tide does not know LIBDIR $PKG_LIBDIR"
  # make uninstall leaves nothing but folders.
  pkg_make "$d" uninstall >"$d/uninstall.log" 2>&1 || { cat "$d/uninstall.log"; fail "make uninstall failed"; }
  local left
  left=$(find "$r" ! -type d | sed "s|^$r||")
  [ -z "$left" ] || fail "make uninstall left $(echo "$left" | wc -l) files: $(echo "$left" | head -n 3 | tr '\n' ' ')"
}
t_test package/install pkg_install_test

# find_package(tidemalloc) from the installed tree gives tidemalloc::tidemalloc.
pkg_cmake() {
  need_tide
  command -v cmake >/dev/null 2>&1 || skip "cmake is missing (apt-get install cmake)"
  local d=$T_BUILD/package/cmake
  pkg_install "$d"
  local lib=$d/root$PKG_LIBDIR
  mkdir -p "$d/src" "$d/bad"
  cp tests/package/header.c "$d/src/"
  cat >"$d/src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.10)
project(tideuser C)
find_package(tidemalloc 0.1 REQUIRED)
add_executable(user header.c)
target_link_libraries(user PRIVATE tidemalloc::tidemalloc)
add_executable(user-static header.c)
target_link_libraries(user-static PRIVATE tidemalloc::tidemalloc-static)
CMAKE
  (cd "$d/src" && cmake -S . -B out -DCMAKE_PREFIX_PATH="$d/root$PKG_PREFIX" && cmake --build out) \
    >"$d/cmake.log" 2>&1 || { cat "$d/cmake.log"; fail "the CMake project does not build: $(grep -m1 -iE 'error' "$d/cmake.log")"; }
  t_run 20 "$d/src/out/user" || fail "the program CMake linked failed"
  ldd "$d/src/out/user" | pkg_has "$lib/libtidemalloc.so.0" || fail "the CMake program does not load the installed library"
  t_run 20 "$d/src/out/user-static" || fail "the program CMake linked statically failed"
  ldd "$d/src/out/user-static" | pkg_has libtidemalloc && fail "tidemalloc-static is linked dynamically"
  # A newer major version than ours is refused.
  sed 's/find_package(tidemalloc 0.1 REQUIRED)/find_package(tidemalloc 1.0 REQUIRED)/' "$d/src/CMakeLists.txt" >"$d/bad/CMakeLists.txt"
  cp tests/package/header.c "$d/bad/"
  (cd "$d/bad" && cmake -S . -B out -DCMAKE_PREFIX_PATH="$d/root$PKG_PREFIX") >"$d/bad.log" 2>&1 &&
    fail "find_package(tidemalloc 1.0) accepted version $(pkg_header_version)"
  return 0
}
t_test package/cmake pkg_cmake

# `make bench QUICK=1` (run.py --quick, cost.py --quick) writes outside the
# committed bench/results/.  Asks the runner where, without running it.
pkg_bench_quick_out() {
  local py=/usr/bin/python3.11 q f
  [ -x "$py" ] || py=$T_PY
  q=$(cd bench && "$py" -c 'import os, run; print(os.path.realpath(run.default_out(True)))') ||
    fail "bench/run.py has no default_out()"
  f=$(cd bench && "$py" -c 'import os, run; print(os.path.realpath(run.default_out(False)))')
  echo "quick: $q, full: $f"
  [ "$f" = "$(realpath bench/results)" ] || fail "a full run writes to $f, not bench/results"
  case $q/ in "$(realpath bench/results)"/*) fail "a quick run writes into the committed bench/results ($q)" ;; esac
  if git -C "$T_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$T_ROOT" check-ignore -q "$q/latest.md" || fail "$q/latest.md would not be ignored by git"
  fi
  grep -q 'default_out(args.quick)' bench/cost.py || fail "bench/cost.py does not use run.default_out"
}
t_test package/bench-quick-out pkg_bench_quick_out

# The man pages render without a warning (as lintian checks them), tide(1)
# names every option of the tool's own help, and after `make install` `man`
# finds both in MANDIR.
pkg_man() {
  command -v man >/dev/null 2>&1 || skip "man is missing (apt-get install man-db)"
  local d=$T_BUILD/package/man p w opt
  mkdir -p "$d"
  for p in docs/tide.1 docs/tidemalloc.3; do
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >"$d/$(basename "$p").txt")
    [ -z "$w" ] || fail "$p: $(echo "$w" | head -n 2 | tr '\n' ' ')"
    [ -s "$d/$(basename "$p").txt" ] || fail "$p renders empty"
  done
  [ -x build/tide ] || fail "build/tide is missing"
  for opt in $( (build/tide --help; build/tide run --help; build/tide map --help; build/tide report --help) |
    grep -oE '(^|[ [])--?[a-z][a-z-]*' | tr -d ' [' | sort -u); do
    grep -qE -e "(^|[^a-z-])$opt([^a-z-]|$)" "$d/tide.1.txt" || fail "tide(1) does not mention $opt (from tide's --help)"
    echo "tide(1) mentions $opt"
  done
  for w in run map report help; do
    grep -q "tide $w" "$d/tide.1.txt" || fail "tide(1) has no 'tide $w'"
  done
  # Installed, into a tree of its own.
  local r=$T_BUILD/package/man-install
  pkg_install "$r"
  for w in tide tidemalloc; do
    man -M "$r/root$PKG_PREFIX/share/man" -w "$w" >/dev/null 2>&1 || fail "man -M MANDIR does not find $w after make install"
  done
}
t_test package/man pkg_man

# `make deb`: three packages built by dpkg-buildpackage and passed by
# lintian (make deb fails on a lintian error), installed with dpkg into a
# root of their own (dpkg --root: no chroot, nothing touches the system),
# where a linked program, a preloaded one and `tide run` work; then purged,
# leaving nothing but dpkg's database.
pkg_deb() {
  need_tide
  local t
  for t in dpkg-buildpackage dh lintian dpkg; do
    command -v $t >/dev/null 2>&1 || skip "$t is missing (apt-get install dpkg-dev debhelper lintian)"
  done
  local d=$T_BUILD/package/deb v ma
  v=$(pkg_header_version)
  ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null) || fail "dpkg-architecture failed"
  rm -rf "$d"
  mkdir -p "$d"
  echo "+ make BUILD=$d/build deb (DEB_BUILD_OPTIONS=nocheck: the tests run here anyway)"
  DEB_BUILD_OPTIONS=nocheck t_run 500 make -s -C "$T_ROOT" --no-print-directory BUILD="$d/build" deb \
    >"$d/deb.log" 2>&1 || { tail -n 40 "$d/deb.log"; fail "make deb failed: $(grep -m1 -E '^E: |error' "$d/deb.log")"; }
  grep -q '^lintian: no errors' "$d/deb.log" || fail "make deb did not run lintian"
  grep -E '^[EW]: ' "$d/deb.log" | head -n 20
  local pkgs=() p
  for p in libtidemalloc0 libtidemalloc-dev tidemalloc-tools; do
    [ -f "$d/build/deb/${p}_${v}_amd64.deb" ] || fail "make deb did not build ${p}_${v}_amd64.deb"
    pkgs+=("$d/build/deb/${p}_${v}_amd64.deb")
  done
  # A dpkg root: the database only; libc6 is the system's (--force-depends).
  local r=$d/root lib
  lib=$r/usr/lib/$ma
  mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
  : >"$r/var/lib/dpkg/status"
  : >"$r/var/lib/dpkg/available"
  dpkg --root="$r" --log=/dev/null --force-depends --force-script-chrootless -i "${pkgs[@]}" >"$d/dpkg.log" 2>&1 ||
    { cat "$d/dpkg.log"; fail "dpkg -i failed: $(grep -m1 -i error "$d/dpkg.log")"; }
  for p in libtidemalloc0 libtidemalloc-dev tidemalloc-tools; do
    dpkg --root="$r" -s "$p" 2>/dev/null | pkg_has_line 'Status: install ok installed' || fail "$p is not installed in the dpkg root"
  done
  [ -f "$lib/libtidemalloc.so.$v" ] && [ -L "$lib/libtidemalloc.so.0" ] || fail "libtidemalloc0 did not install libtidemalloc.so.0"
  # A program built with the -dev package's pkg-config file, run against the
  # runtime package.
  local flags
  flags=$(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$r" \
    PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 pkg-config --cflags --libs tidemalloc) ||
    fail "pkg-config does not find the -dev package's tidemalloc.pc"
  # shellcheck disable=SC2086
  "$CC" -std=c11 -Wall -Wextra -Werror -o "$d/linked" tests/package/header.c $flags >"$d/cc.log" 2>&1 ||
    { cat "$d/cc.log"; fail "a program does not build against libtidemalloc-dev"; }
  t_run 20 env LD_LIBRARY_PATH="$lib" "$d/linked" || fail "the linked program failed"
  env LD_LIBRARY_PATH="$lib" ldd "$d/linked" | pkg_has "$lib/libtidemalloc.so.0" || fail "the linked program does not load the packaged library"
  # A preloaded program: it writes tidemalloc's statistics at exit (into a
  # file: ls closes stderr before it exits).
  t_run 20 env LD_PRELOAD="$lib/libtidemalloc.so.0" TIDEMALLOC_OPTIONS="stats=json,stats_file=$d/preload.json" \
    ls -l / >/dev/null || fail "ls under LD_PRELOAD of the packaged library failed"
  grep -q '"malloc_calls"' "$d/preload.json" 2>/dev/null || fail "the preloaded library did not run (no statistics from ls)"
  # tide run finds the packaged library by itself.
  t_run 30 env -u TIDE_LIB "$r/usr/bin/tide" run -o "$d/summary" -- ls -l / >/dev/null || fail "the packaged tide run failed"
  grep -q 'where the memory of' "$d/summary" || fail "the packaged tide run wrote no summary"
  # Purged, nothing is left but dpkg's own files.
  dpkg --root="$r" --log=/dev/null --force-depends --force-script-chrootless --purge tidemalloc-tools \
    libtidemalloc-dev libtidemalloc0 >>"$d/dpkg.log" 2>&1 || { cat "$d/dpkg.log"; fail "dpkg --purge failed"; }
  local left
  left=$(find "$r" ! -type d ! -path "$r/var/lib/dpkg/*" | sed "s|^$r||")
  [ -z "$left" ] || fail "purging left $(echo "$left" | wc -l) files: $(echo "$left" | head -n 3 | tr '\n' ' ')"
}
t_test package/deb pkg_deb 600

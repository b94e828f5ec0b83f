# SPDX-License-Identifier: MIT
# tidemalloc — see README.md.  `make` builds everything; `make test`,
# `make bench`, `make demo`, `make install` / `make uninstall`.
# Honours CC, CFLAGS, CPPFLAGS, LDFLAGS; install paths PREFIX, BINDIR,
# LIBDIR, INCLUDEDIR, MANDIR, PKGCONFIGDIR, CMAKEDIR and DESTDIR.
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/tidemalloc
BUILD := build
# The version is the header's (TIDEMALLOC_VERSION_MAJOR/MINOR/PATCH); the
# soname changes with MAJOR only (docs/abi.md).
VERSION := $(shell sed -n 's/^\#define TIDEMALLOC_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' \
             include/tidemalloc.h | paste -sd.)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
SONAME := libtidemalloc.so.$(SOVERSION)
MAPFILE := src/tidemalloc.map

WARN := -Wall -Wextra -Werror -Wundef -Wstrict-prototypes -Wmissing-prototypes \
        -Wshadow -Wpointer-arith
BASE := -std=gnu11 -g -fPIC -fvisibility=hidden -ftls-model=initial-exec \
        -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free \
        -Iinclude -Isrc $(WARN) $(CPPFLAGS)
# `make SECURE=1`: the hardened mode (TIDEMALLOC_OPTIONS=secure=1) by default.
SECURE ?= 0
BASE += -DTIDE_SECURE_DEFAULT=$(if $(filter-out 0,$(SECURE)),1,0)
# -fno-tree-slp-vectorize: gcc would pair free's two stores into a freed
# block (link and freed key) through a vector register, two more
# instructions on the fast path than two plain stores.
RELEASE := $(BASE) -O2 -fno-tree-slp-vectorize -DTIDE_DEBUG=0 -DTIDE_OVERRIDE=1 $(CFLAGS)
# The checked build: asserts on, no override (tide_* names only) so that
# sanitizers and valgrind can run our code beside their own malloc.
CHECKED := $(BASE) -O1 -DTIDE_DEBUG=1 $(CFLAGS)

CORE := os brk segment sizeclass page heap large alloc free api options stats \
        trace fmt init secure
HEADERS := $(wildcard src/internal/*.h) include/tidemalloc.h
OBJ := $(CORE:%=$(BUILD)/obj/%.o) $(BUILD)/obj/override.o
PREFIXED_OBJ := $(CORE:%=$(BUILD)/prefixed/%.o)

all: $(BUILD)/libtidemalloc.so $(BUILD)/libtidemalloc.a \
     $(BUILD)/libtidemalloc-prefixed.a $(BUILD)/tide $(BUILD)/tidemalloc.pc

# Rebuild everything when the flags change (CC, CFLAGS, CPPFLAGS, LDFLAGS,
# SECURE), and what names an install path when the paths do.
FLAGS_LINE = $(CC) $(RELEASE) $(CHECKED) | $(LDFLAGS)
$(BUILD)/flags: FORCE | $(BUILD)/obj
	@echo '$(FLAGS_LINE)' | cmp -s - $@ || echo '$(FLAGS_LINE)' > $@
PATHS_LINE = $(PREFIX) $(BINDIR) $(LIBDIR) $(INCLUDEDIR) $(CMAKEDIR)
$(BUILD)/paths: FORCE | $(BUILD)/obj
	@echo '$(PATHS_LINE)' | cmp -s - $@ || echo '$(PATHS_LINE)' > $@

$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(BUILD)/flags | $(BUILD)/obj
	$(CC) $(RELEASE) -c $< -o $@
$(BUILD)/prefixed/%.o: src/%.c $(HEADERS) $(BUILD)/flags | $(BUILD)/prefixed
	$(CC) $(CHECKED) -c $< -o $@
$(BUILD)/obj $(BUILD)/prefixed:
	mkdir -p $@

# The shared library: libtidemalloc.so.$(VERSION), its soname link
# libtidemalloc.so.$(SOVERSION) and the development link libtidemalloc.so.
# The version script gives tidemalloc's own names a version node; the list
# of exports is docs/abi-symbols.txt (checked by tests/package).
LINK_SO = $(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(MAPFILE) \
	  -Wl,--no-undefined-version -Wl,-Bsymbolic-functions -Wl,-z,now $(LDFLAGS) \
	  -o $@ $(filter %.o,$^) -pthread
$(BUILD)/libtidemalloc.so.$(VERSION): $(OBJ) $(MAPFILE)
	$(LINK_SO)
$(BUILD)/$(SONAME): $(BUILD)/libtidemalloc.so.$(VERSION)
	ln -sf $(notdir $<) $@
$(BUILD)/libtidemalloc.so: $(BUILD)/$(SONAME)
	ln -sf $(notdir $<) $@
$(BUILD)/libtidemalloc.a: $(OBJ)
	rm -f $@ && ar rcs $@ $(OBJ)
$(BUILD)/libtidemalloc-prefixed.a: $(PREFIXED_OBJ)
	rm -f $@ && ar rcs $@ $(PREFIXED_OBJ)

TOOL_SRC := $(wildcard tools/*.c)
# The tool looks for the library beside itself, in ../lib, in LIBDIR as seen
# from BINDIR (a tree in a DESTDIR or moved), then in LIBDIR.
$(BUILD)/tide: $(TOOL_SRC) $(wildcard tools/*.h) include/tidemalloc.h $(BUILD)/flags \
	  $(BUILD)/paths | $(BUILD)/obj
	$(CC) -std=gnu11 -O2 -g $(WARN) -Iinclude -DTIDE_LIBDIR='"$(LIBDIR)"' \
	  -DTIDE_LIBDIR_REL="\"$$(realpath -m --relative-to='$(BINDIR)' '$(LIBDIR)')\"" $(CPPFLAGS) \
	  $(CFLAGS) $(TOOL_SRC) $(LDFLAGS) -o $@ -lm

# pkg-config file and CMake package files for the install paths.  The CMake
# files find the library and header relative to themselves, so a tree
# installed with DESTDIR (or moved) works as well.
rel_or_abs = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
define PC_FILE
printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(call rel_or_abs,$(LIBDIR))' \
  'includedir=$(call rel_or_abs,$(INCLUDEDIR))' '' 'Name: tidemalloc' \
  'Description: a memory allocator that shows where memory comes from' \
  'Version: $(VERSION)' 'Libs: -L$${libdir} -ltidemalloc' 'Libs.private: -pthread' \
  'Cflags: -I$${includedir}'
endef
$(BUILD)/tidemalloc.pc: Makefile include/tidemalloc.h $(BUILD)/paths | $(BUILD)/obj
	$(PC_FILE) > $@
$(BUILD)/cmake/tidemalloc-config.cmake: cmake/tidemalloc-config.cmake.in Makefile $(BUILD)/paths
	mkdir -p $(dir $@)
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@SONAME@|$(SONAME)|g' \
	  -e "s|@LIBDIR_REL@|$$(realpath -m --relative-to='$(CMAKEDIR)' '$(LIBDIR)')|g" \
	  -e "s|@INCLUDEDIR_REL@|$$(realpath -m --relative-to='$(CMAKEDIR)' '$(INCLUDEDIR)')|g" $< > $@
$(BUILD)/cmake/tidemalloc-config-version.cmake: cmake/tidemalloc-config-version.cmake.in \
	  include/tidemalloc.h
	mkdir -p $(dir $@)
	sed -e 's|@VERSION@|$(VERSION)|g' $< > $@
CMAKE_FILES := $(BUILD)/cmake/tidemalloc-config.cmake $(BUILD)/cmake/tidemalloc-config-version.cmake

test: all
	bash tests/run.sh

bench: all
	$(MAKE) -C bench run QUICK=$(QUICK)

# What the default build's checks cost: the workloads under this library and
# under the same sources built with TIDE_CHECKS=0 (for this measurement only).
NOCHECKS_OBJ := $(OBJ:$(BUILD)/obj/%=$(BUILD)/nochecks/%)
$(BUILD)/nochecks/%.o: src/%.c $(HEADERS) $(BUILD)/flags | $(BUILD)/nochecks
	$(CC) $(RELEASE) -DTIDE_CHECKS=0 -c $< -o $@
$(BUILD)/nochecks:
	mkdir -p $@
$(BUILD)/nochecks/libtidemalloc.so: $(NOCHECKS_OBJ) $(MAPFILE)
	$(LINK_SO)
COST_FLAGS = $(if $(filter-out 0 no false,$(QUICK)),--quick)
bench-checks: all $(BUILD)/nochecks/libtidemalloc.so
	$(MAKE) -C bench all
	/usr/bin/python3.11 bench/cost.py checks $(COST_FLAGS)
# What the hardened mode costs: secure=1 against the default, same library.
bench-secure: all
	$(MAKE) -C bench all
	/usr/bin/python3.11 bench/cost.py secure $(COST_FLAGS)

demo: all
	bash tools/demo.sh

# The libFuzzer harness (clang) for FUZZ_SECONDS; crashes land in fuzz/crashes/.
FUZZ_SECONDS ?= 60
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

# 8 threads, cross-thread frees, realloc churn and fork under a memory limit,
# for SOAK_MINUTES.  Not part of `make test`.
SOAK_MINUTES ?= 10
soak: all
	bash tests/soak/run.sh $(SOAK_MINUTES)

# `make install` (as root, without DESTDIR) runs ldconfig, so that a
# program linked against the new library starts at once.  Paths are the
# build's: `make PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu install`.
install: all $(CMAKE_FILES)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR) \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(BUILD)/libtidemalloc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libtidemalloc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtidemalloc.so
	install -m 644 $(BUILD)/libtidemalloc.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/tidemalloc.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/tidemalloc.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 644 $(CMAKE_FILES) $(DESTDIR)$(CMAKEDIR)/
	install -m 755 $(BUILD)/tide $(DESTDIR)$(BINDIR)/
	install -m 644 docs/tidemalloc.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 docs/tide.1 $(DESTDIR)$(MANDIR)/man1/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	  echo ldconfig; ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libtidemalloc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	  $(DESTDIR)$(LIBDIR)/libtidemalloc.so $(DESTDIR)$(LIBDIR)/libtidemalloc.a \
	  $(DESTDIR)$(INCLUDEDIR)/tidemalloc.h $(DESTDIR)$(PKGCONFIGDIR)/tidemalloc.pc \
	  $(DESTDIR)$(CMAKEDIR)/tidemalloc-config.cmake \
	  $(DESTDIR)$(CMAKEDIR)/tidemalloc-config-version.cmake \
	  $(DESTDIR)$(BINDIR)/tide $(DESTDIR)$(MANDIR)/man3/tidemalloc.3 $(DESTDIR)$(MANDIR)/man1/tide.1
	rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	  echo ldconfig; ldconfig; fi

# Debian packages (libtidemalloc0, libtidemalloc-dev, tidemalloc-tools) from
# a copy of the tree in $(BUILD)/deb/, with dpkg-buildpackage, then lintian.
# Needs debhelper and lintian (apt-get install debhelper lintian).  The
# package's own make runs without this one's variables (MAKEFLAGS would
# carry BUILD=... into it, and its clean would remove this very folder).
DEB_DIR := $(BUILD)/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/tidemalloc-$(VERSION)
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/tidemalloc-$(VERSION); \
	else \
	  tar --exclude=./build --exclude=./.git --exclude=./bench/bin \
	    --exclude=$(patsubst $(CURDIR)/%,./%,$(abspath $(DEB_DIR))) -cf - . | \
	    tar -xf - -C $(DEB_DIR)/tidemalloc-$(VERSION); \
	fi
	cd $(DEB_DIR)/tidemalloc-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  dpkg-buildpackage -us -uc
	lintian --fail-on error $(DEB_DIR)/tidemalloc_$(VERSION)_*.changes
	@echo "lintian: no errors"
	ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD)

.PHONY: all test bench bench-checks bench-secure demo fuzz soak install uninstall deb clean FORCE

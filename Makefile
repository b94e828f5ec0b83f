# SPDX-License-Identifier: MIT
# tidemalloc — see README.md.  `make` builds everything; `make test`,
# `make bench`, `make demo`, `make install PREFIX=...`.
CC ?= cc
PREFIX ?= /usr/local
BUILD := build
VERSION := 0.1

WARN := -Wall -Wextra -Werror -Wundef -Wstrict-prototypes -Wmissing-prototypes \
        -Wshadow -Wpointer-arith
BASE := -std=gnu11 -g -fPIC -fvisibility=hidden -ftls-model=initial-exec \
        -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free \
        -Iinclude -Isrc $(WARN)
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
        trace fmt init
HEADERS := $(wildcard src/internal/*.h) include/tidemalloc.h
OBJ := $(CORE:%=$(BUILD)/obj/%.o) $(BUILD)/obj/override.o
PREFIXED_OBJ := $(CORE:%=$(BUILD)/prefixed/%.o)

all: $(BUILD)/libtidemalloc.so $(BUILD)/libtidemalloc.a \
     $(BUILD)/libtidemalloc-prefixed.a $(BUILD)/tide $(BUILD)/tidemalloc.pc

# Rebuild everything when the flags change (CC, CFLAGS, SECURE).
$(BUILD)/flags: FORCE | $(BUILD)/obj
	@echo '$(CC) $(RELEASE) $(CHECKED)' | cmp -s - $@ || echo '$(CC) $(RELEASE) $(CHECKED)' > $@

$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(BUILD)/flags | $(BUILD)/obj
	$(CC) $(RELEASE) -c $< -o $@
$(BUILD)/prefixed/%.o: src/%.c $(HEADERS) $(BUILD)/flags | $(BUILD)/prefixed
	$(CC) $(CHECKED) -c $< -o $@
$(BUILD)/obj $(BUILD)/prefixed:
	mkdir -p $@

LINK_SO = $(CC) -shared -Wl,-soname,libtidemalloc.so -Wl,-Bsymbolic-functions \
	  -Wl,-z,now -o $@ $^ -pthread
$(BUILD)/libtidemalloc.so: $(OBJ)
	$(LINK_SO)
$(BUILD)/libtidemalloc.a: $(OBJ)
	rm -f $@ && ar rcs $@ $(OBJ)
$(BUILD)/libtidemalloc-prefixed.a: $(PREFIXED_OBJ)
	rm -f $@ && ar rcs $@ $(PREFIXED_OBJ)

TOOL_SRC := $(wildcard tools/*.c)
$(BUILD)/tide: $(TOOL_SRC) $(wildcard tools/*.h) include/tidemalloc.h | $(BUILD)/obj
	$(CC) -std=gnu11 -O2 -g $(WARN) -Iinclude $(TOOL_SRC) -o $@ -lm

# pkg-config file for PREFIX; `make install` writes it again for its PREFIX.
define PC_FILE
printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' \
  'includedir=$${prefix}/include' '' 'Name: tidemalloc' \
  'Description: a memory allocator that shows where memory comes from' \
  'Version: $(VERSION)' 'Libs: -L$${libdir} -ltidemalloc -pthread' \
  'Cflags: -I$${includedir}'
endef
$(BUILD)/tidemalloc.pc: Makefile | $(BUILD)/obj
	$(PC_FILE) > $@

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
$(BUILD)/nochecks/libtidemalloc.so: $(NOCHECKS_OBJ)
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

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 $(BUILD)/libtidemalloc.so $(BUILD)/libtidemalloc.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/tidemalloc.h $(DESTDIR)$(PREFIX)/include/
	$(PC_FILE) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tidemalloc.pc
	install -m 755 $(BUILD)/tide $(DESTDIR)$(PREFIX)/bin/
	install -m 644 docs/tidemalloc.3 $(DESTDIR)$(PREFIX)/share/man/man3/

clean:
	rm -rf $(BUILD)

.PHONY: all test bench bench-checks bench-secure demo fuzz soak install clean FORCE

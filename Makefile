# qprobe build. `make` builds the programs in build/; `make demo` and `make test`
# are the two commands of the README.
#
#   make                 programs in build/ (the packages must be there: scripts/install-deps.sh --build)
#   make demo            install the build packages, build, measure the bundled capture
#   make test            install the build and test packages, build both trees, run every test
#                        binary of the plain and the ASan/UBSan build, two at a time
#   make check           unit tests of the plain build only (the edit-compile-test loop)
#   make bench           benchmarks (see bench/README.md)
#   make SAN=1 BUILD=build/asan    the sanitizer build alone
#
# demo, test, check and bench install first and then build in a sub-make: the compiler
# flags come from pkg-config, which only answers once libdpdk-dev is installed.

BUILD ?= build
SAN ?= 0
CC ?= gcc
JOBS ?= 2

PKGS := libdpdk jansson libmicrohttpd libpcap libssl libcrypto yaml-0.1
# libmicrohttpd is not linked: lib/qp_http.c loads it when a server starts (a
# program that serves no HTTP starts without it and the GnuTLS under it)
LINK_PKGS := $(filter-out libmicrohttpd,$(PKGS))
# read once, when first used (a recipe that installs the packages runs first)
DPDK_CFLAGS = $(eval DPDK_CFLAGS := $$(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(DPDK_CFLAGS)
DPDK_LIBS = $(eval DPDK_LIBS := $$(shell pkg-config --libs $(LINK_PKGS) 2>/dev/null))$(DPDK_LIBS)

CFLAGS ?= -O2 -g
# where the installed NIC profiles are (a build for another PREFIX looks there)
CFLAGS += -DQP_DATADIR='"$(PREFIX)/share/qprobe"'
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Werror=implicit-function-declaration \
	-D_LGPL_SOURCE -DALLOW_EXPERIMENTAL_API -Ilib $(DPDK_CFLAGS)
# libcrypt whatever --as-needed (in DPDK's flags) says: under ASan, crypt_r resolves to
# the sanitizer's interceptor, libcrypt looks unneeded, and the real one is left null
LDLIBS += $(DPDK_LIBS) -Wl,--push-state,--no-as-needed -lcrypt -Wl,--pop-state -lurcu-qsbr -lurcu-common -lpthread -lm

ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRCS := $(wildcard lib/qp_*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
QMCP_SRCS := $(wildcard lib/qmcp_*.c)
QMCP_OBJS := $(QMCP_SRCS:%.c=$(BUILD)/obj/%.o)
LIBS_A := $(BUILD)/libqprobe.a $(BUILD)/libqmcp.a
# pcap_lazy.c is the capture-file program's alone (libpcap loaded when needed)
QPROBE_SRCS := $(filter-out app/qprobe/pcap_lazy.c,$(wildcard app/qprobe/*.c))
QPROBE_OBJS := $(QPROBE_SRCS:%.c=$(BUILD)/obj/%.o)
QMCTL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/qmctl/*.c))
QMSTORE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/qmstore/*.c))
PQ_CFLAGS = $(eval PQ_CFLAGS := -I$$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql))$(PQ_CFLAGS)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)

# The Python client's tests (pytest), run by make test against each build's programs
# through a wrapper of their own in $(BUILD)/tests/python/.
PY_SRCS := $(wildcard python/tests/test_*.py)
PY_BINS := $(PY_SRCS:python/tests/%.py=$(BUILD)/tests/python/%)

# objects are kept between runs
.SECONDARY:

.PHONY: all deps demo test test-bins check unit integration python bench fuzz install uninstall clean

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
QMCP_HEADERS := lib/qmcp_codec.h lib/qmcp_auth.h lib/qmcp_client.h lib/qmcp_listener.h lib/qmcp_tp.h lib/qmcp_tls.h

all: $(BUILD)/qprobe $(BUILD)/qprobe-live $(BUILD)/qmctl $(BUILD)/qmstore $(BUILD)/qp_gen $(BUILD)/qp_replay $(BUILD)/qp_clockcheck \
	$(BUILD)/qp_fleet

deps:
	@scripts/install-deps.sh --test

$(BUILD)/obj/%.o: %.c $(wildcard lib/*.h app/*/*.h tests/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(CFLAGS) -c $< -o $@

# the dashboard page is assembled into the probe
$(BUILD)/obj/app/qprobe/dashboard.o: app/qprobe/www/dashboard.html

$(BUILD)/libqprobe.a: $(LIB_OBJS)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^

# libqmcp: the QMCP codec, authentication and client/listener APIs
$(BUILD)/libqmcp.a: $(QMCP_OBJS)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^

# qprobe measures capture files, linked without DPDK and OpenSSL (its start is
# half the whole program's), and without libpcap, loaded when a run needs it
# (app/qprobe/pcap_lazy.c); for live ports and configuration files it
# becomes qprobe-live, the whole program, installed beside it (execv)
OFFLINE_LIBS = $(eval OFFLINE_LIBS := $$(shell pkg-config --libs jansson 2>/dev/null))$(OFFLINE_LIBS)

$(BUILD)/obj/app/qprobe/main-offline.o: app/qprobe/main.c $(wildcard lib/*.h app/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $< (capture files only)"; $(CC) $(CFLAGS) -DQP_OFFLINE_ONLY -c $< -o $@

$(BUILD)/qprobe: $(BUILD)/obj/app/qprobe/main-offline.o $(BUILD)/obj/app/qprobe/pcap_lazy.o $(LIBS_A)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(OFFLINE_LIBS) -lurcu-qsbr -lurcu-common -lpthread -lm -ldl

$(BUILD)/qprobe-live: $(QPROBE_OBJS) $(LIBS_A)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# qmctl takes the selection arithmetic (--sample) from libqprobe's qp_sig.o
$(BUILD)/qmctl: $(QMCTL_OBJS) $(BUILD)/libqmcp.a $(BUILD)/libqprobe.a
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libssl libcrypto) -lm

$(BUILD)/obj/app/qmstore/%.o: CFLAGS += $(PQ_CFLAGS)

$(BUILD)/qmstore: $(QMSTORE_OBJS) $(BUILD)/libqmcp.a
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libssl libcrypto sqlite3 libpq)

# the generators of application traffic with their truth (tests, qp_gen, qp_replay)
GEN_APPS = $(foreach g,dns quic tls ts mix,$(BUILD)/obj/tests/gen/qp_$(g)gen.o)

$(BUILD)/qp_replay: $(BUILD)/obj/bench/replay.o $(BUILD)/obj/tests/gen/qp_pcapw.o \
		$(GEN_APPS) $(BUILD)/libqprobe.a
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/qp_clockcheck: $(BUILD)/obj/bench/clock.o $(BUILD)/libqprobe.a
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/qp_fleet: $(BUILD)/obj/bench/fleet.o $(BUILD)/libqmcp.a
	@mkdir -p $(dir $@)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/qp_gen: $(BUILD)/obj/tests/gen/qp_gen.o $(BUILD)/obj/tests/gen/qp_pcapw.o \
		$(GEN_APPS)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/gen/qp_pcapw.o \
		$(BUILD)/obj/tests/gen/qp_ipfix_rd.o $(GEN_APPS) $(LIBS_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lssl -lcriterion

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(BUILD)/obj/tests/integration/qp_run.o \
		$(BUILD)/obj/tests/integration/qp_qmcp.o \
		$(BUILD)/obj/tests/gen/qp_pcapw.o $(BUILD)/obj/tests/gen/qp_ipfix_rd.o \
		$(GEN_APPS) $(LIBS_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lssl -lcriterion

$(BUILD)/tests/python/%: python/tests/%.py
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\n# written by make: python/tests/$*.py with pytest, against $$QP_BUILD (tests/run-one.sh)\ncd "$(CURDIR)" && exec /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests/$*.py\n' >$@
	@chmod +x $@

# The bundled capture of `make demo`, regenerated only when the generator changes.
tests/data/demo.pcap: | $(BUILD)/qp_gen
	$(BUILD)/qp_gen demo $@

demo:
	@scripts/install-deps.sh --build
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(BUILD)/qprobe --pcap tests/data/demo.pcap --report table

# Test binaries that start live DPDK probes say so in their header (" * Live: "): they run
# one at a time, the others beside them.
LIVE_NAMES := $(notdir $(basename $(shell grep -l '^ \* Live: ' tests/integration/test_*.c)))
# the Python tests that start probes say so with "# Live: " in their docstring
PY_LIVE_NAMES := $(notdir $(basename $(shell grep -l '^# Live: ' python/tests/test_*.py)))
PY_NAMES := $(notdir $(PY_SRCS:.py=))
# Those that hold live timing against the wall clock (" * Alone: ") run with nothing beside.
ALONE_NAMES := $(notdir $(basename $(shell grep -l '^ \* Alone: ' tests/integration/test_*.c)))
UNIT_NAMES := $(notdir $(UNIT_SRCS:.c=))
INTEG_NAMES := $(notdir $(INTEG_SRCS:.c=))
# both trees, live chain first, then the rest longest first: the corpus, integration, unit
T_ALONE := $(foreach b,build build/asan,$(ALONE_NAMES:%=$(b)/tests/integration/%))
T_LIVE := $(foreach b,build build/asan,$(LIVE_NAMES:%=$(b)/tests/integration/%) \
	$(PY_LIVE_NAMES:%=$(b)/tests/python/%))
T_CORPUS := $(foreach b,build/asan build,$(filter %corpus%,$(INTEG_NAMES:%=$(b)/tests/integration/%)))
T_REST := $(foreach b,build/asan build,$(INTEG_NAMES:%=$(b)/tests/integration/%)) \
	$(foreach b,build/asan build,$(UNIT_NAMES:%=$(b)/tests/unit/%)) \
	$(foreach b,build/asan build,$(PY_NAMES:%=$(b)/tests/python/%))
T_ALL := $(T_LIVE) $(T_CORPUS) $(filter-out $(T_LIVE) $(T_CORPUS),$(T_REST))

test-bins: all $(UNIT_BINS) $(INTEG_BINS) $(PY_BINS)

test:
	@scripts/install-deps.sh --test
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build test-bins
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build/asan SAN=1 test-bins
	@tests/run.sh $(JOBS) --alone '$(T_ALONE)' --live '$(T_LIVE)' $(T_ALL)

check:
	@scripts/install-deps.sh --test
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build $(UNIT_NAMES:%=build/tests/unit/%)
	@tests/run.sh $(JOBS) $(UNIT_NAMES:%=build/tests/unit/%)

# one tree's tests: make unit|integration [BUILD=build/asan SAN=1]
unit: $(UNIT_BINS)
	@tests/run.sh $(JOBS) $(UNIT_BINS)

# the Python client's tests of one tree: make python [BUILD=build/asan SAN=1]
python: all $(PY_BINS)
	@tests/run.sh $(JOBS) --live '$(PY_LIVE_NAMES:%=$(BUILD)/tests/python/%)' $(PY_BINS)

integration: all $(INTEG_BINS)
	@tests/run.sh $(JOBS) --alone '$(ALONE_NAMES:%=$(BUILD)/tests/integration/%)' \
		--live '$(LIVE_NAMES:%=$(BUILD)/tests/integration/%)' $(INTEG_BINS)

# Fuzzing: a libFuzzer target for every decoder of outside input (tests/fuzz/fuzz_*.c),
# built with clang against objects of their own; `make fuzz` runs each FUZZ_SECONDS
# (scripts/fuzz.sh; FUZZ=NAME... for some). make test replays the saved corpora
# through the same targets built with gcc (tests/unit/test_fuzz_corpus).
FUZZ_SECONDS ?= 60
FUZZ ?=
FUZZ_NAMES := $(notdir $(basename $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer-no-link,address,undefined -std=gnu11 -D_LGPL_SOURCE \
	-DALLOW_EXPERIMENTAL_API -Ilib -Iapp/qprobe $(DPDK_CFLAGS)
FUZZ_OBJS := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS) $(QMCP_SRCS) \
	$(filter-out app/qprobe/main.c,$(QPROBE_SRCS)) tests/fuzz/file.c)
$(BUILD)/fuzz/obj/%.o: %.c $(wildcard lib/*.h app/*/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	@echo "  CLANG $<"; clang $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/obj/app/qprobe/dashboard.o: app/qprobe/www/dashboard.html
$(BUILD)/fuzz/fuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	@echo "  AR $@"; ar rcs $@ $^
$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(BUILD)/fuzz/fuzz.a
	@echo "  CLANG $@"; clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz:
	@scripts/install-deps.sh --bench
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) scripts/fuzz.sh $(FUZZ)

# the spool's file format, from the probe's objects
$(BUILD)/tests/unit/test_spool: $(BUILD)/obj/tests/unit/test_spool.o $(BUILD)/obj/app/qprobe/spool.o $(LIBS_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# the corpus replay: each target under its own name, with the probe's objects but main's
$(BUILD)/obj/tests/fuzz/fuzz_%.o: CFLAGS += -DFUZZ_NAME=$(*F) -Iapp/qprobe
$(BUILD)/tests/unit/test_fuzz_corpus: $(BUILD)/obj/tests/unit/test_fuzz_corpus.o \
		$(FUZZ_NAMES:%=$(BUILD)/obj/tests/fuzz/%.o) $(BUILD)/obj/tests/fuzz/file.o \
		$(filter-out %/main.o,$(QPROBE_OBJS)) $(LIBS_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

bench:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory -j$(JOBS) all
	bench/replay.sh
	$(BUILD)/qp_clockcheck 60
	bench/run.sh
	bench/idle.sh
	bench/control.sh
	bench/stop.sh
	bench/twopoint.sh
	bench/fleet.sh
	bench/memif.sh

# programs, libqmcp (static library, headers, pkg-config file)
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/qmcp
	install -m 755 $(BUILD)/qprobe $(BUILD)/qprobe-live $(BUILD)/qmctl $(BUILD)/qmstore $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libqmcp.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(QMCP_HEADERS) $(DESTDIR)$(PREFIX)/include/qmcp/
	install -d $(DESTDIR)$(PREFIX)/share/qprobe/drivers-cfg
	install -m 644 drivers-cfg/*.json drivers-cfg/README.md $(DESTDIR)$(PREFIX)/share/qprobe/drivers-cfg/
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/qprobe
	install -m 755 scripts/qprobe-setup $(DESTDIR)$(PREFIX)/sbin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' scripts/qprobe.service.in \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/qprobe.service
	install -m 644 scripts/qprobe.json $(DESTDIR)$(PREFIX)/share/qprobe/qprobe.json.example
	install -m 644 README.md docs/qmcp.md docs/metrics.md $(DESTDIR)$(PREFIX)/share/doc/qprobe/
	$(BUILD)/qprobe --help > $(DESTDIR)$(PREFIX)/share/doc/qprobe/qprobe.txt
	$(BUILD)/qmctl --help > $(DESTDIR)$(PREFIX)/share/doc/qprobe/qmctl.txt
	install -d $(DESTDIR)$(SYSCONFDIR)/qprobe
	[ -e $(DESTDIR)$(SYSCONFDIR)/qprobe/qprobe.json ] || \
		install -m 644 scripts/qprobe.json $(DESTDIR)$(SYSCONFDIR)/qprobe/qprobe.json
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*QP_VERSION "\(.*\)".*/\1/p' lib/qp_report.c)|' \
		lib/libqmcp.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libqmcp.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/qprobe $(DESTDIR)$(PREFIX)/bin/qprobe-live $(DESTDIR)$(PREFIX)/bin/qmctl \
		$(DESTDIR)$(PREFIX)/bin/qmstore
	rm -f $(DESTDIR)$(PREFIX)/lib/libqmcp.a $(DESTDIR)$(PREFIX)/lib/pkgconfig/libqmcp.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/qmcp
	rm -rf $(DESTDIR)$(PREFIX)/share/qprobe $(DESTDIR)$(PREFIX)/share/doc/qprobe
	rm -f $(DESTDIR)$(PREFIX)/sbin/qprobe-setup $(DESTDIR)$(PREFIX)/lib/systemd/system/qprobe.service
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/qprobe (your configuration)"

clean:
	rm -rf build

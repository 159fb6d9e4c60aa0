# p2p: a peer-to-peer file storage node. See README.md.
#
#   make            build build/p2p (-Wall -Wextra clean; not ./p2p: p2p/ is the wire
#                   protocol's source folder)
#   make deps       install the Debian packages the build and tests need (idempotent)
#   make test       deps + build + Check unit tests + integration tests
#   make asan       the same suite under AddressSanitizer + UBSan (build-asan/)
#   make valgrind   the unit tests under valgrind memcheck (leaks and errors fail)
#   make run        build and run a node on the default data directory
#   make bench      benchmarks (print figures; not tests)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
PKG_CONFIG ?= pkg-config

PKGS := sqlite3 libevent_core libevent_extra libevent_openssl libevent_pthreads \
        openssl libcurl jansson libxxhash
# Optional: built in when present (systemd notify, line editing, mDNS, Bluetooth SDP:
# bluez is libbluetooth, HAVE_BLUEZ).
PKGS_OPT := $(shell for p in libsystemd libedit avahi-client bluez; do $(PKG_CONFIG) --exists $$p 2>/dev/null && echo $$p; done)

# A fixed version: a -D that changed with every commit would leave stale objects.
VERSION := 0.1.0

WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CFLAGS  ?= -O2 -g
# Extra flags (make asan sets SAN); kept apart so a command-line CFLAGS or SAN never
# drops the include paths and defines below.
SAN     ?=
override CFLAGS += $(SAN) -std=c17 $(WARN) -D_GNU_SOURCE -I. -pthread \
           -DP2P_VERSION='"$(VERSION)"' \
           $(foreach p,$(PKGS_OPT),-DHAVE_$(shell echo $(p) | tr a-z- A-Z_)=1) \
           $(shell $(PKG_CONFIG) --cflags $(PKGS) $(PKGS_OPT) 2>/dev/null)
ifeq ($(CI),true)
override CFLAGS += -Werror
endif
LDLIBS  += $(shell $(PKG_CONFIG) --libs $(PKGS) $(PKGS_OPT) 2>/dev/null) -lpthread
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)

MODULES := lib store db p2p node cmd
SRCS    := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
OBJS    := $(SRCS:%.c=$(BUILD)/obj/%.o)
LIBOBJS := $(filter-out $(BUILD)/obj/cmd/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test unit integration asan valgrind run bench clean install uninstall fuzz
all: $(BUILD)/p2p

$(BUILD)/p2p: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

# Objects depend on the flags they were built with: a changed CFLAGS (a library found
# or lost by pkg-config, CI=true, a sanitizer) rebuilds everything instead of mixing.
$(BUILD)/.flags: FORCE
	$(shell mkdir -p $(BUILD))$(file >$@.new,$(CC) $(CFLAGS) $(LDLIBS))
	@cmp -s $@.new $@ && rm -f $@.new || mv $@.new $@

.PHONY: FORCE
FORCE:

$(BUILD)/obj/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -o $@ $< $(LIBOBJS) $(LDLIBS) $(CHECK_LIBS)

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)

deps:
	@sh scripts/deps.sh

# Unit tests: each binary runs its Check suites and prints Check's summary line.
unit: $(UNIT_BINS)
	@sh tests/run_unit.sh $(UNIT_BINS)

integration: $(BUILD)/p2p
	@P2P_BIN=$(abspath $(BUILD)/p2p) sh tests/run_integration.sh

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@sh tests/run_all.sh $(BUILD)

asan:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory BUILD=build-asan \
	    CFLAGS="-O1 -g" SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    build-asan/p2p $(UNIT_BINS:$(BUILD)/%=build-asan/%)
	@ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    sh tests/run_all.sh build-asan

# Each unit-test binary under valgrind --leak-check=full, CK_FORK=no (about 1 minute).
valgrind: $(UNIT_BINS)
	@sh tests/run_valgrind.sh $(UNIT_BINS)

run: all
	$(BUILD)/p2p serve

bench: all
	@sh scripts/bench.sh
	@bash scripts/bench_repl.sh

# install: the binary, the systemd template unit, the example config and the docs.
#   $(PREFIX)/bin/p2p
#   $(UNITDIR)/p2p-storage@.service     ExecStart/Documentation rewritten for $(PREFIX)
#   $(SYSCONFDIR)/p2p-storage/p2p-storage.conf.example   (refreshed; *.conf never touched)
#   $(DOCDIR)/DEPLOYMENT.md, API.md, README.md
# UNITDIR defaults to $(PREFIX)/lib/systemd/system: systemd reads both
# /usr/local/lib/systemd/system and /usr/lib/systemd/system; for any other PREFIX pass
# UNITDIR=/etc/systemd/system. DESTDIR is prepended to every path and nothing else
# (no users, no systemctl: scripts/install.sh does those).
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
DOCDIR     ?= $(PREFIX)/share/doc/p2p

install: $(BUILD)/p2p
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/p2p-storage $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/p2p $(DESTDIR)$(PREFIX)/bin/p2p
	sed -e 's|/usr/local/bin/p2p|$(PREFIX)/bin/p2p|g' \
	    -e 's|/usr/local/share/doc/p2p|$(DOCDIR)|g' \
	    -e 's|/etc/p2p-storage/|$(SYSCONFDIR)/p2p-storage/|g' \
	    systemd/p2p-storage@.service >$(DESTDIR)$(UNITDIR)/p2p-storage@.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/p2p-storage@.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/p2p-storage@.service.tmp $(DESTDIR)$(UNITDIR)/p2p-storage@.service
	install -m 0644 systemd/p2p-storage.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/p2p-storage/p2p-storage.conf.example
	for f in DEPLOYMENT.md docs/API.md README.md; do \
	    [ ! -f $$f ] || install -m 0644 $$f $(DESTDIR)$(DOCDIR)/ || exit 1; \
	done

# uninstall: what install put there; configs (*.conf) and /var/lib data are kept.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/p2p $(DESTDIR)$(UNITDIR)/p2p-storage@.service \
	    $(DESTDIR)$(SYSCONFDIR)/p2p-storage/p2p-storage.conf.example \
	    $(DESTDIR)$(DOCDIR)/DEPLOYMENT.md $(DESTDIR)$(DOCDIR)/API.md \
	    $(DESTDIR)$(DOCDIR)/README.md
	rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/p2p-storage 2>/dev/null || true

# deb: build/p2p-storage_VERSION_ARCH.deb with dpkg-deb (PREFIX=/usr, unit in
# /lib/systemd/system). Its maintainer scripts create the p2p-storage user and run
# daemon-reload; removing the package keeps /etc/p2p-storage/*.conf and /var/lib data.
DEB_VERSION ?= 0.1.0+git$(subst -,.,$(VERSION))
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_ROOT    := $(BUILD)/deb/root
.PHONY: deb
deb: $(BUILD)/p2p
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_ROOT)) PREFIX=/usr \
	    UNITDIR=/lib/systemd/system
	install -d -m 0755 $(DEB_ROOT)/DEBIAN
	# Depends: the packages that ship the libraries the binary links directly.
	deps=$$(for l in $$(objdump -p $(BUILD)/p2p | awk '$$1 == "NEEDED" { print $$2 }'); do \
	    f=$$(ldd $(BUILD)/p2p | awk -v l="$$l" '$$1 == l { print $$3 }'); \
	    dpkg -S "$$f" 2>/dev/null || dpkg -S "/usr$$f" 2>/dev/null || \
	        dpkg -S "$${f#/usr}" 2>/dev/null || echo "deb: no package has $$l" >&2; \
	    done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g'); \
	printf '%s\n' 'Package: p2p-storage' 'Version: $(DEB_VERSION)' 'Architecture: $(DEB_ARCH)' \
	    'Maintainer: p2p developers <root@localhost>' 'Section: net' 'Priority: optional' \
	    "Depends: $$deps, passwd" \
	    'Recommends: avahi-daemon, sqlite3' 'Suggests: bluez' \
	    'Description: peer-to-peer file storage node' \
	    ' p2p stores files as content-addressed chunks and serves them to its peers.' \
	    ' Run one node per instance of the p2p-storage@.service template.' \
	    >$(DEB_ROOT)/DEBIAN/control
	echo /etc/p2p-storage/p2p-storage.conf.example >$(DEB_ROOT)/DEBIAN/conffiles
	printf '%s\n' '#!/bin/sh' 'set -e' \
	    'if [ "$$1" = configure ]; then' \
	    '    getent group p2p-storage >/dev/null || groupadd --system p2p-storage' \
	    '    getent passwd p2p-storage >/dev/null || useradd --system --gid p2p-storage --no-create-home --home-dir /var/lib/p2p-storage --shell /usr/sbin/nologin p2p-storage' \
	    '    chown root:p2p-storage /etc/p2p-storage' \
	    '    chmod 0750 /etc/p2p-storage' \
	    'fi' \
	    'if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi' \
	    >$(DEB_ROOT)/DEBIAN/postinst
	printf '%s\n' '#!/bin/sh' 'set -e' \
	    'if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi' \
	    >$(DEB_ROOT)/DEBIAN/postrm
	chmod 0755 $(DEB_ROOT)/DEBIAN/postinst $(DEB_ROOT)/DEBIAN/postrm
	dpkg-deb --root-owner-group --build $(DEB_ROOT) \
	    $(BUILD)/p2p-storage_$(DEB_VERSION)_$(DEB_ARCH).deb

clean:
	rm -rf build build-asan build-fuzz

# ---- fuzzing (docs/FUZZING.md) ----------------------------------------------------------
#   make fuzz          build each tests/fuzz/fuzz_<name>.c with clang + libFuzzer (ASan, UBSan)
#                      into build-fuzz/libfuzzer/ and run it FUZZ_SECONDS (60) on a scratch
#                      copy of its corpus; FUZZ_TARGETS="msg ticket" picks harnesses,
#                      FUZZ_SAVE=1 merges new coverage into tests/fuzz/corpus/<name>/,
#                      FUZZ_ARGS passes more libFuzzer flags. Crashes: build-fuzz/artifacts/.
#   make fuzz-replay   build each harness with gcc + tests/fuzz/standalone.c (ASan, UBSan)
#                      into build-fuzz/replay/ and run it over its corpus (part of make test)
#   make fuzz-corpus   regenerate the encoder-made seeds with tests/fuzz/gen_corpus.c
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_SAVE    ?= 0
FUZZ_ARGS    ?=
FUZZ_CLANG   ?= clang
FUZZ_GCC     ?= gcc
FUZZ_DIR     := build-fuzz
# The project sources the harnesses need (not all of them: a half-finished module
# elsewhere must not break the fuzz build).
FUZZ_LIBSRCS := lib/buf.c lib/util.c lib/log.c lib/config.c store/manifest.c store/sha256.c \
                p2p/frame.c p2p/msg.c p2p/ticket.c p2p/netkey.c p2p/keyfile.c p2p/ossl.c
# Same language, include and pkg-config flags as CFLAGS above, whatever CFLAGS is set to.
FUZZ_FLAGS   := -std=c17 $(WARN) -D_GNU_SOURCE -I. -pthread -DP2P_VERSION='"$(VERSION)"' \
                $(foreach p,$(PKGS_OPT),-DHAVE_$(shell echo $(p) | tr a-z- A-Z_)=1) \
                $(shell $(PKG_CONFIG) --cflags $(PKGS) $(PKGS_OPT) 2>/dev/null) \
                -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all \
                $(if $(filter true,$(CI)),-Werror)
FUZZ_LF_OBJS := $(FUZZ_LIBSRCS:%.c=$(FUZZ_DIR)/libfuzzer/obj/%.o)
FUZZ_RP_OBJS := $(FUZZ_LIBSRCS:%.c=$(FUZZ_DIR)/replay/obj/%.o)
FUZZ_LF_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/libfuzzer/fuzz_%)
FUZZ_RP_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/replay/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-libfuzzer-build fuzz-replay fuzz-replay-build fuzz-corpus
.SECONDARY: $(FUZZ_LF_OBJS) $(FUZZ_RP_OBJS) $(FUZZ_DIR)/replay/obj/tests/fuzz/standalone.o

$(FUZZ_DIR)/libfuzzer/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/libfuzzer/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LF_OBJS)
	$(FUZZ_CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -MMD -MP -o $@ $< \
	    $(FUZZ_LF_OBJS) $(LDLIBS)

$(FUZZ_DIR)/replay/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_GCC) $(FUZZ_FLAGS) -fsanitize=address,undefined -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h \
    $(FUZZ_DIR)/replay/obj/tests/fuzz/standalone.o $(FUZZ_RP_OBJS)
	$(FUZZ_GCC) $(FUZZ_FLAGS) -fsanitize=address,undefined -MMD -MP -o $@ $< \
	    $(FUZZ_DIR)/replay/obj/tests/fuzz/standalone.o $(FUZZ_RP_OBJS) $(LDLIBS)

-include $(wildcard $(FUZZ_DIR)/*/obj/*/*.d $(FUZZ_DIR)/*/obj/tests/fuzz/*.d $(FUZZ_DIR)/*/*.d)

fuzz-build:
	@command -v $(FUZZ_CLANG) >/dev/null 2>&1 && \
	    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}' | \
	    $(FUZZ_CLANG) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null || \
	    { echo "fuzz: needs clang with libFuzzer (apt-get install clang libclang-rt-14-dev)" >&2; \
	      exit 1; }
	@$(MAKE) --no-print-directory fuzz-libfuzzer-build

fuzz-libfuzzer-build: $(FUZZ_LF_BINS)
	@:

fuzz: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SAVE=$(FUZZ_SAVE) \
	    FUZZ_ARGS='$(FUZZ_ARGS)' sh tests/fuzz/run_fuzz.sh $(FUZZ_TARGETS)

fuzz-replay-build: $(FUZZ_RP_BINS)
	@:

fuzz-replay:
	@$(MAKE) --no-print-directory -s fuzz-replay-build
	@FUZZ_DIR=$(FUZZ_DIR) sh tests/fuzz/replay.sh $(FUZZ_NAMES)

fuzz-corpus: $(FUZZ_DIR)/replay/gen_corpus
	$(FUZZ_DIR)/replay/gen_corpus tests/fuzz/corpus

$(FUZZ_DIR)/replay/gen_corpus: tests/fuzz/gen_corpus.c $(FUZZ_RP_OBJS)
	$(FUZZ_GCC) $(FUZZ_FLAGS) -fsanitize=address,undefined -MMD -MP -o $@ $< \
	    $(FUZZ_RP_OBJS) $(LDLIBS)

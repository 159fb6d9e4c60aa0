# p2p: a peer-to-peer file storage node. See README.md.
#
#   make            build ./p2p (-Wall -Wextra clean)
#   make deps       install the Debian packages the build and tests need (idempotent)
#   make test       deps + build + Check unit tests + integration tests
#   make asan       the same suite under AddressSanitizer + UBSan (build-asan/)
#   make run        build and run a node on the default data directory
#   make bench      benchmarks (print figures; not tests)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
PKG_CONFIG ?= pkg-config

PKGS := sqlite3 libevent_core libevent_extra libevent_openssl libevent_pthreads \
        openssl libcurl jansson
# Optional: built in when present (systemd notify, line editing).
PKGS_OPT := $(shell for p in libsystemd libedit; do $(PKG_CONFIG) --exists $$p 2>/dev/null && echo $$p; done)

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 $(WARN) -D_GNU_SOURCE -I. -pthread \
           -DP2P_VERSION='"$(VERSION)"' \
           $(foreach p,$(PKGS_OPT),-DHAVE_$(shell echo $(p) | tr a-z A-Z)=1) \
           $(shell $(PKG_CONFIG) --cflags $(PKGS) $(PKGS_OPT) 2>/dev/null)
ifeq ($(CI),true)
CFLAGS  += -Werror
endif
LDLIBS  += $(shell $(PKG_CONFIG) --libs $(PKGS) $(PKGS_OPT) 2>/dev/null) -lpthread
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)

MODULES := lib store db p2p node cmd
SRCS    := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(filter-out $(BUILD)/cmd/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test unit integration asan run bench clean install uninstall fuzz
all: p2p

p2p: $(BUILD)/p2p
	cp $(BUILD)/p2p ./p2p

$(BUILD)/p2p: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/%.o: %.c
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
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    build-asan/p2p $(UNIT_BINS:$(BUILD)/%=build-asan/%)
	@ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    sh tests/run_all.sh build-asan

run: all
	./p2p serve

bench: all
	@sh scripts/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/p2p $(DESTDIR)$(PREFIX)/bin/p2p

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/p2p

clean:
	rm -rf build build-asan p2p

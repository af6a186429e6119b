# ktls-shim: `make` builds the library, `make test` runs everything (the kTLS
# half inside a QEMU guest when this kernel has no kTLS), `make demo` shows it.
CC ?= cc
BUILD := build
WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
SHIM_CFLAGS := $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden
SHIM_LDFLAGS := -shared -Wl,--no-undefined -Wl,--version-script=shim/exports.map \
                -Wl,-z,relro -Wl,-z,now
# The library's layers, one folder each, lowest first (tests/check-layers.sh
# says what each may do): shim/0-pure ... shim/4-entry.
LAYERS := $(sort $(notdir $(patsubst %/,%,$(wildcard shim/[0-9]-*/))))
LAYER_ENTRY := $(lastword $(LAYERS))
SHIM_SRCS := $(foreach l,$(LAYERS),$(wildcard shim/$(l)/*.c))
SHIM_HDRS := $(foreach l,$(LAYERS),$(wildcard shim/$(l)/*.h))
ALL_LAYERS_INC := $(addprefix -Ishim/,$(LAYERS))
LIB := $(BUILD)/libktls-shim.so
SHIM_OBJS := $(patsubst shim/%.c,$(BUILD)/obj/%.o,$(SHIM_SRCS))
# A layer's sources see their own folder and the ones below, nothing above:
# an #include of a higher layer's header does not compile.
layer_inc :=
$(foreach l,$(LAYERS),$(eval layer_inc += -Ishim/$(l))$(eval $(BUILD)/obj/$(l)/%.o: LAYER_INC := $(layer_inc)))

# glibc compatibility: what `make` builds needs no symbol version newer than
# GLIBC_2.28 (Debian 10, RHEL 8, Ubuntu 20.04 have it), so a library built here
# also loads into older application images. shim/glibc/ says how.
GLIBC_MAX := GLIBC_2.28
comma := ,
MACHINE := $(shell $(CC) -dumpmachine)
GLIBC_BASE := $(if $(filter x86_64-%,$(MACHINE)),GLIBC_2.2.5,$(if $(filter aarch64-%,$(MACHINE)),GLIBC_2.17,))
GLIBC_STUBS := $(if $(GLIBC_BASE),$(BUILD)/glibc/libdl.so.2 $(BUILD)/glibc/libpthread.so.0,)
GLIBC_START := $(if $(GLIBC_BASE),shim/glibc/start.c -DKTLS_GLIBC_BASE='"$(GLIBC_BASE)"' -Wl$(comma)--wrap=__libc_start_main,)
STUB_DL := dlopen dlsym dlvsym dlclose dlerror dladdr
STUB_PTHREAD := pthread_once pthread_mutex_init pthread_mutex_destroy pthread_mutex_lock \
                pthread_mutex_trylock pthread_mutex_unlock pthread_key_create pthread_key_delete \
                pthread_getspecific pthread_setspecific pthread_rwlock_init pthread_rwlock_destroy \
                pthread_rwlock_rdlock pthread_rwlock_wrlock pthread_rwlock_unlock pthread_sigmask \
                pthread_self pthread_create pthread_join pthread_detach

UNIT_SRCS := $(wildcard tests/unit/*.c)
# every layer but the entry one (the interposers): the unit binary calls
# OpenSSL directly, and ossl.c finds it the way the library does
UNIT_SHIM := $(filter-out shim/$(LAYER_ENTRY)/%,$(SHIM_SRCS)) \
             shim/tools/json_flat.c shim/tools/check_diag.c shim/tools/cpu_verdict.c
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PROGS := $(BUILD)/tls_endpoint $(BUILD)/ossl_ktls_selftest $(BUILD)/sendfile_check \
         $(BUILD)/late_dlopen $(BUILD)/static_echo $(BUILD)/tls_proxy \
         $(BUILD)/tls_threads $(BUILD)/fd_reuse $(BUILD)/half_record $(BUILD)/hookbench \
         $(BUILD)/two_openssl $(BUILD)/other_openssl.so $(BUILD)/bio_pair_echo \
         $(BUILD)/sig_keep $(BUILD)/free_port $(BUILD)/sig_io $(BUILD)/seqfuzz
TOOLS := $(BUILD)/ktls-run $(BUILD)/ktls-check $(BUILD)/ktls-stats
TOOL_CFLAGS := $(WARN) $(CFLAGS) $(ALL_LAYERS_INC) -Ishim/tools

.PHONY: torture all test test-unit test-host test-vm test-matrix matrix-progs demo bench bench-hooks clean install \
        uninstall version check-exports check-layers check-glibc asan planted fuzz fuzz-build
ASAN_LIB := $(BUILD)/asan/libktls-shim.so
all: $(LIB) $(TOOLS) $(PROGS)

# One object per source: tests/check-layers.sh reads them one by one.
$(LIB): $(SHIM_OBJS) shim/exports.map $(GLIBC_STUBS) | $(BUILD)
	$(CC) $(SHIM_CFLAGS) $(SHIM_OBJS) -o $@ $(SHIM_LDFLAGS) $(GLIBC_STUBS) -ldl -lpthread

$(BUILD)/obj/%.o: shim/%.c $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) $(LAYER_INC) -c $< -o $@

# Link-time only (never installed): SONAME libdl.so.2 / libpthread.so.0, the
# names exported at the base version (shim/glibc/stubs.c).
$(BUILD)/glibc/libdl.so.2: STUB_NAMES = $(STUB_DL)
$(BUILD)/glibc/libpthread.so.0: STUB_NAMES = $(STUB_PTHREAD)
$(BUILD)/glibc/%: shim/glibc/stubs.c Makefile
	mkdir -p $(dir $@)
	echo '$(GLIBC_BASE) { global: $(foreach n,$(STUB_NAMES),$(n);) local: *; };' >$@.map
	$(CC) -shared -nostdlib -fPIC -Wl,-soname,$* -Wl,--version-script=$@.map $< -o $@

# What make builds, as the sidecar ships it: no glibc newer than GLIBC_MAX.
check-glibc: $(LIB) $(TOOLS)
	@shim/glibc/check-glibc.sh $(GLIBC_MAX) $(LIB) $(TOOLS)

# Operator tools: no OpenSSL at link time either (ktls-check dlopens it).
RUN_SRCS := shim/tools/ktls-run.c shim/tools/run_stats.c shim/tools/cpu_verdict.c shim/tools/json_flat.c \
            shim/tools/tls_stat.c shim/1-platform/config.c
$(BUILD)/ktls-run: $(RUN_SRCS) $(SHIM_HDRS) $(wildcard shim/tools/*.h) shim/glibc/start.c $(GLIBC_STUBS) | $(BUILD)
	$(CC) $(TOOL_CFLAGS) $(RUN_SRCS) $(GLIBC_START) -o $@ $(GLIBC_STUBS) -lpthread -lm

STATS_SRCS := shim/tools/ktls-stats.c shim/tools/run_stats.c shim/tools/cpu_verdict.c shim/tools/json_flat.c \
              shim/tools/tls_stat.c \
              shim/tools/prom_format.c
$(BUILD)/ktls-stats: $(STATS_SRCS) $(SHIM_HDRS) $(wildcard shim/tools/*.h) shim/glibc/start.c $(GLIBC_STUBS) | $(BUILD)
	$(CC) $(TOOL_CFLAGS) $(STATS_SRCS) $(GLIBC_START) -o $@ $(GLIBC_STUBS) -lm

CHECK_SRCS := shim/tools/ktls-check.c shim/tools/check_diag.c shim/0-pure/crypto_info.c
$(BUILD)/ktls-check: $(CHECK_SRCS) $(SHIM_HDRS) $(wildcard shim/tools/*.h) shim/glibc/start.c $(GLIBC_STUBS) | $(BUILD)
	$(CC) $(TOOL_CFLAGS) $(CHECK_SRCS) $(GLIBC_START) -o $@ $(GLIBC_STUBS) -ldl

# The library under ASan/UBSan for the guest subset (tests/78-sanitizers.bats):
# preload $$(cc -print-file-name=libasan.so) first, then this.
asan: $(ASAN_LIB)
$(ASAN_LIB): $(SHIM_SRCS) $(SHIM_HDRS) shim/exports.map
	mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) $(ALL_LAYERS_INC) -O1 $(SAN) $(SHIM_SRCS) -o $@ $(SHIM_LDFLAGS) -ldl -lpthread

# Scratch builds with one known fault each (shim/0-pure/planted.h), under
# ASan/UBSan like the torture's shim, for tests/83-planted-faults.bats: the
# harness must find every one. Never installed, never preloaded elsewhere.
PLANTED_FAULTS := forget_close skip_seq drop_bio_ref ignore_key_update vfork_as_parent
PLANTED_LIBS := $(foreach f,$(PLANTED_FAULTS),$(BUILD)/planted/$(f)/libktls-shim.so)
planted: $(PLANTED_LIBS)
$(BUILD)/planted/%/libktls-shim.so: $(SHIM_SRCS) $(SHIM_HDRS) shim/exports.map
	mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) $(ALL_LAYERS_INC) -O1 $(SAN) -DKTLS_PLANTED_FAULT=PLANTED_$* $(SHIM_SRCS) -o $@ $(SHIM_LDFLAGS) -ldl -lpthread

# libFuzzer targets (tests/fuzz/): every parser the shim has. `make fuzz` runs
# each for FUZZ_SECONDS; `make test` runs them briefly (tests/run-all.sh).
FUZZ_CC := clang-14
FUZZ_CFLAGS := $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(ALL_LAYERS_INC)
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := $(BUILD)/fuzz/fuzz_config $(BUILD)/fuzz/fuzz_keylog $(BUILD)/fuzz/fuzz_record
FUZZ_SRCS_config := shim/1-platform/config.c
FUZZ_SRCS_keylog := shim/0-pure/keylog.c shim/0-pure/keysched.c
# the data path's reads and writes over a fake OpenSSL and a fake kernel:
# every layer below the entry one but what the fakes stand for
FUZZ_SRCS_record := $(filter-out shim/tools/% $(addprefix shim/,1-platform/ossl.c 1-platform/ossl_caller.c 1-platform/kernel.c \
                      3-datapath/offload.c 3-datapath/route.c 3-datapath/route_settings.c 3-datapath/fileserve.c),$(UNIT_SHIM)) \
                    tests/fuzz/fake_ossl.c tests/fuzz/stub_stats_kernel.c
fuzz-build: $(FUZZ_TARGETS)
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)
.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(SHIM_HDRS)
	mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_SRCS_$*) -o $@ -lssl -lcrypto -lpthread

$(BUILD)/%: tests/progs/%.c tests/progs/test_identity.h tests/progs/exchange.h tests/progs/own_bio.h \
	    tests/progs/raw_record.h tests/progs/seqfuzz_ops.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -lssl -lcrypto -lpthread

# The test programs against another OpenSSL of the matrix, with an RPATH to
# it (it may share the distro's soname): tests/matrix/build-progs.sh runs
# make matrix-progs OSSL_PREFIX=... PROG_DIR=build/ossl-VERSION MATRIX_PROGS=...
MATRIX_PROGS ?= tls_endpoint sendfile_check tls_threads ossl_ktls_selftest two_openssl other_openssl.so seqfuzz
ifneq ($(OSSL_PREFIX),)
MATRIX_BINS := $(addprefix $(PROG_DIR)/,$(MATRIX_PROGS))
matrix-progs: $(MATRIX_BINS)
$(filter-out %.so,$(MATRIX_BINS)): $(PROG_DIR)/%: tests/progs/%.c tests/progs/test_identity.h tests/progs/exchange.h tests/progs/seqfuzz_ops.h
	mkdir -p $(PROG_DIR)
	$(CC) $(WARN) $(CFLAGS) -I$(OSSL_PREFIX)/include $< -o $@ -L$(OSSL_PREFIX)/lib \
	    -Wl,-rpath,$(OSSL_PREFIX)/lib -Wl,--disable-new-dtags -lssl -lcrypto -lpthread
$(filter %.so,$(MATRIX_BINS)): $(PROG_DIR)/%.so: tests/progs/%.c tests/progs/test_identity.h tests/progs/exchange.h
	mkdir -p $(PROG_DIR)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -I$(OSSL_PREFIX)/include $< -o $@ -L$(OSSL_PREFIX)/lib \
	    -Wl,-rpath,$(OSSL_PREFIX)/lib -Wl,--disable-new-dtags -lssl -lcrypto -lpthread
endif

# a plugin with its own OpenSSL (here the distro's), for two_openssl of another
$(BUILD)/other_openssl.so: tests/progs/other_openssl.c tests/progs/exchange.h tests/progs/test_identity.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared $< -o $@ -lssl -lcrypto -lpthread

# no link-time OpenSSL: it loads libssl twice itself (dlopen, dlmopen)
# its malloc family must be the process's (it counts calls from a signal handler)
$(BUILD)/sig_io: tests/progs/sig_io.c tests/progs/test_identity.h tests/progs/exchange.h tests/progs/own_bio.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -rdynamic $< -o $@ -lssl -lcrypto -lpthread

$(BUILD)/hookbench: tests/progs/hookbench.c tests/progs/loopback.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -ldl -lm

# no link-time OpenSSL: it dlopens libssl itself
$(BUILD)/late_dlopen: tests/progs/late_dlopen.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -ldl

$(BUILD)/static_echo: tests/progs/static_echo.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -static $< -o $@

$(BUILD)/unit_tests: $(UNIT_SRCS) $(UNIT_SHIM) $(SHIM_HDRS) $(wildcard tests/unit/*.h) | $(BUILD)
	$(CC) $(WARN) -g -O1 $(SAN) $(ALL_LAYERS_INC) -Ishim/tools $(UNIT_SRCS) $(UNIT_SHIM) -o $@ -lssl -lcrypto -lpthread -ldl -lm

$(BUILD):
	mkdir -p $@

# The library must not pull OpenSSL in, must export exactly the interposers,
# and its layers must call only downward.
check-exports: $(LIB) check-layers
	@tests/check-exports.sh $(LIB)

check-layers: $(SHIM_OBJS)
	@tests/check-layers.sh $(BUILD)/obj shim/exports.map

test-unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

test-host: all check-exports check-glibc test-unit
	tests/run-bats.sh host

# KTLS_VM_KERNEL=5.10|6.1|6.12|7.3 picks the guest's kernel (default 6.1)
test-vm: all
	tests/matrix/build-progs.sh 1.1.1w >/dev/null # two OpenSSLs in one process (15-inert-more)
	tests/run-bats.sh vm

# The kTLS core set (tests/matrix/core.list) on every cell of kernels x
# OpenSSLs, one guest boot per kernel; ends with a table of the cells.
KERNELS ?= 5.10 6.1 6.12 7.3
OPENSSLS ?= 1.1.1w 3.0 3.5
test-matrix: all
	tests/matrix/run.sh "$(KERNELS)" "$(OPENSSLS)"

# A fresh machine needs only `make test`: what the suite uses is installed
# first where missing (a dpkg query per package when nothing is)
test:
	demo/install-deps.sh test
	$(MAKE) -j2 all asan planted check-exports check-glibc
	tests/run-all.sh

demo: all
	demo/run.sh

# Seeded call sequences with and without the shim (ASan build), random seeds
# for TORTURE_MINUTES in kTLS guests (tests/torture/run.sh); the fixed seeds
# run in make test (tests/81-seqfuzz.bats)
TORTURE_MINUTES ?= 10
torture: all
	tests/torture/run.sh $(TORTURE_MINUTES)

# What the hooks cost a connection they pass through, per call, measured in
# one process (shim vs the same OpenSSL loaded apart, paired rounds, A/A
# control, verdict), then each libc hook against libc's own function
# (tests/progs/hookbench.c), then redis with plaintext clients, preloaded or
# not (demo/bench/redis-passthrough.sh). Results: build/bench-hooks.txt
HOOKBENCH_ROUNDS ?= 40
HOOKBENCH_SCALE ?= 10
bench-hooks: $(LIB) $(BUILD)/hookbench
	@mkdir -p $(BUILD)/hookbench-cert
	@test -s $(BUILD)/hookbench-cert/ec.pem || openssl req -x509 -newkey ec \
	    -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $(BUILD)/hookbench-cert/ec.key \
	    -out $(BUILD)/hookbench-cert/ec.pem -days 3650 -subj /CN=localhost 2>/dev/null
	LD_PRELOAD=$(abspath $(LIB)) HOOKBENCH_CERT=$(BUILD)/hookbench-cert/ec.pem \
	    HOOKBENCH_KEY=$(BUILD)/hookbench-cert/ec.key \
	    $(BUILD)/hookbench --rounds $(HOOKBENCH_ROUNDS) --scale $(HOOKBENCH_SCALE) \
	    | tee $(BUILD)/bench-hooks.txt
	@echo | tee -a $(BUILD)/bench-hooks.txt
	KTLS_SHIM_LIB=$(abspath $(LIB)) demo/bench/redis-passthrough.sh | tee -a $(BUILD)/bench-hooks.txt

# CPU per GB, throughput, handshakes: userspace vs native kTLS vs the shim;
# first the hook microbenchmark
bench: all bench-hooks
	demo/bench/bench.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the library (stripped, 0644),
# the tools (stripped), the man pages; make uninstall removes exactly those.
# PREFIX/bin/ktls-run finds PREFIX/lib/libktls-shim.so on its own.
PREFIX ?= /usr/local
STRIP ?= strip
VERSION := $(shell sed -n 's/^\#define KTLS_SHIM_VERSION "\(.*\)"$$/\1/p' shim/0-pure/version.h)
MAN1 := ktls-run.1 ktls-check.1 ktls-stats.1
MAN7 := ktls-shim.7
INSTALLED := $(PREFIX)/lib/libktls-shim.so $(PREFIX)/bin/ktls-run $(PREFIX)/bin/ktls-check $(PREFIX)/bin/ktls-stats \
             $(MAN1:%=$(PREFIX)/share/man/man1/%) $(MAN7:%=$(PREFIX)/share/man/man7/%)

install: $(LIB) $(TOOLS)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libktls-shim.so
	$(STRIP) --strip-unneeded $(DESTDIR)$(PREFIX)/lib/libktls-shim.so
	install -m 0755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	$(STRIP) $(TOOLS:$(BUILD)/%=$(DESTDIR)$(PREFIX)/bin/%)
	install -m 0644 $(MAN1:%=shim/man/%) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(MAN7:%=shim/man/%) $(DESTDIR)$(PREFIX)/share/man/man7/

uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)

version:
	@echo $(VERSION)

clean:
	rm -rf $(BUILD)

# ktls-shim: `make` builds the library, `make test` runs everything (the kTLS
# half inside a QEMU guest when this kernel has no kTLS), `make demo` shows it.
CC ?= cc
BUILD := build
WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
SHIM_CFLAGS := $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -Ishim
SHIM_LDFLAGS := -shared -Wl,--no-undefined -Wl,--version-script=shim/exports.map \
                -Wl,-z,relro -Wl,-z,now
SHIM_SRCS := $(wildcard shim/*.c)
SHIM_HDRS := $(wildcard shim/*.h)
SHIM_OBJS := $(patsubst shim/%.c,$(BUILD)/obj/%.o,$(SHIM_SRCS))
LIB := $(BUILD)/libktls-shim.so

UNIT_SRCS := $(wildcard tests/unit/*.c)
# everything but the interposers (hooks.c, files.c): the unit binary calls
# OpenSSL directly, and ossl.c finds it the way the library does
UNIT_SHIM := shim/keysched.c shim/crypto_info.c shim/config.c shim/keylog.c shim/stats_format.c \
             shim/kernel.c shim/log.c shim/libc.c shim/reason.c shim/recseq.c \
             shim/ossl.c shim/conn.c shim/fdmap.c shim/stats.c shim/offload.c shim/ktls_io.c \
             shim/tools/json_flat.c
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PROGS := $(BUILD)/tls_endpoint $(BUILD)/ossl_ktls_selftest $(BUILD)/sendfile_check \
         $(BUILD)/late_dlopen $(BUILD)/static_echo $(BUILD)/tls_proxy \
         $(BUILD)/tls_threads $(BUILD)/fd_reuse $(BUILD)/half_record $(BUILD)/hookbench
TOOLS := $(BUILD)/ktls-run $(BUILD)/ktls-check
TOOL_CFLAGS := $(WARN) $(CFLAGS) -Ishim -Ishim/tools

.PHONY: all test test-unit test-host test-vm demo bench bench-hooks clean install check-exports check-layers asan fuzz fuzz-build
ASAN_LIB := $(BUILD)/asan/libktls-shim.so
all: $(LIB) $(TOOLS) $(PROGS)

# One object per source: tests/check-layers.sh reads them one by one.
$(LIB): $(SHIM_OBJS) shim/exports.map | $(BUILD)
	$(CC) $(SHIM_CFLAGS) $(SHIM_OBJS) -o $@ $(SHIM_LDFLAGS) -ldl -lpthread

$(BUILD)/obj/%.o: shim/%.c $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c $< -o $@

# Operator tools: no OpenSSL at link time either (ktls-check dlopens it).
$(BUILD)/ktls-run: shim/tools/ktls-run.c shim/tools/json_flat.c shim/config.c $(SHIM_HDRS) shim/tools/json_flat.h | $(BUILD)
	$(CC) $(TOOL_CFLAGS) shim/tools/ktls-run.c shim/tools/json_flat.c shim/config.c -o $@ -lpthread

$(BUILD)/ktls-check: shim/tools/ktls-check.c shim/crypto_info.c $(SHIM_HDRS) | $(BUILD)
	$(CC) $(TOOL_CFLAGS) shim/tools/ktls-check.c shim/crypto_info.c -o $@ -ldl

# The library under ASan/UBSan for the guest subset (tests/78-sanitizers.bats):
# preload $$(cc -print-file-name=libasan.so) first, then this.
asan: $(ASAN_LIB)
$(ASAN_LIB): $(SHIM_SRCS) $(SHIM_HDRS) shim/exports.map
	mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -O1 $(SAN) $(SHIM_SRCS) -o $@ $(SHIM_LDFLAGS) -ldl -lpthread

# libFuzzer targets (tests/fuzz/): every parser the shim has. `make fuzz` runs
# each for FUZZ_SECONDS; `make test` runs them briefly (tests/run-all.sh).
FUZZ_CC := clang-14
FUZZ_CFLAGS := $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ishim
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := $(BUILD)/fuzz/fuzz_config $(BUILD)/fuzz/fuzz_keylog $(BUILD)/fuzz/fuzz_record
FUZZ_SRCS_config := shim/config.c
FUZZ_SRCS_keylog := shim/keylog.c shim/keysched.c
FUZZ_SRCS_record := shim/ktls_io.c shim/crypto_info.c shim/config.c shim/log.c tests/fuzz/fake_ossl.c \
                    shim/stats.c shim/stats_format.c shim/libc.c tests/fuzz/stub_stats_kernel.c \
                    shim/conn.c shim/fdmap.c shim/keylog.c shim/keysched.c shim/reason.c shim/recseq.c
fuzz-build: $(FUZZ_TARGETS)
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)
.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(SHIM_HDRS)
	mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_SRCS_$*) -o $@ -lssl -lcrypto -lpthread

$(BUILD)/%: tests/progs/%.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -lssl -lcrypto -lpthread

# no link-time OpenSSL: it loads libssl twice itself (dlopen, dlmopen)
$(BUILD)/hookbench: tests/progs/hookbench.c tests/progs/loopback.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -ldl -lm

# no link-time OpenSSL: it dlopens libssl itself
$(BUILD)/late_dlopen: tests/progs/late_dlopen.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -ldl

$(BUILD)/static_echo: tests/progs/static_echo.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -static $< -o $@

$(BUILD)/unit_tests: $(UNIT_SRCS) $(UNIT_SHIM) $(SHIM_HDRS) $(wildcard tests/unit/*.h) | $(BUILD)
	$(CC) $(WARN) -g -O1 $(SAN) -Ishim -Ishim/tools $(UNIT_SRCS) $(UNIT_SHIM) -o $@ -lssl -lcrypto -lpthread -ldl

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

test-host: all check-exports test-unit
	tests/run-bats.sh host

test-vm: all
	tests/run-bats.sh vm

test: all asan check-exports
	tests/run-all.sh

demo: all
	demo/run.sh

# What the hooks cost a connection they pass through, per call, measured in
# one process (shim vs the same OpenSSL loaded apart, paired rounds, A/A
# control, verdict); tests/progs/hookbench.c. Results: build/bench-hooks.txt
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

# CPU per GB, throughput, handshakes: userspace vs native kTLS vs the shim;
# first the hook microbenchmark
bench: all bench-hooks
	demo/bench/bench.sh

# PREFIX/bin/ktls-run finds PREFIX/lib/libktls-shim.so on its own.
install: $(LIB) $(TOOLS)
	install -D -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libktls-shim.so
	install -D -m 0755 $(BUILD)/ktls-run $(DESTDIR)$(PREFIX)/bin/ktls-run
	install -D -m 0755 $(BUILD)/ktls-check $(DESTDIR)$(PREFIX)/bin/ktls-check

PREFIX ?= /usr/local

clean:
	rm -rf $(BUILD)

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
LIB := $(BUILD)/libktls-shim.so

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_SHIM := shim/keysched.c shim/crypto_info.c shim/config.c shim/stats_format.c shim/tools/json_flat.c
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PROGS := $(BUILD)/tls_endpoint $(BUILD)/ossl_ktls_selftest $(BUILD)/sendfile_check
TOOLS := $(BUILD)/ktls-run $(BUILD)/ktls-check
TOOL_CFLAGS := $(WARN) $(CFLAGS) -Ishim -Ishim/tools

.PHONY: all test test-unit test-host test-vm demo clean install check-exports
all: $(LIB) $(TOOLS) $(PROGS)

$(LIB): $(SHIM_SRCS) $(SHIM_HDRS) shim/exports.map | $(BUILD)
	$(CC) $(SHIM_CFLAGS) $(SHIM_SRCS) -o $@ $(SHIM_LDFLAGS) -ldl -lpthread

# Operator tools: no OpenSSL at link time either (ktls-check dlopens it).
$(BUILD)/ktls-run: shim/tools/ktls-run.c shim/tools/json_flat.c shim/config.c $(SHIM_HDRS) shim/tools/json_flat.h | $(BUILD)
	$(CC) $(TOOL_CFLAGS) shim/tools/ktls-run.c shim/tools/json_flat.c shim/config.c -o $@ -lpthread

$(BUILD)/ktls-check: shim/tools/ktls-check.c shim/crypto_info.c $(SHIM_HDRS) | $(BUILD)
	$(CC) $(TOOL_CFLAGS) shim/tools/ktls-check.c shim/crypto_info.c -o $@ -ldl

$(BUILD)/%: tests/progs/%.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -lssl -lcrypto -lpthread

$(BUILD)/unit_tests: $(UNIT_SRCS) $(UNIT_SHIM) $(SHIM_HDRS) | $(BUILD)
	$(CC) $(WARN) -g -O1 $(SAN) -Ishim -Ishim/tools $(UNIT_SRCS) $(UNIT_SHIM) -o $@ -lcrypto -lpthread

$(BUILD):
	mkdir -p $@

# The library must not pull OpenSSL in, and must export only the interposers.
check-exports: $(LIB)
	@tests/check-exports.sh $(LIB)

test-unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

test-host: all check-exports test-unit
	tests/run-bats.sh host

test-vm: all
	tests/run-bats.sh vm

test: all check-exports
	tests/run-all.sh

demo: all
	demo/run.sh

# PREFIX/bin/ktls-run finds PREFIX/lib/libktls-shim.so on its own.
install: $(LIB) $(TOOLS)
	install -D -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libktls-shim.so
	install -D -m 0755 $(BUILD)/ktls-run $(DESTDIR)$(PREFIX)/bin/ktls-run
	install -D -m 0755 $(BUILD)/ktls-check $(DESTDIR)$(PREFIX)/bin/ktls-check

PREFIX ?= /usr/local

clean:
	rm -rf $(BUILD)

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
UNIT_SHIM := shim/keysched.c shim/crypto_info.c shim/config.c
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PROGS := $(BUILD)/tls_endpoint $(BUILD)/ossl_ktls_selftest $(BUILD)/sendfile_check

.PHONY: all test test-unit test-host test-vm demo bench clean install check-exports
all: $(LIB) $(PROGS)

$(LIB): $(SHIM_SRCS) $(SHIM_HDRS) shim/exports.map | $(BUILD)
	$(CC) $(SHIM_CFLAGS) $(SHIM_SRCS) -o $@ $(SHIM_LDFLAGS) -ldl -lpthread

$(BUILD)/%: tests/progs/%.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $< -o $@ -lssl -lcrypto -lpthread

$(BUILD)/unit_tests: $(UNIT_SRCS) $(UNIT_SHIM) $(SHIM_HDRS) | $(BUILD)
	$(CC) $(WARN) -g -O1 $(SAN) -Ishim $(UNIT_SRCS) $(UNIT_SHIM) -o $@ -lcrypto -lpthread

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

# CPU per GB, throughput, handshakes: userspace vs native kTLS vs the shim
bench: all
	demo/bench/bench.sh

install: $(LIB)
	install -D -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libktls-shim.so

PREFIX ?= /usr/local

clean:
	rm -rf $(BUILD)

#!/usr/bin/env bats
# Inertness, compared output for output with the same command run without the
# shim: shell pipelines, make driving a compiler, a python3 -c that uses
# libcrypto and the ssl module without a socket, a statically linked binary,
# a program that dlopens libssl only after it has started, and two OpenSSLs
# (1.1.1w and 3.0) in one process.

load helpers

# same COMMAND...: stdout, stderr and exit status identical with and without
same() {
    local want got
    want=$("$@" 2>"$BATS_TEST_TMPDIR/want.err"; echo "rc=$?")
    got=$(shimmed "$@" 2>"$BATS_TEST_TMPDIR/got.err"; echo "rc=$?")
    echo "without: $want"
    echo "with:    $got"
    [[ "$want" == "$got" ]]
    diff "$BATS_TEST_TMPDIR/want.err" "$BATS_TEST_TMPDIR/got.err"
}

@test "sh: pipelines, redirections, stderr and exit codes are unchanged" {
    same sh -c 'printf "b\na\n" | sort | tr a-z A-Z; echo err >&2; (exit 5); echo "sub=$?"; exit 3'
}

@test "make driving cc: same output and a byte-identical binary" {
    requires cc
    local d=$BATS_TEST_TMPDIR
    mkdir -p "$d/a" "$d/b"
    for dir in "$d/a" "$d/b"; do
        printf 'int main(void) { return 0; }\n' >"$dir/p.c"
        printf 'p: p.c\n\tcc -O1 -o p p.c\n\t@echo built\n' >"$dir/Makefile"
    done
    local want got
    want=$(make -C "$d/a" 2>&1 | sed "s#$d/a#DIR#g"; echo "rc=$?")
    got=$(shimmed make -C "$d/b" 2>&1 | sed "s#$d/b#DIR#g"; echo "rc=$?")
    [[ "$want" == "$got" ]]
    cmp "$d/a/p" "$d/b/p"
}

@test "python3 -c with hashlib, the ssl module over memory BIOs and a subprocess: identical" {
    same python3 -c '
import hashlib, ssl, subprocess, sys
print(hashlib.sha256(b"abc").hexdigest(), hashlib.blake2b(b"x").hexdigest()[:16])
c = ssl.create_default_context()
o = c.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="x")
try:
    o.do_handshake()
except ssl.SSLWantReadError:
    print("want read")
print(subprocess.run(["sh", "-c", "echo child; exit 2"], capture_output=True).stdout, file=sys.stderr)
sys.exit(4)'
}

@test "a statically linked binary: same output and exit status" {
    run file "$REPO/build/static_echo"
    [[ "$output" == *"statically linked"* ]]
    same "$REPO/build/static_echo" one two three
}

# late_exchange [--global]: one TLS exchange by late_dlopen against an
# unshimmed server, with and without the shim.
late_exchange() {
    local mode=${1:-} runs=()
    for runner in env shimmed; do
        SERVER_PLAIN=1 start_peer_server --expect 40000 --send 40000
        runs+=("$($runner "$REPO/build/late_dlopen" "$SERVER_PORT" $mode)")
        wait_server
        echo "$runner: ${runs[-1]} / $SERVER_RESULT"
        [[ "$(field error "$SERVER_RESULT")" == none ]]
    done
    WITHOUT=${runs[0]} WITH=${runs[1]}
    [[ "$WITHOUT" == "LATE sent=40000 received=40000 "*" tls_tx=0 tls_rx=0" ]]
    # the bytes are the same either way
    [[ "$(field fnv "$WITHOUT")" == "$(field fnv "$WITH")" && "$(field received "$WITH")" == 40000 ]]
}

@test "late dlopen, functions from the libssl handle: the preload is bypassed, nothing changes" {
    late_exchange
    [[ "$WITH" == "$WITHOUT" ]]
}

@test "late dlopen RTLD_GLOBAL, functions from the global scope: the shim resolves OpenSSL late and works" {
    late_exchange --global
    if have_ktls; then
        [[ "$WITH" == *" tls_tx=1 tls_rx=1" ]]
    else
        [[ "$WITH" == "$WITHOUT" ]]
    fi
}

# The programs built against OpenSSL 1.1.1w (tests/matrix/build-progs.sh;
# `make test` builds them in the background and this waits for that build).
# The guest cannot build: the host run made them.
with_111_programs() {
    OTHER_DIR=$REPO/build/ossl-1.1.1w
    if [[ ${KTLS_IN_GUEST:-0} == 1 ]]; then
        [[ -x $OTHER_DIR/two_openssl ]] || {
            echo "no $OTHER_DIR/two_openssl: the host builds it (make test, make test-vm)"
            return 1
        }
    else
        OTHER_DIR=$("$REPO/tests/matrix/build-progs.sh" 1.1.1w)
    fi
}

# two_openssls MAIN PLUGIN: MAIN's OpenSSL is the one the shim serves (the
# process's global libssl); PLUGIN brings another, RTLD_LOCAL. The same
# bytes arrive with and without the shim; in a kTLS guest the served
# library's connections move both directions and the plugin's stay put.
two_openssls() {
    local main=$1 plugin=$2 without with
    without=$("$main" "$plugin")
    with=$(KTLS_SHIM_LOG=info shimmed "$main" "$plugin" 2>"$BATS_TEST_TMPDIR/shim.err")
    echo "without:"$'\n'"$without"$'\n'"with:"$'\n'"$with"
    cat "$BATS_TEST_TMPDIR/shim.err"
    [[ $(grep -c '^MAIN .* ok=1 ' <<<"$with") == 2 && $(grep -c '^PLUGIN .* ok=1 ' <<<"$with") == 1 ]]
    # each library saw only its own objects: the versions are the two builds'
    [[ "$(grep -m1 '^MAIN' <<<"$with" | cut -d' ' -f2)" == "$(grep -m1 '^MAIN' <<<"$without" | cut -d' ' -f2)" ]]
    [[ "$(grep '^PLUGIN' <<<"$with" | cut -d' ' -f2)" == "$(grep '^PLUGIN' <<<"$without" | cut -d' ' -f2)" ]]
    [[ "$(grep -o 'fnv=[0-9a-f]*' <<<"$with" | sort -u)" == "$(grep -o 'fnv=[0-9a-f]*' <<<"$without" | sort -u)" ]]
    grep -q 'a second OpenSSL in this process' "$BATS_TEST_TMPDIR/shim.err"
    grep '^PLUGIN' <<<"$with" | grep -q 'server_tx=0 server_rx=0 client_tx=0 client_rx=0'
    if have_ktls; then
        [[ $(grep -c '^MAIN .*server_tx=1 server_rx=1 client_tx=1 client_rx=1' <<<"$with") == 2 ]]
    fi
}

@test "two OpenSSLs in one process: a 3.0 program with a 1.1.1w plugin; each library gets only its own objects" {
    with_111_programs
    two_openssls "$REPO/build/two_openssl" "$OTHER_DIR/other_openssl.so"
}

@test "two OpenSSLs in one process: a 1.1.1w program with a 3.0 plugin; a probe for SSL_sendfile gets ENOSYS, not an abort" {
    with_111_programs
    two_openssls "$OTHER_DIR/two_openssl" "$REPO/build/other_openssl.so"
    [[ "$("$OTHER_DIR/two_openssl" "$REPO/build/other_openssl.so" | grep '^PROBE')" == "PROBE found=0 rc=0 errno=0" ]]
    [[ "$(shimmed "$OTHER_DIR/two_openssl" "$REPO/build/other_openssl.so" 2>/dev/null | grep '^PROBE')" == "PROBE found=1 rc=-1 errno=ENOSYS" ]]
}

# every process that inherits LD_PRELOAD maps the library: its initialised
# data is what each one carries (two descriptor tables of 512 KiB sat there)
@test "the library carries under 64 KiB of initialised data (writable .data and .data.rel.ro)" {
    host_only && return 0
    local bytes
    bytes=$(size -A "$SHIM" | awk '$1 ~ /^\.data/ { sum += $2 } END { print sum + 0 }')
    echo "initialised data: $bytes bytes"
    [[ $bytes -gt 0 && $bytes -lt 65536 ]]
}

#!/usr/bin/env bats
# LD_PRELOAD is inherited by every child: the library must load into anything
# and change nothing where there is no OpenSSL or nothing to offload.

load helpers

@test "no DT_NEEDED on libssl/libcrypto, only interposers exported" {
    run "$REPO/tests/check-exports.sh" "$SHIM"
    echo "$output"
    [[ $status == 0 ]]
}

@test "sh, make, python3 and env behave exactly as without the shim" {
    local want got
    want=$(sh -c 'echo a; exit 3'; echo "rc=$?")
    got=$(shimmed sh -c 'echo a; exit 3'; echo "rc=$?")
    [[ "$want" == "$got" ]]
    want=$(python3 -c 'import sys; print(sys.version_info[:2]); sys.exit(4)'; echo "rc=$?")
    got=$(shimmed python3 -c 'import sys; print(sys.version_info[:2]); sys.exit(4)'; echo "rc=$?")
    [[ "$want" == "$got" ]]
    printf 'all:\n\t@echo made\n' >"$BATS_TEST_TMPDIR/Makefile"
    got=$(shimmed make -s -C "$BATS_TEST_TMPDIR" 2>&1)
    [[ "$got" == made ]]
    run shimmed env
    [[ $status == 0 ]]
}

@test "python3 ssl module loads libssl late (dlopen) and still works" {
    run shimmed python3 -c 'import ssl; print(ssl.OPENSSL_VERSION)'
    echo "$output"
    [[ $status == 0 && "$output" == OpenSSL* ]]
}

@test "a statically linked binary ignores the preload" {
    requires busybox
    run shimmed busybox echo static-ok
    [[ $status == 0 && "$output" == static-ok ]]
}

@test "KTLS_SHIM=0 is pure passthrough, even on a kTLS kernel" {
    local before
    before=$(tls_counters)
    KTLS_SHIM=0 peer_exchange "--expect 65536 --send 65536" "--send 65536 --expect 65536"
    assert_intact
    [[ "$(field ktls_tx "$SERVER_RESULT")" == 0 && "$(field ktls_rx "$CLIENT_RESULT")" == 0 ]]
    assert_counters_rose "$before" 0 0
}

@test "bad knob values get one clear line and the safe default" {
    run env KTLS_SHIM_MODE=sideways KTLS_SHIM_LOG=loud LD_PRELOAD="$SHIM" python3 -c 'import ssl; ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())'
    echo "$output"
    [[ $status == 0 ]]
    [[ "$output" == *'KTLS_SHIM_MODE="sideways" is not valid'* ]]
    [[ "$output" == *'KTLS_SHIM_LOG="loud" is not valid'* ]]
    [[ $(grep -c 'ktls-shim' <<<"$output") == 2 ]]
}

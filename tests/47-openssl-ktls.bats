#!/usr/bin/env bats
# A program that turns on OpenSSL's own kTLS (SSL_OP_ENABLE_KTLS, or
# `Options = KTLS` in its config, as lighttpd does) keeps OpenSSL's offload
# under the shim: the shim steps aside for each direction OpenSSL moved, with
# the reason openssl-ktls, and SSL_sendfile stays OpenSSL's zero-copy path.
# OpenSSL 3.0 moves TLS 1.3 TX only (3.2+ RX too): there the shim moves RX
# itself, next to OpenSSL's TX. 1.1.1 has no kTLS of its own (the programs
# refuse the option). Part of the matrix's core set: it runs against every
# OpenSSL of the matrix.

load helpers

setup_file() {
    make_cert "$BATS_FILE_TMPDIR"
}

# OpenSSL's own RX for TLS 1.3 came with 3.2 (ssl/record/methods/ktls_meth.c)
openssl_moves_tls13_rx() {
    [[ $("$OPENSSL_BIN" version | awk '{print $2}') > 3.2 ]]
}

own_ktls() { # VARIANT
    local variant=$1 k want_rx
    k=$(want_kernel "$variant")
    if ossl_111; then
        run shimmed "$PEER" server --port 0 $(variant_args "$variant") --ossl-ktls
        echo "$output"
        [[ $status == 2 && "$output" == *"needs OpenSSL 3.0 or later"* ]]
        return 0
    fi
    # RX: OpenSSL's own, or (TLS 1.3 before 3.2) the shim's beside OpenSSL's TX
    local rx_by=openssl
    [[ $variant == 13_* ]] && ! openssl_moves_tls13_rx && rx_by=shim
    KTLS_SHIM_LOG=info peer_exchange \
        "$(variant_args "$variant") --cert $BATS_FILE_TMPDIR/cert.pem --key $BATS_FILE_TMPDIR/key.pem --ossl-ktls --expect 262144 --send 262144" \
        "$(variant_args "$variant") --ossl-ktls --send 262144 --expect 262144"
    assert_intact
    # both directions of both sides in the kernel...
    assert_offload server "$k" "$k"
    assert_offload client "$k" "$k"
    [[ $k == 1 ]] || return 0
    # ...TX always OpenSSL's, the shim said so; RX as above
    local side
    for side in server client; do
        grep -q 'tx stays in OpenSSL: openssl-ktls' "$BATS_TEST_TMPDIR/$side.err"
        if [[ $rx_by == shim ]]; then
            grep -qE "$side rx: kernel \(seq [0-9]+\)" "$BATS_TEST_TMPDIR/$side.err"
        else
            grep -q 'rx stays in OpenSSL: openssl-ktls' "$BATS_TEST_TMPDIR/$side.err"
        fi
    done
}

@test "12_aes_256_gcm: OpenSSL's own kTLS is kept (openssl-ktls), its offload intact" { own_ktls 12_AES_256_GCM; }
@test "13_aes_128_gcm: OpenSSL's own kTLS is kept (openssl-ktls); where it moves TX only, the shim moves RX; bytes intact" { own_ktls 13_AES_128_GCM; }
@test "13_chacha: OpenSSL's own kTLS is kept (openssl-ktls); where it moves TX only, the shim moves RX; bytes intact" { own_ktls 13_CHACHA; }

@test "13: SSL_sendfile under OpenSSL's own kTLS stays OpenSSL's zero-copy path, never the shim's emulation" {
    if ossl_111; then
        run shimmed "$PROGS_DIR/sendfile_check" 1.3 --ossl-ktls
        echo "$output"
        [[ $status == 2 ]]
        return 0
    fi
    KTLS_SHIM_STATS=$BATS_TEST_TMPDIR/stats KTLS_SHIM_STATS_INTERVAL=0 run shimmed "$PROGS_DIR/sendfile_check" 1.3 --ossl-ktls
    echo "$output"
    [[ $status == 0 ]]
    local k
    k=$(want_kernel 13_aes_128_gcm)
    [[ $k == 0 ]] || [[ "$output" == *"kernel TX: real sendfile"* ]]
    # with the kernel: the shim neither emulated nor made the sendfile,
    # OpenSSL's SSL_sendfile did; without it OpenSSL has no kTLS to send the
    # file with, and the shim serves it through SSL_write
    python3 - "$BATS_TEST_TMPDIR" "$k" <<'PY'
import glob, json, sys
files = glob.glob(sys.argv[1] + "/stats.*.json")
assert len(files) == 1, files
b = json.load(open(files[0]))["arms"]["offload"]["bytes"]
print("shim bytes:", b)
assert b["kernel_sendfile"] == 0, b
assert (b["emulated_sendfile"] == 0) == (sys.argv[2] == "1"), b
PY
}

#!/usr/bin/env bats
# A program that turns on OpenSSL's own kTLS (SSL_OP_ENABLE_KTLS, or
# `Options = KTLS` in its config) keeps OpenSSL's offload under the shim: the
# shim steps aside with the reason openssl-ktls, and SSL_sendfile stays
# OpenSSL's zero-copy path. OpenSSL 3.0 moves TLS 1.3 TX only, 3.2+ RX too;
# 1.1.1 has no kTLS of its own (the programs refuse the option). Part of the
# matrix's core set: it runs against every OpenSSL of the matrix.

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
    want_rx=$k
    [[ $variant == 13_* ]] && ! openssl_moves_tls13_rx && want_rx=0
    KTLS_SHIM_LOG=info peer_exchange \
        "$(variant_args "$variant") --cert $BATS_FILE_TMPDIR/cert.pem --key $BATS_FILE_TMPDIR/key.pem --ossl-ktls --expect 262144 --send 262144" \
        "$(variant_args "$variant") --ossl-ktls --send 262144 --expect 262144"
    assert_intact
    # the kernel has what OpenSSL itself moved, on both sides...
    assert_offload server "$k" "$want_rx"
    assert_offload client "$k" "$want_rx"
    # ...and the shim said why it kept out
    if [[ $k == 1 ]]; then
        grep -q 'tx stays in OpenSSL: openssl-ktls' "$BATS_TEST_TMPDIR/server.err"
        grep -q 'tx stays in OpenSSL: openssl-ktls' "$BATS_TEST_TMPDIR/client.err"
    fi
}

@test "12_aes_256_gcm: OpenSSL's own kTLS is kept (openssl-ktls), its offload intact" { own_ktls 12_AES_256_GCM; }
@test "13_aes_128_gcm: OpenSSL's own kTLS is kept (openssl-ktls), its offload intact" { own_ktls 13_AES_128_GCM; }

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

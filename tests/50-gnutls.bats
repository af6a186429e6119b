#!/usr/bin/env bats
# An un-shimmed GnuTLS peer proves the kernel's records are real TLS: a
# shimmed OpenSSL client against gnutls-serv, and gnutls-cli against a shimmed
# OpenSSL server, over the version x cipher matrix.

load helpers

MIB=262144 # enough records to prove the wire format; TCG makes GnuTLS slow

setup_file() {
    make_cert "$BATS_FILE_TMPDIR"
}

setup() {
    requires gnutls-serv gnutls-cli
}

teardown() {
    [[ -n "${GSRV_PID:-}" ]] && kill "$GSRV_PID" 2>/dev/null || true
}

gnutls_priority() { # VERSION
    echo "NORMAL:-VERS-ALL:+VERS-TLS$1"
}

client_vs_gnutls_serv() {
    local variant=$1 spec var="MATRIX_$1" before port rc=0
    spec=${!var}
    port=$(free_port)
    gnutls-serv --echo --port "$port" --priority "$(gnutls_priority "${spec%% *}")" \
        --x509certfile "$BATS_FILE_TMPDIR/cert.pem" --x509keyfile "$BATS_FILE_TMPDIR/key.pem" \
        >"$BATS_TEST_TMPDIR/gnutls-serv.out" 2>&1 &
    GSRV_PID=$!
    wait_port "$port"
    before=$(tls_counters)
    CLIENT_RESULT=$(shimmed "$PEER" client --port "$port" $(variant_args "$variant") \
        --text --send $MIB --expect $MIB 2>"$BATS_TEST_TMPDIR/client.err" | grep '^RESULT') || rc=$?
    echo "client: $CLIENT_RESULT"
    cat "$BATS_TEST_TMPDIR/client.err"
    [[ $rc == 0 ]]
    [[ "$(field error "$CLIENT_RESULT")" == none ]]
    [[ "$(field received "$CLIENT_RESULT")" == $MIB ]]
    [[ "$(field sent_sha256 "$CLIENT_RESULT")" == "$(field received_sha256 "$CLIENT_RESULT")" ]]
    assert_offload client 1 1
    assert_counters_rose "$before" 1 1
}

gnutls_cli_vs_server() {
    local variant=$1 spec var="MATRIX_$1" before rc=0
    spec=${!var}
    head -c $MIB /dev/urandom >"$BATS_TEST_TMPDIR/up.bin" # gnutls-cli passes binary stdin as is
    before=$(tls_counters)
    start_peer_server $(variant_args "$variant") --echo --cert "$BATS_FILE_TMPDIR/cert.pem" \
        --key "$BATS_FILE_TMPDIR/key.pem"
    # keep gnutls-cli's stdin open until the server is done, so it reads every echo
    { cat "$BATS_TEST_TMPDIR/up.bin"; while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 0.2; done; } \
        | timeout 300 gnutls-cli --insecure --port "$SERVER_PORT" --priority "$(gnutls_priority "${spec%% *}")" \
            --logfile "$BATS_TEST_TMPDIR/gnutls-cli.log" 127.0.0.1 >"$BATS_TEST_TMPDIR/down.bin" &
    local cli=$!
    # the echo server stops at the client's close: close once all bytes are back
    local i
    for i in $(seq 1 3000); do
        [[ $(stat -c %s "$BATS_TEST_TMPDIR/down.bin") -ge $MIB ]] && break
        sleep 0.1
    done
    kill "$cli" 2>/dev/null || true
    pkill -f "gnutls-cli --insecure --port $SERVER_PORT" 2>/dev/null || true
    wait_server || rc=$?
    echo "server: $SERVER_RESULT"
    cmp "$BATS_TEST_TMPDIR/up.bin" "$BATS_TEST_TMPDIR/down.bin"
    [[ "$(field received "$SERVER_RESULT")" == $MIB ]]
    [[ "$(field sent "$SERVER_RESULT")" == $MIB ]]
    assert_offload server 1 1
    assert_counters_rose "$before" 1 1
}

@test "12_aes_128_gcm: shimmed OpenSSL client <-> gnutls-serv --echo, 256 KiB intact" { client_vs_gnutls_serv 12_AES_128_GCM; }
@test "12_aes_256_gcm: shimmed OpenSSL client <-> gnutls-serv --echo, 256 KiB intact" { client_vs_gnutls_serv 12_AES_256_GCM; }
@test "12_chacha: shimmed OpenSSL client <-> gnutls-serv --echo, 256 KiB intact" { client_vs_gnutls_serv 12_CHACHA; }
@test "13_aes_128_gcm: shimmed OpenSSL client <-> gnutls-serv --echo, 256 KiB intact" { client_vs_gnutls_serv 13_AES_128_GCM; }
@test "13_aes_256_gcm: shimmed OpenSSL client <-> gnutls-serv --echo, 256 KiB intact" { client_vs_gnutls_serv 13_AES_256_GCM; }
@test "13_chacha: shimmed OpenSSL client <-> gnutls-serv --echo, 256 KiB intact" { client_vs_gnutls_serv 13_CHACHA; }

@test "12_aes_128_gcm: gnutls-cli <-> shimmed OpenSSL echo server, 256 KiB intact" { gnutls_cli_vs_server 12_AES_128_GCM; }
@test "12_chacha: gnutls-cli <-> shimmed OpenSSL echo server, 256 KiB intact" { gnutls_cli_vs_server 12_CHACHA; }
@test "13_aes_256_gcm: gnutls-cli <-> shimmed OpenSSL echo server, 256 KiB intact" { gnutls_cli_vs_server 13_AES_256_GCM; }
@test "13_chacha: gnutls-cli <-> shimmed OpenSSL echo server, 256 KiB intact" { gnutls_cli_vs_server 13_CHACHA; }

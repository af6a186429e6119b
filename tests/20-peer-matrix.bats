#!/usr/bin/env bats
# Both ends shimmed (tls_endpoint, a plain OpenSSL program): every version x cipher
# variant must carry 1 MiB each way intact, with both directions in the kernel
# on a kTLS kernel (exact TlsTxSw/TlsRxSw deltas), and unchanged on the host.
# Where the kernel has no kTLS for a cipher (5.10: no ChaCha20-Poly1305), each
# direction must fall back with the kernel's reason and the bytes stay intact.
# Part of the matrix's core set (tests/matrix/core.list): it runs against
# every OpenSSL of the matrix (KTLS_OSSL) with KTLS_PAYLOAD bytes.

load helpers

MIB=${KTLS_PAYLOAD:-1048576}

setup_file() {
    # one RSA identity per file: a key generated per server costs seconds
    # under the guest's emulated CPU
    make_cert "$BATS_FILE_TMPDIR"
}

# the server's identity, for the ECDHE-RSA suites of the matrix
IDENTITY() { echo "--cert $BATS_FILE_TMPDIR/cert.pem --key $BATS_FILE_TMPDIR/key.pem"; }

# A shimmed side that could not move a direction must say why, in its log.
assert_kernel_refused() { # STDERR-FILE
    grep -q 'tx stays in OpenSSL: setsockopt TLS_TX failed' "$1"
    grep -q 'rx stays in OpenSSL: setsockopt TLS_RX failed' "$1"
}

exchange_both_ways() {
    local variant=$1 extra_server=${2:-} extra_client=${3:-} size=${SIZE:-$MIB} before k
    k=$(want_kernel "$variant")
    before=$(tls_counters)
    KTLS_SHIM_LOG=info peer_exchange "$(variant_args "$variant") $(IDENTITY) --expect $size --send $size $extra_server" \
                  "$(variant_args "$variant") --send $size --expect $size $extra_client"
    assert_intact
    [[ "$(field received "$SERVER_RESULT")" == "$size" ]]
    assert_offload server "$k" "$k"
    assert_offload client "$k" "$k"
    assert_counters_rose "$before" $((2 * k)) $((2 * k))
    if have_ktls && [[ $k == 0 ]]; then
        assert_kernel_refused "$BATS_TEST_TMPDIR/server.err"
        assert_kernel_refused "$BATS_TEST_TMPDIR/client.err"
    fi
    # what happened, for the matrix's compatibility table (tests/matrix/run.sh)
    [[ -n $extra_server$extra_client ]] || echo "# offload $variant $(offload_words server) $(offload_words client)" >&3
}

# SIDE -> "SIDE:tx=kernel,rx=kernel", or "openssl(REASON)" for a direction
# that stayed, with the reason its log gave
offload_words() {
    local side=$1 result dir out=$1: r
    result=$([[ $side == server ]] && echo "$SERVER_RESULT" || echo "$CLIENT_RESULT")
    for dir in tx rx; do
        if [[ "$(field "ktls_$dir" "$result")" == 1 ]]; then
            out+="$dir=kernel,"
        else
            r=$(sed -n "s/.* $dir stays in OpenSSL: //p" "$BATS_TEST_TMPDIR/$side.err" | head -n1)
            out+="$dir=openssl(${r// /%}),"
        fi
    done
    echo "${out%,}"
}

@test "12_aes_128_gcm: 1 MiB (KTLS_PAYLOAD) each way intact, both directions offloaded on both sides" { exchange_both_ways 12_AES_128_GCM; }
@test "12_aes_256_gcm: 1 MiB (KTLS_PAYLOAD) each way intact, both directions offloaded on both sides" { exchange_both_ways 12_AES_256_GCM; }
@test "12_chacha: 1 MiB (KTLS_PAYLOAD) each way intact, both directions offloaded on both sides" { exchange_both_ways 12_CHACHA; }
@test "13_aes_128_gcm: 1 MiB (KTLS_PAYLOAD) each way intact, both directions offloaded on both sides" { exchange_both_ways 13_AES_128_GCM; }
@test "13_aes_256_gcm: 1 MiB (KTLS_PAYLOAD) each way intact, both directions offloaded on both sides" { exchange_both_ways 13_AES_256_GCM; }
@test "13_chacha: 1 MiB (KTLS_PAYLOAD) each way intact, both directions offloaded on both sides" { exchange_both_ways 13_CHACHA; }

@test "12_aes_128_gcm: non-blocking sockets, SSL_read_ex/SSL_write_ex" {
    exchange_both_ways 12_AES_128_GCM "--nonblock --api ex" "--nonblock --api ex"
}
@test "13_chacha: non-blocking sockets, SSL_read_ex/SSL_write_ex" {
    exchange_both_ways 13_CHACHA "--nonblock --api ex" "--nonblock --api ex"
}
@test "13_aes_256_gcm: implicit handshake inside SSL_write/SSL_read" {
    exchange_both_ways 13_AES_256_GCM "--implicit" "--implicit"
}
@test "12_aes_256_gcm: implicit handshake inside SSL_write/SSL_read" {
    exchange_both_ways 12_AES_256_GCM "--implicit" "--implicit"
}
# Two connections: a full handshake, then one resuming its session (TLS 1.3:
# a PSK from the ticket the client read with its data; TLS 1.2: the session
# ID or ticket); the resumed one must reach the kernel too, both ways.
resumed() {
    local variant=$1 size=65536 before k line
    k=$(want_kernel "$variant")
    before=$(tls_counters)
    peer_exchange "$(variant_args "$variant") $(IDENTITY) --conns 2 --expect $size --send $size" \
                  "$(variant_args "$variant") --conns 2 --send $size --expect $size"
    assert_intact
    [[ "$(grep -c '^RESULT .* reused=0\( \|$\)' "$SERVER_OUT")" == 1 ]]
    [[ "$(grep -c '^RESULT .* reused=1\( \|$\)' "$SERVER_OUT")" == 1 ]]
    [[ "$(field reused "$CLIENT_RESULT")" == 1 ]]
    while read -r line; do
        [[ "$(field error "$line")" == none && "$(field received "$line")" == "$size" ]]
        [[ "$(field ktls_tx "$line")" == "$(have_ktls && echo "$k" || echo 0)" ]]
        [[ "$(field ktls_rx "$line")" == "$(have_ktls && echo "$k" || echo 0)" ]]
    done < <(grep '^RESULT ' "$SERVER_OUT")
    assert_counters_rose "$before" $((4 * k)) $((4 * k))
}

@test "13_aes_128_gcm: a resumed session (PSK) is offloaded both ways like the first" { resumed 13_AES_128_GCM; }
@test "12_aes_256_gcm: a resumed session is offloaded both ways like the first" { resumed 12_AES_256_GCM; }

@test "13_aes_128_gcm: partial writes, small odd reads, peek before read" {
    SIZE=65536 exchange_both_ways 13_AES_128_GCM "--partial --chunk 70000 --read-chunk 1000 --peek" \
                                                 "--partial --chunk 333 --read-chunk 7777 --peek"
}
@test "12_chacha: partial writes, small odd reads, peek before read" {
    SIZE=65536 exchange_both_ways 12_CHACHA "--partial --chunk 70000 --read-chunk 1000 --peek" \
                                            "--chunk 5000 --read-chunk 13 --peek"
}

@test "KTLS_SHIM_MODE=tx offloads only TX, RX stays in OpenSSL, bytes intact" {
    local before
    before=$(tls_counters)
    KTLS_SHIM_MODE=tx peer_exchange "$(variant_args 13_AES_128_GCM) $(IDENTITY) --expect $MIB --send $MIB" \
                                    "$(variant_args 13_AES_128_GCM) --send $MIB --expect $MIB"
    assert_intact
    assert_offload server 1 0
    assert_offload client 1 0
    assert_counters_rose "$before" 2 0
}

@test "KTLS_SHIM_MODE=rx offloads only RX, TX stays in OpenSSL, bytes intact" {
    local before
    before=$(tls_counters)
    KTLS_SHIM_MODE=rx peer_exchange "$(variant_args 12_AES_256_GCM) $(IDENTITY) --expect $MIB --send $MIB" \
                                    "$(variant_args 12_AES_256_GCM) --send $MIB --expect $MIB"
    assert_intact
    assert_offload server 0 1
    assert_offload client 0 1
    assert_counters_rose "$before" 0 2
}

@test "one side shimmed, the other plain OpenSSL: wire compatible both ways" {
    local before
    before=$(tls_counters)
    local k
    k=$(want_kernel 13_CHACHA)
    CLIENT_PLAIN=1 peer_exchange "$(variant_args 13_CHACHA) $(IDENTITY) --expect $MIB --send $MIB" \
                                 "$(variant_args 13_CHACHA) --send $MIB --expect $MIB"
    assert_intact
    assert_offload server "$k" "$k"
    assert_offload client 0 0
    assert_counters_rose "$before" "$k" "$k"
    before=$(tls_counters)
    SERVER_PLAIN=1 peer_exchange "$(variant_args 12_AES_128_GCM) $(IDENTITY) --expect $MIB --send $MIB" \
                                 "$(variant_args 12_AES_128_GCM) --send $MIB --expect $MIB"
    assert_intact
    assert_offload server 0 0
    assert_offload client 1 1
    assert_counters_rose "$before" 1 1
}

@test "application keylog and message callbacks still run under the shim" {
    peer_exchange "$(variant_args 13_AES_128_GCM) $(IDENTITY) --expect 1000 --send 1000 --msgcb" \
                  "$(variant_args 13_AES_128_GCM) --send 1000 --expect 1000 --keylog $BATS_TEST_TMPDIR/keys.log"
    assert_intact
    grep -q '^CLIENT_TRAFFIC_SECRET_0 ' "$BATS_TEST_TMPDIR/keys.log"
    grep -q '^SERVER_HANDSHAKE_TRAFFIC_SECRET ' "$BATS_TEST_TMPDIR/keys.log"
    local calls
    calls=$(field msgcb_calls "$SERVER_RESULT")
    [[ "$calls" -gt 5 ]]
}

# AES-CCM: the kernel has a 16-byte-tag AES-128-CCM (TLS 1.2 and 1.3), but no
# layout for CCM_8's 8-byte tag. Both suites share one NID, so the suite's
# protocol id tells them apart; CCM_8 must stay in OpenSSL with its reason.
# ECDSA identity: the TLS 1.2 CCM suites here are ECDHE-ECDSA ones.
# OpenSSL 3.2 and later allow CCM_8 (a 64-bit tag) at security level 0 only.
ccm_exchange() { # TLS CIPHER kernel|fallback
    local size=262144 before ec=$BATS_FILE_TMPDIR level=
    make_ec_cert "$ec"
    [[ $2 == *CCM8* || $2 == *CCM_8* ]] && level="--seclevel 0"
    before=$(tls_counters)
    KTLS_SHIM_LOG=info peer_exchange \
        "--tls $1 --cipher $2 $level --cert $ec/ec.pem --key $ec/ec.key --expect $size --send $size" \
        "--tls $1 --cipher $2 $level --send $size --expect $size"
    assert_intact
    [[ "$(field cipher "$CLIENT_RESULT")" == "$2" ]]
    if [[ $3 == kernel ]]; then
        assert_offload server 1 1
        assert_offload client 1 1
        assert_counters_rose "$before" 2 2
    else
        assert_offload server 0 0
        assert_offload client 0 0
        assert_counters_rose "$before" 0 0
        if have_ktls; then
            grep -q 'tx stays in OpenSSL: cipher (the kernel has no such AEAD)' "$BATS_TEST_TMPDIR/server.err"
            grep -q 'rx stays in OpenSSL: cipher (the kernel has no such AEAD)' "$BATS_TEST_TMPDIR/client.err"
        fi
    fi
}

@test "12_aes_128_ccm: both directions offloaded on both sides, bytes intact" {
    load mitm
    ccm_exchange 1.2 ECDHE-ECDSA-AES128-CCM kernel
}
@test "13_aes_128_ccm: both directions offloaded on both sides, bytes intact" {
    load mitm
    ccm_exchange 1.3 TLS_AES_128_CCM_SHA256 kernel
}
@test "12_aes_128_ccm_8: no kernel layout for an 8-byte tag: stays in OpenSSL (reason cipher), bytes intact" {
    load mitm
    ccm_exchange 1.2 ECDHE-ECDSA-AES128-CCM8 fallback
}
@test "13_aes_128_ccm_8: no kernel layout for an 8-byte tag: stays in OpenSSL (reason cipher), bytes intact" {
    load mitm
    ccm_exchange 1.3 TLS_AES_128_CCM_8_SHA256 fallback
}

# Records shaped by the sender (a smaller max_send_fragment, a padding
# callback, block padding): the kernel would send 16 KiB unpadded records, so
# as with OpenSSL's own kTLS the shimmed server's TX stays in OpenSSL (its RX
# still moves). The unshimmed client measures the records it receives.
shaped_records() { # TLS CIPHER "SERVER SHAPING ARGS" CHECK
    local before
    before=$(tls_counters)
    CLIENT_PLAIN=1 KTLS_SHIM_LOG=info peer_exchange \
        "--tls $1 --cipher $2 --expect 65536 --send 65536 --chunk 3000 $3" \
        "--tls $1 --cipher $2 --send 65536 --expect 65536 --msgcb"
    assert_intact
    assert_offload server 0 1
    assert_counters_rose "$before" 0 1
    local lo hi
    lo=$(field rec_in_min "$CLIENT_RESULT")
    hi=$(field rec_in_max "$CLIENT_RESULT")
    echo "application records the client received: $lo..$hi bytes"
    [[ $lo -gt 0 ]]
    eval "$4"
}

@test "13: max_send_fragment 1024 on the server: its TX stays in OpenSSL, records <= 1 KiB, RX offloaded" {
    shaped_records 1.3 TLS_AES_128_GCM_SHA256 "--max-send-fragment 1024" '[[ $hi -le $((1024 + 1 + 16)) ]]'
    ! have_ktls || grep -q 'tx stays in OpenSSL: max-send-fragment' "$BATS_TEST_TMPDIR/server.err"
}
@test "12: max_send_fragment 2048 on the server: its TX stays in OpenSSL, records <= 2 KiB, RX offloaded" {
    shaped_records 1.2 ECDHE-RSA-AES128-GCM-SHA256 "--max-send-fragment 2048" '[[ $hi -le $((2048 + 8 + 16)) ]]'
}
@test "13: block padding 512 on the server: its TX stays in OpenSSL, every record padded, RX offloaded" {
    # 3000-byte writes: unpadded records would be 3017 bytes
    shaped_records 1.3 TLS_AES_256_GCM_SHA384 "--block-padding 512" \
        '[[ $(( (lo - 16) % 512 )) == 0 && $(( (hi - 16) % 512 )) == 0 && $lo -ge 528 ]]'
    ! have_ktls || grep -q 'tx stays in OpenSSL: record-padding' "$BATS_TEST_TMPDIR/server.err"
}
@test "13: a record padding callback on the server: its TX stays in OpenSSL, every record padded, RX offloaded" {
    shaped_records 1.3 TLS_CHACHA20_POLY1305_SHA256 "--padding-cb 1000" \
        '[[ $(( (lo - 16) % 1000 )) == 0 && $(( (hi - 16) % 1000 )) == 0 ]]'
}

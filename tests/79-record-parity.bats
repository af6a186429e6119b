#!/usr/bin/env bats
# Control records after RX moved to the kernel, decided exactly as OpenSSL
# alone decides them (ssl3_read_bytes, ssl3_get_record, the statem's
# renegotiation refusals): the same peer sends the same records to the
# subject run plain and run shimmed, and what the subject and the peer end
# with must be the same (exit status, bytes, the error queue). Records no
# OpenSSL would write come from a peer that writes them raw through
# OpenSSL's own kTLS TX (tls_endpoint --ossl-ktls --inject), so these need a
# kTLS kernel and OpenSSL 3.0 or later; on the host the shim stays out and
# the guest run checks them. Records of no bytes come from a peer that
# encrypts them itself (raw_record.h); those need only the subject's kTLS.

load helpers
load mitm

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

# crafted SUBJECT VARIANT "SUBJECT ARGS" "PEER ARGS" [PLAIN-ONLY SUBJECT ARGS]
# The peer (never shimmed) against the subject (client|server), plain and
# then shimmed. Sets PLAIN_OUT, SHIM_OUT, PLAIN_PEER_OUT, SHIM_PEER_OUT,
# SHIM_SUBJ_RESULT and SBS_VARIANT (for assert_subject_offload).
crafted() {
    local subject=$1 variant=$2 sargs=$3 pargs=$4 extra=${5:-} vargs shim d=$BATS_TEST_TMPDIR
    vargs=$(ec_variant "$variant")
    for shim in 0 1; do
        local run=env args="$sargs $extra" crc=0 src=0 sres cres
        [[ $shim == 1 ]] && run=shimmed args=$sargs
        if [[ $subject == server ]]; then
            # shellcheck disable=SC2086
            start_ec_server "$run" $vargs $args
            # shellcheck disable=SC2086
            "$PEER" client --port "$EC_SERVER_PORT" $vargs --timeout 60 $pargs >"$d/cli.out" 2>"$d/cli.err" || crc=$?
        else
            # shellcheck disable=SC2086
            start_ec_server env $vargs $pargs
            # shellcheck disable=SC2086
            KTLS_SHIM_LOG=info $run "$PEER" client --port "$EC_SERVER_PORT" $vargs --timeout 60 $args \
                >"$d/cli.out" 2>"$d/cli.err" || crc=$?
        fi
        wait "$EC_SERVER_PID" || src=$?
        sres=$(grep '^RESULT ' "$d/srv.out" | tail -n1)
        cres=$(grep '^RESULT ' "$d/cli.out" | tail -n1)
        local subj_out peer_out subj_res
        if [[ $subject == server ]]; then
            subj_out=$(outcome "$src" "$sres") peer_out=$(outcome "$crc" "$cres") subj_res=$sres
        else
            subj_out=$(outcome "$crc" "$cres") peer_out=$(outcome "$src" "$sres") subj_res=$cres
        fi
        echo "[shim=$shim] subject: $subj_res"
        echo "[shim=$shim] peer: $([[ $subject == server ]] && echo "$cres" || echo "$sres")"
        [[ $shim == 1 ]] && cat "$d/cli.err" "$d/srv.err" | grep ktls-shim || true
        if [[ $shim == 0 ]]; then
            PLAIN_OUT=$subj_out PLAIN_PEER_OUT=$peer_out
        else
            SHIM_OUT=$subj_out SHIM_PEER_OUT=$peer_out SHIM_SUBJ_RESULT=$subj_res
        fi
    done
    SBS_VARIANT=$variant
    echo "openssl: $PLAIN_OUT | peer: $PLAIN_PEER_OUT"
    echo "shim:    $SHIM_OUT | peer: $SHIM_PEER_OUT"
    echo "# corpus: ${BATS_TEST_DESCRIPTION%%:*} | openssl: $PLAIN_OUT | shim: $SHIM_OUT" >&3
}

# the subject client reads 64 KiB; the peer injects RECORDS after 16 KiB
inject_to_client() { # VARIANT RECORDS [PLAIN-ONLY CLIENT ARGS]
    crafted client "$1" "--send 100 --expect 65536" \
        "--ossl-ktls --expect 100 --send 65536 --inject $2 --inject-after 16384" "${3:-}"
}

# Where the peer cannot write raw records (no kTLS here), nothing to compare:
# the guest's strict run does. Returns 1 then.
crafted_possible() {
    if ! have_ktls || ossl_111; then
        echo "no kTLS (or OpenSSL 1.1.1, no kTLS of its own) here: the peer cannot write raw records; the guest run checks this"
        return 1
    fi
}

SSL_R_TOO_MANY_WARN_ALERTS=409
ALERT_USER_CANCELED=90
ALERT_CLOSE_NOTIFY=0

@test "12_aes128: a fatal-level user_canceled ends the read with SSL_ERROR_SSL and that alert, as OpenSSL" {
    crafted_possible || return 0
    inject_to_client 12_aes128 21:025a
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=1 received=16384 "*" error=read:ssl:1:"* ]]
    [[ "$(received_alert "$SHIM_SUBJ_RESULT")" == "$ALERT_USER_CANCELED" ]]
}

@test "12_aes128: a fatal-level close_notify is a fatal alert, not a clean close, as OpenSSL" {
    crafted_possible || return 0
    inject_to_client 12_aes128 21:0200
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$(received_alert "$SHIM_SUBJ_RESULT")" == "$ALERT_CLOSE_NOTIFY" ]]
}

# assert_limit INJECT UNDER OVER REASON: the records UNDER leave the read
# intact and those OVER fail it with REASON, as OpenSSL alone (INJECT:
# inject_to_client or inject_raw_to_client)
assert_limit() {
    "$1" 12_aes128 "$2"
    [[ "$SHIM_OUT" == "$PLAIN_OUT" && "$SHIM_OUT" == "rc=0 received=65536 "* ]] || return 1
    "$1" 12_aes128 "$3"
    assert_subject_offload 1 1 || return 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" && "$(ssl_reason "$SHIM_SUBJ_RESULT")" == "$4" ]]
}

@test "12_aes128: four warning alerts in a row are ignored, the fifth is TOO_MANY_WARN_ALERTS, as OpenSSL" {
    crafted_possible || return 0
    assert_limit inject_to_client '21:0170*4' '21:0170*5' "$SSL_R_TOO_MANY_WARN_ALERTS"
}

# A TLS 1.2 server asks the shimmed client to renegotiate (HelloRequest): the
# kernel's connection cannot, so it answers as OpenSSL with renegotiation off
# (its own kTLS turns it off) answers: a warning no_renegotiation. The server
# then fails the renegotiation at once instead of waiting for its timeout.
@test "12_aes128: a HelloRequest to the client is refused with no_renegotiation, as OpenSSL with renegotiation off" {
    crafted_possible || return 0
    inject_to_client 12_aes128 22:00000000 --no-reneg
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=0 received=65536 "* ]]
    # the peer got the refusal the same way: its next read fails with
    # NO_RENEGOTIATION (reason 339), as OpenSSL does for a refused HelloRequest
    [[ "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
    [[ "$SHIM_PEER_OUT" == *" errors=20:339" ]]
}

# A client renegotiates with the shimmed TLS 1.2 server: OpenSSL 3.0's server
# refuses a client's renegotiation by default, with a warning, and goes on.
@test "12_aes128: a client's renegotiation ClientHello is refused with no_renegotiation and the server goes on, as OpenSSL" {
    crafted_possible || return 0
    crafted server 12_aes128 "--expect 65536 --send 100" "--send 65536 --expect 100 --renegotiate-after 16384"
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
}

# Records of no bytes, and alerts that are not exactly one record of two
# bytes: neither OpenSSL nor the kernel writes them (tls_sw_sendmsg sends
# nothing for no bytes), so the peer encrypts them itself (tls_endpoint
# --inject without --ossl-ktls, TLS 1.2 AES-GCM, then the rest of its data
# the same way). The kernel hands such a record over as a read of 0 with
# its type; the end of the stream has no type.
inject_raw_to_client() { # VARIANT RECORDS
    crafted client "$1" "--send 100 --expect 65536" "--expect 100 --send 65536 --inject $2 --inject-after 16384"
}

raw_possible() {
    if ! have_ktls; then
        echo "no kTLS here: the shim stays out and both runs are OpenSSL's; the guest run checks this"
        return 1
    fi
}

SSL_R_INVALID_ALERT=205
SSL_R_RECORD_TOO_SMALL=298

# (an alert record of no bytes was the end of the stream; one split across
# two records of one byte an alert)
@test "12_aes128: an alert record of no bytes, or one split across two records of one byte, is INVALID_ALERT, as OpenSSL" {
    raw_possible || return 0
    local records
    for records in 21: 21:01,21:5a; do
        inject_raw_to_client 12_aes128 "$records"
        assert_subject_offload 1 1
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
        [[ "$SHIM_OUT" == "rc=1 received=16384 "* ]]
        [[ "$(ssl_reason "$SHIM_SUBJ_RESULT")" == "$SSL_R_INVALID_ALERT" ]]
    done
}

@test "12_aes128: a handshake record of no bytes is nothing, and the data after it arrives intact, as OpenSSL" {
    raw_possible || return 0
    inject_raw_to_client 12_aes128 22:
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=0 received=65536 "* ]]
    [[ "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
}

@test "12_aes128: 32 empty handshake records in a row are nothing, the 33rd is RECORD_TOO_SMALL, as OpenSSL" {
    raw_possible || return 0
    assert_limit inject_raw_to_client '22:*32' '22:*33' "$SSL_R_RECORD_TOO_SMALL"
}

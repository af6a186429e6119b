#!/usr/bin/env bats
# Post-handshake rekeying the 6.1 kernel cannot follow: a TLS 1.3 KeyUpdate
# and a TLS 1.2 renegotiation, each started mid-stream by an unshimmed
# OpenSSL peer (tls_endpoint --key-update-after / --renegotiate-after, which
# call SSL_key_update / SSL_renegotiate). With the kernel reading, the shimmed
# side must stop with a clear SSL error after exactly the bytes sent before
# the rekey, intact, and never hand over mis-decrypted data. Without kTLS the
# shim stays out and OpenSSL's own outcome is required.

load helpers
load mitm

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

# sha256 of the first N bytes a tls_endpoint peer sends (same seed, same role)
prefix_sha() { # ROLE N
    field sha256 "$("$PEER" "$1" --send "$2" --payload-only)"
}

# key_update SUBJECT VARIANT "SERVER ARGS" "CLIENT ARGS": the peer of SUBJECT
# sends 65536 bytes with a KeyUpdate after the first 32768.
key_update() {
    local subject=$1 variant=$2 want_sha peer=client
    [[ $subject == client ]] && peer=server
    want_sha=$(prefix_sha "$peer" 32768)
    side_by_side "$subject" "$variant" "$3" "$4" --action none
    [[ "$PLAIN_OUT" == "rc=0 received=65536 "*" error=none last="* ]]
    assert_subject_offload 1 1
    if have_ktls; then
        [[ "$SHIM_OUT" == "rc=1 received=32768 sha=$want_sha error=read:ssl:1:"* ]]
        [[ "$(ssl_reason "$SUBJ_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]]
    else
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    fi
}

@test "13: client KeyUpdate mid-stream: shimmed server stops with unexpected message after the intact prefix" {
    key_update server 13_chacha "--expect 65536 --send 100" "--send 65536 --expect 100 --key-update-after 32768"
}

@test "13: server KeyUpdate (update_requested) mid-stream: shimmed client stops with unexpected message after the intact prefix" {
    key_update client 13_aes256 "--expect 100 --send 65536 --key-update-after 32768 --key-update-requested" \
        "--send 100 --expect 65536"
}

@test "12: client renegotiation mid-stream: shimmed server refuses with a clear SSL error after the intact prefix" {
    local want_sha
    want_sha=$(prefix_sha client 32768)
    side_by_side server 12_aes128 "--expect 65536 --send 100" \
        "--send 65536 --expect 100 --renegotiate-after 32768" --action none
    # OpenSSL 3 servers refuse client renegotiation too (no_renegotiation
    # warning, then the client's handshake_failure)
    [[ "$PLAIN_OUT" == "rc=1 received=32768 sha=$want_sha error=read:ssl:1:"* ]]
    [[ "$(received_alert "$PLAIN_SUBJ_RESULT")" == "$ALERT_HANDSHAKE_FAILURE" ]]
    assert_subject_offload 1 1
    if have_ktls; then
        [[ "$SHIM_OUT" == "rc=1 received=32768 sha=$want_sha error=read:ssl:1:"* ]]
        [[ "$(ssl_reason "$SUBJ_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]]
        # the peer is told why: a fatal unexpected_message alert
        [[ "$(field error "$PEER_RESULT")" == renegotiate:ssl:1:* ]]
        [[ "$(received_alert "$PEER_RESULT")" == "$ALERT_UNEXPECTED_MESSAGE" ]]
    else
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    fi
}

@test "12: server HelloRequest mid-stream: shimmed client declines it and receives every byte intact" {
    side_by_side client 12_chacha "--expect 100 --send 65536 --renegotiate-after 32768" \
        "--send 100 --expect 65536" --action none
    local sent_sha
    sent_sha=$(field sent_sha256 "$PEER_RESULT")
    # OpenSSL renegotiates; the data is intact either way
    [[ "$PLAIN_OUT" == *"received=65536 sha=$sent_sha "* ]]
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == *"received=65536 sha=$sent_sha "* ]]
    if have_ktls; then
        # RFC 5246 7.4.1.1: a client may ignore HelloRequest; no renegotiation under kTLS
        [[ "$SHIM_OUT" == "rc=0 "*" error=none last="* ]]
    else
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    fi
}

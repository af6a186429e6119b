#!/usr/bin/env bats
# Tampering on the wire after an untouched handshake: one bit flipped in an
# application record, or a record header whose length is impossible. The
# receiving side must fail with SSL_ERROR_SSL (exit 1, never a hang or a
# crash), deliver exactly the intact records before the bad one and nothing
# after, and match OpenSSL without the shim byte for byte and error for error.
# Server->client hits a shimmed client; client->server a shimmed server.

load helpers
load mitm

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

# The second full application record is the bad one; the first is delivered.
# Client->server, it is also the client's last: a server that fails with
# records still unread would close with a reset, and a reset can overtake its
# alert (seen on a loaded host), so the peer's outcome would be timing.
S2C_SERVER="--expect 16384 --send 65536"
S2C_CLIENT="--send 16384 --expect 65536"
C2S_SERVER="--expect 65536 --send 16384"
C2S_CLIENT="--send 32768 --expect 16384"

# tampered DIR ACTION VARIANT FIRST_REASON [LAST_REASON]
tampered() {
    local dir=$1 action=$2 variant=$3 want=$4 want_last=${5:-$4}
    if [[ $dir == s2c ]]; then
        side_by_side client "$variant" "$S2C_SERVER" "$S2C_CLIENT" --dir s2c --action "$action"
        assert_subject_offload 1 1
    else
        side_by_side server "$variant" "$C2S_SERVER" "$C2S_CLIENT" --dir c2s --action "$action"
        # the shimmed server never got to send: TX is still the kernel's
        assert_subject_offload 1 1
    fi
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=1 received=16384 "*" error=read:ssl:1:$want last=$want_last" ]]
}

# OpenSSL 3.0's TLS 1.2 AES-GCM puts the provider's error first in the queue
@test "12_aes128: bit flip server->client: cipher operation failed after 16384 intact bytes, as OpenSSL" {
    tampered s2c flip 12_aes128 cipher_operation_failed decryption_failed_or_bad_record_mac
}
@test "13_chacha: bit flip server->client: bad record mac after 16384 intact bytes, as OpenSSL" {
    tampered s2c flip 13_chacha decryption_failed_or_bad_record_mac
}
@test "12_chacha: bit flip client->server: shimmed server fails as OpenSSL, peer gets the same alert" {
    tampered c2s flip 12_chacha decryption_failed_or_bad_record_mac
    [[ "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
    [[ "$SHIM_PEER_OUT" == *"error=read:ssl:1:sslv3_alert_bad_record_mac "* ]]
}
@test "13_aes256: bit flip client->server: shimmed server fails as OpenSSL, peer gets the same alert" {
    tampered c2s flip 13_aes256 decryption_failed_or_bad_record_mac
    [[ "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
    [[ "$SHIM_PEER_OUT" == *"error=read:ssl:1:sslv3_alert_bad_record_mac "* ]]
}
@test "12_aes128: record length 0xffff server->client (EMSGSIZE): packet length too long, as OpenSSL" {
    tampered s2c biglen 12_aes128 packet_length_too_long
}
@test "13_aes256: record length 0xffff client->server (EMSGSIZE): packet length too long, as OpenSSL" {
    tampered c2s biglen 13_aes256 packet_length_too_long
}
@test "13_chacha: record length 1 client->server: bad record mac, as OpenSSL" {
    tampered c2s shortlen 13_chacha decryption_failed_or_bad_record_mac
}

# The kernel answers EBADMSG both for a record too short to hold a tag and for
# a tag that fails; the shim queues what OpenSSL 3 queues for the far commoner
# failed tag. So here, and only here, the first queued reason differs from
# OpenSSL's; the class, the bytes and OpenSSL's own (last) reason do not.
@test "12_aes128: record length 1 server->client: bad record mac as OpenSSL (first queued reason: see comment)" {
    side_by_side client 12_aes128 "$S2C_SERVER" "$S2C_CLIENT" --dir s2c --action shortlen
    assert_subject_offload 1 1
    local want="rc=1 received=16384 "
    [[ "$PLAIN_OUT" == "$want"*" error=read:ssl:1:decryption_failed_or_bad_record_mac last=decryption_failed_or_bad_record_mac" ]]
    if have_ktls; then
        [[ "$SHIM_OUT" == "${PLAIN_OUT/error=read:ssl:1:decryption_failed_or_bad_record_mac/error=read:ssl:1:cipher_operation_failed}" ]]
    else
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    fi
}

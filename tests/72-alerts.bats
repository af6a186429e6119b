#!/usr/bin/env bats
# Alerts mid-stream, from an unshimmed OpenSSL peer to the shimmed side:
# a fatal alert (the peer's answer to a record the man in the middle broke)
# and a close_notify before all the expected data. Mapped exactly as OpenSSL
# maps them without the shim: same SSL_get_error class, same reason, same
# bytes delivered first.

load helpers
load mitm

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

# A fatal bad_record_mac alert from the peer while the shimmed client reads
# (TLS 1.2: it sends two records and then reads; the server rejects the
# second, flipped, one): SSL_ERROR_SSL with the alert's reason.
@test "12_aes128: peer's fatal alert while reading is SSL_ERROR_SSL with the bad_record_mac alert, as OpenSSL" {
    side_by_side client 12_aes128 "--expect 65536 --send 16384" "--send 32768 --expect 16384" \
        --dir c2s --action flip
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=1 received=0 "*" error=read:ssl:1:"* ]]
    [[ "$(received_alert "$SUBJ_RESULT")" == "$ALERT_BAD_RECORD_MAC" ]]
}

# The same alert reaching a shimmed TLS 1.3 server inside SSL_shutdown, while
# it waits for the client's close_notify (the client rejected a flipped
# record). OpenSSL counts the alert as the end of the shutdown and returns 1;
# so must the kernel path. (A 1.3 client's RX reaches the kernel only once
# it has read application data, so this case is the server's.)
@test "13_chacha: peer's fatal alert during SSL_shutdown ends it with 1, as OpenSSL" {
    side_by_side server 13_chacha "--expect 16384 --send 65536" "--send 16384 --expect 65536" \
        --dir s2c --action flip
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=0 received=16384 "*" error=none last=none errors=none" ]]
    [[ "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
    [[ "$SHIM_PEER_OUT" == "rc=1 received=16384 "*" error=read:ssl:1:"* ]]
}

# The server sends 20000 of the 65536 bytes the client waits for, then
# close_notify: SSL_ERROR_ZERO_RETURN after exactly those bytes.
early_close_notify() {
    side_by_side client "$1" "--expect 100 --send 20000" "--send 100 --expect 65536" --action none
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=1 received=20000 "*" error=closed_early last="* ]]
    # the peer completed its own shutdown both times
    [[ "$(field shutdown "$PEER_RESULT")" == 3 || "$(field shutdown "$PEER_RESULT")" == 1 ]]
}

@test "13_aes256: close_notify mid-stream ends reading cleanly after the bytes sent, as OpenSSL" {
    early_close_notify 13_aes256
}

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

# The client sends two records and then reads; the server rejects the second
# (a flipped bit) with a fatal bad_record_mac alert, which the client reads.
fatal_alert() {
    side_by_side client "$1" "--expect 65536 --send 16384" "--send 32768 --expect 16384" \
        --dir c2s --action flip
    assert_subject_offload 1 1
    [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    [[ "$SHIM_OUT" == "rc=1 received=0 "*" error=read:ssl:1:sslv3_alert_bad_record_mac last="* ]]
}

@test "12_aes128: peer's fatal alert mid-stream is SSL_ERROR_SSL 'sslv3 alert bad record mac', as OpenSSL" {
    fatal_alert 12_aes128
}
@test "13_chacha: peer's fatal alert mid-stream is SSL_ERROR_SSL 'sslv3 alert bad record mac', as OpenSSL" {
    fatal_alert 13_chacha
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

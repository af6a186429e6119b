#!/usr/bin/env bats
# Rekeying an offloaded connection. TLS 1.3 KeyUpdate: a kernel that can
# rekey (6.14 and later, the 7.3 guest) must follow every one, both ways,
# with all bytes intact and the kernel's TlsTxRekeyOk/TlsRxRekeyOk rising by
# exactly the number sent; an older kernel (5.10, 6.1, 6.12) cannot, and the
# shimmed side must stop with a clear SSL error after exactly the bytes
# before it, never hand over mis-decrypted data, and count the connection
# under keyupdate-unsupported-kernel. TLS 1.2 renegotiation is never followed
# under kTLS. Without kTLS (or for a cipher the kernel lacks) OpenSSL's own
# outcome is required.

load helpers
load mitm

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

# sha256 of the first N bytes a tls_endpoint peer sends (same seed, same role)
prefix_sha() { # ROLE N
    field sha256 "$("$PEER" "$1" --send "$2" --payload-only)"
}

# "TlsTxRekeyOk TlsRxRekeyOk" now (0 0 where the kernel has no such counters)
rekey_counters() {
    echo "$(tls_stat TlsTxRekeyOk) $(tls_stat TlsRxRekeyOk)"
}

# rekey_counters_rose "TX0 RX0" DTX DRX
rekey_counters_rose() {
    local before=$1 after
    after=$(rekey_counters)
    local tx0=${before% *} rx0=${before#* } tx1=${after% *} rx1=${after#* }
    echo "TlsTxRekeyOk $tx0 -> $tx1 (want +$2), TlsRxRekeyOk $rx0 -> $rx1 (want +$3)"
    [[ $((${tx1:-0} - ${tx0:-0})) == "$2" && $((${rx1:-0} - ${rx0:-0})) == "$3" ]]
}

# What a shimmed side must show for VARIANT: "openssl" (no kernel for it),
# "rekey" (the kernel follows KeyUpdates) or "refuse" (kernel TLS, no rekey)
expect_for() {
    if [[ $(want_kernel "$1") == 0 ]]; then
        echo openssl
    elif kernel_rekeys; then
        echo rekey
    else
        echo refuse
    fi
}

# ---- a peer's KeyUpdate, one, mid-stream -------------------------------

# key_update SUBJECT VARIANT "SERVER ARGS" "CLIENT ARGS": the peer of SUBJECT
# sends 65536 bytes with a KeyUpdate after the first 32768.
key_update() {
    local subject=$1 variant=$2 want_sha peer=client before
    [[ $subject == client ]] && peer=server
    want_sha=$(prefix_sha "$peer" 32768)
    before=$(rekey_counters)
    side_by_side "$subject" "$variant" "$3" "$4" --action none
    [[ "$PLAIN_OUT" == "rc=0 received=65536 "*" error=none last="* ]]
    assert_subject_offload 1 1
    case $(expect_for "$variant") in
    rekey)
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
        # the subject's RX followed; an update_requested was answered on its TX
        rekey_counters_rose "$before" "${ANSWERED:-0}" 1 ;;
    refuse)
        [[ "$SHIM_OUT" == "rc=1 received=32768 sha=$want_sha error=read:ssl:1:"* ]]
        [[ "$(ssl_reason "$SUBJ_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]] ;;
    openssl)
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]] ;;
    esac
}

@test "13: client KeyUpdate mid-stream: the shimmed server follows it (6.14+) or stops cleanly after the intact prefix" {
    key_update server 13_chacha "--expect 65536 --send 100" "--send 65536 --expect 100 --key-update-after 32768"
}

@test "13: server KeyUpdate (update_requested) mid-stream: the shimmed client follows and answers it, or stops cleanly" {
    ANSWERED=1 key_update client 13_aes256 "--expect 100 --send 65536 --key-update-after 32768 --key-update-requested" \
        "--send 100 --expect 65536"
}

# ---- many KeyUpdates, both ways ----------------------------------------

KU_COUNT=${KTLS_KEY_UPDATES:-1000}
KU_EVERY=1024

# many_key_updates VARIANT: both sides send KU_COUNT KeyUpdates, one every
# KU_EVERY bytes, each side shimmed unless SERVER_PLAIN/CLIENT_PLAIN;
# REQUESTED=1 asks the peer to answer each.
many_key_updates() {
    # one KeyUpdate after each KU_EVERY bytes but the last
    local variant=$1 size=$(((KU_COUNT + 1) * KU_EVERY)) before rbefore shimmed_sides=2 flags
    flags="--chunk $KU_EVERY --key-update-every $KU_EVERY --key-updates $KU_COUNT"
    [[ ${REQUESTED:-0} == 1 ]] && flags+=" --key-update-requested"
    [[ ${SERVER_PLAIN:-0} == 1 || ${CLIENT_PLAIN:-0} == 1 ]] && shimmed_sides=1
    before=$(tls_counters)
    rbefore=$(rekey_counters)
    local rc=0
    # a KeyUpdate every KiB is a storm by the default limit (32 a second):
    # this checks that every one is followed, so no limit
    KTLS_SHIM_KEY_UPDATE_MAX=0 peer_exchange "$(ec_variant "$variant") --cert $BATS_FILE_TMPDIR/ec.pem --key $BATS_FILE_TMPDIR/ec.key \
                   --timeout 600 --expect $size --send $size $flags" \
                  "$(ec_variant "$variant") --timeout 600 --send $size --expect $size $flags" || rc=$?
    case $(expect_for "$variant") in
    openssl | rekey)
        [[ $rc == 0 ]]
        assert_intact
        [[ "$(field key_updates "$SERVER_RESULT")" == "$KU_COUNT" ]]
        [[ "$(field key_updates "$CLIENT_RESULT")" == "$KU_COUNT" ]]
        # OpenSSL's own view: SSL_get_key_update_type owed until sent
        [[ "$(field ku_view "$SERVER_RESULT")" == ok && "$(field ku_view "$CLIENT_RESULT")" == ok ]]
        local k
        k=$(want_kernel "$variant")
        [[ ${SERVER_PLAIN:-0} == 1 ]] || assert_offload server "$k" "$k"
        [[ ${CLIENT_PLAIN:-0} == 1 ]] || assert_offload client "$k" "$k"
        assert_counters_rose "$before" $((shimmed_sides * k)) $((shimmed_sides * k))
        # each shimmed side: its own KeyUpdates (and the answers the peer
        # asked for: the shim answers at once) on TX, the peer's own and its
        # answers on RX; an unshimmed OpenSSL answers at its next write, so
        # one asked for after its last write stays owed (ku_owed=1)
        local tx_side=$KU_COUNT rx_side=$KU_COUNT owed=0
        if [[ ${REQUESTED:-0} == 1 ]]; then
            [[ ${SERVER_PLAIN:-0} == 1 ]] && owed=$(field ku_owed "$SERVER_RESULT")
            [[ ${CLIENT_PLAIN:-0} == 1 ]] && owed=$(field ku_owed "$CLIENT_RESULT")
            tx_side=$((2 * KU_COUNT)) rx_side=$((2 * KU_COUNT - owed))
        fi
        rekey_counters_rose "$rbefore" $((shimmed_sides * k * tx_side)) $((shimmed_sides * k * rx_side)) ;;
    refuse)
        # whichever comes first on a shimmed side, its own SSL_key_update on
        # the offloaded TX or the peer's KeyUpdate on the offloaded RX, is
        # refused with a clear SSL error (which one is a race between the
        # two ends); the other end sees the connection end. A side with no
        # direction in the kernel yet when the other failed (seen once in CI
        # on 6.1: a server that had only read, ulp none) sees only that end,
        # an EOF, and never refused a KeyUpdate itself
        [[ $rc != 0 ]]
        local side line refused=0
        for side in SERVER CLIENT; do
            local plain=${side}_PLAIN result=${side}_RESULT
            [[ ${!plain:-0} == 1 ]] && continue
            line=${!result}
            if [[ "$(field ktls_tx "$line")" == 0 && "$(field ktls_rx "$line")" == 0 ]]; then
                [[ "$(field error "$line")" != key_update:* ]]
                continue
            fi
            if [[ "$(field error "$line")" == @(key_update|read):ssl:1:* ]]; then
                [[ "$(ssl_reason "$line")" == "$SSL_R_UNEXPECTED_MESSAGE" ]]
                refused=1
            fi
        done
        [[ $refused == 1 ]]
        rekey_counters_rose "$rbefore" 0 0 ;;
    esac
}

@test "13_aes128: $KU_COUNT KeyUpdates each way, both sides shimmed: followed by the kernel, bytes intact" {
    many_key_updates 13_aes128
}
@test "13_aes256: $KU_COUNT KeyUpdates each way, both sides shimmed: followed by the kernel, bytes intact" {
    many_key_updates 13_aes256
}
@test "13_chacha: $KU_COUNT KeyUpdates each way, both sides shimmed: followed by the kernel, bytes intact" {
    many_key_updates 13_chacha
}
@test "13_aes128: $KU_COUNT KeyUpdates (update_requested) each way against unshimmed OpenSSL: each answered" {
    REQUESTED=1 CLIENT_PLAIN=1 many_key_updates 13_aes128
}
@test "13_chacha: $KU_COUNT KeyUpdates each way, shimmed client against unshimmed OpenSSL" {
    SERVER_PLAIN=1 many_key_updates 13_chacha
}

# ---- GnuTLS asks, the shim answers ----------------------------------------

# GnuTLS refuses more than 8 KeyUpdates from its peer a second (a DoS
# guard, "Too many handshake packets"): the bulk are update_not_requested
# (^rekey1^), and a few update_requested (^rekey^) come spaced out.
@test "13_aes256: gnutls-cli sends $KU_COUNT KeyUpdates to a shimmed echo server, 5 asking for ours: all followed, those answered (or the first refused cleanly)" {
    requires gnutls-cli
    local i line rbefore k n=$KU_COUNT asks=5 got=0
    k=$(want_kernel 13_aes256)
    rbefore=$(rekey_counters)
    # every one counts here, however fast they come: no storm limit
    KTLS_SHIM_KEY_UPDATE_MAX=0 start_peer_server $(ec_variant 13_aes256) --echo --text --timeout 900 \
        --cert "$BATS_FILE_TMPDIR/ec.pem" --key "$BATS_FILE_TMPDIR/ec.key"
    # gnutls-cli runs one inline command per read of its stdin and drops what
    # else came in that read: each line and each command goes only once the
    # previous one is echoed or done
    coproc GNUTLS { exec timeout 900 gnutls-cli --insecure --inline-commands --port "$SERVER_PORT" \
        --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" 127.0.0.1 2>"$BATS_TEST_TMPDIR/gnutls-cli.err"; }
    # its pipes as ordinary descriptors of ours: bash closes a coprocess's
    # own once it ends (a write then failed with EBADF, which bats counted
    # as the test's failure even after ||); a write after gnutls-cli is gone
    # is EPIPE instead, and ends the loop
    local cli_pid=$GNUTLS_PID to_cli from_cli w=${GNUTLS[1]} r=${GNUTLS[0]}
    exec {to_cli}>&"$w" {from_cli}<&"$r"
    eval "exec $w>&- $r<&-"
    trap '' PIPE
    until_line() { # PATTERN: reads gnutls-cli's output up to a line matching it
        while IFS= read -r -t 300 line <&"$from_cli"; do
            [[ $line =~ $1 ]] && return 0
        done
        return 1
    }
    until_line '^- Handshake was completed' || {
        echo "no handshake:"; cat "$BATS_TEST_TMPDIR/gnutls-cli.err" "$BATS_TEST_TMPDIR/server.err"; return 1
    }
    for ((i = 0; i < n + asks; i++)); do
        # gnutls-cli says "Rekey was completed" once it has sent its
        # KeyUpdate: where the server then ends the connection, gnutls-cli
        # may be gone (bash closes its pipe) before the next line; what
        # came back is judged below
        printf '%063d\n' "$i" >&"$to_cli" 2>/dev/null || break
        until_line '^[0-9]{63}$' || break
        [[ $line == "$(printf '%063d' "$i")" ]] || { echo "line $i came back as: $line"; break; }
        got=$((got + 1))
        if ((i < n)); then
            printf '^rekey1^\n' >&"$to_cli" 2>/dev/null || break
        else
            sleep 0.3 # at most 8 of the server's KeyUpdates a second, for GnuTLS
            printf '^rekey^\n' >&"$to_cli" 2>/dev/null || break
        fi
        until_line '^- Rekey was completed' || break
    done
    # one more line: the server has read (and answered) the last KeyUpdate
    # (where the server ended the connection, gnutls-cli is gone: no reader)
    printf 'end%060d\n' 0 >&"$to_cli" 2>/dev/null || true
    until_line '^end' || true
    exec {to_cli}>&- {from_cli}<&- || true
    trap - PIPE
    wait "$cli_pid" || true
    wait_server || true
    echo "server: $SERVER_RESULT"
    echo "lines echoed intact: $got of $((n + asks))"
    tail -n 3 "$BATS_TEST_TMPDIR/gnutls-cli.err"
    assert_offload server "$k" "$k"
    if [[ $(expect_for 13_aes256) == refuse ]]; then
        # the line before the first KeyUpdate came back intact; that KeyUpdate
        # ended the connection with a clear SSL error, nothing mis-decrypted
        [[ $got == 1 ]]
        [[ "$(field error "$SERVER_RESULT")" == read:ssl:1:* ]]
        [[ "$(ssl_reason "$SERVER_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]]
        rekey_counters_rose "$rbefore" 0 0
        return 0
    fi
    [[ $got == $((n + asks)) ]]
    [[ "$(field error "$SERVER_RESULT")" == none ]]
    # every KeyUpdate followed on the server's RX; the 5 that asked answered on its TX
    rekey_counters_rose "$rbefore" $((k * asks)) $((k * (n + asks)))
}

# ---- the record limit ---------------------------------------------------

@test "13_aes128: KTLS_SHIM_REKEY_RECORDS=4: kernel TX sends a KeyUpdate every 4 records, the unshimmed peer follows" {
    local rbefore k size=$((64 * 16384))
    k=$(want_kernel 13_aes128)
    rbefore=$(rekey_counters)
    KTLS_SHIM_REKEY_RECORDS=4 SERVER_PLAIN=1 peer_exchange \
        "$(ec_variant 13_aes128) --cert $BATS_FILE_TMPDIR/ec.pem --key $BATS_FILE_TMPDIR/ec.key --expect $size --send 100" \
        "$(ec_variant 13_aes128) --send $size --expect 100 --chunk 16384"
    assert_intact
    assert_offload client "$k" "$k"
    if [[ $(expect_for 13_aes128) == rekey ]]; then
        # 64 records of 16384 bytes: a KeyUpdate before the 5th, 9th, ... 61st,
        # and the one owed after the 64th goes with the client's read, as
        # OpenSSL's SSL_read sends an owed KeyUpdate (the read is OpenSSL's:
        # a TLS 1.3 client's RX moves at its first data); nothing is owed then
        rekey_counters_rose "$rbefore" 16 0
        [[ "$(field ku_owed "$CLIENT_RESULT")" == 0 ]]
    else
        rekey_counters_rose "$rbefore" 0 0
    fi
}

# ---- mixed ownership ------------------------------------------------------

# The peer asks for KeyUpdates the shimmed side's other direction must answer.
@test "13_aes256: KTLS_SHIM_MODE=tx (RX in OpenSSL): the peer's update_requested are answered through the kernel's TX" {
    local rbefore k n=20
    k=$(want_kernel 13_aes256)
    rbefore=$(rekey_counters)
    local rc=0
    KTLS_SHIM_MODE=tx CLIENT_PLAIN=1 peer_exchange \
        "$(ec_variant 13_aes256) --cert $BATS_FILE_TMPDIR/ec.pem --key $BATS_FILE_TMPDIR/ec.key --expect $(((n + 1) * 1024)) --send 65536" \
        "$(ec_variant 13_aes256) --send $(((n + 1) * 1024)) --expect 65536 --chunk 1024 --key-update-every 1024 --key-updates $n --key-update-requested" || rc=$?
    case $(expect_for 13_aes256) in
    rekey)
        [[ $rc == 0 ]]
        assert_intact
        assert_offload server 1 0
        rekey_counters_rose "$rbefore" "$n" 0 ;;
    refuse)
        # OpenSSL read the request; the kernel's TX cannot answer it
        [[ "$(field error "$SERVER_RESULT")" == *:ssl:1:* ]]
        [[ "$(ssl_reason "$SERVER_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]] ;;
    openssl)
        assert_intact ;;
    esac
}

@test "13_aes256: KTLS_SHIM_MODE=rx (TX in OpenSSL): the peer's update_requested are followed by the kernel, answered by OpenSSL" {
    local rbefore k n=20
    k=$(want_kernel 13_aes256)
    rbefore=$(rekey_counters)
    local rc=0
    KTLS_SHIM_MODE=rx CLIENT_PLAIN=1 peer_exchange \
        "$(ec_variant 13_aes256) --cert $BATS_FILE_TMPDIR/ec.pem --key $BATS_FILE_TMPDIR/ec.key --expect $(((n + 1) * 1024)) --send 65536" \
        "$(ec_variant 13_aes256) --send $(((n + 1) * 1024)) --expect 65536 --chunk 1024 --key-update-every 1024 --key-updates $n --key-update-requested" || rc=$?
    case $(expect_for 13_aes256) in
    rekey)
        [[ $rc == 0 ]]
        assert_intact
        assert_offload server 0 1
        rekey_counters_rose "$rbefore" 0 "$n" ;;
    refuse)
        [[ "$(field error "$SERVER_RESULT")" == read:ssl:1:* ]]
        [[ "$(ssl_reason "$SERVER_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]] ;;
    openssl)
        assert_intact ;;
    esac
}

# ---- kernels that cannot rekey: the operator's view and the knob ----------

@test "13: where the kernel cannot rekey, the failed connection is counted as keyupdate-unsupported-kernel" {
    [[ $(expect_for 13_aes256) == refuse ]] || { echo "this kernel follows KeyUpdates (or has no kTLS): nothing to count"; return 0; }
    KTLS_SHIM_STATS=$BATS_TEST_TMPDIR/stats KTLS_SHIM_STATS_INTERVAL=0 CLIENT_PLAIN=1 peer_exchange \
        "$(ec_variant 13_aes256) --cert $BATS_FILE_TMPDIR/ec.pem --key $BATS_FILE_TMPDIR/ec.key --expect 65536 --send 100" \
        "$(ec_variant 13_aes256) --send 65536 --expect 100 --key-update-after 32768" || true
    python3 - "$BATS_TEST_TMPDIR" <<'PY'
import glob, json, sys
files = glob.glob(sys.argv[1] + "/stats.*.json")
assert len(files) == 1, files
arm = json.load(open(files[0]))["arms"]["offload"]
print("events:", arm["events"])
assert arm["events"]["keyupdate-unsupported-kernel"] == 1, arm["events"]
PY
}

@test "13: KTLS_SHIM_NO_REKEY=rx-openssl: where the kernel cannot rekey, TLS 1.3 RX stays in OpenSSL and follows the peer" {
    local k
    k=$(want_kernel 13_aes256)
    KTLS_SHIM_NO_REKEY=rx-openssl KTLS_SHIM_LOG=info CLIENT_PLAIN=1 peer_exchange \
        "$(ec_variant 13_aes256) --cert $BATS_FILE_TMPDIR/ec.pem --key $BATS_FILE_TMPDIR/ec.key --expect 65536 --send 100" \
        "$(ec_variant 13_aes256) --send 65536 --expect 100 --key-update-every 16384 --key-updates 3"
    assert_intact
    case $(expect_for 13_aes256) in
    refuse)
        assert_offload server 1 0
        grep -q 'rx stays in OpenSSL: keyupdate-unsupported-kernel' "$BATS_TEST_TMPDIR/server.err" ;;
    rekey)
        # the knob changes nothing where the kernel can rekey
        assert_offload server 1 1 ;;
    openssl)
        assert_offload server 0 0 ;;
    esac
}

# ---- TLS 1.2 renegotiation ------------------------------------------------

@test "12: client renegotiation mid-stream: shimmed server refuses it with no_renegotiation, as OpenSSL 3 does, after the intact prefix" {
    local want_sha
    want_sha=$(prefix_sha client 32768)
    side_by_side server 12_aes128 "--expect 65536 --send 100" \
        "--send 65536 --expect 100 --renegotiate-after 32768" --action none
    # OpenSSL 3 servers refuse client renegotiation (a warning
    # no_renegotiation, then the client's handshake_failure), and so does the
    # kernel's connection, which cannot renegotiate; 1.1.1 renegotiates
    assert_subject_offload 1 1
    if [[ $(want_kernel 12_aes128) == 1 ]]; then
        [[ "$SHIM_OUT" == "rc=1 received=32768 sha=$want_sha error=read:ssl:1:"* ]]
        [[ "$(received_alert "$SUBJ_RESULT")" == "$ALERT_HANDSHAKE_FAILURE" ]]
        # the peer is told why: no_renegotiation
        [[ "$(field error "$PEER_RESULT")" == renegotiate:ssl:1:* ]]
        [[ "$(ssl_reason "$PEER_RESULT")" == 339 ]] # SSL_R_NO_RENEGOTIATION
        ossl_111 || [[ "$SHIM_OUT" == "$PLAIN_OUT" && "$SHIM_PEER_OUT" == "$PLAIN_PEER_OUT" ]]
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
    if [[ $(want_kernel 12_chacha) == 1 ]]; then
        # RFC 5246 7.4.1.1: a client may ignore HelloRequest; no renegotiation under kTLS
        [[ "$SHIM_OUT" == "rc=0 "*" error=none last="* ]]
    else
        [[ "$SHIM_OUT" == "$PLAIN_OUT" ]]
    fi
}

# ---- a storm of KeyUpdates ------------------------------------------------

# 10,000 KeyUpdates back to back from an unshimmed client: the shimmed server
# follows KTLS_SHIM_KEY_UPDATE_MAX of them (default 32 a second), then ends
# that connection with a fatal alert and TOO_MANY_KEY_UPDATES, counted as
# keyupdate-storm; its work stays bounded (exactly 32 RX rekeys) and it goes
# on to serve the next connection. A kernel that cannot rekey ends the
# connection at the first one. (HAProxy's kTLS busy-looped into a watchdog
# panic on such a client: haproxy#3450.)
@test "13: 10,000 KeyUpdates back to back: the shimmed server follows 32, ends that connection cleanly, serves the next" {
    local k rbefore d=$BATS_TEST_TMPDIR
    k=$(want_kernel 13_aes256)
    rbefore=$(rekey_counters)
    KTLS_SHIM_STATS=$d/stats KTLS_SHIM_STATS_INTERVAL=0 KTLS_SHIM_LOG=info start_peer_server \
        $(ec_variant 13_aes256) --cert "$BATS_FILE_TMPDIR/ec.pem" --key "$BATS_FILE_TMPDIR/ec.key" \
        --conns 2 --keep-serving --expect 65536 --send 100
    local rc1=0 rc2=0 first second
    first=$("$PEER" client --port "$SERVER_PORT" $(ec_variant 13_aes256) --timeout 120 --send 65536 --expect 100 \
        --key-update-after 1024 --key-update-burst 10000 2>"$d/client1.err") || rc1=$?
    second=$("$PEER" client --port "$SERVER_PORT" $(ec_variant 13_aes256) --timeout 120 --send 65536 --expect 100 \
        2>"$d/client2.err") || rc2=$?
    wait_server || true
    grep '^RESULT ' "$SERVER_OUT"
    local storm ok
    storm=$(grep '^RESULT ' "$SERVER_OUT" | head -n1)
    ok=$(grep '^RESULT ' "$SERVER_OUT" | sed -n 2p)
    echo "client 1 (rc $rc1): $(grep '^RESULT' <<<"$first")"
    echo "client 2 (rc $rc2): $(grep '^RESULT' <<<"$second")"
    # the next connection is served in full either way
    [[ $rc2 == 0 && "$(field received "$ok")" == 65536 && "$(field error "$ok")" == none ]]
    case $(expect_for 13_aes256) in
    rekey)
        [[ $rc1 != 0 && "$(field error "$storm")" == read:ssl:1:* ]]
        [[ "$(ssl_reason "$storm")" == 132 ]] # SSL_R_TOO_MANY_KEY_UPDATES
        grep -q 'more than 32 KeyUpdates in 1 s' "$d/server.err"
        rekey_counters_rose "$rbefore" 0 32
        python3 - "$d" <<'PY'
import glob, json, sys
files = glob.glob(sys.argv[1] + "/stats.*.json")
arm = json.load(open(files[0]))["arms"]["offload"]
print("events:", arm["events"])
assert arm["events"]["keyupdate-storm"] == 1, arm["events"]
PY
        ;;
    refuse)
        [[ $rc1 != 0 && "$(ssl_reason "$storm")" == "$SSL_R_UNEXPECTED_MESSAGE" ]] ;;
    openssl)
        # OpenSSL follows every one itself (3.0 sets no limit)
        [[ $rc1 == 0 && "$(field received "$storm")" == 65536 ]] ;;
    esac
}

# ---- KeyUpdates in select() loops ------------------------------------------

# s_server and s_client (both shimmed) wait in select() and clear
# SSL_MODE_AUTO_RETRY: a read that met a KeyUpdate must come back as
# WANT_READ (not block in the kernel while the peer waits for them), and the
# records that arrived while the kernel waited for the next key must still
# wake select(). Lines go both ways about every 0.6 s; KeyUpdates come from
# the programs' own command letters.
cli_key_updates() { # SERVER_LETTER CLIENT_LETTER N: prints "S_LINES C_LINES ISSUED TX RX"
    local sl=$1 cl=$2 n=$3 port d=$BATS_TEST_TMPDIR before after
    port=$(free_port)
    feed() { # WHO LETTER LINGER CONSUMER: the server lingers longer than
        # the client, so that it reads the client's last update before its
        # own stdin ends; a feeder stops within 0.5 s of its program's end
        # (where the first update ends the connection, that is long before
        # its input would)
        local j
        sleep 3
        for ((i = 1; i <= n; i++)); do
            kill -0 "$4" 2>/dev/null || return 0
            echo "$1 line $i"; sleep 0.3
            [[ -n $2 ]] && echo "$2"
            sleep 0.3
        done
        for ((j = 0; j < $3 * 2; j++)); do
            kill -0 "$4" 2>/dev/null || return 0
            sleep 0.5
        done
    }
    before=$(rekey_counters)
    mkfifo "$d/srv.in" "$d/cli.in"
    # each program first (it opens its FIFO and waits), then its feeder
    shimmed timeout 120 openssl s_server -naccept 1 -accept "127.0.0.1:$port" \
        -cert "$BATS_FILE_TMPDIR/ec.pem" -key "$BATS_FILE_TMPDIR/ec.key" -tls1_3 \
        <"$d/srv.in" >"$d/srv.out" 2>"$d/srv.err" &
    local spid=$! i
    feed S "$sl" 12 "$spid" >"$d/srv.in" 3>&- &
    local sfeed=$!
    # (not wait_port: its probe would be the one connection -naccept 1 takes)
    for ((i = 0; i < 600; i++)); do grep -q '^ACCEPT' "$d/srv.out" && break; sleep 0.1; done
    shimmed timeout 120 openssl s_client -connect "127.0.0.1:$port" -tls1_3 \
        <"$d/cli.in" >"$d/cli.out" 2>"$d/cli.err" &
    local cpid=$!
    feed C "$cl" 4 "$cpid" >"$d/cli.in" 3>&- &
    local cfeed=$!
    wait "$cpid" || true
    wait "$spid" || true
    wait "$sfeed" "$cfeed" 2>/dev/null || true
    rm -f "$d/srv.in" "$d/cli.in"
    after=$(rekey_counters)
    # the updates the programs really asked for (a letter that shared a read
    # of stdin with a line is sent as data, not taken as a command)
    local issued=$(($(grep -c '^SSL_do_handshake -> 1' "$d/srv.out") + $(grep -c '^KEYUPDATE' "$d/cli.err")))
    local tx0=${before% *} rx0=${before#* } tx1=${after% *} rx1=${after#* }
    echo "$(grep -c '^C line' "$d/srv.out") $(grep -c '^S line' "$d/cli.out") $issued" \
        "$((${tx1:-0} - ${tx0:-0})) $((${rx1:-0} - ${rx0:-0}))"
    # every line, in order
    diff <(grep '^C line' "$d/srv.out") <(for ((i = 1; i <= n; i++)); do echo "C line $i"; done) >&2
    diff <(grep '^S line' "$d/cli.out") <(for ((i = 1; i <= n; i++)); do echo "S line $i"; done) >&2
}

@test "13: server KeyUpdate letters in s_server/s_client select() loops (k, K, and k from both at once): every line arrives in order, every update followed once" {
    requires openssl
    local n=20 out s c issued tx rx
    [[ $(expect_for 13_aes256) == rekey ]] || n=1
    for letters in ":k" "K:" "k:k"; do
        out=$(cli_key_updates "${letters%:*}" "${letters#*:}" "$n") || { echo "$out"; return 1; }
        read -r s c issued tx rx <<<"$out"
        echo "server '${letters%:*}' client '${letters#*:}': $s C lines, $c S lines, $issued updates asked, TX rekeys +$tx, RX rekeys +$rx"
        case $(expect_for 13_aes256) in
        rekey)
            [[ $s == "$n" && $c == "$n" ]]
            # each one sent is followed exactly once; K asks the peer for one
            # more. s_client's k only asks for one: OpenSSL sends it with the
            # next read or write, so the client's last may still be owed
            # when its close_notify drops it (as with OpenSSL alone)
            local want=$issued
            [[ ${letters%:*} == K ]] && want=$((2 * issued))
            ((issued >= n / 2))
            [[ $rx == "$tx" ]]
            [[ $tx == "$want" || (${letters#*:} == k && $tx == $((want - 1))) ]] ;;
        refuse)
            # the first update ends the connection cleanly: nothing hangs
            [[ $tx == 0 && $rx == 0 ]] ;;
        openssl)
            [[ $s == "$n" && $c == "$n" ]] ;;
        esac
    done
}

# nginx with "aio threads": a thread pool's sendfile() on the connection's
# socket while the event loop's SSL_read meets the peer's KeyUpdate with
# update_requested and answers it through the kernel. The answer (a record
# under the old key, then the new key) must not have the other thread's
# records fall between its two halves, and must be sent once. Both ends in one
# shimmed process (tls_threads sendfile-rekey): each update is one TX rekey
# and one RX rekey on each side.
@test "13: sendfile() on one thread while SSL_read answers the peer's update_requested on another (nginx aio threads): every byte intact, each update answered once" {
    [[ $(expect_for 13_aes256) == rekey ]] || { echo "this kernel cannot rekey (or has no kTLS): no KeyUpdate to race"; return 0; }
    local before out bytes=$((16 << 20)) n=64
    before=$(rekey_counters)
    out=$(KTLS_SHIM_KEY_UPDATE_MAX=0 shimmed timeout 300 "$PROGS_DIR/tls_threads" sendfile-rekey --bytes "$bytes" --updates "$n" 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    [[ $out == *"SENDFILE bytes=$bytes intact=1 updates=$n pings=$n ktls_tx=1 ktls_rx=1"* ]]
    rekey_counters_rose "$before" $((2 * n)) $((2 * n))
}

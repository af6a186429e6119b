# Shared by the bad-input tests (70-79): an unshimmed man in the middle
# (build/tls_proxy, tests/progs/tls_proxy.c) between two tls_endpoint programs, one of them
# "the subject" (shimmed or not), so the same bad input can be given to the
# shim and to OpenSSL alone and the outcomes compared exactly.
# Load after helpers.

PROXY="$REPO/build/tls_proxy"

# variant -> "--tls V --cipher C" for an ECDSA server
ec_variant() {
    case $1 in
    12_aes128) echo "--tls 1.2 --cipher ECDHE-ECDSA-AES128-GCM-SHA256" ;;
    12_chacha) echo "--tls 1.2 --cipher ECDHE-ECDSA-CHACHA20-POLY1305" ;;
    13_aes128) echo "--tls 1.3 --cipher TLS_AES_128_GCM_SHA256" ;;
    13_aes256) echo "--tls 1.3 --cipher TLS_AES_256_GCM_SHA384" ;;
    13_chacha) echo "--tls 1.3 --cipher TLS_CHACHA20_POLY1305_SHA256" ;;
    *) echo "ec_variant: unknown $1" >&2; return 1 ;;
    esac
}

# start_ec_server RUNNER ARGS...: tls_endpoint server with the ECDSA identity,
# output in srv.out / srv.err. Sets EC_SERVER_PID, EC_SERVER_PORT.
start_ec_server() {
    local runner=$1 d=$BATS_TEST_TMPDIR
    shift
    # the previous run's file still names its port until the new server's
    # redirection truncates it, in the child, some time after this returns
    rm -f "$d/srv.out"
    $runner "$PEER" server --port 0 --cert "$BATS_FILE_TMPDIR/ec.pem" --key "$BATS_FILE_TMPDIR/ec.key" \
        --timeout 60 "$@" >"$d/srv.out" 2>"$d/srv.err" &
    EC_SERVER_PID=$!
    EC_SERVER_PORT=$(announced_port "$EC_SERVER_PID" "$d/srv.out") && return 0
    cat "$d/srv.err" >&2
    return 1
}

# start_proxy TARGET_PORT ARGS... -> PROXY_PID, PROXY_PORT
start_proxy() {
    local target=$1
    shift
    rm -f "$BATS_TEST_TMPDIR/proxy.out" # (as in start_ec_server)
    "$PROXY" --target "$target" "$@" >"$BATS_TEST_TMPDIR/proxy.out" 2>&1 &
    PROXY_PID=$!
    PROXY_PORT=$(announced_port "$PROXY_PID" "$BATS_TEST_TMPDIR/proxy.out") && return 0
    cat "$BATS_TEST_TMPDIR/proxy.out" >&2
    return 1
}

# mitm_run SUBJECT SHIM VARIANT "SERVER ARGS" "CLIENT ARGS" PROXY_ARGS...
# SUBJECT is client|server: that side runs shimmed when SHIM=1, the other side
# never. Sets SUBJ_RESULT, PEER_RESULT, SUBJ_RC, PEER_RC.
mitm_run() {
    local subject=$1 shim=$2 variant=$3 sargs=$4 cargs=$5 vargs srun=env crun=env
    shift 5
    vargs=$(ec_variant "$variant")
    if [[ $shim == 1 ]]; then
        [[ $subject == server ]] && srun=shimmed || crun=shimmed
    fi
    local d=$BATS_TEST_TMPDIR
    # shellcheck disable=SC2086
    start_ec_server "$srun" $vargs $sargs
    local spid=$EC_SERVER_PID
    start_proxy "$EC_SERVER_PORT" "$@"
    local crc=0 src=0
    # shellcheck disable=SC2086
    $crun "$PEER" client --port "$PROXY_PORT" $vargs --timeout 60 $cargs >"$d/cli.out" 2>"$d/cli.err" || crc=$?
    wait "$spid" || src=$?
    wait "$PROXY_PID" || true
    local sres cres
    sres=$(grep '^RESULT ' "$d/srv.out" | tail -n1)
    cres=$(grep '^RESULT ' "$d/cli.out" | tail -n1)
    if [[ $subject == server ]]; then
        SUBJ_RESULT=$sres PEER_RESULT=$cres SUBJ_RC=$src PEER_RC=$crc
    else
        SUBJ_RESULT=$cres PEER_RESULT=$sres SUBJ_RC=$crc PEER_RC=$src
    fi
    echo "[$subject shim=$shim] subject rc=$SUBJ_RC: $SUBJ_RESULT"
    echo "[$subject shim=$shim] peer rc=$PEER_RC: $PEER_RESULT"
    grep ACTED "$BATS_TEST_TMPDIR/proxy.out" || true
}

# What an application sees: exit status, bytes and their hash, the first and
# the last queued error reason, and the whole queue as LIB:REASON numbers.
outcome() { # RC RESULT
    echo "rc=$1 received=$(field received "$2") sha=$(field received_sha256 "$2") error=$(field error "$2")" \
        "last=$(field last_error "$2") errors=$(field errors "$2")"
}

# side_by_side SUBJECT VARIANT "SERVER ARGS" "CLIENT ARGS" PROXY_ARGS...
# The same bad input to the shimmed subject and to OpenSSL alone. Sets
# SHIM_OUT / PLAIN_OUT (subject outcomes), SHIM_PEER_OUT / PLAIN_PEER_OUT, and
# SHIM_SUBJ_RESULT / PLAIN_SUBJ_RESULT (the subject's RESULT lines).
side_by_side() {
    local subject=$1 variant=$2 sargs=$3 cargs=$4
    shift 4
    mitm_run "$subject" 0 "$variant" "$sargs" "$cargs" "$@"
    PLAIN_SUBJ_RESULT=$SUBJ_RESULT
    PLAIN_OUT=$(outcome "$SUBJ_RC" "$SUBJ_RESULT")
    PLAIN_PEER_OUT=$(outcome "$PEER_RC" "$PEER_RESULT")
    mitm_run "$subject" 1 "$variant" "$sargs" "$cargs" "$@"
    SBS_VARIANT=$variant
    SHIM_OUT=$(outcome "$SUBJ_RC" "$SUBJ_RESULT")
    SHIM_PEER_OUT=$(outcome "$PEER_RC" "$PEER_RESULT")
    SHIM_SUBJ_RESULT=$SUBJ_RESULT
    echo "openssl: $PLAIN_OUT"
    echo "shim:    $SHIM_OUT"
    # the bad-input corpus, in the TAP stream whatever the verdict
    echo "# corpus: ${BATS_TEST_DESCRIPTION%%:*} $* | openssl: $PLAIN_OUT | shim: $SHIM_OUT" >&3
}

# The shimmed subject really had the kernel on the direction that met the bad
# input (on a kTLS kernel that takes the variant's cipher; elsewhere the shim
# must have stayed out).
assert_subject_offload() { # want_tx want_rx
    local want_tx=$1 want_rx=$2
    [[ $(want_kernel "$SBS_VARIANT") == 1 ]] || want_tx=0 want_rx=0
    [[ "$(field ktls_tx "$SHIM_SUBJ_RESULT")" == "$want_tx" ]] || { echo "want ktls_tx=$want_tx"; return 1; }
    [[ "$(field ktls_rx "$SHIM_SUBJ_RESULT")" == "$want_rx" ]] || { echo "want ktls_rx=$want_rx"; return 1; }
}

# The TLS alert a side received, from its first queued error: OpenSSL files a
# received alert under reason 1000 + its description in every version (the
# text differs between versions; the number is the protocol's).
ERR_LIB_SSL=20
received_alert() { # RESULT -> the alert description, or nothing
    local code
    code=$(field error_code "$1") || return 0
    [[ $code == "$ERR_LIB_SSL:"1??? ]] && echo $((${code#*:} - 1000))
}
ALERT_BAD_RECORD_MAC=20
ALERT_UNEXPECTED_MESSAGE=10
ALERT_HANDSHAKE_FAILURE=40

# Reasons the shim queues itself (OpenSSL's numbers, the same in 1.1.1 and 3.x)
ssl_reason() { # RESULT -> the first queued SSL reason number, or nothing
    local code
    code=$(field error_code "$1") || return 0
    [[ $code == "$ERR_LIB_SSL:"* ]] && echo "${code#*:}"
}
SSL_R_UNEXPECTED_MESSAGE=244
SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC=281
SSL_R_UNEXPECTED_EOF_WHILE_READING=294

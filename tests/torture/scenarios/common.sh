# shellcheck shell=bash disable=SC2034,SC2154
# Pieces the scenarios share (sourced by programs.sh after helpers.bash).

# payload_file FILE SIZE SEED: SIZE bytes that only SEED decides
payload_file() {
    head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -K "$(printf %032x "$3")" -iv 00000000000000000000000000000000 >"$1"
}

# sha_of FILE: the first 16 hex digits of its sha256
sha_of() {
    local sum
    sum=$(sha256sum <"$1")
    echo "${sum:0:16}"
}

# pick_tls: tls (1.2 or 1.3) and, for 1.2, an ECDSA suite the kernel takes
# (5.10 has no ChaCha20-Poly1305)
pick_tls() {
    pick tls 1.3 1.2
    if [[ $tls == 1.2 ]]; then
        if ((CHACHA_HERE)); then
            pick cipher ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305
        else
            pick cipher ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384
        fi
    else
        cipher=""
    fi
}

# tclient ARGS...: the harness's own Python peer, never shimmed
tclient() {
    timeout 300 "$PY" "$TORTURE/tclient.py" "$@"
}

# pick_client_end: how the client ends its connection, and what it sends
pick_client_end() {
    pick end normal normal normal halfclose reset garbage truncate
}

# wait_gone PID: waits up to 10 s for PID to end
wait_gone() {
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

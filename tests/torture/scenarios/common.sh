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

# pick_web_transfer CONNS SIZES: an HTTPS server's plan after pick_tls: conns
# (drawn from CONNS), how the client ends, a GET of a seeded file or a PUT of
# a seeded body (kind; size from SIZES where there are several connections,
# up to 3 MiB for one), the client's writes (chunk, pause) and reads (slow)
pick_web_transfer() {
    # shellcheck disable=SC2086 # (the lists are words)
    pick conns $1
    pick_client_end
    if [[ $end == reset ]]; then
        # mid-transfer needs a transfer that cannot sit in socket buffers
        # (not capped by --small: what fits in the socket buffers may be
        # all sent before the reset, or not)
        kind="get"
        if ((SMALL)); then size=1048576 PLAN+="size=$size "; else pick size 1048576 3145728; fi
    else
        pick kind get put
        if ((conns > 1)); then
            # shellcheck disable=SC2086
            pick size $2
        else
            pick size 0 1 1000 16384 16385 100000 1048576 3145728
        fi
    fi
    pick chunk 100 4096 16384 65536
    if ((size / chunk <= 200)); then pick pause 0 0 0.001 0.01; else pause=0; fi
    # a reset mid-transfer needs a reader slow enough that the server is
    # still writing
    if [[ $end == reset ]]; then slow=1 PLAN+="slow=1 "; else pick slow 0 0 1; fi
}

# web_client PORT: tclient.py's HTTP client on the plan pick_web_transfer
# drew (GET /f.bin, or PUT /upload/uI.bin); prints its results and exit
web_client() {
    local args=(--port "$1" --seed "$SEED" --tls "$tls" --http --conns "$conns" --end "$end"
        --chunk "$chunk" --pause "$pause") rc=0
    [[ -n $cipher ]] && args+=(--cipher "$cipher")
    if [[ $kind == get ]]; then args+=(--path /f.bin); else args+=(--up "$size"); fi
    ((slow)) && args+=(--rcvbuf 4096 --read-pause 0.001)
    tclient client "${args[@]}" 2>"$D/tclient.err" || rc=$?
    echo "client exit $rc"
}

# wait_gone PID: waits up to 10 s for PID to end
wait_gone() {
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# did_not_start NAME PID LOG: a server that never came up: says so with its
# log, and kills it
did_not_start() {
    echo "$1 did not start"
    cat "$3"
    kill -KILL "$2" 2>/dev/null || true
}

# wait_in_proc_net tcp|udp STATE PORT...: waits up to 60 s until a socket
# with no peer is bound to each PORT in STATE (/proc/net/tcp's and udp's
# hex: 0A listening, 07 an unconnected datagram socket)
wait_in_proc_net() {
    local table=$1 state=$2 i p ok
    shift 2
    for ((i = 0; i < 600; i++)); do
        ok=1
        for p in "$@"; do
            grep -q "$(printf ':%04X' "$p") 00000000:0000 $state" "/proc/net/$table" || { ok=0; break; }
        done
        ((ok)) && return 0
        sleep 0.1
    done
    return 1
}

# wait_listening PORT...: waits up to 60 s until something listens on each
# 127.0.0.1:PORT, read from /proc (bash's /dev/tcp probe would be a
# connection of its own, in the server's logs)
wait_listening() { wait_in_proc_net tcp 0A "$@"; }

# shellcheck shell=bash disable=SC2034,SC2154
# openssl s_server and s_client, both shimmed, fed through FIFOs with
# timing: seeded data lines (and a seeded blob) each way, command letters
# (k, K: TLS 1.3 KeyUpdates; R: a TLS 1.2 renegotiation) where parity is
# promised, and one of three ends (client Q, client stdin EOF, server q).
# Observed: the data lines each side printed (count and sha256), the
# programs' event lines (KEYUPDATE, RENEGOTIATING, DONE, CONNECTION
# CLOSED...) as a sorted set, their error lines, their exit statuses.

openssl_available() { have openssl; }
openssl_offload() { echo txrx; }

openssl_plan() {
    pick_tls
    pick lines 1 3 8
    pick blob 0 0 4096 65536
    local letters=(none none)
    if [[ $tls == 1.3 ]] && ((!KTLS_HERE || REKEY_HERE)); then
        letters+=(k K)
    elif [[ $tls == 1.2 ]] && ((!KTLS_HERE)); then
        # a renegotiation ends an offloaded connection on every kernel
        # (shim/docs/compatibility.md): parity only without kTLS
        letters+=(R)
    fi
    pick sletter "${letters[@]}"
    # (not the client's R: s_server refuses a client's renegotiation, the
    # connection ends there, and how many of the server's lines were out
    # by then is timing)
    [[ ${letters[-1]} == R ]] && unset 'letters[-1]'
    pick cletter "${letters[@]}"
    pick ending client_Q client_eof server_q
    # a letter is a command only when a read of stdin sees it alone: the
    # gaps leave the program time for that (a busy guest needs them)
    if [[ $sletter$cletter == nonenone ]]; then pick gap 0.05 0.3; else pick gap 0.4 0.8; fi
}

# feed WHO LETTER MARKER PROG LAST: waits for MARKER in the program's
# output (its handshake is done), then writes the seeded lines with LETTER
# between them, then LAST (a command letter, or nothing: stdin ends), and
# stays until the program ends when LAST is empty and the other side ends it
openssl_feed() {
    local who=$1 letter=$2 marker=$3 out=$4 pid=$5 last=$6 i
    for ((i = 0; i < 600; i++)); do
        grep -qs "$marker" "$out" && break
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    for ((i = 1; i <= lines; i++)); do
        echo "D $who line $i"
        sleep "$gap"
        if [[ $letter != none ]]; then echo "$letter"; sleep "$gap"; fi
    done
    if [[ $who == C ]] && ((blob)); then
        # hex, not base64: s_client reads its stdin as the pipe has it, a
        # read may start inside a line, and a base64 K, R or Q there is a
        # command (a guest run met a KeyUpdate and a renegotiation so)
        od -An -v -tx1 -w32 "$D/blob" | tr -d ' ' | sed 's/^/D /'
        sleep "$gap"
    fi
    sleep 0.5
    # A quit or the end of stdin waits until everything the other side sent
    # is in: how much of a stream a quitting program had read (and so
    # whether its close sent a FIN or, unread bytes queued, a reset), or how
    # many of the other side's lines came before s_client's stdin ended, was
    # the machine's speed (the ASan build, a busy guest: openssl seed
    # 3637514242 on 6.1; 601499601 on 7.3, KeyUpdates both ways)
    [[ -n $last ]] && openssl_wait_for_the_peers_lines "$who" "$out" "$pid"
    # EOF: stdin ends here (s_client then closes)
    [[ $last == EOF ]] && return 0
    [[ -n $last ]] && echo "$last"
    # keep stdin open until the program ends (an EOF would end it)
    for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
}

# The programs print what they read as it comes, and their notes ("Read
# BLOCK", "SSL_do_handshake -> 1") can fall inside a line when a read ended
# in it: the notes go before the lines are cut.
openssl_cut_notes() {
    sed -z -E 's/(read R BLOCK|Read BLOCK|SSL_do_handshake -> [0-9-]+|KEYUPDATE|RENEGOTIATING)\n//g' "$1"
}

# openssl_wait_for_the_peers_lines WHO OUT PID: until OUT holds the other
# side's last data line (its blob's last line, when it sends one), or PID ends
openssl_wait_for_the_peers_lines() {
    local other=C last i
    [[ $1 == C ]] && other=S
    last="D $other line $lines"
    if [[ $other == C ]] && ((blob)); then last="D $(od -An -v -tx1 -w32 "$D/blob" | tail -n 1 | tr -d ' ')"; fi
    for ((i = 0; i < 600; i++)); do
        openssl_cut_notes "$2" | grep -qxF "$last" && return 0
        kill -0 "$3" 2>/dev/null || return 0
        sleep 0.1
    done
}

openssl_run() {
    local port tlsarg=(-tls1_3) rc_s=0 rc_c=0 i
    [[ $tls == 1.2 ]] && tlsarg=(-tls1_2 -cipher "$cipher")
    port=$(free_port)
    ((blob)) && payload_file "$D/blob" "$blob" "$SEED"
    mkfifo "$D/s.in" "$D/c.in"
    under_test timeout 120 openssl s_server -naccept 1 -accept "127.0.0.1:$port" \
        -cert "$CERTS/ec.pem" -key "$CERTS/ec.key" "${tlsarg[@]}" \
        <"$D/s.in" >"$D/s.out" 2>"$D/s.err" &
    local spid=$!
    local slast="" clast=""
    case $ending in
    client_Q) clast=Q ;;
    server_q) slast=q ;;
    client_eof) clast=EOF ;;
    esac
    openssl_feed S "$sletter" "CIPHER is" "$D/s.out" "$spid" "$slast" >"$D/s.in" &
    # (no probe of the port: -naccept 1 would take it as the connection)
    for ((i = 0; i < 600; i++)); do grep -qs '^ACCEPT' "$D/s.out" && break; sleep 0.1; done
    under_test timeout 120 openssl s_client -connect "127.0.0.1:$port" "${tlsarg[@]}" \
        <"$D/c.in" >"$D/c.out" 2>"$D/c.err" &
    local cpid=$!
    openssl_feed C "$cletter" "Verify return code" "$D/c.out" "$cpid" "$clast" >"$D/c.in" &
    wait "$cpid" || rc_c=$?
    wait "$spid" || rc_s=$?
    wait
    echo "s_server exit $rc_s, s_client exit $rc_c"
    local who f
    for who in s c; do
        f=$D/$who.out
        openssl_cut_notes "$f" >"$f.data"
        echo "$who data: $(grep -c '^D ' "$f.data") lines sha $(grep '^D ' "$f.data" | sha256sum | head -c 16)"
        # events, as a set: how often a read met WANT_READ ("read R
        # BLOCK") is timing
        grep -hE '^(KEYUPDATE|RENEGOTIATING|DONE|shutting down SSL|CONNECTION CLOSED|SSL_do_handshake -> |closed|read:errno|write:errno|ERROR)' \
            "$f" "$D/$who.err" | sort -u | sed "s/^/$who event: /"
        grep -h ':error:' "$f" "$D/$who.err" | norm | sort -u | sed "s/^/$who error: /" || true
    done
}

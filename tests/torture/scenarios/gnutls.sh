# shellcheck shell=bash disable=SC2034,SC2154
# GnuTLS peers, never shimmed, against CPython's ssl module (OpenSSL),
# shimmed: the kernel's records must be TLS another implementation takes,
# and another implementation's records (its KeyUpdates among them) the
# kernel's. Two roles:
#   cli:  gnutls-cli (seeded hex lines on its stdin, KeyUpdates through its
#         inline commands where parity is promised) -> tclient.py server
#   serv: tclient.py client (seeded hex lines in chunks, each echoed back
#         before the next) -> gnutls-serv --echo
# Observed: the bytes each way (sha256), how each end ended, the exits,
# gnutls-cli's lines about how the connection ended.

gnutls_available() { have gnutls-cli && have gnutls-serv && [[ -x $PY ]]; }
gnutls_offload() { echo txrx; }

gnutls_plan() {
    pick_tls
    pick role cli cli serv
    # (GnuTLS under emulation is slow: at most 256 KiB each way)
    if [[ $role == cli ]]; then
        pick up 0 1 16384 100000
        pick down 0 1 16385 100000 262144
        # a peer's KeyUpdate ends an offloaded connection where the kernel
        # cannot rekey (compatibility.md): parity only where it can, or
        # without kTLS
        # (and only with bytes to upload after it: the server reads the
        # KeyUpdate with them, where one that came last could still be
        # unread at the server's close, a reset, and that is timing)
        local letters=(none)
        [[ $tls == 1.3 ]] && ((up > 0 && (!KTLS_HERE || REKEY_HERE))) && letters+=(rekey1 rekey)
        pick letter "${letters[@]}"
        pick send_end close_notify eof
    else
        # (at least a byte: a TLS 1.3 client's RX moves after its first
        # data, and the echo is all it reads)
        pick up 1 16384 100000
        pick chunk 100 4096 16384 65536
        pick pause 0 0 0.001
        pick send_end close_notify eof
    fi
}

# gnutls_priority: the plan's version only (the OpenSSL end names the suite)
gnutls_priority() {
    if [[ $tls == 1.3 ]]; then echo "NORMAL:-VERS-ALL:+VERS-TLS1.3"; else echo "NORMAL:-VERS-ALL:+VERS-TLS1.2"; fi
}

gnutls_run() {
    if [[ $role == cli ]]; then gnutls_cli_run; else gnutls_serv_run; fi
}

# cli: the framed protocol's header and the upload as hex lines (an inline
# command must be a line of its own), a KeyUpdate command in the middle of
# the upload (or right after the header when there is none), and stdin kept
# open until the server is done, so that gnutls-cli reads all it is sent
gnutls_cli_run() {
    local common=(--seed "$SEED" --tls "$tls" --conns 1)
    [[ -n $cipher ]] && common+=(--cipher "$cipher")
    under_test timeout 300 "$PY" "$TORTURE/tclient.py" server "${common[@]}" --end "$send_end" \
        --cert "$CERTS/ec.pem" --key "$CERTS/ec.key" >"$D/server.out" 2>"$D/server.err" &
    local spid=$! port rc_s=0 rc_c=0
    port=$(announced_port "$spid" "$D/server.out") || { echo "server did not start"; cat "$D/server.err"; return 1; }
    payload_file "$D/up.bin" "$up" "$SEED"
    od -An -v -tx1 -w32 "$D/up.bin" | tr -d ' ' >"$D/up.hex"
    local lines half
    lines=$(wc -l <"$D/up.hex")
    half=$((lines / 2))
    {
        echo "$(stat -c %s "$D/up.hex") $down 0"
        head -n "$half" "$D/up.hex"
        [[ $letter != none ]] && echo "^$letter^"
        tail -n "+$((half + 1))" "$D/up.hex"
    } >"$D/cli.in"
    local inline=()
    [[ $letter != none ]] && inline=(--inline-commands)
    { cat "$D/cli.in"; while kill -0 "$spid" 2>/dev/null; do sleep 0.2; done; } |
        timeout 300 gnutls-cli --insecure --port "$port" --priority "$(gnutls_priority)" "${inline[@]}" \
            --logfile "$D/cli.log" 127.0.0.1 >"$D/down.bin" 2>"$D/cli.err" || rc_c=$?
    wait "$spid" || rc_s=$?
    echo "server exit $rc_s, gnutls-cli exit $rc_c"
    grep -v '^PORT ' "$D/server.out" | sort
    echo "gnutls-cli got $(stat -c %s "$D/down.bin") sha $(sha_of "$D/down.bin")"
    # how it ended, in its words (not the handshake's details: the same in
    # both runs, and long)
    grep -hE '^(\*\*\*|- Peer has closed|- Rekey)' "$D/cli.log" "$D/cli.err" | norm | sort -u | sed 's/^/gnutls-cli: /' || true
}

gnutls_serv_run() {
    local port rc_c=0
    port=$(free_port)
    gnutls-serv --echo --port "$port" --priority "$(gnutls_priority)" \
        --x509certfile "$CERTS/ec.pem" --x509keyfile "$CERTS/ec.key" >"$D/serv.out" 2>&1 &
    local gpid=$!
    wait_listening "$port" || { echo "gnutls-serv did not start"; cat "$D/serv.out"; kill "$gpid" 2>/dev/null; return 1; }
    local args=(--port "$port" --seed "$SEED" --tls "$tls" --echo --up "$up" --chunk "$chunk" --pause "$pause" --end "$send_end")
    [[ -n $cipher ]] && args+=(--cipher "$cipher")
    under_test timeout 300 "$PY" "$TORTURE/tclient.py" client "${args[@]}" 2>"$D/client.err" || rc_c=$?
    kill "$gpid" 2>/dev/null || true
    wait "$gpid" 2>/dev/null || true
    echo "client exit $rc_c"
}

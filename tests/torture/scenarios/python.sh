# shellcheck shell=bash disable=SC2034,SC2154
# CPython's ssl module as the program under test, both ends shimmed: a
# threaded ssl-socket server (tclient.py server) that may run subprocess
# (vfork, then the child closes every fd above 2 before exec) between
# reading and answering, and may take a SIGALRM every millisecond (EINTR,
# PEP 475 retries); clients on ssl sockets or asyncio streams (memory BIOs:
# that end stays in OpenSSL). Observed: each connection's bytes both ways
# (sha256), how each ended on both sides, the exits.

python_available() { [[ -x $PY ]]; }
python_offload() { echo txrx; }

python_plan() {
    pick_tls
    pick conns 1 1 4
    pick up 0 1 16384 100000 1048576
    pick down 0 1 16385 100000 2097152
    pick chunk 100 4096 16384 65536
    if ((up / chunk <= 200)); then pick pause 0 0 0.001 0.01; else pause=0; fi
    pick sub 0 1
    pick signals 0 1
    pick client sockets sockets asyncio
    pick send_end close_notify eof
    pick slow 0 0 1
}

python_run() {
    local rc_s=0 rc_c=0 port
    local common=(--seed "$SEED" --tls "$tls" --conns "$conns" --chunk "$chunk" --pause "$pause")
    [[ -n $cipher ]] && common+=(--cipher "$cipher")
    local sargs=(--end "$send_end" --cert "$CERTS/ec.pem" --key "$CERTS/ec.key")
    ((sub)) && sargs+=(--subprocess)
    ((signals)) && sargs+=(--signals)
    under_test timeout 300 "$PY" "$TORTURE/tclient.py" server "${common[@]}" "${sargs[@]}" >"$D/server.out" 2>"$D/server.err" &
    local spid=$!
    port=$(announced_port "$spid" "$D/server.out") || { echo "server did not start"; cat "$D/server.err"; return 1; }
    local cargs=(--port "$port" --up "$up" --down "$down")
    [[ $client == asyncio ]] && cargs+=(--asyncio)
    ((slow)) && cargs+=(--rcvbuf 4096 --read-pause 0.001)
    under_test timeout 300 "$PY" "$TORTURE/tclient.py" client "${common[@]}" "${cargs[@]}" 2>"$D/client.err" || rc_c=$?
    wait "$spid" || rc_s=$?
    echo "server exit $rc_s, client exit $rc_c"
    grep -v '^PORT ' "$D/server.out" | sort
}

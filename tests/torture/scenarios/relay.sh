# shellcheck shell=bash disable=SC2034,SC2154
# stunnel and socat, shimmed, in a chain between the harness's two Python
# ends (tclient.py client and server, never shimmed), in both roles:
#   a: client -TLS-> stunnel (server) -TCP-> socat OPENSSL (client) -TLS-> server
#   b: client -TLS-> socat OPENSSL-LISTEN (server) -TCP-> stunnel client=yes -TLS-> server
# with the framed protocol's seeded sizes and the client's perturbations.
# Observed: what each end got and how it ended, stunnel's log (its
# connection lines, byte counts included) and socat's error lines.

relay_available() { have stunnel4 && have socat; }
relay_offload() { echo txrx; }

relay_plan() {
    pick_tls
    pick chain a b
    pick conns 1 1 3
    pick up 0 1 16384 100000 1048576
    pick down 0 1 16385 100000 1048576
    pick chunk 100 4096 16384 65536
    if ((up / chunk <= 200)); then pick pause 0 0 0.001; else pause=0; fi
    # (no half-close: a relay shuts the other side's write when one side
    # ends, and socat ends the whole channel 0.5 s later: what still flows
    # then is timing)
    pick end normal normal garbage
    pick send_end close_notify eof
    pick slow 0 0 1
}

# stunnel_conf FILE ACCEPT CONNECT ROLE(server|client)
relay_stunnel_conf() {
    {
        echo "foreground = yes"
        echo "pid ="
        echo "output = $D/stunnel.log"
        echo "debug = 5"
        echo "syslog = no"
        echo "[svc]"
        echo "accept = 127.0.0.1:$2"
        echo "connect = 127.0.0.1:$3"
        if [[ $4 == server ]]; then
            echo "cert = $CERTS/ec.pem"
            echo "key = $CERTS/ec.key"
        else
            echo "client = yes"
        fi
        if [[ $tls == 1.3 ]]; then echo "sslVersion = TLSv1.3"; else echo "sslVersion = TLSv1.2"; echo "ciphers = $cipher"; fi
    } >"$1"
}

relay_run() {
    local common=(--seed "$SEED" --tls "$tls" --conns "$conns" --chunk "$chunk" --pause "$pause")
    [[ -n $cipher ]] && common+=(--cipher "$cipher")
    # (not through tclient(): $! must be the program, for the kill below)
    timeout 300 "$PY" "$TORTURE/tclient.py" server "${common[@]}" --end "$send_end" --cert "$CERTS/ec.pem" --key "$CERTS/ec.key" \
        >"$D/server.out" 2>"$D/server.err" &
    local spid=$! p3 p1 p2 rc=0
    p3=$(announced_port "$spid" "$D/server.out") || { echo "server did not start"; return 1; }
    p1=$(free_port)
    p2=$(free_port)
    local sslopts=verify=0
    if [[ $tls == 1.3 ]]; then sslopts+=,openssl-min-proto-version=TLS1.3; else sslopts+=",openssl-max-proto-version=TLS1.2,cipher=$cipher"; fi
    if [[ $chain == a ]]; then
        relay_stunnel_conf "$D/stunnel.conf" "$p1" "$p2" server
        under_test_bg stunnel4 "$D/stunnel.conf" 2>"$D/stunnel.err" &
        local st=$!
        under_test_bg socat "TCP-LISTEN:$p2,bind=127.0.0.1,reuseaddr,fork" "OPENSSL:127.0.0.1:$p3,$sslopts" 2>"$D/socat.err" &
        local so=$!
    else
        under_test_bg socat "OPENSSL-LISTEN:$p1,bind=127.0.0.1,reuseaddr,fork,cert=$CERTS/ec.pem,key=$CERTS/ec.key,$sslopts" "TCP:127.0.0.1:$p2" 2>"$D/socat.err" &
        local so=$!
        relay_stunnel_conf "$D/stunnel.conf" "$p2" "$p3" client
        under_test_bg stunnel4 "$D/stunnel.conf" 2>"$D/stunnel.err" &
        local st=$!
    fi
    # (not wait_port: its probe of the first relay would be a connection
    # of its own)
    wait_listening "$p1" "$p2" || echo "relays did not start"
    local cargs=(--port "$p1" --up "$up" --down "$down" --end "$end")
    ((slow)) && cargs+=(--rcvbuf 4096 --read-pause 0.001)
    tclient client "${common[@]}" "${cargs[@]}" 2>"$D/client.err" || rc=$?
    echo "client exit $rc"
    # the server waits for as many connections as the plan makes: a garbage
    # plan's connections may never reach it
    if ! wait_gone "$spid"; then kill "$spid" 2>/dev/null || true; echo "server still waiting"; fi
    wait "$spid" 2>/dev/null || true
    grep -v '^PORT ' "$D/server.out" | sort
    sleep 0.5 # the relays log a connection's end after it
    kill "$st" "$so" 2>/dev/null || true
    wait "$st" "$so" 2>/dev/null || true
    # connection lines: the thread and connection numbers, the
    # timestamps and the ports vary. Normalised before the start-up lines
    # are dropped: an OpenSSL error names its source file, and the words
    # below must not meet a path (OpenSSL's AES-GCM failure comes from
    # providers/implementations/ciphers/, and was dropped as a "ciphers"
    # line where the shim's own, from "ktls-shim", was kept: 7.3 relay seed
    # 3981717583, a divergence of the harness)
    grep -E 'LOG[0-5]\[[0-9]+\]' "$D/stunnel.log" | norm |
        grep -vE 'stunnel [0-9.]+ on|Compiled|Running|Threading|Reading|Configuration|Binding|Terminated|Service \[svc\] \(FD|Session id|Listening|Initializ|signal|Removed|Daemon|No pid|FIPS|Certificate|cert|Created pid|Server is down|Switching|Loaded|ciphers|Accepted|UTF-8|Ever' |
        sed -E -e 's/^[0-9.]+ [0-9:]+ //' -e 's/\[[0-9]+\]/[N]/' | sort | uniq -c | sed 's/^ */stunnel: /'
    grep -E ' E ' "$D/socat.err" | norm | sed -E 's/^TIME socat\[[0-9]+\] //' | sort | uniq -c | sed 's/^ */socat: /' || true
    return 0
}

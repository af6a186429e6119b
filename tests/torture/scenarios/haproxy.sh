# shellcheck shell=bash disable=SC2034,SC2154
# HAProxy 2.6 (Debian's: its own BIO over its raw socket layer, edge-
# triggered epoll, two threads) terminating TLS in front of a plain nginx
# (the harness's, never shimmed: it stores PUTs, which Python's http.server
# cannot), its threads as nobody when root starts it, as a packaged
# HAProxy's run as haproxy. GET of a seeded file or PUT of a seeded body
# through tclient.py, with the client's perturbations. Observed: what each
# client connection got and how it ended, HAProxy's log (a line per
# request: status, bytes each way, how the session ended, protocol and
# cipher; a line per connection error), the uploads the backend stored.

haproxy_available() { have haproxy && have nginx; }
haproxy_offload() { echo txrx; }

haproxy_plan() {
    pick_tls
    pick_web_transfer "1 1 1 4 8" "0 1 16384 16385 100000"
}

# haproxy_log_collector FILE PORT: socat writes each log datagram to FILE.
# Not HAProxy's stdout: a thread that finds another one writing its log fd
# tries a few times and then drops its line (fd_write_frag_line in src/fd.c:
# "we prefer to fail on collision than to block"). A write to a file is
# slow enough in the emulated guest that a line went missing at random,
# with and without the shim alike (seed 1501676292, 4 requests ending
# together). Over UDP each thread sends on a socket of its own, no lock.
haproxy_log_collector() {
    socat -u "UDP-RECV:$2,bind=127.0.0.1" "OPEN:$1,creat,append" &
    wait_in_proc_net udp 07 "$2"
}

# haproxy_log_end FILE PORT PID: the collector has all of HAProxy's lines
# once an end mark sent after HAProxy exited is there (loopback delivers a
# socket's datagrams in order)
haproxy_log_end() {
    local i
    echo "end of log" >"/dev/udp/127.0.0.1/$2"
    for ((i = 0; i < 100; i++)); do
        [[ $(tail -n 1 "$1" 2>/dev/null) == "end of log" ]] && break
        sleep 0.1
    done
    kill "$3" 2>/dev/null || true
    wait "$3" 2>/dev/null || true
}

# haproxy_conf FILE PORT BACKEND_PORT PEM LOG_PORT
haproxy_conf() {
    local ver=TLSv1.3
    [[ $tls == 1.2 ]] && ver=TLSv1.2
    {
        echo "global"
        # started as root: its threads as nobody, as a packaged HAProxy's
        ((EUID == 0)) && printf '    user nobody\n    group nogroup\n'
        # (two threads however many CPUs: connections meet more than one)
        echo "    nbthread 2"
        # (a line per datagram to the harness's collector: see
        # haproxy_log_collector)
        echo "    log 127.0.0.1:$5 format raw local0 info"
        # a reset plan: HAProxy is still writing when the RST comes (see
        # nginx_run's sndbuf)
        [[ $end == reset ]] && echo "    tune.sndbuf.client 65536"
        echo "defaults"
        echo "    mode http"
        echo "    log global"
        echo "    timeout connect 10s"
        echo "    timeout client 60s"
        echo "    timeout server 60s"
        echo "frontend tls"
        echo "    bind 127.0.0.1:$2 ssl crt $4 ssl-min-ver $ver ssl-max-ver $ver${cipher:+ ciphers $cipher}"
        # only what a run decides: no times, ports or timers
        echo '    log-format "access %{+Q}r %ST %B %U %ts %sslv %sslc"'
        echo '    error-log-format "error %{+Q}[fc_err_str] %ST %B %U %ts %sslv %sslc"'
        echo "    default_backend plain"
        echo "backend plain"
        echo "    server s1 127.0.0.1:$3"
    } >"$1"
}

haproxy_run() {
    local ngx=$D/ngx user=root f port rc=0
    mkdir -p "$ngx/html/upload" "$ngx/logs" "$ngx/tmp"
    [[ $kind == get ]] && payload_file "$ngx/html/f.bin" "$size" "$SEED"
    cat "$CERTS/ec.pem" "$CERTS/ec.key" >"$D/both.pem"
    if ((EUID == 0)); then
        user=""
        chown -R nobody "$ngx/html/upload" "$ngx/tmp"
        chmod -R a+rX "$ngx"
    fi
    # in the foreground, a child of this shell ("env" as start_nginx's
    # wrapper): a daemon's end is seen only once init reaps it, seconds
    # later on some machines
    NGINX_WRAP=env NGINX_SSL="" NGINX_USER=$user NGINX_PLAIN=1 start_nginx "$ngx" >"$D/start.out" 2>&1 || { cat "$D/start.out"; return 1; }
    local master=$!
    port=$(free_port)
    local log_port collector
    log_port=$(free_port)
    haproxy_log_collector "$D/haproxy.log" "$log_port" || { echo "the log collector did not start"; return 1; }
    collector=$!
    # (run_side's subshell: this trap is the scenario's own)
    trap 'kill "$collector" 2>/dev/null || true' EXIT
    haproxy_conf "$D/haproxy.cfg" "$port" "$NGINX_PORT" "$D/both.pem" "$log_port"
    under_test_bg haproxy -db -f "$D/haproxy.cfg" >"$D/haproxy.out" 2>"$D/haproxy.err" &
    local hp=$!
    # (a probe's connection would be one more in the log)
    wait_listening "$port" || { echo "haproxy did not start"; cat "$D/haproxy.err"; return 1; }
    web_client "$port"
    # a soft stop: it ends once no connection is left, as the client says
    kill -USR1 "$hp" 2>/dev/null || true
    wait_gone "$hp" || { echo "haproxy did not stop"; kill -KILL "$hp" 2>/dev/null || true; }
    wait "$hp" || rc=$?
    echo "haproxy exit $rc"
    haproxy_log_end "$D/haproxy.log" "$log_port" "$collector"
    # (the backend is the harness's: a fast stop)
    kill -TERM "$master" 2>/dev/null || true
    wait "$master" 2>/dev/null || true
    # how much a reset connection was sent is timing (see nginx_run)
    grep -E '^(access|error) ' "$D/haproxy.log" | norm |
        { if [[ $end == reset ]]; then sed -E 's/^(access "[^"]*" [0-9]+) [0-9]+ /\1 N /'; else cat; fi; } |
        sort | sed 's/^/haproxy: /' || true
    for f in "$ngx"/html/upload/*; do
        [[ -e $f ]] && echo "upload ${f##*/} $(sha_of "$f") $(stat -c %s "$f")"
    done
    return 0
}

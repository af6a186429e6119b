# shellcheck shell=bash disable=SC2034,SC2154
# nginx: a stock-ish server block (no kTLS directive; started as root its
# workers run as nobody, as a packaged nginx does), GET of a seeded file or
# PUT of a seeded body through tclient.py, with the client's perturbations.
# Observed: what each client connection got and how it ended, nginx's exit,
# the access log, the error log's lines about connections, the uploads.

nginx_available() { have nginx; }
nginx_offload() { echo txrx; }

nginx_plan() {
    pick_tls
    pick_web_transfer "1 1 1 1 8 30" "0 1 1000 16384 16385 100000"
    pick sig none none usr1
}

nginx_run() {
    local ngx=$D/ngx user=root f
    mkdir -p "$ngx/html/upload" "$ngx/logs" "$ngx/tmp"
    cp "$CERTS/ec.pem" "$ngx/cert.pem"
    cp "$CERTS/ec.key" "$ngx/key.pem"
    [[ $kind == get ]] && payload_file "$ngx/html/f.bin" "$size" "$SEED"
    if ((EUID == 0)); then
        # no user line: the workers run as nobody, as in a stock nginx
        user=""
        chown -R nobody "$ngx/html/upload" "$ngx/tmp"
        chmod -R a+rX "$ngx"
    fi
    # a reset plan: nginx's socket holds 64 KiB, so that it is still
    # writing when the RST comes (loopback's autotuned buffers took the
    # whole MiB in a guest's shimmed run once, and nginx had nothing to log)
    local listen=ssl
    [[ $end == reset ]] && listen="ssl sndbuf=65536"
    NGINX_SSL=$listen NGINX_USER=$user NGINX_PLAIN=$((1 - SHIMMED)) start_nginx "$ngx" >"$D/start.out" 2>&1 || { cat "$D/start.out"; return 1; }
    local master
    master=$(cat "$ngx/logs/nginx.pid")
    if [[ $sig == usr1 ]]; then
        # reopen the logs while connections run: the workers get a signal
        # in the middle of their I/O
        (sleep 0.3; kill -USR1 "$master" 2>/dev/null || true) &
    fi
    web_client "$NGINX_PORT"
    wait
    stop_nginx
    wait_gone "$master" || echo "nginx did not stop"
    cp "$ngx/logs/error.log" "$D/nginx-error.err" # nginx's stderr goes there (sanitizer reports)
    cp "$ngx/logs/start.err" "$D/nginx-start.err"
    # how much a reset connection was sent is timing: its byte count goes
    # (the status stays); a reset meets a write as EPIPE or ECONNRESET
    # depending on where the RST lands: one name for both
    norm <"$ngx/logs/access.log" | sed -E 's/^127\.0\.0\.1 - - \[TIME\] //' |
        { if [[ $end == reset ]]; then sed -E 's/" ([0-9]{3}) [0-9]+ "/" \1 N "/'; else cat; fi; } |
        sort | sed 's/^/access: /'
    # (connection *1 is start_nginx's probe of the port; a reset is seen
    # by a write, or by the read nginx makes when epoll reports the RST
    # first: which one is timing)
    grep -E ' \*[0-9]+ ' "$ngx/logs/error.log" | grep -v ' \*1 ' | norm |
        sed -E -e 's/\((32: Broken pipe|104: Connection reset by peer)\)/(EPIPE-or-ECONNRESET)/' \
            -e 's/(SSL_write\(\) failed|client prematurely closed connection) \(EPIPE-or-ECONNRESET\)/LOST (EPIPE-or-ECONNRESET)/' |
        sort | sed 's/^/error.log: /' || true
    for f in "$ngx"/html/upload/*; do
        [[ -e $f ]] && echo "upload ${f##*/} $(sha_of "$f") $(stat -c %s "$f")"
    done
    return 0
}

# shellcheck shell=bash disable=SC2034,SC2154
# curl (its own BIO over its connection filters), shimmed, against nginx
# (shimmed as well in the shimmed run), directly or through an HTTPS proxy
# (tests/progs/https_proxy.py, the harness's, never shimmed: TLS to the
# proxy, the server's TLS inside it). GETs of a seeded file or PUTs of a
# seeded body, one after another on a kept-alive connection or in parallel
# (curl --parallel), at full speed or rate-limited (a slow reader/writer).
# Observed: curl's exit, each transfer's code and sizes, the bodies' sha256,
# curl's error messages, nginx's access and error logs, the uploads.

curl_available() { have curl && have nginx; }
curl_offload() { echo txrx; }

curl_plan() {
    pick_tls
    pick via direct direct proxy
    pick kind get put
    pick transfers 1 2 3 20 40
    if ((transfers > 3)); then
        pick size 0 1000 16385 100000
    else
        pick size 0 1 16384 100000 1048576 3145728
    fi
    pick mode sequential parallel
    pick rate none none 2M
}

curl_run() {
    local ngx=$D/ngx rc=0 i user=root
    mkdir -p "$ngx/html/upload" "$ngx/logs" "$ngx/tmp" "$D/got"
    cp "$CERTS/ec.pem" "$ngx/cert.pem"
    cp "$CERTS/ec.key" "$ngx/key.pem"
    payload_file "$D/f.bin" "$size" "$SEED"
    [[ $kind == get ]] && cp "$D/f.bin" "$ngx/html/f.bin"
    if ((EUID == 0)); then
        user=""
        chown -R nobody "$ngx/html/upload" "$ngx/tmp"
        chmod -R a+rX "$ngx" "$D/f.bin"
    fi
    NGINX_USER=$user NGINX_PLAIN=$((1 - SHIMMED)) start_nginx "$ngx" >"$D/start.out" 2>&1 || { cat "$D/start.out"; return 1; }
    local master
    master=$(cat "$ngx/logs/nginx.pid")
    local args=(-sS --no-progress-meter -k --http1.1 -w '%{http_code} %{size_download} %{size_upload} %{exitcode}\n')
    if [[ $tls == 1.2 ]]; then args+=(--tlsv1.2 --tls-max 1.2 --ciphers "$cipher"); else args+=(--tlsv1.3); fi
    [[ $mode == parallel ]] && args+=(--parallel --parallel-max 50)
    [[ $rate != none ]] && args+=(--limit-rate "$rate")
    if [[ $via == proxy ]]; then
        timeout 300 "$PY" tests/progs/https_proxy.py "$CERTS/ec.pem" "$CERTS/ec.key" >"$D/proxy.out" 2>"$D/proxy.err" &
        local proxy=$! pport
        pport=$(announced_port "$proxy" "$D/proxy.out") || { echo "proxy did not start"; return 1; }
        args+=(--proxy "https://127.0.0.1:$pport" --proxy-insecure)
    fi
    for ((i = 0; i < transfers; i++)); do
        if [[ $kind == get ]]; then
            args+=("https://127.0.0.1:$NGINX_PORT/f.bin" -o "$D/got/$i")
        else
            args+=(-T "$D/f.bin" "https://127.0.0.1:$NGINX_PORT/upload/u$i.bin" -o "$D/got/$i")
        fi
    done
    # curl 7.88 hangs with libasan preloaded, shim or not (measured: an
    # LD_PRELOAD of libasan.so alone, a GET from s_server -www, never
    # returns): an ASan preload gives curl the shim's plain build
    local preload=$SHIM_PRELOAD
    [[ $preload == *libasan* ]] && preload=$PWD/build/libktls-shim.so
    SHIM_PRELOAD=$preload under_test timeout 300 curl "${args[@]}" >"$D/curl.out" 2>"$D/curl.err" || rc=$?
    [[ $via == proxy ]] && { kill "$proxy" 2>/dev/null || true; wait "$proxy" 2>/dev/null || true; }
    echo "curl exit $rc"
    # parallel transfers finish in any order
    sort "$D/curl.out" | uniq -c | sed 's/^ */transfers: /'
    norm <"$D/curl.err" | sort | uniq -c | sed 's/^ */curl stderr: /'
    for ((i = 0; i < transfers; i++)); do
        [[ -e $D/got/$i ]] && echo "body $(sha_of "$D/got/$i")"
    done | sort | uniq -c
    stop_nginx
    wait_gone "$master" || echo "nginx did not stop"
    cp "$ngx/logs/error.log" "$D/nginx-error.err"
    norm <"$ngx/logs/access.log" | sed -E 's/^127\.0\.0\.1 - - \[TIME\] //' | sort | uniq -c | sed 's/^ */access: /'
    grep -E ' \*[0-9]+ ' "$ngx/logs/error.log" | grep -v ' \*1 ' | norm | sed -E 's/PID: \*C //' | sort | uniq -c | sed 's/^ */error.log: /' || true
    for f in "$ngx"/html/upload/*; do
        [[ -e $f ]] && echo "upload $(sha_of "$f") $(stat -c %s "$f")"
    done | sort | uniq -c
    return 0
}

#!/usr/bin/env bash
# The demo itself, on a kernel with kTLS: nginx serves a file to a Python
# client five times without the shim, then five times with it (both ends
# shimmed; nginx under ktls-run), and prints what the kernel and the shim saw,
# side by side.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shim=$repo/build/libktls-shim.so
work=$(mktemp -d /tmp/ktls-demo.XXXXXX)
trap 'kill $(cat "$work"/*/logs/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
# stock nginx defaults: started as root, its workers run as nobody, who must
# be able to read the files it serves
chmod 755 "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 1 -subj /CN=localhost >/dev/null 2>&1
mkdir -p "$work/html"
head -c $((8 << 20)) /dev/urandom >"$work/html/file.bin"
want=$(sha256sum <"$work/html/file.bin" | cut -d' ' -f1)
stat_of() { awk -v k="$1" '$1 == k {print $2}' /proc/net/tls_stat 2>/dev/null || echo 0; }

run() { # plain|shim -> "tx rx ok_count connections tx_moved rx_moved sendfile_mib rx_mib"
    local label=$1 dir=$work/$1 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$dir/logs"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $dir/body;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $work/html;
    }
}
CONF
    local tx0 rx0 wrap=() client_env=()
    tx0=$(stat_of TlsTxSw) rx0=$(stat_of TlsRxSw)
    if [[ $label == shim ]]; then
        # the operator's way: ktls-run in front of an unmodified nginx; the
        # stats directory takes files from the workers (nobody) too
        mkdir -m 1733 "$dir/stats"
        wrap=("$repo/build/ktls-run" --stats "$dir/stats/" --log info --log-file "$dir/shim.log" --)
        client_env=(LD_PRELOAD="$shim" KTLS_SHIM_STATS="$dir/stats/client")
    fi
    "${wrap[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/ktls-run.txt" &
    local server=$!
    local ok
    ok=$(env "${client_env[@]}" python3 - "$port" "$want" <<'PY'
import hashlib, http.client, socket, ssl, sys, time
port, want = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError:
        time.sleep(0.1)
ok = 0
for _ in range(5):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    c.request("GET", "/file.bin")
    ok += hashlib.sha256(c.getresponse().read()).hexdigest() == want
    c.close()
print(ok)
PY
)
    kill -QUIT "$server" # ktls-run passes it on to nginx, waits, and summarises
    wait "$server" || true
    # the shim's own numbers, summed over nginx's worker and the client
    local shim_numbers="- - - - -"
    if [[ $label == shim ]]; then
        shim_numbers=$(python3 - "$dir/stats" <<'PY'
import glob, json, sys
t = dict(c=0, tx=0, rx=0, sf=0, krx=0)
for f in glob.glob(sys.argv[1] + "/*.json"):
    a = json.load(open(f))["arms"]["offload"]
    t["c"] += a["connections"]; t["tx"] += a["tx"]["kernel"]; t["rx"] += a["rx"]["kernel"]
    t["sf"] += a["bytes"]["kernel_sendfile"]; t["krx"] += a["bytes"]["kernel_rx"]
print(t["c"], t["tx"], t["rx"], "%.0f" % (t["sf"] / 2**20), "%.0f" % (t["krx"] / 2**20))
PY
)
    fi
    echo "$(( $(stat_of TlsTxSw) - tx0 )) $(( $(stat_of TlsRxSw) - rx0 )) $ok $shim_numbers"
}

read -r a_tx a_rx a_ok a_c a_stx a_srx a_sf a_krx <<<"$(run plain)"
read -r b_tx b_rx b_ok b_c b_stx b_srx b_sf b_krx <<<"$(run shim)"
printf '\n  nginx -> Python, 5 connections x 8 MiB, kernel %s\n\n' "$(uname -r)"
printf '  %-46s %12s %12s\n' "" "without shim" "with shim"
printf '  %-46s %12s %12s\n' "files intact (sha256)" "$a_ok/5" "$b_ok/5"
printf '  %-46s %12s %12s\n' "kernel TlsTxSw (sockets it encrypts for)" "+$a_tx" "+$b_tx"
printf '  %-46s %12s %12s\n' "kernel TlsRxSw (sockets it decrypts for)" "+$a_rx" "+$b_rx"
printf '  %-46s %12s %12s\n' "shim stats: TLS connections seen" "$a_c" "$b_c"
printf '  %-46s %12s %12s\n' "shim stats: TX / RX moved to the kernel" "$a_stx / $a_srx" "$b_stx / $b_srx"
printf '  %-46s %12s %12s\n' "shim stats: MiB nginx sent with sendfile()" "$a_sf" "$b_sf"
printf '  %-46s %12s %12s\n' "shim stats: MiB the client read via kTLS" "$a_krx" "$b_krx"
printf '\n  (both ends shimmed: 5 nginx + 5 client connections, each TX and RX;\n'
printf '   nginx ran under build/ktls-run, whose full summary is below)\n\n'
sed 's/^/  | /' "$work/shim/ktls-run.txt"
[[ $a_ok == 5 && $b_ok == 5 && $b_tx == 10 && $b_rx == 10 && $b_stx == 10 && $b_srx == 10 ]]

#!/usr/bin/env bash
# The demo itself, on a kernel with kTLS: nginx serves a file to a Python
# client five times without the shim, then five times with it (both ends
# shimmed), and prints what the kernel and the shim saw, side by side.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shim=$repo/build/libktls-shim.so
work=$(mktemp -d /tmp/ktls-demo.XXXXXX)
trap 'kill $(cat "$work"/*/logs/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 1 -subj /CN=localhost >/dev/null 2>&1
mkdir -p "$work/html"
head -c $((8 << 20)) /dev/urandom >"$work/html/file.bin"
want=$(sha256sum <"$work/html/file.bin" | cut -d' ' -f1)
stat_of() { awk -v k="$1" '$1 == k {print $2}' /proc/net/tls_stat; }

run() { # LABEL PRELOAD -> "tx rx ok_count kernel_tx kernel_rx"
    local label=$1 preload=$2 dir=$work/$1 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$dir/logs"
    cat >"$dir/nginx.conf" <<CONF
user root;
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
    local tx0 rx0
    tx0=$(stat_of TlsTxSw) rx0=$(stat_of TlsRxSw)
    env ${preload:+LD_PRELOAD=$preload} KTLS_SHIM_LOG=info KTLS_SHIM_LOG_FILE="$dir/shim.log" \
        nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon on;'
    local ok
    ok=$(env ${preload:+LD_PRELOAD=$preload} KTLS_SHIM_LOG=info KTLS_SHIM_LOG_FILE="$dir/shim.log" \
        python3 - "$port" "$want" <<'PY'
import hashlib, http.client, ssl, sys, time
port, want = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
for _ in range(50):
    try:
        socket = __import__("socket").create_connection(("127.0.0.1", port)); socket.close(); break
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
    kill -QUIT "$(cat "$dir/logs/nginx.pid")"
    sleep 1
    local ktx krx
    ktx=$(grep -c ' tx: kernel' "$dir/shim.log" 2>/dev/null || true)
    krx=$(grep -c ' rx: kernel' "$dir/shim.log" 2>/dev/null || true)
    echo "$(( $(stat_of TlsTxSw) - tx0 )) $(( $(stat_of TlsRxSw) - rx0 )) $ok ${ktx:-0} ${krx:-0}"
}

read -r a_tx a_rx a_ok a_ktx a_krx <<<"$(run plain '')"
read -r b_tx b_rx b_ok b_ktx b_krx <<<"$(run shim "$shim")"
printf '\n  nginx -> Python, 5 connections x 8 MiB, kernel %s\n\n' "$(uname -r)"
printf '  %-44s %12s %12s\n' "" "without shim" "with shim"
printf '  %-44s %12s %12s\n' "files intact (sha256)" "$a_ok/5" "$b_ok/5"
printf '  %-44s %12s %12s\n' "TlsTxSw: sockets the kernel encrypts for" "+$a_tx" "+$b_tx"
printf '  %-44s %12s %12s\n' "TlsRxSw: sockets the kernel decrypts for" "+$a_rx" "+$b_rx"
printf '  %-44s %12s %12s\n' "shim log: directions moved to the kernel" "$((a_ktx + a_krx))" "$((b_ktx + b_krx))"
printf '\n  (both ends shimmed: 5 nginx + 5 client sockets, each TX and RX)\n'
[[ $a_ok == 5 && $b_ok == 5 && $b_tx == 10 && $b_rx == 10 ]]

#!/usr/bin/env bats
# Stock nginx (no kTLS directive) under the shim, and Python's ssl module as a
# shimmed client: a PUT up and a GET down on one keep-alive connection.

load helpers

setup() {
    requires nginx python3
}

teardown() {
    stop_nginx
}

# python_put_get VERSION -> prints "sent_sha got_sha status_put status_get ktls_tx ktls_rx"
python_put_get() {
    shimmed python3 - "$NGINX_PORT" "$1" <<'PY'
import hashlib, http.client, os, socket, ssl, sys
port, version = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = ctx.maximum_version = v
payload = os.urandom(1048576 + 123)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
conn.request("PUT", "/upload/blob.bin", body=payload)
r = conn.getresponse(); r.read()
put_status = r.status
conn.request("GET", "/upload/blob.bin")
r = conn.getresponse(); body = r.read()
sock = conn.sock
def on(opt):
    try:
        sock.getsockopt(282, opt, 4)  # struct tls_crypto_info: exact size or EINVAL
        return 1
    except OSError:
        return 0
print(hashlib.sha256(payload).hexdigest(), hashlib.sha256(body).hexdigest(),
      put_status, r.status, on(1), on(2), sock.version())
conn.close()
PY
}

nginx_python() {
    local version=$1 before out
    start_nginx "$BATS_TEST_TMPDIR/nginx"
    before=$(tls_counters)
    out=$(python_put_get "$version")
    echo "$out"
    read -r sent got put_status get_status tx rx proto <<<"$out"
    [[ "$sent" == "$got" ]]
    [[ "$put_status" == 201 || "$put_status" == 204 ]]
    [[ "$get_status" == 200 ]]
    cmp <(python3 -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" \
          "$NGINX_DIR/html/upload/blob.bin") <(echo "$sent")
    if have_ktls; then
        [[ "$tx" == 1 && "$rx" == 1 ]]
    else
        [[ "$tx" == 0 && "$rx" == 0 ]]
    fi
    stop_nginx
    # client: TX + RX; nginx worker: TX + RX
    assert_counters_rose "$before" 2 2
}

@test "13: nginx serves a shimmed Python client, 1 MiB up and down intact, kernel both ends" {
    nginx_python 1.3
}

@test "12: nginx serves a shimmed Python client, 1 MiB up and down intact, kernel both ends" {
    nginx_python 1.2
}

@test "nginx logs each connection's decision with KTLS_SHIM_LOG=info" {
    KTLS_SHIM_LOG=info KTLS_SHIM_LOG_FILE="$BATS_TEST_TMPDIR/shim.log" start_nginx "$BATS_TEST_TMPDIR/nginx"
    python_put_get 1.3
    stop_nginx
    cat "$BATS_TEST_TMPDIR/shim.log" || true
    if have_ktls; then
        grep -q 'server tx: kernel' "$BATS_TEST_TMPDIR/shim.log"
        grep -q 'server rx: kernel' "$BATS_TEST_TMPDIR/shim.log"
    else
        grep -q 'kernel-no-tls' "$BATS_TEST_TMPDIR/shim.log"
    fi
    ! grep -qiE '[0-9a-f]{32}' "$BATS_TEST_TMPDIR/shim.log" || false
}

# CPython 3.10+ runs subprocess through vfork(): the child, sharing the
# parent's memory, closes every descriptor above 2 through the shim's
# close_range() before exec. The parent's connections must not notice.
@test "a shimmed CPython client runs subprocess between two 1 MiB echoes: intact, kernel TX and RX throughout" {
    start_peer_server --echo
    local before out
    before=$(tls_counters)
    out=$(shimmed python3 - "$SERVER_PORT" <<'PY'
import hashlib, os, socket, ssl, subprocess, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
def kernel(opt):
    try:
        s.getsockopt(282, opt, 4)
        return 1
    except OSError:
        return 0
def echo(n):
    data = os.urandom(n)
    s.sendall(data)
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return hashlib.sha256(data).hexdigest() == hashlib.sha256(got).hexdigest()
first = echo(1 << 20)
states = [(kernel(1), kernel(2))]
for _ in range(3):
    subprocess.run(["true"], check=True)
second = echo(1 << 20)
states.append((kernel(1), kernel(2)))
s.unwrap()
s.close()
print(int(first), int(second), " ".join("%d%d" % st for st in states))
PY
    )
    echo "client: $out"
    wait_server
    echo "server: $SERVER_RESULT"
    local want=11
    have_ktls || want=00
    [[ $out == "1 1 $want $want" ]]
    [[ "$(field received "$SERVER_RESULT")" == 2097152 ]]
    assert_counters_rose "$before" 2 2
}

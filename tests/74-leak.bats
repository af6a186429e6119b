#!/usr/bin/env bats
# Plaintext never reaches the wire: a known marker string, repeated through
# the payload, must not appear in a raw capture of every byte both ways
# (tls_proxy --capture on loopback), while the peer receives it intact.
# Offloaded (kernel TX/RX), fallback (KTLS_SHIM_MODE=off: OpenSSL keeps both
# directions) and libc sendfile() on a TLS socket, both where the kernel owns
# TX (real sendfile) and where it does not (emulated through SSL_write). And
# a descriptor number lost and reused under a live offloaded connection
# (tests/progs/fd_reuse.c): nothing may go out in clear on the new socket.

load helpers
load mitm

MARKER=KTLS-SHIM-LEAK-MARKER-5f1d2c

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

marker_count() { # FILE
    python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(sys.argv[2].encode()))' "$1" "$MARKER"
}

# Both ends are the subject (shimmed, with the given environment); the proxy
# records the wire.
captured_exchange() { # VARIANT
    local cap=$BATS_TEST_TMPDIR/wire.bin vargs d=$BATS_TEST_TMPDIR
    vargs=$(ec_variant "$1")
    # shellcheck disable=SC2086
    start_ec_server shimmed $vargs --expect 65536 --send 65536 --marker "$MARKER"
    local spid=$EC_SERVER_PID
    start_proxy "$EC_SERVER_PORT" --capture "$cap"
    # shellcheck disable=SC2086
    CLIENT_RESULT=$(shimmed "$PEER" client --port "$PROXY_PORT" $vargs --send 65536 --expect 65536 \
        --marker "$MARKER" | grep '^RESULT ')
    wait "$spid"
    wait "$PROXY_PID"
    SERVER_RESULT=$(grep '^RESULT ' "$d/srv.out")
    echo "server: $SERVER_RESULT"
    echo "client: $CLIENT_RESULT"
    assert_intact
    WIRE_BYTES=$(stat -c %s "$cap")
    WIRE_MARKERS=$(marker_count "$cap")
    echo "wire: $WIRE_BYTES bytes, $WIRE_MARKERS markers"
    # 64 markers each way went through; none in clear, and the capture is the whole exchange
    [[ $WIRE_BYTES -gt 131072 && $WIRE_MARKERS == 0 ]]
}

@test "the capture sees a marker sent in clear (control for the tests below)" {
    python3 -c 'import socket,sys; l=socket.socket(); l.bind(("127.0.0.1",0)); l.listen(1); print("PORT", l.getsockname()[1], flush=True); c,_=l.accept(); print("GOT", len(c.recv(100)), flush=True)' \
        >"$BATS_TEST_TMPDIR/sink.out" &
    local sink=$! port=""
    for _ in $(seq 1 300); do port=$(awk '/^PORT/{print $2}' "$BATS_TEST_TMPDIR/sink.out"); [[ -n "$port" ]] && break; sleep 0.1; done
    start_proxy "$port" --capture "$BATS_TEST_TMPDIR/plain.bin"
    python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.argv[2].encode()); s.close()' \
        "$PROXY_PORT" "$MARKER"
    wait "$sink"
    wait "$PROXY_PID"
    [[ "$(marker_count "$BATS_TEST_TMPDIR/plain.bin")" == 1 ]]
}

@test "13_aes256 offloaded: the marker never appears on the wire" {
    captured_exchange 13_aes256
    assert_offload server 1 1
    assert_offload client 1 1
}

@test "12_chacha fallback (KTLS_SHIM_MODE=off): the marker never appears on the wire" {
    KTLS_SHIM_MODE=off captured_exchange 12_chacha
    assert_offload server 0 0
    assert_offload client 0 0
}

# A shimmed Python server writes a marker file with os.sendfile() straight
# onto its TLS socket's descriptor; an unshimmed client checks what arrived.
sendfile_leak() { # KTLS_SHIM_MODE
    local d=$BATS_TEST_TMPDIR port
    python3 -c 'import sys; m=sys.argv[1].encode(); open(sys.argv[2],"wb").write((m + b"." * (1024 - len(m))) * 96)' \
        "$MARKER" "$d/marked.bin"
    port=$(free_port)
    KTLS_SHIM_MODE=$1 shimmed python3 - "$port" "$BATS_FILE_TMPDIR" "$d/marked.bin" >"$d/srv.out" 2>&1 <<'PY' &
import os, socket, ssl, sys
port, certs, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certs + "/ec.pem", certs + "/ec.key")
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1)
print("READY", flush=True)
conn = ctx.wrap_socket(ls.accept()[0], server_side=True)
conn.recv(5)
size, off = os.path.getsize(path), 0
with open(path, "rb") as f:
    while off < size:
        off += os.sendfile(conn.fileno(), f.fileno(), off, size - off)
print("SENT", off, flush=True)
conn.unwrap().close()
PY
    local spid=$!
    for _ in $(seq 1 300); do grep -q READY "$d/srv.out" 2>/dev/null && break; sleep 0.1; done
    start_proxy "$port" --capture "$d/wire.bin"
    local got
    got=$(python3 - "$PROXY_PORT" <<'PY'
import hashlib, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"hello")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
s.unwrap()
print(len(data), hashlib.sha256(data).hexdigest())
PY
)
    wait "$spid"
    wait "$PROXY_PID"
    cat "$d/srv.out"
    local want
    want="$(stat -c %s "$d/marked.bin") $(sha256sum <"$d/marked.bin" | cut -d' ' -f1)"
    echo "got $got, want $want"
    [[ "$got" == "$want" ]]
    local markers
    markers=$(marker_count "$d/wire.bin")
    echo "wire: $(stat -c %s "$d/wire.bin") bytes, $markers markers"
    [[ $markers == 0 ]]
}

@test "sendfile() where the kernel owns TX: the file's marker never appears on the wire" {
    local before
    before=$(tls_counters)
    sendfile_leak both
    # the server's TX (and RX) were the kernel's
    assert_counters_rose "$before" 1 1
}

@test "sendfile() emulated (KTLS_SHIM_MODE=rx, TX in OpenSSL): the file's marker never appears on the wire" {
    local before
    before=$(tls_counters)
    sendfile_leak rx
    assert_counters_rose "$before" 0 1
}

# fd_reuse HOW: connection A offloaded, its descriptor lost HOW, the number
# reused for connection B through the capture proxy to an unshimmed server.
reused_descriptor() { # HOW
    local d=$BATS_TEST_TMPDIR n=65536 out rc=0
    start_ec_server env $(ec_variant 13_aes256) --expect "$n"
    local spid=$EC_SERVER_PID
    start_proxy "$EC_SERVER_PORT" --capture "$d/wire.bin"
    out=$(shimmed "$REPO/build/fd_reuse" --how "$1" --b-port "$PROXY_PORT" --tls 1.3 --bytes "$n" \
        --marker "$MARKER" 2>"$d/reuse.err") || rc=$?
    # a subject that failed early may never have connected: nobody else ends them
    ((rc == 0)) || kill "$spid" "$PROXY_PID" 2>/dev/null || true
    wait "$spid" || true
    wait "$PROXY_PID" || true
    SERVER_RESULT=$(grep '^RESULT ' "$d/srv.out")
    echo "subject rc=$rc: $out"
    echo "B's server: $SERVER_RESULT"
    cat "$d/reuse.err"
    local markers
    markers=$(marker_count "$d/wire.bin")
    echo "wire: $(stat -c %s "$d/wire.bin") bytes, $markers markers"
    [[ $rc == 0 && $markers == 0 ]]
    [[ "$(field received "$SERVER_RESULT")" == "$n" ]]
    [[ "$(field received_sha256 "$SERVER_RESULT")" == "$(field b_sent_sha256 "$out")" ]]
    [[ "$(field bio_ktls_send "$out")" == 0 ]]
    if have_ktls; then
        # the situation is real: A's TX was the kernel's, and A fails closed
        [[ "$(field a_ktls_tx "$out")" == 1 ]]
        [[ "$(field a_write_after_loss "$out")" == refused ]]
    fi
}

@test "fd reuse: dup2 over an offloaded descriptor: nothing in clear, the new connection intact" {
    reused_descriptor dup2
}
@test "fd reuse: close_range, then the number reused: nothing in clear, the new connection intact" {
    reused_descriptor close_range
}
@test "fd reuse: closefrom, then the number reused: nothing in clear, the new connection intact" {
    reused_descriptor closefrom
}
@test "fd reuse: fclose(fdopen()) (a close inside libc), then reused: nothing in clear, intact" {
    reused_descriptor fclose
}
@test "fd reuse: a raw close(2) no interposer sees, then reused: nothing in clear, intact" {
    reused_descriptor syscall
}
@test "fd reuse across threads: one thread closes, another reuses the number: nothing in clear, intact" {
    reused_descriptor thread
}

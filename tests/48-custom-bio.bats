#!/usr/bin/env bats
# Programs that give OpenSSL their own BIO over their socket (Apache httpd,
# HAProxy, curl, PostgreSQL): tls_endpoint --bio plays each shape
# (tests/progs/own_bio.h). The shim finds the socket from the program's own
# I/O inside the SSL calls, proves the BIO a transparent pipe with exact byte
# counts before moving a direction, and serves the connection from the kernel
# afterwards while the program's layer keeps doing its waiting (readiness,
# EAGAIN, its own timeouts). Bytes intact always; on a kTLS kernel both
# directions of both ends in the kernel (exact TlsTxSw/TlsRxSw deltas).

load helpers

SIZE=262144

setup_file() {
    make_cert "$BATS_FILE_TMPDIR"
}

IDENTITY() { echo "--cert $BATS_FILE_TMPDIR/cert.pem --key $BATS_FILE_TMPDIR/key.pem"; }

# own_bio_exchange VARIANT "SERVER ARGS" "CLIENT ARGS" [TX RX]: TX/RX: whether
# both ends must end up in the kernel for that direction on a kTLS kernel
# (default: both)
own_bio_exchange() {
    local variant=$1 server_args=$2 client_args=$3 k before
    k=$(want_kernel "$variant")
    local want_tx=${4:-$k} want_rx=${5:-$k}
    [[ $k == 1 ]] || want_tx=0 want_rx=0
    before=$(tls_counters)
    KTLS_SHIM_LOG=info peer_exchange "$(variant_args "$variant") $(IDENTITY) --expect $SIZE --send $SIZE $server_args" \
        "$(variant_args "$variant") --send $SIZE --expect $SIZE $client_args"
    assert_intact
    [[ "$(field received "$SERVER_RESULT")" == "$SIZE" ]]
    assert_offload server "$want_tx" "$want_rx"
    assert_offload client "$want_tx" "$want_rx"
    assert_counters_rose "$before" $((2 * want_tx)) $((2 * want_rx))
    if ! have_ktls; then
        # no kernel TLS: stays in OpenSSL, as ever, with the old reason
        grep -q 'tx stays in OpenSSL: kernel-no-tls\|tx stays in OpenSSL: custom-bio' "$BATS_TEST_TMPDIR/server.err"
    fi
}

@test "12_aes_128_gcm: one custom BIO over recv/send (libpq, curl): both directions of both ends in the kernel" {
    own_bio_exchange 12_AES_128_GCM "--bio custom" "--bio custom"
}

@test "13_aes_256_gcm: one custom BIO over recv/send (libpq, curl): both directions of both ends in the kernel" {
    own_bio_exchange 13_AES_256_GCM "--bio custom" "--bio custom"
}

@test "13_chacha: a read BIO and a write BIO (mod_ssl): both directions of both ends in the kernel" {
    own_bio_exchange 13_CHACHA "--bio split" "--bio split"
}

@test "12_aes_256_gcm: a read BIO and a write BIO (mod_ssl): both directions of both ends in the kernel" {
    own_bio_exchange 12_AES_256_GCM "--bio split" "--bio split"
}

@test "13_aes_128_gcm: a BIO that waits itself on a non-blocking socket (APR): both directions of both ends in the kernel, the layer waiting as it would" {
    own_bio_exchange 13_AES_128_GCM "--bio wait" "--bio wait"
}

@test "13_aes_128_gcm: non-blocking program, its BIO hands EAGAIN to OpenSSL (HAProxy): WANT_READ/WANT_WRITE as before" {
    own_bio_exchange 13_AES_128_GCM "--bio custom --nonblock" "--bio custom --nonblock"
}

# A layer that keeps lengths and changes every byte (XOR, obfuscation, a
# stream cipher BIO) passes the byte counts; the wire's content shows it: the
# socket's stream is no TLS records. Moved, the kernel would send records
# without the layer, and a peer with the layer could not read them.
xor_layer_stays() { # SIDE: the end whose log must name the reason
    if have_ktls; then
        grep -q 'tx stays in OpenSSL: custom-bio-transforms' "$BATS_TEST_TMPDIR/$1.err"
        grep -q 'rx stays in OpenSSL: custom-bio-transforms' "$BATS_TEST_TMPDIR/$1.err"
    fi
}

@test "12_aes_128_gcm: an XOR layer in the program's BIO (lengths kept, every byte changed), both ends shimmed: every direction stays in OpenSSL as custom-bio-transforms, bytes intact" {
    own_bio_exchange 12_AES_128_GCM "--bio xor" "--bio xor" 0 0
    xor_layer_stays server
    xor_layer_stays client
}

@test "13_aes_256_gcm: an XOR layer in a shimmed server's BIO, against an unshimmed client with the same layer: the client reads every byte (the kernel's records would lack the layer)" {
    CLIENT_PLAIN=1 own_bio_exchange 13_AES_256_GCM "--bio xor" "--bio xor" 0 0
    xor_layer_stays server
}

@test "12_aes_128_gcm: custom BIO against an un-shimmed socket-BIO peer, both ways" {
    local k before
    k=$(want_kernel 12_AES_128_GCM)
    SERVER_PLAIN=1 KTLS_SHIM_LOG=info peer_exchange "$(variant_args 12_AES_128_GCM) $(IDENTITY) --expect $SIZE --send $SIZE" \
        "$(variant_args 12_AES_128_GCM) --send $SIZE --expect $SIZE --bio split"
    assert_intact
    assert_offload client "$k" "$k"
    assert_offload server 0 0
    before=$(tls_counters)
    CLIENT_PLAIN=1 KTLS_SHIM_LOG=info peer_exchange "$(variant_args 12_AES_128_GCM) $(IDENTITY) --expect $SIZE --send $SIZE --bio custom" \
        "$(variant_args 12_AES_128_GCM) --send $SIZE --expect $SIZE"
    assert_intact
    assert_offload server "$k" "$k"
    assert_offload client 0 0
    assert_counters_rose "$before" "$k" "$k"
}

@test "13_aes_128_gcm: a read BIO that reads ahead (Apache's core input filter): RX waits for a moment the program holds nothing, or stays with OpenSSL; TX moves; bytes intact" {
    local k
    k=$(want_kernel 13_AES_128_GCM)
    KTLS_SHIM_LOG=debug peer_exchange "$(variant_args 13_AES_128_GCM) $(IDENTITY) --expect $SIZE --send $SIZE --bio readahead" \
        "$(variant_args 13_AES_128_GCM) --send $SIZE --expect $SIZE"
    assert_intact
    assert_offload client "$k" "$k"
    [[ "$(field ktls_tx "$SERVER_RESULT")" == "$k" ]]
    have_ktls || return 0
    # never moved while the program held bytes: either no RX move at all, or
    # one made when the counts were equal (the log says which)
    if [[ "$(field ktls_rx "$SERVER_RESULT")" == 0 ]]; then
        grep -q 'rx stays in OpenSSL: ended-before-move\|rx stays in OpenSSL: shutdown' "$BATS_TEST_TMPDIR/server.err"
    else
        grep -qE 'server rx: kernel' "$BATS_TEST_TMPDIR/server.err"
    fi
}

# mod_ssl hands back, with the data of an SSL_read, the status its read BIO
# kept from its last read (inctx->rc), and notes an SSL_read's WANT_READ as
# EAGAIN there; a stale EAGAIN with data fails the request (the connection
# closes). RX can move right after such a WANT_READ: here the program's
# layer reads ahead the server's Finished, 8 records and a handshake record
# of no bytes (which OpenSSL reads as nothing; the server encrypts it
# itself), in one burst (the client sleeps once its Finished is sent), so the
# layer and the socket agree only once OpenSSL read that last record and
# the socket said EAGAIN (seq 10: Finished, 8 records, the empty one). The
# rest comes 1.5 s later, after the program waited for the socket outside
# OpenSSL (as the event MPM does), and must come back with success. The
# same holds for an ignored warning alert, a refused renegotiation, or a
# TLS 1.2 backend of mod_proxy's (mod_ssl as a client).
@test "12_aes_128_gcm: RX moves right after a WANT_READ of a layer that keeps its last status (mod_ssl's inctx->rc): the kernel's next data comes with success, not that stale EAGAIN" {
    local k
    k=$(want_kernel 12_AES_128_GCM)
    SERVER_PLAIN=1 KTLS_SHIM_LOG=info peer_exchange "$(variant_args 12_AES_128_GCM) $(IDENTITY) --expect 0 --send 65536 --chunk 1024 --inject 22: --inject-after 8192 --pause-after-inject 1500" \
        "$(variant_args 12_AES_128_GCM) --send 0 --expect 65536 --bio apr --pause-after-ccs 1000"
    cat "$BATS_TEST_TMPDIR/client.err"
    assert_intact
    [[ "$(field received "$CLIENT_RESULT")" == 65536 ]]
    assert_offload client "$k" "$k"
    [[ $k == 1 ]] || return 0
    grep -q 'client rx: kernel (seq 10)' "$BATS_TEST_TMPDIR/client.err"
}

teardown() {
    stop_nginx
    stop_postgres
    [[ -z ${PROXY_PID:-} ]] || kill "$PROXY_PID" 2>/dev/null || true
}

# curl 7.88 gives OpenSSL its connection-filter BIO over its socket filter
# curl_round_trip PLAIN: a shimmed curl fetches and uploads 2 MiB through
# nginx, un-shimmed (PLAIN=1) or shimmed; the same bytes as an un-shimmed
# curl, and on a kTLS kernel curl's TX and RX in the kernel (both ends' when
# nginx is shimmed too: 4 sockets a direction over the two connections).
curl_round_trip() {
    requires nginx curl
    NGINX_PLAIN=$1 start_nginx "$BATS_TEST_TMPDIR/nginx"
    head -c 2097152 /dev/urandom >"$NGINX_DIR/html/blob"
    local url=https://127.0.0.1:$NGINX_PORT before want k ends=$((2 - $1))
    want=$(sha256sum <"$NGINX_DIR/html/blob")
    curl -sS -k -o "$BATS_TEST_TMPDIR/plain" "$url/blob"
    [[ $(sha256sum <"$BATS_TEST_TMPDIR/plain") == "$want" ]]
    before=$(tls_counters)
    # curl offers TLS 1.3 post-handshake auth, which keeps it in OpenSSL by
    # default (post-handshake-auth, 49-custom-bio-servers); nginx never asks
    export KTLS_SHIM_POST_HANDSHAKE_AUTH=move
    KTLS_SHIM_LOG=info shimmed curl -sS -k -o "$BATS_TEST_TMPDIR/down" "$url/blob" 2>"$BATS_TEST_TMPDIR/down.err"
    KTLS_SHIM_LOG=info shimmed curl -sS -k -T "$NGINX_DIR/html/blob" "$url/upload/up" 2>"$BATS_TEST_TMPDIR/up.err"
    cat "$BATS_TEST_TMPDIR/down.err" "$BATS_TEST_TMPDIR/up.err"
    [[ $(sha256sum <"$BATS_TEST_TMPDIR/down") == "$want" ]]
    [[ $(sha256sum <"$NGINX_DIR/html/upload/up") == "$want" ]]
    k=$(want_kernel 13_AES_256_GCM)
    assert_counters_rose "$before" $((2 * ends * k)) $((2 * ends * k))
    [[ $k == 1 ]] || return 0
    grep -qE 'client tx: kernel' "$BATS_TEST_TMPDIR/down.err"
    grep -qE 'client rx: kernel' "$BATS_TEST_TMPDIR/down.err"
    grep -qE 'client tx: kernel' "$BATS_TEST_TMPDIR/up.err"
    ! grep -q 'stays in OpenSSL' "$BATS_TEST_TMPDIR/down.err" "$BATS_TEST_TMPDIR/up.err" || false
}

@test "curl (its own BIO): 2 MiB down and up through an un-shimmed nginx, curl's TX and RX in the kernel, same bytes as without the shim" {
    curl_round_trip 1
}

@test "curl (its own BIO) against a shimmed nginx: 2 MiB down and up, TX and RX of both ends in the kernel, same bytes as without the shim" {
    curl_round_trip 0
}

# curl through an HTTPS proxy: the origin's TLS runs inside the proxy
# connection's TLS, so curl's SSL_write on the origin connection calls
# SSL_write on the proxy connection from inside OpenSSL (its BIO). Each call
# must reach the shim as the program made it: the inner connection stays in
# OpenSSL (its BIO is not a socket), the outer one moves.
@test "curl through an HTTPS CONNECT proxy (TLS in TLS): 2 MiB down and up from a shimmed nginx, intact; the proxy connection's TX and RX in the kernel" {
    requires curl nginx
    start_nginx "$BATS_TEST_TMPDIR/nginx"
    head -c 2097152 /dev/urandom >"$NGINX_DIR/html/blob"
    local want proxy_port before k
    want=$(sha256sum <"$NGINX_DIR/html/blob")
    python3 "$REPO/tests/progs/https_proxy.py" "$NGINX_DIR/cert.pem" "$NGINX_DIR/key.pem" \
        >"$BATS_TEST_TMPDIR/proxy.out" 2>&1 &
    PROXY_PID=$!
    for _ in $(seq 1 600); do
        proxy_port=$(awk '/^PORT /{print $2; exit}' "$BATS_TEST_TMPDIR/proxy.out")
        [[ -n $proxy_port ]] && break
        sleep 0.1
    done
    [[ -n $proxy_port ]]
    local url="https://127.0.0.1:$NGINX_PORT" via=(-x "https://127.0.0.1:$proxy_port" --proxy-insecure)
    before=$(tls_counters)
    export KTLS_SHIM_POST_HANDSHAKE_AUTH=move # (as in curl_round_trip)
    KTLS_SHIM_LOG=info shimmed curl -sS -k "${via[@]}" -o "$BATS_TEST_TMPDIR/down" "$url/blob" 2>"$BATS_TEST_TMPDIR/down.err"
    KTLS_SHIM_LOG=info shimmed curl -sS -k "${via[@]}" -T "$NGINX_DIR/html/blob" "$url/upload/up" 2>"$BATS_TEST_TMPDIR/up.err"
    kill "$PROXY_PID" 2>/dev/null || true
    cat "$BATS_TEST_TMPDIR/down.err" "$BATS_TEST_TMPDIR/up.err"
    [[ $(sha256sum <"$BATS_TEST_TMPDIR/down") == "$want" ]]
    [[ $(sha256sum <"$NGINX_DIR/html/upload/up") == "$want" ]]
    ! grep -q 'connection failed\|OpenSSL wrote a record after TX moved' "$BATS_TEST_TMPDIR/down.err" "$BATS_TEST_TMPDIR/up.err" || false
    k=$(want_kernel 13_AES_256_GCM)
    # per curl: the proxy connection (TX+RX), and nginx's end of the tunnelled
    # connection (TX+RX); the tunnelled connection's curl end stays in OpenSSL
    assert_counters_rose "$before" $((4 * k)) $((4 * k))
    [[ $k == 1 ]] || return 0
    grep -q 'client tx: kernel' "$BATS_TEST_TMPDIR/down.err"
    grep -q 'client rx: kernel' "$BATS_TEST_TMPDIR/down.err"
    grep -q 'stays in OpenSSL: custom-bio' "$BATS_TEST_TMPDIR/down.err"
}

stop_postgres() {
    [[ -n "${PG_DIR:-}" ]] || return 0
    [[ ! -f "$PG_DIR/data/postmaster.pid" ]] ||
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}

# PostgreSQL's backend and libpq each give OpenSSL their own socket BIO
@test "PostgreSQL 15 (ssl=on) and psql (sslmode=require): a COPY of 4 MiB each way, TX and RX of both in the kernel, same rows as without the shim" {
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -x $PG_BIN/initdb ]] || skip "requires postgresql"
    requires psql runuser
    # the server runs as postgres, which cannot enter bats' private temporary directories
    PG_DIR=$(mktemp -d /tmp/ktls-pg.XXXXXX)
    chmod 0755 "$PG_DIR"
    make_cert "$PG_DIR"
    chown -R postgres "$PG_DIR"
    chmod 0600 "$PG_DIR/key.pem"
    runuser -u postgres -- "$PG_BIN/initdb" -A trust -U postgres -D "$PG_DIR/data" >/dev/null
    local port
    port=$(free_port)
    KTLS_SHIM_LOG=info LD_PRELOAD=$SHIM runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$PG_DIR/cert.pem -c ssl_key_file=$PG_DIR/key.pem" start
    # 4 MiB of rows: numbers and hex text
    seq 1 90000 | awk '{printf "%d\t%08x%08x%08x%08x\n", $1, $1*2654435761%4294967296, $1*40503, $1*97, $1}' >"$PG_DIR/rows"
    local conn="host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=require"
    psql -q "$conn" -c "create table t (n int, h text)"
    local before
    before=$(tls_counters)
    KTLS_SHIM_LOG=info shimmed psql -q "$conn" -c "\\copy t from '$PG_DIR/rows'" 2>"$PG_DIR/in.err"
    KTLS_SHIM_LOG=info shimmed psql -q "$conn" -c "\\copy (select * from t order by n) to '$PG_DIR/back'" 2>"$PG_DIR/out.err"
    psql -q "$conn" -c "\\copy (select * from t order by n) to '$PG_DIR/back.plain'"
    cat "$PG_DIR/in.err" "$PG_DIR/out.err"
    [[ $(sha256sum <"$PG_DIR/back") == $(sha256sum <"$PG_DIR/rows") ]]
    [[ $(sha256sum <"$PG_DIR/back.plain") == $(sha256sum <"$PG_DIR/rows") ]]
    (($(stat -c %s "$PG_DIR/rows") > 2000000))
    local k
    k=$(want_kernel 13_AES_256_GCM)
    [[ $k == 1 ]] || return 0
    # the two shimmed psql and the backends that served them
    grep -q 'client tx: kernel' "$PG_DIR/in.err"
    grep -q 'client rx: kernel' "$PG_DIR/out.err"
    grep -q 'server tx: kernel' "$PG_DIR/log"
    grep -q 'server rx: kernel' "$PG_DIR/log"
    local after
    after=$(tls_counters)
    echo "TlsTxSw ${before% *} -> ${after% *}, TlsRxSw ${before#* } -> ${after#* }"
    ((${after% *} - ${before% *} >= 4 && ${after#* } - ${before#* } >= 4))
}

@test "Python asyncio TLS (SSLObject over MemoryBIOs): every direction stays in OpenSSL as custom-bio-memory, bytes intact" {
    requires python3
    local before out sha
    before=$(tls_counters)
    out=$(KTLS_SHIM_LOG=info shimmed python3 "$REPO/tests/progs/membio_echo.py" \
        "$BATS_FILE_TMPDIR/cert.pem" "$BATS_FILE_TMPDIR/key.pem" 262144 2>"$BATS_TEST_TMPDIR/err")
    cat "$BATS_TEST_TMPDIR/err"
    echo "$out"
    sha=$(field sent_sha256 "$out")
    [[ $(field server_received_sha256 "$out") == "$sha" && $(field client_received_sha256 "$out") == "$sha" ]]
    assert_counters_rose "$before" 0 0
    have_ktls || return 0
    [[ $(grep -c 'stays in OpenSSL: custom-bio-memory' "$BATS_TEST_TMPDIR/err") == 4 ]]
}

# Dovecot's shape: the SSL sits on one half of a BIO pair and the program
# moves the other half's bytes to and from its socket itself.
@test "a BIO pair (BIO_new_bio_pair, Dovecot's shape): every direction stays in OpenSSL as custom-bio-memory, bytes intact, same as without the shim" {
    local before out plain sha
    plain=$("$REPO/build/bio_pair_echo" 1048576)
    before=$(tls_counters)
    out=$(KTLS_SHIM_LOG=info shimmed "$REPO/build/bio_pair_echo" 1048576 2>"$BATS_TEST_TMPDIR/err")
    cat "$BATS_TEST_TMPDIR/err"
    echo "$out"
    [[ "$out" == "$plain" ]]
    sha=$(field sent_sha256 "$out")
    [[ $(field server_received_sha256 "$out") == "$sha" && $(field client_received_sha256 "$out") == "$sha" ]]
    [[ $(field ktls "$out") == none ]]
    assert_counters_rose "$before" 0 0
    have_ktls || return 0
    [[ $(grep -c 'stays in OpenSSL: custom-bio-memory' "$BATS_TEST_TMPDIR/err") == 4 ]]
}

# mod_ssl gives OpenSSL a read BIO and a write BIO and keeps its own pointer
# to the write BIO. With TX in the kernel and RX still in OpenSSL, a client's
# renegotiation request makes OpenSSL write (a no_renegotiation alert); the
# shim diverts that write and must not free the program's write BIO.
@test "12_aes_128_gcm: mod_ssl's split BIOs, TX in the kernel, RX in OpenSSL, s_client asks to renegotiate (R): the program's write BIO lives until SSL_free" {
    local before
    before=$(tls_counters)
    KTLS_SHIM_MODE=tx KTLS_SHIM_LOG=info start_peer_server $(variant_args 12_AES_128_GCM) $(IDENTITY) \
        --bio split --no-reneg --echo
    { printf 'hello\n'; sleep 3; printf 'R\n'; sleep 4; } |
        timeout 12 openssl s_client -connect "127.0.0.1:$SERVER_PORT" -tls1_2 \
            >"$BATS_TEST_TMPDIR/client.out" 2>&1 || true
    wait_server || true
    echo "server: $SERVER_RESULT"
    cat "$BATS_TEST_TMPDIR/server.err"
    grep -q '^RENEGOTIATING' "$BATS_TEST_TMPDIR/client.out"
    [[ "$(field received "$SERVER_RESULT")" == 6 ]]
    [[ "$(field bios_live "$SERVER_RESULT")" == 2 ]]
    grep -qx 'FREED bios_live=0' "$SERVER_OUT"
    if have_ktls; then
        [[ "$(field ktls_tx "$SERVER_RESULT")" == 1 && "$(field ktls_rx "$SERVER_RESULT")" == 0 ]]
        # OpenSSL's no_renegotiation went out through the kernel
        grep -q "OpenSSL's alert (level 1, description 100) went out through the kernel" "$BATS_TEST_TMPDIR/server.err"
    fi
    assert_counters_rose "$before" 1 0
}

# A signal handler that writes on a socket while the program's own BIO is in
# a handshake (issue 19.7): the hooks run inside the handler, where malloc is
# not safe (the interrupted code may hold its lock), and the socket the
# handler wrote on is not the connection's. tests/progs/sig_io.c counts the
# allocations made inside its handler; the socket-BIO server beside it shows
# the shim at work in the same process.
@test "13: a signal handler writes on another socket during a custom-BIO handshake: the shim allocates nothing in the handler, that connection stays in OpenSSL, bytes intact" {
    local out
    local rc=0
    out=$(KTLS_SHIM_LOG=info shimmed "$REPO/build/sig_io" 2>"$BATS_TEST_TMPDIR/sig_io.err") || rc=$?
    echo "$out"
    cat "$BATS_TEST_TMPDIR/sig_io.err"
    [[ $rc == 0 ]]
    [[ $(field ok "$out") == 1 && $(field handler_ran "$out") == 1 && $(field side_byte "$out") == 1 ]]
    [[ $(field handler_allocs "$out") == 0 ]]
    local k=0
    have_ktls && k=1
    [[ $(field server_tx "$out") == "$k" && $(field server_rx "$out") == "$k" ]]
    # the handler's socket was seen first: nothing proves the layer a plain
    # pipe over the connection's own socket, so it stays in OpenSSL
    [[ $(field client_tx "$out") == 0 && $(field client_rx "$out") == 0 ]]
    if have_ktls; then
        grep -q 'stays in OpenSSL: custom-bio-several-sockets' "$BATS_TEST_TMPDIR/sig_io.err"
    fi
}

# wrk calls SSL_set_fd before every retry of its non-blocking SSL_connect:
# each retry writes through a new socket BIO. Twice per retry puts each new
# BIO where the one before it was (malloc hands the freed memory back),
# which wrk meets on its own under load (2 of 1000 connections kept TX in
# OpenSSL as record-accounting in a CI run): the shim must tell a new BIO
# from the old one at the same address, and count the records on.
wrk_handshake() { # VARIANT
    local i same=0
    for i in 1 2 3; do
        own_bio_exchange "$1" "--nonblock" "--nonblock --set-fd-each-retry 2"
        same=$(field bio_same_address "$CLIENT_RESULT")
        [[ $same -ge 1 ]] && return 0
        echo "attempt $i: the handshake needed no retry; again"
    done
    false
}

@test "13_aes_128_gcm: wrk's handshake, a new BIO before every retry at the address of the one before: both directions of both ends in the kernel" {
    wrk_handshake 13_AES_128_GCM
}

@test "12_aes_256_gcm: wrk's handshake, a new BIO before every retry at the address of the one before: both directions of both ends in the kernel" {
    wrk_handshake 12_AES_256_GCM
}

#!/usr/bin/env bats
# The stock openssl s_server / s_client, both shimmed: the file they move must
# arrive intact, the kernel must carry it, and TLS 1.3 resumption must work.

load helpers

# 1 MiB of digit lines: s_server treats a stdin chunk starting with a letter as
# a command (Q, R, k...), digits never are, and chatter never matches a line.
make_digits() { # FILE LINES
    python3 - "$1" "$2" <<'PY'
import random, sys
r = random.Random(sys.argv[1].rsplit("/", 1)[-1])
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):
        f.write(str(r.getrandbits(220)).zfill(67)[-63:] + "\n")
PY
}

digit_lines() { grep -E '^[0-9]{63}$' "$1" || true; }

count_lines() { digit_lines "$1" | wc -l; }

setup_file() {
    make_cert "$BATS_FILE_TMPDIR"
    head -c 1048576 /dev/urandom >"$BATS_FILE_TMPDIR/payload.bin"
    make_digits "$BATS_FILE_TMPDIR/up.txt" 16384
    make_digits "$BATS_FILE_TMPDIR/down.txt" 16384
}

# s_server -WWW in the file tmpdir; sets SSRV_PID SSRV_PORT
start_s_server() {
    SSRV_PORT=$(free_port)
    (cd "$BATS_FILE_TMPDIR" && exec env LD_PRELOAD="$SHIM" openssl s_server -accept "127.0.0.1:$SSRV_PORT" \
        -cert cert.pem -key key.pem -WWW "$@") >"$BATS_TEST_TMPDIR/s_server.out" 2>&1 &
    SSRV_PID=$!
    local i
    for i in $(seq 1 600); do
        grep -q '^ACCEPT' "$BATS_TEST_TMPDIR/s_server.out" && return 0
        sleep 0.1
    done
    cat "$BATS_TEST_TMPDIR/s_server.out"
    return 1
}

version_flags() { # VERSION CIPHER -> s_server/s_client flags
    if [[ $1 == 1.3 ]]; then echo "-tls1_3 -ciphersuites $2"; else echo "-tls1_2 -cipher $2"; fi
}

get_file() { # extra s_client args...; writes body to $BATS_TEST_TMPDIR/body
    printf 'GET /payload.bin HTTP/1.0\r\n\r\n' \
        | shimmed timeout 120 openssl s_client -connect "127.0.0.1:$SSRV_PORT" -ign_eof "$@" \
            >"$BATS_TEST_TMPDIR/client.out" 2>"$BATS_TEST_TMPDIR/client.err"
}

body_sha() { # strip s_client chatter and the HTTP header; hash the body
    python3 - "$BATS_TEST_TMPDIR/client.out" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"HTTP/1.0 200 ok")
body = data[data.index(b"\r\n\r\n", start) + 4:]
body = body[:1048576]
print(hashlib.sha256(body).hexdigest(), len(body))
PY
}

# s_server (plain mode: SSL_accept/SSL_read/SSL_write) <-> s_client, both
# shimmed, 1 MiB each way at the same time.
cli_exchange() {
    local spec var="MATRIX_$1" lines=16384 before t=$BATS_TEST_TMPDIR port i
    spec=${!var}
    cp "$BATS_FILE_TMPDIR/up.txt" "$t/up.txt"
    cp "$BATS_FILE_TMPDIR/down.txt" "$t/down1.txt"
    port=$(free_port)
    before=$(tls_counters)
    # the server's stdin ends (and it closes) once both sides have everything
    { cat "$t/down1.txt"
      for i in $(seq 1 3000); do
          [[ $(count_lines "$t/srv.out") -ge $lines && $(count_lines "$t/cli.out") -ge $lines ]] && break
          sleep 0.1
      done
    } | shimmed openssl s_server -accept "127.0.0.1:$port" -naccept 1 \
            -cert "$BATS_FILE_TMPDIR/cert.pem" -key "$BATS_FILE_TMPDIR/key.pem" \
            $(version_flags $spec) >"$t/srv.out" 2>"$t/srv.err" &
    local srv=$!
    for i in $(seq 1 600); do grep -q '^ACCEPT' "$t/srv.out" 2>/dev/null && break; sleep 0.1; done
    shimmed timeout 300 openssl s_client -connect "127.0.0.1:$port" -quiet $(version_flags $spec) \
        <"$t/up.txt" >"$t/cli.out" 2>"$t/cli.err" || true
    wait "$srv" || true
    diff <(digit_lines "$t/srv.out") "$t/up.txt" >/dev/null || { echo "server got $(count_lines "$t/srv.out") lines"; return 1; }
    diff <(digit_lines "$t/cli.out") "$t/down1.txt" >/dev/null || { echo "client got $(count_lines "$t/cli.out") lines"; return 1; }
    assert_counters_rose "$before" 2 2
}

@test "12_aes_128_gcm: s_server <-> s_client, 1 MiB each way intact, kernel on both ends" { cli_exchange 12_AES_128_GCM; }
@test "12_aes_256_gcm: s_server <-> s_client, 1 MiB each way intact, kernel on both ends" { cli_exchange 12_AES_256_GCM; }
@test "12_chacha: s_server <-> s_client, 1 MiB each way intact, kernel on both ends" { cli_exchange 12_CHACHA; }
@test "13_aes_128_gcm: s_server <-> s_client, 1 MiB each way intact, kernel on both ends" { cli_exchange 13_AES_128_GCM; }
@test "13_aes_256_gcm: s_server <-> s_client, 1 MiB each way intact, kernel on both ends" { cli_exchange 13_AES_256_GCM; }
@test "13_chacha: s_server <-> s_client, 1 MiB each way intact, kernel on both ends" { cli_exchange 13_CHACHA; }

resumption() {
    local flags=$1
    # shellcheck disable=SC2086
    start_s_server -naccept 2 $flags
    # shellcheck disable=SC2086
    get_file $flags -sess_out "$BATS_TEST_TMPDIR/sess.pem"
    grep -q '^New, ' "$BATS_TEST_TMPDIR/client.out"
    [[ -s "$BATS_TEST_TMPDIR/sess.pem" ]]
    # shellcheck disable=SC2086
    get_file $flags -sess_in "$BATS_TEST_TMPDIR/sess.pem"
    wait "$SSRV_PID"
    grep '^Reused, ' "$BATS_TEST_TMPDIR/client.out"
    [[ "$(body_sha | cut -d' ' -f2)" == 1048576 ]]
}

@test "13_aes_128_gcm: s_client -sess_out then -sess_in reports the session reused" {
    resumption "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256"
}

@test "12_aes_256_gcm: s_client -sess_out then -sess_in reports the session reused" {
    resumption "-tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384"
}

@test "s_server -WWW (BIO_f_ssl) stays in OpenSSL, its shimmed client offloads, file intact" {
    local before
    start_s_server -naccept 1 -tls1_3
    before=$(tls_counters)
    get_file -tls1_3 -quiet
    wait "$SSRV_PID"
    [[ "$(body_sha)" == "$(sha256sum <"$BATS_FILE_TMPDIR/payload.bin" | cut -d' ' -f1) 1048576" ]]
    assert_counters_rose "$before" 1 1
}

@test "s_client -msg still sees every handshake message (callback chained)" {
    start_s_server -naccept 1 -tls1_3
    get_file -tls1_3 -msg
    wait "$SSRV_PID"
    grep -q 'Handshake \[length [0-9a-f]*\], Finished' "$BATS_TEST_TMPDIR/client.out"
    grep -q 'NewSessionTicket' "$BATS_TEST_TMPDIR/client.out"
    [[ "$(body_sha | cut -d' ' -f2)" == 1048576 ]]
}

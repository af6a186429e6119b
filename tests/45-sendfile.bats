#!/usr/bin/env bats
# Zero-copy file serving: stock nginx with `sendfile on` takes SSL_sendfile
# once the shim has handed TX to the kernel (BIO_get_ktls_send says 1), and
# the file never passes through SSL_write. On the host it falls back to
# SSL_write with identical bytes. libc sendfile on a TLS socket the kernel
# does not encrypt is emulated through SSL_write, never sent in clear.

load helpers

# The files nginx serves, made once per file by the first test that needs
# them (64 MiB of random bytes take a while under the guest's emulated CPU).
make_html() {
    local html=$BATS_FILE_TMPDIR/html
    [[ -f $html/empty.bin ]] && return 0
    mkdir -p "$html"
    head -c $((64 << 20)) /dev/urandom >"$html/big.bin"
    printf 'x' >"$html/one.bin"
    : >"$html/empty.bin"
}

setup() {
    requires nginx python3 strace
}

teardown() {
    stop_nginx
}

# fetch PATH [RANGE] -> "status length sha256" of the body, by a shimmed Python client
fetch() {
    shimmed python3 - "$NGINX_PORT" "$1" "${2:-}" <<'PY'
import hashlib, http.client, ssl, sys
port, path, rng = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
conn.request("GET", path, headers={"Range": rng} if rng else {})
r = conn.getresponse()
h = hashlib.sha256()
n = 0
while True:
    chunk = r.read(1 << 20)
    if not chunk:
        break
    h.update(chunk)
    n += len(chunk)
print(r.status, n, h.hexdigest())
PY
}

file_sha() { # FILE [START END] -> sha256 of the file or of bytes START..END inclusive
    python3 - "$@" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
if len(sys.argv) > 2:
    data = data[int(sys.argv[2]):int(sys.argv[3]) + 1]
print(len(data), hashlib.sha256(data).hexdigest())
PY
}

serve_files() { # NGINX_EXTRA: more http-level directives
    make_html
    mkdir -p "$BATS_TEST_TMPDIR/nginx"
    ln -s "$BATS_FILE_TMPDIR/html" "$BATS_TEST_TMPDIR/nginx/html"
    start_nginx "$BATS_TEST_TMPDIR/nginx" "sendfile on; ${NGINX_EXTRA:-}"
}

@test "nginx sendfile on: 64 MiB, 1 byte and empty files arrive intact" {
    serve_files
    local out f
    for f in big one empty; do
        out=$(fetch /$f.bin)
        echo "$f: $out"
        [[ "$out" == "200 $(file_sha "$BATS_FILE_TMPDIR/html/$f.bin")" ]]
    done
}

@test "nginx sendfile on: range requests return exactly the asked bytes" {
    serve_files
    local out
    out=$(fetch /big.bin bytes=1000-2000999)
    echo "$out"
    [[ "$out" == "206 $(file_sha "$BATS_FILE_TMPDIR/html/big.bin" 1000 2000999)" ]]
    out=$(fetch /big.bin bytes=67108000-)
    echo "$out"
    [[ "$out" == "206 $(file_sha "$BATS_FILE_TMPDIR/html/big.bin" 67108000 67108863)" ]]
}

# Counts the worker's syscalls while it serves big.bin once.
# Prints "sendfile_calls sendfile_bytes write_calls write_bytes"
traced_fetch() {
    NGINX_WRAP="strace -ff -qq -o $BATS_TEST_TMPDIR/trace -e trace=sendfile,write,writev,sendto,sendmsg" \
        serve_files
    fetch /big.bin >"$BATS_TEST_TMPDIR/fetch.out"
    stop_nginx
    wait # the tracer ends with nginx
    awk '
        / = [0-9]+$/ {
            n = $NF + 0
            if ($1 ~ /^sendfile/) { sc++; sb += n }
            else if ($1 ~ /^(write|writev|sendto|sendmsg)\(/) { wc++; wb += n }
        }
        END { printf "%d %d %d %d\n", sc, sb, wc, wb }' "$BATS_TEST_TMPDIR"/trace.*
}

# The shimmed worker serves big.bin once (NGINX_EXTRA as for serve_files): on
# a kTLS kernel with sendfile() carrying the file; elsewhere nginx must not
# choose sendfile for TLS, and every byte is SSL_write'n.
assert_zero_copy_where_ktls() { # LABEL
    local counts sc sb wc wb
    counts=$(traced_fetch)
    read -r sc sb wc wb <<<"$counts"
    echo "$1, 64 MiB: sendfile calls=$sc bytes=$sb; write-family calls=$wc bytes=$wb" | tee -a "$BATS_TEST_TMPDIR/../syscalls.txt" >&3
    [[ "$(cut -d' ' -f1-2 "$BATS_TEST_TMPDIR/fetch.out")" == "200 67108864" ]]
    if have_ktls; then
        [[ $sb -ge 67108864 ]]
        [[ $wb -lt 1048576 ]]
    else
        [[ $sc == 0 ]]
        [[ $wb -ge 67108864 ]]
    fi
}

@test "on a kTLS kernel the worker sends the file with sendfile(), not SSL_write" {
    assert_zero_copy_where_ktls "shimmed nginx"
}

@test "without the shim the same nginx SSL_writes the file (baseline syscall counts)" {
    local counts sc sb wc wb
    counts=$(NGINX_PLAIN=1 traced_fetch)
    read -r sc sb wc wb <<<"$counts"
    echo "plain nginx, 64 MiB: sendfile calls=$sc bytes=$sb; write-family calls=$wc bytes=$wb" >&3
    [[ $sc == 0 ]]
    [[ $wb -ge 67108864 ]]
}

# OpenSSL's own kTLS (Options KTLS) owns TX: nginx asks BIO_get_ktls_send,
# gets OpenSSL's 1 and calls SSL_sendfile, which the shim must hand to
# OpenSSL (its zero-copy sendfile), not emulate with SSL_write.
@test "nginx with OpenSSL's own kTLS (ssl_conf_command Options KTLS): SSL_sendfile stays OpenSSL's, zero-copy" {
    NGINX_EXTRA="ssl_conf_command Options KTLS;" assert_zero_copy_where_ktls "shimmed nginx, Options KTLS"
}

check_sendfile_program() {
    run shimmed "$PROGS_DIR/sendfile_check" "$1"
    echo "$output"
    [[ $status == 0 ]]
    if have_ktls; then
        [[ "$output" == *"kernel TX: real sendfile"* ]]
    else
        [[ "$output" == *"emulated with SSL_write"* ]]
    fi
}

@test "13: libc sendfile + SSL_sendfile deliver through TLS; a reused fd number stays plain" {
    check_sendfile_program 1.3
}

@test "12: libc sendfile + SSL_sendfile deliver through TLS; a reused fd number stays plain" {
    check_sendfile_program 1.2
}

@test "KTLS_SHIM_MODE=rx: TX in OpenSSL, sendfile on the TLS socket is emulated, never clear" {
    KTLS_SHIM_MODE=rx run shimmed "$PROGS_DIR/sendfile_check" 1.3
    echo "$output"
    [[ $status == 0 && "$output" == *"emulated with SSL_write"* ]]
}

# A non-blocking socket with a tiny send buffer and a slow reader: sendfile
# and SSL_sendfile keep stopping with EAGAIN and each retry asks for less.
check_partial() { # VERSION WANT_PATH
    run shimmed "$REPO/build/sendfile_check" partial "$1"
    echo "$output"
    [[ $status == 0 && "$output" == "PASS partial "* ]]
    [[ "$output" != *" 0 EAGAIN"* ]]
    [[ "$output" == *"$2"* ]]
}

@test "13: sendfile/SSL_sendfile under EAGAIN: never more than asked, exact file position, current SSL_get_error" {
    if have_ktls; then check_partial 1.3 "kernel TX: real sendfile"; else check_partial 1.3 "emulated, another offset refused (EIO)"; fi
}

@test "12: sendfile/SSL_sendfile under EAGAIN: never more than asked, exact file position, current SSL_get_error" {
    if have_ktls; then check_partial 1.2 "kernel TX: real sendfile"; else check_partial 1.2 "emulated, another offset refused (EIO)"; fi
}

@test "KTLS_SHIM_MODE=rx: emulated sendfile under EAGAIN: chunks keyed by file and offset, another offset refused" {
    KTLS_SHIM_MODE=rx check_partial 1.3 "emulated, another offset refused (EIO)"
}

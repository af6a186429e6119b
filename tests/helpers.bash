# Shared by every tests/NN-area.bats: strict mode, `requires`, kTLS detection,
# running tls_peer pairs, kernel counters. Load with `load helpers`.
# A negated check (`! grep -q ...`) fails a test only as its last command
# (bash's errexit ignores `!`): elsewhere the suite writes `! grep ... || false`.
set -o pipefail

# (also sourced outside bats, by demo/bench/measure.sh). Sourced again for
# every test: what it works out, it works out with bash alone where it can (a
# process start costs about 0.1 s in the guests).
if [[ ${BATS_TEST_DIRNAME:-} == /*/tests ]]; then
    REPO=${BATS_TEST_DIRNAME%/tests}
else
    REPO=$(cd "${BATS_TEST_DIRNAME:-$(dirname "${BASH_SOURCE[0]}")}/.." && pwd)
fi
# KTLS_TEST_SHIM: another preload for a whole file, e.g. the ASan build with
# its runtime first, "$(cc -print-file-name=libasan.so):$REPO/build/asan/libktls-shim.so"
# (with ASAN_OPTIONS=detect_leaks=0 where the programs leak at exit themselves)
SHIM=${KTLS_TEST_SHIM:-$REPO/build/libktls-shim.so}
CERT_DIR="$REPO/tests/certs"

# The OpenSSL under test (tests/matrix/): the distro's 3.0 unless KTLS_OSSL
# names one built by tests/matrix/build-openssl.sh (1.1.1w, 3.5), whose test
# programs tests/matrix/build-progs.sh put in build/ossl-VERSION/. The shim is
# the same library for all of them.
KTLS_OSSL=${KTLS_OSSL:-3.0}
if [[ $KTLS_OSSL == 3.0 ]]; then
    PROGS_DIR="$REPO/build"
    OPENSSL_BIN=openssl
else
    PROGS_DIR="$REPO/build/ossl-$KTLS_OSSL"
    OPENSSL_BIN="$(cat "$PROGS_DIR/.prefix" 2>/dev/null)/bin/openssl"
fi
PEER="$PROGS_DIR/tls_endpoint"

# 0 when the OpenSSL under test is 1.1.1 (no SSL_sendfile, no kTLS of its own,
# EOF without close_notify is SSL_ERROR_SYSCALL)
ossl_111() {
    [[ $KTLS_OSSL == 1.1.1* ]]
}

# In the guest (KTLS_STRICT=1) and in CI a skip hides a broken harness, so it fails.
if [[ "${KTLS_STRICT:-0}" == 1 || "${CI:-}" == true ]]; then
    skip() {
        echo "# skip is a failure here (strict): ${*:-no reason}" >&3
        return 1
    }
fi

requires() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || skip "requires $cmd"
    done
}

# 0 when this kernel can attach the tls ULP (read from KTLS_CAPS below: a
# probe per call started Python, tens of seconds each under emulation)
have_ktls() {
    grep -qx "ulp yes" "$KTLS_CAPS"
}

# Tests that only make sense on a kTLS kernel; elsewhere they must not pretend.
requires_ktls() {
    have_ktls || skip "kernel has no kTLS (run via make test-vm)"
}

# What this kernel's TLS can do, as ktls-check probes it, once per boot and
# before any test reads a counter (the probe installs throwaway keys, which
# the kernel's counters count): lines "cipher TLS CIPHER" for what TLS_TX and
# TLS_RX both take, and "rekey yes|no".
# "ulp yes|no": whether the tls ULP attaches (as tests/have-ktls.sh decides).
# Keyed by the boot and by whether the tls module is loaded (a modprobe
# between runs counts).
ktls_caps_key() { # boot id and whether the tls module is loaded (0/1)
    local boot=boot line loaded=0
    read -r boot </proc/sys/kernel/random/boot_id 2>/dev/null || boot=boot
    if [[ -r /proc/modules ]]; then
        while read -r line; do
            [[ $line == "tls "* ]] && { loaded=1; break; }
        done </proc/modules
    fi
    echo "$boot.$loaded"
}
KTLS_CAPS=${TMPDIR:-/tmp}/ktls-caps.$(ktls_caps_key)
if [[ ! -s $KTLS_CAPS ]]; then
    { [[ -x "$REPO/build/ktls-check" ]] && "$REPO/build/ktls-check" --json 2>/dev/null || true; } | python3 -c '
import errno, json, socket, sys
s = socket.socket()
try:
    s.setsockopt(socket.IPPROTO_TCP, 31, b"tls")
    ulp = True
except OSError as e:
    ulp = e.errno == errno.ENOTCONN
print("ulp", "yes" if ulp else "no")
try:
    caps = json.load(sys.stdin)
except ValueError:
    caps = {}
for c in caps.get("ciphers", []):
    if c["tx"] and c["rx"]:
        print("cipher", c["tls"], c["cipher"])
print("rekey", "yes" if (caps.get("rekey") or {}).get("tx") else "no")' >"$KTLS_CAPS.$$" &&
        mv "$KTLS_CAPS.$$" "$KTLS_CAPS"
fi

# 0 when the running kernel takes keys of this variant (12_aes_128_gcm,
# 13_chacha, 12_aes128, ...) for TLS_TX and TLS_RX: 5.10 has no
# ChaCha20-Poly1305 in kTLS (it came in 5.11).
kernel_takes() {
    local v=${1,,} tls cipher
    tls=${v:0:1}.${v:1:1}
    case $v in
    *chacha*) cipher=CHACHA20-POLY1305 ;;
    *aes*128* | *aes128*) cipher=AES-128-GCM ;;
    *aes*256* | *aes256*) cipher=AES-256-GCM ;;
    *) echo "kernel_takes: unknown variant $1" >&2; return 2 ;;
    esac
    grep -qx "cipher $tls $cipher" "$KTLS_CAPS"
}

# 0 when the running kernel can rekey a TLS 1.3 socket (a second TLS_TX:
# 6.14 and later).
kernel_rekeys() {
    grep -qx "rekey yes" "$KTLS_CAPS"
}

# 1 or 0: whether a shimmed side of this variant must end up in the kernel
want_kernel() {
    have_ktls && kernel_takes "$1" && echo 1 || echo 0
}

# (read with bash alone: a tool started per read costs a tenth of a second
# under the guests' emulated CPU, and tests read counters many times)
tls_stat() {
    local key value
    if [[ -r /proc/net/tls_stat ]]; then
        while read -r key value; do
            [[ $key == "$1" ]] && { echo "$value"; return 0; }
        done </proc/net/tls_stat
    fi
    echo 0
}

# Prints "TlsTxSw TlsRxSw" now.
tls_counters() {
    local key value tx=0 rx=0
    if [[ -r /proc/net/tls_stat ]]; then
        while read -r key value; do
            case $key in
            TlsTxSw) tx=$value ;;
            TlsRxSw) rx=$value ;;
            esac
        done </proc/net/tls_stat
    fi
    echo "$tx $rx"
}

# field KEY LINE -> value of KEY=... in a RESULT line
field() {
    local key=$1 line=$2 word
    for word in $line; do
        [[ "$word" == "$key="* ]] && { echo "${word#*=}"; return 0; }
    done
    return 1
}

shimmed() {
    LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
}

# Starts `tls_endpoint server ARGS` in the background (shimmed unless SERVER_PLAIN=1),
# waits for its port. Sets SERVER_PID, SERVER_PORT, SERVER_OUT.
start_peer_server() {
    SERVER_OUT="$BATS_TEST_TMPDIR/server.out"
    # a stale PORT line must not be read before the new server truncates it
    rm -f "$SERVER_OUT"
    local runner=shimmed
    [[ "${SERVER_PLAIN:-0}" == 1 ]] && runner=env
    $runner "$PEER" server --port 0 "$@" >"$SERVER_OUT" 2>"$BATS_TEST_TMPDIR/server.err" &
    SERVER_PID=$!
    SERVER_PORT=$(announced_port "$SERVER_PID" "$SERVER_OUT") && return 0
    echo "server did not start:" >&2
    cat "$BATS_TEST_TMPDIR/server.err" >&2
    return 1
}

# last_result [FILE]: the last RESULT line of FILE, or of stdin
last_result() {
    local line last=
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line == "RESULT "* ]] && last=$line
    done <"${1:-/dev/stdin}"
    echo "$last"
}

# port_of FILE: the port of the first "PORT N" line a test program printed
# into FILE; fails while there is none (or no file yet)
port_of() {
    local word port
    [[ -f $1 ]] || return 1
    while read -r word port _; do
        [[ $word == PORT && -n $port ]] && { echo "$port"; return 0; }
    done <"$1"
    return 1
}

# announced_port PID FILE: the port that the test program PID prints into
# FILE ("PORT N"), once it is there; fails when PID ends without one, or
# after 60 s. (Called as $(announced_port ...), it forks one subshell for
# the whole wait, where a $(port_of) per poll forks one each time.)
announced_port() {
    local i
    for ((i = 0; i < 1200; i++)); do
        port_of "$2" && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

wait_server() {
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_RESULT=$(last_result "$SERVER_OUT")
    return $rc
}

# One client/server exchange. Usage: peer_exchange "SERVER ARGS" "CLIENT ARGS"
# Sets SERVER_RESULT, CLIENT_RESULT; fails if either side failed.
peer_exchange() {
    local server_args=$1 client_args=$2 runner=shimmed rc=0
    # shellcheck disable=SC2086
    start_peer_server $server_args
    [[ "${CLIENT_PLAIN:-0}" == 1 ]] && runner=env
    # shellcheck disable=SC2086
    CLIENT_OUT=$($runner "$PEER" client --port "$SERVER_PORT" $client_args 2>"$BATS_TEST_TMPDIR/client.err") || rc=$?
    CLIENT_RESULT=$(last_result <<<"$CLIENT_OUT")
    wait_server || rc=$?
    echo "server: $SERVER_RESULT"
    echo "client: $CLIENT_RESULT"
    if [[ $rc != 0 ]]; then
        echo "--- server stderr"; cat "$BATS_TEST_TMPDIR/server.err"
        echo "--- client stderr"; cat "$BATS_TEST_TMPDIR/client.err"
    fi
    return $rc
}

# The variant matrix, like the kernel selftests: NAME VERSION CIPHER
MATRIX_12_AES_128_GCM="1.2 ECDHE-RSA-AES128-GCM-SHA256"
MATRIX_12_AES_256_GCM="1.2 ECDHE-RSA-AES256-GCM-SHA384"
MATRIX_12_CHACHA="1.2 ECDHE-RSA-CHACHA20-POLY1305"
MATRIX_13_AES_128_GCM="1.3 TLS_AES_128_GCM_SHA256"
MATRIX_13_AES_256_GCM="1.3 TLS_AES_256_GCM_SHA384"
MATRIX_13_CHACHA="1.3 TLS_CHACHA20_POLY1305_SHA256"

# variant NAME -> "--tls V --cipher C"
variant_args() {
    local spec var="MATRIX_$1"
    spec=${!var}
    echo "--tls ${spec%% *} --cipher ${spec#* }"
}

# Checks a pair of RESULT lines: bytes intact both ways and, on a kTLS kernel,
# which directions the kernel carried. Usage: assert_exchange EXPECT_TX EXPECT_RX
# where EXPECT_* is the expected ktls_tx/ktls_rx of BOTH sides on a kTLS kernel.
assert_intact() {
    [[ -n "$SERVER_RESULT" && -n "$CLIENT_RESULT" ]]
    [[ "$(field error "$SERVER_RESULT")" == none ]]
    [[ "$(field error "$CLIENT_RESULT")" == none ]]
    [[ "$(field sent_sha256 "$CLIENT_RESULT")" == "$(field received_sha256 "$SERVER_RESULT")" ]]
    [[ "$(field sent_sha256 "$SERVER_RESULT")" == "$(field received_sha256 "$CLIENT_RESULT")" ]]
    [[ "$(field sent "$CLIENT_RESULT")" == "$(field received "$SERVER_RESULT")" ]]
    [[ "$(field sent "$SERVER_RESULT")" == "$(field received "$CLIENT_RESULT")" ]]
}

assert_offload() {
    local side=$1 want_tx=$2 want_rx=$3 line
    line=$([[ $side == server ]] && echo "$SERVER_RESULT" || echo "$CLIENT_RESULT")
    if ! have_ktls; then
        want_tx=0 want_rx=0
    fi
    [[ "$(field ktls_tx "$line")" == "$want_tx" ]] || { echo "$side ktls_tx: want $want_tx in: $line"; return 1; }
    [[ "$(field ktls_rx "$line")" == "$want_rx" ]] || { echo "$side ktls_rx: want $want_rx in: $line"; return 1; }
}

# assert_counters_rose "TX0 RX0" DTX DRX: kernel counters moved by exactly that.
assert_counters_rose() {
    local before=$1 dtx=$2 drx=$3 after
    after=$(tls_counters)
    if ! have_ktls; then dtx=0 drx=0; fi
    local tx0=${before% *} rx0=${before#* } tx1=${after% *} rx1=${after#* }
    echo "TlsTxSw $tx0 -> $tx1 (want +$dtx), TlsRxSw $rx0 -> $rx1 (want +$drx)"
    [[ $((tx1 - tx0)) == "$dtx" && $((rx1 - rx0)) == "$drx" ]]
}

# self_signed TYPE CN KEY CERT: a self-signed certificate for CN, valid 2 days,
# and its unencrypted key. TYPE ec is P-256, whose keys and handshakes stay
# cheap under the guests' emulated CPU; TYPE rsa is RSA-2048, which the RSA
# cipher suites of the variant matrix need (a key takes seconds to make in
# the guests).
self_signed() {
    local newkey
    case $1 in
    ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa) newkey=(-newkey rsa:2048) ;;
    *) echo "self_signed: unknown key type $1" >&2; return 2 ;;
    esac
    openssl req -x509 "${newkey[@]}" -nodes -keyout "$3" -out "$4" -days 2 -subj "/CN=$2" >/dev/null 2>&1
}

# An RSA certificate for servers that need files (nginx, s_server, gnutls).
# One key per bats run, copied where each server wants it: an RSA-2048 key
# takes seconds to make under the emulated CPU, and nothing here needs two.
make_cert() {
    local dir=$1 run_pair new
    [[ -f "$dir/cert.pem" ]] && return 0
    mkdir -p "$dir"
    if [[ -z ${BATS_RUN_TMPDIR:-} ]]; then # sourced outside bats: its own key
        self_signed rsa localhost "$dir/key.pem" "$dir/cert.pem"
        return
    fi
    run_pair=$BATS_RUN_TMPDIR/rsa-pair
    if [[ ! -f $run_pair/cert.pem ]]; then
        new=$(mktemp -d "$run_pair.XXXXXX")
        self_signed rsa localhost "$new/key.pem" "$new/cert.pem"
        mv -T "$new" "$run_pair" 2>/dev/null || rm -rf "$new" # made meanwhile: that one
    fi
    cp "$run_pair/key.pem" "$run_pair/cert.pem" "$dir/"
}

# make_ec_cert DIR: an ECDSA certificate for localhost in DIR/ec.pem and its
# key in DIR/ec.key, unless DIR has them already.
make_ec_cert() {
    [[ -f "$1/ec.pem" ]] && return 0
    self_signed ec localhost "$1/ec.key" "$1/ec.pem"
}

# make_client_cert DIR CA_CN CLIENT_CN: a CA (DIR/ca.pem, DIR/ca.key) and a
# client certificate it signed (DIR/client.pem, DIR/client.key), ECDSA, for
# servers that ask for client certificates.
make_client_cert() {
    local dir=$1
    self_signed ec "$2" "$dir/ca.key" "$dir/ca.pem" || return
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/client.key" \
        -out "$dir/client.csr" -subj "/CN=$3" >/dev/null 2>&1 || return
    openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -out "$dir/client.pem" -days 2 >/dev/null 2>&1
}

# A free TCP port on loopback.
free_port() {
    "$REPO/build/free_port"
}

# Waits until something listens on 127.0.0.1:PORT.
wait_port() {
    local port=$1 i
    for i in $(seq 1 600); do
        # bash's /dev/tcp: a Python start per poll takes seconds under TCG
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# nginx_conf DIR [NAME=VALUE...]: writes DIR/nginx.conf, which puts nginx's
# error log and pid file in DIR/logs. The one writer of every test's nginx
# configuration; what the tests' servers differ in is named (defaults after
# the =):
#   user=root          "" for no user line: nginx started as root then runs
#                      its workers as nobody, as a stock configuration does
#   workers=1          worker_processes
#   connections=1024   worker_connections
#   error_level=       the error log's level ("": nginx's default, error)
#   http=              directives at the http level, before the server block
#   port=              a server block listening on 127.0.0.1:PORT, with
#                      DIR/cert.pem and DIR/key.pem, serving DIR/html; none
#                      where empty (http= then brings its own)
#   listen=ssl         what follows the address on the listen line ("": HTTP)
#   server=            more directives in that server block
# (written by bash alone: a process start is slow in the guests)
nginx_conf() {
    local dir=$1 arg user=root workers=1 connections=1024 error_level= http= port= listen=ssl server=
    shift
    for arg in "$@"; do
        case ${arg%%=*} in
        user | workers | connections | error_level | http | port | listen | server)
            printf -v "${arg%%=*}" '%s' "${arg#*=}" ;;
        *) echo "nginx_conf: unknown setting $arg" >&2; return 2 ;;
        esac
    done
    local conf=
    [[ -n $user ]] && conf+="user $user;"$'\n'
    conf+="worker_processes $workers;
error_log $dir/logs/error.log${error_level:+ $error_level};
pid $dir/logs/nginx.pid;
events { worker_connections $connections; }
http {
    $http"
    if [[ -n $port ]]; then
        conf+="
    server {
        listen 127.0.0.1:$port $listen;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        root $dir/html;"
        [[ -n $server ]] && conf+="
        $server"
        conf+="
    }"
    fi
    printf '%s\n}\n' "$conf" >"$dir/nginx.conf"
}

# nginx with an ordinary TLS server block (no kTLS directive), shimmed.
# start_nginx DIR [extra http-level directives]; sets NGINX_PORT, NGINX_DIR
# NGINX_PLAIN=1: no shim; NGINX_SSL="": a plain HTTP listener; NGINX_USER="":
# no user line (started as root, the workers run as nobody, as stock nginx)
start_nginx() {
    NGINX_DIR=$1
    NGINX_PORT=$(free_port)
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/html" "$NGINX_DIR/tmp"
    make_cert "$NGINX_DIR"
    nginx_conf "$NGINX_DIR" user="${NGINX_USER-root}" workers="${NGINX_WORKERS:-1}" error_level=info port="$NGINX_PORT" \
        listen="${NGINX_SSL-ssl}" http="access_log $NGINX_DIR/logs/access.log;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    client_max_body_size 100m;
    ${2:-}" server="ssl_protocols TLSv1.2 TLSv1.3;
        location /upload/ { dav_methods PUT; create_full_put_path on; }"
    local runner=shimmed
    [[ "${NGINX_PLAIN:-0}" == 1 ]] && runner=env
    if [[ -n "${NGINX_WRAP:-}" ]]; then
        # a tracer in front of nginx: stay in the foreground, in the background
        # shellcheck disable=SC2086
        $runner $NGINX_WRAP nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -g 'daemon off;' \
            2>"$NGINX_DIR/logs/start.err" &
    else
        $runner nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -g 'daemon on;' \
            2>"$NGINX_DIR/logs/start.err" || { cat "$NGINX_DIR/logs/start.err"; return 1; }
    fi
    wait_port "$NGINX_PORT"
}

# nginx_workers DIR [N]: the PIDs of the N (1) workers of the nginx in DIR,
# once its master wrote its PID file and forked them all (up to 30 s).
# wait_port returns as soon as the listening socket takes connections, and
# nginx opens it before it writes the PID file and forks its workers: under
# load a pgrep right after found none (make bench's smoke run in CI).
nginx_workers() {
    local want=${2:-1} i master pids
    for ((i = 0; i < 300; i++)); do
        if master=$(cat "$1/logs/nginx.pid" 2>/dev/null) && [[ $master =~ ^[0-9]+$ ]]; then
            pids=$(pgrep -P "$master" | sort -n || true)
            if [[ -n $pids && $(wc -l <<<"$pids") == "$want" ]]; then
                echo "$pids"
                return 0
            fi
        fi
        sleep 0.1
    done
    echo "nginx in $1: not $want worker(s) after 30 s (master ${master:-none})" >&2
    return 1
}

stop_nginx() {
    [[ -n "${NGINX_DIR:-}" && -f "$NGINX_DIR/logs/nginx.pid" ]] || return 0
    local pid
    pid=$(cat "$NGINX_DIR/logs/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# Checks of files, builds and packages that a kernel with kTLS does not
# change: the host run makes them, and in the guest they would only take
# time (it compiles, renders and starts processes slowly). Usage, first in a
# test: host_only && return 0
host_only() {
    [[ ${KTLS_IN_GUEST:-0} == 1 ]] || return 1
    echo "# host test (nothing kernel-specific): $BATS_TEST_DESCRIPTION" >&3
}

# read_ex_fault SO < BODY: builds SO, a preload whose SSL_read_ex runs BODY
# (C statements; `calls` counts from 0, `real` is OpenSSL's): the torture
# harness's own tests plant a wrong answer with it
read_ex_fault() {
    local src=${1%.so}.c
    {
        cat <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
typedef struct ssl_st SSL;
int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *got)
{
    static int calls;
    int (*real)(SSL *, void *, size_t, size_t *) = (int (*)(SSL *, void *, size_t, size_t *))dlsym(RTLD_NEXT, "SSL_read_ex");
C
        cat
        echo "}"
    } >"$src"
    cc -shared -fPIC -o "$1" "$src" -ldl
}

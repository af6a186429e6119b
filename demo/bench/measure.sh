#!/usr/bin/env bash
# One place's measurements (this kernel: the host, or the QEMU guest): starts
# one server per configuration (a single-worker nginx, or a single-threaded
# HAProxy terminating TLS in front of one shared plain-HTTP nginx), checks each
# once in an untimed, straced pass (bytes + sha256, syscalls, sendfile or not,
# TLS version), then runs the timed repetitions round-robin over the
# configurations so that any load on the machine hits each of them alike.
#
#   measure.sh PLACE CONFIG...   (PLACE: host | guest; CONFIG: see conf_of)
#
# Knobs (validated by bench.sh): BENCH_REPS, BENCH_BIG_MIB, BENCH_BIG_FETCHES,
# BENCH_SMALL_COUNT, BENCH_SMALL_KIB, BENCH_AB_CONNS;
# BENCH_CERT_DIR (cert.pem + key.pem). Raw CSV on stdout, progress on stderr.
#
# shim-ab is the A/B configuration (ktls-run --sample 0.5: half the
# connections drawn for kTLS, half kept in OpenSSL, sendfile off like
# userspace and shim-sendfile-off) with the shim's sampled CPU per call on.
# It serves only its own phase, "ab": BENCH_AB_CONNS GETs of the big file per
# repetition, so that each arm ends enough connections for an interval and its
# sampled calls are the same transfers the big phase times from outside. After
# the repetitions its nginx is stopped (final stats) and the per-arm sums of
# its stats files are printed as #cpu lines, with ktls-stats' own verdict as
# #info ab_verdict: report.py compares them with the whole-process CPU of the
# userspace and shim-sendfile-off rows.
# The client is always the same un-shimmed curl; only the TLS server (nginx or
# HAProxy) is ever shimmed, never the plain nginx behind HAProxy.
set -euo pipefail
place=${1:?usage: measure.sh PLACE CONFIG...}
shift
configs=("$@")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/helpers.bash
source "$here/../../tests/helpers.bash"
reps=${BENCH_REPS:?} big_mib=${BENCH_BIG_MIB:?} big_fetches=${BENCH_BIG_FETCHES:?}
small_count=${BENCH_SMALL_COUNT:?} small_kib=${BENCH_SMALL_KIB:?}
ab_conns=${BENCH_AB_CONNS:-20}
# every call of shim-ab sampled: the cross-check wants the in-process numbers'
# own noise small; two clock reads cost nothing against a 16 KiB encryption
ab_cpu_sample=1
export KTLS_SHIM_LOG=error

work=$(mktemp -d /tmp/ktls-bench.XXXXXX)
haproxy_pids=()
cleanup() {
    local d pid
    for pid in "${haproxy_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for d in "$work"/nginx-*; do [[ -d $d ]] && NGINX_DIR=$d stop_nginx; done
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "bench[$place] $(date +%T): $*" >&2; }
# set -e stops at a failed step without a word: say which one it was
trap 'say "stopped: line $LINENO failed: $BASH_COMMAND"' ERR

ktls=0
have_ktls && ktls=1
tick=$(getconf CLK_TCK)

# CONFIG -> "SERVER(nginx|haproxy) SHIM(0|1) SSL(0|1) nginx directives"
conf_of() {
    case $1 in
    plain) echo "nginx 0 0 sendfile on;" ;;
    userspace) echo "nginx 0 1 sendfile off;" ;;
    native-ktls) echo "nginx 0 1 sendfile on; ssl_conf_command Options KTLS;" ;;
    shim-sendfile-off) echo "nginx 1 1 sendfile off;" ;;
    shim-sendfile-on) echo "nginx 1 1 sendfile on;" ;;
    shim-ab) echo "nginx 1 1 sendfile off;" ;;
    haproxy-userspace) echo "haproxy 0 1" ;;
    haproxy-shim) echo "haproxy 1 1" ;;
    *) echo "measure.sh: unknown configuration '$1'" >&2; return 1 ;;
    esac
}
# Names checked before any work: a misspelt one read by `read <<<"$(conf_of ...)"`
# would not stop the run.
haproxy=0
for c in "${configs[@]}"; do
    conf=$(conf_of "$c")
    if [[ $conf == haproxy\ * ]]; then haproxy=1; fi
done

info() { echo "#info,$place,$1,\"$2\""; }
info kernel "$(uname -r)"
info cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) x $(nproc)"
info openssl "$(openssl version)"
info nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
[[ $haproxy == 0 ]] || info haproxy "$(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/HAProxy \1/p')"
info curl "$(curl --version | head -n1 | cut -d' ' -f1-2)"
info ktls "$([[ $ktls == 1 ]] && echo yes || echo no)"
info emulated "$([[ $place == guest ]] && echo 'yes (QEMU TCG)' || echo no)"
info loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
info sizes "big ${big_mib} MiB x ${big_fetches} fetches; ${small_count} x ${small_kib} KiB short connections; ${reps} reps"
ab=0
for c in "${configs[@]}"; do [[ $c != shim-ab ]] || ab=1; done
[[ $ab == 0 ]] || info ab "KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_CPU_SAMPLE=$ab_cpu_sample; ${ab_conns} GETs of the big file per rep"

# The files, in /tmp (page-cached; a tmpfs in the guest)
html=$work/html
mkdir -p "$html/small"
head -c $((big_mib << 20)) /dev/urandom >"$html/big.bin"
big_bytes=$((big_mib << 20))
big_sha=$(sha256sum <"$html/big.bin" | cut -d' ' -f1)
head -c $((small_kib << 10)) /dev/urandom >"$html/small/s.bin"
small_bytes=$((small_kib << 10))
small_sha=$(sha256sum <"$html/small/s.bin" | cut -d' ' -f1)
cat "$html/big.bin" >/dev/null

say "starting the servers: ${configs[*]}"
cert_dir=${BENCH_CERT_DIR:-$work} # bench.sh makes it on the host: RSA keygen is slow under TCG
make_cert "$cert_dir"
declare -A port worker scheme
# nginx in DIR serving $html (the certificate copied in, so start_nginx makes no key)
nginx_in() { # DIR SHIM SSL DIRECTIVES
    mkdir -p "$1"
    cp "$cert_dir/cert.pem" "$cert_dir/key.pem" "$1/"
    ln -s "$html" "$1/html"
    NGINX_PLAIN=$((1 - $2)) NGINX_SSL=$([[ $3 == 1 ]] && echo ssl || true) start_nginx "$1" "$4"
}
# The plain-HTTP nginx behind every HAProxy: the same files; never shimmed.
if [[ $haproxy == 1 ]]; then
    nginx_in "$work/nginx-backend" 0 0 "sendfile on; access_log off;"
    backend_port=$NGINX_PORT
fi
# HAProxy CONFIG SHIM: TLS termination in front of the backend, with full
# handshakes like nginx's (no session cache, no tickets); one process and one
# thread, so its own PID's schedstat and stat are all of its CPU.
start_haproxy() {
    local c=$1 d=$work/haproxy-$1 p pid
    mkdir -p "$d"
    cat "$cert_dir/cert.pem" "$cert_dir/key.pem" >"$d/both.pem"
    p=$(free_port)
    cat >"$d/haproxy.cfg" <<CONF
global
    nbthread 1
    tune.ssl.cachesize 0
defaults
    mode http
    timeout connect 10s
    timeout client 120s
    timeout server 120s
frontend tls
    bind 127.0.0.1:$p ssl crt $d/both.pem no-tls-tickets
    default_backend plain
backend plain
    server nginx 127.0.0.1:$backend_port
CONF
    # a plain command, not a function, so that $! is HAProxy itself; bats' fd 3 stays shut
    if [[ $2 == 1 ]]; then
        KTLS_SHIM_LOG=error LD_PRELOAD=$SHIM haproxy -db -f "$d/haproxy.cfg" >"$d/haproxy.log" 2>&1 3>&- &
    else
        haproxy -db -f "$d/haproxy.cfg" >"$d/haproxy.log" 2>&1 3>&- &
    fi
    pid=$!
    haproxy_pids+=("$pid")
    if ! wait_port "$p" || ! kill -0 "$pid" 2>/dev/null; then
        cat "$d/haproxy.log" >&2
        say "$c: HAProxy did not start"
        exit 1
    fi
    [[ $(ls "/proc/$pid/task") == "$pid" ]] || { say "$c: HAProxy runs more than one thread"; exit 1; }
    port[$c]=$p
    scheme[$c]=https
    worker[$c]=$pid
}
for c in "${configs[@]}"; do
    read -r server shim ssl extra <<<"$(conf_of "$c")"
    if [[ $server == haproxy ]]; then
        start_haproxy "$c" "$shim"
        continue
    fi
    if [[ $c == shim-ab ]]; then
        # ktls-run --sample 0.5, with every call's CPU sampled; the files
        # land in ab-stats/ (the workers run as root here)
        mkdir -p "$work/ab-stats"
        KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_CPU_SAMPLE=$ab_cpu_sample KTLS_SHIM_STATS=$work/ab-stats/nginx \
            nginx_in "$work/nginx-$c" "$shim" "$ssl" "$extra access_log off; ssl_session_tickets off; ssl_session_cache off;"
    else
        nginx_in "$work/nginx-$c" "$shim" "$ssl" "$extra access_log off; ssl_session_tickets off; ssl_session_cache off;"
    fi
    port[$c]=$NGINX_PORT
    scheme[$c]=$([[ $ssl == 1 ]] && echo https || echo http)
    worker[$c]=$(nginx_workers "$work/nginx-$c") || { say "$c: not exactly one nginx worker"; exit 1; }
done

url() { echo "${scheme[$1]}://127.0.0.1:${port[$1]}/$2"; }
curl_() { curl -k -s --no-sessionid "$@"; } # the one client, never shimmed
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# Time on CPU in nanoseconds (the scheduler's own sum, exact): a 10 ms tick is
# 2% of a half-second measurement, too coarse for a 1% passthrough target.
# Empty where the kernel has no schedstat; the report then sums the ticks.
cpu_ns() { local ns; read -r ns _ <"/proc/$1/schedstat" 2>/dev/null && echo "$ns" || true; }
cpu_s() { [[ -n $1 && -n $2 ]] && awk 'BEGIN { printf "%.9f", (ARGV[2] - ARGV[1]) / 1e9 }' "$1" "$2" || true; }
now() { date +%s.%N; }
times() { # T0 T1 U0 U1 S0 S1 -> "wall_s,user_s,sys_s"
    awk -v t="$tick" 'BEGIN { printf "%.6f,%.3f,%.3f", ARGV[2] - ARGV[1], (ARGV[4] - ARGV[3]) / t, (ARGV[6] - ARGV[5]) / t }' "$@"
}
tls_tx() { local v; v=$(tls_stat TlsTxSw); echo "${v:-0}"; }

echo "place,config,rep,phase,bytes,requests,wall_s,user_s,sys_s,cpu_s,tls_tx_sockets,syscalls,sendfile_calls,write_calls,tls,ok,note"

# What each configuration must show, or its numbers do not count:
# sendfile calls expected (1) or not (0) in the worker (HAProxy relays through
# its buffers, never sendfile), kernel TLS sockets expected.
expect_sendfile() {
    case $1 in
    plain) echo 1 ;;
    native-ktls | shim-sendfile-on) echo "$ktls" ;;
    *) echo 0 ;;
    esac
}
expect_ktls() { # 1: every connection; 0: none; ab: some (the A/B draw)
    case $1 in
    shim-ab) [[ $ktls == 1 ]] && echo ab || echo 0 ;;
    native-ktls | shim-* | haproxy-shim) echo "$ktls" ;;
    *) echo 0 ;;
    esac
}

# Untimed check + syscall count: strace -c on the worker (or HAProxy) while it serves big.bin once.
for c in "${configs[@]}"; do
    say "$c: checking (strace, sha256)"
    w=${worker[$c]}
    strace -c -f -p "$w" -o "$work/$c.strace" 2>"$work/$c.strace.err" &
    spid=$!
    for _ in $(seq 1 300); do grep -q attached "$work/$c.strace.err" 2>/dev/null && break; sleep 0.1; done
    tx0=$(tls_tx)
    got=$(curl_ -v "$(url "$c" big.bin)" 2>"$work/$c.curl.err" | sha256sum | cut -d' ' -f1)
    small_got=$(curl_ "$(url "$c" small/s.bin)" | sha256sum | cut -d' ' -f1)
    dtx=$(($(tls_tx) - tx0))
    kill -INT "$spid"
    wait "$spid" || true
    tls=$(sed -n 's/.*SSL connection using \([^ ]*\) \/ \([^ ]*\).*/\1 \2/p' "$work/$c.curl.err" | head -n1)
    read -r calls sf wr < <(awk '
        $NF == "total" { t = $4 }
        $NF == "sendfile" { s = $4 }
        $NF ~ /^(write|writev|sendto|sendmsg)$/ { w += $4 }
        END { print t + 0, s + 0, w + 0 }' "$work/$c.strace")
    ok=1 note=""
    [[ $got == "$big_sha" ]] || { ok=0 note+="big.bin sha256 mismatch; "; }
    [[ $small_got == "$small_sha" ]] || { ok=0 note+="small file sha256 mismatch; "; }
    [[ $calls -gt 0 ]] || { ok=0 note+="strace counted nothing; "; }
    if [[ $(expect_sendfile "$c") == 1 ]]; then
        [[ $sf -gt 0 ]] || { ok=0 note+="expected sendfile calls; got none; "; }
    else
        [[ $sf == 0 ]] || { ok=0 note+="unexpected sendfile calls ($sf); "; }
    fi
    if [[ $(expect_ktls "$c") == 1 ]]; then
        [[ $dtx -ge 2 ]] || { ok=0 note+="TlsTxSw rose by $dtx, expected 2; "; }
    elif [[ $(expect_ktls "$c") == ab ]]; then
        [[ $dtx -le 2 ]] || { ok=0 note+="TlsTxSw rose by $dtx, expected at most 2; "; }
    else
        [[ $dtx == 0 ]] || { ok=0 note+="TlsTxSw rose by $dtx, expected 0; "; }
    fi
    [[ ${scheme[$c]} == http || -n $tls ]] || { ok=0 note+="no TLS version from curl; "; }
    echo "$place,$c,0,check,$big_bytes,1,,,,,$dtx,$calls,$sf,$wr,$tls,$ok,${note%; }"
done

# timed CONFIG REP PHASE PATH SIZE COUNT: COUNT GETs of PATH, each on a new
# TCP + TLS connection with a full handshake (nginx and HAProxy: no tickets, no
# session cache; curl keeps no session); prints the CSV row.
timed() {
    local c=$1 rep=$2 phase=$3 path=$4 size=$5 count=$6 w=${worker[$1]} tx0 u0 s0 u1 s1 n0 n1 t0 t1 out good dtx ok=1 note=""
    printf 'output = "/dev/null"\nurl = "%s"\n' $(for _ in $(seq 1 "$count"); do url "$c" "$path"; done) \
        >"$work/$phase.cfg"
    tx0=$(tls_tx)
    read -r u0 s0 < <(cpu_ticks "$w")
    n0=$(cpu_ns "$w")
    t0=$(now)
    out=$(curl_ -H 'Connection: close' -w '%{http_code} %{size_download} %{num_connects}\n' -K "$work/$phase.cfg")
    t1=$(now)
    n1=$(cpu_ns "$w")
    read -r u1 s1 < <(cpu_ticks "$w")
    dtx=$(($(tls_tx) - tx0))
    good=$(grep -c "^200 $size 1\$" <<<"$out" || true)
    [[ $good == "$count" ]] || { ok=0 note="$good of $count GETs complete"; }
    case $(expect_ktls "$c") in
    1) [[ $dtx -ge $count ]] || { ok=0 note+=" TlsTxSw +$dtx"; } ;;
    ab) [[ $dtx -le $count ]] || { ok=0 note+=" TlsTxSw +$dtx"; } ;;
    *) [[ $dtx == 0 ]] || { ok=0 note+=" TlsTxSw +$dtx"; } ;;
    esac
    echo "$place,$c,$rep,$phase,$((size * count)),$count,$(times "$t0" "$t1" "$u0" "$u1" "$s0" "$s1"),$(cpu_s "$n0" "$n1"),$dtx,,,,,$ok,$note"
}

for rep in $(seq 1 "$reps"); do
    for c in "${configs[@]}"; do
        say "rep $rep/$reps: $c"
        if [[ $c == shim-ab ]]; then
            timed "$c" "$rep" ab big.bin "$big_bytes" "$ab_conns"
            continue
        fi
        timed "$c" "$rep" big big.bin "$big_bytes" "$big_fetches"
        timed "$c" "$rep" small small/s.bin "$small_bytes" "$small_count"
    done
done
info loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# shim-ab's per-arm sums of ended connections (the stats files' cpu.tx,
# added up over the master's and the worker's file), once its nginx has
# written its final numbers; and what ktls-stats says of the same files.
if [[ $ab == 1 ]]; then
    NGINX_DIR=$work/nginx-shim-ab stop_nginx # waits for the master, after its worker
    python3 - "$place" "$work"/ab-stats/*.json <<'PY'
import json, sys
place, files = sys.argv[1], sys.argv[2:]
keys = ["conns", "conn_calls", "conn_ns", "conn_bytes", "conn_ns_sq", "conn_bytes_sq", "conn_ns_bytes"]
finals = 0
sums = {(arm, d): [0] * (2 if d == "handshake" else len(keys))
        for arm in ("offload", "control") for d in ("tx", "rx", "handshake")}
moved = 0
for path in files:
    with open(path) as f:
        doc = json.load(f)
    finals += 1 if doc.get("final") else 0
    for arm in ("offload", "control"):
        a = doc.get("arms", {}).get(arm, {})
        moved += a.get("tx", {}).get("kernel", 0) if arm == "offload" else 0
        for d in ("tx", "rx"):
            c = a.get("cpu", {}).get(d, {})
            sums[arm, d] = [s + int(c.get(k, 0)) for s, k in zip(sums[arm, d], keys)]
        h = a.get("cpu", {}).get("handshake", {})
        sums[arm, "handshake"] = [s + int(h.get(k, 0)) for s, k in zip(sums[arm, "handshake"], ("calls", "ns"))]
print(f"#info,{place},ab_files,\"{len(files)} stats files, {finals} final\"")
print(f"#info,{place},ab_moved_tx,\"{moved}\"")
print("#cpu,place,arm,direction," + ",".join(keys) + " (handshake: calls,ns)")
for (arm, d), v in sums.items():
    print(f"#cpu,{place},{arm},{d}," + ",".join(str(x) for x in v))
PY
    verdict=$("$here/../../build/ktls-stats" --tls-stat none "$work/ab-stats" 2>&1 \
        | grep -E '^ktls-stats: offload.*CPU per byte sent' || true)
    info ab_verdict "${verdict//\"/\'}"
fi

#!/usr/bin/env bash
# One place's measurements (this kernel: the host, or the QEMU guest): starts
# one single-worker nginx per configuration, checks each once in an untimed,
# straced pass (bytes + sha256, syscalls, sendfile or not, TLS version), then
# runs the timed repetitions round-robin over the configurations so that any
# load on the machine hits each of them alike.
#
#   measure.sh PLACE CONFIG...   (PLACE: host | guest; CONFIG: see conf_of)
#
# Knobs (validated by bench.sh): BENCH_REPS, BENCH_BIG_MIB, BENCH_BIG_FETCHES,
# BENCH_SMALL_COUNT, BENCH_SMALL_KIB; BENCH_CERT_DIR (cert.pem + key.pem). Raw CSV on stdout, progress on stderr.
# The client is always the same un-shimmed curl; only nginx is shimmed.
set -euo pipefail
place=${1:?usage: measure.sh PLACE CONFIG...}
shift
configs=("$@")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/helpers.bash
source "$here/../../tests/helpers.bash"
reps=${BENCH_REPS:?} big_mib=${BENCH_BIG_MIB:?} big_fetches=${BENCH_BIG_FETCHES:?}
small_count=${BENCH_SMALL_COUNT:?} small_kib=${BENCH_SMALL_KIB:?}
export KTLS_SHIM_LOG=error

work=$(mktemp -d /tmp/ktls-bench.XXXXXX)
cleanup() {
    local d
    for d in "$work"/nginx-*; do [[ -d $d ]] && NGINX_DIR=$d stop_nginx; done
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "bench[$place] $(date +%T): $*" >&2; }

ktls=0
have_ktls && ktls=1
tick=$(getconf CLK_TCK)

# CONFIG -> "SHIM(0|1) SSL(0|1) nginx directives"
conf_of() {
    case $1 in
    plain) echo "0 0 sendfile on;" ;;
    userspace) echo "0 1 sendfile off;" ;;
    native-ktls) echo "0 1 sendfile on; ssl_conf_command Options KTLS;" ;;
    shim-sendfile-off) echo "1 1 sendfile off;" ;;
    shim-sendfile-on) echo "1 1 sendfile on;" ;;
    *) echo "measure.sh: unknown configuration '$1'" >&2; return 1 ;;
    esac
}

info() { echo "#info,$place,$1,\"$2\""; }
info kernel "$(uname -r)"
info cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) x $(nproc)"
info openssl "$(openssl version)"
info nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
info curl "$(curl --version | head -n1 | cut -d' ' -f1-2)"
info ktls "$([[ $ktls == 1 ]] && echo yes || echo no)"
info emulated "$([[ $place == guest ]] && echo 'yes (QEMU TCG)' || echo no)"
info loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
info sizes "big ${big_mib} MiB x ${big_fetches} fetches; ${small_count} x ${small_kib} KiB short connections; ${reps} reps"

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

say "starting nginx: ${configs[*]}"
cert_dir=${BENCH_CERT_DIR:-$work} # bench.sh makes it on the host: RSA keygen is slow under TCG
make_cert "$cert_dir"
declare -A port worker scheme
for c in "${configs[@]}"; do
    read -r shim ssl extra <<<"$(conf_of "$c")"
    mkdir -p "$work/nginx-$c"
    cp "$cert_dir/cert.pem" "$cert_dir/key.pem" "$work/nginx-$c/"
    ln -s "$html" "$work/nginx-$c/html"
    NGINX_PLAIN=$((1 - shim)) NGINX_SSL=$([[ $ssl == 1 ]] && echo ssl || true) \
        start_nginx "$work/nginx-$c" "$extra access_log off; ssl_session_tickets off; ssl_session_cache off;"
    port[$c]=$NGINX_PORT
    scheme[$c]=$([[ $ssl == 1 ]] && echo https || echo http)
    worker[$c]=$(pgrep -P "$(cat "$work/nginx-$c/logs/nginx.pid")")
    [[ ${worker[$c]} =~ ^[0-9]+$ ]] || { say "$c: not exactly one nginx worker"; exit 1; }
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
# sendfile calls expected (1) or not (0) in the worker, kernel TLS sockets expected.
expect_sendfile() {
    case $1 in
    plain) echo 1 ;;
    native-ktls | shim-sendfile-on) echo "$ktls" ;;
    *) echo 0 ;;
    esac
}
expect_ktls() {
    case $1 in
    native-ktls | shim-*) echo "$ktls" ;;
    *) echo 0 ;;
    esac
}

# Untimed check + syscall count: strace -c on the worker while it serves big.bin once.
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
    else
        [[ $dtx == 0 ]] || { ok=0 note+="TlsTxSw rose by $dtx, expected 0; "; }
    fi
    [[ ${scheme[$c]} == http || -n $tls ]] || { ok=0 note+="no TLS version from curl; "; }
    echo "$place,$c,0,check,$big_bytes,1,,,,,$dtx,$calls,$sf,$wr,$tls,$ok,${note%; }"
done

# timed CONFIG REP PHASE PATH SIZE COUNT: COUNT GETs of PATH, each on a new
# TCP + TLS connection with a full handshake (nginx: no tickets, no session
# cache; curl keeps no session); prints the CSV row.
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
    [[ $(expect_ktls "$c") == 0 || $dtx -ge $count ]] || { ok=0 note+=" TlsTxSw +$dtx"; }
    [[ $(expect_ktls "$c") == 1 || $dtx == 0 ]] || { ok=0 note+=" TlsTxSw +$dtx"; }
    echo "$place,$c,$rep,$phase,$((size * count)),$count,$(times "$t0" "$t1" "$u0" "$u1" "$s0" "$s1"),$(cpu_s "$n0" "$n1"),$dtx,,,,,$ok,$note"
}

for rep in $(seq 1 "$reps"); do
    for c in "${configs[@]}"; do
        say "rep $rep/$reps: $c"
        timed "$c" "$rep" big big.bin "$big_bytes" "$big_fetches"
        timed "$c" "$rep" small small/s.bin "$small_bytes" "$small_count"
    done
done
info loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

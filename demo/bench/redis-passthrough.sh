#!/usr/bin/env bash
# redis-passthrough.sh [ROUNDS] [REQUESTS]: what the shim costs a busy
# process that has no TLS at all (every read/write/poll goes through its
# hooks): redis-server with plaintext clients, preloaded and not, side by
# side. Three servers run at once: one with the shim, two without (the
# second is the A/A control). Each round benchmarks each server once, in a
# rotated order, with redis-benchmark (SET and GET, 50 clients, not
# preloaded); the paired ratio shim/plain of requests per second per round
# gives a median and a ~95% distribution-free interval. Verdict against "under
# 1% throughput lost": MET when the whole interval is above 0.99, NOT MET when
# it is below, otherwise NOT MEASURABLE HERE. Part of make bench-hooks.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-12}
requests=${2:-100000}
lib=${KTLS_SHIM_LIB:-$PWD/build/libktls-shim.so}
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 6 && $rounds -le 200 ]] ||
    { echo "redis-passthrough: ROUNDS '$rounds': want an integer from 6 to 200" >&2; exit 2; }
[[ $requests =~ ^[0-9]+$ && $requests -ge 100 ]] ||
    { echo "redis-passthrough: REQUESTS '$requests': want an integer of at least 100" >&2; exit 2; }
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "redis row: not run: no redis-server/redis-benchmark (demo/install-deps.sh bench installs them)"
    exit 0
fi
[[ -r $lib ]] || { echo "redis-passthrough: no library at $lib (make first)" >&2; exit 2; }

dir=$(mktemp -d /tmp/ktls-redis.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME PRELOAD: a server without persistence, on a free port
declare -A port
start() {
    local name=$1 preload=$2 p
    p=$(free_port)
    mkdir -p "$dir/$name"
    LD_PRELOAD=$preload redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir/$name" --logfile "$dir/$name/log" --protected-mode no &
    pids+=($!)
    port[$name]=$p
    local i
    for i in $(seq 1 100); do
        [[ "$(redis-cli -p "$p" ping 2>/dev/null)" == PONG ]] && break
        sleep 0.1
    done
    # the preloaded one really carries the shim
    if [[ -n $preload ]]; then
        grep -q "$(basename "$lib")" "/proc/${pids[-1]}/maps" ||
            { echo "redis-passthrough: the shim is not mapped in the preloaded server" >&2; exit 1; }
    fi
}
start shim "$lib"
start plain ""
start control ""

# requests per second, SET and GET together (their mean)
rps() {
    redis-benchmark -h 127.0.0.1 -p "${port[$1]}" -n "$requests" -c 50 -t set,get -q --csv 2>/dev/null |
        awk -F'","' 'NR > 1 { gsub(/"/, "", $2); sum += $2; n++ } END { if (n) printf "%.1f\n", sum / n }'
}

names=(shim plain control)
: >"$dir/rounds"
for ((r = 0; r < rounds; r++)); do
    declare -A got=()
    for k in 0 1 2; do
        n=${names[$(((r + k) % 3))]}
        got[$n]=$(rps "$n")
        [[ -n ${got[$n]} ]] || { echo "redis-passthrough: redis-benchmark gave no number" >&2; exit 1; }
    done
    echo "${got[shim]} ${got[plain]} ${got[control]}" >>"$dir/rounds"
done

python3 - "$dir/rounds" "$rounds" "$requests" <<'PY'
import math, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n = len(rows)
def ranks(n):
    # order statistics bounding a ~95% distribution-free interval for the median
    cdf, k = 0.0, 0
    while k <= n:
        c = math.comb(n, k) * 0.5 ** n
        if cdf + c > 0.025:
            break
        cdf += c
        k += 1
    lo = max(k, 1)
    return lo, n + 1 - lo
def summary(v):
    v = sorted(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    lo, hi = ranks(n)
    return med, v[lo - 1], v[hi - 1]
ratio = summary([s / p for s, p, c in rows])
aa = summary([c / p for s, p, c in rows])
med = lambda i: summary([r[i] for r in rows])[0]
print(f"redis-server, plaintext clients (redis-benchmark SET+GET, 50 clients, {sys.argv[3]} requests a run),")
print(f"{n} rounds, servers side by side, order rotated; requests/s medians:")
print(f"  plain {med(1):.0f}, with the shim {med(0):.0f}")
print(f"  ratio shim/plain {ratio[0]:.4f}, interval {ratio[1]:.4f}-{ratio[2]:.4f}; A/A (plain/plain) {aa[1]:.4f}-{aa[2]:.4f}")
verdict = "MET" if ratio[1] > 0.99 else "NOT MET" if ratio[2] < 0.99 else "NOT MEASURABLE HERE"
print(f"verdict: redis with the shim loses under 1% throughput: {verdict}")
PY

#!/usr/bin/env bats
# `make bench` plumbing in smoke mode (one repetition, tiny sizes, this host):
# the outputs appear and are well-formed. Nothing here is timed or compared.

load helpers
bats_require_minimum_version 1.5.0

setup() {
    requires nginx curl strace gnuplot
}

@test "bench: a bad knob is refused with a clear error, before any work" {
    run env BENCH_REPS=0 "$REPO/demo/bench/bench.sh"
    echo "$output"
    [[ $status == 2 && "$output" == *"BENCH_REPS='0': want an integer from 1 to 100"* ]]
    run env BENCH_BIG_MIB=lots "$REPO/demo/bench/bench.sh"
    [[ $status == 2 && "$output" == *"BENCH_BIG_MIB='lots'"* ]]
}

@test "bench smoke: every configuration checks out; results.md, results.csv and chart.png are produced" {
    if [[ ${KTLS_IN_GUEST:-0} == 1 ]]; then
        echo "# the smoke run is a host test (make bench runs the guest itself)" >&3
        return 0
    fi
    requires haproxy
    local out=$BATS_TEST_TMPDIR/results
    mkdir -p "$out/raw"
    BENCH_REPS=1 BENCH_BIG_MIB=1 BENCH_BIG_FETCHES=1 BENCH_SMALL_COUNT=3 BENCH_SMALL_KIB=1 \
        "$REPO/demo/bench/measure.sh" host plain userspace shim-sendfile-off shim-sendfile-on \
        haproxy-userspace haproxy-shim >"$out/raw/host.csv"
    run python3 "$REPO/demo/bench/report.py" "$out" "$out/raw/host.csv"
    echo "$output"
    [[ $status == 0 ]]
    [[ "$(head -c 4 "$out/chart.png" | od -An -c | tr -d ' ')" == "211PNG" ]]
    # 1 check + 2 timed rows per configuration, all ok
    [[ $(grep -c '^host,.*,1,$' "$out/raw/host.csv") == 18 ]]
    # CPU in nanoseconds from schedstat wherever the kernel keeps it (cpu_s, column 10)
    if [[ -r /proc/self/schedstat ]]; then
        awk -F, '$4 == "big" && !($10 > 0) { bad = 1 } END { exit bad }' "$out/raw/host.csv"
    fi
    python3 - "$out/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["config"] for r in rows] == ["plain", "userspace", "shim-sendfile-off", "shim-sendfile-on",
                                      "haproxy-userspace", "haproxy-shim"], rows
for r in rows:
    assert r["ok"] == "1" and float(r["cpu_s_per_gb_median"]) >= 0 and float(r["handshakes_per_s_median"]) > 0, r
    # HAProxy's ratios are against its own userspace row, whose are 1
    assert r["config"] != "haproxy-userspace" or float(r["handshakes_vs_userspace"]) == 1, r
PY
    grep -q '^| host | userspace OpenSSL (sendfile off) | ' "$out/results.md"
    grep -q '^| host | HAProxy 2.6 TLS termination, shim | ' "$out/results.md"
    grep -qE '^\| passthrough overhead under 1% CPU[^|]*\| \*\*(MET|NOT MET|NOT MEASURABLE HERE)\*\* \|' \
        "$out/results.md"
    grep -qE '^\| HAProxy passthrough overhead under 1% CPU[^|]*\| \*\*(MET|NOT MET|NOT MEASURABLE HERE)\*\* \|' \
        "$out/results.md"
}

# make bench-hooks, small: its sections and verdicts are there and well
# formed. The numbers themselves are the benchmark's business, not a test's.
@test "bench-hooks smoke: the SSL rows, the libc hooks' rows, and on a kTLS kernel the rows with a custom-BIO connection open and after it" {
    local cert=$BATS_TEST_TMPDIR
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$cert/ec.key" \
        -out "$cert/ec.pem" -days 2 -subj /CN=localhost 2>/dev/null
    run --separate-stderr env LD_PRELOAD="$SHIM" HOOKBENCH_CERT="$cert/ec.pem" HOOKBENCH_KEY="$cert/ec.key" \
        "$PROGS_DIR/hookbench" --rounds 6 --scale 1
    printf '%s\n' "$output" "$stderr"
    [[ $status == 0 && -z "$stderr" ]]
    grep -qE '^verdict: passthrough overhead under 1% CPU per GB \(16 KiB records\): (MET|NOT MET|NOT MEASURABLE HERE)$' <<<"$output"
    grep -qE '^verdict: libc hooks add at most 2 ns per call: (MET|NOT MET|NOT MEASURABLE HERE)$' <<<"$output"
    grep -qE '^verdict: sampling at the default rate costs under 0.5% \(1-byte calls, the worst case\): (MET|NOT MET)$' <<<"$output"
    local blocks=1 op
    have_ktls && blocks=3
    [[ $(grep -c '^no connection watched' <<<"$output") == 1 ]]
    for op in "read (EAGAIN)" "recv (EAGAIN)" "readv (EAGAIN)" "poll (timeout 0)" "write+read 1 byte" \
        "send+recv 1 byte" "writev+readv 1 byte"; do
        # name, libc ns, hooked ns, added, interval, A/A interval
        [[ $(grep -cE "^${op//[()+]/.} +[0-9.]+ +[0-9.]+ +-?[0-9.]+ +-?[0-9.]+\.\.-?[0-9.]+ +-?[0-9.]+\.\.-?[0-9.]+ *$" <<<"$output") == "$blocks" ]] ||
            { echo "rows of $op: want $blocks"; return 1; }
    done
    if have_ktls; then
        grep -qx 'a custom-BIO connection open (each call.s descriptor is looked up):' <<<"$output"
        grep -qx 'after that connection ended:' <<<"$output"
    else
        grep -q '^a custom-BIO connection open, and after it: not measured (this kernel takes no TLS keys,' <<<"$output"
    fi
}

@test "bench-hooks' redis row: three redis-servers (one preloaded, shown to carry the shim), paired rounds, a verdict; bad arguments refused" {
    host_only && return 0
    requires redis-server redis-benchmark redis-cli
    run "$REPO/demo/bench/redis-passthrough.sh" 6 300
    echo "$output"
    [[ $status == 0 ]]
    grep -qE '^  ratio shim/plain [0-9.]+, interval [0-9.]+-[0-9.]+; A/A \(plain/plain\) [0-9.]+-[0-9.]+$' <<<"$output"
    grep -qE '^verdict: redis with the shim loses under 1% throughput: (MET|NOT MET|NOT MEASURABLE HERE)$' <<<"$output"
    [[ -z "$(pgrep -f 'redis-server 127.0.0.1' || true)" ]] # none left running
    run "$REPO/demo/bench/redis-passthrough.sh" 3
    [[ $status == 2 && "$output" == "redis-passthrough: ROUNDS '3': want an integer from 6 to 200" ]]
    run "$REPO/demo/bench/redis-passthrough.sh" 6 lots
    [[ $status == 2 && "$output" == "redis-passthrough: REQUESTS 'lots': want an integer of at least 100" ]]
}

#!/usr/bin/env bats
# `make bench` plumbing in smoke mode (one repetition, tiny sizes, this host):
# the outputs appear and are well-formed. Nothing here is timed or compared.

load helpers

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

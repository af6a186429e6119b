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
    # the A/B server's draw seeded, so that each arm gets the 10 connections a verdict needs
    KTLS_SHIM_SEED=1 BENCH_AB_CONNS=24 \
        BENCH_REPS=1 BENCH_BIG_MIB=1 BENCH_BIG_FETCHES=1 BENCH_SMALL_COUNT=3 BENCH_SMALL_KIB=1 \
        "$REPO/demo/bench/measure.sh" host plain userspace shim-sendfile-off shim-sendfile-on shim-ab \
        haproxy-userspace haproxy-shim >"$out/raw/host.csv"
    run python3 "$REPO/demo/bench/report.py" "$out" "$out/raw/host.csv"
    echo "$output"
    [[ $status == 0 ]]
    [[ "$(head -c 4 "$out/chart.png" | od -An -c | tr -d ' ')" == "211PNG" ]]
    # 1 check + 2 timed rows per configuration (the A/B one: 1, its own phase), all ok
    [[ $(grep -c '^host,.*,1,$' "$out/raw/host.csv") == 20 ]]
    # CPU in nanoseconds from schedstat wherever the kernel keeps it (cpu_s, column 10)
    if [[ -r /proc/self/schedstat ]]; then
        awk -F, '$4 == "big" && !($10 > 0) { bad = 1 } END { exit bad }' "$out/raw/host.csv"
    fi
    python3 - "$out/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["config"] for r in rows] == ["plain", "userspace", "shim-sendfile-off", "shim-sendfile-on", "shim-ab",
                                      "haproxy-userspace", "haproxy-shim"], rows
for r in rows:
    assert r["ok"] == "1" and float(r["cpu_s_per_gb_median"]) >= 0, r
    # the A/B server serves big files only
    assert (r["handshakes_per_s_median"] == "") == (r["config"] == "shim-ab"), r
    assert r["config"] == "shim-ab" or float(r["handshakes_per_s_median"]) > 0, r
    # HAProxy's ratios are against its own userspace row, whose are 1
    assert r["config"] != "haproxy-userspace" or float(r["handshakes_vs_userspace"]) == 1, r
PY
    grep -q '^| host | userspace OpenSSL (sendfile off) | ' "$out/results.md"
    grep -q '^| host | HAProxy 2.6 TLS termination, shim | ' "$out/results.md"
    grep -qE '^\| passthrough overhead under 1% CPU[^|]*\| \*\*(MET|NOT MET|NOT MEASURABLE HERE)\*\* \|' \
        "$out/results.md"
    grep -qE '^\| HAProxy passthrough overhead under 1% CPU[^|]*\| \*\*(MET|NOT MET|NOT MEASURABLE HERE)\*\* \|' \
        "$out/results.md"
    # no kTLS here: the A/B server's arms both ran OpenSSL, an A/A run; the
    # report's per-arm ratio and interval are ktls-stats' own on the same files
    grep -q '^| A/B in-process CPU per byte agrees with the whole process .* | \*\*NOT MEASURABLE HERE\*\* | no kTLS in host, so both arms ran OpenSSL: an A/A run' "$out/results.md"
    local mine theirs
    mine=$(sed -n 's/^- host: .*per-arm ratio offload\/control \([0-9.]*x\) (95% CI \([0-9.-]*\);.*/\1 \2/p' "$out/results.md")
    theirs=$(sed -n 's/.*`ktls-stats: offload arm (nothing moved to the kernel): \([0-9.]*x\) the CPU per byte sent of the control arm (OpenSSL) (95% CI \([0-9.-]*\)),.*/\1 \2/p' "$out/results.md")
    echo "report: '$mine' ktls-stats: '$theirs'"
    [[ -n $mine && $mine == "$theirs" ]]
}

# The cross-check's arithmetic on a kTLS kernel, from the raw numbers of a
# short guest run (BENCH_REPS=3 BENCH_BIG_MIB=4 BENCH_BIG_FETCHES=2
# BENCH_AB_CONNS=12, kernel 6.1): the implied whole-process ratio agrees with
# the measured one; made 20% dearer from outside, it does not.
@test "bench report: the A/B cross-check agrees with the whole process on a guest run's numbers, and fails when they differ" {
    host_only && return 0
    local out=$BATS_TEST_TMPDIR/ab
    mkdir -p "$out/raw"
    cat >"$out/raw/guest.csv" <<'CSV'
#info,guest,kernel,"6.1.0-50-amd64"
#info,guest,ktls,"yes"
#info,guest,emulated,"yes (QEMU TCG)"
place,config,rep,phase,bytes,requests,wall_s,user_s,sys_s,cpu_s,tls_tx_sockets,syscalls,sendfile_calls,write_calls,tls,ok,note
guest,userspace,0,check,4194304,1,,,,,0,473,0,267,TLSv1.3 TLS_AES_256_GCM_SHA384,1,
guest,shim-sendfile-off,0,check,4194304,1,,,,,2,772,0,267,TLSv1.3 TLS_AES_256_GCM_SHA384,1,
guest,shim-ab,0,check,4194304,1,,,,,1,1573,0,268,TLSv1.3 TLS_AES_256_GCM_SHA384,1,
guest,userspace,1,big,8388608,2,0.782659,0.230,0.120,0.345107583,0,,,,,1,
guest,userspace,1,small,12288,3,0.475606,0.050,0.010,0.056547775,0,,,,,1,
guest,shim-sendfile-off,1,big,8388608,2,1.027124,0.070,0.540,0.612960944,2,,,,,1,
guest,shim-sendfile-off,1,small,12288,3,0.499339,0.040,0.020,0.061236285,3,,,,,1,
guest,shim-ab,1,ab,50331648,12,3.285419,0.980,1.730,2.713596357,4,,,,,1,
guest,userspace,2,big,8388608,2,0.777444,0.270,0.100,0.366420123,0,,,,,1,
guest,userspace,2,small,12288,3,0.504904,0.050,0.010,0.057004739,0,,,,,1,
guest,shim-sendfile-off,2,big,8388608,2,1.004393,0.080,0.510,0.587038822,2,,,,,1,
guest,shim-sendfile-off,2,small,12288,3,0.485420,0.040,0.020,0.060473686,3,,,,,1,
guest,shim-ab,2,ab,50331648,12,3.679545,0.830,2.260,3.091578471,7,,,,,1,
guest,userspace,3,big,8388608,2,0.780745,0.210,0.130,0.347179573,0,,,,,1,
guest,userspace,3,small,12288,3,0.505556,0.030,0.010,0.044888896,0,,,,,1,
guest,shim-sendfile-off,3,big,8388608,2,1.013483,0.070,0.570,0.642033004,2,,,,,1,
guest,shim-sendfile-off,3,small,12288,3,0.465192,0.060,0.010,0.067469395,3,,,,,1,
guest,shim-ab,3,ab,50331648,12,3.551204,1.040,1.960,2.991590227,5,,,,,1,
#info,guest,ab_moved_tx,"17"
#cpu,guest,offload,tx,17,4369,4666500862,71307270,1292095353929475052,299101573814900,19573849600090690
#cpu,guest,offload,rx,17,37,114214503,1766,11546735383735805,183796,9951131104
#cpu,guest,offload,handshake,17,348117969
#cpu,guest,control,tx,21,5141,2985021520,83895237,446187756637316804,351884173950069,12513913512254288
#cpu,guest,control,rx,21,48,7591077,2190,8301892015001,228600,758660100
#cpu,guest,control,handshake,21,340690431
#info,guest,ab_verdict,"ktls-stats: offload (kTLS) arm: 1.84x the CPU per byte sent of the control arm (OpenSSL) (95% CI 1.75-1.94), from 17 + 21 connections, 4369 + 5141 sampled writes"
CSV
    run python3 "$REPO/demo/bench/report.py" "$out" "$out/raw/guest.csv"
    echo "$output"
    [[ $status == 0 ]]
    grep '^| A/B in-process' "$out/results.md"
    grep -q '^| A/B in-process .* | \*\*AGREES (EMULATED)\*\* | guest, EMULATED: outside, all-kTLS / all-OpenSSL whole-process CPU per GB, median of per-round ratios 1.776 .*per-arm ratio offload/control 1.84x (95% CI 1.75-1.94;.* implies a whole-process ratio of 1.778 ' "$out/results.md"
    # the all-kTLS server 20% dearer, measured from outside
    awk -F, -v OFS=, '$2 == "shim-sendfile-off" && $4 == "big" { $10 = $10 * 1.2 } 1' "$out/raw/guest.csv" >"$out/raw/g2"
    mv "$out/raw/g2" "$out/raw/guest.csv"
    run python3 "$REPO/demo/bench/report.py" "$out" "$out/raw/guest.csv"
    [[ $status == 0 ]]
    grep '^| A/B in-process' "$out/results.md"
    grep -q '^| A/B in-process .* | \*\*DISAGREES (EMULATED)\*\* | .*median of per-round ratios 2.131 ' "$out/results.md"
    grep -q '^- The shim.s in-process A/B measure DISAGREES with the whole process' "$out/results.md"
}

# make bench-hooks, small: its sections and verdicts are there and well
# formed. The numbers themselves are the benchmark's business, not a test's.
@test "bench-hooks smoke: the SSL rows, the libc hooks' rows, and on a kTLS kernel the rows with a custom-BIO connection open and after it" {
    local cert=$BATS_TEST_TMPDIR
    make_ec_cert "$cert"
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

#!/usr/bin/env bash
# `make bench`: CPU per GB, throughput, handshake rate and syscalls per MB of
# nginx (1 worker) serving curl on loopback: plain HTTP, userspace OpenSSL,
# OpenSSL-native kTLS, and the shim with sendfile off and on; and of HAProxy
# (1 thread) terminating TLS in front of a plain-HTTP nginx, without and with
# the shim; and, with kTLS, nginx under the shim's A/B split with every call's
# CPU sampled, whose per-arm numbers are checked against the whole-process CPU
# of the userspace and shim rows. On a kernel with kTLS everything runs here; on one without, the
# host measures the shim's passthrough overhead and all the configurations run
# again in the QEMU guest, whose rows the report marks EMULATED. Writes
# results.md, results.csv, chart.png and raw/ under demo/bench/results
# (BENCH_OUT overrides).
#
# Knobs (positive integers):
#   BENCH_REPS=5                 timed repetitions per configuration (round-robin)
#   BENCH_BIG_MIB=256            large file size on the host / a native kTLS host
#   BENCH_BIG_FETCHES=4          GETs of the large file per repetition (one connection each)
#   BENCH_SMALL_COUNT=1000       short connections (one small GET each) per repetition
#   BENCH_SMALL_KIB=4            small file size
#   BENCH_AB_CONNS=20            GETs of the large file per repetition in the A/B
#                                configuration (shim-ab, with a kTLS kernel only)
#   BENCH_GUEST_BIG_MIB=16, BENCH_GUEST_BIG_FETCHES=1, BENCH_GUEST_SMALL_COUNT=20
#                                the same in the (slow, emulated) guest
#   BENCH_GUEST=0                skip the guest (a quick host-only run; no kTLS rows)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=demo/bench

knob() { # NAME DEFAULT MAX: sets NAME to its value, validated
    local name=$1 def=$2 max=$3 val
    val=${!name:-$def}
    if ! [[ $val =~ ^[1-9][0-9]*$ ]] || ((val > max)); then
        echo "bench: $name='$val': want an integer from 1 to $max" >&2
        exit 2
    fi
    printf -v "$name" %s "$val"
    export "${name?}"
}
knob BENCH_REPS 5 100
knob BENCH_BIG_MIB 256 4096
knob BENCH_BIG_FETCHES 4 1000
knob BENCH_SMALL_COUNT 1000 100000
knob BENCH_SMALL_KIB 4 1024
knob BENCH_AB_CONNS 20 10000
knob BENCH_GUEST_BIG_MIB 16 512
knob BENCH_GUEST_BIG_FETCHES 1 1000
knob BENCH_GUEST_SMALL_COUNT 20 100000
out=${BENCH_OUT:-$here/results}

[[ ${BENCH_SKIP_DEPS:-0} == 1 ]] || demo/install-deps.sh bench
make -s all
mkdir -p "$out/raw" build/bench-cert
# one server key for every nginx, made here (under TCG an RSA keygen takes minutes)
# shellcheck source=../../tests/helpers.bash
source tests/helpers.bash
rm -f build/bench-cert/*.pem
make_cert build/bench-cert
export BENCH_CERT_DIR=$PWD/build/bench-cert
rm -f "$out"/raw/*.csv
start=$(date +%s)
run_info() { echo "#info,run,$1,\"$2\"" >>"$out/raw/run.csv"; }
run_info "started (UTC)" "$(date -u '+%Y-%m-%d %H:%M:%S')"
run_info "host load average at start" "$(cut -d' ' -f1-3 /proc/loadavg)"
run_info "command" "make bench (BENCH_REPS=$BENCH_REPS BENCH_BIG_MIB=$BENCH_BIG_MIB BENCH_BIG_FETCHES=$BENCH_BIG_FETCHES BENCH_SMALL_COUNT=$BENCH_SMALL_COUNT BENCH_SMALL_KIB=$BENCH_SMALL_KIB BENCH_AB_CONNS=$BENCH_AB_CONNS BENCH_GUEST_BIG_MIB=$BENCH_GUEST_BIG_MIB BENCH_GUEST_BIG_FETCHES=$BENCH_GUEST_BIG_FETCHES BENCH_GUEST_SMALL_COUNT=$BENCH_GUEST_SMALL_COUNT)"

all=(plain userspace native-ktls shim-sendfile-off shim-sendfile-on shim-ab haproxy-userspace haproxy-shim)
if tests/have-ktls.sh; then
    echo "bench: this kernel ($(uname -r)) has kTLS: every configuration runs here, natively." >&2
    $here/measure.sh host "${all[@]}" >"$out/raw/host.csv"
else
    echo "bench: this kernel ($(uname -r)) has no kTLS: passthrough rows here, then all of them in the QEMU guest (EMULATED)." >&2
    $here/measure.sh host plain userspace shim-sendfile-off shim-sendfile-on haproxy-userspace haproxy-shim \
        >"$out/raw/host.csv"
fi
if ! tests/have-ktls.sh && [[ ${BENCH_GUEST:-1} != 0 ]]; then
    run_info "host load average before the guest run" "$(cut -d' ' -f1-3 /proc/loadavg)"
    BENCH_BIG_MIB=$BENCH_GUEST_BIG_MIB BENCH_BIG_FETCHES=$BENCH_GUEST_BIG_FETCHES \
        BENCH_SMALL_COUNT=$BENCH_GUEST_SMALL_COUNT \
        KTLS_VM_ENV="BENCH_CERT_DIR BENCH_REPS BENCH_BIG_MIB BENCH_BIG_FETCHES BENCH_SMALL_COUNT BENCH_SMALL_KIB BENCH_AB_CONNS" \
        tests/vm/run-in-guest.sh --timeout "${BENCH_GUEST_TIMEOUT:-3000}" -- \
        $here/measure.sh guest "${all[@]}" >"$out/raw/guest.csv" 2> >(grep -v '^\[ *[0-9.]*\]' >&2)
fi
run_info "host load average at end" "$(cut -d' ' -f1-3 /proc/loadavg)"
run_info "wall time" "$(($(date +%s) - start)) s"
rc=0
python3 $here/report.py "$out" "$out"/raw/*.csv || rc=$?
cat "$out/results.md"
exit $rc

#!/usr/bin/env bash
# run.sh MINUTES: make torture. Random seeds through seqfuzz.sh for MINUTES
# on kernels with kTLS: this one if it has kTLS, else QEMU guests (6.1, then
# 7.3 with KeyUpdates, half the time each). Every shimmed run must have moved
# all four directions to the kernel. The shim preloaded is the ASan+UBSan
# build, after libasan (KTLS_TEST_SHIM overrides). Prints each seed, and
# "seqfuzz: N sequences, D divergences" per kernel; exits 1 on any.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "torture: MINUTES must be a whole number of minutes, got '$minutes'" >&2; exit 2; }
make -s all asan
export KTLS_TEST_SHIM=${KTLS_TEST_SHIM:-$(cc -print-file-name=libasan.so):$PWD/build/asan/libktls-shim.so}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:exitcode=99}
if tests/have-ktls.sh; then
    exec tests/torture/seqfuzz.sh --minutes "$minutes" --require-offload
fi
half=$(((minutes + 1) / 2))
status=0
for cell in "6.1:" "7.3:--key-update"; do
    kernel=${cell%%:*} extra=${cell#*:}
    echo "=== torture: $half min in the $kernel guest ${extra:+($extra)}"
    KTLS_VM_KERNEL=$kernel KTLS_VM_ENV="KTLS_TEST_SHIM ASAN_OPTIONS" \
        tests/vm/run-in-guest.sh --timeout $((half * 60 + 600)) -- \
        tests/torture/seqfuzz.sh --minutes "$half" --require-offload $extra || status=1
done
exit $status

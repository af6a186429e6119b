#!/usr/bin/env bash
# run.sh MINUTES: make torture. Random seeds for MINUTES on kernels with
# kTLS: this one if it has kTLS, else QEMU guests (6.1, then 7.3 with
# KeyUpdates, half the time each). In each, half the time goes to real
# programs (programs.sh: nginx, openssl s_server/s_client, curl, CPython,
# with and without the shim) and half to seeded call sequences
# (seqfuzz.sh). Every shimmed run must have moved its directions to the
# kernel. The shim preloaded is the ASan+UBSan build, after libasan
# (KTLS_TEST_SHIM overrides). Prints each seed, "programs: N scenarios, D
# divergences" and "seqfuzz: N sequences, D divergences" per kernel, and at
# the end "torture: N scenarios, N sequences, D divergences"; exits 1 on any.
# TORTURE_GUESTS=2 boots both guests at once (MINUTES guest minutes in
# MINUTES/2 of wall time).
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "torture: MINUTES must be a whole number of minutes, got '$minutes'" >&2; exit 2; }
make -s all asan
export KTLS_TEST_SHIM=${KTLS_TEST_SHIM:-$(cc -print-file-name=libasan.so):$PWD/build/asan/libktls-shim.so}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:exitcode=99}
log=$(mktemp)
trap 'rm -rf "$log" "$log".*' EXIT

# both ARGS MINUTES [SEQFUZZ ARGS...]: the programs, then the sequences,
# MINUTES each (at least 1)
both() {
    local m=$1
    shift
    echo "tests/torture/programs.sh --minutes $m --require-offload; p=\$?;" \
        "tests/torture/seqfuzz.sh --minutes $m --require-offload $*; s=\$?; exit \$((p | s))"
}

status=0
if tests/have-ktls.sh; then
    half=$(((minutes + 1) / 2))
    bash -c "$(both "$half")" 2>&1 | tee "$log" || status=1
else
    # TORTURE_GUESTS=2: both guests at once (the machine's two cores), each
    # for the whole MINUTES/2: MINUTES guest minutes in half the wall time
    quarter=$(((minutes + 3) / 4))
    guest() { # KERNEL EXTRA
        echo "=== torture: $((2 * quarter)) min in the $1 guest ${2:+($2)}"
        # shellcheck disable=SC2086 # ($2 is empty in the 6.1 cell: no argument)
        KTLS_VM_KERNEL=$1 KTLS_VM_ENV="KTLS_TEST_SHIM ASAN_OPTIONS" \
            tests/vm/run-in-guest.sh --timeout $((2 * quarter * 60 + 900)) -- \
            bash -c "$(both "$quarter" $2)" 2>&1
    }
    if [[ ${TORTURE_GUESTS:-1} == 2 ]]; then
        guest 6.1 "" >"$log.6.1" & first=$!
        guest 7.3 --key-update >"$log.7.3" & second=$!
        wait "$first" || status=1
        wait "$second" || status=1
        cat "$log.6.1" "$log.7.3" | tee -a "$log"
        rm -f "$log.6.1" "$log.7.3"
    else
        guest 6.1 "" | tee -a "$log" || status=1
        guest 7.3 --key-update | tee -a "$log" || status=1
    fi
fi
# the totals of every kernel's summary lines
sum() { # PREFIX: the sum of field 2 and of field 4 over "PREFIX: N things, D divergences"
    awk -v p="$1:" '$1 == p { n += $2; d += $4 } END { print n + 0, d + 0 }' "$log"
}
read -r scenarios pdiv < <(sum programs)
read -r sequences sdiv < <(sum seqfuzz)
echo "torture: $scenarios scenarios, $sequences sequences, $((pdiv + sdiv)) divergences"
exit $status

#!/usr/bin/env bash
# `make test`: unit tests (under ASan/UBSan), a bounded run of the libFuzzer
# targets, the bats suite on this host, and
# the bats suite on a kernel with kTLS: natively when this one has it, else in
# the QEMU guest. Ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
passed=0 failed=0

count_tap() { # FILE -> adds to passed/failed; a skip counts as a failure
    local p f s
    p=$(grep -cE '^ok [0-9]+' "$1" | tr -d ' ')
    s=$(grep -cE '^ok [0-9]+.*# skip' "$1" | tr -d ' ')
    f=$(grep -cE '^not ok [0-9]+' "$1" | tr -d ' ')
    passed=$((passed + p - s))
    failed=$((failed + f + s))
    # a runner that died before its plan was met counts once as failed
    local plan
    plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$1" | head -n1)
    if [[ -z "$plan" || $((p + f)) -lt ${plan:-0} ]]; then
        echo "!! $2: ran $((p + f)) of ${plan:-?} planned tests" >&2
        failed=$((failed + 1))
    fi
}

echo "=== unit tests (ASan/UBSan)"
make -s build/unit_tests
build/unit_tests | tee "$log_dir/unit.out"
unit_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log_dir/unit.out" | tail -n1)
if [[ -n "$unit_line" ]]; then
    passed=$((passed + $(cut -d' ' -f1 <<<"$unit_line")))
    failed=$((failed + $(cut -d' ' -f3 <<<"$unit_line")))
else
    echo "!! unit tests printed no summary" >&2
    failed=$((failed + 1))
fi

# Bounded: the parsers' fuzz targets from their seeds (a long run: make fuzz)
echo "=== fuzz targets, ${KTLS_FUZZ_SECONDS:-45} s each"
if make -s fuzz-build; then
    tests/fuzz/run.sh "${KTLS_FUZZ_SECONDS:-45}" | tee "$log_dir/fuzz.tap"
    count_tap "$log_dir/fuzz.tap" fuzz
else
    echo "!! fuzz targets did not build" >&2
    failed=$((failed + 1))
fi

native=0
tests/have-ktls.sh && native=1
echo "=== bats on this host ($(uname -r))"
# on a kTLS host this is the kTLS run, where a skip is a failure too
KTLS_STRICT=$native tests/run-bats.sh host | tee "$log_dir/host.tap"
count_tap "$log_dir/host.tap" host

if [[ $native == 1 ]]; then
    echo "=== this kernel has kTLS: the host run above was the kTLS run"
else
    echo "=== bats in the QEMU guest (this kernel has no kTLS)"
    tests/run-bats.sh vm | tee "$log_dir/vm.tap"
    count_tap "$log_dir/vm.tap" guest
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]

#!/usr/bin/env bats
# The harness itself: the torture (tests/torture/) must find the kind of bug
# it exists to find. Each test preloads a scratch build of the shim with one
# known fault planted (make planted; shim/0-pure/planted.h), under ASan like
# the torture's shim, and asks for a reported divergence with its seed and a
# replay line, within the budget CI gives the real shim. The seeds are among
# 81-seqfuzz.bats's fixed ones, which the real shim passes in the same cell,
# and one plan of the real-program runner's (82-torture-programs.bats).
# Every fault sits on a path the shim takes only once a direction is in the
# kernel: a kernel without kTLS (this host's) gives it nothing to find, so
# the checks run where make test boots a kTLS guest; on the host only the
# reporting is checked (81-seqfuzz.bats's planted preload).

load helpers

setup() {
    have_ktls || return 0
    ASAN_RT=$(cc -print-file-name=libasan.so)
    [[ -f $ASAN_RT ]]
    if ! kernel_takes 12_chacha; then
        export SEQFUZZ_NO_CHACHA=1
    fi
}

# catches FAULT [seqfuzz.sh ARGS...]: seqfuzz with FAULT's build reports at
# least one divergence, each with a replay line
catches() {
    local fault=$1 lib=$REPO/build/planted/$1/libktls-shim.so
    shift
    [[ -f $lib ]] || { echo "$lib missing: make planted"; return 1; }
    KTLS_TEST_SHIM=$ASAN_RT:$lib ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99 \
        SEQFUZZ_PROG=$PROGS_DIR/seqfuzz run "$REPO/tests/torture/seqfuzz.sh" --require-offload "$@"
    echo "$output"
    [[ $status == 1 ]]
    [[ ${lines[-1]} =~ ^seqfuzz:\ ([0-9]+)\ sequences,\ ([0-9]+)\ divergences$ ]]
    local divergences=${BASH_REMATCH[2]}
    ((divergences > 0))
    (($(grep -c '^!! replay: ' <<<"$output") == divergences))
    echo "# $fault: $divergences of ${BASH_REMATCH[1]} sequences diverged" >&3
}

# catches_in_program FAULT PROGRAM SEED: the real-program runner with
# FAULT's build (--small plans, as 82-torture-programs runs them) reports
# PROGRAM's seed as a divergence for an ASan/UBSan report, with its replay
# line. KTLS_SHIM_MODE is passed on (the shim's own knob: a direction left
# to OpenSSL).
catches_in_program() {
    local fault=$1 lib=$REPO/build/planted/$1/libktls-shim.so
    [[ -f $lib ]] || { echo "$lib missing: make planted"; return 1; }
    KTLS_TEST_SHIM=$ASAN_RT:$lib ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99 \
        run "$REPO/tests/torture/programs.sh" --program "$2" --first "$3" --seeds 1 --small
    echo "$output"
    [[ $status == 1 ]]
    [[ ${lines[-1]} == "programs: 1 scenarios, 1 divergences" ]]
    grep -q '^> sanitizer report in: ' <<<"$output"
    grep -q "^!! replay: tests/torture/programs.sh --program $2 --first $3 --seeds 1 --small\$" <<<"$output"
    echo "# $fault: $2 seed $3 diverged with a sanitizer report" >&3
}

no_ktls_here() {
    have_ktls && return 1
    echo "# no kTLS on this kernel: nothing of the shim's kernel path to plant a fault in; the guest runs this" >&3
}

@test "planted: TX one record sequence number too far is found by seqfuzz" {
    no_ktls_here && return 0
    catches skip_seq --seeds 1
}

@test "planted: a closed descriptor still taken for its connection (a write after the loss goes out in clear) is found by seqfuzz" {
    no_ktls_here && return 0
    catches forget_close --seeds 1
    grep -q '^> write after loss: in clear on the reused number: YES$' <<<"$output"
}

@test "planted: a vfork child's closes taken as the parent's are found by seqfuzz" {
    no_ktls_here && return 0
    catches vfork_as_parent --seeds 1
}

@test "planted: a peer's KeyUpdate taken without rekeying RX is found by seqfuzz where the kernel can rekey" {
    no_ktls_here && return 0
    if ! kernel_rekeys; then
        echo "# this kernel cannot rekey: the shim refuses KeyUpdates here (73-rekey), 7.3's cell runs this" >&3
        return 0
    fi
    catches ignore_key_update --seeds 2 --key-update
}

# OpenSSL writes a record itself after TX moved only where something makes
# it (its own RX meets a bad record and answers with an alert): nginx with
# RX left to OpenSSL (KTLS_SHIM_MODE=tx) and a client that sends a garbage
# record (seed 19: TLS 1.2 AES-128-GCM, one connection). The alert goes to
# the shim's sink BIO, the program's write BIO is kept, and given back when
# the connection ends; kept without a reference, it is freed twice. seqfuzz
# never makes OpenSSL write after the move; the real shim passes this plan
# under the same mode (6.1 guest, 2026-12-06).
@test "planted: the program's write BIO kept without a reference while OpenSSL's alert goes to the sink is found by the real-program runner (nginx, RX in OpenSSL, a garbage record)" {
    no_ktls_here && return 0
    export KTLS_SHIM_MODE=tx
    catches_in_program drop_bio_ref nginx 19
}

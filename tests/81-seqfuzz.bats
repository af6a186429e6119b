#!/usr/bin/env bats
# Seeded call sequences (tests/progs/seqfuzz.c, tests/torture/seqfuzz.sh):
# both ends of one connection in one process, random writes, reads, peeks,
# blocking switches, sendfile, descriptor shuffles, fork/vfork children,
# held BIOs, signals, reconnects and (where the kernel can rekey)
# KeyUpdates, run without the shim, with it on both ends and on one end;
# what a program sees must be the same. In the guest every shimmed run must
# have moved all four directions of its shimmed ends to the kernel. The
# fixed seeds run every time, and one seed drawn per run, printed.

load helpers

offload_flag() {
    if have_ktls; then echo --require-offload; fi
}

# a kernel that cannot take ChaCha20-Poly1305 (5.10) keeps such a
# connection in OpenSSL: its sequences use AES-GCM only
setup() {
    if have_ktls && ! kernel_takes 12_chacha; then
        export SEQFUZZ_NO_CHACHA=1
    fi
}

@test "seqfuzz: fixed seeds and one drawn seed, TLS 1.3 and 1.2, agree with and without the shim" {
    KTLS_TEST_SHIM=$SHIM SEQFUZZ_PROG=$PROGS_DIR/seqfuzz run "$REPO/tests/torture/seqfuzz.sh" --seeds 8 $(offload_flag)
    echo "$output"
    [[ $status == 0 ]]
    [[ "${lines[-1]}" == "seqfuzz: 16 sequences, 0 divergences" ]]
    drawn=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    echo "# seqfuzz drawn seed: $drawn" >&3
    KTLS_TEST_SHIM=$SHIM SEQFUZZ_PROG=$PROGS_DIR/seqfuzz run "$REPO/tests/torture/seqfuzz.sh" --first "$drawn" --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "seqfuzz: 2 sequences, 0 divergences" ]]
}

@test "seqfuzz: with KeyUpdates where the kernel can rekey, agree with and without the shim" {
    if ! have_ktls || ! kernel_rekeys; then
        # the shim refuses SSL_key_update where the kernel cannot rekey (a
        # documented limit, 73-rekey checks it): no parity to ask for here
        echo "# no kernel here that can rekey kTLS (6.14 and later): 7.3's cell runs this" >&3
        return 0
    fi
    KTLS_TEST_SHIM=$SHIM SEQFUZZ_PROG=$PROGS_DIR/seqfuzz run "$REPO/tests/torture/seqfuzz.sh" --seeds 6 --key-update --require-offload
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "seqfuzz: 12 sequences, 0 divergences" ]]
    # found by make torture (7.3, 2026-12-06): an SSL_key_update owed while
    # the client's RX was still OpenSSL's was not sent by its SSL_read, and
    # the next SSL_key_update met STILL_IN_INIT
    KTLS_TEST_SHIM=$SHIM SEQFUZZ_PROG=$PROGS_DIR/seqfuzz run "$REPO/tests/torture/seqfuzz.sh" --first 164331743936852 --seeds 1 --key-update --require-offload
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "seqfuzz: 2 sequences, 0 divergences" ]]
}

# The harness itself: a preload that answers one SSL_read_ex call wrongly
# (the 3rd, as a clean close) must be reported, shrunk and given a replay.
@test "seqfuzz.sh reports a planted divergence with its seed, its shortest length and a replay" {
    host_only && return 0
    read_ex_fault "$BATS_TEST_TMPDIR/fault.so" <<'C'
    if (++calls == 3) {
        *got = 0;
        return 0;
    }
    return real(s, buf, num, got);
C
    KTLS_TEST_SHIM=$BATS_TEST_TMPDIR/fault.so run "$REPO/tests/torture/seqfuzz.sh" --seeds 2
    echo "$output"
    [[ $status == 1 ]]
    [[ "${lines[-1]}" =~ ^seqfuzz:\ 4\ sequences,\ [1-4]\ divergences$ ]]
    line=$(grep -m1 '^!! seqfuzz: divergence: seed ' <<<"$output")
    [[ $line =~ shortest\ at\ ([0-9]+)\ steps ]]
    shortest=${BASH_REMATCH[1]}
    ((shortest > 0 && shortest < 80))
    grep -q "^!! replay: LD_PRELOAD=$BATS_TEST_TMPDIR/fault.so build/seqfuzz [0-9]* $shortest 1[23] " <<<"$output"
}

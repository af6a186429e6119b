#!/usr/bin/env bats
# The harness proves itself before anything else is believed: where the kernel
# has kTLS, OpenSSL's own kTLS must visibly move the kernel counters.

load helpers

@test "environment banner" {
    {
        echo "# host/guest kernel: $(uname -r)"
        echo "# OpenSSL under test: $KTLS_OSSL ($("$OPENSSL_BIN" version)), programs in ${PROGS_DIR#"$REPO"/}"
        echo "# kTLS ULP available: $(have_ktls && echo yes || echo no)"
        echo "# strict (skip = fail): ${KTLS_STRICT:-0} CI=${CI:-}"
        if [[ -r /proc/net/tls_stat ]]; then
            sed 's/^/#   /' /proc/net/tls_stat
        else
            echo "#   /proc/net/tls_stat absent"
        fi
    } >&3
}

@test "in the guest the kernel is the one asked for (KTLS_VM_KERNEL, default 6.1), with the tls ULP" {
    if [[ "${KTLS_IN_GUEST:-0}" == 1 ]]; then
        echo "guest kernel $(uname -r), asked for ${KTLS_VM_KERNEL:-6.1}"
        [[ "$(uname -r)" == "${KTLS_VM_KERNEL:-6.1}".* ]]
        have_ktls
    else
        echo "host run: kTLS $(have_ktls && echo present || echo absent); the guest run checks this"
    fi
}

@test "OpenSSL's native kTLS moves TlsTxSw/TlsRxSw (harness self-test)" {
    if ossl_111; then
        # 1.1.1 has no kTLS of its own: the kernel is proven by its own probe
        # (real setsockopt TLS_TX/TLS_RX on a loopback pair), which must fail
        # loudly where there is no kTLS
        run "$REPO/build/ktls-check"
        echo "$output"
        if have_ktls; then
            [[ $status == 0 ]]
            kernel_takes 13_aes_128_gcm && kernel_takes 12_aes_256_gcm
        else
            [[ $status == 1 ]]
        fi
        return 0
    fi
    if ! have_ktls; then
        # On a kernel without kTLS the self-test must fail loudly, never pass.
        run "$PROGS_DIR/ossl_ktls_selftest"
        echo "$output"
        [[ $status != 0 ]]
        return 0
    fi
    run "$PROGS_DIR/ossl_ktls_selftest"
    echo "$output"
    [[ $status == 0 && "$output" == *"ossl_ktls_selftest: PASS"* ]]
}

# The guest caches the host's read-only root (tests/vm/init, cache=loose):
# what the host wrote just before a boot must read back as written. The
# content is new at every run, so a cache that outlived a boot (or a run)
# would show the last run's bytes. The results share stays uncached.
@test "the guest reads a file the host wrote just before its boot as written (cached host root)" {
    if [[ "${KTLS_IN_GUEST:-0}" == 1 ]]; then
        # the options say "loose" (6.1) or "cache=..." (other kernels)
        grep -E '^hostroot / 9p ' /proc/mounts || cat /proc/mounts
        grep -qE '^hostroot / 9p ([^ ]*,)?(loose|cache=[^ ,]+)[, ]' /proc/mounts
        return 0
    fi
    requires qemu-system-x86_64
    local f="$REPO/build/guest-cache-probe" want got
    head -c 65536 /dev/urandom >"$f"
    want=$(sha256sum <"$f")
    got=$(KTLS_VM_KERNEL=6.1 "$REPO/tests/vm/run-in-guest.sh" --timeout 600 -- sh -c "sha256sum <'$f'" 2>/dev/null)
    echo "host $want, guest $got"
    [[ $got == "$want" ]]
    rm -f "$f"
}

# tests/tap.bash is how tests/run-all.sh and tests/matrix/run.sh count a TAP
# stream: what they take for passed, failed or cut short is fixed here.
@test "the TAP counter (tests/tap.bash): not ok, skips and runs cut short of their plan are failures" {
    host_only && return 0
    . "$REPO/tests/tap.bash"
    local f=$BATS_TEST_TMPDIR/t.tap
    printf '1..4\nok 1 a\nnot ok 2 b\n# (in test file x.bats, line 5)\nok 3 c # skip requires x\nok 4 d\n' >"$f"
    tap_file "$f"
    [[ "$TAP_PASS $TAP_SKIP $TAP_FAIL $TAP_PLANS $TAP_SHORT $TAP_FAILED" == "2 1 1 1 0 2" ]]
    # cut off after its third test, the last line without its newline
    printf '1..5\nok 1 a\nok 2 b\nok 3 c' >"$f"
    tap_file "$f"
    [[ "$TAP_PASS $TAP_FAIL $TAP_SHORT $TAP_FAILED/${TAP_SHORT_SAID[*]}" == "3 0 1 1/ran 3 of 5 planned tests" ]]
    # two runs, each held to its own plan: the second is short
    printf '1..1\nok 1 a\n1..2\nnot ok 1 b\n' >"$f"
    tap_file "$f"
    [[ "$TAP_PASS $TAP_FAIL $TAP_PLANS $TAP_SHORT $TAP_FAILED/${TAP_SHORT_SAID[*]}" == "1 1 2 1 2/ran 1 of 2 planned tests" ]]
    # no plan at all: counted as none (what that means is the caller's)
    : >"$f"
    tap_file "$f"
    [[ "$TAP_PASS $TAP_FAILED $TAP_PLANS" == "0 0 0" ]]
}

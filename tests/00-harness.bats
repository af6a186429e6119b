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

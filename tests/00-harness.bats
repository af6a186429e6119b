#!/usr/bin/env bats
# The harness proves itself before anything else is believed: where the kernel
# has kTLS, OpenSSL's own kTLS must visibly move the kernel counters.

load helpers

@test "environment banner" {
    {
        echo "# host/guest kernel: $(uname -r)"
        echo "# OpenSSL: $(openssl version)"
        echo "# kTLS ULP available: $(have_ktls && echo yes || echo no)"
        echo "# strict (skip = fail): ${KTLS_STRICT:-0} CI=${CI:-}"
        if [[ -r /proc/net/tls_stat ]]; then
            sed 's/^/#   /' /proc/net/tls_stat
        else
            echo "#   /proc/net/tls_stat absent"
        fi
    } >&3
}

@test "in the guest the kernel is 6.1 with the tls ULP" {
    if [[ "${KTLS_IN_GUEST:-0}" == 1 ]]; then
        [[ "$(uname -r)" == 6.1.* ]]
        have_ktls
    else
        echo "host run: kTLS $(have_ktls && echo present || echo absent); the guest run checks this"
    fi
}

@test "OpenSSL's native kTLS moves TlsTxSw/TlsRxSw (harness self-test)" {
    if ! have_ktls; then
        # On a kernel without kTLS the self-test must fail loudly, never pass.
        run "$REPO/build/ossl_ktls_selftest"
        echo "$output"
        [[ $status != 0 ]]
        return 0
    fi
    run "$REPO/build/ossl_ktls_selftest"
    echo "$output"
    [[ $status == 0 ]]
}

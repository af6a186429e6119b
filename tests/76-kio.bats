#!/usr/bin/env bats
# ktls_io.c on real kTLS sockets, kernel-selftest style (tests/unit/test_kio.c):
# a connection moved to the kernel by the shim's own offload path inside the
# unit-test binary, then kio_* with exact errno / SSL_get_error expectations:
# a send buffer of 100 bytes (EAGAIN, the retry resumes where the kernel
# stopped), a read interrupted by a signal (EINTR -> WANT_READ), peek over
# mixed record types (tickets and alerts never reach the data), and a write
# on a reused descriptor (fails closed, nothing in clear).

load helpers

@test "kio fixtures on a kTLS socket pair: every case runs and passes" {
    requires_ktls
    run "$REPO/build/unit_tests" kio_
    echo "$output"
    [[ $status == 0 ]]
    [[ "$output" != *"# skip"* ]]
    grep -qx "6 passed, 0 failed" <<<"$output"
}

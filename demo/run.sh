#!/usr/bin/env bash
# `make demo`: install what is missing, build, and show kTLS taking over an
# unmodified nginx and Python client. On a kernel without kTLS the demo runs
# in the QEMU guest from the test harness, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
demo/install-deps.sh demo
make -s all
if tests/have-ktls.sh; then
    echo "ktls-shim demo: this kernel ($(uname -r)) has kTLS; running here."
    exec demo/scenario.sh
fi
echo "ktls-shim demo: this kernel ($(uname -r)) has no kTLS (TCP_ULP \"tls\" -> ENOENT)."
echo "Running the demo in a QEMU guest with Debian's 6.1 kernel (software emulation, ~2-3 min)..."
exec tests/vm/run-in-guest.sh --timeout 900 -- demo/scenario.sh 2> >(grep -v '^\[ *[0-9.]*\]' >&2)

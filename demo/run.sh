#!/usr/bin/env bash
# `make demo`: install what is missing, build, and show kTLS taking over an
# unmodified nginx and Python client. On a kernel without kTLS the demo runs
# in the QEMU guest from the test harness, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
demo/install-deps.sh
make -s all
if python3 -c 'import socket,errno,sys
s=socket.socket()
try: s.setsockopt(6,31,b"tls")
except OSError as e: sys.exit(0 if e.errno==errno.ENOTCONN else 1)' 2>/dev/null; then
    echo "ktls-shim demo: this kernel ($(uname -r)) has kTLS; running here."
    exec demo/scenario.sh
fi
echo "ktls-shim demo: this kernel ($(uname -r)) has no kTLS (TCP_ULP \"tls\" -> ENOENT)."
echo "Running the demo in a QEMU guest with Debian's 6.1 kernel (software emulation, ~1 min)..."
exec tests/vm/run-in-guest.sh --timeout 900 -- demo/scenario.sh 2> >(grep -v '^\[ *[0-9.]*\]' >&2)

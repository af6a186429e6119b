#!/usr/bin/env bash
# The library must load into any process: no DT_NEEDED on OpenSSL, and only
# the interposed symbols exported.
set -euo pipefail
lib=${1:?usage: check-exports.sh LIB}
if readelf -d "$lib" | grep -E 'NEEDED.*lib(ssl|crypto)'; then
    echo "FAIL: $lib has DT_NEEDED on OpenSSL" >&2
    exit 1
fi
extra=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TWDBR]/ {print $3}' \
        | grep -v -E '^(SSL_|BIO_|sendfile|close$|_init$|_fini$)' || true)
if [ -n "$extra" ]; then
    echo "FAIL: $lib exports non-interposer symbols: $extra" >&2
    exit 1
fi
echo "exports ok: $(nm -D --defined-only "$lib" | awk '$2 ~ /T/' | wc -l) interposers, no OpenSSL DT_NEEDED"

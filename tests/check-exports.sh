#!/usr/bin/env bash
# The library must load into any process: no DT_NEEDED on OpenSSL, and
# exactly the names shim/exports.map lists exported (each one an interposer;
# nothing more, nothing missing). Usage: check-exports.sh LIB [EXPORTS_MAP]
set -euo pipefail
lib=${1:?usage: check-exports.sh LIB [EXPORTS_MAP]}
map=${2:-$(dirname "$0")/../shim/exports.map}
if readelf -d "$lib" | grep -E 'NEEDED.*lib(ssl|crypto)'; then
    echo "FAIL: $lib has DT_NEEDED on OpenSSL" >&2
    exit 1
fi
want=$(sed -n '/global:/,/local:/p' "$map" | sed -e 's/global://' -e 's/local:.*//' \
    | tr ';' '\n' | tr -d ' \t' | grep -v '^$' | sort -u)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TWDBRVi]/ {print $3}' | sed 's/@.*//' \
    | grep -v -E '^(_init|_fini)$' | sort -u)
extra=$(comm -13 <(echo "$want") <(echo "$have"))
missing=$(comm -23 <(echo "$want") <(echo "$have"))
if [[ -n "$extra" ]]; then
    echo "FAIL: $lib exports names exports.map does not list:" $extra >&2
    exit 1
fi
if [[ -n "$missing" ]]; then
    echo "FAIL: exports.map lists names $lib does not define:" $missing >&2
    exit 1
fi
echo "exports ok: exactly the $(wc -l <<<"$want") names of exports.map, no OpenSSL DT_NEEDED"

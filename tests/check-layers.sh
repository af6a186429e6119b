#!/usr/bin/env bash
# The shim's layers call only downward, and only the interposers touch the
# names the library exports. Usage: check-layers.sh OBJDIR [EXPORTS_MAP]
# OBJDIR holds one object per shim/*.c (the Makefile's build/obj).
#
#   0 pure       no syscalls, no globals that outlive a call: unit-testable
#   1 platform   OpenSSL and libc tables, the kernel's TLS calls, config, log
#   2 state      per-connection state, the fd map, counters
#   3 data path  deciding, moving and serving connections
#   4 entry      the interposers, the only code the process calls into
#
# An object may use what its own or a lower layer defines. No object may
# reference an exported name (a call to one binds to our own interposer, so a
# layer below would call back up into the entry layer), and only the entry
# layer may define one.
set -euo pipefail
objdir=${1:?usage: check-layers.sh OBJDIR [EXPORTS_MAP]}
map=${2:-$(dirname "$0")/../shim/exports.map}

layer_of() {
    case $1 in
    keysched | keylog | crypto_info | stats_format | reason | recseq | record_errors | record_stream | hello) echo 0 ;;
    ossl | ossl_hash | ossl_caller | libc | kernel | config | log) echo 1 ;;
    conn | fdmap | fdtable | stats | sockwatch | cpu_sample) echo 2 ;;
    offload | ktls_io | route | fileserve | rekey) echo 3 ;;
    hooks | files | io | signals) echo 4 ;;
    *) echo "" ;;
    esac
}
layer_name=(pure platform state data-path entry)

exported=$(sed -n '/global:/,/local:/p' "$map" | sed -e 's/global://' -e 's/local:.*//' \
    | tr ';' '\n' | tr -d ' \t' | grep -v '^$' | sort -u)

fail=0
declare -A defined_in
objs=("$objdir"/*.o)
[[ -e ${objs[0]} ]] || { echo "FAIL: no objects in $objdir" >&2; exit 1; }
for o in "${objs[@]}"; do
    name=$(basename "$o" .o)
    if [[ -z $(layer_of "$name") ]]; then
        echo "FAIL: shim/$name.c has no layer: add it to tests/check-layers.sh" >&2
        fail=1
        continue
    fi
    while read -r sym; do
        defined_in[$sym]=$name
    done < <(nm --defined-only -g "$o" | awk '{print $3}')
done

for o in "${objs[@]}"; do
    name=$(basename "$o" .o)
    layer=$(layer_of "$name")
    [[ -n $layer ]] || continue
    # exported names: defined only by the entry layer, referenced by nobody
    # (a relocation catches a call or an address taken in the same file too)
    while read -r sym; do
        if grep -qx -- "$sym" <<<"$exported"; then
            if [[ $layer != 4 ]]; then
                echo "FAIL: shim/$name.c (${layer_name[$layer]}) defines the exported $sym" >&2
                fail=1
            fi
        fi
    done < <(nm --defined-only -g "$o" | awk '{print $3}')
    while read -r sym; do
        if grep -qx -- "$sym" <<<"$exported"; then
            echo "FAIL: shim/$name.c references the exported $sym (binds to our own interposer)" >&2
            fail=1
        fi
    done < <(readelf -rW "$o" | awk '$5 ~ /^[A-Za-z_]/ {print $5}' | sed 's/@.*//' | sort -u)
    # calls go down, never up
    while read -r sym; do
        owner=${defined_in[$sym]:-}
        [[ -n $owner && $owner != "$name" ]] || continue
        owner_layer=$(layer_of "$owner")
        if ((owner_layer > layer)); then
            echo "FAIL: shim/$name.c (${layer_name[$layer]}) calls up into shim/$owner.c" \
                "(${layer_name[$owner_layer]}): $sym" >&2
            fail=1
        fi
    done < <(nm -u "$o" | awk '{print $2}')
done
if ((fail)); then
    exit 1
fi
echo "layers ok: ${#objs[@]} objects, calls only downward, exported names only in the interposers"

#!/usr/bin/env bash
# The shim's layers call only downward, nothing calls in a circle, and only
# the interposers touch the names the library exports.
# Usage: check-layers.sh OBJDIR [EXPORTS_MAP]
# OBJDIR holds one object per shim/LAYER/*.c, in a folder named like the
# source's (the Makefile's build/obj/LAYER/NAME.o). A file's layer is its
# folder's; the folders, lowest first:
#
#   0-pure       no syscalls, no globals that outlive a call: unit-testable
#   1-platform   OpenSSL and libc tables, the kernel's TLS calls, config, log
#   2-state      per-connection state, the fd map, counters
#   3-datapath   deciding, moving and serving connections
#   4-entry      the interposers, the only code the process calls into
#
# An object may use what its own or a lower layer defines, and no object may
# reach itself again through what it uses (a cycle, within a layer). No
# object may reference an exported name (a call to one binds to our own
# interposer, so a layer below would call back up into the entry layer), and
# only the entry layer may define one. (The include paths make the same rule
# hold for headers at compile time: see LAYER_INC in the Makefile.)
set -euo pipefail
objdir=${1:?usage: check-layers.sh OBJDIR [EXPORTS_MAP]}
here=$(cd "$(dirname "$0")" && pwd)
map=${2:-$here/../shim/exports.map}
src=$here/../shim

layer_name=(pure platform state datapath entry)
# shim/N-NAME/x.o -> N, where NAME is layer N's name
layer_of() {
    local dir n
    dir=$(basename "$(dirname "$1")")
    n=${dir%%-*}
    [[ $n =~ ^[0-4]$ && $dir == "$n-${layer_name[$n]}" ]] && echo "$n" || echo ""
}
# path under shim/ of an object's source, for messages
src_of() { echo "shim/$(basename "$(dirname "$1")")/$(basename "$1" .o).c"; }

fail=0
for f in "$src"/*.c; do
    [[ -e $f ]] || continue
    echo "FAIL: shim/$(basename "$f") is in no layer: move it into the folder of its layer (shim/N-NAME/)" >&2
    fail=1
done
exported=$(sed -n '/global:/,/local:/p' "$map" | sed -e 's/global://' -e 's/local:.*//' \
    | tr ';' '\n' | tr -d ' \t' | grep -v '^$' | sort -u)

declare -A defined_in
objs=()
for o in "$objdir"/*/*.o; do
    # an object whose source was moved or removed is stale, not the library's
    [[ -e $here/../$(src_of "$o") ]] && objs+=("$o")
done
((${#objs[@]})) || { echo "FAIL: no objects in $objdir/*/" >&2; exit 1; }
for o in "${objs[@]}"; do
    if [[ -z $(layer_of "$o") ]]; then
        echo "FAIL: $(src_of "$o") is in no layer folder (${layer_name[*]})" >&2
        fail=1
        continue
    fi
    while read -r sym; do
        defined_in[$sym]=$o
    done < <(nm --defined-only -g "$o" | awk '{print $3}')
done
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT

for o in "${objs[@]}"; do
    name=$(src_of "$o")
    layer=$(layer_of "$o")
    [[ -n $layer ]] || continue
    # exported names: defined only by the entry layer, referenced by nobody
    # (a relocation catches a call or an address taken in the same file too)
    while read -r sym; do
        if grep -qx -- "$sym" <<<"$exported"; then
            if [[ $layer != 4 ]]; then
                echo "FAIL: $name (${layer_name[$layer]}) defines the exported $sym" >&2
                fail=1
            fi
        fi
    done < <(nm --defined-only -g "$o" | awk '{print $3}')
    while read -r sym; do
        if grep -qx -- "$sym" <<<"$exported"; then
            echo "FAIL: $name references the exported $sym (binds to our own interposer)" >&2
            fail=1
        fi
    done < <(readelf -rW "$o" | awk '$5 ~ /^[A-Za-z_]/ {print $5}' | sed 's/@.*//' | sort -u)
    # calls go down, never up; every use is an edge for the cycle check
    echo "$name $name" >>"$edges"
    while read -r sym; do
        owner=${defined_in[$sym]:-}
        [[ -n $owner && $owner != "$o" ]] || continue
        owner_layer=$(layer_of "$owner")
        echo "$(src_of "$owner") $name" >>"$edges"
        if ((owner_layer > layer)); then
            echo "FAIL: $name (${layer_name[$layer]}) calls up into $(src_of "$owner")" \
                "(${layer_name[$owner_layer]}): $sym" >&2
            fail=1
        fi
    done < <(nm -u "$o" | awk '{print $2}')
done
# no circles: tsort names the files of each loop it finds
if ! loops=$(sort -u "$edges" | tsort 2>&1 >/dev/null) || [[ -n $loops ]]; then
    echo "FAIL: files that use each other in a circle (break it: the lower one must not know the other):" >&2
    grep -v 'input contains a loop' <<<"$loops" | sed 's/^tsort: /  /' >&2
    fail=1
fi
if ((fail)); then
    exit 1
fi
echo "layers ok: ${#objs[@]} objects in ${#layer_name[@]} layers, calls only downward, no cycles," \
    "exported names only in the interposers"

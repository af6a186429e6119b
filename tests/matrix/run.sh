#!/usr/bin/env bash
# run.sh [--prepare-only | --prepared] [--cells "K:O ..."] [KERNELS [OPENSSLS]]: the kTLS core set
# (core.list) in every cell of kernel x OpenSSL, each kernel booted once in
# the QEMU guest with all of its OpenSSL cells run inside that one boot.
# KERNELS: 5.10 6.1 6.12 7.3 (default all); OPENSSLS: 1.1.1w 3.0 3.5 (default
# all); --cells lists KERNEL:OPENSSL pairs instead. Kernels, OpenSSL builds and
# the test programs are fetched or built first (cached outside the clone);
# --prepare-only stops there, --prepared skips it (tests/run-all.sh prepares
# while the host stages run).
# Ends with a table (kernel, OpenSSL, passed, failed, seconds) and one line
# "N passed, N failed"; a skip counts as a failure. TAP goes to stdout (each
# kernel's once its guest is done), KTLS_MATRIX_LOG (a directory) keeps each
# kernel's raw output; KTLS_MATRIX_JOBS guests run at once (default 1);
# KTLS_MATRIX_LIST runs another list than core.list (compat.list: only what
# the compatibility table needs).
set -uo pipefail
cd "$(dirname "$0")/../.."

prepare=1 run=1
case ${1:-} in
--prepare-only) run=0; shift ;;
--prepared) prepare=0; shift ;;
esac
all_kernels="5.10 6.1 6.12 7.3"
all_openssls="1.1.1w 3.0 3.5"
cells=()
if [[ ${1:-} == --cells ]]; then
    read -ra cells <<<"${2:?--cells needs KERNEL:OPENSSL pairs}"
else
    for k in ${1:-$all_kernels}; do
        for o in ${2:-$all_openssls}; do cells+=("$k:$o"); done
    done
fi
for c in "${cells[@]}"; do
    k=${c%%:*} o=${c#*:}
    [[ " $all_kernels " == *" $k "* && " $all_openssls " == *" $o "* && $c == *:* ]] ||
        { echo "run.sh: bad cell '$c' (kernels: $all_kernels; OpenSSLs: $all_openssls)" >&2; exit 2; }
done

# shellcheck source=tests/test-path.sh
. tests/test-path.sh
# shellcheck source=tests/tap.bash
. tests/tap.bash
log_dir=${KTLS_MATRIX_LOG:-$(mktemp -d)}
mkdir -p "$log_dir"
stamp() { date -u +%H:%M:%S; }

# Everything the guests need, built or fetched on the host (the guest's / is
# read-only).
prep_start=$SECONDS
[[ $prepare == 1 ]] && { make -s all >&2 || exit 1; }
declare -A built=()
# 1.1.1w always: every cell runs two OpenSSLs in one process (15-inert-more)
for c in "${cells[@]}" any:1.1.1w; do
    o=${c#*:}
    [[ $prepare == 1 && -z ${built[$o]:-} ]] || continue
    echo "# $(stamp) preparing OpenSSL $o and its test programs" >&2
    tests/matrix/build-progs.sh "$o" >/dev/null || { echo "run.sh: OpenSSL $o could not be prepared" >&2; exit 1; }
    built[$o]=1
done
kernels=()
for c in "${cells[@]}"; do
    k=${c%%:*}
    [[ " ${kernels[*]} " == *" $k "* ]] || kernels+=("$k")
done
for k in "${kernels[@]}"; do
    [[ $prepare == 1 ]] || break
    echo "# $(stamp) preparing kernel $k" >&2
    kver=$(tests/vm/fetch-kernel.sh "$k") && tests/vm/build-initramfs.sh "$kver" >/dev/null ||
        { echo "run.sh: kernel $k could not be prepared" >&2; exit 1; }
done
[[ $prepare == 1 ]] && echo "# stage: matrix preparation (OpenSSL builds, kernels) $((SECONDS - prep_start)) s" >&2
[[ $run == 1 ]] || exit 0

declare -A pass=() fail=() secs=() offload=()
openssls_of() { # KERNEL -> the OpenSSLs of its cells
    local c
    for c in "${cells[@]}"; do [[ ${c%%:*} == "$1" ]] && echo "${c#*:}"; done
}
boot() { # KERNEL: one guest, all of the kernel's cells, TAP into kernel-K.tap
    local k=$1 openssls try
    mapfile -t openssls < <(openssls_of "$k")
    for try in 1 2; do
        echo "# $(stamp) booting kernel $k for OpenSSL ${openssls[*]}" >&2
        KTLS_VM_KERNEL=$k KTLS_STRICT=1 KTLS_IN_GUEST=1 KTLS_PAYLOAD=${KTLS_PAYLOAD:-262144} \
        KTLS_VM_ENV="${KTLS_VM_ENV:-} KTLS_STRICT KTLS_IN_GUEST KTLS_PAYLOAD KTLS_KEY_UPDATES KTLS_MATRIX_LIST" \
            tests/vm/run-in-guest.sh --timeout "${KTLS_VM_TIMEOUT:-2400}" -- \
            tests/matrix/guest-cells.sh "${openssls[@]}" >"$log_dir/kernel-$k.tap" 2>"$log_dir/kernel-$k.err"
        echo "# $(stamp) kernel $k done" >&2
        # A guest that never reached its first cell (it did not boot, or its
        # command could not start) ran no test, so booting it once more hides
        # no test result; its console is kept and shown either way.
        grep -q '^# cell: ' "$log_dir/kernel-$k.tap" && break
        cp "$log_dir/kernel-$k.err" "$log_dir/kernel-$k.boot$try.err"
        {
            echo "!! kernel $k: the guest ran no tests (try $try); the end of its console and stderr:"
            tail -n 25 "$log_dir/kernel-$k.err" | sed 's/^/!!   /'
        } >&2
    done
}
# KTLS_MATRIX_JOBS guests at once (default 1): each keeps about one core busy
jobs_max=${KTLS_MATRIX_JOBS:-1}
running=()
for k in "${kernels[@]}"; do
    while ((${#running[@]} >= jobs_max)); do
        wait -n || true
        alive=()
        for p in "${running[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
        running=("${alive[@]}")
    done
    boot "$k" &
    running+=($!)
done
wait

for k in "${kernels[@]}"; do
    mapfile -t openssls < <(openssls_of "$k")
    out=$log_dir/kernel-$k.tap
    cat "$out"
    grep -v -e '^\[ *[0-9.]*\]' "$log_dir/kernel-$k.err" >&2 || true
    # count per cell (tests/tap.bash: a skip, and a bats run that stopped
    # short of its plan, count as failures)
    cell=
    close_cell() { # the tally since the cell's "# cell:" line is its row
        local said
        [[ -n $cell ]] || return 0
        tap_end
        for said in "${TAP_SHORT_SAID[@]}"; do
            echo "!! $cell: $said" >&2
        done
        # a guest that died between its cell line and its first plan ran
        # nothing: a failure, not a row of zeros
        if ((TAP_PLANS == 0)); then
            echo "!! $cell: no test plan (the guest stopped before its tests)" >&2
            TAP_FAILED=$((TAP_FAILED + 1))
        fi
        pass[$cell]=$TAP_PASS fail[$cell]=$TAP_FAILED
    }
    tap_begin
    while IFS= read -r line || [[ -n $line ]]; do
        case $line in
        "# cell: "*)
            close_cell
            read -r _ _ ks os <<<"$line"
            cell="$ks $os"
            tap_begin
            ;;
        "# cell-time: "*) tap_end; read -r _ _ _ _ t _ <<<"$line"; secs[$cell]=$t ;;
        "# offload "*) read -r _ _ variant words <<<"$line"; offload[$cell/$variant]=$words ;;
        *) tap_line "$line" || true ;;
        esac
    done <"$out"
    close_cell
    for o in "${openssls[@]}"; do
        if [[ -z ${pass["$k $o"]+x} ]]; then
            echo "!! $k $o: the guest ran no tests (boot or harness failure)" >&2
            pass["$k $o"]=0 fail["$k $o"]=1
        fi
    done
done

total_pass=0 total_fail=0
for c in "${cells[@]}"; do
    key="${c%%:*} ${c#*:}"
    total_pass=$((total_pass + ${pass[$key]})) total_fail=$((total_fail + ${fail[$key]}))
done
{
    echo "# matrix (core set, tests/matrix/core.list):"
    printf '#   %-7s %-8s %7s %7s %8s\n' kernel OpenSSL passed failed seconds
    for c in "${cells[@]}"; do
        key="${c%%:*} ${c#*:}"
        printf '#   %-7s %-8s %7s %7s %8s\n' "${c%%:*}" "${c#*:}" "${pass[$key]}" "${fail[$key]}" "${secs[$key]:--}"
    done
} | tee "$log_dir/table.txt"

# What moved where, per cell and variant (20-peer-matrix, both ends shimmed):
# "TX+RX" when both directions of both ends were in the kernel; otherwise
# what stayed in OpenSSL and why. Markdown in KTLS_MATRIX_LOG/compat.md.
variants="12_AES_128_GCM 12_AES_256_GCM 12_CHACHA 13_AES_128_GCM 13_AES_256_GCM 13_CHACHA"
{
    echo "| kernel | OpenSSL | TLS 1.2 AES-128-GCM | TLS 1.2 AES-256-GCM | TLS 1.2 ChaCha20-Poly1305 | TLS 1.3 AES-128-GCM | TLS 1.3 AES-256-GCM | TLS 1.3 ChaCha20-Poly1305 |"
    echo "|---|---|---|---|---|---|---|---|"
    for c in "${cells[@]}"; do
        key="${c%%:*} ${c#*:}" row="| ${c%%:*} | ${c#*:} |"
        for v in $variants; do
            w=${offload[$key/$v]:-}
            if [[ -z $w ]]; then
                row+=" not run |"
            elif [[ $w == "server:tx=kernel,rx=kernel client:tx=kernel,rx=kernel" ]]; then
                row+=" TX+RX |"
            else
                # each direction that stayed (on either end), with its reason
                w=$(tr ' ,' '\n\n' <<<"$w" | sed 's/^[a-z]*://' | sed -n 's/^\([tr]x\)=openssl(\(.*\))$/\1 in OpenSSL: \2/p' |
                    sort -u | tr '%' ' ' | sed 's/^tx/TX/; s/^rx/RX/' | paste -sd';' | sed 's/;/; /g')
                row+=" ${w} |"
            fi
        done
        echo "$row"
    done
} >"$log_dir/compat.md"
sed 's/^/# /' "$log_dir/compat.md"
echo "$total_pass passed, $total_fail failed"
[[ $total_fail == 0 ]]

#!/usr/bin/env bash
# seqfuzz.sh: runs build/seqfuzz's seeded call sequences without the shim and
# with it, and compares what a program would see (tests/progs/seqfuzz.c).
#   --seeds N          N seeds from --first (default 1), each in TLS 1.3 and 1.2
#   --minutes M        random seeds until M minutes have passed (instead)
#   --steps K          calls per sequence (default 80)
#   --key-update       TLS 1.3 sequences also call SSL_key_update (a kernel
#                      that can rekey: 6.14 and later)
#   --require-offload  every shimmed run must have moved all four directions
#                      to the kernel (in the guest: a run that fell back
#                      proves nothing); with --key-update, both TXs
# KTLS_TEST_SHIM: what to preload (default build/libktls-shim.so; an ASan
# build is "libasan.so:build/asan/libktls-shim.so"); SEQFUZZ_PROG: the
# program (default build/seqfuzz).
# A divergence is shrunk to the fewest steps that still show it and printed
# with a one-line replay. Ends with "seqfuzz: N sequences, D divergences"
# and exits 1 when D > 0 (or a run failed).
set -euo pipefail
cd "$(dirname "$0")/../.."
prog=${SEQFUZZ_PROG:-build/seqfuzz} # another OpenSSL's build: build/ossl-VERSION/seqfuzz
shim=${KTLS_TEST_SHIM:-$PWD/build/libktls-shim.so}
seeds=0 minutes=0 first=1 steps=80 key_update=() require_offload=0
while (($#)); do
    case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --key-update) key_update=(key-update); shift ;;
    --require-offload) require_offload=1; shift ;;
    *) echo "seqfuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ -x $prog ]] || { echo "seqfuzz.sh: $prog is not built (make)" >&2; exit 2; }
((seeds > 0 || minutes > 0)) || seeds=12

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# transcript SEED STEPS VERSION PRELOAD -> $work/out (the # lines apart)
run_one() {
    local rc=0
    if [[ -n $4 ]]; then
        LD_PRELOAD=$4 "$prog" "$1" "$2" "$3" "${key_update[@]}" >"$work/raw" 2>"$work/err" || rc=$?
    else
        "$prog" "$1" "$2" "$3" "${key_update[@]}" >"$work/raw" 2>"$work/err" || rc=$?
    fi
    grep -v '^#' "$work/raw" >"$work/out" || true
    echo "exit $rc" >>"$work/out"
    [[ ! -s $work/err ]] || sed 's/^/stderr: /' "$work/err" >>"$work/out"
}

# 0 when the two runs of SEED STEPS VERSION agree (and the shimmed one
# offloaded where that is required)
agrees() {
    run_one "$1" "$2" "$3" ""
    mv "$work/out" "$work/plain"
    run_one "$1" "$2" "$3" "$shim"
    mv "$work/out" "$work/shimmed"
    cmp -s "$work/plain" "$work/shimmed" || return 1
    # with KeyUpdates, a peer's KeyUpdate read before an end's RX moved
    # keeps that RX in OpenSSL (key-update-before-move, a documented
    # fallback): only TX is required to have moved then
    local want='^# offload client tx=1 rx=1 server tx=1 rx=1$'
    ((${#key_update[@]} == 0)) || want='^# offload client tx=1 rx=[01] server tx=1 rx=[01]$'
    if ((require_offload)) && ! grep -q "$want" "$work/raw"; then
        echo "offload missing: $(grep '^# offload' "$work/raw" || echo 'no offload line')" >"$work/why"
        return 1
    fi
    return 0
}

sequences=0 divergences=0
check() { # SEED VERSION
    sequences=$((sequences + 1))
    agrees "$1" "$steps" "$2" && return 0
    divergences=$((divergences + 1))
    # the fewest steps that still diverge (a sequence of K steps is the
    # first K of a longer one's)
    local lo=0 hi=$steps mid
    while ((lo < hi)); do
        mid=$(((lo + hi) / 2))
        if agrees "$1" "$mid" "$2"; then lo=$((mid + 1)); else hi=$mid; fi
    done
    local again=""
    agrees "$1" "$lo" "$2" && again=" (it did not repeat there: it depends on timing)"
    echo "!! seqfuzz: divergence: seed $1, TLS $2, shortest at $lo steps${key_update:+ (key-update)}$again"
    [[ ! -s $work/why ]] || cat "$work/why"
    diff "$work/plain" "$work/shimmed" | head -n 20 || true
    echo "!! replay: LD_PRELOAD=$shim $prog $1 $lo ${2}${key_update:+ key-update}   (and without LD_PRELOAD)"
    rm -f "$work/why"
}

if ((minutes > 0)); then
    end=$((SECONDS + minutes * 60))
    echo "# seqfuzz: random seeds for $minutes min, $steps steps"
    while ((SECONDS < end)); do
        seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
        echo "# seed $seed"
        check "$seed" 13
        check "$seed" 12
    done
else
    echo "# seqfuzz: seeds $first..$((first + seeds - 1)), $steps steps"
    for ((seed = first; seed < first + seeds; seed++)); do
        check "$seed" 13
        check "$seed" 12
    done
fi
echo "seqfuzz: $sequences sequences, $divergences divergences"
((divergences == 0))

#!/usr/bin/env bash
# seqfuzz.sh: runs build/seqfuzz's seeded call sequences without the shim and
# with it, and compares what a program would see (tests/progs/seqfuzz.c).
# Each sequence runs without the shim, with both ends shimmed, and with one
# end only (the shim's per-connection A/B draw, KTLS_SHIM_SAMPLE with a
# fixed KTLS_SHIM_SEED, leaves the other end in OpenSSL: each seed does
# client-only in one TLS version and server-only in the other); all
# transcripts must be the same.
#   --seeds N          N seeds from --first (default 1), each in TLS 1.3 and 1.2
#   --minutes M        random seeds until M minutes have passed (instead)
#   --steps K          calls per sequence (default 80)
#   --key-update       TLS 1.3 sequences also call SSL_key_update (a kernel
#                      that can rekey: 6.14 and later)
#   --require-offload  every shimmed run's last connection must have moved
#                      all four directions to the kernel (in the guest: a
#                      run that fell back proves nothing), a one-end run
#                      all of one end's and none of the other's; with
#                      --key-update, RX may stay in OpenSSL
#   --all-modes        both one-end modes for every sequence (default: one,
#                      by the seed's parity; see mode_env below)
# SEQFUZZ_RUN_TIMEOUT: seconds one run may take (default 60; a run takes a
# few in the guest): a run that hangs (an end waiting for bytes the other
# failed to send) ends with "exit 124", a divergence, instead of the guest's
# whole time.
# KTLS_TEST_SHIM: what to preload (default build/libktls-shim.so; an ASan
# build is "libasan.so:build/asan/libktls-shim.so"); SEQFUZZ_PROG: the
# program (default build/seqfuzz).
# A divergence is shrunk to the fewest steps that still show it and printed
# with a one-line replay. Ends with "seqfuzz: N sequences, D divergences"
# and exits 1 when D > 0 (or a run failed).
set -euo pipefail
cd "$(dirname "$0")/../.."
run_timeout=${SEQFUZZ_RUN_TIMEOUT:-60}
prog=${SEQFUZZ_PROG:-build/seqfuzz} # another OpenSSL's build: build/ossl-VERSION/seqfuzz
shim=${KTLS_TEST_SHIM:-$PWD/build/libktls-shim.so}
seeds=0 minutes=0 first=1 steps=80 key_update=() require_offload=0 all_modes=0
while (($#)); do
    case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --key-update) key_update=(key-update); shift ;;
    --require-offload) require_offload=1; shift ;;
    --all-modes) all_modes=1; shift ;;
    *) echo "seqfuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ -x $prog ]] || { echo "seqfuzz.sh: $prog is not built (make)" >&2; exit 2; }
((seeds > 0 || minutes > 0)) || seeds=12

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The shimmed runs of each sequence: both ends in the shim's offload arm,
# or one end only. The shim draws its A/B arm per connection end, in the
# order their handshakes finish (client and server alternate, the same way
# in every connection of a run); with KTLS_SHIM_SAMPLE=0.5 these seeds put
# the first 20 ends drawn in alternate arms, the first-finishing end's side
# in the offload arm (726860) or in the control arm (225924). Which side
# finishes first depends on the TLS version (the client in 1.3, the server
# in 1.2: the '# offload' line says), so one of the two one-end modes per
# seed, alternating with the seed's parity, still runs each seed once
# client-only and once server-only over its two versions; --all-modes runs
# both one-end modes of every sequence (a guest's time: each run costs).
declare -A mode_env=(
    [both]=""
    [first-only]="KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_SEED=726860"
    [second-only]="KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_SEED=225924"
)

# transcript SEED STEPS VERSION [MODE] -> $work/out (the # lines apart),
# $work/raw; without MODE, no shim
run_one() {
    local rc=0 env=()
    if [[ -n ${4:-} ]]; then
        read -ra env <<<"LD_PRELOAD=$shim ${mode_env[$4]}"
        timeout "$run_timeout" env "${env[@]}" "$prog" "$1" "$2" "$3" "${key_update[@]}" >"$work/raw" 2>"$work/err" || rc=$?
    else
        timeout "$run_timeout" "$prog" "$1" "$2" "$3" "${key_update[@]}" >"$work/raw" 2>"$work/err" || rc=$?
    fi
    grep -v '^#' "$work/raw" >"$work/out" || true
    echo "exit $rc" >>"$work/out"
    [[ ! -s $work/err ]] || sed 's/^/stderr: /' "$work/err" >>"$work/out"
}

# 0 when the last connection's offload (the '# offload' line of $work/raw)
# is what MODE must give: every direction of both ends in the kernel, or of
# one end and none of the other's. With KeyUpdates, a peer's KeyUpdate read
# before an end's RX moved keeps that RX in OpenSSL (key-update-before-move,
# a documented fallback): only TX is required to have moved then.
offload_ok() {
    local rx=1 line
    ((${#key_update[@]} == 0)) || rx='[01]'
    line=$(grep '^# offload client' "$work/raw" || true)
    case $1 in
    both) [[ $line =~ ^#\ offload\ client\ tx=1\ rx=$rx\ server\ tx=1\ rx=$rx$ ]] ;;
    *) [[ $line =~ ^#\ offload\ client\ tx=1\ rx=$rx\ server\ tx=0\ rx=0$ ||
        $line =~ ^#\ offload\ client\ tx=0\ rx=0\ server\ tx=1\ rx=$rx$ ]] ;;
    esac
}

# 0 when every run of SEED STEPS VERSION agrees with the unshimmed one (and
# offloaded where that is required); $work/diverged names the mode that did
# not, $work/shimmed holds its transcript
agrees() {
    run_one "$1" "$2" "$3"
    mv "$work/out" "$work/plain"
    local mode modes=(both first-only second-only)
    if ((!all_modes)); then
        modes=(both first-only)
        (($1 % 2)) || modes=(both second-only)
    fi
    for mode in "${modes[@]}"; do
        echo "$mode" >"$work/diverged"
        run_one "$1" "$2" "$3" "$mode"
        mv "$work/out" "$work/shimmed"
        cmp -s "$work/plain" "$work/shimmed" || return 1
        ((require_offload)) || continue
        if ! offload_ok "$mode"; then
            echo "offload missing ($mode): $(grep '^# offload client' "$work/raw" || echo 'no offload line')" >"$work/why"
            return 1
        fi
    done
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
    local mode
    mode=$(cat "$work/diverged")
    echo "!! mode: $mode (shim on: ${mode_env[$mode]:-both ends})"
    echo "!! replay: ${SEQFUZZ_SWAP_BIOS:+SEQFUZZ_SWAP_BIOS=$SEQFUZZ_SWAP_BIOS }LD_PRELOAD=$shim ${mode_env[$mode]:+${mode_env[$mode]} }$prog $1 $lo ${2}${key_update:+ key-update}   (and without LD_PRELOAD)"
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

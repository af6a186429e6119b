#!/usr/bin/env bash
# programs.sh: differential torture of real programs. Each scenario
# (tests/torture/scenarios/NAME.sh) draws a plan from its seed, then runs it
# twice: once without the shim and once with it preloaded into the
# scenario's OpenSSL programs (not into the harness's own peers:
# tclient.py, https_proxy.py). What a user could observe must be the same:
# bytes each way (sha256), exit statuses, the errors the programs report,
# how each connection ended, the servers' logs (normalised: ports, pids,
# times, temp paths).
#   --seeds N          N seeds from --first (default 1)
#   --first S          the first seed
#   --minutes M        random seeds until M minutes have passed (instead)
#   --program NAME     only this scenario (repeatable; default all available)
#   --small            plans capped to 64 KiB per transfer and 4 connections
#                      (make test's budget in the slow guests); printed in
#                      the plan as small=1
#   --require-offload  the shimmed run must have moved the kernel's TLS
#                      counters (TlsTxSw, and TlsRxSw where the scenario
#                      offloads both ways): a run that fell back proves
#                      nothing (on in the guest)
# KTLS_TEST_SHIM: the preload (default build/libktls-shim.so; the torture
# uses "libasan.so:build/asan/libktls-shim.so"). An ASan or UBSan report in
# any program's stderr is a divergence too.
# Ends with "programs: N scenarios, D divergences"; exits 1 when D > 0.
# (variables the scenarios read, set here: shellcheck does not follow them)
# shellcheck disable=SC2034
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../helpers.bash
source tests/helpers.bash
TORTURE=$PWD/tests/torture
SHIM_PRELOAD=${KTLS_TEST_SHIM:-$PWD/build/libktls-shim.so}
# the distribution's Python: a version manager's shim costs seconds per
# start in the guests
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

seeds=0 minutes=0 first=1 require_offload=0 programs=() SMALL=0
while (($#)); do
    case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --program) programs+=("$2"); shift 2 ;;
    --require-offload) require_offload=1; shift ;;
    --small) SMALL=1; shift ;;
    *) echo "programs.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
((seeds > 0 || minutes > 0)) || seeds=1

have() { command -v "$1" >/dev/null 2>&1; }

for f in "$TORTURE"/scenarios/*.sh; do
    # shellcheck source=/dev/null
    source "$f"
done
ALL_PROGRAMS=(nginx openssl curl python relay haproxy apache gnutls redis postgres)
if ((${#programs[@]} == 0)); then
    for p in "${ALL_PROGRAMS[@]}"; do
        if "${p}_available"; then programs+=("$p"); else echo "# programs: $p not installed, skipped"; fi
    done
fi
for p in "${programs[@]}"; do
    declare -F "${p}_run" >/dev/null || { echo "programs.sh: no scenario '$p' (have: ${ALL_PROGRAMS[*]})" >&2; exit 2; }
done

work=$(mktemp -d)
# servers started as root hand their workers to nobody (nginx, Apache,
# HAProxy): they must reach what is in here
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
CERTS=$work/certs
mkdir -p "$CERTS"
make_ec_cert "$CERTS"

# pick VAR CHOICE...: VAR = one of the choices, drawn from $RANDOM (seeded
# per scenario), and added to the plan line. No subshell: a subshell would
# reseed RANDOM.
PLAN=""
pick() {
    local var=$1
    shift
    local choices=("$@") value
    value=${choices[RANDOM % ${#choices[@]}]}
    if ((SMALL)); then
        case $var in
        size | up | down | blob) ((value <= 65536)) || value=65536 ;;
        conns | transfers) ((value <= 4)) || value=4 ;;
        esac
    fi
    printf -v "$var" '%s' "$value"
    PLAN+="$var=$value "
}

# what a shimmed connection can count on here: KeyUpdates are followed only
# by kernels that rekey (6.14+); before that the shim ends the connection
# (shim/docs/compatibility.md), and a TLS 1.2 renegotiation ends it on any
# kTLS kernel: no parity is promised for those, so plans draw them only
# where they are promised the same (no kTLS here, or a rekeying kernel)
# shellcheck disable=SC2034 # (read by the scenarios)
KTLS_HERE=0 REKEY_HERE=0 CHACHA_HERE=1
if have_ktls; then
    KTLS_HERE=1
    kernel_rekeys && REKEY_HERE=1
    kernel_takes 12_chacha || CHACHA_HERE=0
fi

# under_test CMD...: runs an OpenSSL program of the scenario, with the shim
# in the shimmed run
under_test() {
    if ((SHIMMED)); then
        LD_PRELOAD="$SHIM_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
    else
        "$@"
    fi
}

# under_test_bg CMD... &: the same for a program started in the
# background, which must be the PID that $! names (a function run with &
# is a subshell of its own: exec, so that a kill of $! reaches the program)
under_test_bg() {
    if ((SHIMMED)); then
        LD_PRELOAD="$SHIM_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" exec "$@"
    else
        exec "$@"
    fi
}

# norm: what varies run to run, made alike: this run's directory, ports,
# pids, times, OpenSSL's thread-id prefix of error lines, connection
# numbers. Also the function and source location of an OpenSSL error (the
# code, library and reason stay): they say where the error was raised, and
# an error the shim raises for the kernel's answer names the shim there by
# design (shim/3-datapath/fail.c: "ktls-shim", line 0)
norm() {
    sed -E -e "s|$D|DIR|g" \
        -e 's/(127\.0\.0\.1|localhost)[:#][0-9]+/\1:PORT/g' \
        -e 's/port [0-9]+/port PORT/g' \
        -e 's|^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8} |TIME |' \
        -e 's/\[[0-9]{2}\/[A-Za-z]{3}\/[0-9]{4}:[0-9:]{8} [+-][0-9]{4}\]/[TIME]/g' \
        -e 's/[0-9]+#[0-9]+: \*[0-9]+ /PID: *C /' \
        -e 's/[0-9]+#[0-9]+: /PID: /' \
        -e 's/^[0-9A-F]{8,}:error:/error:/' \
        -e 's/(error:[0-9A-F]{8}:[^:]*):[^:]*:/\1:FUNC:/g' \
        -e 's/([: ])(ktls-shim|[^: ]+\.c):[0-9]+:/\1SRC:/g' \
        -e "$SHIM_DETAIL_RULE" \
        -e "$(truncation_rule)"
}
# The shim adds a detail to the errors it raises for the kernel's answers
# (shim/3-datapath/kio.c, e.g. ":kTLS: record failed authentication
# (EBADMSG)"), and programs that print an error's data show it: nginx's
# error log line for a bad record differs from OpenSSL's by it (found in
# the 6.1 guest, nginx seed 953281810, garbage after the handshake). A
# known difference, reported, not a new one: made alike unless
# TORTURE_SHIM_DETAIL=keep (the replay of that seed shows it then).
# (mod_ssl prints the data in parentheses: " (kTLS: ... (EBADMSG))")
SHIM_DETAIL_RULE='s/:kTLS: [^():]*( \([A-Z0-9]+\))?//; s/ \(kTLS: [^()]*( \([A-Z0-9]+\))?\)//'
[[ ${TORTURE_SHIM_DETAIL:-} == keep ]] && SHIM_DETAIL_RULE='s/^$//'
# A known limit of kTLS itself (shim/docs/compatibility.md, OpenSSL's own
# kTLS alike): the kernel keeps the bytes of a record it has not seen whole
# in the socket, so when the peer's stream ends inside a record the program
# reads EOF as before, but its close() then finds unread bytes and Linux
# answers with a reset where OpenSSL alone, which had read them, closed with
# a FIN. The peer, which cut its own record short, sees ECONNRESET instead of
# an EOF (nginx, truncate plans: 6.1 seed 3171734066 --small, 7.3 seed
# 3981717583). In plans whose client truncates, how its read ended (EOF,
# reset, OpenSSL's unexpected EOF) is made alike unless
# TORTURE_TRUNCATE_RST=keep.
truncation_rule() {
    if [[ ${end:-} == truncate && ${TORTURE_TRUNCATE_RST:-} != keep ]]; then
        echo 's/^(conn [0-9]+: .*) end=(eof|rst|error:UNEXPECTED_EOF_WHILE_READING)$/\1 end=closed-after-its-truncated-record/'
    else
        echo 's/^$//'
    fi
}


# a program's stderr without the lines that vary for reasons no shim has
# (nothing yet), with sanitizer reports kept: the comparison sees them
# sanitizer_report FILE...: 0 when one of them has an ASan/UBSan report
sanitizer_report() {
    grep -lE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$@" 2>/dev/null
}

# run_side SIDE(plain|shim) PROGRAM: one run of the plan drawn; leaves the
# observations in $work/SIDE/obs, the counters moved in $work/SIDE/moved
run_side() {
    local side=$1 p=$2 before after rc=0
    D=$work/$side
    rm -rf "$D"
    mkdir -p "$D"
    chmod 755 "$D"
    SHIMMED=0
    [[ $side == shim ]] && SHIMMED=1
    before=$(tls_counters)
    # a subshell: what a scenario starts and traps stays in it
    ("${p}_run") >"$D/obs.raw" 2>"$D/harness.err" || rc=$?
    after=$(tls_counters)
    norm <"$D/obs.raw" >"$D/obs"
    echo "scenario exit $rc" >>"$D/obs"
    echo "$((${after% *} - ${before% *})) $((${after#* } - ${before#* }))" >"$D/moved"
    local reports
    if reports=$(sanitizer_report "$D"/*.err); then
        echo "sanitizer report in: ${reports//$D\//}" >>"$D/obs"
    fi
}

scenarios=0 divergences=0
# check PROGRAM SEED
check() {
    local p=$1 seed=$2 why=""
    scenarios=$((scenarios + 1))
    PLAN=""
    ((SMALL)) && PLAN="small=1 "
    RANDOM=$seed SEED=$seed
    end="" # a plan's own (truncation_rule reads it): none left from the one before
    "${p}_plan"
    echo "# seed $seed program $p plan $PLAN"
    run_side plain "$p"
    run_side shim "$p"
    if ! cmp -s "$work/plain/obs" "$work/shim/obs"; then
        why="observations differ"
    fi
    local tx rx want
    read -r tx rx <"$work/shim/moved"
    want=$("${p}_offload")
    if ((require_offload)) && { ((tx < 1)) || [[ $want == txrx && $rx -lt 1 ]]; }; then
        why+="${why:+; }no offload: TlsTxSw +$tx TlsRxSw +$rx in the shimmed run (want $want)"
    fi
    # TORTURE_VERBOSE=1: what was compared, for a look at a plan's effect
    [[ -z ${TORTURE_VERBOSE:-} ]] || sed 's/^/#   /' "$work/shim/obs"
    [[ -z $why ]] && return 0
    divergences=$((divergences + 1))
    echo "!! torture: divergence: program $p seed $seed: $why"
    diff "$work/plain/obs" "$work/shim/obs" | head -n 40 || true
    # the shimmed run's stderr, for a first look
    local f
    for f in "$work"/shim/*.err; do
        [[ -s $f ]] && head -n 8 "$f" | sed "s|^|!! ${f##*/}: |"
    done
    local small=""
    ((SMALL)) && small=" --small"
    echo "!! replay: tests/torture/programs.sh --program $p --first $seed --seeds 1$small"
    # keep the runs for a look
    if [[ -n ${TORTURE_KEEP:-} ]]; then
        mkdir -p "$TORTURE_KEEP/$p-$seed" && cp -r "$work/plain" "$work/shim" "$TORTURE_KEEP/$p-$seed/"
    fi
}

run_seed() {
    local p
    for p in "${programs[@]}"; do check "$p" "$1"; done
}

if ((minutes > 0)); then
    # (not "end": plans draw variables of that name)
    deadline=$((SECONDS + minutes * 60))
    echo "# programs: random seeds for $minutes min: ${programs[*]}"
    while ((SECONDS < deadline)); do
        run_seed "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
    done
else
    echo "# programs: seeds $first..$((first + seeds - 1)): ${programs[*]}"
    for ((seed = first; seed < first + seeds; seed++)); do
        run_seed "$seed"
    done
fi
echo "programs: $scenarios scenarios, $divergences divergences"
((divergences == 0))

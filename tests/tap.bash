# The one TAP counter, sourced by tests/run-all.sh and tests/matrix/run.sh,
# so that both count bats' and tests/fuzz/run.sh's output by the same rules.
# Bash alone, a line at a time: no tool is started per file or per line.
#
# What it counts: "ok N ..." (TAP_PASS), "ok N ... # skip ..." (TAP_SKIP),
# "not ok N ..." (TAP_FAIL), plan lines "1..N" (TAP_PLANS), and the runs that
# ended before their plan was met (TAP_SHORT; TAP_SHORT_SAID holds "ran N of
# M planned tests" for each). A run begins at its plan line, which bats and
# tests/fuzz/run.sh print first; it ends at the next plan line or at
# tap_end. A runner that died part-way thus leaves a short run.
# TAP_FAILED is what the suite counts as failed: every "not ok", every skip
# (a skipped test proved nothing) and every short run.
# Any other line is left to the caller (tap_line returns 1 for it).

tap_begin() { # zeroes the tally
    TAP_PASS=0 TAP_SKIP=0 TAP_FAIL=0 TAP_PLANS=0 TAP_SHORT=0 TAP_FAILED=0
    TAP_SHORT_SAID=()
    tap_planned=0 tap_seen=0
}

tap_end() { # closes the run in progress (again: no change)
    if ((tap_seen < tap_planned)); then
        TAP_SHORT=$((TAP_SHORT + 1))
        TAP_SHORT_SAID+=("ran $tap_seen of $tap_planned planned tests")
    fi
    tap_planned=0 tap_seen=0
    TAP_FAILED=$((TAP_FAIL + TAP_SKIP + TAP_SHORT))
}

tap_line() { # LINE: counts it; returns 1 when it is no test or plan line
    case $1 in
    "ok "[0-9]*"# skip"*) TAP_SKIP=$((TAP_SKIP + 1)) ;;
    "ok "[0-9]*) TAP_PASS=$((TAP_PASS + 1)) ;;
    "not ok "[0-9]*) TAP_FAIL=$((TAP_FAIL + 1)) ;;
    1..*)
        [[ $1 =~ ^1\.\.([0-9]+)$ ]] || return 1
        tap_end
        TAP_PLANS=$((TAP_PLANS + 1)) tap_planned=$((10#${BASH_REMATCH[1]}))
        return 0
        ;;
    *) return 1 ;;
    esac
    tap_seen=$((tap_seen + 1))
}

tap_file() { # FILE: the tally of FILE alone (a last line without its newline counts)
    local line
    tap_begin
    while IFS= read -r line || [[ -n $line ]]; do
        tap_line "$line" || true
    done <"$1"
    tap_end
}

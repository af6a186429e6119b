#!/usr/bin/env bash
# `make test`: unit tests (under ASan/UBSan), a bounded run of the libFuzzer
# targets, the bats suite on this host, the whole bats suite on a kernel with
# kTLS (natively when this one has it, else in the QEMU guest on Debian's 6.1
# with the distro's OpenSSL), and the CI subset (tests/matrix/ci.list) of the core set on more cells of the kernel x
# OpenSSL matrix (KTLS_TEST_CELLS, default below; "" for none). Prints each
# stage's duration and the table of cells; ends with one line:
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
log_dir=$(mktemp -d)
# the guests and builds that run beside the stages end with the run
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$log_dir"' EXIT
passed=0 failed=0
started=$SECONDS stage_start=$SECONDS
stages=()
declare -A cell_pass=() cell_fail=()
stage_done() { # NAME: records how long the stage since the last one took
    stages+=("$(printf '%-44s %5d s' "$1" $((SECONDS - stage_start)))")
    stage_start=$SECONDS
}
flag() { # MESSAGE: a failure outside any TAP line, printed now and again at the end
    echo "!! $*" | tee -a "$log_dir/flags" >&2
}
# the cells CI proves besides 6.1 x 3.0: the newest kernel with the newest
# OpenSSL, and the oldest with the oldest ("" for none); 6.12 x 3.0, between
# 6.1 and 7.3 with the 6.1 guest's own OpenSSL, is make test-matrix's (its
# 13 minutes of a core beside the 6.1 guest kept make test over its budget).
# They run beside the 6.1 guest (see below), in this order: 5.10 first, its
# kernel build (3 minutes idle) is ready long before OpenSSL 3.5's (7).
cells=${KTLS_TEST_CELLS-5.10:1.1.1w 7.3:3.5}

# shellcheck source=tests/tap.bash
. tests/tap.bash
count_tap() { # FILE NAME -> adds to passed/failed (and NAME's row); a skip counts as a failure
    local said
    tap_file "$1"
    passed=$((passed + TAP_PASS))
    failed=$((failed + TAP_FAILED))
    cell_pass[$2]=$TAP_PASS cell_fail[$2]=$TAP_FAILED
    # a runner that died before its plan was met counts once as failed
    for said in "${TAP_SHORT_SAID[@]}"; do
        flag "$2: $said"
    done
    # and so does one that died before it printed its plan
    if ((TAP_PLANS == 0)); then
        flag "$2: ran $((TAP_PASS + TAP_SKIP + TAP_FAIL)) of ? planned tests"
        failed=$((failed + 1))
        cell_fail[$2]=$((cell_fail[$2] + 1))
    fi
}

native=0
tests/have-ktls.sh && native=1
# Where this kernel has no kTLS, the 6.1 guest's whole suite is the longest
# stage: it starts first and runs beside the host stages (one guest keeps
# about 1.2 of the 2 cores busy: its tests wait on sockets, sleeps and
# timeouts much of the time, and the host stages fill the rest). The
# matrix's OpenSSL builds and kernels are made beside them too (the log comes
# out once they are needed), and the cells' guests run beside the rest of
# the 6.1 guest. KTLS_TEST_CELLS_AFTER=1 runs the cells after it instead.
prep_pid= vm_pid= vm_started=$SECONDS cells_pid= cells_started=$SECONDS
# one cell's guest at a time, each as soon as it is prepared
run_cells() {
    local c i=0
    for c in $cells; do
        i=$((i + 1))
        while [[ ! -e $log_dir/ready.$c && ! -e $log_dir/unready.$c ]] && kill -0 "$prep_pid" 2>/dev/null; do
            sleep 2
        done
        [[ -e $log_dir/ready.$c ]] || continue
        KTLS_MATRIX_LOG=$log_dir/matrix-$i KTLS_VM_TIMEOUT=${KTLS_CELL_TIMEOUT:-1800} \
            KTLS_MATRIX_LIST=${KTLS_CELL_LIST:-tests/matrix/ci.list} \
            tests/matrix/run.sh --prepared --cells "$c" >"$log_dir/matrix-$i.tap" 2>&1
    done
}
if [[ $native == 0 ]]; then
    # 1.1.1w before anything else: the 6.1 guest runs two OpenSSLs in one
    # process (15-inert-more), and the cells' preparation builds it too
    echo "=== OpenSSL 1.1.1w and its test programs for the guests (cached outside the clone)"
    if ! tests/matrix/build-progs.sh 1.1.1w >/dev/null 2>"$log_dir/prep-1.1.1w.log"; then
        cat "$log_dir/prep-1.1.1w.log"
        flag "OpenSSL 1.1.1w could not be prepared: the guests' two-OpenSSL tests fail"
    fi
    stage_done "OpenSSL 1.1.1w for the guests"
    echo "=== bats in the QEMU guest on 6.1 with the distro's OpenSSL (this kernel has no kTLS): begun, beside the host stages"
    vm_started=$SECONDS
    {
        KTLS_VM_KERNEL=6.1 tests/run-bats.sh vm >"$log_dir/vm.tap" 2>"$log_dir/vm.err"
        echo "$((SECONDS - vm_started))" >"$log_dir/vm.secs"
    } &
    vm_pid=$!
    if [[ -n $cells ]]; then
        # cell by cell, in the order given, each marked ready once its kernel
        # and OpenSSL are there: the first cell runs while the next builds
        {
            for c in $cells; do
                if tests/matrix/run.sh --prepare-only --cells "$c" >>"$log_dir/prepare.log" 2>&1; then
                    touch "$log_dir/ready.$c"
                else
                    touch "$log_dir/unready.$c"
                fi
            done
        } &
        prep_pid=$!
        # the cells' guests start as soon as each is ready, beside the host
        # stages too: the machine's two cores are the limit, not the order
        if [[ ${KTLS_TEST_CELLS_AFTER:-0} != 1 ]]; then
            echo "=== the CI subset of the core set on more cells of the matrix, beside the 6.1 guest, each as soon as it is prepared: $cells"
            cells_started=$SECONDS
            run_cells &
            cells_pid=$!
        fi
    fi
fi

echo "=== unit tests (ASan/UBSan)"
make -s build/unit_tests
build/unit_tests | tee "$log_dir/unit.out"
unit_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log_dir/unit.out" | tail -n1)
if [[ -n "$unit_line" ]]; then
    passed=$((passed + $(cut -d' ' -f1 <<<"$unit_line")))
    failed=$((failed + $(cut -d' ' -f3 <<<"$unit_line")))
else
    flag "unit tests printed no summary"
    failed=$((failed + 1))
fi
stage_done "unit tests (ASan/UBSan)"

# Bounded: the parsers' fuzz targets from their seeds (a long run: make fuzz)
echo "=== fuzz targets, ${KTLS_FUZZ_SECONDS:-45} s each"
if make -s fuzz-build; then
    tests/fuzz/run.sh "${KTLS_FUZZ_SECONDS:-45}" | tee "$log_dir/fuzz.tap"
    count_tap "$log_dir/fuzz.tap" fuzz
else
    flag "fuzz targets did not build"
    failed=$((failed + 1))
fi
stage_done "fuzz targets"

echo "=== bats on this host ($(uname -r))"
# on a kTLS host this is the kTLS run, where a skip is a failure too
KTLS_STRICT=$native tests/run-bats.sh host | tee "$log_dir/host.tap"
count_tap "$log_dir/host.tap" "host $(uname -r) x 3.0 (whole suite)"
stage_done "bats on this host"

if [[ $native == 1 ]]; then
    echo "=== this kernel has kTLS: the host run above was the kTLS run"
else
    echo "=== bats in the QEMU guest on 6.1 with the distro's OpenSSL (this kernel has no kTLS): waiting for it"
    wait "$vm_pid"
    cat "$log_dir/vm.err" >&2
    cat "$log_dir/vm.tap"
    count_tap "$log_dir/vm.tap" "6.1 x 3.0 (whole suite)"
    stage_done "guest 6.1 x 3.0, whole suite (rest of it)"
    stages+=("$(printf '  (the 6.1 guest ran %s s in all, beside the host stages and the cells)' "$(cat "$log_dir/vm.secs" 2>/dev/null || echo '?')")")
    if [[ -n $cells ]]; then
        if [[ -n $cells_pid ]]; then
            wait "$cells_pid"
        else
            echo "=== the CI subset of the core set on more cells of the matrix: $cells"
            cells_started=$SECONDS
            run_cells
        fi
        wait "$prep_pid"
        echo "=== the cells' preparation (OpenSSL builds, kernels; begun beside the host stages)"
        cat "$log_dir/prepare.log"
        i=0
        for c in $cells; do
            i=$((i + 1))
            if [[ ! -e $log_dir/ready.$c ]]; then
                flag "cell $c could not be prepared (see above)"
                failed=$((failed + 1))
                continue
            fi
            cat "$log_dir/matrix-$i.tap"
            # the cell's own counts, from the table run.sh printed
            while read -r _ k o p f _; do
                cell_pass["$k x $o (core set)"]=$p cell_fail["$k x $o (core set)"]=$f
            done < <(grep -E '^#   [0-9]' "$log_dir/matrix-$i/table.txt" 2>/dev/null)
            line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log_dir/matrix-$i.tap" | tail -n1)
            if [[ -n $line ]]; then
                passed=$((passed + $(cut -d' ' -f1 <<<"$line")))
                failed=$((failed + $(cut -d' ' -f3 <<<"$line")))
            else
                flag "cell $c printed no summary"
                failed=$((failed + 1))
            fi
        done
        stage_done "guest matrix cells (CI subset; rest of it)"
        stages+=("$(printf '  (the cells ran %d s in all, from their start)' $((SECONDS - cells_started)))")
    fi
fi

echo "=== stages"
printf '  %s\n' "${stages[@]}"
total=$((SECONDS - started))
# CI stops at 90 minutes and a slow night runs half as long again: the
# suite is kept to 45, and a run past 60 says so before one fails.
budget_min=45 warn_min=60
printf '  %-44s %5d s (%d min %02d s of the %d-minute budget)\n' "total" "$total" \
    $((total / 60)) $((total % 60)) "$budget_min"
if ((total >= warn_min * 60)); then
    echo "!! WARNING: make test took $((total / 60)) min, over the $warn_min-minute warning line (budget $budget_min, CI stops at 90): find what grew before a run fails"
elif ((total > budget_min * 60)); then
    echo "note: make test took $((total / 60)) min, over its $budget_min-minute budget"
fi
echo "=== results by stage and cell (kernel x OpenSSL)"
for c in "${!cell_pass[@]}"; do
    printf '  %-40s %5s passed %5s failed\n' "$c" "${cell_pass[$c]}" "${cell_fail[$c]}"
done | sort
if ((failed > 0)); then
    # Again at the end, where a reader of only the last lines looks: each
    # failed test with the lines bats gave it, and each harness failure.
    echo "=== what failed (details above)"
    for f in "$log_dir"/{unit.out,fuzz.tap,host.tap,vm.tap} "$log_dir"/matrix-*.tap; do
        [[ -f $f ]] || continue
        grep -E -A3 '^not ok [0-9]+|^!! ' "$f" | grep -v '^--$' | cut -c1-400 | head -n 60
    done
    [[ -f $log_dir/flags ]] && cat "$log_dir/flags"
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]

#!/usr/bin/env bats
# ktls-stats: the summary from stats files a service left outside ktls-run,
# and the same numbers in the Prometheus text format (checked by a parser of
# the format's rules, tests/progs/prom_check.py). Files written by hand give
# exact numbers; a real run gives the numbers ktls-run printed for it.

load helpers
bats_require_minimum_version 1.5.0

KTLS_RUN="$REPO/build/ktls-run"
# A shimmed tls_endpoint pair (two processes, one connection):
# ktls-run ... -- bash -c "$EXCHANGE" _ "$PEER" DIR BYTES
EXCHANGE='"$1" server --port 0 --send "$3" --expect "$3" >"$2/server.out" &
    for i in $(seq 1 100); do grep -q "^PORT " "$2/server.out" && break; sleep 0.1; done
    "$1" client --port "$(awk "/^PORT /{print \$2}" "$2/server.out")" --send "$3" --expect "$3" >"$2/client.out"
    wait'
KTLS_STATS="$REPO/build/ktls-stats"
PROM_CHECK="$REPO/tests/progs/prom_check.py"

# stats_json PID RUN(null|"id") FINAL(true|false) ARMS-JSON: a stats file as
# the shim writes it, with only what ktls-stats reads
stats_json() {
    printf '{"pid": %s, "exe": "/usr/sbin/nginx", "run": %s, "started_unix": 1700000000, "updated_unix": %s,
 "final": %s, "signal": null, "passed_through": 0, "ssl_objects": 3, "handshake_failures": 1,
 "arms": %s}\n' "$1" "$2" "$((1700000100 + $1))" "$3" "$4"
}

# row LABEL < summary -> "OFFLOAD CONTROL"
row() {
    awk -v label="$1" 'index($0, "  " label " ") == 1 { print $(NF-1), $NF }' <<<"$output"
}

# A service's directory: three processes (two runs, one killed), a file
# that is not JSON, a link, and files that are not stats at all.
make_fixture() {
    local d=$1
    mkdir -p "$d"
    stats_json 100 null true '{"offload": {"connections": 3, "tx": {"kernel": 2, "fallback": {"custom-bio-memory": 1}},
        "rx": {"kernel": 2, "fallback": {"custom-bio-memory": 1}}, "outcome": {"both": 2, "none": 1},
        "bytes": {"kernel_tx": 1000, "kernel_rx": 700, "openssl_tx": 10, "openssl_rx": 20},
        "events": {"rekey_tx": 1, "rekey_rx": 0}},
        "control": {"connections": 2, "tx": {"kernel": 0, "fallback": {"ab-control": 2}},
        "rx": {"kernel": 0, "fallback": {"ab-control": 2}}, "outcome": {"none": 2},
        "bytes": {"openssl_tx": 500, "openssl_rx": 50}}}' >"$d/svc.100.json"
    stats_json 200 null true '{"offload": {"connections": 1, "tx": {"kernel": 1, "fallback": {}},
        "rx": {"kernel": 1, "fallback": {}}, "outcome": {"both": 1}, "bytes": {"kernel_tx": 5, "kernel_sendfile": 4000},
        "events": {"keyupdate-storm": 1}}}' >"$d/svc.200.json"
    # killed: no final numbers; a pid no process can have
    stats_json 2147483000 '"r2"' false '{"offload": {"connections": 2, "tx": {"kernel": 0, "fallback": {"kernel-no-tls": 2}},
        "rx": {"kernel": 0, "fallback": {"kernel-no-tls": 2}}, "outcome": {"none": 2}, "bytes": {"openssl_tx": 7}}}' \
        >"$d/svc.2147483000.json"
    echo '{"pid": 1, "arms": {' >"$d/svc.400.json"
    ln -s svc.100.json "$d/link.500.json"
    echo 'not stats' >"$d/notes.txt"
    echo '{"name": "x", "version": "1"}' >"$d/package.1.txt"
}

@test "ktls-stats DIR: ktls-run's headline and table from a service's files, summed, with what could not be read" {
    host_only && return 0
    local d=$BATS_TEST_TMPDIR/svc
    make_fixture "$d"
    run --separate-stderr "$KTLS_STATS" --tls-stat none "$d"
    printf '%s\n' "$output"
    [[ $status == 0 && -z "$stderr" ]]
    [[ "${lines[0]}" == "ktls-stats: 3 of 8 connections offloaded; in OpenSSL: kernel-no-tls 2, custom-bio-memory 1; control arm 2 (kept in OpenSSL) (run ktls-check)" ]]
    [[ "$output" == *$'\n'"ktls-stats: pid 2147483000 (nginx) ended without final stats; numbers from its last refresh at "* ]]
    # the link is not followed in a directory, the broken JSON is not summed
    [[ "$output" == *$'\n'"ktls-stats: 2 stats files could not be read"$'\n'* ]]
    [[ "${lines[-1]}" == "ktls-stats: 3 stats files from 1 path; 2 runs summed (--run ID for one): none, r2" ]]
    # the table as ktls-run's: only rows that are not 0, both columns
    # ending where the header's do
    [[ "$(row connections)" == "6 2" && "$(row "bytes sent via kernel sendfile")" == "4000 0" ]]
    [[ "$(row "TLS 1.3 KeyUpdates sent (TX rekeyed)")" == "1 0" && "$(row "ended: a storm of KeyUpdates")" == "1 0" ]]
    [[ "$(row "neither (all in OpenSSL)")" == "3 2" && "$(row "bytes sent via OpenSSL")" == "17 500" ]]
    grep -qE '^    offload TX kernel-no-tls +2$' <<<"$output"
    grep -qE '^    control RX ab-control +2$' <<<"$output"
    [[ $(grep -E '^  .* [0-9]+ +[0-9]+$|control arm$' <<<"$output" | awk '{ print length($0) }' | sort -u | wc -l) == 1 ]]
    ! grep -q 'KeyUpdates followed\|bytes sendfile emulated\|tls_stat' <<<"$output" || false

    # one run; a file named twice or through a link counts once
    run "$KTLS_STATS" --tls-stat none --run r2 "$d"
    [[ $status == 0 && "${lines[0]}" == "ktls-stats: 0 of 2 connections offloaded: kernel-no-tls (run ktls-check)" ]]
    [[ "${lines[-1]}" == "ktls-stats: 1 stats file from 1 path; run r2; 2 files of other runs not summed" ]]
    run "$KTLS_STATS" --tls-stat none --quiet --run none "$d" "$d/svc.100.json" "$d/link.500.json"
    [[ $status == 0 && "$output" == "ktls-stats: 3 of 6 connections offloaded; in OpenSSL: custom-bio-memory; control arm 2 (kept in OpenSSL) (reasons: ktls-shim(7))" ]]
    run "$KTLS_STATS" --tls-stat none "$d/link.500.json"
    [[ $status == 0 && "${lines[0]}" == "ktls-stats: 2 of 5 connections offloaded; in OpenSSL: custom-bio-memory; control arm 2 (kept in OpenSSL) (reasons: ktls-shim(7))" ]]

    # the kernel's counters as they are now, from the file named
    printf 'TlsCurrTxSw                     \t1\nTlsTxSw                         \t7\nTlsRxSw                         \t5\nTlsDecryptError                 \t1\n' >"$BATS_TEST_TMPDIR/tls_stat"
    run "$KTLS_STATS" --tls-stat "$BATS_TEST_TMPDIR/tls_stat" "$d/svc.200.json"
    [[ $status == 0 ]]
    [[ "$output" == *$'\n'"ktls-stats: kernel /proc/net/tls_stat now (this network namespace, since it was made): TlsTxSw 7 TlsRxSw 5 TlsDecryptError 1"$'\n'* ]]
}

@test "ktls-stats: bad input gets one clear line and exit 2; no stats files exit 1" {
    host_only && return 0
    local d=$BATS_TEST_TMPDIR/svc
    make_fixture "$d"
    mkdir "$BATS_TEST_TMPDIR/empty"
    local -a cases=(
        "2|ktls-stats: name a stats directory or file (ktls-stats --help)|"
        "2|ktls-stats: $BATS_TEST_TMPDIR/nope: No such file or directory|$BATS_TEST_TMPDIR/nope"
        "2|ktls-stats: $d/notes.txt: not a ktls-shim stats file|$d/notes.txt"
        "2|ktls-stats: $d/svc.400.json: not a ktls-shim stats file|$d/svc.400.json"
        "2|ktls-stats: unknown option: --bogus (ktls-stats --help)|--bogus $d"
        "2|ktls-stats: option needs a value: --run (ktls-stats --help)|--run"
        "2|ktls-stats: --run takes 1-64 of A-Z a-z 0-9 . _ - (or none): a/b (ktls-stats --help)|--run a/b $d"
        "2|ktls-stats: --quiet is for the summary, not --prometheus (ktls-stats --help)|--quiet --prometheus $d"
        "2|ktls-stats: $BATS_TEST_TMPDIR/none: No such file or directory|--tls-stat $BATS_TEST_TMPDIR/none $d"
        "2|ktls-stats: $d/notes.txt: not a tls_stat file (\"Name value\" lines)|--tls-stat $d/notes.txt $d"
        "1|ktls-stats: no stats files (NAME.<pid>.json)|--tls-stat none $BATS_TEST_TMPDIR/empty"
        "1|ktls-stats: no stats files (NAME.<pid>.json) of run zz; 3 of other runs; 2 could not be read|--run zz $d"
    )
    local c want_rc want args
    for c in "${cases[@]}"; do
        IFS='|' read -r want_rc want args <<<"$c"
        # shellcheck disable=SC2086 # the arguments are words
        run --separate-stderr "$KTLS_STATS" $args
        echo "ktls-stats $args -> $status: $stderr$output"
        [[ $status == "$want_rc" ]]
        [[ "$stderr$output" == "$want" ]]
    done
    run "$KTLS_STATS" --version
    [[ $status == 0 && "$output" == "ktls-stats $(make -s -C "$REPO" version)" ]]
}

@test "ktls-stats --prometheus: the exposition format's rules hold, the numbers are the files', --output replaces the file whole" {
    host_only && return 0
    local d=$BATS_TEST_TMPDIR/svc prom=$BATS_TEST_TMPDIR/out
    make_fixture "$d"
    # a reason with every character a label value must escape, as a file
    # someone else's process wrote could carry
    stats_json 600 null true '{"offload": {"connections": 1, "tx": {"kernel": 0, "fallback": {"we\"ird\\re\nason\u00e9": 1}}}}' \
        >"$d/svc.600.json"
    printf 'TlsCurrTxSw 1\nTlsCurrRxSw 0\nTlsTxSw 7\nTlsRxSw 5\nTlsDecryptError 1\n' >"$BATS_TEST_TMPDIR/tls_stat"
    mkdir "$prom"
    (umask 077 && "$KTLS_STATS" --prometheus --tls-stat "$BATS_TEST_TMPDIR/tls_stat" --output "$prom/ktls.prom" "$d")
    [[ "$(stat -c %a "$prom/ktls.prom")" == 644 && "$(ls "$prom")" == ktls.prom ]]
    run python3 "$PROM_CHECK" "$prom/ktls.prom"
    printf '%s\n' "$output"
    [[ $status == 0 ]]
    local want
    for want in 'ktls_shim_connections_total{arm="offload"} 7' 'ktls_shim_connections_total{arm="control"} 2' \
        'ktls_shim_directions_kernel_total{arm="offload",direction="tx"} 3' \
        'ktls_shim_directions_kernel_total{arm="control",direction="rx"} 0' \
        'ktls_shim_fallbacks_total{arm="offload",direction="tx",reason="custom-bio-memory"} 1' \
        'ktls_shim_fallbacks_total{arm="offload",direction="rx",reason="kernel-no-tls"} 2' \
        'ktls_shim_fallbacks_total{arm="control",direction="tx",reason="ab-control"} 2' \
        'ktls_shim_fallbacks_total{arm="offload",direction="tx",reason="we\"ird\\re\nason?"} 1' \
        'ktls_shim_connection_outcomes_total{arm="offload",outcome="both"} 3' \
        'ktls_shim_connection_outcomes_total{arm="offload",outcome="none"} 3' \
        'ktls_shim_bytes_total{arm="offload",path="kernel_tx"} 1005' \
        'ktls_shim_bytes_total{arm="offload",path="kernel_sendfile"} 4000' \
        'ktls_shim_bytes_total{arm="offload",path="openssl_tx"} 17' \
        'ktls_shim_bytes_total{arm="control",path="openssl_rx"} 50' \
        'ktls_shim_key_updates_total{arm="offload",direction="tx"} 1' \
        'ktls_shim_connections_ended_total{arm="offload",event="keyupdate-storm"} 1' \
        'ktls_shim_handshake_failures_total 4' 'ktls_shim_ssl_objects_total 12' \
        'ktls_shim_stats_files 4' 'ktls_shim_stats_files_unreadable 2' \
        'ktls_shim_processes_without_final_stats 1' \
        "ktls_shim_last_update_timestamp_seconds $((1700000100 + 2147483000))" \
        'ktls_kernel_tls_loaded 1' 'ktls_kernel_tls_stat_total{stat="TlsTxSw"} 7' \
        'ktls_kernel_tls_stat_total{stat="TlsDecryptError"} 1' 'ktls_kernel_tls_current{stat="TlsCurrTxSw"} 1'; do
        grep -qxF "$want" <<<"$output" || { echo "missing: $want"; return 1; }
    done
    # every series is there before anything happened: a service not started yet reads 0
    mkdir "$BATS_TEST_TMPDIR/empty"
    run "$KTLS_STATS" --prometheus --tls-stat none --output "$prom/ktls.prom" "$BATS_TEST_TMPDIR/empty"
    [[ $status == 0 ]]
    run python3 "$PROM_CHECK" "$prom/ktls.prom"
    [[ $status == 0 ]]
    grep -qx 'ktls_shim_connections_total{arm="offload"} 0' <<<"$output"
    grep -qx 'ktls_shim_stats_files 0' <<<"$output"
    grep -qx 'ktls_kernel_tls_loaded 0' <<<"$output"
    # a directory it cannot write to: the old file stays, nothing is left behind
    run --separate-stderr "$KTLS_STATS" --prometheus --output "$prom/no/such/dir/ktls.prom" "$d"
    [[ $status == 2 && "$stderr" == "ktls-stats: cannot write $prom/no/such/dir/ktls.prom: No such file or directory" ]]
    [[ "$(ls "$prom")" == ktls.prom ]]
}

@test "ktls-stats on a real run's kept files: the headline and table ktls-run printed, and the same numbers for Prometheus" {
    local dir=$BATS_TEST_TMPDIR bytes=40000
    run --separate-stderr "$KTLS_RUN" --stats "$dir/st" -- bash -c "$EXCHANGE" _ "$PEER" "$dir" "$bytes"
    echo "$stderr"
    [[ $status == 0 ]]
    SERVER_RESULT=$(grep '^RESULT ' "$dir/server.out")
    CLIENT_RESULT=$(grep '^RESULT ' "$dir/client.out")
    assert_intact
    local from_run=$stderr
    run --separate-stderr "$KTLS_STATS" "$dir"
    echo "$output"
    [[ $status == 0 ]]
    # everything up to the kernel's line is the same, word for word
    [[ "$(sed -n '/tls_stat/q;s/^ktls-stats:/ktls-run:/;p' <<<"$output")" == "$(sed -n '/tls_stat/q;p' <<<"$from_run")" ]]
    [[ "${lines[0]}" == "ktls-stats: "*" of 2 connections offloaded"* ]]
    [[ "${lines[-1]}" == "ktls-stats: 2 stats files from 1 path; run ktls-run-"* ]]

    "$KTLS_STATS" --prometheus "$dir" >"$dir/ktls.prom"
    local kernel=0 v
    have_ktls && kernel=2
    v() { awk -v k="$1" '$1 == k { print $2 }' "$dir/ktls.prom"; }
    [[ "$(v 'ktls_shim_connections_total{arm="offload"}')" == 2 ]]
    [[ "$(v 'ktls_shim_directions_kernel_total{arm="offload",direction="tx"}')" == "$kernel" ]]
    [[ "$(v 'ktls_shim_directions_kernel_total{arm="offload",direction="rx"}')" == "$kernel" ]]
    [[ "$(v 'ktls_shim_connection_outcomes_total{arm="offload",outcome="both"}')" == "$kernel" ]]
    # every byte either way is counted once, by the path it took
    [[ $(( $(v 'ktls_shim_bytes_total{arm="offload",path="kernel_tx"}') + $(v 'ktls_shim_bytes_total{arm="offload",path="openssl_tx"}') )) == $((2 * bytes)) ]]
    [[ $(( $(v 'ktls_shim_bytes_total{arm="offload",path="kernel_rx"}') + $(v 'ktls_shim_bytes_total{arm="offload",path="openssl_rx"}') )) == $((2 * bytes)) ]]
    [[ "$(v ktls_shim_stats_files)" == 2 && "$(v ktls_shim_processes_without_final_stats)" == 0 ]]
    if have_ktls; then
        [[ "$(v 'ktls_shim_bytes_total{arm="offload",path="kernel_tx"}')" == $((2 * bytes)) ]]
        [[ "$(v ktls_kernel_tls_loaded)" == 1 ]]
        [[ "$(v 'ktls_kernel_tls_stat_total{stat="TlsTxSw"}')" == "$(tls_stat TlsTxSw)" ]]
    else
        [[ "$(v 'ktls_shim_fallbacks_total{arm="offload",direction="tx",reason="kernel-no-tls"}')" == 2 ]]
        [[ "$(v ktls_kernel_tls_loaded)" == 0 ]]
    fi
    if [[ ${KTLS_IN_GUEST:-0} != 1 ]]; then # a Python start costs a minute in the guest
        python3 "$PROM_CHECK" "$dir/ktls.prom" >/dev/null
    fi
}

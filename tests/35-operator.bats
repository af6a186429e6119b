#!/usr/bin/env bats
# The operator's tools: ktls-check's verdict, ktls-run's summary against the
# kernel's counters, bad knob values, the A/B split and per-process stats
# files from a multi-worker nginx. On a kernel without kTLS the same tests
# check the honest "no" (fallback reasons, zero kernel bytes).

load helpers
bats_require_minimum_version 1.5.0

KTLS_RUN="$REPO/build/ktls-run"
KTLS_CHECK="$REPO/build/ktls-check"

setup_file() {
    # ECDSA keeps hundreds of handshakes cheap under the emulated CPU
    self_signed ec localhost "$BATS_FILE_TMPDIR/key.pem" "$BATS_FILE_TMPDIR/cert.pem"
}

teardown() {
    stop_nginx
}

# stats_sum PREFIX JSON.PATH -> the sum over every PREFIX.<pid>.json (a path
# that is not there counts 0). jq, not Python: a Python start costs 40-70 s in
# the emulated guest.
stats_sum() {
    local files=("$1".*.json)
    [[ -e ${files[0]} ]] || { echo 0; return 0; }
    jq -n --arg path "$2" '[inputs | (try getpath($path | split(".")) catch 0) // 0] | add // 0' "${files[@]}"
}

# summary_value LABEL ARM(offload|control) < summary; the control column is
# there only with --sample (or control-arm connections); a row not shown is 0
summary_value() {
    awk -v label="$1" -v col="$2" 'index($0, "  " label " ") == 1 {
        two = $(NF-1) ~ /^[0-9]+$/
        print (col == "offload" ? (two ? $(NF-1) : $NF) : (two ? $NF : "no-column")); found = 1; exit }
        END { if (!found) print 0 }'
}

# A shimmed tls_endpoint pair (two processes, one connection), for ktls-run:
# ktls-run ... -- bash -c "$EXCHANGE" _ "$PEER" DIR BYTES
EXCHANGE='"$1" server --port 0 --send "$3" --expect "$3" >"$2/server.out" &
    for i in $(seq 1 100); do grep -qs "^PORT " "$2/server.out" && break; sleep 0.1; done
    "$1" client --port "$(awk "/^PORT /{print \$2}" "$2/server.out")" --send "$3" --expect "$3" >"$2/client.out"
    wait'

# start_peer_server reads the port from server.out while the new server's
# shell may not have truncated it yet: a second exchange in one test could
# read the first server's port. Each starts from no file.
fresh_exchange() {
    rm -f "$BATS_TEST_TMPDIR/server.out"
    peer_exchange "$@"
}

tls_delta() { # BEFORE_LINE -> "dtx drx"
    local now
    now=$(tls_counters)
    echo "$(( ${now% *} - ${1% *} )) $(( ${now#* } - ${1#* } ))"
}

@test "ktls-check: its verdict matches what this kernel can do" {
    local status=0
    "$KTLS_CHECK" --json >"$BATS_TEST_TMPDIR/check.json" 2>"$BATS_TEST_TMPDIR/check.err" || status=$?
    cat "$BATS_TEST_TMPDIR/check.json" "$BATS_TEST_TMPDIR/check.err"
    if have_ktls; then
        [[ $status == 0 && ! -s "$BATS_TEST_TMPDIR/check.err" ]]
        python3 - "$BATS_TEST_TMPDIR/check.json" "$(uname -r)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["software_ktls"] is True and r["reason"] is None, r
assert r["diagnosis"]["case"] == "works", r["diagnosis"]
assert r["ulp"]["attaches"] is True
pairs = {(c["tls"], c["cipher"]) for c in r["ciphers"] if c["tx"] and c["rx"]}
want = {(v, c) for v in ("1.2", "1.3") for c in ("AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305")}
assert pairs == want, pairs
since = {(c["tls"], c["cipher"]): c["min_kernel"] for c in r["ciphers"]}
assert since[("1.3", "CHACHA20-POLY1305")] == "5.11" and since[("1.2", "AES-256-GCM")] == "5.1", since
# the rekey row is probed: a second TLS_TX is taken from 6.14 on
major, minor = (int(x) for x in sys.argv[2].split(".")[:2])
assert r["rekey"]["min_kernel"] == "6.14" and r["rekey"]["tx"] == ((major, minor) >= (6, 14)), r["rekey"]
assert "TlsTxSw" in r["tls_stat"], r["tls_stat"]
assert r["openssl"]["version"].startswith("OpenSSL "), r["openssl"]
PY
        run "$KTLS_CHECK"
        [[ "$output" == *"TLS 1.3 CHACHA20-POLY1305  TX yes RX yes  since 5.11"* ]]
        [[ "$output" == *"TLS 1.3 KeyUpdate (rekey)  TX "*"since 6.14"* ]]
    else
        [[ $status == 1 ]]
        # two lines on stderr: which case, then what to do
        [[ $(wc -l <"$BATS_TEST_TMPDIR/check.err") == 2 ]]
        [[ "$(sed -n 1p "$BATS_TEST_TMPDIR/check.err")" == "ktls-check: no software kTLS here: "* ]]
        [[ "$(sed -n 2p "$BATS_TEST_TMPDIR/check.err")" == "ktls-check: next step: "* ]]
        local config=unknown
        if [[ -r /boot/config-$(uname -r) ]] && grep -q '^# CONFIG_TLS is not set' "/boot/config-$(uname -r)"; then
            config=not-set
        elif [[ -r /proc/config.gz ]] && zcat /proc/config.gz | grep -q '^# CONFIG_TLS is not set'; then
            config=not-set
        fi
        python3 - "$BATS_TEST_TMPDIR/check.json" "$config" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["software_ktls"] is False and r["reason"] == r["diagnosis"]["why"], r
assert not any(c["tx"] or c["rx"] for c in r["ciphers"])
assert r["ulp"]["error"] == "No such file or directory", r["ulp"]
d = r["diagnosis"]
if sys.argv[2] == "not-set":   # this host's own config says so
    assert d["case"] == "config-tls-not-set" and d["config_tls"] == "not set", d
    assert "CONFIG_TLS is not set in " in d["why"] and "CONFIG_TLS=m" in d["next_step"], d
else:
    assert d["case"] != "works" and d["next_step"], d
PY
        # the plain form: one line for the missing ULP, not one per cipher
        run --separate-stderr "$KTLS_CHECK"
        [[ $status == 1 ]]
        [[ "$output" == *'tls ULP:           missing (setsockopt TCP_ULP "tls": No such file or directory)'* ]]
        [[ "$output" == *"ciphers:           not probed: no tls ULP to take keys"* ]]
        [[ $(grep -c "No such file or directory" <<<"$output") == 1 ]]
        [[ "$output" == *"software kTLS:     does NOT work"* ]]
        [[ "$stderr" == "$(cat "$BATS_TEST_TMPDIR/check.err")" ]]
    fi
}

@test "ktls-check: without CAP_NET_ADMIN it says so (the kernel would not autoload the module)" {
    requires setpriv
    [[ $(id -u) == 0 ]] || skip "needs root to drop to another user"
    setpriv --reuid=12345 --regid=12345 --clear-groups "$KTLS_CHECK" --json >"$BATS_TEST_TMPDIR/nocap.json" || true
    python3 - "$BATS_TEST_TMPDIR/nocap.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["diagnosis"]
assert d["cap_net_admin"] is False, d
if d["case"] != "works" and d["module"] and not d["module_loaded"] and d["config_tls"] != "not set":
    assert d["case"] == "module-not-loaded-no-cap", d
PY
    run "$KTLS_CHECK" --json
    [[ "$output" == *'"cap_net_admin": true'* ]]
}

@test "ktls-check: bad usage exits 2 with one line" {
    run "$KTLS_CHECK" --frobnicate
    [[ $status == 2 ]]
    [[ "$output" == "ktls-check: unknown option --frobnicate (see ktls-check --help)" ]]
}

@test "ktls-run: summary numbers match the kernel counters and the bytes sent" {
    local before out
    before=$(tls_counters)
    out="$BATS_TEST_TMPDIR"
    run "$KTLS_RUN" --stats "$out/st" -- bash -c '
        "$1" server --port 0 --send 300000 --expect 70000 >"$2/server.out" &
        for i in $(seq 1 100); do grep -qs "^PORT " "$2/server.out" && break; sleep 0.1; done
        "$1" client --port "$(awk "/^PORT /{print \$2}" "$2/server.out")" --send 70000 --expect 300000 >"$2/client.out"
        wait' _ "$PEER" "$out"
    echo "$output"
    [[ $status == 0 ]]
    SERVER_RESULT=$(grep '^RESULT ' "$out/server.out")
    CLIENT_RESULT=$(grep '^RESULT ' "$out/client.out")
    assert_intact
    local delta kernel
    delta=$(tls_delta "$before")
    [[ "$(summary_value connections offload <<<"$output")" == 2 ]]
    [[ "$(summary_value connections control <<<"$output")" == no-column ]] # no --sample
    if have_ktls; then
        [[ "${lines[0]}" == "ktls-run: 2 of 2 connections offloaded" ]]
        kernel=2
        [[ "$delta" == "2 2" ]]
        [[ "$output" == *"TlsTxSw +2 TlsRxSw +2 TlsDecryptError +0"* ]]
        [[ "$(summary_value "bytes sent via kernel" offload <<<"$output")" == 370000 ]]
        # a TLS 1.3 client lets OpenSSL read up to the first application data
        # (session tickets come before it), then the kernel takes over
        local krx orx
        krx=$(summary_value "bytes received via kernel" offload <<<"$output")
        orx=$(summary_value "bytes received via OpenSSL" offload <<<"$output")
        [[ $krx -gt 0 && $((krx + orx)) == 370000 ]]
    else
        kernel=0
        [[ "${lines[0]}" == "ktls-run: 0 of 2 connections offloaded: kernel-no-tls (run ktls-check)" ]]
        [[ "$(summary_value "bytes sent via OpenSSL" offload <<<"$output")" == 370000 ]]
        [[ "$output" == *"    TX kernel-no-tls "*2* ]]
    fi
    # what the summary says moved is what the kernel counted
    [[ "$(summary_value "TX moved to the kernel" offload <<<"$output")" == "$kernel" ]]
    [[ "$(summary_value "RX moved to the kernel" offload <<<"$output")" == "$kernel" ]]
    [[ "$(summary_value "both directions in the kernel" offload <<<"$output")" == "$kernel" ]]
    # --stats keeps the files, and says where: one per process, valid JSON
    [[ "$output" == *"ktls-run: stats files: $out/st.<pid>.json"* ]]
    [[ $(ls "$out"/st.*.json | wc -l) == 2 ]]
    [[ "$(stats_sum "$out/st" arms.offload.connections)" == 2 ]]
}

@test "ktls-run: keeps an existing LD_PRELOAD, passes the exit status, rejects bad options" {
    run --separate-stderr env LD_PRELOAD=libc.so.6 "$KTLS_RUN" --quiet -- sh -c 'echo "$LD_PRELOAD"; exit 7'
    [[ $status == 7 ]]
    [[ "$output" == "$SHIM:libc.so.6" ]]
    # already preloaded: not added twice
    run --separate-stderr env LD_PRELOAD="$SHIM" "$KTLS_RUN" --quiet -- sh -c 'echo "$LD_PRELOAD"'
    [[ "$output" == "$SHIM" ]]
    run --separate-stderr "$KTLS_RUN" --quiet --mode tx --sample 0.25 --seed 9 --log info -- \
        sh -c 'echo "$KTLS_SHIM_MODE $KTLS_SHIM_SAMPLE $KTLS_SHIM_SEED $KTLS_SHIM_LOG"'
    [[ "$output" == "tx 0.25 9 info" ]]
    local opt
    for opt in "--sample 1.5" "--sample half" "--mode sideways" "--seed -3" "--log loud" \
        "--interval soon"; do
        # shellcheck disable=SC2086
        run "$KTLS_RUN" $opt -- true
        echo "$opt -> $status: $output"
        [[ $status == 2 ]]
        [[ ${#lines[@]} == 1 && "$output" == "ktls-run: ${opt%% *} "*"is not valid"* ]]
    done
    run "$KTLS_RUN" --frob -- true
    [[ $status == 2 && "$output" == "ktls-run: unknown option --frob (see ktls-run --help)" ]]
    run "$KTLS_RUN" --mode
    [[ $status == 2 && "$output" == "ktls-run: --mode needs a value (see ktls-run --help)" ]]
    run "$KTLS_RUN" --mode tx
    [[ $status == 2 && "$output" == "ktls-run: no command given (see ktls-run --help)" ]]
    run -127 "$KTLS_RUN" --quiet -- /nonexistent/program
    [[ $status == 127 ]]
}

@test "ktls-run: --lib and --log-file are checked before the command runs" {
    local ran=$BATS_TEST_TMPDIR/ran
    # each: exit 2, one line, and the command never ran
    run "$KTLS_RUN" --lib /etc/passwd -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --lib /etc/passwd: not an ELF shared library" ]]
    run "$KTLS_RUN" --lib /nonexistent/lib.so -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --lib /nonexistent/lib.so: No such file or directory" ]]
    local libc
    libc=$(ldd /bin/sh | awk '/libc.so/ {print $3}')
    run "$KTLS_RUN" --lib "$libc" -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --lib $libc: not the ktls-shim library"* ]]
    # ktls-run itself holds the marker's text, with no version: it ran the
    # command unshimmed with exit 0 and a garbled note
    run "$KTLS_RUN" --lib "$KTLS_RUN" -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --lib $KTLS_RUN: not the ktls-shim library"* ]]
    run env KTLS_SHIM_LIB=/etc/passwd "$KTLS_RUN" -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: KTLS_SHIM_LIB /etc/passwd: not an ELF shared library" ]]
    run "$KTLS_RUN" --log-file /nonexistent/dir/shim.log -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --log-file /nonexistent/dir/shim.log: No such file or directory" ]]
    run "$KTLS_RUN" --log-file "$BATS_TEST_TMPDIR" -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --log-file $BATS_TEST_TMPDIR: Is a directory" ]]
    run "$KTLS_RUN" --stats /nonexistent/dir/x -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --stats /nonexistent/dir/x: directory /nonexistent/dir: No such file or directory" ]]
    run "$KTLS_RUN" --stats /etc/passwd/x -- touch "$ran"
    [[ $status == 2 && "$output" == "ktls-run: --stats /etc/passwd/x: /etc/passwd is not a directory" ]]
    [[ ! -e "$ran" ]]
    # a good library and log file: the command runs, the log gets the shim's
    # lines, each process's first one naming the version
    run "$KTLS_RUN" --lib "$SHIM" --log info --log-file "$BATS_TEST_TMPDIR/shim.log" -- \
        bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 1000
    [[ $status == 0 ]]
    cat "$BATS_TEST_TMPDIR/shim.log"
    local v
    v=$("$KTLS_RUN" --version | awk 'NR == 1 {print $NF}')
    [[ $(grep -c "ktls-shim $v in $PEER (mode both, sample 1, stats " "$BATS_TEST_TMPDIR/shim.log") == 2 ]]
    grep -qE '^ktls-shim\[[0-9]+\] info: fd=[0-9]+ .*tx' "$BATS_TEST_TMPDIR/shim.log"
}

@test "shim messages name the error (strerror), not its number" {
    export KTLS_SHIM_LOG=info KTLS_SHIM_LOG_FILE=/nonexistent/dir/shim.log
    peer_exchange "--send 100 --expect 100" "--send 100 --expect 100"
    unset KTLS_SHIM_LOG KTLS_SHIM_LOG_FILE
    local errs
    errs=$(cat "$BATS_TEST_TMPDIR/server.err")
    echo "$errs"
    [[ "$(head -n 1 <<<"$errs")" == "ktls-shim["*"] error: cannot open KTLS_SHIM_LOG_FILE /nonexistent/dir/shim.log: No such file or directory; logging to stderr" ]]
    [[ "$errs" != *errno* ]]
    [[ $(grep -c 'cannot open KTLS_SHIM_LOG_FILE' <<<"$errs") == 1 ]]
}

@test "a bad KTLS_SHIM_LOG_FILE is said by a process that logs, once, before its first line; the shell, cat and ls say nothing" {
    host_only && return 0
    local level
    for level in error info; do
        run --separate-stderr env LD_PRELOAD="$SHIM" KTLS_SHIM_LOG=$level KTLS_SHIM_LOG_FILE=/nonexistent/dir/shim.log \
            sh -c 'cat </dev/null; ls / >/dev/null; (cat </dev/null); sh -c "cat </dev/null" & wait'
        echo "$level: $stderr"
        [[ $status == 0 && -z "$stderr" ]]
    done
}

# every row and fallback line of the table: its numbers end in one column
table_aligned() {
    awk '/^  / && $NF ~ /^[0-9]+$/ { if (w && length($0) != w) bad = 1; w = length($0) } END { exit bad }'
}

@test "ktls-run's summary: the headline, then only the rows that are not 0, aligned; --quiet prints the headline alone" {
    run --separate-stderr "$KTLS_RUN" -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    echo "$stderr"
    [[ $status == 0 ]]
    local headline
    headline=$(head -n 1 <<<"$stderr")
    [[ $headline == "ktls-run: "*" of 2 connections offloaded"* ]]
    # no row says 0 (a table of 18 rows said it 12 times here)
    ! grep -qE '^  [^ ].* 0$' <<<"$stderr" || false
    table_aligned <<<"$stderr"
    [[ "$(summary_value connections offload <<<"$stderr")" == 2 ]]
    run --separate-stderr "$KTLS_RUN" --sample 0.5 --seed 3 -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    echo "$stderr"
    table_aligned <<<"$stderr"
    run --separate-stderr "$KTLS_RUN" --quiet -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    [[ $status == 0 && "$stderr" == "$headline" ]]
}

# A baseline (the shim off) counts the TLS connections it let by, with no
# state kept: handshakes of their own (SSL_connect/SSL_accept) and ones done
# inside the first read or write (s_client's)
@test "ktls-run --mode off and KTLS_SHIM=0: the summary counts the TLS connections passed through; --mode tx gives mode as RX's reason" {
    local implicit='"$1" server --port 0 --send 100 --expect 100 --implicit >"$2/server.out" &
    for i in $(seq 1 100); do grep -qs "^PORT " "$2/server.out" && break; sleep 0.1; done
    "$1" client --port "$(awk "/^PORT /{print \$2}" "$2/server.out")" --send 100 --expect 100 --implicit >"$2/client.out"
    wait'
    run --separate-stderr "$KTLS_RUN" --mode off -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    [[ $status == 0 && "$stderr" == "ktls-run: shim off (mode off): 2 TLS connections passed through" ]]
    run --separate-stderr env KTLS_SHIM=0 "$KTLS_RUN" -- bash -c "$implicit" _ "$PEER" "$BATS_TEST_TMPDIR"
    [[ $status == 0 && "$stderr" == "ktls-run: shim off (mode off): 2 TLS connections passed through" ]]
    grep -q "ktls_tx=0 ktls_rx=0" "$BATS_TEST_TMPDIR/client.out"
    # RX is left to OpenSSL by the mode, whatever the kernel can do (it said
    # kernel-no-tls where the kernel has no kTLS)
    run --separate-stderr "$KTLS_RUN" --mode tx -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    echo "$stderr"
    [[ $status == 0 && "$stderr" == *$'\n    RX mode '*' 2'$'\n'* && "$stderr" != *"RX kernel-no-tls"* ]]
}

# curl, asyncio, HAProxy and Apache give OpenSSL a BIO of their own; where
# the kernel has no kTLS at all, that is their reason too (it was custom-bio)
@test "ktls-run: programs with their own BIO give the reason everything else gives: kernel-no-tls without kTLS, moved or custom-bio-memory with it" {
    local own='"$1" server --port 0 --send 100 --expect 100 --bio custom >"$2/server.out" &
    for i in $(seq 1 100); do grep -qs "^PORT " "$2/server.out" && break; sleep 0.1; done
    "$1" client --port "$(awk "/^PORT /{print \$2}" "$2/server.out")" --send 100 --expect 100 --bio split >"$2/client.out"
    wait'
    run --separate-stderr "$KTLS_RUN" -- bash -c "$own" _ "$PEER" "$BATS_TEST_TMPDIR"
    echo "$stderr"
    [[ $status == 0 ]]
    local own_bio memory
    own_bio=$(head -n 1 <<<"$stderr")
    run --separate-stderr "$KTLS_RUN" -- python3 "$REPO/tests/progs/membio_echo.py" \
        "$BATS_FILE_TMPDIR/cert.pem" "$BATS_FILE_TMPDIR/key.pem" 1000
    echo "$stderr"
    [[ $status == 0 ]]
    memory=$(head -n 1 <<<"$stderr")
    if have_ktls; then
        [[ $own_bio == "ktls-run: 2 of 2 connections offloaded" ]]
        [[ $memory == "ktls-run: 0 of 2 connections offloaded: custom-bio-memory (reasons: ktls-shim(7))" ]]
    else
        [[ $own_bio == "ktls-run: 0 of 2 connections offloaded: kernel-no-tls (run ktls-check)" ]]
        [[ $memory == "ktls-run: 0 of 2 connections offloaded: kernel-no-tls (run ktls-check)" ]]
    fi
}

@test "ktls-run: relative --stats and --log-file name the same files after the command changes directory; a /proc file is no log" {
    mkdir -p "$BATS_TEST_TMPDIR/work/st4"
    cd "$BATS_TEST_TMPDIR/work"
    run --separate-stderr "$KTLS_RUN" --stats st4/ --log-file shim.log --log info -- \
        bash -c 'cd / && bash -c "$0" _ "$@"' "$EXCHANGE" "$PEER" "$BATS_TEST_TMPDIR" 100
    echo "$stderr"
    [[ $status == 0 ]]
    [[ "$(head -n 1 <<<"$stderr")" == "ktls-run: "*" of 2 connections offloaded"* ]]
    [[ $(ls "$BATS_TEST_TMPDIR/work/st4/"stats.*.json | wc -l) == 2 ]]
    [[ "$stderr" == *"ktls-run: stats files: $BATS_TEST_TMPDIR/work/st4/stats.<pid>.json"* ]]
    grep -q "ktls-shim 0" "$BATS_TEST_TMPDIR/work/shim.log"
    run --separate-stderr "$KTLS_RUN" --log-file /proc/version -- true
    [[ $status == 2 && "$stderr" == "ktls-run: --log-file /proc/version: a /proc or /sys file, not a log" ]]
}

# "no TLS connections seen" was said for all three: a GnuTLS program, a
# handshake that failed (curl's exit 60), workers that could not write their
# stats (36-stats); the last stays the words for a program that made SSLs
@test "ktls-run without TLS connections says which case: no OpenSSL TLS (GnuTLS), failed handshakes, none made" {
    requires gnutls-cli curl
    openssl s_server -accept 0 -naccept 4 -cert "$BATS_FILE_TMPDIR/cert.pem" -key "$BATS_FILE_TMPDIR/key.pem" \
        -www >"$BATS_TEST_TMPDIR/srv.out" 2>&1 3>&- &
    local pid=$! port i
    for i in $(seq 1 100); do
        port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/srv.out")
        [[ -n $port ]] && break
        sleep 0.1
    done
    [[ -n $port ]]
    run --separate-stderr "$KTLS_RUN" -- gnutls-cli --insecure --port "$port" 127.0.0.1 </dev/null
    echo "$stderr"
    [[ "$(tail -n 1 <<<"$stderr")" == "ktls-run: no OpenSSL TLS seen (this program may use GnuTLS or a static TLS library)" ]]
    # the server's certificate is not trusted: curl exits 60
    run --separate-stderr "$KTLS_RUN" -- curl -sS "https://127.0.0.1:$port/" -o /dev/null
    echo "$stderr"
    [[ $status == 60 && "$(tail -n 1 <<<"$stderr")" == "ktls-run: no TLS connections: 1 handshake failed before the shim took over" ]]
    run --separate-stderr "$KTLS_RUN" --mode off -- curl -sS "https://127.0.0.1:$port/" -o /dev/null
    [[ $status == 60 && "$(tail -n 1 <<<"$stderr")" == "ktls-run: no TLS connections: 1 handshake failed before the shim took over" ]]
    # an SSL made, no handshake: none seen
    run --separate-stderr "$KTLS_RUN" -- python3 -c 'import ssl; ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())'
    [[ $status == 0 && "$stderr" == "ktls-run: no TLS connections seen" ]]
    kill "$pid" 2>/dev/null || true
}

@test "ktls-run: no TLS, no table: one line; exec failures say only that" {
    local none="ktls-run: no OpenSSL TLS seen (this program may use GnuTLS or a static TLS library)"
    run --separate-stderr "$KTLS_RUN" -- echo hi
    [[ $status == 0 && "$output" == hi && "$stderr" == "$none" ]]
    run --separate-stderr "$KTLS_RUN" -- false
    [[ $status == 1 && "$stderr" == "$none" ]]
    run -127 --separate-stderr "$KTLS_RUN" -- nosuchcmd
    [[ "$stderr" == "ktls-run: cannot run nosuchcmd: No such file or directory" ]]
    run -126 --separate-stderr "$KTLS_RUN" -- /etc/passwd
    [[ "$stderr" == "ktls-run: cannot run /etc/passwd: Permission denied" ]]
    # the private stats directory is gone and never named
    [[ "$stderr" != *ktls-run.* ]]
}

@test "ktls-run: the control-arm column appears with --sample only" {
    run "$KTLS_RUN" -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    echo "$output"
    [[ "$output" != *"control arm"* && "$(summary_value connections offload <<<"$output")" == 2 ]]
    run "$KTLS_RUN" --sample 0 -- bash -c "$EXCHANGE" _ "$PEER" "$BATS_TEST_TMPDIR" 100
    echo "$output"
    [[ "$output" == *"offload arm    control arm"* ]]
    [[ "$(summary_value connections control <<<"$output")" == 2 ]]
    [[ "${lines[0]}" == "ktls-run: 0 of 2 connections offloaded; control arm 2 (kept in OpenSSL)" ]]
}

@test "ktls-run: says when the command exited but left processes running (a daemon)" {
    # TMPDIR: the private directory it keeps lands where bats cleans up
    run --separate-stderr env TMPDIR="$BATS_TEST_TMPDIR" "$KTLS_RUN" -- sh -c 'sleep 30 </dev/null >/dev/null 2>&1 & echo $!'
    local daemon=$output
    kill "$daemon"
    echo "$stderr"
    [[ $status == 0 ]]
    [[ "$stderr" == *"ktls-run: sh exited but left 1 process running (pid $daemon): "* ]]
    local kept
    kept=$(sed -n 's/^ktls-run: their stats go on into \(.*\) (kept; remove it when they are done)$/\1/p' <<<"$stderr")
    [[ -d "$kept" && "$kept" == "$BATS_TEST_TMPDIR"/ktls-run.* ]]
}

@test "--version: both tools, the library's version with ktls-run's" {
    local v
    v=$(sed -n 's/^#define KTLS_SHIM_VERSION "\(.*\)"$/\1/p' "$REPO/shim/0-pure/version.h")
    [[ -n "$v" ]]
    run "$KTLS_RUN" --version
    [[ $status == 0 && "${lines[0]}" == "ktls-run (ktls-shim) $v" && "${lines[1]}" == "library: $SHIM, ktls-shim $v" ]]
    run "$KTLS_CHECK" --version
    [[ $status == 0 && "$output" == "ktls-check (ktls-shim) $v" ]]
}

# All the bad values in one exchange (a process start costs seconds in the
# guest): each knob gets its own line, and none hides another.
@test "bad knob values: one line each on stderr, safe defaults, traffic unharmed" {
    local knobs=(KTLS_SHIM=maybe KTLS_SHIM_MODE=sideways KTLS_SHIM_LOG=loud
        KTLS_SHIM_SAMPLE=1.5 KTLS_SHIM_SEED=-1 KTLS_SHIM_STATS_INTERVAL=soon
        "KTLS_SHIM_RUN_ID=a b") knob before errs
    before=$(tls_counters)
    for knob in "${knobs[@]}"; do export "${knob%%=*}=${knob#*=}"; done
    fresh_exchange "--send 50000 --expect 50000" "--send 50000 --expect 50000"
    for knob in "${knobs[@]}"; do unset "${knob%%=*}"; done
    assert_intact
    # the defaults still offload both directions on both sides
    assert_offload server 1 1
    assert_offload client 1 1
    assert_counters_rose "$before" 2 2
    errs=$(cat "$BATS_TEST_TMPDIR/server.err")
    echo "$errs"
    [[ $(grep -c . <<<"$errs") == "${#knobs[@]}" ]]
    for knob in "${knobs[@]}"; do
        [[ $(grep -cF "ktls-shim: ${knob%%=*}=\"" <<<"$errs") == 1 ]]
        grep -qE "^ktls-shim: ${knob%%=*}=\".*\" is not valid \(expected .*\); using " <<<"$errs"
    done
}

# Short connections to nginx from an unshimmed client: N GETs, each on a new
# connection (Connection: close, no session reuse), each body checked. Prints
# the number that arrived intact. One curl for all of them: a process start is
# costly in the emulated guest.
many_gets() {
    local dir want
    dir=$(mktemp -d "$BATS_TEST_TMPDIR/gets.XXXXXX")
    want=$(sha256sum <"$NGINX_DIR/html/small.bin")
    curl -sk --http1.1 --no-sessionid -H "Connection: close" \
        "https://127.0.0.1:$NGINX_PORT/small.bin?n=[1-$1]" -o "$dir/#1" || true
    sha256sum "$dir"/* 2>/dev/null | awk -v want="${want%% *}" '$1 == want {n++} END {print n + 0}'
}

nginx_with_stats() { # WORKERS
    mkdir -p "$BATS_TEST_TMPDIR/ngx/html"
    cp "$BATS_FILE_TMPDIR/cert.pem" "$BATS_FILE_TMPDIR/key.pem" "$BATS_TEST_TMPDIR/ngx/"
    head -c 20000 /dev/urandom >"$BATS_TEST_TMPDIR/ngx/html/small.bin"
    NGINX_WORKERS=$1 start_nginx "$BATS_TEST_TMPDIR/ngx"
}

@test "A/B: KTLS_SHIM_SAMPLE=0.5 over 200 connections, both arms used, offloads match the kernel" {
    requires nginx
    local before prefix="$BATS_TEST_TMPDIR/ab"
    export KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_STATS=$prefix
    nginx_with_stats 1
    unset KTLS_SHIM_SAMPLE KTLS_SHIM_STATS
    before=$(tls_counters)
    [[ "$(many_gets 200)" == 200 ]]
    stop_nginx # workers write their final numbers on the way out
    local delta on off tx rx
    delta=$(tls_delta "$before")
    on=$(stats_sum "$prefix" arms.offload.connections)
    off=$(stats_sum "$prefix" arms.control.connections)
    tx=$(stats_sum "$prefix" arms.offload.tx.kernel)
    rx=$(stats_sum "$prefix" arms.offload.rx.kernel)
    echo "offload arm $on (tx $tx rx $rx), control arm $off, kernel delta $delta"
    [[ $((on + off)) == 200 ]]
    [[ $on -gt 0 && $off -gt 0 ]]
    # 200 fair coin flips: 60..140 has probability 1 - 2e-8
    [[ $on -ge 60 && $on -le 140 ]]
    [[ "$(stats_sum "$prefix" arms.control.tx.kernel)" == 0 ]]
    [[ "$(stats_sum "$prefix" arms.control.tx.fallback.ab-control)" == "$off" ]]
    [[ "$delta" == "$tx $rx" ]]
    if have_ktls; then
        [[ $tx == "$on" && $rx == "$on" ]]
    else
        [[ $tx == 0 && "$(stats_sum "$prefix" arms.offload.tx.fallback.kernel-no-tls)" == "$on" ]]
    fi
}

@test "A/B: the same KTLS_SHIM_SEED gives the same split, another seed another one" {
    requires nginx
    local seed run counts=()
    for seed in 42 42 7; do
        export KTLS_SHIM_SEED=$seed KTLS_SHIM_SAMPLE=0.5 KTLS_SHIM_STATS="$BATS_TEST_TMPDIR/s$seed-${#counts[@]}"
        nginx_with_stats 1
        unset KTLS_SHIM_SEED KTLS_SHIM_SAMPLE KTLS_SHIM_STATS
        [[ "$(many_gets 24)" == 24 ]]
        stop_nginx
        counts+=("$(stats_sum "$BATS_TEST_TMPDIR/s$seed-${#counts[@]}" arms.offload.connections)")
    done
    echo "seed 42: ${counts[0]} ${counts[1]}, seed 7: ${counts[2]} (of 24)"
    [[ "${counts[0]}" == "${counts[1]}" ]]
    # seeds 42 and 7 split 24 connections differently (stats_arm_for is deterministic)
    [[ "${counts[0]}" != "${counts[2]}" ]]
}

@test "stats: a 2-worker nginx writes one file per worker, none clobbered, totals exact" {
    requires nginx
    local prefix="$BATS_TEST_TMPDIR/mw"
    export KTLS_SHIM_STATS=$prefix KTLS_SHIM_STATS_INTERVAL=1
    nginx_with_stats 2
    unset KTLS_SHIM_STATS KTLS_SHIM_STATS_INTERVAL
    local master workers
    workers=$(nginx_workers "$NGINX_DIR" 2 | tr '\n' ' ')
    master=$(cat "$NGINX_DIR/logs/nginx.pid")
    [[ "$(many_gets 40)" == 40 ]]
    stop_nginx
    python3 - "$prefix" "$master" "$workers" <<'PY'
import glob, json, sys
prefix, master, workers = sys.argv[1], int(sys.argv[2]), {int(w) for w in sys.argv[3].split()}
files = sorted(glob.glob(prefix + ".*.json"))
assert not glob.glob(prefix + ".*.tmp"), "a temporary file was left behind"
stats = [json.load(open(f)) for f in files]
pids = [s["pid"] for s in stats]
print("workers", sorted(workers), "files", files)
assert len(workers) == 2, workers
assert len(set(pids)) == len(pids) and set(pids) <= workers, (pids, workers)   # the master serves nothing
for f, s in zip(files, stats):
    assert f.endswith(".%d.json" % s["pid"]), f
    assert s["final"] is True and s["ppid"] == master and s["exe"].endswith("nginx"), s
total = sum(s["arms"]["offload"]["connections"] + s["arms"]["control"]["connections"] for s in stats)
assert total == 40, total
PY
}

@test "ss -tie shows tcp-ulp-tls on a socket the shim moved, and only there" {
    requires ss
    cat >"$BATS_TEST_TMPDIR/hold.py" <<'PY'
import socket, ssl, sys
# server: echo once, say which ULP its socket carries, hold until the client goes
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
l = socket.create_server(("127.0.0.1", 0))
print("PORT", l.getsockname()[1], flush=True)
c, _ = l.accept()
s = ctx.wrap_socket(c, server_side=True)
s.sendall(s.recv(100))
print("ULP", s.getsockopt(socket.IPPROTO_TCP, 31, 16).rstrip(b"\0").decode() or "none", flush=True)  # TCP_ULP
s.recv(100)
PY
    shimmed python3 "$BATS_TEST_TMPDIR/hold.py" "$BATS_FILE_TMPDIR/cert.pem" "$BATS_FILE_TMPDIR/key.pem" \
        >"$BATS_TEST_TMPDIR/hold.out" &
    local server=$! port i
    for i in $(seq 1 300); do
        port=$(awk '/^PORT /{print $2}' "$BATS_TEST_TMPDIR/hold.out")
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    # an unshimmed client: only the server's side can show the ULP
    python3 - "$port" "$BATS_TEST_TMPDIR/hold.out" >"$BATS_TEST_TMPDIR/ss.txt" <<'PY' &
import socket, ssl, subprocess, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"ping")
assert s.recv(100) == b"ping"
for _ in range(600):  # the server has looked at its socket
    if "ULP " in open(sys.argv[2]).read():
        break
    time.sleep(0.1)
print(subprocess.run(["ss", "-tieH", "state", "established", "( sport = :%s or dport = :%s )" % (sys.argv[1], sys.argv[1])],
                     capture_output=True, text=True).stdout)
s.sendall(b"bye")
PY
    wait $!
    wait "$server"
    cat "$BATS_TEST_TMPDIR/ss.txt" "$BATS_TEST_TMPDIR/hold.out"
    local server_line client_line ulp
    server_line=$(grep -A1 "127.0.0.1:$port *127.0.0.1:" "$BATS_TEST_TMPDIR/ss.txt" | tr '\n' ' ')
    client_line=$(grep -A1 "127.0.0.1:[0-9]* *127.0.0.1:$port" "$BATS_TEST_TMPDIR/ss.txt" | tr '\n' ' ')
    ulp=$(awk '/^ULP /{print $2}' "$BATS_TEST_TMPDIR/hold.out")
    [[ -n "$server_line" && -n "$client_line" ]]
    [[ "$client_line" != *tcp-ulp-tls* ]]
    if have_ktls; then
        [[ "$ulp" == tls ]]
    else
        [[ "$ulp" == none && "$server_line" != *tcp-ulp-tls* ]]
    fi
    if [[ "$server_line" != *rtt:* ]]; then
        # ss fell back to /proc/net/tcp: no sock_diag for TCP in this kernel
        # (the test guest's initramfs has no tcp_diag module); the socket's
        # own TCP_ULP above is then the evidence
        echo "# ss has no TCP sock_diag here; checked the socket's TCP_ULP ($ulp) instead" >&3
    elif have_ktls; then
        [[ "$server_line" == *"tcp-ulp-tls version: 1.3 cipher: aes-gcm-256"* ]]
    fi
}

@test "the log never writes into a descriptor the program reused for something else" {
    start_peer_server --send 10 --expect 10
    local first=$SERVER_PID first_port=$SERVER_PORT
    rm -f "$BATS_TEST_TMPDIR/server.out" # (see fresh_exchange)
    start_peer_server --send 10 --expect 10
    local out=$BATS_TEST_TMPDIR/other.txt
    # a shimmed client logs (the log file opens), closes every descriptor (as
    # a daemon does), opens another file that gets the log's number, and
    # makes a second connection: its log lines must not land in that file
    KTLS_SHIM_LOG=info KTLS_SHIM_LOG_FILE=$BATS_TEST_TMPDIR/shim.log shimmed python3 - \
        "$first_port" "$SERVER_PORT" "$out" <<'PY' 2>"$BATS_TEST_TMPDIR/client.err"
import os, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
def exchange(port):
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)))) as s:
        s.sendall(b"x" * 10)
        s.recv(10)
exchange(sys.argv[1])
os.closerange(3, 4096)
fds = [os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_APPEND)]
while len(fds) < 32:   # cover the number the log had, whatever it was
    fds.append(os.open(sys.argv[3], os.O_WRONLY | os.O_APPEND))
exchange(sys.argv[2])
PY
    wait "$first" || true
    wait_server || true
    cat "$BATS_TEST_TMPDIR/shim.log"
    echo "--- client stderr"; cat "$BATS_TEST_TMPDIR/client.err"
    grep -q "info: ktls-shim " "$BATS_TEST_TMPDIR/shim.log"
    [[ ! -s "$out" ]]
    # the second connection's lines went to stderr instead
    grep -q "info: fd=" "$BATS_TEST_TMPDIR/client.err"
}

# A program that counts the SIGTERMs it gets for SECONDS, then says how many.
sigterm_counter() { # FILE SECONDS
    cat >"$1" <<SH
#!/bin/bash
n=0
trap 'n=\$((n + 1))' TERM
echo ready
end=\$((SECONDS + \${COUNT_FOR:-$2}))
while ((SECONDS < end)); do sleep 0.1; done
echo "terms=\$n"
SH
    chmod +x "$1"
}

# timeout's delay (whole seconds) before its SIGTERM: the counter must be
# running by then (six runs start at once under strace; in the guest, beside
# the cells' guests, that took more than 6 s once), and it counts for 3 s
# longer. A counter that was not running yet is no answer: that run is made
# again with twice the delay, twice at most.
COUNTED_TIMEOUT=2 COUNTED_SECONDS=5
if [[ ${KTLS_IN_GUEST:-0} == 1 ]]; then COUNTED_TIMEOUT=6 COUNTED_SECONDS=9; fi

# run_counted HOW [ktls-run]: the counter started HOW (timeout, group,
# direct), under ktls-run or not; prints "terms=N passed=M": the SIGTERMs
# the counter counted, and (under ktls-run) how many ktls-run itself sent it,
# read from an strace of the whole run (two arriving together would be
# counted once by any program: the kernel keeps one pending)
run_counted() {
    local how=$1 wrap=() out=$BATS_TEST_TMPDIR/count.$1.${2:-plain} trace pid i
    trace=$out.trace
    [[ ${2:-} == ktls-run ]] && wrap=("$KTLS_RUN" --quiet --)
    case $how in
    timeout)
        local delay=$COUNTED_TIMEOUT try
        for try in 1 2 3; do
            COUNT_FOR=$((delay + 3)) strace -f -qq -e trace=execve,kill -o "$trace" \
                timeout -s TERM "$delay" "${wrap[@]}" "$BATS_TEST_TMPDIR/counter" >"$out" 2>/dev/null || true
            grep -q ready "$out" && break
            echo "# timeout $delay s came before the counter ran (run $try); again" >&3
            delay=$((delay * 2))
        done ;;
    group | direct)
        # its own process group, as a shell job or a service has
        setsid strace -f -qq -e trace=execve,kill -o "$trace" \
            "${wrap[@]}" "$BATS_TEST_TMPDIR/counter" >"$out" 2>/dev/null &
        pid=$!
        for ((i = 0; i < 400; i++)); do grep -q ready "$out" && break; sleep 0.05; done
        if [[ $how == group ]]; then
            kill -TERM -- "-$pid"
        else
            # ktls-run alone, or the counter alone without it (strace passes
            # it on to its tracee); the pid from this run's own trace, as
            # other runs go on beside this one
            local who=counter target=
            [[ -n ${2:-} ]] && who=ktls-run
            for ((i = 0; i < 100; i++)); do
                target=$(awk -v who="$who" '$2 ~ "^execve\\(\"[^\"]*" who "\"" {print $1; exit}' "$trace")
                [[ -n $target ]] && break
                sleep 0.05
            done
            kill -TERM "$target"
        fi
        wait "$pid" || true ;;
    esac
    local run_pid passed=0
    run_pid=$(awk '/execve\("[^"]*ktls-run"/ {print $1; exit}' "$trace")
    [[ -z $run_pid ]] || passed=$(grep -cE "^$run_pid +kill\([1-9][0-9]*, SIGTERM\)" "$trace" || true)
    echo "$(grep -o 'terms=[0-9]*' "$out" || echo "terms=?") passed=$passed"
}

# ktls-run passes a signal on only where the command did not get it already:
# a process-group signal (timeout, kill -TERM -PGID, the terminal's ^C,
# systemd's default KillMode) reaches the command itself, and a second
# SIGTERM is "force quit" to many programs.
@test "ktls-run: SIGTERM from timeout, to the process group, or to ktls-run alone reaches the command once, never more often than without ktls-run" {
    requires strace setsid
    sigterm_counter "$BATS_TEST_TMPDIR/counter" "$COUNTED_SECONDS"
    local how plain wrapped
    # the six runs side by side: each one waits 3 s for its signals
    for how in timeout group direct; do
        run_counted "$how" >"$BATS_TEST_TMPDIR/plain.$how" &
        run_counted "$how" ktls-run >"$BATS_TEST_TMPDIR/wrapped.$how" &
    done
    wait
    for how in timeout group direct; do
        plain=$(cat "$BATS_TEST_TMPDIR/plain.$how")
        wrapped=$(cat "$BATS_TEST_TMPDIR/wrapped.$how")
        echo "$how: without ktls-run $plain, with it $wrapped"
        if [[ $how == timeout ]]; then
            # GNU timeout signals its child and then its own process group:
            # a counter that is timeout's child can count both when its
            # handler runs between the two kill()s (strace's stops make
            # that likelier); under ktls-run only the group's one reaches it
            [[ $plain == "terms=1 passed=0" || $plain == "terms=2 passed=0" ]]
        else
            [[ $plain == "terms=1 passed=0" ]]
        fi
        if [[ $how == direct ]]; then
            [[ $wrapped == "terms=1 passed=1" ]]
        else
            [[ $wrapped == "terms=1 passed=0" ]]
        fi
    done
}

# A command that dies of a signal: ktls-run dies of it too, after its
# summary, so a shell (or Python's subprocess) sees a signal death, not an
# exit status of 128 + N; and its private directory is gone.
@test "ktls-run: a command killed by a signal leaves ktls-run killed by the same signal, nothing left behind" {
    local tmp=$BATS_TEST_TMPDIR/tmp codes
    mkdir "$tmp"
    codes=$(TMPDIR=$tmp python3 - "$KTLS_RUN" <<'PY'
import signal, subprocess, sys
# a suite started in the background by a shell without job control inherits
# SIGINT ignored, and a shell that ignores it is not killed by it
signal.signal(signal.SIGINT, signal.SIG_DFL)
plain = subprocess.run(["sh", "-c", "kill -INT $$"]).returncode
wrapped = subprocess.run([sys.argv[1], "--quiet", "--", "sh", "-c", "kill -INT $$"]).returncode
print(plain, wrapped)
PY
)
    echo "return codes (negative: killed by that signal): $codes"
    [[ $codes == "-2 -2" ]]
    [[ -z $(ls -A "$tmp") ]]
    # a closed stderr changes neither the status nor what is left behind
    local rc
    rc=$(TMPDIR=$tmp bash -c '"$0" -- sh -c "echo a; sleep 0.3; exit 7" 2>&1 | head -n 1 >/dev/null; echo "${PIPESTATUS[0]}"' "$KTLS_RUN")
    [[ $rc == 7 ]]
    [[ -z $(ls -A "$tmp") ]]
}

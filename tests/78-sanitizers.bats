#!/usr/bin/env bats
# The shim itself under AddressSanitizer + UBSan (build/asan/, `make asan`)
# on the kernel paths: offloaded exchanges, tampering, KeyUpdate, sendfile;
# and under valgrind memcheck for an openssl s_server / s_client exchange.
# Zero sanitizer reports, zero memcheck errors, zero definite leaks.
#
# An LD_PRELOADed ASan library needs the ASan runtime loaded first, so
# LD_PRELOAD is "libasan.so:build/asan/libktls-shim.so". Leak checking stays
# on (detect_leaks=1): the programs free what they allocate, and a leaked
# per-connection state or key buffer of the shim would show up here.

load helpers
load mitm

ASAN_SHIM="$REPO/build/asan/libktls-shim.so"

setup_file() {
    make_ec_cert "$BATS_FILE_TMPDIR"
}

setup() {
    requires cc
    [[ -f "$ASAN_SHIM" ]] || { echo "build/asan missing: make asan"; return 1; }
    ASAN_RT=$(cc -print-file-name=libasan.so)
    [[ -f "$ASAN_RT" ]]
}

# Every "shimmed" run in this file gets the sanitized library.
shimmed() {
    LD_PRELOAD="$ASAN_RT:$ASAN_SHIM" ASAN_OPTIONS=detect_leaks=1:exitcode=86:abort_on_error=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$@"
}

# No sanitizer report in the given stderr files, and no exit status 86.
assert_clean() {
    local f
    for f in "$@"; do
        if grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$f"; then
            echo "--- sanitizer report in $f"; cat "$f"; return 1
        fi
    done
    [[ "$SUBJ_RC" != 86 && "$PEER_RC" != 86 ]]
}

# Both ends run the sanitized shim and send BYTES each way; no report, bytes
# intact. Sets SERVER_RESULT, CLIENT_RESULT.
sanitized_exchange() { # VARIANT BYTES [ARGS FOR BOTH ENDS...]
    local v=$1 n=$2
    shift 2
    start_ec_server shimmed $(ec_variant "$v") --expect "$n" --send "$n" "$@"
    local spid=$EC_SERVER_PID
    CLIENT_RESULT=$(shimmed "$PEER" client --port "$EC_SERVER_PORT" $(ec_variant "$v") \
        --send "$n" --expect "$n" "$@" 2>"$BATS_TEST_TMPDIR/cli.err" | grep '^RESULT ')
    SUBJ_RC=0 PEER_RC=0
    wait "$spid" || SUBJ_RC=$?
    SERVER_RESULT=$(grep '^RESULT ' "$BATS_TEST_TMPDIR/srv.out")
    echo "$v server: $SERVER_RESULT"
    echo "$v client: $CLIENT_RESULT"
    assert_clean "$BATS_TEST_TMPDIR/srv.err" "$BATS_TEST_TMPDIR/cli.err"
    assert_intact
}

@test "ASan+UBSan shim: 13_chacha and 12_aes128 exchanges, both sides offloaded, no report" {
    local v
    for v in 13_chacha 12_aes128; do
        sanitized_exchange "$v" 100000
        assert_offload server 1 1
        assert_offload client 1 1
    done
}

# SSL_dup makes its copy through SSL_new (where the shim attaches state) and
# then copies ex_data over it: the copy's state must survive (no leak) and
# keep the message callback the application set on the original.
@test "ASan+UBSan shim: 100 chained SSL_dup copies leak nothing, keep the app's message callback, still offload" {
    sanitized_exchange 13_aes256 50000 --dup 100
    [[ "$(field msgcb_calls "$SERVER_RESULT")" -gt 5 && "$(field msgcb_calls "$CLIENT_RESULT")" -gt 5 ]]
    assert_offload server 1 1
    assert_offload client 1 1
}

# The fd map hands connections to lookups (sendfile, BIO_get_ktls_send) while
# other threads free them: a lookup must never hold freed memory.
@test "ASan+UBSan shim: 8x8 threads freeing and reusing while another looks up every descriptor, no report" {
    run shimmed "$REPO/build/tls_threads" threads --threads 8 --conns 6 --bytes 16384 --tls 1.3 --probe
    echo "$output"
    SUBJ_RC=$status PEER_RC=0
    [[ $status == 0 && "$output" == *"THREADS ok=48 failed=0"* ]]
    ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$output" || false
}

@test "ASan+UBSan shim: tampered record, truncation and a KeyUpdate end cleanly, no report" {
    mitm_run client 1 13_aes256 "--expect 16384 --send 65536" "--send 16384 --expect 65536" --dir s2c --action flip
    assert_clean "$BATS_TEST_TMPDIR/srv.err" "$BATS_TEST_TMPDIR/cli.err"
    [[ "$(field error "$SUBJ_RESULT")" == read:ssl:1:* ]]
    [[ "$(ssl_reason "$SUBJ_RESULT")" == "$SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC" ]]
    mitm_run server 1 12_chacha "--expect 65536 --send 16384" "--send 65536 --expect 16384" --dir c2s --action cut-mid
    assert_clean "$BATS_TEST_TMPDIR/srv.err" "$BATS_TEST_TMPDIR/cli.err"
    [[ "$(field error "$SUBJ_RESULT")" == read:ssl:1:* ]]
    [[ "$(ssl_reason "$SUBJ_RESULT")" == "$SSL_R_UNEXPECTED_EOF_WHILE_READING" ]]
    mitm_run server 1 13_chacha "--expect 65536 --send 100" "--send 65536 --expect 100 --key-update-after 32768" --action none
    assert_clean "$BATS_TEST_TMPDIR/srv.err" "$BATS_TEST_TMPDIR/cli.err"
    if have_ktls; then
        [[ "$(field error "$SUBJ_RESULT")" == read:ssl:1:* ]]
        [[ "$(ssl_reason "$SUBJ_RESULT")" == "$SSL_R_UNEXPECTED_MESSAGE" ]]
    else
        [[ "$(field error "$SUBJ_RESULT")" == none ]]
    fi
}

@test "ASan+UBSan shim: sendfile_check (kernel or emulated sendfile, fd reuse), no report" {
    local v
    for v in 1.3 1.2; do
        run shimmed "$REPO/build/sendfile_check" "$v"
        echo "$output"
        [[ $status == 0 && "$output" == *PASS* ]]
        ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$output" || false
    done
}

@test "valgrind memcheck: shimmed openssl s_server -WWW and s_client, zero errors, zero definite leaks" {
    requires valgrind openssl
    local d=$BATS_TEST_TMPDIR port
    head -c 30000 /dev/urandom | base64 >"$d/page.txt"
    port=$(free_port)
    local vg=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
              --errors-for-leak-kinds=definite)
    (cd "$d" && LD_PRELOAD="$SHIM" "${vg[@]}" --log-file="$d/vg-server.log" openssl s_server \
        -accept "127.0.0.1:$port" -naccept 1 -cert "$BATS_FILE_TMPDIR/ec.pem" \
        -key "$BATS_FILE_TMPDIR/ec.key" -WWW >"$d/server.out" 2>&1) &
    local spid=$! crc=0 src=0
    for _ in $(seq 1 1200); do grep -q ACCEPT "$d/server.out" 2>/dev/null && break; sleep 0.1; done
    printf 'GET /page.txt HTTP/1.0\r\n\r\n' | LD_PRELOAD="$SHIM" "${vg[@]}" --log-file="$d/vg-client.log" \
        openssl s_client -connect "127.0.0.1:$port" -quiet -ign_eof >"$d/client.out" 2>"$d/client.err" || crc=$?
    wait "$spid" || src=$?
    echo "client rc=$crc server rc=$src"
    cat "$d/vg-server.log" "$d/vg-client.log"
    [[ $crc == 0 && $src == 0 ]]
    [[ ! -s "$d/vg-server.log" && ! -s "$d/vg-client.log" ]]
    # the page arrived intact
    [[ "$(sed '1,/^\r$/d' "$d/client.out" | sha256sum)" == "$(sha256sum <"$d/page.txt")" ]]
}

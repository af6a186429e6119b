#!/usr/bin/env bats
# Real programs under a seeded plan, with and without the shim
# (tests/torture/programs.sh): nginx, openssl s_server/s_client, curl
# (direct and through an HTTPS proxy), CPython (ssl sockets, asyncio,
# subprocess, signals), stunnel and socat (both roles), Apache httpd
# (mod_ssl, event MPM), HAProxy (TLS termination), GnuTLS peers
# (gnutls-cli with its KeyUpdates where the kernel can rekey, gnutls-serv),
# Redis (redis-server and redis-cli) and PostgreSQL 15 (the server, psql).
# What a user could observe must be the same: bytes each way, exits,
# errors, how connections end, the servers' logs. In the guest every
# shimmed run must have moved the kernel's TLS counters. A fixed seed of
# every scenario, then one drawn seed, printed.

load helpers

offload_flag() {
    if have_ktls; then echo --require-offload; fi
}

# every scenario runs (a program missing is a skip, a failure where skips are)
all_programs() {
    requires nginx openssl curl python3 stunnel4 socat haproxy apache2 gnutls-cli gnutls-serv redis-server redis-cli psql
    # (the server's programs are not on PATH: Debian's layout)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || skip "requires postgresql (the server)"
}

@test "programs: a fixed seed and a drawn seed of every scenario agree with and without the shim" {
    all_programs
    KTLS_TEST_SHIM=$SHIM run "$REPO/tests/torture/programs.sh" --small --first 1 --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 ]]
    [[ "${lines[-1]}" == "programs: 10 scenarios, 0 divergences" ]]
    drawn=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    echo "# programs drawn seed: $drawn" >&3
    KTLS_TEST_SHIM=$SHIM run "$REPO/tests/torture/programs.sh" --small --first "$drawn" --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "programs: 10 scenarios, 0 divergences" ]]
}

# A bug the torture found stays found: its seed, with the plan --small
# draws from it, diverged with the shim before the fix (6.1 guest, each
# checked against the shim before its fix):
# - relay 804847581: stunnel (client role) took a read hangup with FIONREAD
#   0 as the end of the stream and lost the rest of a record the kernel had
#   decrypted (the ioctl hook, kio_unread_decrypted);
# - relay 2933036283: stunnel reset its TLS socket after a garbage record,
#   its info callback never told of the fatal alert the kernel sent (tell.c);
# - nginx 30932825: nginx's lingering close met the client's close_notify
#   as EIO from its plain recv() after SSL_shutdown, and logged an [alert]
#   (kio_read_after_ssl);
# - haproxy and apache 1932273833 (a truncated record, then FIN): the shim
#   took the EOF as a socket BIO would, where OpenSSL 3 asks the program's
#   own BIO (HAProxy's never says BIO_eof: SSL_ERROR_SYSCALL, and a 400 with
#   close_notify, not a decode_error alert; mod_ssl's read returns -1, which
#   SSL_read hands back, and mod_ssl logs AH01992).
@test "programs: the seeds of the bugs the torture found give no divergence" {
    requires stunnel4 socat nginx haproxy apache2
    KTLS_TEST_SHIM=$SHIM run "$REPO/tests/torture/programs.sh" --program haproxy --program apache --small --first 1932273833 --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "programs: 2 scenarios, 0 divergences" ]]
    KTLS_TEST_SHIM=$SHIM run "$REPO/tests/torture/programs.sh" --program nginx --small --first 30932825 --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "programs: 1 scenarios, 0 divergences" ]]
    KTLS_TEST_SHIM=$SHIM run "$REPO/tests/torture/programs.sh" --program relay --small --first 804847581 --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "programs: 1 scenarios, 0 divergences" ]]
    KTLS_TEST_SHIM=$SHIM run "$REPO/tests/torture/programs.sh" --program relay --small --first 2933036283 --seeds 1 $(offload_flag)
    echo "$output"
    [[ $status == 0 && "${lines[-1]}" == "programs: 1 scenarios, 0 divergences" ]]
}

# The harness itself: a preload that flips one bit of the 3rd SSL_read_ex a
# program makes must be reported as a divergence with a replay line.
@test "programs.sh reports a planted divergence with its seed and a replay" {
    host_only && return 0
    read_ex_fault "$BATS_TEST_TMPDIR/fault.so" <<'C'
    int rc = real(s, buf, num, got);
    if (rc == 1 && *got > 0 && ++calls == 3)
        ((unsigned char *)buf)[0] ^= 1;
    return rc;
C
    # seed 1's plan moves 2 MiB down: many reads
    KTLS_TEST_SHIM=$BATS_TEST_TMPDIR/fault.so run "$REPO/tests/torture/programs.sh" --program python --first 1 --seeds 1
    echo "$output"
    [[ $status == 1 ]]
    [[ "${lines[-1]}" == "programs: 1 scenarios, 1 divergences" ]]
    grep -q '^!! torture: divergence: program python seed 1: observations differ' <<<"$output"
    grep -qx '!! replay: tests/torture/programs.sh --program python --first 1 --seeds 1' <<<"$output"
}

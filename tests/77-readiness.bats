#!/usr/bin/env bats
# An event loop must not spin on a record that has arrived only in part.
# The peer sends each record in two TCP segments with a pause; the subject is
# a non-blocking OpenSSL server in a poll() loop. OpenSSL takes the first
# half into its buffer, so poll() then waits: one wakeup without data per
# record. With the kernel reading, TCP's queue holds the half and poll() says
# readable (on 6.1 POLLIN needs only SO_RCVLOWAT bytes queued, 1 by default)
# while the kernel's TLS, which hands over whole records only, says EAGAIN:
# without care the loop wakes again and again until the rest arrives
# (stunnel's loop watchdog reset such a connection).

load helpers

# half RECORD_VERSION: 3 records of 4000 bytes, each split after 1000 bytes
# with a 300 ms pause. Sets OUT.
half() {
    run "$@" "$REPO/build/half_record" --tls "$TLS" --bytes 4000 --split 1000 --pause-ms 300 --rounds 3
    echo "$output"
    [[ $status == 0 && "$(field intact "$output")" == 1 ]]
    OUT=$output
}

@test "OpenSSL alone (reference): one wakeup without data per half-arrived record" {
    TLS=1.3 half env
    [[ "$(field max_idle_wakeups "$OUT")" -le 1 ]]
}

@test "13: kernel RX, a record in two segments with a pause: no spinning (a few wakeups at most), bytes intact" {
    TLS=1.3 half shimmed
    if have_ktls; then [[ "$(field ktls_rx "$OUT")" == 1 ]]; fi
    [[ "$(field max_idle_wakeups "$OUT")" -le 3 ]]
}

@test "12: kernel RX, a record in two segments with a pause: no spinning (a few wakeups at most), bytes intact" {
    TLS=1.2 half shimmed
    if have_ktls; then [[ "$(field ktls_rx "$OUT")" == 1 ]]; fi
    [[ "$(field max_idle_wakeups "$OUT")" -le 3 ]]
}

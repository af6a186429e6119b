/* Per-process counters for operators: connections per A/B arm, where each
 * direction went (kernel, or the fallback reason), bytes through the kernel
 * and through OpenSSL. Written as one JSON object per process to
 * KTLS_SHIM_STATS.<pid>.json at exit, on SIGTERM/SIGINT where the program left
 * them at their default, and at most every KTLS_SHIM_STATS_INTERVAL seconds
 * from handshake/teardown points only, never from the data path, and never
 * while a lock of the data path is held. Writing takes no lock and calls only
 * async-signal-safe functions, so the signal handler can do it too. */
#ifndef KTLS_SHIM_STATS_H
#define KTLS_SHIM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_sample.h"
#include "stats_format.h"

/* ---- the process's counters ---- */

int stats_on(void);                     /* KTLS_SHIM_STATS is set */
int stats_pick_arm(void);               /* the arm of the next connection */
void stats_connection(int arm);
/* A handshake finished while the shim is off (KTLS_SHIM_MODE=off,
 * KTLS_SHIM=0): no state, no arm, only this count, so a baseline run tells
 * how many TLS connections it passed through. */
void stats_passed_through(void);
/* An SSL was made (SSL_new): a process that used OpenSSL for TLS leaves a
 * file even with no connection, so ktls-run can tell it from one that
 * never did (GnuTLS, a static TLS library). */
void stats_ssl_made(void);
/* A handshake ended in an error (SSL_ERROR_SSL/SYSCALL) before the shim could
 * take the connection: counted, so "no connections" can say why. */
void stats_handshake_failed(void);
/* One direction of a connection found its owner: FB_NONE the kernel, else
 * the reason it stays in OpenSSL. Lock-free, a fixed table by reason. */
void stats_direction(int arm, int tx, enum fallback_reason why);
void stats_outcome(int arm, int tx_kernel, int rx_kernel);
void stats_add_bytes_slow(int arm, enum stats_bytes kind, uint64_t n);
void stats_event(int arm, enum stats_event ev);
/* Writes the file if KTLS_SHIM_STATS_INTERVAL has passed since the last write. */
void stats_tick(void);

/* SIGTERM/SIGINT, caught for the final file where the program left them at
 * SIG_DFL (stats.c). The entry layer keeps that handler out of the
 * program's sight: */
struct sigaction;
/* 1 once the shim's handler was put on sig in this process. Cheap. */
int stats_signal_caught(int sig);
/* What to install where the program asks for SIG_DFL on a caught signal. */
void stats_signal_disposition(struct sigaction *sa);
/* sa is the shim's handler (to be shown to the program as SIG_DFL). */
int stats_signal_is_ours(const struct sigaction *sa);
/* The counters now, as the next file would show them. */
void stats_read(struct stats_snapshot *s);

static inline void stats_add_bytes(int arm, enum stats_bytes kind, uint64_t n)
{
    if (n && stats_on())
        stats_add_bytes_slow(arm, kind, n);
}

#endif

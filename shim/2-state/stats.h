/* Per-process counters for operators: connections per A/B arm, where each
 * direction went (kernel, or the fallback reason), bytes through the kernel
 * and through OpenSSL. Counting is lock-free and the snapshot calls only
 * async-signal-safe functions, so the signal-time flush (stats_publish.h)
 * can read them. What starts a process's stats is stats_process.h. */
#ifndef KTLS_SHIM_STATS_H
#define KTLS_SHIM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_sample.h"
#include "stats_format.h"

struct shim_config;

/* Fixed per process, worked out where it is safe to (not in a handler):
 * stats_process.c owns and draws them; a snapshot states most of them. */
struct stats_process {
    const struct shim_config *cfg;
    long long started_unix;
    uint64_t arm_seed;
    char exe[512];
    char sample[32];
    char token[17]; /* makes this process's temporary file name unguessable */
};

int stats_on(void); /* KTLS_SHIM_STATS is set */
/* arm is stats_pick_arm()'s, which began the process's stats. */
void stats_connection(int arm);
/* Counts kept per process, outside the arms (stats_process.h says when). */
enum stats_in_process {
    /* A handshake finished while the shim is off (KTLS_SHIM_MODE=off,
     * KTLS_SHIM=0): no state, no arm, only this count, so a baseline run
     * tells how many TLS connections it passed through. */
    STATS_PASSED_THROUGH = 0,
    /* An SSL was made (SSL_new): a process that used OpenSSL for TLS leaves
     * a file even with no connection, so ktls-run can tell it from one that
     * never did (GnuTLS, a static TLS library). */
    STATS_SSL_OBJECTS,
    /* A handshake ended in an error (SSL_ERROR_SSL/SYSCALL) before the shim
     * could take the connection: counted, so "no connections" can say why. */
    STATS_HANDSHAKE_FAILURES,
    STATS_IN_PROCESS
};
void stats_count_in_process(enum stats_in_process what);
/* One direction of a connection found its owner: FB_NONE the kernel, else
 * the reason it stays in OpenSSL. Lock-free, a fixed table by reason. */
void stats_direction(int arm, int tx, enum fallback_reason why);
void stats_outcome(int arm, int tx_kernel, int rx_kernel);
void stats_count_bytes(int arm, enum stats_bytes kind, uint64_t n);
void stats_event(int arm, enum stats_event ev);
/* 1 once a connection or a per-process count was counted: the process then
 * has a file to write. */
int stats_any_counted(void);
/* The counters now, with what p says of the process: what the file shows.
 * final and sig as the file states them. Async-signal-safe. */
void stats_snapshot(struct stats_snapshot *s, const struct stats_process *p, int final, int sig);
/* A forked child counts from zero. */
void stats_reset(void);

#endif

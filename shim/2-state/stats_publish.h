/* The stats file: the counters (stats.h) written as one JSON object per
 * process to KTLS_SHIM_STATS.<pid>.json at exit, on SIGTERM/SIGINT where the
 * program left them at their default, and at most every
 * KTLS_SHIM_STATS_INTERVAL seconds from handshake/teardown points only, never
 * from the data path, and never while a lock of the data path is held.
 * Writing takes no lock and calls only async-signal-safe functions, so the
 * signal handler can do it too. */
#ifndef KTLS_SHIM_STATS_PUBLISH_H
#define KTLS_SHIM_STATS_PUBLISH_H

#include <stdint.h>

#include "stats.h"

/* The process's stats began (stats_process.c): p names its file, and
 * SIGTERM/SIGINT left at SIG_DFL are caught for the final one. */
void stats_publish_begin(const struct stats_process *p);
/* A forked child writes a file of its own, from scratch. */
void stats_publish_reset(void);

void stats_add_bytes_slow(int arm, enum stats_bytes kind, uint64_t n);
static inline void stats_add_bytes(int arm, enum stats_bytes kind, uint64_t n)
{
    if (n && stats_on())
        stats_add_bytes_slow(arm, kind, n);
}
/* Writes the file if KTLS_SHIM_STATS_INTERVAL has passed since the last write. */
void stats_tick(void);

/* SIGTERM/SIGINT, caught for the final file where the program left them at
 * SIG_DFL (stats_publish.c). The entry layer keeps that handler out of the
 * program's sight: */
struct sigaction;
/* 1 once the shim's handler was put on sig in this process. Cheap. */
int stats_signal_caught(int sig);
/* What to install where the program asks for SIG_DFL on a caught signal. */
void stats_signal_disposition(struct sigaction *sa);
/* sa is the shim's handler (to be shown to the program as SIG_DFL). */
int stats_signal_is_ours(const struct sigaction *sa);

#endif

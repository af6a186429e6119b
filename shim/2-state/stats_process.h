/* A process's stats begin with its first TLS event (a connection's arm
 * drawn, an SSL made, a handshake passed through or failed): its values
 * (stats.h's struct stats_process) are fixed then, its file arranged for
 * (stats_publish.h), and a forked child begins again as a process of its
 * own. The calls below are those events; each begins the stats if they
 * have not begun. */
#ifndef KTLS_SHIM_STATS_PROCESS_H
#define KTLS_SHIM_STATS_PROCESS_H

#include "stats.h"

/* the arm of the next connection (ab_draw.h) */
int stats_pick_arm(void);
/* the per-process counts of enum stats_in_process */
void stats_passed_through(void);
void stats_ssl_made(void);
void stats_handshake_failed(void);
/* The counters now, as the next file would show them. */
void stats_read(struct stats_snapshot *s);

#endif

/* What TLS I/O costs each A/B arm in CPU: for a random share of the I/O
 * calls of decided connections (KTLS_SHIM_CPU_SAMPLE), the calling thread's
 * CPU time (user and system: OpenSSL's encryption and its write(), or the
 * kernel's) and the bytes the call moved. Per arm and direction the process
 * keeps the sampled calls' totals as they come, and, when a connection ends,
 * that connection's sampled totals as one unit (count, sums, squares and
 * products): connections are what the A/B draw assigns, so they are the
 * units an interval must count, and the sums add up across processes. The
 * handshakes of sampled connections too, added to their arm once decided. */
#ifndef KTLS_SHIM_CPU_SAMPLE_H
#define KTLS_SHIM_CPU_SAMPLE_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "stats_format.h"

/* one connection's sampled calls in one direction, in process pid (a
 * connection a forked child carries on starts again there: its parent's
 * calls are in the parent's file) */
struct cpu_conn_dir {
    uint64_t calls, bytes, ns;
    int pid;
};

/* 0 while nothing is sampled (stats off, KTLS_SHIM_CPU_SAMPLE=0, or before
 * the first connection); else the threshold a per-thread 64-bit draw must be
 * under. */
extern _Atomic uint64_t cpu_sample_threshold;
void cpu_sample_init(double fraction);
/* A forked child starts from zero. */
void cpu_sample_reset(void);

struct cpu_mark {
    struct timespec t0;
};
int cpu_sample_draw(struct cpu_mark *m);
/* 1 when this call is sampled (its start taken in *m). One relaxed load
 * when sampling is off. */
static inline int cpu_sample_start(struct cpu_mark *m)
{
    if (__builtin_expect(atomic_load_explicit(&cpu_sample_threshold, memory_order_relaxed) == 0, 1))
        return 0;
    return cpu_sample_draw(m);
}
/* A mark now, drawn or not (a sampled connection's later handshake calls);
 * 0 while sampling is off. */
int cpu_sample_mark(struct cpu_mark *m);
/* This thread's CPU nanoseconds since the mark; keeps errno. */
uint64_t cpu_sample_elapsed(const struct cpu_mark *m);
/* A sampled call of a connection in arm: into the arm's running totals and
 * the connection's own (conn). */
void cpu_sample_add(int arm, int dir, uint64_t ns, uint64_t bytes, struct cpu_conn_dir *conn);
/* The connection ended: its totals (both directions) as one unit each. */
void cpu_sample_connection_end(int arm, const struct cpu_conn_dir conn[2]);
void cpu_sample_add_handshake(int arm, uint64_t ns);
/* Per arm (STATS_ARMS of them), as the next stats file shows them. */
void cpu_sample_read(struct cpu_counts *arms, int narms);

#endif

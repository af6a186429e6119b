/* ktls-run's view of a run: the shim's per-process stats files of that run
 * (PREFIX.<pid>.json carrying its run id), summed, and the summary an
 * operator reads first. */
#ifndef KTLS_RUN_STATS_H
#define KTLS_RUN_STATS_H

#include <stdio.h>

#define RUN_MAX_LEAVES 512
#define RUN_MAX_PROCS 256

struct run_process {
    long pid;
    char exe[128];
    int final, signal, alive;
    long long updated_unix;
};

struct run_totals {
    char path[RUN_MAX_LEAVES][128]; /* "offload.tx.kernel", ... */
    unsigned long long sum[RUN_MAX_LEAVES];
    int n;
    struct run_process procs[RUN_MAX_PROCS];
    int nprocs;
    unsigned long long passed_through; /* handshakes while the shim was off */
    unsigned long long ssl_objects;    /* SSLs made (a process used OpenSSL's TLS) */
    unsigned long long handshake_failures;
    int unreadable; /* named like a stats file but not one */
    int foreign;    /* another run's (or nobody's) file */
};

struct run_kernel_delta {
    int have;       /* /proc/net/tls_stat exists */
    long long tx_sw, rx_sw, decrypt_errors;
};

struct run_summary {
    const char *stats_shown;    /* the prefix to name (kept files), or NULL */
    int control_column;         /* an A/B split was asked for */
    struct run_kernel_delta kernel;
    const char *root_only_dir;  /* the stats directory, when only root may write there */
    int private_dir;            /* ktls-run's own directory: a foreign file there is news */
    int headline_only;          /* --quiet */
};

/* Reads every PREFIX.<digits>.json of run_id; files are opened without
 * following links and must be regular. */
void run_stats_read(struct run_totals *t, const char *prefix, const char *run_id);
unsigned long long run_total(const struct run_totals *t, const char *path);
/* The headline, then (with TLS connections) the table's non-zero rows and
 * the kernel's counters; only the headline with headline_only. */
void run_summary_print(FILE *to, const struct run_totals *t, const struct run_summary *s);

#endif

/* The shim's per-process stats files (NAME.<pid>.json), summed, and the
 * summary an operator reads first: ktls-run's view of its own run (the files
 * carrying its run id), ktls-stats' of whatever files it is given. */
#ifndef KTLS_RUN_STATS_H
#define KTLS_RUN_STATS_H

#include <stdio.h>

#define RUN_MAX_LEAVES 512
#define RUN_MAX_PROCS 256
#define RUN_MAX_RUNS 8
#define RUN_MAX_FILES 65536

struct run_process {
    long pid;
    char exe[128];
    int final, signal, alive;
    long long updated_unix;
};

struct run_totals {
    char path[RUN_MAX_LEAVES][128]; /* "offload.tx.kernel", ... */
    unsigned long long sum[RUN_MAX_LEAVES];
    double fsum[RUN_MAX_LEAVES];    /* the same, as doubles: sums of squares pass 2^64 */
    int n;
    struct run_process procs[RUN_MAX_PROCS];
    int nprocs;
    unsigned long long passed_through; /* handshakes while the shim was off */
    unsigned long long ssl_objects;    /* SSLs made (a process used OpenSSL's TLS) */
    unsigned long long handshake_failures;
    int unreadable; /* named like a stats file but not one */
    int foreign;    /* another run's (or nobody's) file */
    int files;      /* stats files summed */
    int not_final;  /* processes without final stats (procs[] keeps RUN_MAX_PROCS) */
    int nruns;      /* run ids among the files summed ("" for none), first RUN_MAX_RUNS */
    char runs[RUN_MAX_RUNS][80];
    int more_runs;
    long long first_started, last_updated;
    int nseen; /* each file once, however it was named */
    struct {
        unsigned long long dev, ino;
    } seen[RUN_MAX_FILES];
};

struct run_kernel_delta {
    int have;       /* /proc/net/tls_stat exists */
    int absolute;   /* the counters now, not their growth over a run */
    long long tx_sw, rx_sw, decrypt_errors;
};

struct run_summary {
    const char *tool;           /* each line's "NAME: " (ktls-run when NULL) */
    const char *stats_shown;    /* the prefix to name (kept files), or NULL */
    int control_column;         /* an A/B split was asked for */
    struct run_kernel_delta kernel;
    const char *root_only_dir;  /* the stats directory, when only root may write there */
    int private_dir;            /* ktls-run's own directory: a foreign file there is news */
    int headline_only;          /* --quiet */
    int kernel_not_asked;       /* no line about the kernel's counters */
};

/* Reads every PREFIX.<digits>.json of run_id; files are opened without
 * following links and must be regular. */
void run_stats_read(struct run_totals *t, const char *prefix, const char *run_id);
/* Every NAME.<digits>.json in dir, any NAME (not following links); run_id
 * NULL takes every run. The number of files so named, or -1 with errno. */
int run_stats_read_dir(struct run_totals *t, const char *dir, const char *run_id);
/* One file, named by the user (a link is followed): 0 summed (or already
 * read), 1 another run's, -1 with errno (EINVAL: not a stats file). */
int run_stats_read_file(struct run_totals *t, const char *path, const char *run_id);
unsigned long long run_total(const struct run_totals *t, const char *path);
double run_total_f(const struct run_totals *t, const char *path);
/* The headline, then (with TLS connections) the table's non-zero rows and
 * the kernel's counters; only the headline with headline_only. */
void run_summary_print(FILE *to, const struct run_totals *t, const struct run_summary *s);

#endif

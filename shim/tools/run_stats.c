#include "run_stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cpu_verdict.h"
#include "json_flat.h"

/* ---- reading ---- */

struct file_leaves {
    char run[80], exe[128];
    long pid;
    unsigned long long passed_through, ssl_objects, handshake_failures;
    int final, signal, bad;
    long long started, updated;
    char path[RUN_MAX_LEAVES][128];
    unsigned long long value[RUN_MAX_LEAVES];
    double fvalue[RUN_MAX_LEAVES];
    int n;
};

static void collect_leaf(const char *path, enum json_kind kind, const char *value, void *arg)
{
    struct file_leaves *f = arg;
    if (!strcmp(path, "run") && kind == JSON_STRING)
        snprintf(f->run, sizeof(f->run), "%s", value);
    else if (!strcmp(path, "exe") && kind == JSON_STRING)
        snprintf(f->exe, sizeof(f->exe), "%s", value);
    else if (!strcmp(path, "pid") && kind == JSON_NUMBER)
        f->pid = strtol(value, NULL, 10);
    else if (!strcmp(path, "passed_through") && kind == JSON_NUMBER)
        f->passed_through = strtoull(value, NULL, 10);
    else if (!strcmp(path, "ssl_objects") && kind == JSON_NUMBER)
        f->ssl_objects = strtoull(value, NULL, 10);
    else if (!strcmp(path, "handshake_failures") && kind == JSON_NUMBER)
        f->handshake_failures = strtoull(value, NULL, 10);
    else if (!strcmp(path, "signal") && kind == JSON_NUMBER)
        f->signal = (int)strtol(value, NULL, 10);
    else if (!strcmp(path, "started_unix") && kind == JSON_NUMBER)
        f->started = strtoll(value, NULL, 10);
    else if (!strcmp(path, "updated_unix") && kind == JSON_NUMBER)
        f->updated = strtoll(value, NULL, 10);
    else if (!strcmp(path, "final"))
        f->final = kind == JSON_TRUE;
    else if (!strncmp(path, "arms.", 5) && kind == JSON_NUMBER && value[strspn(value, "0123456789")])
        f->bad = 1; /* counts are whole numbers, never negative */
    else if (!strncmp(path, "arms.", 5) && kind == JSON_NUMBER && f->n < RUN_MAX_LEAVES) {
        snprintf(f->path[f->n], sizeof(f->path[0]), "%s", path + 5);
        f->fvalue[f->n] = strtod(value, NULL);
        f->value[f->n++] = strtoull(value, NULL, 10);
    }
}

static void add_total(struct run_totals *t, const char *path, unsigned long long v, double fv)
{
    int i;
    for (i = 0; i < t->n; i++)
        if (!strcmp(t->path[i], path))
            break;
    if (i == t->n) {
        if (t->n == RUN_MAX_LEAVES)
            return;
        snprintf(t->path[t->n++], sizeof(t->path[0]), "%s", path);
        t->sum[i] = 0;
        t->fsum[i] = 0;
    }
    t->sum[i] += v;
    t->fsum[i] += fv;
}

double run_total_f(const struct run_totals *t, const char *path)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->path[i], path))
            return t->fsum[i];
    return 0;
}

unsigned long long run_total(const struct run_totals *t, const char *path)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->path[i], path))
            return t->sum[i];
    return 0;
}

/* NAME.<digits>.json, NAME not empty; with base, NAME is base */
static int is_stats_name(const char *name, const char *base)
{
    size_t n = strlen(name);
    if (n < 7 || strcmp(name + n - 5, ".json"))
        return 0;
    size_t digits = 0;
    while (digits < n - 5 && name[n - 6 - digits] >= '0' && name[n - 6 - digits] <= '9')
        digits++;
    if (!digits || digits >= n - 6 || name[n - 6 - digits] != '.')
        return 0;
    size_t blen = n - 6 - digits;
    return !base || (strlen(base) == blen && !strncmp(name, base, blen));
}

/* A regular file's text (a link followed only when asked: others may write
 * to a stats directory); 0 with errno when not. Its identity in *sx. */
static size_t read_regular(const char *path, int follow, char *text, size_t cap, struct statx *sx)
{
    int fd = open(path, O_RDONLY | (follow ? 0 : O_NOFOLLOW) | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    int err = 0;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO, sx) != 0)
        err = errno;
    else if (!S_ISREG(sx->stx_mode))
        err = S_ISDIR(sx->stx_mode) ? EISDIR : EINVAL;
    else {
        ssize_t n;
        while (len < cap && (n = read(fd, text + len, cap - len)) > 0)
            len += (size_t)n;
        if (!len)
            err = EINVAL; /* empty, or a write under way */
    }
    close(fd);
    errno = err;
    return err ? 0 : len;
}

/* The process that wrote a file is running when its pid is there and was
 * started no later than the shim in it was (a pid used again later belongs
 * to a younger process; 10 s for clock steps since boot) and runs the same program where that can be read.
 * A file from another pid namespace or host can still match by chance. */
static int process_alive(long pid, long long started_unix, const char *exe)
{
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *after_comm = strrchr(buf, ')');
    unsigned long long start_ticks = 0;
    /* field 22, starttime; after ") " come fields 3.. */
    if (after_comm && sscanf(after_comm + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                                             "%*d %*d %llu", &start_ticks) == 1) {
        long long boot = 0;
        FILE *st = fopen("/proc/stat", "re");
        char line[256];
        while (st && fgets(line, sizeof(line), st))
            if (sscanf(line, "btime %lld", &boot) == 1)
                break;
        if (st)
            fclose(st);
        long hz = sysconf(_SC_CLK_TCK);
        if (boot > 0 && hz > 0 && started_unix > 0 && boot + (long long)(start_ticks / (unsigned long)hz) > started_unix + 10)
            return 0;
    }
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%ld/exe", pid);
    ssize_t len = readlink(link, target, sizeof(target) - 1);
    if (len > 0 && exe[0]) {
        target[len] = 0;
        if (strcmp(target, exe))
            return 0;
    }
    return 1;
}

static void note_run(struct run_totals *t, const char *run)
{
    for (int i = 0; i < t->nruns; i++)
        if (!strcmp(t->runs[i], run))
            return;
    if (t->nruns == RUN_MAX_RUNS) {
        t->more_runs = 1;
        return;
    }
    snprintf(t->runs[t->nruns++], sizeof(t->runs[0]), "%s", run);
}

/* 0 summed (or seen before), 1 another run's, -1 with errno */
static int add_file(struct run_totals *t, const char *path, int follow, const char *run_id)
{
    static struct file_leaves f;
    static char text[65536];
    struct statx sx;
    size_t len = read_regular(path, follow, text, sizeof(text), &sx);
    if (!len)
        return -1;
    for (int i = 0; i < t->nseen; i++)
        if (t->seen[i].dev == makedev(sx.stx_dev_major, sx.stx_dev_minor) && t->seen[i].ino == sx.stx_ino)
            return 0;
    if (t->nseen < RUN_MAX_FILES) {
        t->seen[t->nseen].dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        t->seen[t->nseen++].ino = sx.stx_ino;
    }
    memset(&f, 0, sizeof(f));
    if (json_flatten(text, len, collect_leaf, &f) != 0 || f.pid <= 0 || !f.n || f.bad) {
        errno = EINVAL;
        return -1;
    }
    if (run_id && strcmp(f.run, run_id) != 0)
        return 1;
    t->files++;
    note_run(t, f.run);
    if (!t->first_started || (f.started && f.started < t->first_started))
        t->first_started = f.started;
    if (f.updated > t->last_updated)
        t->last_updated = f.updated;
    if (!f.final)
        t->not_final++;
    if (t->nprocs < RUN_MAX_PROCS) {
        struct run_process *p = &t->procs[t->nprocs++];
        p->pid = f.pid;
        snprintf(p->exe, sizeof(p->exe), "%s", f.exe);
        p->final = f.final;
        p->signal = f.signal;
        p->updated_unix = f.updated;
        p->alive = !f.final && process_alive(f.pid, f.started, f.exe);
    }
    t->passed_through += f.passed_through;
    t->ssl_objects += f.ssl_objects;
    t->handshake_failures += f.handshake_failures;
    for (int i = 0; i < f.n; i++)
        add_total(t, f.path[i], f.value[i], f.fvalue[i]);
    return 0;
}

static int read_dir(struct run_totals *t, const char *dir, const char *base, const char *run_id)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int named = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_stats_name(e->d_name, base))
            continue;
        named++;
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        int r = add_file(t, path, 0, run_id);
        if (r < 0)
            t->unreadable++;
        else if (r > 0)
            t->foreign++; /* an earlier run under the same prefix, or a stranger's */
    }
    closedir(d);
    return named;
}

void run_stats_read(struct run_totals *t, const char *prefix, const char *run_id)
{
    char dir_buf[PATH_MAX], base_buf[PATH_MAX];
    snprintf(dir_buf, sizeof(dir_buf), "%s", prefix);
    snprintf(base_buf, sizeof(base_buf), "%s", prefix);
    (void)read_dir(t, dirname(dir_buf), basename(base_buf), run_id);
}

int run_stats_read_dir(struct run_totals *t, const char *dir, const char *run_id)
{
    return read_dir(t, dir, NULL, run_id);
}

int run_stats_read_file(struct run_totals *t, const char *path, const char *run_id)
{
    return add_file(t, path, 1, run_id);
}

/* ---- the summary ---- */

static const char *short_name(const char *exe)
{
    const char *slash = strrchr(exe, '/');
    return slash ? slash + 1 : exe[0] ? exe : "?";
}

static void clock_of(long long unix_time, char *out, size_t cap)
{
    time_t when = (time_t)unix_time;
    struct tm tm;
    if (!localtime_r(&when, &tm) || !strftime(out, cap, "%H:%M:%S", &tm))
        snprintf(out, cap, "%lld", unix_time);
}

/* The offload arm's fallback reasons, most frequent first: "kernel-no-tls" or
 * "custom-bio 3, kernel-no-tls 2" (count: connections, the larger of TX/RX). */
static int reasons_line(const struct run_totals *t, char *out, size_t cap, int *ask_check)
{
    struct {
        const char *key;
        unsigned long long n;
    } r[64];
    int nr = 0;
    for (int i = 0; i < t->n; i++) {
        const char *p = t->path[i];
        if (strncmp(p, "offload.tx.fallback.", 20) && strncmp(p, "offload.rx.fallback.", 20))
            continue;
        const char *key = p + 20;
        int j;
        for (j = 0; j < nr && strcmp(r[j].key, key); j++)
            ;
        if (j == nr) {
            if (nr == 64)
                continue;
            r[nr].key = key;
            r[nr++].n = 0;
        }
        if (t->sum[i] > r[j].n)
            r[j].n = t->sum[i];
    }
    for (int a = 1; a < nr; a++) /* a handful: insertion sort */
        for (int b = a; b > 0 && r[b].n > r[b - 1].n; b--) {
            __typeof__(r[0]) tmp = r[b];
            r[b] = r[b - 1];
            r[b - 1] = tmp;
        }
    size_t len = 0;
    out[0] = 0;
    for (int j = 0; j < nr && len < cap; j++) {
        if (nr == 1)
            len += (size_t)snprintf(out + len, cap - len, "%s", r[j].key);
        else
            len += (size_t)snprintf(out + len, cap - len, "%s%s %llu", j ? ", " : "", r[j].key, r[j].n);
        if (!strcmp(r[j].key, "kernel-no-tls") || !strncmp(r[j].key, "setsockopt-", 11))
            *ask_check = 1;
    }
    return nr;
}

static void headline(FILE *to, const char *tool, const struct run_totals *t)
{
    unsigned long long on = run_total(t, "offload.connections"), off = run_total(t, "control.connections");
    unsigned long long both = run_total(t, "offload.outcome.both"), tx = run_total(t, "offload.outcome.tx_only"),
                       rx = run_total(t, "offload.outcome.rx_only");
    unsigned long long moved = both + tx + rx;
    char reasons[512];
    int ask_check = 0, nreasons = reasons_line(t, reasons, sizeof(reasons), &ask_check);
    fprintf(to, "%s: %llu of %llu connection%s offloaded", tool, moved, on + off, on + off == 1 ? "" : "s");
    if (moved && (tx || rx)) {
        fprintf(to, " (both directions %llu", both);
        if (tx)
            fprintf(to, ", only TX %llu", tx);
        if (rx)
            fprintf(to, ", only RX %llu", rx);
        fprintf(to, ")");
    }
    if (nreasons)
        fprintf(to, "%s%s", moved ? "; in OpenSSL: " : ": ", reasons);
    if (off)
        fprintf(to, "; control arm %llu (kept in OpenSSL)", off);
    if (ask_check)
        fprintf(to, " (run ktls-check)");
    else if (nreasons)
        fprintf(to, " (reasons: ktls-shim(7))");
    fprintf(to, "\n");
}

/* Processes without final stats: a line each for the first few (a service's
 * directory can hold hundreds of files), then how many more. */
#define NOTES_SHOWN 8

static void process_notes(FILE *to, const char *tool, const struct run_totals *t, const struct run_summary *s)
{
    int shown = 0;
    for (int i = 0; i < t->nprocs && shown < NOTES_SHOWN; i++) {
        const struct run_process *p = &t->procs[i];
        if (p->final)
            continue;
        shown++;
        char when[32];
        clock_of(p->updated_unix, when, sizeof(when));
        if (p->alive)
            fprintf(to, "%s: pid %ld (%s) is still running; its numbers are from its last refresh at %s\n", tool,
                    p->pid, short_name(p->exe), when);
        else
            fprintf(to, "%s: pid %ld (%s) ended without final stats; numbers from its last refresh at %s\n", tool,
                    p->pid, short_name(p->exe), when);
    }
    if (t->not_final > shown)
        fprintf(to, "%s: %d more process%s without final stats (running, or killed)\n", tool, t->not_final - shown,
                t->not_final - shown == 1 ? "" : "es");
    if (t->unreadable)
        fprintf(to, "%s: %d stats file%s could not be read\n", tool, t->unreadable, t->unreadable == 1 ? "" : "s");
    if (t->foreign && s->private_dir)
        fprintf(to, "%s: ignored %d file%s in the stats directory that this run did not write\n", tool, t->foreign,
                t->foreign == 1 ? "" : "s");
}

static const char *const table_rows[][2] = {
    {"connections", "connections"},
    {"TX moved to the kernel", "tx.kernel"},
    {"RX moved to the kernel", "rx.kernel"},
    {"both directions in the kernel", "outcome.both"},
    {"only TX in the kernel", "outcome.tx_only"},
    {"only RX in the kernel", "outcome.rx_only"},
    {"neither (all in OpenSSL)", "outcome.none"},
    {"bytes sent via kernel", "bytes.kernel_tx"},
    {"bytes sent via kernel sendfile", "bytes.kernel_sendfile"},
    {"bytes received via kernel", "bytes.kernel_rx"},
    {"bytes sent via OpenSSL", "bytes.openssl_tx"},
    {"bytes received via OpenSSL", "bytes.openssl_rx"},
    {"bytes sendfile emulated", "bytes.emulated_sendfile"},
    {"TLS 1.3 KeyUpdates sent (TX rekeyed)", "events.rekey_tx"},
    {"TLS 1.3 KeyUpdates followed (RX)", "events.rekey_rx"},
    {"ended: KeyUpdate, kernel can't rekey", "events.keyupdate-unsupported-kernel"},
    {"ended: the kernel refused a rekey", "events.rekey_failed"},
    {"ended: a storm of KeyUpdates", "events.keyupdate-storm"},
};

/* The table's rows with a number other than 0 in an arm (connections always),
 * labels padded to the longest shown, fallbacks under them in the same
 * columns. */
static void table(FILE *to, const struct run_totals *t, int control)
{
    const size_t nrows = sizeof(table_rows) / sizeof(table_rows[0]);
    unsigned long long v[sizeof(table_rows) / sizeof(table_rows[0])][2];
    int width = 0;
    for (size_t r = 0; r < nrows; r++) {
        char a[128], b[128];
        snprintf(a, sizeof(a), "offload.%s", table_rows[r][1]);
        snprintf(b, sizeof(b), "control.%s", table_rows[r][1]);
        v[r][0] = run_total(t, a);
        v[r][1] = run_total(t, b);
        if ((r == 0 || v[r][0] || v[r][1]) && (int)strlen(table_rows[r][0]) > width)
            width = (int)strlen(table_rows[r][0]);
    }
    for (int i = 0; i < t->n; i++) { /* "TX reason" under the labels */
        const char *dot = strchr(t->path[i], '.');
        if (dot && (!strncmp(dot + 1, "tx.fallback.", 12) || !strncmp(dot + 1, "rx.fallback.", 12))
            && (int)strlen(dot + 13) + (control ? 13 : 5) > width)
            width = (int)strlen(dot + 13) + (control ? 13 : 5);
    }
    if (control)
        fprintf(to, "  %-*s %14s %14s\n", width, "", "offload arm", "control arm");
    for (size_t r = 0; r < nrows; r++) {
        if (r && !v[r][0] && !v[r][1])
            continue;
        if (control)
            fprintf(to, "  %-*s %14llu %14llu\n", width, table_rows[r][0], v[r][0], v[r][1]);
        else
            fprintf(to, "  %-*s %14llu\n", width, table_rows[r][0], v[r][0]);
    }
    int any = 0;
    for (int i = 0; i < t->n; i++) {
        const char *p = t->path[i], *dot = strchr(p, '.');
        if (!dot || (strncmp(dot + 1, "tx.fallback.", 12) && strncmp(dot + 1, "rx.fallback.", 12)))
            continue;
        if (!any++)
            fprintf(to, control ? "  fallbacks (arm, direction, reason):\n" : "  fallbacks (direction, reason):\n");
        const char *dir = dot[1] == 't' ? "TX" : "RX";
        if (control && !strncmp(p, "offload.", 8))
            fprintf(to, "    %-7s %s %-*s %14llu\n", "offload", dir, width - 13, dot + 13, t->sum[i]);
        else if (control)
            fprintf(to, "    %-7s %s %-*s %14s %14llu\n", "control", dir, width - 13, dot + 13, "", t->sum[i]);
        else
            fprintf(to, "    %s %-*s %14llu\n", dir, width - 5, dot + 13, t->sum[i]);
    }
}

/* the ended connections' sums of one arm and direction */
static void sums_of(const struct run_totals *t, const char *arm, const char *dir, struct cpu_sums *s)
{
    static const char *const field[] = {"conns", "conn_calls", "conn_ns", "conn_bytes", "conn_ns_sq",
                                        "conn_bytes_sq", "conn_ns_bytes"};
    double *v[] = {&s->n, &s->calls, &s->x, &s->y, &s->xx, &s->yy, &s->xy};
    for (int i = 0; i < 7; i++) {
        char path[96];
        snprintf(path, sizeof(path), "%s.cpu.%s.%s", arm, dir, field[i]);
        *v[i] = run_total_f(t, path);
    }
}

/* every sampled call so far, ended connections or not: ns per byte, calls */
static int running(const struct run_totals *t, const char *arm, const char *dir, double *per_byte, double *calls)
{
    char path[96];
    snprintf(path, sizeof(path), "%s.cpu.%s.calls", arm, dir);
    *calls = run_total_f(t, path);
    snprintf(path, sizeof(path), "%s.cpu.%s.bytes", arm, dir);
    double bytes = run_total_f(t, path);
    snprintf(path, sizeof(path), "%s.cpu.%s.ns", arm, dir);
    *per_byte = bytes > 0 ? run_total_f(t, path) / bytes : 0;
    return *calls > 0 && bytes > 0;
}

/* The sampled CPU per byte of each arm, then, with a control arm, the
 * verdict from the connections that ended: "offload (kTLS) arm: 0.41x the
 * CPU per byte sent of the control arm (OpenSSL) (95% CI 0.37-0.46), from
 * 120 + 118 connections, 1234 + 1180 sampled writes". */
static void cpu_lines(FILE *to, const char *tool, const struct run_totals *t)
{
    static const char *const dirs[2][3] = {{"tx", "sent", "writes"}, {"rx", "received", "reads"}};
    int control = run_total(t, "control.connections") != 0;
    int moved = run_total(t, "offload.tx.kernel") + run_total(t, "offload.rx.kernel") != 0;
    for (int d = 0; d < 2; d++) {
        double r1, c1, r0, c0;
        int have1 = running(t, "offload", dirs[d][0], &r1, &c1), have0 = running(t, "control", dirs[d][0], &r0, &c0);
        if (!have1 && !have0)
            continue;
        fprintf(to, "%s: CPU per byte %s (sampled calls): ", tool, dirs[d][1]);
        if (have1)
            fprintf(to, "offload arm %.3g ns (%.0f %s)", r1, c1, dirs[d][2]);
        if (have1 && control)
            fprintf(to, ", ");
        if (control && have0)
            fprintf(to, "control arm %.3g ns (%.0f %s)", r0, c0, dirs[d][2]);
        else if (control)
            fprintf(to, "control arm none sampled");
        fprintf(to, "\n");
        if (!control)
            continue;
        struct cpu_sums off, ctl;
        sums_of(t, "offload", dirs[d][0], &off);
        sums_of(t, "control", dirs[d][0], &ctl);
        struct cpu_ratio cmp;
        cpu_compare(&off, &ctl, &cmp);
        const char *who = moved ? "offload (kTLS) arm" : "offload arm (nothing moved to the kernel)";
        if (cmp.enough)
            fprintf(to,
                    "%s: %s: %.2fx the CPU per byte %s of the control arm (OpenSSL) (95%% CI %.2f-%.2f), from "
                    "%.0f + %.0f connections, %.0f + %.0f sampled %s\n",
                    tool, who, cmp.ratio, dirs[d][1], cmp.lo, cmp.hi, off.n, ctl.n, off.calls, ctl.calls, dirs[d][2]);
        else
            fprintf(to,
                    "%s: %s vs the control arm, CPU per byte %s: not enough samples yet (%.0f and %.0f connections "
                    "ended with %.0f and %.0f sampled %s; %d connections and %d calls each needed)\n",
                    tool, who, dirs[d][1], off.n, ctl.n, off.calls, ctl.calls, dirs[d][2], CPU_MIN_CONNECTIONS,
                    CPU_MIN_CALLS);
    }
}

void run_summary_print(FILE *to, const struct run_totals *t, const struct run_summary *s)
{
    const char *tool = s->tool ? s->tool : "ktls-run";
    unsigned long long connections = run_total(t, "offload.connections") + run_total(t, "control.connections");
    if (!connections && t->passed_through) {
        fprintf(to, "%s: shim off (mode off): %llu TLS connection%s passed through\n", tool, t->passed_through,
                t->passed_through == 1 ? "" : "s");
        if (!s->headline_only)
            process_notes(to, tool, t, s);
        return;
    }
    if (!connections) {
        /* three different cases, told apart: handshakes that failed, no
         * stats at all where workers cannot write, no OpenSSL TLS at all */
        if (t->handshake_failures)
            fprintf(to, "%s: no TLS connections: %llu handshake%s failed before the shim took over\n",
                    tool, t->handshake_failures, t->handshake_failures == 1 ? "" : "s");
        else if (t->ssl_objects)
            fprintf(to, "%s: no TLS connections seen\n", tool);
        else if (s->root_only_dir && !t->nprocs)
            fprintf(to,
                    "%s: no stats written: only root may write to %s, and a program that switches "
                    "to another user (nginx workers) cannot leave its stats there (mode 1733 lets it)\n",
                    tool, s->root_only_dir);
        else
            fprintf(to, "%s: no OpenSSL TLS seen (this program may use GnuTLS or a static TLS library)\n", tool);
        if (s->headline_only)
            return;
        process_notes(to, tool, t, s);
        return;
    }
    headline(to, tool, t);
    if (s->headline_only)
        return;
    process_notes(to, tool, t, s);
    table(to, t, s->control_column || run_total(t, "control.connections"));
    cpu_lines(to, tool, t);
    if (s->kernel.have && s->kernel.absolute)
        fprintf(to,
                "%s: kernel /proc/net/tls_stat now (this network namespace, since it was made): TlsTxSw %lld "
                "TlsRxSw %lld TlsDecryptError %lld\n",
                tool, s->kernel.tx_sw, s->kernel.rx_sw, s->kernel.decrypt_errors);
    else if (s->kernel.have)
        fprintf(to,
                "%s: kernel /proc/net/tls_stat over the run (this network namespace): TlsTxSw +%lld TlsRxSw +%lld "
                "TlsDecryptError +%lld\n",
                tool, s->kernel.tx_sw, s->kernel.rx_sw, s->kernel.decrypt_errors);
    else if (!s->kernel_not_asked)
        fprintf(to, "%s: no /proc/net/tls_stat: this kernel has no kTLS loaded\n", tool);
    if (s->stats_shown)
        fprintf(to, "%s: stats files: %s.<pid>.json\n", tool, s->stats_shown);
}

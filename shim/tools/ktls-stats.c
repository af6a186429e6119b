/* ktls-stats: the summary ktls-run prints, from the stats files a service
 * left outside ktls-run (a systemd drop-in's directory, a pod's emptyDir, a
 * kept --stats directory), or those numbers for Prometheus' node_exporter
 * textfile collector. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prom_format.h"
#include "run_stats.h"
#include "tls_stat.h"
#include "version.h"

#define TLS_STAT_FILE "/proc/net/tls_stat"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ktls-stats [options] DIR|FILE...\n"
            "  DIR                    every NAME.<pid>.json in it (the shim's KTLS_SHIM_STATS files)\n"
            "  FILE                   one stats file\n"
            "  --run ID               only the files of run ID (KTLS_SHIM_RUN_ID; \"none\": files without one)\n"
            "  --prometheus           the node_exporter textfile-collector format instead of the summary\n"
            "  --output FILE          write to FILE (replaced at once: a reader never sees half of it)\n"
            "  --tls-stat FILE|none   kernel counters from FILE (default " TLS_STAT_FILE "), or none\n"
            "  --quiet                the summary's headline only\n"
            "  --version              print the version\n"
            "Numbers are summed over the files. Exit status: 0 shown, 1 no stats files found (the\n"
            "summary says so; --prometheus still writes its zeros), 2 bad usage or a path that is not\n"
            "stats. See ktls-stats(1).\n");
}

static int bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "ktls-stats: %s%s%s (ktls-stats --help)\n", what, arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* Run ids are what KTLS_SHIM_RUN_ID takes. */
static int valid_run_id(const char *v)
{
    size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    return n && !v[n] && n <= 64;
}

/* Readers of FILE (node_exporter) see the old text or the new, never a
 * part: written beside it, then renamed over it. */
static FILE *open_output(const char *path, char *tmp, size_t cap)
{
    snprintf(tmp, cap, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return NULL;
    (void)fchmod(fd, 0644); /* whatever the umask: node_exporter runs as another user */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
    }
    return f;
}

static int close_output(FILE *f, const char *tmp, const char *path)
{
    int ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) == 0)
        return 0;
    if (ok)
        e = errno;
    unlink(tmp);
    fprintf(stderr, "ktls-stats: cannot write %s: %s\n", path, strerror(e));
    return 2;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* "ktls-stats: 12 stats files from 1 path; 3 runs summed (--run ID for one): none, a, b" */
static void provenance(FILE *to, struct run_totals *t, int from_paths)
{
    qsort(t->runs, (size_t)t->nruns, sizeof(t->runs[0]), by_name);
    fprintf(to, "ktls-stats: %d stats file%s from %d path%s", t->files, t->files == 1 ? "" : "s", from_paths,
            from_paths == 1 ? "" : "s");
    if (t->nruns > 1 || t->more_runs) {
        fprintf(to, "; %s%d runs summed (--run ID for one):", t->more_runs ? "more than " : "", t->nruns);
        for (int i = 0; i < t->nruns; i++)
            fprintf(to, "%s %s", i ? "," : "", t->runs[i][0] ? t->runs[i] : "none");
    } else if (t->nruns == 1 && t->runs[0][0])
        fprintf(to, "; run %s", t->runs[0]);
    if (t->foreign)
        fprintf(to, "; %d file%s of other runs not summed", t->foreign, t->foreign == 1 ? "" : "s");
    fprintf(to, "\n");
}

int main(int argc, char **argv)
{
    const char *run_id = NULL, *output = NULL, *tls_stat_path = TLS_STAT_FILE;
    int prometheus = 0, quiet = 0, tls_stat_named = 0, i;
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("ktls-stats %s\n", KTLS_SHIM_VERSION);
            return 0;
        }
        if (!strcmp(a, "--prometheus")) {
            prometheus = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        const char *value = NULL;
        size_t n = strcspn(a, "=");
        if (a[n] == '=')
            value = a + n + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return bad_usage("option needs a value", a);
        if (!strncmp(a, "--run", n) && n == 5) {
            if (strcmp(value, "none") && !valid_run_id(value))
                return bad_usage("--run takes 1-64 of A-Z a-z 0-9 . _ - (or none)", value);
            run_id = !strcmp(value, "none") ? "" : value;
        } else if (!strncmp(a, "--output", n) && n == 8) {
            if (!*value)
                return bad_usage("--output needs a file name", NULL);
            output = value;
        } else if (!strncmp(a, "--tls-stat", n) && n == 10) {
            if (!*value)
                return bad_usage("--tls-stat needs a file or none", NULL);
            tls_stat_path = strcmp(value, "none") ? value : NULL;
            tls_stat_named = 1;
        } else
            return bad_usage("unknown option", a);
    }
    if (i == argc)
        return bad_usage("name a stats directory or file", NULL);
    if (quiet && prometheus)
        return bad_usage("--quiet is for the summary, not --prometheus", NULL);

    static struct run_totals t;
    int rc = 0;
    for (int k = i; k < argc; k++) {
        struct statx st; /* not stat(): glibc 2.33 made that a symbol of its own */
        if (statx(AT_FDCWD, argv[k], 0, STATX_TYPE, &st) != 0) {
            fprintf(stderr, "ktls-stats: %s: %s\n", argv[k], strerror(errno));
            rc = 2;
        } else if (S_ISDIR(st.stx_mode)) {
            if (run_stats_read_dir(&t, argv[k], run_id) < 0) {
                fprintf(stderr, "ktls-stats: %s: %s\n", argv[k], strerror(errno));
                rc = 2;
            }
        } else {
            int r = run_stats_read_file(&t, argv[k], run_id);
            if (r < 0) {
                fprintf(stderr, "ktls-stats: %s: %s\n", argv[k],
                        errno == EINVAL ? "not a ktls-shim stats file" : strerror(errno));
                rc = 2;
            } else if (r > 0)
                t.foreign++;
        }
    }
    if (rc)
        return rc;

    struct tls_stat kernel;
    int have_kernel = tls_stat_path && tls_stat_read(tls_stat_path, &kernel) == 0;
    if (tls_stat_path && !have_kernel && (tls_stat_named || errno != ENOENT)) {
        fprintf(stderr, "ktls-stats: %s: %s\n", tls_stat_path,
                errno == EINVAL ? "not a tls_stat file (\"Name value\" lines)" : strerror(errno));
        return 2;
    }

    char tmp[PATH_MAX + 32];
    FILE *to = stdout;
    if (output && !(to = open_output(output, tmp, sizeof(tmp)))) {
        fprintf(stderr, "ktls-stats: cannot write %s: %s\n", output, strerror(errno));
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* ktls-stats DIR | head: a short write is an error, not a death */
    if (prometheus)
        prom_write(to, &t, have_kernel ? &kernel : NULL);
    else if (!t.files) {
        fprintf(to, "ktls-stats: no stats files (NAME.<pid>.json)");
        if (t.foreign)
            fprintf(to, " of run %s; %d of other runs", run_id[0] ? run_id : "none", t.foreign);
        if (t.unreadable)
            fprintf(to, "; %d could not be read", t.unreadable);
        fprintf(to, "\n");
    } else {
        struct run_summary s = {
            .tool = "ktls-stats",
            .control_column = run_total(&t, "control.connections") != 0,
            .headline_only = quiet,
            .kernel_not_asked = !tls_stat_path,
        };
        if (have_kernel) {
            s.kernel.have = s.kernel.absolute = 1;
            s.kernel.tx_sw = tls_stat_value(&kernel, "TlsTxSw");
            s.kernel.rx_sw = tls_stat_value(&kernel, "TlsRxSw");
            s.kernel.decrypt_errors = tls_stat_value(&kernel, "TlsDecryptError");
        }
        run_summary_print(to, &t, &s);
        if (!quiet)
            provenance(to, &t, argc - i);
    }
    if (output)
        return close_output(to, tmp, output) ? 2 : (!t.files && !prometheus);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ktls-stats: cannot write: %s\n", strerror(errno));
        return 2;
    }
    return !t.files && !prometheus;
}

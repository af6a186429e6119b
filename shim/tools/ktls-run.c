/* ktls-run: run a command with the shim preloaded and the knobs set, then
 * print what happened to its TLS connections (from the shim's per-process
 * stats files) next to the kernel's own counters. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "json_flat.h"

#define LIB_NAME "libktls-shim.so"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ktls-run [options] -- command [args...]\n"
            "  --mode both|tx|rx|off   directions to move to the kernel (KTLS_SHIM_MODE)\n"
            "  --sample P              share of connections in the offload arm, 0..1 (KTLS_SHIM_SAMPLE)\n"
            "  --seed N                reproducible A/B split (KTLS_SHIM_SEED)\n"
            "  --stats PREFIX          keep stats files PREFIX.<pid>.json (KTLS_SHIM_STATS);\n"
            "                          default: a temporary directory, removed after the summary\n"
            "  --interval S            stats refresh period in seconds (KTLS_SHIM_STATS_INTERVAL)\n"
            "  --log LEVEL             off|error|info|debug (KTLS_SHIM_LOG)\n"
            "  --log-file FILE         log destination (KTLS_SHIM_LOG_FILE)\n"
            "  --lib PATH              the shim library (default: next to ktls-run, or ../lib)\n"
            "  --quiet                 no summary\n"
            "The summary goes to stderr; the exit status is the command's.\n");
}

/* ---- options, validated by the shim's own knob parser ---- */

static const char *const opt_names[][2] = {
    {"--mode", "KTLS_SHIM_MODE"},    {"--sample", "KTLS_SHIM_SAMPLE"},
    {"--seed", "KTLS_SHIM_SEED"},    {"--stats", "KTLS_SHIM_STATS"},
    {"--interval", "KTLS_SHIM_STATS_INTERVAL"}, {"--log", "KTLS_SHIM_LOG"},
    {"--log-file", "KTLS_SHIM_LOG_FILE"},
};
#define NOPTS (sizeof(opt_names) / sizeof(opt_names[0]))
static const char *opt_values[NOPTS];

static const char *opt_lookup(const char *knob)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(knob, opt_names[i][1]) == 0)
            return opt_values[i];
    return NULL;
}

static void opt_report(const char *message)
{
    /* "ktls-shim: KNOB="v" is not valid (expected ...); using ..." -> the option */
    const char *eq = strchr(message, '=');
    const char *why = strstr(message, " is not valid");
    const char *semi = strstr(message, "; using");
    const char *knob = message + strlen("ktls-shim: ");
    const char *opt = "?";
    for (size_t i = 0; i < NOPTS && eq; i++)
        if ((size_t)(eq - knob) == strlen(opt_names[i][1]) && !strncmp(knob, opt_names[i][1], (size_t)(eq - knob)))
            opt = opt_names[i][0];
    fprintf(stderr, "ktls-run: %s %.*s%.*s\n", opt, why ? (int)(why - eq - 1) : 0, eq ? eq + 1 : "",
            semi && why ? (int)(semi - why) : 0, why ? why : "");
}

/* ---- finding the library ---- */

static int readable(const char *p)
{
    return access(p, R_OK) == 0;
}

static int find_lib(const char *given, char *out, size_t cap)
{
    if (!given)
        given = getenv("KTLS_SHIM_LIB");
    if (given && *given) {
        if (!realpath(given, out) || !readable(out))
            return 0;
        return 1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 0;
    self[n] = 0;
    const char *dir = dirname(self);
    /* build/ layout (tools beside the library), then PREFIX/bin + PREFIX/lib */
    snprintf(out, cap, "%s/%s", dir, LIB_NAME);
    if (readable(out))
        return 1;
    snprintf(out, cap, "%s/../lib/%s", dir, LIB_NAME);
    char resolved[PATH_MAX];
    if (readable(out) && realpath(out, resolved)) {
        snprintf(out, cap, "%s", resolved);
        return 1;
    }
    return 0;
}

/* LD_PRELOAD takes ':' or ' ' separated paths; keep what is there, put the
 * shim first, never twice. */
static int set_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        size_t n = strlen(lib);
        for (const char *p = old; (p = strstr(p, lib)); p += n)
            if ((p == old || p[-1] == ':' || p[-1] == ' ') && (p[n] == 0 || p[n] == ':' || p[n] == ' '))
                return 0;
        char *v = malloc(strlen(lib) + strlen(old) + 2);
        if (!v)
            return -1;
        sprintf(v, "%s:%s", lib, old);
        int r = setenv("LD_PRELOAD", v, 1);
        free(v);
        return r;
    }
    return setenv("LD_PRELOAD", lib, 1);
}

/* ---- kernel counters ---- */

struct tls_stat {
    long long tx_sw, rx_sw, decrypt_errors;
};

static void read_tls_stat(struct tls_stat *st)
{
    memset(st, 0, sizeof(*st));
    FILE *f = fopen("/proc/net/tls_stat", "r");
    if (!f)
        return;
    char name[64];
    long long v;
    while (fscanf(f, "%63s %lld", name, &v) == 2) {
        if (!strcmp(name, "TlsTxSw"))
            st->tx_sw = v;
        else if (!strcmp(name, "TlsRxSw"))
            st->rx_sw = v;
        else if (!strcmp(name, "TlsDecryptError"))
            st->decrypt_errors = v;
    }
    fclose(f);
}

/* ---- summing the stats files of this run ---- */

#define MAX_LEAVES 512
struct totals {
    char path[MAX_LEAVES][128];
    unsigned long long sum[MAX_LEAVES];
    int n;
    int processes, still_running, unreadable;
};

struct file_leaves {
    struct totals *t;
    char run[80];
    long pid;
    int final;
    char path[MAX_LEAVES][128];
    unsigned long long value[MAX_LEAVES];
    int n;
};

static void collect_leaf(const char *path, enum json_kind kind, const char *value, void *arg)
{
    struct file_leaves *f = arg;
    if (!strcmp(path, "run") && kind == JSON_STRING)
        snprintf(f->run, sizeof(f->run), "%s", value);
    else if (!strcmp(path, "pid") && kind == JSON_NUMBER)
        f->pid = strtol(value, NULL, 10);
    else if (!strcmp(path, "final"))
        f->final = kind == JSON_TRUE;
    else if (!strncmp(path, "arms.", 5) && kind == JSON_NUMBER && f->n < MAX_LEAVES) {
        snprintf(f->path[f->n], sizeof(f->path[0]), "%s", path + 5);
        f->value[f->n++] = strtoull(value, NULL, 10);
    }
}

static void add_total(struct totals *t, const char *path, unsigned long long v)
{
    int i;
    for (i = 0; i < t->n; i++)
        if (!strcmp(t->path[i], path))
            break;
    if (i == t->n) {
        if (t->n == MAX_LEAVES)
            return;
        snprintf(t->path[t->n++], sizeof(t->path[0]), "%s", path);
        t->sum[i] = 0;
    }
    t->sum[i] += v;
}

static unsigned long long total(const struct totals *t, const char *path)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->path[i], path))
            return t->sum[i];
    return 0;
}

static void read_stats(struct totals *t, const char *prefix, const char *run_id)
{
    char dir_buf[PATH_MAX], base_buf[PATH_MAX];
    snprintf(dir_buf, sizeof(dir_buf), "%s", prefix);
    snprintf(base_buf, sizeof(base_buf), "%s", prefix);
    const char *dir = dirname(dir_buf), *base = basename(base_buf);
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    static struct file_leaves f;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        size_t n = strlen(name);
        /* PREFIX.<digits>.json */
        if (n <= blen + 6 || strncmp(name, base, blen) != 0 || name[blen] != '.'
            || strcmp(name + n - 5, ".json") != 0 || strspn(name + blen + 1, "0123456789") != n - blen - 6)
            continue;
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        static char text[65536];
        size_t len = fread(text, 1, sizeof(text), fp);
        fclose(fp);
        memset(&f, 0, sizeof(f));
        if (json_flatten(text, len, collect_leaf, &f) != 0) {
            t->unreadable++;
            continue;
        }
        if (strcmp(f.run, run_id) != 0)
            continue; /* an earlier run's file under the same prefix */
        t->processes++;
        if (!f.final && f.pid > 0 && kill((pid_t)f.pid, 0) == 0)
            t->still_running++;
        for (int i = 0; i < f.n; i++)
            add_total(t, f.path[i], f.value[i]);
    }
    closedir(d);
}

static void row(const struct totals *t, const char *label, const char *leaf)
{
    char a[128], b[128];
    snprintf(a, sizeof(a), "offload.%s", leaf);
    snprintf(b, sizeof(b), "control.%s", leaf);
    fprintf(stderr, "  %-34s %14llu %14llu\n", label, total(t, a), total(t, b));
}

static void print_summary(const struct totals *t, const char *prefix, const struct tls_stat *before,
                          const struct tls_stat *after, int have_kernel_stat)
{
    fprintf(stderr, "ktls-run: %d process%s reported TLS connections (stats %s.<pid>.json)\n",
            t->processes, t->processes == 1 ? "" : "es", prefix);
    if (t->still_running)
        fprintf(stderr, "ktls-run: %d of them still running: their numbers are the last refresh\n",
                t->still_running);
    if (t->unreadable)
        fprintf(stderr, "ktls-run: %d stats file(s) could not be read\n", t->unreadable);
    fprintf(stderr, "  %-34s %14s %14s\n", "", "offload arm", "control arm");
    static const char *const rows[][2] = {
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
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
        row(t, rows[r][0], rows[r][1]);
    int any = 0;
    for (int i = 0; i < t->n; i++) {
        const char *p = t->path[i], *dot = strchr(p, '.');
        if (!dot || (strncmp(dot + 1, "tx.fallback.", 12) && strncmp(dot + 1, "rx.fallback.", 12)))
            continue;
        if (!any++)
            fprintf(stderr, "  fallbacks (arm, direction, reason):\n");
        fprintf(stderr, "    %-7.*s %s %-32s %10llu\n", (int)(dot - p), p, dot[1] == 't' ? "TX" : "RX",
                dot + 13, t->sum[i]);
    }
    if (have_kernel_stat)
        fprintf(stderr,
                "ktls-run: kernel /proc/net/tls_stat over the run (whole machine): TlsTxSw +%lld "
                "TlsRxSw +%lld TlsDecryptError +%lld\n",
                after->tx_sw - before->tx_sw, after->rx_sw - before->rx_sw,
                after->decrypt_errors - before->decrypt_errors);
    else
        fprintf(stderr, "ktls-run: no /proc/net/tls_stat: this kernel has no kTLS loaded\n");
}

static void remove_stats_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                char p[PATH_MAX * 2];
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

static pid_t child;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
}

int main(int argc, char **argv)
{
    const char *lib_opt = NULL;
    int quiet = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        const char *name = a, *val = NULL;
        char opt[32];
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof(opt)) {
            snprintf(opt, sizeof(opt), "%.*s", (int)(eq - a), a);
            name = opt;
            val = eq + 1;
        }
        int known = !strcmp(name, "--lib");
        for (size_t k = 0; k < NOPTS; k++)
            known |= !strcmp(name, opt_names[k][0]);
        if (!known) {
            if (a[0] != '-')
                break; /* the command itself, without "--" */
            fprintf(stderr, "ktls-run: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ktls-run: %s needs a value\n", a);
                return 2;
            }
            val = argv[++i];
        }
        if (!strcmp(name, "--lib"))
            lib_opt = val;
        for (size_t k = 0; k < NOPTS; k++)
            if (!strcmp(name, opt_names[k][0])) {
                if (!*val) {
                    fprintf(stderr, "ktls-run: %s needs a non-empty value\n", name);
                    return 2;
                }
                opt_values[k] = val;
            }
    }
    if (i >= argc) {
        fprintf(stderr, "ktls-run: no command given\n");
        usage(stderr);
        return 2;
    }
    struct shim_config cfg;
    if (config_parse(&cfg, opt_lookup, opt_report) != 0)
        return 2;

    char lib[PATH_MAX];
    if (!find_lib(lib_opt, lib, sizeof(lib))) {
        fprintf(stderr, "ktls-run: cannot find %s (%s); use --lib PATH or KTLS_SHIM_LIB\n", LIB_NAME,
                lib_opt ? lib_opt : "not next to ktls-run nor in ../lib");
        return 2;
    }

    /* stats: the user's prefix, or a private temporary one */
    char tmpdir[PATH_MAX] = "", prefix[PATH_MAX];
    const char *stats_opt = opt_lookup("KTLS_SHIM_STATS");
    if (!stats_opt && getenv("KTLS_SHIM_STATS") && *getenv("KTLS_SHIM_STATS"))
        stats_opt = getenv("KTLS_SHIM_STATS");
    if (stats_opt)
        snprintf(prefix, sizeof(prefix), "%s", stats_opt);
    else {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/ktls-run.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "ktls-run: cannot create a stats directory in %s: %s\n",
                    t && *t ? t : "/tmp", strerror(errno));
            return 1;
        }
        snprintf(prefix, sizeof(prefix), "%s/stats", tmpdir);
    }
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL);
    char run_id[32];
    snprintf(run_id, sizeof(run_id), "ktls-run-%016llx", (unsigned long long)rnd);

    for (size_t k = 0; k < NOPTS; k++)
        if (opt_values[k])
            setenv(opt_names[k][1], opt_values[k], 1);
    setenv("KTLS_SHIM_STATS", prefix, 1);
    setenv("KTLS_SHIM_RUN_ID", run_id, 1);
    if (set_preload(lib) != 0) {
        fprintf(stderr, "ktls-run: cannot set LD_PRELOAD: %s\n", strerror(errno));
        return 1;
    }

    struct tls_stat before, after;
    read_tls_stat(&before);
    child = fork();
    if (child < 0) {
        fprintf(stderr, "ktls-run: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        execvp(argv[i], argv + i);
        fprintf(stderr, "ktls-run: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    /* the terminal's ^C reaches the child too; forwarded signals cover kill(1) */
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
        sigaction(sigs[k], &sa, NULL);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    read_tls_stat(&after);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    if (!quiet) {
        static struct totals t;
        read_stats(&t, prefix, run_id);
        print_summary(&t, prefix, &before, &after, access("/proc/net/tls_stat", F_OK) == 0);
        if (WIFSIGNALED(status))
            fprintf(stderr, "ktls-run: %s killed by signal %d\n", argv[i], WTERMSIG(status));
    }
    if (tmpdir[0])
        remove_stats_dir(tmpdir);
    return rc;
}

/* ktls-run: run a command with the shim preloaded and the knobs set, then
 * print what happened to its TLS connections (from the shim's per-process
 * stats files) next to the kernel's own counters. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "run_stats.h"
#include "tls_stat.h"
#include "version.h"

#define LIB_NAME "libktls-shim.so"
#define LIB_MARKER "@(#)ktls-shim "

static void usage(void)
{
    printf("usage: ktls-run [options] -- command [args...]\n"
           "  --mode both|tx|rx|off   directions to move to the kernel (KTLS_SHIM_MODE)\n"
           "  --sample P              share of connections in the offload arm, 0..1 (KTLS_SHIM_SAMPLE)\n"
           "  --seed N                reproducible A/B split (KTLS_SHIM_SEED)\n"
           "  --stats PREFIX|DIR/     keep stats files PREFIX.<pid>.json, or DIR/stats.<pid>.json\n"
           "                          (KTLS_SHIM_STATS); default: a private directory, removed after\n"
           "                          the summary\n"
           "  --interval S            stats refresh period in seconds (KTLS_SHIM_STATS_INTERVAL)\n"
           "  --log LEVEL             off|error|info|debug (KTLS_SHIM_LOG)\n"
           "  --log-file FILE         log destination, appended to (KTLS_SHIM_LOG_FILE)\n"
           "  --lib PATH              the shim library (default: next to ktls-run, or ../lib)\n"
           "  --quiet                 the summary's headline only\n"
           "  --version               print the version and the library's\n"
           "The summary goes to stderr; the exit status is the command's. See ktls-run(1).\n");
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

/* The option if given, else the environment's knob (ktls-run passes it on). */
static const char *opt_or_env(const char *knob)
{
    const char *v = opt_lookup(knob);
    if (!v && (v = getenv(knob)) && !*v)
        v = NULL;
    return v;
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

/* ---- the library: found, and checked to be this project's for this machine ---- */

static int readable(const char *p)
{
    return access(p, R_OK) == 0;
}

/* 1 with the path in out and how it was named in label; 0 with *why set. */
static int find_lib(const char *given, char *out, size_t cap, char *label, size_t lcap, char *why, size_t wcap)
{
    const char *from = "--lib";
    if (!given && (given = getenv("KTLS_SHIM_LIB")) && *given)
        from = "KTLS_SHIM_LIB";
    if (given && *given) {
        snprintf(label, lcap, "%s %s", from, given);
        if (!realpath(given, out) || !readable(out)) {
            snprintf(why, wcap, "%s: %s", label, strerror(errno));
            return 0;
        }
        return 1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(why, wcap, "cannot find %s (/proc/self/exe: %s); give --lib PATH", LIB_NAME, strerror(errno));
        return 0;
    }
    self[n] = 0;
    const char *dir = dirname(self);
    /* build/ layout (tools beside the library), then PREFIX/bin + PREFIX/lib */
    snprintf(out, cap, "%s/%s", dir, LIB_NAME);
    if (readable(out)) {
        snprintf(label, lcap, "%s", out);
        return 1;
    }
    snprintf(out, cap, "%s/../lib/%s", dir, LIB_NAME);
    char resolved[PATH_MAX];
    if (readable(out) && realpath(out, resolved)) {
        snprintf(out, cap, "%s", resolved);
        snprintf(label, lcap, "%s", out);
        return 1;
    }
    snprintf(why, wcap, "cannot find %s in %s or %s/../lib; give --lib PATH or KTLS_SHIM_LIB", LIB_NAME, dir, dir);
    return 0;
}

/* e_ident class and e_machine of an ELF header, or -1 when not ELF. */
static int elf_kind(const unsigned char *h, size_t len, int *class, int *machine, int *type)
{
    if (len < sizeof(Elf64_Ehdr) || memcmp(h, ELFMAG, SELFMAG) != 0)
        return -1;
    *class = h[EI_CLASS];
    uint16_t m, t;
    memcpy(&t, h + offsetof(Elf64_Ehdr, e_type), 2);
    memcpy(&m, h + offsetof(Elf64_Ehdr, e_machine), 2); /* same offset in Elf32 */
    *machine = m;
    *type = t;
    return 0;
}

static size_t read_head(const char *path, unsigned char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, cap);
    close(fd);
    return n > 0 ? (size_t)n : 0;
}

/* A shared object for this machine that carries the shim's version marker.
 * 0 with *why set (naming the library as label), else 1 with its version. */
static int check_lib(const char *lib, const char *label, char *version, size_t vcap, char *why, size_t wcap)
{
    unsigned char mine[64], head[64];
    int class, machine, type, my_class, my_machine, my_type;
    size_t n = read_head(lib, head, sizeof(head));
    if (elf_kind(head, n, &class, &machine, &type) != 0) {
        snprintf(why, wcap, "%s: not an ELF shared library", label);
        return 0;
    }
    if (elf_kind(mine, read_head("/proc/self/exe", mine, sizeof(mine)), &my_class, &my_machine, &my_type) == 0
        && (class != my_class || machine != my_machine)) {
        snprintf(why, wcap, "%s: built for another machine (ELF class %d, machine %d; this is %d, %d)", label,
                 class, machine, my_class, my_machine);
        return 0;
    }
    if (type != ET_DYN) {
        snprintf(why, wcap, "%s: an ELF file but not a shared library", label);
        return 0;
    }
    FILE *f = fopen(lib, "rb");
    if (!f) {
        snprintf(why, wcap, "%s: %s", label, strerror(errno));
        return 0;
    }
    /* the marker: "@(#)ktls-shim VERSION\0", looked for in a sliding window */
    static char buf[65536 + 64];
    size_t keep = 0, got;
    const size_t mlen = strlen(LIB_MARKER);
    int found = 0;
    while (!found && (got = fread(buf + keep, 1, sizeof(buf) - keep - 1, f)) > 0) {
        size_t len = keep + got;
        for (size_t i = 0; i + mlen < len; i++)
            if (buf[i] == '@' && !memcmp(buf + i, LIB_MARKER, mlen)) {
                size_t v = i + mlen, end = v;
                while (end < len && buf[end] && end - v < vcap - 1)
                    end++;
                snprintf(version, vcap, "%.*s", (int)(end - v), buf + v);
                found = 1;
                break;
            }
        keep = len < 64 ? len : 64;
        memmove(buf, buf + len - keep, keep);
    }
    fclose(f);
    /* (ktls-run itself holds the marker's text with no version after it) */
    if (!found || !version[0]) {
        snprintf(why, wcap, "%s: not the ktls-shim library (no ktls-shim version marker in it)", label);
        return 0;
    }
    return 1;
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

/* ---- up-front checks of where the shim will write ---- */

/* path as the command will name it wherever it changes directory to */
static int absolute_path(const char *path, char *out, size_t cap)
{
    char cwd[PATH_MAX];
    if (path[0] == '/')
        return snprintf(out, cap, "%s", path) < (int)cap ? 0 : -1;
    if (!getcwd(cwd, sizeof(cwd)))
        return -1;
    return snprintf(out, cap, "%s/%s", cwd, path) < (int)cap ? 0 : -1;
}

static int check_log_file(const char *path)
{
    /* the shim appends to it the same way (and creates it) */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ktls-run: --log-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* root may open a kernel file for writing (/proc/version): not a log */
    struct statfs fs;
    int kernel_file = fstatfs(fd, &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC);
    close(fd);
    if (kernel_file) {
        fprintf(stderr, "ktls-run: --log-file %s: a /proc or /sys file, not a log\n", path);
        return -1;
    }
    return 0;
}

/* PREFIX's directory must exist and take new files. A PREFIX that is a
 * directory (or ends in '/') means DIR/stats. Sets *root_only when only root
 * may write there, which a program that drops privileges runs into. */
static int check_stats_prefix(const char *given, char *prefix, size_t cap, int *root_only)
{
    struct statx sx;
    size_t n = strlen(given);
    if ((n && given[n - 1] == '/') || (statx(AT_FDCWD, given, 0, STATX_TYPE, &sx) == 0 && S_ISDIR(sx.stx_mode)))
        snprintf(prefix, cap, "%s%sstats", given, n && given[n - 1] == '/' ? "" : "/");
    else
        snprintf(prefix, cap, "%s", given);
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", prefix);
    const char *dir = dirname(copy);
    if (statx(AT_FDCWD, dir, 0, STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID, &sx) != 0) {
        fprintf(stderr, "ktls-run: --stats %s: directory %s: %s\n", given, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sx.stx_mode)) {
        fprintf(stderr, "ktls-run: --stats %s: %s is not a directory\n", given, dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "ktls-run: --stats %s: cannot write to %s: %s\n", given, dir, strerror(errno));
        return -1;
    }
    *root_only = sx.stx_uid == 0 && !(sx.stx_mode & S_IWOTH) && !((sx.stx_mode & S_IWGRP) && sx.stx_gid != 0);
    return 0;
}

/* Private to the run, yet usable by the program's own privilege drops
 * (nginx workers run as nobody): mode 1733, others may create files but not
 * list the directory or remove what is not theirs; the shim creates its files
 * exclusively, never through a link, and ktls-run reads only files of this
 * run's unguessable id. */
static int make_private_dir(char *dir, size_t cap)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, cap, "%s/ktls-run.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir) || chmod(dir, 01733) != 0) {
        fprintf(stderr, "ktls-run: cannot create a stats directory in %s: %s\n", t && *t ? t : "/tmp",
                strerror(errno));
        return -1;
    }
    return 0;
}

static void remove_private_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && unlinkat(dirfd(d), e->d_name, 0) != 0
                && errno == EISDIR)
                unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
        closedir(d);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "ktls-run: could not remove %s: %s\n", dir, strerror(errno));
}

/* ---- kernel counters ---- */

static void read_tls_stat(long long *tx, long long *rx, long long *decrypt_errors)
{
    struct tls_stat st;
    if (tls_stat_read("/proc/net/tls_stat", &st) != 0)
        st.n = 0;
    *tx = tls_stat_value(&st, "TlsTxSw");
    *rx = tls_stat_value(&st, "TlsRxSw");
    *decrypt_errors = tls_stat_value(&st, "TlsDecryptError");
}

/* ---- the command's process tree ---- */

static pid_t child;

/* Signals are passed on to the command once, never twice. ktls-run's pid
 * stands for the command's: a signal sent to ktls-run alone (kill PID,
 * docker stop, systemd's KillMode=mixed) goes on to the command. A signal
 * sent to the whole process group or cgroup (the terminal's ^C, kill -TERM
 * -PGID, timeout, systemd's default KillMode=control-group) reached the
 * command already: passing it on would make a second SIGTERM, which many
 * programs take for "force quit", and Apache two graceful restarts from one
 * SIGUSR1. Which of the two it was, the kernel does not say, so a sentinel
 * process in ktls-run's group and cgroup keeps every such signal blocked and
 * pending, and ktls-run reads the sentinel's pending set (/proc): what a
 * group kill queued is there in the same kill(), whether or not the
 * sentinel has run since (on a loaded machine it may not run for a while;
 * waiting for it to report took a group signal for a direct one). A
 * cgroup's kill comes process by process, moments apart: a signal not
 * pending there within a grace time was ktls-run's alone. Once decided, the
 * sentinel is asked to clear its pending set and confirms. */
static const int passed_on[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NPASSED (sizeof(passed_on) / sizeof(passed_on[0]))
#define SENTINEL_GRACE_MS 200
static volatile sig_atomic_t arrived[NSIG];
static pid_t sentinel = -1;
static int sentinel_ack = -1, sentinel_cmd = -1; /* its confirmations; our requests */

static void note_signal(int sig)
{
    arrived[sig] = 1;
}

static void passed_on_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t k = 0; k < NPASSED; k++)
        sigaddset(set, passed_on[k]);
}

/* The sentinel: the passed-on signals blocked, never taken but on request
 * (a byte on cmd: it clears them and writes a byte on ack). It is no child
 * of ktls-run's (forked twice), so ktls-run's children are the command
 * alone; it ends when ktls-run closes cmd or dies (ktls-run kills it on the
 * way out). */
static void sentinel_loop(int ack, int cmd)
{
    sigset_t set;
    passed_on_set(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3 && devnull >= 0; fd++)
        dup2(devnull, fd); /* never holds the caller's pipes open */
    for (int fd = 3; fd < 1024; fd++)
        if (fd != ack && fd != cmd)
            close(fd);
    const struct timespec none = {0, 0};
    for (;;) {
        struct pollfd p = {.fd = cmd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            _exit(0);
        char c;
        if (!(p.revents & POLLIN) || read(cmd, &c, 1) != 1)
            _exit(0); /* ktls-run is gone */
        while (sigtimedwait(&set, NULL, &none) > 0)
            ;
        if (write(ack, &c, 1) != 1)
            _exit(0);
    }
}

static void start_sentinel(void)
{
    int acks[2], cmds[2], id[2];
    if (pipe2(acks, O_CLOEXEC) != 0)
        return;
    if (pipe2(cmds, O_CLOEXEC) != 0) {
        close(acks[0]), close(acks[1]);
        return;
    }
    if (pipe2(id, O_CLOEXEC) != 0) {
        close(acks[0]), close(acks[1]), close(cmds[0]), close(cmds[1]);
        return;
    }
    pid_t middle = fork();
    if (middle == 0) {
        signal(SIGPIPE, SIG_IGN);
        pid_t pid = fork();
        if (pid == 0) {
            close(acks[0]), close(cmds[1]), close(id[0]), close(id[1]);
            sentinel_loop(acks[1], cmds[0]);
        }
        (void)!write(id[1], &pid, sizeof(pid));
        _exit(0);
    }
    close(acks[1]), close(cmds[0]), close(id[1]);
    pid_t pid = -1;
    if (middle > 0) {
        waitpid(middle, NULL, 0);
        if (read(id[0], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
            pid = -1;
    }
    close(id[0]);
    if (pid <= 0) {
        close(acks[0]), close(cmds[1]);
        return;
    }
    sentinel = pid;
    sentinel_ack = acks[0];
    sentinel_cmd = cmds[1];
}

/* The passed-on signals queued on the sentinel (process-wide or its
 * thread's), as a mask of bit sig - 1; -1 where /proc does not say. */
static long long sentinel_pending(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)sentinel);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    unsigned long long mask = 0, v;
    int found = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "SigPnd: %llx", &v) == 1 || sscanf(line, "ShdPnd: %llx", &v) == 1) {
            mask |= v;
            found++;
        }
    fclose(f);
    return found == 2 ? (long long)(mask & 0x7fffffffffffffffULL) : -1;
}

static void sleep_ms(int ms)
{
    struct timespec t = {0, (long)ms * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* The signals that arrived since the last call: each passed on to the
 * command unless its process group got it too. */
static void pass_on_arrived(void)
{
    int want[NPASSED], n = 0;
    for (size_t k = 0; k < NPASSED; k++)
        if ((want[k] = arrived[passed_on[k]]))
            n++, arrived[passed_on[k]] = 0;
    if (!n)
        return;
    int group_got[NPASSED] = {0};
    if (sentinel > 0) {
        /* a group's kill() queued it there already; a cgroup's comes
         * moments later: looked for until all are there or the grace ends */
        for (int waited = 0;; waited += 5) {
            long long pending = sentinel_pending();
            int all = pending >= 0;
            for (size_t k = 0; k < NPASSED; k++) {
                if (!want[k])
                    continue;
                if (pending > 0 && (pending >> (passed_on[k] - 1) & 1))
                    group_got[k] = 1;
                all &= group_got[k];
            }
            if (all || pending < 0 || waited >= SENTINEL_GRACE_MS)
                break;
            sleep_ms(5);
        }
        /* cleared before the next signal is judged */
        char c = 0;
        if (write(sentinel_cmd, &c, 1) == 1) {
            struct pollfd p = {.fd = sentinel_ack, .events = POLLIN};
            while (poll(&p, 1, 5000) < 0 && errno == EINTR)
                ;
            if (p.revents & POLLIN)
                (void)!read(sentinel_ack, &c, 1);
        }
    }
    pid_t group = getpgrp();
    for (size_t k = 0; k < NPASSED; k++)
        if (want[k] && child > 0 && (!group_got[k] || getpgid(child) != group))
            kill(child, passed_on[k]);
}

/* The processes descended from this one that are still running (a server
 * that daemonized: as the subreaper, ktls-run inherits its orphans). */
static int list_descendants(pid_t *out, int cap)
{
    static pid_t pids[32768], ppids[32768];
    int n = 0, found = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 32768) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], text[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (len <= 0)
            continue;
        text[len] = 0;
        /* "pid (comm) state ppid ...": comm may hold anything, so from the last ')' */
        const char *close_paren = strrchr(text, ')');
        char state;
        int ppid;
        if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
            continue;
        pids[n] = (pid_t)atoi(e->d_name);
        ppids[n++] = (pid_t)ppid;
    }
    closedir(d);
    /* breadth first from this process */
    pid_t queue[4096];
    int head = 0, tail = 0;
    queue[tail++] = getpid();
    while (head < tail) {
        pid_t parent = queue[head++];
        for (int i = 0; i < n; i++)
            if (ppids[i] == parent && tail < 4096) {
                queue[tail++] = pids[i];
                if (found < cap)
                    out[found] = pids[i];
                found++;
            }
    }
    return found;
}

/* Runs argv with its exit status in *status; 1 when it could not be
 * executed at all (the child said why). */
static int run_command(char **argv, int *status)
{
    /* Handlers first, with the signals blocked until the command runs: one
     * that arrives in between is passed on, never lost with the command left
     * running. No SA_RESTART: waitpid() returns to pass it on. */
    sigset_t set, old;
    passed_on_set(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    struct sigaction sa, saved[NPASSED];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = note_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < NPASSED; k++)
        sigaction(passed_on[k], &sa, &saved[k]);
    start_sentinel(); /* before any descriptor it must not hold */
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        fprintf(stderr, "ktls-run: pipe: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    /* orphans of the command (a daemonizing server) become ours, so they can be named */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    child = fork();
    if (child < 0) {
        fprintf(stderr, "ktls-run: fork: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    if (child == 0) {
        close(report[0]);
        if (sentinel > 0)
            close(sentinel_ack), close(sentinel_cmd);
        for (size_t k = 0; k < NPASSED; k++)
            sigaction(passed_on[k], &saved[k], NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[0], argv);
        int err = errno;
        fprintf(stderr, "ktls-run: cannot run %s: %s\n", argv[0], strerror(err));
        (void)!write(report[1], &err, sizeof(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    close(report[1]);
    sigprocmask(SIG_SETMASK, &old, NULL);
    int err = 0;
    ssize_t got;
    while ((got = read(report[0], &err, sizeof(err))) < 0 && errno == EINTR)
        pass_on_arrived();
    close(report[0]);
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p == child) {
            *status = st;
            break;
        }
        if (p < 0 && errno == EINTR) {
            pass_on_arrived();
            continue;
        }
        if (p < 0 && errno != EINTR)
            break;
    }
    /* the pid may name another process from now on: nothing more goes to it */
    child = 0;
    if (sentinel > 0) {
        kill(sentinel, SIGKILL);
        close(sentinel_ack), close(sentinel_cmd);
        sentinel = -1;
        sentinel_ack = sentinel_cmd = -1;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ; /* orphans that already ended */
    return got == (ssize_t)sizeof(err) ? 1 : 0;
}

/* The command died of a signal: so does ktls-run, after its summary, so the
 * shell sees a signal death (a ^C stops a `while ...; do ktls-run ...; done`
 * loop) rather than an exit status of 128 + N. No core file of ktls-run's
 * own for a signal that dumps one. */
static void die_as_the_command_did(int sig)
{
    fflush(stdout);
    fflush(stderr);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
}

/* ---- main ---- */

static int print_version(const char *lib_opt)
{
    printf("ktls-run (ktls-shim) %s\n", KTLS_SHIM_VERSION);
    char lib[PATH_MAX], label[PATH_MAX + 32], why[2 * PATH_MAX + 128], version[64];
    /* exit 1 where the library is not usable: ktls-install checks a copy so */
    if (!find_lib(lib_opt, lib, sizeof(lib), label, sizeof(label), why, sizeof(why))
        || !check_lib(lib, label, version, sizeof(version), why, sizeof(why))) {
        printf("library: %s\n", why);
        return 1;
    }
    printf("library: %s, ktls-shim %s\n", lib, version);
    return 0;
}

int main(int argc, char **argv)
{
    const char *lib_opt = NULL;
    int quiet = 0, want_version = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "--version")) {
            *(a[2] == 'q' ? &quiet : &want_version) = 1;
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
            fprintf(stderr, "ktls-run: unknown option %s (see ktls-run --help)\n", a);
            return 2;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ktls-run: %s needs a value (see ktls-run --help)\n", a);
                return 2;
            }
            val = argv[++i];
        }
        if (!*val) {
            fprintf(stderr, "ktls-run: %s needs a non-empty value\n", name);
            return 2;
        }
        if (!strcmp(name, "--lib"))
            lib_opt = val;
        for (size_t k = 0; k < NOPTS; k++)
            if (!strcmp(name, opt_names[k][0]))
                opt_values[k] = val;
    }
    if (want_version)
        return print_version(lib_opt);
    if (i >= argc) {
        fprintf(stderr, "ktls-run: no command given (see ktls-run --help)\n");
        return 2;
    }
    struct shim_config cfg;
    if (config_parse(&cfg, opt_lookup, opt_report) != 0)
        return 2;

    char lib[PATH_MAX], label[PATH_MAX + 32], why[2 * PATH_MAX + 256], version[64];
    if (!find_lib(lib_opt, lib, sizeof(lib), label, sizeof(label), why, sizeof(why))
        || !check_lib(lib, label, version, sizeof(version), why, sizeof(why))) {
        fprintf(stderr, "ktls-run: %s\n", why);
        return 2;
    }
    if (strcmp(version, KTLS_SHIM_VERSION) != 0)
        fprintf(stderr, "ktls-run: note: %s is ktls-shim %s; this ktls-run is %s\n", lib, version,
                KTLS_SHIM_VERSION);
    const char *log_file = opt_or_env("KTLS_SHIM_LOG_FILE");
    char log_path[PATH_MAX];
    if (log_file && check_log_file(log_file) != 0)
        return 2;
    if (log_file && absolute_path(log_file, log_path, sizeof(log_path)) != 0) {
        fprintf(stderr, "ktls-run: --log-file %s: %s\n", log_file, strerror(errno ? errno : ENAMETOOLONG));
        return 2;
    }

    /* stats: the user's prefix, or a private directory */
    char tmpdir[PATH_MAX] = "", prefix[PATH_MAX];
    int root_only = 0;
    const char *stats_opt = opt_or_env("KTLS_SHIM_STATS");
    if (stats_opt) {
        char given[PATH_MAX];
        if (check_stats_prefix(stats_opt, given, sizeof(given), &root_only) != 0)
            return 2;
        if (absolute_path(given, prefix, sizeof(prefix)) != 0) {
            fprintf(stderr, "ktls-run: --stats %s: %s\n", stats_opt, strerror(errno ? errno : ENAMETOOLONG));
            return 2;
        }
    } else {
        if (make_private_dir(tmpdir, sizeof(tmpdir)) != 0)
            return 1;
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
    /* absolute, so a command that changes directory writes where it was asked */
    setenv("KTLS_SHIM_STATS", prefix, 1);
    if (log_file)
        setenv("KTLS_SHIM_LOG_FILE", log_path, 1);
    setenv("KTLS_SHIM_RUN_ID", run_id, 1);
    if (set_preload(lib) != 0) {
        fprintf(stderr, "ktls-run: cannot set LD_PRELOAD: %s\n", strerror(errno));
        return 1;
    }

    struct run_kernel_delta kernel = {0};
    long long tx0, rx0, de0;
    read_tls_stat(&tx0, &rx0, &de0);
    int status = 0, not_run = run_command(argv + i, &status);
    if (not_run < 0)
        return 1;
    read_tls_stat(&kernel.tx_sw, &kernel.rx_sw, &kernel.decrypt_errors);
    kernel.tx_sw -= tx0;
    kernel.rx_sw -= rx0;
    kernel.decrypt_errors -= de0;
    kernel.have = access("/proc/net/tls_stat", F_OK) == 0;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* a closed stderr (ktls-run ... 2>&1 | head -1) must not cut the
     * cleanup short nor change the exit status */
    signal(SIGPIPE, SIG_IGN);

    pid_t left[8];
    int nleft = not_run ? 0 : list_descendants(left, 8);
    if (!not_run) {
        static struct run_totals t;
        run_stats_read(&t, prefix, run_id);
        char stats_dir[PATH_MAX];
        snprintf(stats_dir, sizeof(stats_dir), "%s", prefix);
        struct run_summary s = {
            .stats_shown = tmpdir[0] ? NULL : prefix,
            .control_column = opt_or_env("KTLS_SHIM_SAMPLE") != NULL,
            .kernel = kernel,
            .root_only_dir = root_only && geteuid() == 0 ? dirname(stats_dir) : NULL,
            .private_dir = tmpdir[0] != 0,
            .headline_only = quiet,
        };
        run_summary_print(stderr, &t, &s);
        if (WIFSIGNALED(status))
            fprintf(stderr, "ktls-run: %s killed by signal %d\n", argv[i], WTERMSIG(status));
    }
    if (nleft) {
        fprintf(stderr, "ktls-run: %s exited but left %d process%s running (pid", argv[i], nleft,
                nleft == 1 ? "" : "es");
        for (int k = 0; k < nleft && k < 8; k++)
            fprintf(stderr, "%s %d", k ? "," : "", (int)left[k]);
        fprintf(stderr, "%s): this summary ends with the command, not with them; run a server in the "
                        "foreground (e.g. nginx -g 'daemon off;') to count all of its connections\n",
                nleft > 8 ? ", ..." : "");
        if (tmpdir[0])
            fprintf(stderr, "ktls-run: their stats go on into %s (kept; remove it when they are done)\n", tmpdir);
    } else if (tmpdir[0])
        remove_private_dir(tmpdir);
    if (!not_run && WIFSIGNALED(status))
        die_as_the_command_did(WTERMSIG(status));
    return rc;
}

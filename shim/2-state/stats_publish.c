#include "stats_publish.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "libc.h"
#include "log.h"

/* The process's values (stats_process.c), set once its stats began: the
 * file's name and what the snapshot states. */
static _Atomic(const struct stats_process *) proc;
static atomic_llong last_flush = -1000000; /* monotonic seconds */

/* The thread writing the file right now (0: none). One writer at a time,
 * without a lock a signal handler could deadlock on. */
static atomic_int writer_tid;
static atomic_int failure_said;

static int current_tid(void)
{
    return (int)syscall(SYS_gettid);
}

/* NULL before the process's stats began: nothing to write yet. */
static const struct stats_process *process(void)
{
    return atomic_load_explicit(&proc, memory_order_acquire);
}

/* ---- writing the file: async-signal-safe from here to flush_in_handler ---- */

/* Waits (up to 0.2 s) for another thread's write; never for its own thread,
 * which a signal may have interrupted mid-write. */
static int begin_write(int wait)
{
    int me = current_tid();
    for (int tries = 0;; tries++) {
        int busy = 0;
        if (atomic_compare_exchange_strong(&writer_tid, &busy, me))
            return 1;
        if (!wait || busy == me || tries >= 100)
            return 0;
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
}

static void end_write(void)
{
    atomic_store(&writer_tid, 0);
}

/* PREFIX.<pid>.json, written as PREFIX.<pid>.<token>.tmp and renamed, so a
 * reader never sees half a file. The temporary is created exclusively and
 * never through a symlink: in a directory others may write to (ktls-run's is
 * 1733) nobody can plant it in advance. Returns 0 or an errno; *file is the
 * file's name (for a message). Only the writer (begin_write) calls this. */
static int write_file(const struct stats_process *p, int final, int sig, const char **file)
{
    static char json[16384], path[4096], tmp[4096 + 64];
    static struct stats_snapshot snap;
    stats_snapshot(&snap, p, final, sig);
    size_t len = stats_render(&snap, json, sizeof(json));
    size_t plen = 0, tlen = 0;
    const char *prefix = p->cfg->stats_prefix;
    *file = path;
    if (!stats_append(path, sizeof(path), &plen, prefix) || !stats_append(path, sizeof(path), &plen, ".")
        || !stats_append_u64(path, sizeof(path), &plen, (unsigned long long)snap.pid)
        || !stats_append(path, sizeof(path), &plen, ".json"))
        return ENAMETOOLONG;
    if (!len)
        return EOVERFLOW;
    if (!stats_append(tmp, sizeof(tmp), &tlen, prefix) || !stats_append(tmp, sizeof(tmp), &tlen, ".")
        || !stats_append_u64(tmp, sizeof(tmp), &tlen, (unsigned long long)snap.pid)
        || !stats_append(tmp, sizeof(tmp), &tlen, ".") || !stats_append(tmp, sizeof(tmp), &tlen, p->token)
        || !stats_append(tmp, sizeof(tmp), &tlen, ".tmp"))
        return ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    size_t off = 0;
    int err = 0;
    while (off < len) {
        ssize_t n = libc()->write(fd, json + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        off += (size_t)n;
    }
    /* libc's close: the shim's own close() hook is an interposer above us */
    if (libc()->close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    return err;
}

static void say_failure(const char *path, int err)
{
    if (atomic_exchange(&failure_said, 1))
        return;
    LOG_ERROR("cannot write stats file %s: %s (KTLS_SHIM_STATS; said once per process)", path,
              strerror(err));
}

static void flush(int final)
{
    const struct stats_process *p = process();
    if (!p || !stats_any_counted() || !stats_on())
        return;
    int saved = errno;
    if (begin_write(final)) {
        const char *file;
        int err = write_file(p, final, 0, &file);
        if (err) {
            char copy[4200];
            snprintf(copy, sizeof(copy), "%s", file);
            end_write();
            say_failure(copy, err);
        } else
            end_write();
    }
    errno = saved;
}

void stats_tick(void)
{
    if (!stats_on())
        return;
    int interval = config_get()->stats_interval;
    if (interval == 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    long long now = (long long)ts.tv_sec;
    long long last = atomic_load_explicit(&last_flush, memory_order_relaxed);
    if (now - last < interval)
        return;
    if (!atomic_compare_exchange_strong(&last_flush, &last, now))
        return; /* another thread took this turn */
    flush(0);
}

void stats_add_bytes_slow(int arm, enum stats_bytes kind, uint64_t n)
{
    stats_count_bytes(arm, kind, n);
    /* a long-lived connection's numbers refresh on the interval too: a
     * coarse clock read here, no thread, no timer signal in the program */
    stats_tick();
}

/* nginx workers and most servers leave through exit(): the final numbers. */
__attribute__((destructor)) static void stats_at_exit(void)
{
    flush(1);
}

/* ---- SIGTERM / SIGINT left at their default ----
 * A process killed by them runs no destructor, and its file would keep the
 * last refresh. Where the program left the disposition at SIG_DFL when its
 * first TLS connection came, the shim catches the signal, writes the final
 * numbers with async-signal-safe calls only, and dies of the same signal,
 * with the same status. The program never sees this handler: the entry
 * layer's sigaction()/signal() report it as SIG_DFL and put it back where
 * the program sets SIG_DFL (signals.c), so code that saves and restores a
 * disposition (git's sigchain), or chains to the one it found, behaves as
 * without the shim. A handler the program installs simply replaces ours. */

static const char *errno_text(int err)
{
    /* strerror is not async-signal-safe: the likely ones, spelled as glibc does */
    switch (err) {
    case ENOENT: return "No such file or directory";
    case EACCES: return "Permission denied";
    case EPERM: return "Operation not permitted";
    case ENOSPC: return "No space left on device";
    case EDQUOT: return "Disk quota exceeded";
    case EROFS: return "Read-only file system";
    case ENOTDIR: return "Not a directory";
    case EEXIST: return "File exists";
    case ELOOP: return "Too many levels of symbolic links";
    case EIO: return "Input/output error";
    case ENAMETOOLONG: return "File name too long";
    case EMFILE: return "Too many open files";
    default: return "an error";
    }
}

static void say_failure_in_handler(const struct stats_process *p, const char *path, int err)
{
    if (atomic_exchange(&failure_said, 1) || p->cfg->log_level < SHIM_LOG_ERROR)
        return;
    char line[4400];
    size_t n = 0;
    line[0] = 0;
    stats_append(line, sizeof(line), &n, "ktls-shim[");
    stats_append_u64(line, sizeof(line), &n, (unsigned long long)getpid());
    stats_append(line, sizeof(line), &n, "] error: cannot write final stats file ");
    stats_append(line, sizeof(line), &n, path);
    stats_append(line, sizeof(line), &n, ": ");
    stats_append(line, sizeof(line), &n, errno_text(err));
    stats_append(line, sizeof(line), &n, " (KTLS_SHIM_STATS; said once per process)\n");
    /* stderr: the log file may not be open, and opening it is not safe here */
    (void)!libc()->write(2, line, n);
}

static void flush_in_handler(int sig, int final)
{
    const struct stats_process *p = process();
    if (!p || !stats_any_counted() || !begin_write(1))
        return;
    const char *file;
    int err = write_file(p, final, final ? sig : 0, &file);
    if (err)
        say_failure_in_handler(p, file, err);
    end_write();
}

static void on_terminating_signal(int sig);

static int is_ours(const struct sigaction *sa)
{
    return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == on_terminating_signal;
}

/* The default action, whatever the mask: SIGTERM and SIGINT are blocked
 * while the handler runs (so a second one cannot cut the final write short),
 * and the program may have installed this handler again without
 * SA_RESETHAND through a path the entry layer does not see. */
static void die_of(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    libc()->sigaction(sig, &dfl, NULL);
    raise(sig);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL); /* delivered here: the process ends */
}

/* Where the disposition is still the default (SA_RESETHAND did that) or this
 * handler (put back as if it were SIG_DFL), the program would have died of
 * the signal: so it does. Anything else means a handler of the program's
 * called this one as "the previous handler" (it can only have found it with
 * a raw syscall): write what there is and return to it. */
static void on_terminating_signal(int sig)
{
    int saved = errno;
    struct sigaction now;
    int dying = libc()->sigaction(sig, NULL, &now) != 0 || is_ours(&now)
                || (!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL);
    flush_in_handler(sig, dying);
    if (dying)
        die_of(sig);
    errno = saved;
}

static atomic_int caught_term, caught_int;

static atomic_int *caught_flag(int sig)
{
    return sig == SIGTERM ? &caught_term : sig == SIGINT ? &caught_int : NULL;
}

int stats_signal_caught(int sig)
{
    atomic_int *f = caught_flag(sig);
    return f && atomic_load_explicit(f, memory_order_relaxed);
}

void stats_signal_disposition(struct sigaction *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sa_handler = on_terminating_signal;
    sigemptyset(&sa->sa_mask);
    sigaddset(&sa->sa_mask, SIGTERM);
    sigaddset(&sa->sa_mask, SIGINT);
    sa->sa_flags = SA_RESETHAND | SA_RESTART;
}

int stats_signal_is_ours(const struct sigaction *sa)
{
    return is_ours(sa);
}

static void install_signal_flush(void)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old, ours, raced;
        if (libc()->sigaction(sigs[i], NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO)
            || old.sa_handler != SIG_DFL)
            continue;
        stats_signal_disposition(&ours);
        if (libc()->sigaction(sigs[i], &ours, &raced) != 0)
            continue;
        /* another thread of the program may have set its own meanwhile: keep that */
        if ((raced.sa_flags & SA_SIGINFO) || raced.sa_handler != SIG_DFL)
            libc()->sigaction(sigs[i], &raced, NULL);
        else
            atomic_store(caught_flag(sigs[i]), 1);
    }
}

void stats_publish_begin(const struct stats_process *p)
{
    atomic_store_explicit(&proc, p, memory_order_release);
    if (stats_on())
        install_signal_flush();
}

void stats_publish_reset(void)
{
    atomic_store(&last_flush, -1000000);
    atomic_store(&writer_tid, 0);
    atomic_store(&failure_said, 0);
}

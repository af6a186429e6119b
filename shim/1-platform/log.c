#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libc.h"
#include "version.h"

/* what(1)-style marker: ktls-run reads it to know a file is this library, and which version */
__attribute__((used)) static const char version_marker[] = "@(#)ktls-shim " KTLS_SHIM_VERSION;

static int log_fd = 2;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
/* the file log_fd was opened on: a program may close our descriptor (a
 * daemon closing everything) and reuse the number for something else */
static unsigned long long log_dev, log_ino;

static int same_file(int fd, unsigned long long *dev, unsigned long long *ino)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_INO, &sx) != 0)
        return 0;
    if (dev) {
        *dev = ((unsigned long long)sx.stx_dev_major << 32) | sx.stx_dev_minor;
        *ino = sx.stx_ino;
        return 1;
    }
    return (((unsigned long long)sx.stx_dev_major << 32) | sx.stx_dev_minor) == log_dev && sx.stx_ino == log_ino;
}

/* "ktls-shim[pid] level: message\n", cut to fit; one write per line so
 * concurrent writers don't interleave mid-line. */
static void write_line(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"off", "error", "info", "debug"};
    char line[1024];
    int n = snprintf(line, sizeof(line), "ktls-shim[%d] %s: ", (int)getpid(), names[level & 3]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    int fd = log_fd;
    if (fd != 2 && !same_file(fd, NULL, NULL))
        fd = 2; /* not our file any more: stderr rather than someone else's descriptor */
    (void)!libc()->write(fd, line, len);
}

__attribute__((format(printf, 2, 3))) static void write_line_now(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, fmt, ap);
    va_end(ap);
}

/* Opening says nothing: a process that never logs (the shell, cat, ls under
 * a preloaded environment) must not print about a file it never needed. */
static int log_open_errno;

static void log_open(void)
{
    const struct shim_config *cfg = config_get();
    if (cfg->log_file[0]) {
        /* O_APPEND: nginx workers and other forked children share the file */
        int fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0 && same_file(fd, &log_dev, &log_ino))
            log_fd = fd;
        else {
            log_open_errno = fd >= 0 ? EBADF : errno;
            if (fd >= 0)
                libc()->close(fd); /* not our close(): it would look up a connection */
        }
    }
}

/* Before a process's first line (a forked child inherits whether its parent
 * wrote them): why the log goes to stderr, if it does, and what is running,
 * how set. */
static atomic_int first_lines_done;

static void first_lines(void)
{
    if (atomic_exchange(&first_lines_done, 1))
        return;
    const struct shim_config *cfg = config_get();
    if (log_open_errno)
        dprintf(2, "ktls-shim[%d] error: cannot open KTLS_SHIM_LOG_FILE %s: %s; logging to stderr\n", (int)getpid(),
                cfg->log_file, strerror(log_open_errno));
    if (cfg->log_level >= SHIM_LOG_INFO) {
        static const char *const modes[] = {"off", "tx", "rx", "both"};
        char exe[256];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = 0;
        write_line_now(SHIM_LOG_INFO, "ktls-shim %s in %s (mode %s, sample %g, stats %s)", KTLS_SHIM_VERSION,
                       exe[0] ? exe : "?", modes[cfg->dirs & 3], cfg->sample,
                       cfg->stats_prefix[0] ? cfg->stats_prefix : "off");
    }
}

/* A program that forks workers and then drops privileges (nginx) would leave
 * them unable to open a log file only root may write: the file is opened in
 * the parent, before the fork, and the workers inherit it. */
static void open_before_fork(void)
{
    if (config_knob_given("KTLS_SHIM_LOG_FILE") && config_get()->log_file[0]
        && config_get()->log_level > SHIM_LOG_OFF)
        pthread_once(&log_once, log_open);
}

__attribute__((constructor)) static void log_watch_forks(void)
{
    pthread_atfork(open_before_fork, NULL, NULL);
}

void shim_log(int level, const char *fmt, ...)
{
    int saved = errno;
    pthread_once(&log_once, log_open);
    first_lines();
    va_list ap;
    va_start(ap, fmt);
    write_line(level, fmt, ap);
    va_end(ap);
    errno = saved;
}

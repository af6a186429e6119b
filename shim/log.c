#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "version.h"

/* what(1)-style marker: ktls-run reads it to know a file is this library, and which version */
__attribute__((used)) static const char version_marker[] = "@(#)ktls-shim " KTLS_SHIM_VERSION;

static int log_fd = 2;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

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
    (void)!write(log_fd, line, len);
}

__attribute__((format(printf, 2, 3))) static void write_line_now(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, fmt, ap);
    va_end(ap);
}

static void log_open(void)
{
    const struct shim_config *cfg = config_get();
    if (cfg->log_file[0]) {
        /* O_APPEND: nginx workers and other forked children share the file */
        int fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            log_fd = fd;
        else
            dprintf(2, "ktls-shim[%d] error: cannot open KTLS_SHIM_LOG_FILE %s: %s; logging to stderr\n",
                    (int)getpid(), cfg->log_file, strerror(errno));
    }
    /* the first line of a process's log says what is running, and how set */
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

void shim_log(int level, const char *fmt, ...)
{
    int saved = errno;
    pthread_once(&log_once, log_open);
    va_list ap;
    va_start(ap, fmt);
    write_line(level, fmt, ap);
    va_end(ap);
    errno = saved;
}

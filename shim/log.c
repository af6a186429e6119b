#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int log_fd = 2;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_open(void)
{
    const char *path = config_get()->log_file;
    if (!path[0])
        return;
    /* O_APPEND: nginx workers and other forked children share the file */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0)
        log_fd = fd;
    else
        dprintf(2, "ktls-shim: cannot open KTLS_SHIM_LOG_FILE %s: errno %d; logging to stderr\n",
                path, errno);
}

void shim_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"off", "error", "info", "debug"};
    int saved = errno;
    pthread_once(&log_once, log_open);
    char line[1024];
    int n = snprintf(line, sizeof(line), "ktls-shim[%d] %s: ", (int)getpid(),
                     names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* one write per line so concurrent writers don't interleave mid-line */
    (void)!write(log_fd, line, len);
    errno = saved;
}

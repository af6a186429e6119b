#include "libc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct libc_table table;
static atomic_int ready;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int sys_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}

static ssize_t sys_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    return (ssize_t)syscall(SYS_sendfile, out_fd, in_fd, offset, count);
}

static int sys_dup2(int oldfd, int newfd)
{
    return (int)syscall(SYS_dup2, oldfd, newfd);
}

static int sys_dup3(int oldfd, int newfd, int flags)
{
    return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

/* libcs before glibc 2.34 have neither close_range nor closefrom */
static int sys_close_range(unsigned first, unsigned last, int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

static int no_fclose(FILE *stream)
{
    (void)stream;
    errno = ENOSYS;
    return EOF;
}

static void sys_closefrom(int lowfd)
{
    (void)sys_close_range((unsigned)lowfd, ~0u, 0);
}

/* RTLD_NEXT: the definition after ours, i.e. libc's, never our own hook. */
#define RESOLVE(name, fallback)                                                   \
    do {                                                                          \
        table.name = (__typeof__(table.name))dlsym(RTLD_NEXT, #name);             \
        if (!table.name)                                                          \
            table.name = (fallback);                                              \
    } while (0)

static void resolve(void)
{
    RESOLVE(close, sys_close);
    RESOLVE(dup2, sys_dup2);
    RESOLVE(dup3, sys_dup3);
    RESOLVE(close_range, sys_close_range);
    RESOLVE(closefrom, sys_closefrom);
    RESOLVE(fclose, no_fclose);
    RESOLVE(sendfile, sys_sendfile);
    RESOLVE(sendfile64, table.sendfile);
    atomic_store_explicit(&ready, 1, memory_order_release);
}
#undef RESOLVE

__attribute__((constructor)) static void resolve_at_load(void)
{
    pthread_once(&once, resolve);
}

const struct libc_table *libc(void)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        pthread_once(&once, resolve);
    return &table;
}

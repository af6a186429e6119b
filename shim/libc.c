#include "libc.h"

#include <dlfcn.h>
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

/* RTLD_NEXT: the definition after ours, i.e. libc's, never our own hook. */
static void resolve(void)
{
    table.close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    table.sendfile = (ssize_t(*)(int, int, off_t *, size_t))dlsym(RTLD_NEXT, "sendfile");
    table.sendfile64 = (ssize_t(*)(int, int, off_t *, size_t))dlsym(RTLD_NEXT, "sendfile64");
    if (!table.close)
        table.close = sys_close;
    if (!table.sendfile)
        table.sendfile = sys_sendfile;
    if (!table.sendfile64)
        table.sendfile64 = table.sendfile;
    atomic_store_explicit(&ready, 1, memory_order_release);
}

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

#include "libc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "planted.h"

struct libc_table libc_functions;
atomic_int libc_functions_ready;
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

static ssize_t sys_read(int fd, void *buf, size_t len)
{
    return (ssize_t)syscall(SYS_read, fd, buf, len);
}

static ssize_t sys_write(int fd, const void *buf, size_t len)
{
    return (ssize_t)syscall(SYS_write, fd, buf, len);
}

static ssize_t sys_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return (ssize_t)syscall(SYS_readv, fd, iov, iovcnt);
}

static ssize_t sys_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return (ssize_t)syscall(SYS_writev, fd, iov, iovcnt);
}

static ssize_t sys_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                            socklen_t *fromlen)
{
    return (ssize_t)syscall(SYS_recvfrom, fd, buf, len, flags, from, fromlen);
}

static ssize_t sys_sendto(int fd, const void *buf, size_t len, int flags,
                          const struct sockaddr *to, socklen_t tolen)
{
    return (ssize_t)syscall(SYS_sendto, fd, buf, len, flags, to, tolen);
}

static ssize_t sys_recv(int fd, void *buf, size_t len, int flags)
{
    return sys_recvfrom(fd, buf, len, flags, NULL, NULL);
}

static ssize_t sys_send(int fd, const void *buf, size_t len, int flags)
{
    return sys_sendto(fd, buf, len, flags, NULL, 0);
}

static ssize_t sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
    return (ssize_t)syscall(SYS_recvmsg, fd, msg, flags);
}

static ssize_t sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return (ssize_t)syscall(SYS_sendmsg, fd, msg, flags);
}

static int sys_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
    return (int)syscall(SYS_ppoll, fds, nfds, timeout < 0 ? NULL : &ts, NULL, (size_t)8);
}

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
    return (int)syscall(SYS_ioctl, fd, request, arg);
}

static int no_fclose(FILE *stream)
{
    (void)stream;
    errno = ENOSYS;
    return EOF;
}

/* glibc always has it; a stand-in that changes nothing, never a raw
 * rt_sigaction (which needs libc's restorer) */
static int no_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    (void)sig, (void)act, (void)old;
    errno = ENOSYS;
    return -1;
}

static sighandler_t no_signal(int sig, sighandler_t handler)
{
    (void)sig, (void)handler;
    errno = ENOSYS;
    return SIG_ERR;
}

static void sys_closefrom(int lowfd)
{
    (void)sys_close_range((unsigned)lowfd, ~0u, 0);
}

/* RTLD_NEXT: the definition after ours, i.e. libc's, never our own hook. */
#define RESOLVE(name, fallback)                                                   \
    do {                                                                          \
        libc_functions.name = (__typeof__(libc_functions.name))dlsym(RTLD_NEXT, #name);             \
        if (!libc_functions.name)                                                          \
            libc_functions.name = (fallback);                                              \
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
    RESOLVE(sendfile64, libc_functions.sendfile);
    RESOLVE(read, sys_read);
    RESOLVE(write, sys_write);
    RESOLVE(readv, sys_readv);
    RESOLVE(writev, sys_writev);
    RESOLVE(recv, sys_recv);
    RESOLVE(send, sys_send);
    RESOLVE(recvfrom, sys_recvfrom);
    RESOLVE(sendto, sys_sendto);
    RESOLVE(recvmsg, sys_recvmsg);
    RESOLVE(sendmsg, sys_sendmsg);
    RESOLVE(poll, sys_poll);
    RESOLVE(ioctl, sys_ioctl);
    RESOLVE(sigaction, no_sigaction);
    RESOLVE(signal, no_signal);
    atomic_store_explicit(&libc_functions_ready, 1, memory_order_release);
}
#undef RESOLVE

/* The process the shim's memory belongs to: set at load, and by fork()'s
 * child handler (vfork() runs none, which is the point). */
static atomic_int owner_pid;

static void note_owner(void)
{
    atomic_store_explicit(&owner_pid, (int)getpid(), memory_order_relaxed);
}

__attribute__((constructor)) static void resolve_at_load(void)
{
    pthread_once(&once, resolve);
    note_owner();
    pthread_atfork(NULL, NULL, note_owner);
}

int libc_in_vfork_child(void)
{
    int owner = atomic_load_explicit(&owner_pid, memory_order_relaxed);
    if (PLANTED(vfork_as_parent))
        return 0;
    return owner != 0 && owner != (int)getpid();
}

const struct libc_table *libc(void)
{
    if (!atomic_load_explicit(&libc_functions_ready, memory_order_acquire))
        pthread_once(&once, resolve);
    return &libc_functions;
}

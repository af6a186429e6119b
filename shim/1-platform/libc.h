/* The real libc functions the shim interposes, resolved once (a constructor,
 * or the first call if another library's constructor gets here first) into
 * typed pointers. Every layer below the interposers calls these, never the
 * exported names, which bind to our own hooks. */
#ifndef KTLS_SHIM_LIBC_H
#define KTLS_SHIM_LIBC_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>

struct libc_table {
    int (*close)(int fd);
    int (*dup2)(int oldfd, int newfd);
    int (*dup3)(int oldfd, int newfd, int flags);
    int (*close_range)(unsigned first, unsigned last, int flags);
    void (*closefrom)(int lowfd);
    int (*fclose)(FILE *stream);
    ssize_t (*sendfile)(int out_fd, int in_fd, off_t *offset, size_t count);
    ssize_t (*sendfile64)(int out_fd, int in_fd, off_t *offset, size_t count);
    ssize_t (*read)(int fd, void *buf, size_t len);
    ssize_t (*write)(int fd, const void *buf, size_t len);
    ssize_t (*readv)(int fd, const struct iovec *iov, int iovcnt);
    ssize_t (*writev)(int fd, const struct iovec *iov, int iovcnt);
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    ssize_t (*recvfrom)(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                        socklen_t *fromlen);
    ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t tolen);
    ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
    ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
    int (*poll)(struct pollfd *fds, nfds_t nfds, int timeout);
    int (*ioctl)(int fd, unsigned long request, void *arg);
    int (*sigaction)(int sig, const struct sigaction *act, struct sigaction *old);
    sighandler_t (*signal)(int sig, sighandler_t handler);
};

/* Never NULL, and no field is NULL (raw syscalls stand in where libc has
 * no such function). Lock-free once resolved: safe in a signal handler. */
const struct libc_table *libc(void);

/* The interposers' fast path: the table once resolved, else NULL (then
 * libc() resolves it). One load, no call. */
extern struct libc_table libc_functions;
extern atomic_int libc_functions_ready;
static inline const struct libc_table *libc_if_resolved(void)
{
    return atomic_load_explicit(&libc_functions_ready, memory_order_acquire) ? &libc_functions : NULL;
}

/* 1 in a child that shares the parent's memory until it execs or exits
 * (vfork(): CPython's subprocess, whose child runs close_range() through our
 * hooks): every table the hooks keep is the parent's, and the child's
 * descriptor table is its own, so nothing may change there. Costs a getpid()
 * syscall: ask only just before changing shared state. */
int libc_in_vfork_child(void);

#endif

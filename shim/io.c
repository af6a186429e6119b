/* The interposed libc socket I/O: each call goes straight to libc, and
 * sockwatch notes which TCP socket a connection's own BIO uses and counts the
 * bytes moved on it (custom-BIO offload, see sockwatch.h). The one exception:
 * a read the shim itself provoked through a program's BIO to let the
 * program's layer wait for the socket (sockwatch_forced_read), which never
 * reaches the kernel's TLS. Everything else costs a thread-local and one
 * relaxed atomic load. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hooks.h"
#include "libc.h"
#include "sockwatch.h"

static inline ssize_t seen_iov(int fd, ssize_t n, int is_write, const struct iovec *iov, size_t iovcnt)
{
    if (__builtin_expect(sockwatch_wanted(), 0))
        sockwatch_io(fd, n, is_write, iov, iovcnt);
    return n;
}

static inline ssize_t seen(int fd, ssize_t n, int is_write, const void *buf)
{
    if (__builtin_expect(sockwatch_wanted(), 0)) {
        struct iovec one = {.iov_base = (void *)buf, .iov_len = n > 0 ? (size_t)n : 0};
        sockwatch_io(fd, n, is_write, &one, 1);
    }
    return n;
}

static inline int forced(int fd)
{
    return __builtin_expect(sockwatch_forced_fd >= 0, 0) && fd == sockwatch_forced_fd;
}

/* the first buffer of a vector that can take a byte */
static void *first_buffer(const struct iovec *iov, size_t n, size_t *len)
{
    for (size_t i = 0; iov && i < n; i++)
        if (iov[i].iov_len) {
            *len = iov[i].iov_len;
            return iov[i].iov_base;
        }
    *len = 0;
    return NULL;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    if (forced(fd))
        return sockwatch_forced_read(fd, buf, len);
    return seen(fd, libc()->read(fd, buf, len), 0, buf);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (forced(fd)) {
        size_t len;
        void *buf = first_buffer(iov, iovcnt > 0 ? (size_t)iovcnt : 0, &len);
        return sockwatch_forced_read(fd, buf, len);
    }
    return seen_iov(fd, libc()->readv(fd, iov, iovcnt), 0, iov, iovcnt > 0 ? (size_t)iovcnt : 0);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (forced(fd))
        return sockwatch_forced_read(fd, buf, len);
    /* a peek moves nothing */
    ssize_t n = libc()->recv(fd, buf, len, flags);
    return flags & MSG_PEEK ? n : seen(fd, n, 0, buf);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                        socklen_t *fromlen)
{
    if (forced(fd))
        return sockwatch_forced_read(fd, buf, len);
    ssize_t n = libc()->recvfrom(fd, buf, len, flags, from, fromlen);
    return flags & MSG_PEEK ? n : seen(fd, n, 0, buf);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (forced(fd) && msg) {
        size_t len;
        void *buf = first_buffer(msg->msg_iov, msg->msg_iovlen, &len);
        msg->msg_controllen = 0;
        msg->msg_flags = 0;
        return sockwatch_forced_read(fd, buf, len);
    }
    ssize_t n = libc()->recvmsg(fd, msg, flags);
    return flags & MSG_PEEK || !msg ? n : seen_iov(fd, n, 0, msg->msg_iov, msg->msg_iovlen);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    return seen(fd, libc()->write(fd, buf, len), 1, buf);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    return seen_iov(fd, libc()->writev(fd, iov, iovcnt), 1, iov, iovcnt > 0 ? (size_t)iovcnt : 0);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return seen(fd, libc()->send(fd, buf, len, flags), 1, buf);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t tolen)
{
    return seen(fd, libc()->sendto(fd, buf, len, flags, to, tolen), 1, buf);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
        ssize_t n = libc()->sendmsg(fd, msg, flags);
    return msg ? seen_iov(fd, n, 1, msg->msg_iov, msg->msg_iovlen) : n;
}

/* A program's layer that polls its socket inside an SSL call waits for I/O
 * itself (APR does, with its own timeout): the shim waits the same way for
 * it once the kernel owns the connection. */
/* glibc declares poll's array write-only; the program filled fd and events */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (__builtin_expect(sockwatch_current != 0, 0))
        sockwatch_poll(fds, nfds, timeout);
    return libc()->poll(fds, nfds, timeout);
}
#pragma GCC diagnostic pop

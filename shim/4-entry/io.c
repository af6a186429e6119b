/* The interposed libc socket I/O: each call goes straight to libc, and
 * sockwatch notes which TCP socket a connection's own BIO uses and counts the
 * bytes moved on it (custom-BIO offload, see sockwatch.h). The one exception:
 * a read the shim itself provoked through a program's BIO to let the
 * program's layer wait for the socket (sockwatch_forced_read), which never
 * reaches the kernel's TLS.
 *
 * Most calls of most processes have nothing to note: no connection of the
 * shim's is inside an SSL call on this thread, no socket is bound anywhere,
 * no forced read is under way. Each hook first checks exactly that (two
 * thread-locals, two globals) and then jumps straight to libc (a tail call:
 * no frame of its own); everything else is in the *_noted functions. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdmap.h"
#include "hooks.h"
#include "kio.h"
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

/* Nothing for this call to note, and libc's functions resolved: NULL
 * otherwise. The connection current on this thread and a forced read are
 * this thread's own, so checking before the call is checking after it; a
 * socket another thread binds while this call runs is one a second thread
 * is reading at the same time, which no TLS stream survives. */
static inline const struct libc_table *quiet(int reads)
{
    if (__builtin_expect(sockwatch_current != 0 || (reads && sockwatch_forced_fd >= 0)
                             || atomic_load_explicit(&sockwatch_counting, memory_order_relaxed),
                         0))
        return NULL;
    return libc_if_resolved();
}

/* A plain read that failed with EIO on a socket whose kernel TLS outlived
 * the program's SSL: the non-data record it met, as bytes
 * (kio_read_after_ssl). Any other result as it was. */
static inline ssize_t read_result(ssize_t n, int fd, void *buf, size_t len, int flags)
{
    if (__builtin_expect(n < 0, 0) && errno == EIO)
        return kio_read_after_ssl(fd, buf, len, flags);
    return n;
}

static inline ssize_t read_result_iov(ssize_t n, int fd, const struct iovec *iov, int iovcnt)
{
    if (__builtin_expect(n < 0, 0) && errno == EIO) {
        size_t len;
        void *buf = first_buffer(iov, iovcnt > 0 ? (size_t)iovcnt : 0, &len);
        return kio_read_after_ssl(fd, buf, len, 0);
    }
    return n;
}

/* recvmsg fails with EIO only when msg has no room for the record type */
static inline ssize_t recvmsg_result(ssize_t n, int fd, struct msghdr *msg, int flags)
{
    if (__builtin_expect(n < 0, 0) && errno == EIO && msg) {
        size_t len;
        void *buf = first_buffer(msg->msg_iov, msg->msg_iovlen, &len);
        n = kio_read_after_ssl(fd, buf, len, flags);
        if (n >= 0) {
            msg->msg_controllen = 0;
            msg->msg_flags = 0;
        }
    }
    return n;
}

/* The interposer: the fast path, else the one that notes. RESULT is what
 * the hook returns of r, libc's result. */
#define HOOK(ret, name, reads, params, args, result)                                               \
    __attribute__((noinline)) static ret name##_noted params;                                      \
    EXPORT ret name params                                                                         \
    {                                                                                              \
        const struct libc_table *l = quiet(reads);                                                 \
        if (__builtin_expect(l != NULL, 1)) {                                                      \
            ret r = l->name args;                                                                  \
            return result;                                                                         \
        }                                                                                          \
        return name##_noted args;                                                                  \
    }                                                                                              \
    static ret name##_noted params

HOOK(ssize_t, read, 1, (int fd, void *buf, size_t len), (fd, buf, len), read_result(r, fd, buf, len, 0))
{
    if (forced(fd))
        return sockwatch_forced_read(fd, buf, len);
    return seen(fd, read_result(libc()->read(fd, buf, len), fd, buf, len, 0), 0, buf);
}

HOOK(ssize_t, readv, 1, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt),
     read_result_iov(r, fd, iov, iovcnt))
{
    if (forced(fd)) {
        size_t len;
        void *buf = first_buffer(iov, iovcnt > 0 ? (size_t)iovcnt : 0, &len);
        return sockwatch_forced_read(fd, buf, len);
    }
    return seen_iov(fd, read_result_iov(libc()->readv(fd, iov, iovcnt), fd, iov, iovcnt), 0, iov,
                    iovcnt > 0 ? (size_t)iovcnt : 0);
}

HOOK(ssize_t, recv, 1, (int fd, void *buf, size_t len, int flags), (fd, buf, len, flags),
     read_result(r, fd, buf, len, flags))
{
    if (forced(fd))
        return sockwatch_forced_read(fd, buf, len);
    /* a peek moves nothing */
    ssize_t n = read_result(libc()->recv(fd, buf, len, flags), fd, buf, len, flags);
    return flags & MSG_PEEK ? n : seen(fd, n, 0, buf);
}

HOOK(ssize_t, recvfrom, 1, (int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen),
     (fd, buf, len, flags, from, fromlen), read_result(r, fd, buf, len, flags))
{
    if (forced(fd))
        return sockwatch_forced_read(fd, buf, len);
    ssize_t n = read_result(libc()->recvfrom(fd, buf, len, flags, from, fromlen), fd, buf, len, flags);
    return flags & MSG_PEEK ? n : seen(fd, n, 0, buf);
}

HOOK(ssize_t, recvmsg, 1, (int fd, struct msghdr *msg, int flags), (fd, msg, flags), recvmsg_result(r, fd, msg, flags))
{
    if (forced(fd) && msg) {
        size_t len;
        void *buf = first_buffer(msg->msg_iov, msg->msg_iovlen, &len);
        msg->msg_controllen = 0;
        msg->msg_flags = 0;
        return sockwatch_forced_read(fd, buf, len);
    }
    ssize_t n = recvmsg_result(libc()->recvmsg(fd, msg, flags), fd, msg, flags);
    return flags & MSG_PEEK || !msg ? n : seen_iov(fd, n, 0, msg->msg_iov, msg->msg_iovlen);
}

HOOK(ssize_t, write, 0, (int fd, const void *buf, size_t len), (fd, buf, len), r)
{
    return seen(fd, libc()->write(fd, buf, len), 1, buf);
}

HOOK(ssize_t, writev, 0, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt), r)
{
    return seen_iov(fd, libc()->writev(fd, iov, iovcnt), 1, iov, iovcnt > 0 ? (size_t)iovcnt : 0);
}

HOOK(ssize_t, send, 0, (int fd, const void *buf, size_t len, int flags), (fd, buf, len, flags), r)
{
    return seen(fd, libc()->send(fd, buf, len, flags), 1, buf);
}

HOOK(ssize_t, sendto, 0, (int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen),
     (fd, buf, len, flags, to, tolen), r)
{
    return seen(fd, libc()->sendto(fd, buf, len, flags, to, tolen), 1, buf);
}

HOOK(ssize_t, sendmsg, 0, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags), r)
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
    const struct libc_table *l = libc_if_resolved();
    if (__builtin_expect(sockwatch_current != 0, 0))
        sockwatch_poll(fds, nfds, timeout);
    else if (__builtin_expect(l != NULL, 1))
        return l->poll(fds, nfds, timeout);
    return libc()->poll(fds, nfds, timeout);
}
#pragma GCC diagnostic pop

/* FIONREAD on a socket whose RX the kernel's TLS owns also counts what the
 * kernel decrypted and has not handed over yet (kio_unread_decrypted says
 * why). Only when TCP's queue is empty: the answer that matters is whether
 * anything is left, and only then can the two differ on it. ioctl's third
 * argument is read whatever the request, as glibc's own wrapper does. */
EXPORT int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    const struct libc_table *l = libc_if_resolved();
    int r = (l ? l : libc())->ioctl(fd, request, arg);
    if (__builtin_expect(request == FIONREAD && r == 0 && fdmap_active(), 0) && arg && !shim_depth
        && *(int *)arg == 0)
        *(int *)arg = kio_unread_decrypted(fd);
    return r;
}

/* The interposed libc and libcrypto entry points for serving files on TLS
 * sockets (fileserve.c does the work) and for keeping the fd map honest:
 * every way a program can close or replace a descriptor through libc drops
 * its entry, so a reused number never looks like the old connection. (A
 * close the shim cannot see, a raw syscall, is caught where it matters by
 * the pinned socket identity; see conn_socket_intact.) */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "fdmap.h"
#include "fileserve.h"
#include "hooks.h"
#include "libc.h"
#include "planted.h"
#include "route.h"
#include "sockwatch.h"

EXPORT ossl_ssize_t SSL_sendfile(SSL *s, int fd, off_t offset, size_t size, int flags)
{
    ENTER(SSL_sendfile, -1, s, fd, offset, size, flags);
    TIMED_IO(CPU_TX, fileserve_ssl_sendfile(s, fd, offset, size, flags), ret > 0 ? (uint64_t)ret : 0);
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    return fileserve_sendfile(libc()->sendfile, out_fd, in_fd, offset, count);
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off_t *offset, size_t count)
{
    return fileserve_sendfile(libc()->sendfile64, out_fd, in_fd, offset, count);
}

EXPORT int close(int fd)
{
    if (!PLANTED(forget_close))
        fdmap_forget(fd, NULL); /* a reused number must never look like this connection */
    sockwatch_forget(fd);
    return libc()->close(fd);
}

/* dup2/dup3 close newfd first. Its entry goes once that has happened: a call
 * that fails leaves newfd (and its connection) as they were. */
EXPORT int dup2(int oldfd, int newfd)
{
    int r = libc()->dup2(oldfd, newfd);
    if (r >= 0 && oldfd != newfd) {
        fdmap_forget(newfd, NULL);
        sockwatch_forget(newfd);
    }
    return r;
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
    int r = libc()->dup3(oldfd, newfd, flags);
    if (r >= 0) {
        fdmap_forget(newfd, NULL);
        sockwatch_forget(newfd);
    }
    return r;
}

/* CLOSE_RANGE_UNSHARE closes in a private copy of the descriptor table:
 * the process's other threads (whose descriptors the tables describe) keep
 * them open. A vfork child's closes never reach the tables either (fdmap.c,
 * sockwatch.c ask). */
EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    int r = libc()->close_range(first, last, flags);
    if (r == 0 && !(flags & (CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE))) {
        fdmap_forget_range(first, last);
        sockwatch_forget_range(first, last);
    }
    return r;
}

EXPORT void closefrom(int lowfd)
{
    libc()->closefrom(lowfd);
    if (lowfd >= 0) {
        fdmap_forget_range((unsigned)lowfd, ~0u);
        sockwatch_forget_range((unsigned)lowfd, ~0u);
    }
}

/* fclose closes the stream's descriptor inside libc, out of close()'s sight
 * (fdopen on a socket, then fclose). */
EXPORT int fclose(FILE *stream)
{
    int saved = errno;
    int fd = stream ? fileno(stream) : -1;
    errno = saved;
    if (fd >= 0) {
        fdmap_forget(fd, NULL);
        sockwatch_forget(fd);
    }
    return libc()->fclose(stream);
}

/* BIO_ctrl runs long before a program loads libssl: the served libcrypto's
 * comes from ossl_bio_ctrl(), which never resolves the whole table. */
EXPORT long BIO_ctrl(BIO *b, int cmd, long larg, void *parg)
{
    const struct ossl_table *other = ossl_foreign(__builtin_return_address(0));
    bio_ctrl_fn real = other ? other->BIO_ctrl : ossl_bio_ctrl();
    if (__builtin_expect(!real, 0)) {
        ossl_absent("BIO_ctrl");
        return 0;
    }
    if (other)
        return real(b, cmd, larg, parg);
    return fileserve_bio_ctrl(real, b, cmd, larg, parg);
}

/* The interposed libc and libcrypto entry points for serving files on TLS
 * sockets (fileserve.c does the work) and for keeping the fd map honest. */
#include "fdmap.h"
#include "fileserve.h"
#include "hooks.h"
#include "libc.h"

EXPORT ossl_ssize_t SSL_sendfile(SSL *s, int fd, off_t offset, size_t size, int flags)
{
    return fileserve_ssl_sendfile(s, fd, offset, size, flags);
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
    fdmap_forget(fd, NULL); /* a reused number must never look like this connection */
    return libc()->close(fd);
}

EXPORT long BIO_ctrl(BIO *b, int cmd, long larg, void *parg)
{
    return fileserve_bio_ctrl(ossl_bio_ctrl(), b, cmd, larg, parg);
}

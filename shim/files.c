/* Serving files: SSL_sendfile and libc sendfile on TLS sockets, and the
 * BIO_get_ktls_send() answer that makes nginx choose SSL_sendfile. Where the
 * kernel owns TX, a real sendfile() lets it read the page cache, encrypt and
 * send. Where it does not, the file is read and passed through SSL_write, so
 * file bytes never reach a TLS socket in clear. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "fdmap.h"
#include "hooks.h"
#include "kernel.h"
#include "ktls_io.h"
#include "log.h"
#include "stats.h"
#include "ossl.h"

#define FILE_CHUNK 16384 /* one TLS record of plaintext */

typedef ssize_t (*sendfile_fn)(int out_fd, int in_fd, off_t *offset, size_t count);
typedef int (*close_fn)(int fd);

typedef long (*bio_ctrl_fn)(BIO *b, int cmd, long larg, void *parg);

struct libc_table {
    sendfile_fn sendfile, sendfile64;
    close_fn close;
    bio_ctrl_fn bio_ctrl; /* libcrypto's, but needed before libssl exists */
};
static struct libc_table libc;
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

static void libc_resolve(void)
{
    libc.sendfile = (sendfile_fn)dlsym(RTLD_NEXT, "sendfile");
    libc.sendfile64 = (sendfile_fn)dlsym(RTLD_NEXT, "sendfile64");
    libc.close = (close_fn)dlsym(RTLD_NEXT, "close");
    libc.bio_ctrl = (bio_ctrl_fn)dlsym(RTLD_NEXT, "BIO_ctrl");
    if (!libc.sendfile64)
        libc.sendfile64 = libc.sendfile;
}

static const struct libc_table *real_libc(void)
{
    pthread_once(&libc_once, libc_resolve);
    return &libc;
}

/* SSL_write one chunk of the file. The chunk stays in c->file_buf until
 * SSL_write has taken it, so a retry after WANT_WRITE repeats the same call.
 * Returns bytes taken (>0), 0 at end of file, or -1 (errno set; *ssl_error is
 * SSL_get_error's answer when SSL_write failed). */
static ssize_t write_file_chunk(struct conn *c, SSL *s, int in_fd, off_t *offset, size_t count,
                                int *ssl_error)
{
    *ssl_error = SSL_ERROR_SYSCALL;
    if (!c->file_buf && !(c->file_buf = malloc(FILE_CHUNK))) {
        errno = ENOMEM;
        return -1;
    }
    if (!c->file_pending) {
        size_t want = count < FILE_CHUNK ? count : FILE_CHUNK;
        if (want == 0)
            return 0;
        ssize_t n = offset ? pread(in_fd, c->file_buf, want, *offset)
                           : read(in_fd, c->file_buf, want);
        if (n <= 0)
            return n;
        c->file_pending = (size_t)n;
    }
    int w = SSL_write(s, c->file_buf, (int)c->file_pending); /* our hook routes it */
    if (w <= 0) {
        *ssl_error = SSL_get_error(s, w);
        if (*ssl_error == SSL_ERROR_WANT_WRITE || *ssl_error == SSL_ERROR_WANT_READ)
            errno = EAGAIN;
        else if (*ssl_error != SSL_ERROR_SYSCALL)
            errno = EIO;
        return -1;
    }
    if ((size_t)w < c->file_pending)
        memmove(c->file_buf, c->file_buf + w, c->file_pending - (size_t)w);
    c->file_pending -= (size_t)w;
    stats_add_bytes(c->arm, STATS_EMULATED_SENDFILE, (uint64_t)w);
    if (offset)
        *offset += w;
    return w;
}

EXPORT ossl_ssize_t SSL_sendfile(SSL *s, int fd, off_t offset, size_t size, int flags)
{
    struct conn *c = tracked(s);
    if (!c) {
        if (!ossl()->SSL_sendfile)
            ossl_missing("SSL_sendfile");
        return ossl()->SSL_sendfile(s, fd, offset, size, flags);
    }
    if (c->fatal || (ossl()->SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN)) {
        kio_push_error(SSL_R_PROTOCOL_IS_SHUTDOWN, NULL);
        c->err_override = SSL_ERROR_SSL;
        return -1;
    }
    if (kernel_owns(c, CONN_TX)) {
        off_t off = offset;
        ssize_t n = real_libc()->sendfile(c->fd, fd, &off, size);
        if (n >= 0) {
            c->kernel_sendfile_bytes += (uint64_t)n;
            stats_add_bytes(c->arm, STATS_KERNEL_SENDFILE, (uint64_t)n);
            c->err_override = SSL_ERROR_NONE;
            return n;
        }
        int err = errno;
        c->err_override = (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == EBUSY)
                              ? SSL_ERROR_WANT_WRITE
                              : SSL_ERROR_SYSCALL;
        errno = err;
        return -1;
    }
    /* TX stays in OpenSSL: rather than failing as OpenSSL would, serve it */
    int ssl_error;
    off_t off = offset;
    ssize_t n = write_file_chunk(c, s, fd, &off, size, &ssl_error);
    return n;
}

static ssize_t sendfile_common(sendfile_fn real, int out_fd, int in_fd, off_t *offset, size_t count)
{
    struct conn *c = shim_depth ? NULL : fdmap_lookup(out_fd);
    if (!c || kernel_owns(c, CONN_TX))
        return real(out_fd, in_fd, offset, count); /* plain socket, or the kernel encrypts */
    int ssl_error;
    return write_file_chunk(c, c->ssl, in_fd, offset, count, &ssl_error);
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    return sendfile_common(real_libc()->sendfile, out_fd, in_fd, offset, count);
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off_t *offset, size_t count)
{
    return sendfile_common(real_libc()->sendfile64, out_fd, in_fd, offset, count);
}

EXPORT int close(int fd)
{
    fdmap_forget(fd, NULL); /* a reused number must never look like this connection */
    close_fn real = real_libc()->close;
    return real(fd);
}

/* nginx uses SSL_sendfile only when BIO_get_ktls_send() on the write BIO says
 * so; answer for sockets whose TX the shim handed to the kernel. OpenSSL's own
 * calls (from inside our hooks) get OpenSSL's answer. OpenSSL 3 asks on every
 * SSL_write, so a kernel without kTLS, where nothing can be the kernel's,
 * answers before the fd lookup and its lock (perf: 0.3% of an nginx worker). */
EXPORT long BIO_ctrl(BIO *b, int cmd, long larg, void *parg)
{
    bio_ctrl_fn real = real_libc()->bio_ctrl;
    if (!real)
        real = REAL(BIO_ctrl);
    long r = real(b, cmd, larg, parg);
    if (cmd != BIO_CTRL_GET_KTLS_SEND || r > 0 || shim_depth || !b || !fdmap_active()
        || !kernel_tls_available())
        return r;
    int fd = -1;
    if (ossl()->BIO_method_type(b) != BIO_TYPE_SOCKET
        || real(b, BIO_C_GET_FD, 0, &fd) <= 0)
        return r;
    struct conn *c = fdmap_lookup(fd);
    return c && kernel_owns(c, CONN_TX) ? 1 : r;
}

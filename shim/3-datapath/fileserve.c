#include "fileserve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdmap.h"
#include "kernel.h"
#include "fail.h"
#include "rekey.h"
#include "libc.h"
#include "route.h"
#include "stats_publish.h"

#define FILE_CHUNK 16384 /* one TLS record of plaintext */

/* The end of a call: where the next byte of the file is, in *offset or,
 * without one, in the file position (moved only by what was returned). */
static void advance(int in_fd, off_t *offset, off_t at, size_t n)
{
    if (offset)
        *offset = at + (off_t)n;
    else if (at >= 0)
        (void)lseek(in_fd, at + (off_t)n, SEEK_SET);
}

static ssize_t emulation_failed(struct conn *c, int ssl_error, int err)
{
    c->err_override = ssl_error;
    errno = err;
    return -1;
}

/* sendfile(2) through the connection's TLS path, one chunk (a record) a call.
 * The chunk belongs to (in_fd, offset): a retry after WANT_WRITE must ask
 * for the same place (it repeats the write OpenSSL holds), and a call for
 * another file or offset while one is held fails (EIO) instead of sending
 * the old bytes as the new ones. Never returns more than count: bytes the
 * connection took beyond it are returned by the next call at that offset.
 * Returns bytes sent (>0), 0 at end of file, or -1 with errno and
 * SSL_get_error's answer set. */
static ssize_t write_file_chunk(struct conn *c, SSL *s, int in_fd, off_t *offset, size_t count)
{
    off_t at = offset ? *offset : lseek(in_fd, 0, SEEK_CUR); /* -1: not seekable */
    if (count == 0) {
        c->err_override = SSL_ERROR_NONE;
        return 0;
    }
    if ((c->file_pending || c->file_ahead) && (in_fd != c->file_in || at != c->file_at)) {
        fail_push_error(SSL_R_BAD_WRITE_RETRY,
                       "ktls-shim: sendfile retried for another file or offset while a chunk "
                       "was in flight");
        return emulation_failed(c, SSL_ERROR_SSL, EIO);
    }
    if (c->file_ahead) {
        size_t n = c->file_ahead < count ? c->file_ahead : count;
        c->file_ahead -= n;
        c->file_at = at + (off_t)n;
        advance(in_fd, offset, at, n);
        c->err_override = SSL_ERROR_NONE;
        return (ssize_t)n;
    }
    if (!c->file_buf && !(c->file_buf = malloc(FILE_CHUNK)))
        return emulation_failed(c, SSL_ERROR_SYSCALL, ENOMEM);
    if (!c->file_pending) {
        size_t want = count < FILE_CHUNK ? count : FILE_CHUNK;
        ssize_t n = at >= 0 ? pread(in_fd, c->file_buf, want, at) : libc()->read(in_fd, c->file_buf, want);
        if (n < 0)
            return emulation_failed(c, SSL_ERROR_SYSCALL, errno);
        if (n == 0) {
            c->err_override = SSL_ERROR_NONE;
            return 0;
        }
        c->file_pending = (size_t)n;
        c->file_in = in_fd;
        c->file_at = at;
    }
    size_t w = 0;
    if (!route_write_ex(c, s, c->file_buf, c->file_pending, &w)) {
        int err = errno;
        int e = route_get_error(c, s, 0);
        if (e == SSL_ERROR_SSL || e == SSL_ERROR_ZERO_RETURN)
            c->file_pending = 0; /* the connection failed: nothing will be retried */
        errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN
                : e == SSL_ERROR_SYSCALL                              ? err
                                                                      : EIO;
        return -1;
    }
    stats_add_bytes(c->arm, STATS_EMULATED_SENDFILE, (uint64_t)w);
    size_t n = w < count ? w : count;
    if (w < c->file_pending)
        memmove(c->file_buf, c->file_buf + w, c->file_pending - w);
    c->file_pending -= w;
    c->file_ahead = w - n;
    c->file_at = at + (off_t)n;
    advance(in_fd, offset, at, n);
    c->err_override = SSL_ERROR_NONE;
    return (ssize_t)n;
}

/* OpenSSL's own kTLS (Options KTLS) has TX: OpenSSL's own answer, not ours. */
static int openssl_sends_ktls(const SSL *s)
{
    const struct ossl_table *o = ossl();
    BIO *wbio = o->SSL_get_wbio(s);
    return wbio && o->BIO_ctrl(wbio, BIO_CTRL_GET_KTLS_SEND, 0, NULL) > 0;
}

static ossl_ssize_t openssl_sendfile(SSL *s, int fd, off_t offset, size_t size, int flags)
{
    if (!ossl()->SSL_sendfile) {
        /* only a program mixing OpenSSL builds gets here: fail the call, not the process */
        fail_push_error(ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED,
                       "ktls-shim: no SSL_sendfile in the OpenSSL the shim found");
        errno = ENOSYS;
        return -1;
    }
    return ossl()->SSL_sendfile(s, fd, offset, size, flags);
}

ossl_ssize_t fileserve_ssl_sendfile(SSL *s, int fd, off_t offset, size_t size, int flags)
{
    struct conn *c = route_tracked(s);
    /* untracked, or OpenSSL's own kTLS sends: OpenSSL's zero-copy SSL_sendfile */
    if (!c || (!kernel_owns(c, CONN_TX) && openssl_sends_ktls(s)))
        return openssl_sendfile(s, fd, offset, size, flags);
    if (c->fatal || (ossl()->SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN)) {
        fail_push_failed(c);
        c->err_override = SSL_ERROR_SSL;
        return -1;
    }
    if (kernel_owns(c, CONN_TX)) {
        if (!conn_socket_intact(c, 1)) {
            /* the kernel would send the file in clear on whatever the number names now */
            c->fatal = 1;
            c->err_override = SSL_ERROR_SYSCALL;
            errno = EBADF;
            return -1;
        }
        /* a KeyUpdate owed goes before more data, as on SSL_write */
        conn_tx_lock(c);
        int r = rekey_tx_flush(c);
        off_t off = offset;
        ssize_t n = r > 0 ? libc()->sendfile(c->fd, fd, &off, size) : -1;
        int err = errno;
        if (n > 0)
            rekey_count_tx(c, (size_t)n);
        conn_tx_unlock(c);
        if (n >= 0) {
            c->kernel_sendfile_bytes += (uint64_t)n;
            stats_add_bytes(c->arm, STATS_KERNEL_SENDFILE, (uint64_t)n);
            c->err_override = SSL_ERROR_NONE;
            return n;
        }
        if (r < 0) {
            fail_key_update_unsent(c);
            errno = err;
            return -1;
        }
        c->err_override = (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == EBUSY)
                              ? SSL_ERROR_WANT_WRITE
                              : SSL_ERROR_SYSCALL;
        errno = err;
        return -1;
    }
    /* TX stays in OpenSSL: rather than failing as OpenSSL would, serve it */
    off_t off = offset;
    return write_file_chunk(c, s, fd, &off, size);
}

ssize_t fileserve_sendfile(sendfile_fn real, int out_fd, int in_fd, off_t *offset, size_t count)
{
    struct conn *c = shim_depth ? NULL : conn_acquire_fd(out_fd);
    struct cpu_mark m;
    int timed = c && c->decided && cpu_sample_start(&m); /* a TLS socket's sendfile */
    /* plain socket, the kernel encrypts, the SSL is going away, or the number
     * was reused (a close the shim did not see): a real sendfile */
    if (c && kernel_owns(c, CONN_TX) && conn_alive(c) && kernel_same_socket(out_fd, &c->sock)) {
        /* the kernel encrypts: a real sendfile, after any KeyUpdate owed, and
         * counted towards the record limit */
        conn_tx_lock(c);
        int r = rekey_tx_flush(c);
        ssize_t n = r > 0 ? real(out_fd, in_fd, offset, count) : -1;
        if (n > 0)
            rekey_count_tx(c, (size_t)n);
        int saved = r < 0 ? EIO : errno;
        if (timed)
            cpu_sample_add(c->arm, CPU_TX, cpu_sample_elapsed(&m), n > 0 ? (uint64_t)n : 0, &c->cpu[CPU_TX]);
        conn_tx_unlock(c);
        conn_release(c);
        errno = saved;
        return n;
    }
    /* ... or OpenSSL's own kTLS sends (its SSL_sendfile calls this too): the
     * kernel encrypts what it is given */
    if (!c || kernel_owns(c, CONN_TX) || !conn_alive(c) || !kernel_same_socket(out_fd, &c->sock)
        || (c->dir[CONN_TX].reason == FB_OPENSSL_KTLS && kernel_tx_installed(out_fd))) {
        if (c)
            conn_release(c);
        return real(out_fd, in_fd, offset, count);
    }
    ssize_t n = write_file_chunk(c, c->ssl, in_fd, offset, count);
    int saved = errno;
    if (timed)
        cpu_sample_add(c->arm, CPU_TX, cpu_sample_elapsed(&m), n > 0 ? (uint64_t)n : 0, &c->cpu[CPU_TX]);
    conn_release(c);
    errno = saved;
    return n;
}

/* nginx uses SSL_sendfile only when BIO_get_ktls_send() on the write BIO says
 * so; answer for sockets whose TX the shim handed to the kernel. OpenSSL's own
 * calls (from inside our hooks) get OpenSSL's answer. OpenSSL 3 asks on every
 * SSL_write, so a kernel without kTLS, where nothing can be the kernel's,
 * answers before the fd lookup and its lock (perf: 0.3% of an nginx worker).
 * A "1" makes OpenSSL write plaintext to the socket, so it is said only for
 * the very BIO of a connection whose TX the shim moved, on the socket pinned
 * then, and only while the kernel really has TLS_TX on it. */
long fileserve_bio_ctrl(bio_ctrl_fn real, BIO *b, int cmd, long larg, void *parg)
{
    long r = real(b, cmd, larg, parg);
    if (cmd != BIO_CTRL_GET_KTLS_SEND || r > 0 || shim_depth || !b || !fdmap_active()
        || !kernel_tls_available())
        return r;
    int fd = -1;
    if (ossl()->BIO_method_type(b) != BIO_TYPE_SOCKET || real(b, BIO_C_GET_FD, 0, &fd) <= 0)
        return r;
    struct conn *c = conn_acquire_fd(fd);
    if (!c)
        return r;
    int yes = kernel_owns(c, CONN_TX) && c->bio == b && kernel_same_socket(fd, &c->sock)
              && kernel_tx_installed(fd);
    conn_release(c);
    return yes ? 1 : r;
}

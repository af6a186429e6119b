#include "kio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control.h"
#include "fail.h"
#include "kernel.h"
#include "key_update.h"
#include "log.h"
#include "observe.h"
#include "rekey.h"
#include "sockwatch.h"
#include "stats.h"
#include "stats_publish.h"
#include "tell.h"

/* Apache httpd's built-in Timeout, for a layer whose poll() the shim never
 * saw (it waited some other way, or never had to during the handshake) */
#define LAYER_WAIT_DEFAULT_MS 60000

/* A record that has arrived only in part: TCP's queue holds bytes, so poll()
 * says readable (POLLIN as soon as SO_RCVLOWAT bytes are queued, 1 by
 * default, measured on 6.1), but the kernel's TLS hands over whole records
 * only and the read fails with EAGAIN: an event loop would spin until the
 * rest arrives (stunnel's watchdog reset such a connection). Raise
 * SO_RCVLOWAT past what is queued: poll() then waits for more bytes, and the
 * kernel's TLS wakes it when the record is complete. The program's value
 * comes back before our next read. */
static void wait_for_the_rest_of_the_record(struct conn *c)
{
    int queued = kernel_unread_bytes(c->fd);
    if (queued <= 0)
        return;
    if (!c->rcvlowat_raised)
        c->rcvlowat_app = kernel_rcvlowat(c->fd);
    if (kernel_set_rcvlowat(c->fd, queued + 1) == 0)
        c->rcvlowat_raised = 1;
    LOG_DEBUG("fd=%d rx: %d bytes queued, no whole record: SO_RCVLOWAT %d", c->fd, queued, queued + 1);
}

static void restore_rcvlowat(struct conn *c)
{
    if (c->rcvlowat_raised && kernel_set_rcvlowat(c->fd, c->rcvlowat_app) == 0)
        c->rcvlowat_raised = 0;
}

static int recv_error(struct conn *c, SSL *s, int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        wait_for_the_rest_of_the_record(c);
        sockwatch_layer_note_want_read(&c->watch);
        errno = err;
        return fail_as(c, SSL_ERROR_WANT_READ);
    case EINTR:
        sockwatch_layer_note_want_read(&c->watch);
        errno = err;
        return fail_as(c, SSL_ERROR_WANT_READ);
    case EBADMSG:
        return fail_record(c, s, RECORD_BAD_MAC, "kTLS: record failed authentication (EBADMSG)");
    case EMSGSIZE:
        return fail_record(c, s, RECORD_TOO_LONG, "kTLS: malformed or oversized record (EMSGSIZE)");
    case EINVAL:
        return fail_record(c, s, RECORD_BAD_VERSION, "kTLS: record version mismatch (EINVAL)");
    case EKEYEXPIRED:
        return fail_fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_INTERNAL_ERROR,
                     "kTLS: peer sent KeyUpdate (EKEYEXPIRED)");
    case EIO:
        return fail_fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: record type not deliverable (EIO)");
    case ENOMSG:
        /* no alert: the socket may not be the kernel's TLS any more, and an
         * alert would go out in clear */
        return fail_fatal(c, s, SSL_R_UNEXPECTED_RECORD, 0,
                     "kTLS: bytes without a record type (not a kTLS socket, or the cmsg was cut)");
    default:
        /* connection-level failure: SSL_ERROR_SYSCALL with errno intact */
        errno = err;
        return fail_as(c, SSL_ERROR_SYSCALL);
    }
}

static int on_eof(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    if (o->version < 0x30000000L) {
        /* 1.1.1: EOF without close_notify is SSL_ERROR_SYSCALL with errno 0 */
        errno = 0;
        fail_as(c, SSL_ERROR_SYSCALL);
        c->fail_ret = 0;
        return 0;
    }
    /* OpenSSL 3 hands back what its BIO's read returned at the end of the
     * stream: 0 from a socket BIO; a program's own BIO is asked */
    int bio_ret = 0;
    if (c->custom_bio && !sockwatch_layer_eof(&c->watch, c->fd, c->rbio, &bio_ret)) {
        /* the program's BIO does not call it an EOF (PostgreSQL's): as
         * OpenSSL 3 then, SSL_ERROR_SYSCALL with errno 0, nothing fatal,
         * the option below not consulted (torture postgres seed 1, a client
         * killed: the backend logged "SSL error: unexpected eof while
         * reading" under the shim) */
        errno = 0;
        fail_as(c, SSL_ERROR_SYSCALL);
        c->fail_ret = bio_ret;
        return 0;
    }
    if (o->SSL_get_options(s) & SSL_OP_IGNORE_UNEXPECTED_EOF) {
        /* mod_ssl's BIO returns -1: SSL_read then returns -1 with
         * SSL_ERROR_ZERO_RETURN, which mod_ssl logs (AH01992; torture
         * apache seed 1932273833, a truncated record) */
        fail_add_shutdown(s, SSL_RECEIVED_SHUTDOWN);
        fail_as(c, SSL_ERROR_ZERO_RETURN);
        c->fail_ret = bio_ret;
        return 0;
    }
    /* as OpenSSL 3's ssl3_read_n: SSLfatal with decode_error, which goes
     * out where the peer only half-closed, and leaves SSL_get_shutdown as
     * it was (measured with 3.0.19) */
    c->fatal = 1;
    fail_push_error(SSL_R_UNEXPECTED_EOF_WHILE_READING, NULL);
    int shut = o->SSL_get_shutdown(s);
    fail_send_alert(c, s, ALERT_FATAL, ALERT_DECODE_ERROR);
    o->SSL_set_shutdown(s, shut);
    fail_as(c, SSL_ERROR_SSL);
    c->fail_ret = bio_ret;
    return 0;
}

static int is_eagain(int err);
static int wait_in_program_layer(struct conn *c);

/* The kernel said EAGAIN and the program's own layer waits for its socket:
 * 1, read again; 0, the layer's wait failed (SSL_ERROR_SYSCALL set); -1, the
 * layer is non-blocking and has noted it (errno EAGAIN: WANT_READ). */
static int layer_wait_after_eagain(struct conn *c)
{
    int w = wait_in_program_layer(c);
    if (w < 0) {
        fail_as(c, SSL_ERROR_SYSCALL);
        return 0;
    }
    if (w == 0)
        errno = EAGAIN;
    return w > 0 ? 1 : -1;
}

/* Reads the rest of a control message that a short read left unfinished. */
static int ctl_continue(struct conn *c, SSL *s, enum ctl_event *ev)
{
    uint8_t tmp[512];
    while (ctl_in_progress(&c->ctl)) {
        size_t want = ctl_wanted(&c->ctl);
        if (want > sizeof(tmp))
            want = sizeof(tmp);
        uint8_t type;
        int record_end;
        ssize_t n = kernel_recv(c->fd, tmp, want, 0, &type, &record_end);
        if (n < 0 && c->custom_bio && is_eagain(errno)) {
            /* a message split across records: wait as the program's layer
             * waits (mod_ssl's blocking read must not spin) */
            int w = layer_wait_after_eagain(c);
            if (w > 0)
                continue;
            if (w == 0)
                return 0;
        }
        if (n < 0)
            return recv_error(c, s, errno);
        if (n == 0 && !type)
            return on_eof(c, s);
        if (n == 0) {
            *ev = control_empty_record(c, s, type);
            if (*ev != CTL_CONTINUE)
                return 1;
            continue;
        }
        control_saw_record(c, type);
        *ev = control_more(c, s, type, tmp, (size_t)n, record_end);
        if (*ev != CTL_CONTINUE)
            return 1;
    }
    *ev = CTL_CONTINUE;
    return 1;
}

static int is_eagain(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* The kernel has no whole record yet and the program reads through its own
 * BIO: its layer knows how to wait (APR polls with the server's Timeout,
 * HAProxy marks the descriptor not ready for its edge-triggered loop), so
 * it is asked to, through a read the shim answers without the kernel
 * (sockwatch_forced_read). 1: readable now, read again; 0: the layer is
 * non-blocking and has noted it, WANT_READ; -1: its wait failed. */
static int wait_in_program_layer(struct conn *c)
{
    wait_for_the_rest_of_the_record(c);
    int w = sockwatch_layer_wait_readable(&c->watch, c->fd, c->rbio);
    if (w > 0)
        restore_rcvlowat(c);
    if (w < 0)
        LOG_DEBUG("fd=%d rx: the program's layer gave up waiting for the socket (%s)", c->fd,
                  strerror(errno));
    return w;
}

int kio_read(struct conn *c, SSL *s, void *buf, size_t len, size_t *done, int peek)
{
    *done = 0;
    if (c->fatal) {
        fail_push_failed(c);
        return fail_as(c, SSL_ERROR_SSL);
    }
    if (ossl()->SSL_get_shutdown(s) & SSL_RECEIVED_SHUTDOWN)
        return fail_as(c, SSL_ERROR_ZERO_RETURN);
    if (len == 0) {
        /* as OpenSSL: nothing read; SSL_get_error decides from OpenSSL's state */
        return fail_as(c, -1);
    }
    if (fail_socket_lost(c, s, 0))
        return 0;
    restore_rcvlowat(c);
    if (!key_update_send_owed(c, s))
        return 0;
    /* OpenSSL without SSL_MODE_AUTO_RETRY (s_client, s_server and other
     * select() loops clear it) hands a read that met a post-handshake
     * message (a KeyUpdate, a ticket) back as WANT_READ unless more is
     * already in its buffer, even on a blocking socket: the program goes
     * back to select() rather than block in a read while its peer waits for
     * it. The kernel's equivalent of "already in its buffer" is a record it
     * has ready now. */
    int auto_retry = (ossl()->SSL_ctrl(s, SSL_CTRL_MODE, 0, NULL) & SSL_MODE_AUTO_RETRY) != 0;
    int after_handshake_message = 0;
    for (;;) {
        enum ctl_event ev = CTL_CONTINUE;
        if (ctl_in_progress(&c->ctl) && !ctl_continue(c, s, &ev))
            return 0;
        if (ev == CTL_CLOSE)
            return fail_as(c, SSL_ERROR_ZERO_RETURN);
        if (ev == CTL_FATAL)
            return 0; /* its failure is set (fail.h) */

        uint8_t type;
        int record_end;
        int dontwait = after_handshake_message && !auto_retry ? MSG_DONTWAIT : 0;
        ssize_t n = kernel_recv(c->fd, buf, len, (peek ? MSG_PEEK : 0) | dontwait, &type, &record_end);
        if (n < 0 && dontwait && is_eagain(errno))
            return recv_error(c, s, errno);
        if (n < 0 && c->custom_bio && is_eagain(errno)) {
            int w = layer_wait_after_eagain(c);
            if (w > 0)
                continue;
            if (w == 0)
                return 0;
        }
        if (n < 0)
            return recv_error(c, s, errno);
        if (n == 0 && !type)
            return on_eof(c, s);
        if (n > 0)
            control_saw_record(c, type);
        if (n > 0 && type == TLS_RECORD_APPLICATION_DATA) {
            if (c->custom_bio)
                sockwatch_layer_note_data(&c->watch, c->fd, c->rbio);
            if (!peek) {
                c->kernel_rx_bytes += (uint64_t)n;
                stats_add_bytes(c->arm, STATS_KERNEL_RX, (uint64_t)n);
            }
            *done = (size_t)n;
            c->err_override = SSL_ERROR_NONE;
            return 1;
        }
        if (peek) {
            /* consume the control record we peeked at, then look again */
            n = kernel_recv(c->fd, buf, len, 0, &type, &record_end);
            if (n < 0)
                return recv_error(c, s, errno);
            if (n == 0 && !type)
                return on_eof(c, s);
        }
        if (n == 0) {
            ev = control_empty_record(c, s, type);
            if (ev == CTL_FATAL)
                return 0;
            continue;
        }
        ev = control_record(c, s, type, buf, (size_t)n, record_end);
        /* the control bytes we borrowed the buffer for are not data */
        memset(buf, 0, (size_t)n);
        if (type == TLS_RECORD_HANDSHAKE && !ctl_in_progress(&c->ctl))
            after_handshake_message = 1;
        if (ev == CTL_CLOSE)
            return fail_as(c, SSL_ERROR_ZERO_RETURN);
        if (ev == CTL_FATAL)
            return 0; /* its failure is set (fail.h) */
    }
}

int kio_write(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done)
{
    const struct ossl_table *o = ossl();
    *done = 0;
    if (c->fatal || (o->SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN)) {
        fail_push_failed(c);
        return fail_as(c, SSL_ERROR_SSL);
    }
    size_t off = c->tx_committed;
    if (off > len) {
        /* a retry must repeat the call that returned WANT_WRITE; OpenSSL's
         * ssl3_write_bytes fails the connection for good (SSLfatal) */
        c->tx_committed = 0;
        return fail_fatal(c, s, SSL_R_BAD_LENGTH, ALERT_INTERNAL_ERROR,
                          "kTLS: SSL_write retried with fewer bytes than the kernel took");
    }
    if (len == 0) {
        /* s_client writes 0 bytes at stdin EOF and expects SSL_ERROR_SYSCALL */
        return fail_as(c, -1);
    }
    if (fail_socket_lost(c, s, 1))
        return 0;
    int partial = (o->SSL_ctrl(s, SSL_CTRL_MODE, 0, NULL) & SSL_MODE_ENABLE_PARTIAL_WRITE) != 0;
    while (off < len) {
        /* a KeyUpdate owed (asked for, or the record limit) goes before more
         * data, and no other thread's records between it and its key */
        conn_tx_lock(c);
        int r = rekey_tx_flush(c);
        ssize_t n = r <= 0 ? -1 : kernel_send(c->fd, (const char *)buf + off, len - off);
        int err = errno;
        if (n > 0)
            rekey_count_tx(c, (size_t)n);
        conn_tx_unlock(c);
        if (r < 0) {
            c->tx_committed = 0;
            fail_key_update_unsent(c);
            errno = err;
            return 0;
        }
        if (n > 0) {
            off += (size_t)n;
            c->kernel_tx_bytes += (uint64_t)n;
            stats_add_bytes(c->arm, STATS_KERNEL_TX, (uint64_t)n);
            if (partial)
                break;
            continue;
        }
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
            if (partial && off > 0)
                break;
            /* A program whose own layer blocks (Apache's mod_ssl fails the
             * response on WANT_WRITE) must not see it: wait as its layer
             * would have. Only a layer seen handing EAGAIN to OpenSSL as a
             * retry takes WANT_WRITE; one never seen either way (no EAGAIN
             * during the handshake) is waited for: slower for an event loop,
             * never a failed response. */
            if (c->custom_bio && (c->watch.layer_waits || !c->watch.layer_returns) && err != EINTR) {
                int ms = c->watch.wait_ms ? c->watch.wait_ms : LAYER_WAIT_DEFAULT_MS;
                LOG_DEBUG("fd=%d tx: socket full, waiting up to %d ms as the program's layer would",
                          c->fd, ms);
                int w = kernel_wait_writable(c->fd, ms);
                if (w > 0)
                    continue;
                LOG_INFO("fd=%d tx: the socket stayed full for %d ms: %s", c->fd, ms,
                         w == 0 ? "timed out" : strerror(errno));
                c->tx_committed = off;
                errno = w == 0 ? ETIMEDOUT : errno;
                return fail_as(c, SSL_ERROR_SYSCALL);
            }
            /* what the kernel took is on its way; the retry continues after it */
            c->tx_committed = off;
            errno = err;
            return fail_as(c, SSL_ERROR_WANT_WRITE);
        }
        c->tx_committed = 0;
        errno = err;
        return fail_as(c, SSL_ERROR_SYSCALL);
    }
    c->tx_committed = 0;
    *done = off;
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

int kio_failure_return(const struct conn *c)
{
    /* 0 for close_notify, EOF, or a zero-length call; -1 otherwise */
    return c->fail_ret;
}

int kio_shutdown(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    /* the program is ending its SSL, however this call goes */
    atomic_store(&c->program_shut_down, 1);
    if (c->fatal) {
        /* as OpenSSL after a fatal error (its state machine in error, see
         * SSL_in_init in hooks.c): SHUTDOWN_WHILE_IN_INIT, quiet or not; a
         * failure that happened between calls is named first */
        if (c->failed_detail)
            fail_push_failed(c);
        else
            fail_push_error(SSL_R_SHUTDOWN_WHILE_IN_INIT, NULL);
        fail_as(c, SSL_ERROR_SSL);
        return -1;
    }
    if (o->SSL_get_quiet_shutdown(s)) {
        o->SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        c->err_override = SSL_ERROR_NONE;
        return 1;
    }
    int shut = o->SSL_get_shutdown(s);
    if (!(shut & SSL_SENT_SHUTDOWN)) {
        if (c->dir[CONN_TX].state == DIR_KERNEL) {
            if (fail_socket_lost(c, s, 1))
                return -1;
            uint8_t alert[2] = {ALERT_WARNING, ALERT_CLOSE_NOTIFY};
            if (kernel_send_record(c->fd, TLS_RECORD_ALERT, alert, sizeof(alert)) < 0) {
                int err = errno;
                fail_as(c, err == EAGAIN || err == EWOULDBLOCK || err == EINTR ? SSL_ERROR_WANT_WRITE
                                                                            : SSL_ERROR_SYSCALL);
                errno = err;
                return -1;
            }
            fail_add_shutdown(s, SSL_SENT_SHUTDOWN);
            tell_alert(c, s, 1, ALERT_WARNING, ALERT_CLOSE_NOTIFY);
        } else {
            shim_openssl_enter(s);
            int r = REAL(SSL_shutdown)(s);
            shim_openssl_leave();
            observe_flush_deferred(c);
            c->err_override = -1;
            if (r < 0)
                return r;
        }
        c->err_override = SSL_ERROR_NONE;
        return (o->SSL_get_shutdown(s) & SSL_RECEIVED_SHUTDOWN) ? 1 : 0;
    }
    if (!(shut & SSL_RECEIVED_SHUTDOWN)) {
        if (c->dir[CONN_RX].state != DIR_KERNEL) {
            shim_openssl_enter(s);
            int r = REAL(SSL_shutdown)(s);
            shim_openssl_leave();
            observe_flush_deferred(c);
            c->err_override = -1;
            return r;
        }
        /* like OpenSSL: read until the peer's close_notify, discarding data */
        uint8_t sink[4096];
        size_t n;
        while (kio_read(c, s, sink, sizeof(sink), &n, 0))
            ;
        /* a fatal alert ends it too: OpenSSL then has both shutdown flags
         * and returns 1, the alert's error left on the queue */
        if (c->err_override != SSL_ERROR_ZERO_RETURN
            && !(o->SSL_get_shutdown(s) & SSL_RECEIVED_SHUTDOWN))
            return -1;
    }
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

/* With OpenSSL alone, the records a program has not read yet wait in TCP's
 * queue, so FIONREAD counts them. With the kernel's TLS, the rest of a
 * record that a read took only part of waits decrypted, out of that queue,
 * and FIONREAD says 0 while a read would return data. stunnel takes a read
 * hangup with FIONREAD 0 as the end of the stream and dropped the end of it
 * (torture relay seed 804847581). A peek counts those bytes: the rest of one
 * record, or the next control record (its bytes were in TCP's queue too). A
 * peek that fails for any reason but "nothing there" counts 1: OpenSSL alone
 * would have the offending bytes queued, and the program's next read meets
 * the error. */
int kio_unread_decrypted(int fd)
{
    int saved = errno, count = 0;
    struct conn *c = conn_acquire_fd(fd);
    if (c && kernel_owns(c, CONN_RX) && kernel_same_socket(fd, &c->sock)) {
        enum { ONE_RECORD = 16384 };
        char *buf = malloc(ONE_RECORD);
        uint8_t type;
        int record_end;
        ssize_t n = buf ? kernel_recv(fd, buf, ONE_RECORD, MSG_PEEK | MSG_DONTWAIT, &type, &record_end) : -1;
        if (n > 0)
            count = (int)n;
        else if ((n == 0 && type) || (n < 0 && buf && !is_eagain(errno)))
            count = 1; /* an empty control record, or an error to meet */
        free(buf);
    }
    if (c)
        conn_release(c);
    errno = saved;
    return count;
}

/* A program that goes on reading a socket with plain read()/recv() after
 * its SSL_shutdown (sending close_notify, or quiet) or SSL_free (nginx's
 * lingering close does, after SSL_shutdown, with the SSL not freed yet) reads the peer's records as
 * bytes with OpenSSL alone: ciphertext it drops. Where the kernel's TLS
 * decrypts that socket, data still arrives (as plaintext), but the first
 * non-data record (the peer's close_notify) fails such a read with EIO,
 * which nginx logs as an [alert] (torture nginx seed 30932825). The
 * record's bytes are handed over instead, as OpenSSL alone's program got
 * them, and empty ones are skipped. Not while a live connection of the
 * shim's on that socket has not been shut down: its records belong to its
 * own reads then (EIO as before). */
ssize_t kio_read_after_ssl(int fd, void *buf, size_t len, int flags)
{
    struct conn *c = conn_acquire_fd(fd);
    if (c) {
        int ended = atomic_load(&c->program_shut_down);
        conn_release(c);
        if (!ended) {
            errno = EIO;
            return -1;
        }
    }
    if (!kernel_rx_installed(fd)) {
        errno = EIO;
        return -1;
    }
    enum { EMPTY_RECORDS_SKIPPED = 32 };
    for (int i = 0; i <= EMPTY_RECORDS_SKIPPED; i++) {
        uint8_t type;
        int record_end;
        ssize_t n = kernel_recv(fd, buf, len, flags & (MSG_PEEK | MSG_DONTWAIT), &type, &record_end);
        if (n != 0 || !type || !len)
            return n;
        if (flags & MSG_PEEK)
            break; /* a peek would meet the same empty record again */
    }
    errno = EIO;
    return -1;
}

#include "kio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "config.h"
#include "fdmap.h"
#include "kernel.h"
#include "libc.h"
#include "log.h"
#include "record_errors.h"
#include "rekey.h"
#include "sockwatch.h"
#include "stats.h"

/* Apache httpd's built-in Timeout, for a layer whose poll() the shim never
 * saw (it waited some other way, or never had to during the handshake) */
#define LAYER_WAIT_DEFAULT_MS 60000

enum ctl_event { CTL_CONTINUE, CTL_CLOSE, CTL_FATAL };

#define ALERT_WARNING 1
#define ALERT_FATAL 2
#define ALERT_CLOSE_NOTIFY 0
#define ALERT_UNEXPECTED_MESSAGE 10
#define ALERT_ILLEGAL_PARAMETER 47
#define ALERT_DECODE_ERROR 50
#define ALERT_INTERNAL_ERROR 80
#define ALERT_HANDSHAKE_FAILURE 40
#define ALERT_USER_CANCELED 90
#define ALERT_NO_RENEGOTIATION 100

/* OpenSSL's record layer: a fatal error at the 5th warning alert in a row
 * (MAX_WARN_ALERT_COUNT); the count restarts at a record that is not an
 * alert. */
#define MAX_WARN_ALERTS 5
/* ...and at more than 32 records of no bytes in a row (MAX_EMPTY_RECORDS). */
#define MAX_EMPTY_RECORDS 32

static void push_error(int lib, int reason, const char *detail)
{
    const struct ossl_table *o = ossl();
    if (o->err_new && o->err_set_debug && o->err_set_error) {
        o->err_new();
        o->err_set_debug("ktls-shim", 0, "ktls-shim");
        if (detail)
            o->err_set_error(lib, reason, "%s", detail);
        else
            o->err_set_error(lib, reason, NULL);
    } else if (o->err_put_error)
        o->err_put_error(lib, 0, reason, "ktls-shim", 0);
}

void kio_push_error(int reason, const char *detail)
{
    push_error(ERR_LIB_SSL, reason, detail);
}

/* A call on a connection that already failed: the reason it failed for, the
 * first time it is reported (it failed between calls, with nothing to
 * return it from), PROTOCOL_IS_SHUTDOWN after that, as OpenSSL does. */
void kio_push_failed(struct conn *c)
{
    if (c->failed_detail) {
        kio_push_error(SSL_R_UNEXPECTED_MESSAGE, c->failed_detail);
        c->failed_detail = NULL;
    } else
        kio_push_error(SSL_R_PROTOCOL_IS_SHUTDOWN, NULL);
}


static int fail(struct conn *c, int ssl_error)
{
    c->err_override = ssl_error;
    c->fail_ret = ssl_error == SSL_ERROR_ZERO_RETURN || ssl_error < 0 ? 0 : -1;
    return 0;
}

static void add_shutdown(SSL *s, int flag)
{
    const struct ossl_table *o = ossl();
    o->SSL_set_shutdown(s, o->SSL_get_shutdown(s) | flag);
}

static void send_alert(struct conn *c, SSL *s, uint8_t level, uint8_t desc)
{
    if (c->dir[CONN_TX].state != DIR_KERNEL || (ossl()->SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN)
        || !conn_socket_intact(c, 1))
        return;
    uint8_t alert[2] = {level, desc};
    int saved = errno;
    (void)kernel_send_alert(c->fd, alert);
    errno = saved;
    if (level == ALERT_FATAL)
        add_shutdown(s, SSL_SENT_SHUTDOWN);
}

/* A received record the kernel could not open: the error queue and the alert
 * this OpenSSL would have left (record_errors.c); the detail goes with the
 * SSL library's own reason. */
static int fatal_record(struct conn *c, SSL *s, enum record_failure f, const char *detail)
{
    struct queued_error q[RECORD_ERRORS_MAX];
    size_t n = record_failure_queue(f, ossl()->version, c->version,
                                    c->cipher ? c->cipher->cipher : KTLS_CIPHER_NONE, q);
    const char *note = detail;
    c->fatal = 1;
    for (size_t i = 0; i < n; i++) {
        push_error(q[i].lib, q[i].reason, q[i].lib == ERR_LIB_SSL ? note : NULL);
        if (q[i].lib == ERR_LIB_SSL)
            note = NULL;
    }
    send_alert(c, s, ALERT_FATAL, (uint8_t)record_failure_alert(f));
    LOG_INFO("fd=%d connection failed: %s", c->fd, detail);
    return fail(c, SSL_ERROR_SSL);
}

/* The descriptor must still belong to the connection whose keys the kernel
 * holds: closed, replaced (dup2, close_range...) or reused, the connection
 * fails for good, as if the descriptor were just closed (EBADF), rather than
 * read from or write to another socket. Writes also compare the socket's
 * identity (one fstat): after a close the shim cannot see (a raw syscall) and
 * a reuse, a write would put plaintext on the new socket; reads need not,
 * the new socket's bytes arrive without the kernel's record type. */
static int socket_lost(struct conn *c, SSL *s, int check_identity)
{
    if (conn_socket_intact(c, check_identity) && ossl()->SSL_get_rbio(s) == c->rbio)
        return 0;
    c->fatal = 1;
    LOG_INFO("fd=%d the connection's socket was closed or replaced: failed closed", c->fd);
    errno = EBADF;
    fail(c, SSL_ERROR_SYSCALL);
    return 1;
}

/* A fatal protocol error: tell the peer when we can, fail every later call. */
static int fatal(struct conn *c, SSL *s, int reason, uint8_t alert, const char *detail)
{
    c->fatal = 1;
    kio_push_error(reason, detail);
    if (alert)
        send_alert(c, s, ALERT_FATAL, alert);
    LOG_INFO("fd=%d connection failed: %s", c->fd, detail ? detail : "protocol error");
    return fail(c, SSL_ERROR_SSL);
}

/* A record of no bytes (the kernel's read of 0 with a record type), decided
 * as OpenSSL's record layer decides it (ssl3_get_record, ssl3_read_bytes):
 * more than MAX_EMPTY_RECORDS in a row is RECORD_TOO_SMALL, TLS 1.3 allows
 * no empty alert or handshake record (BAD_LENGTH), an alert is two bytes
 * (INVALID_ALERT), and an empty handshake record adds nothing to a message.
 * (Empty data records the kernel skips without a word: not counted.) */
static enum ctl_event on_empty_record(struct conn *c, SSL *s, uint8_t type)
{
    if (type == TLS_RECORD_APPLICATION_DATA)
        return CTL_CONTINUE;
    if (++c->empty_records > MAX_EMPTY_RECORDS) {
        fatal(c, s, SSL_R_RECORD_TOO_SMALL, ALERT_UNEXPECTED_MESSAGE,
              "kTLS: too many records of no bytes in a row");
        return CTL_FATAL;
    }
    if (c->version == TLS1_3_VERSION && (type == TLS_RECORD_ALERT || type == TLS_RECORD_HANDSHAKE)) {
        fatal(c, s, SSL_R_BAD_LENGTH, ALERT_UNEXPECTED_MESSAGE, "kTLS: a TLS 1.3 control record of no bytes");
        return CTL_FATAL;
    }
    if (type == TLS_RECORD_ALERT) {
        fatal(c, s, SSL_R_INVALID_ALERT, ALERT_UNEXPECTED_MESSAGE, "kTLS: an alert record of no bytes");
        return CTL_FATAL;
    }
    if (type == TLS_RECORD_HANDSHAKE)
        return CTL_CONTINUE;
    fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE, "kTLS: unexpected record type");
    return CTL_FATAL;
}

/* An alert record is exactly its two bytes in OpenSSL 1.1.1 and 3.x (an
 * alert split across records, or one with more, is INVALID_ALERT): got
 * bytes of it so far, the record ended with them or not. */
static int alert_record_invalid(size_t got, int record_end)
{
    return record_end ? got != 2 : got > 2;
}

/* A whole alert, decided as OpenSSL 3.0's record layer decides it
 * (ssl3_read_bytes): in TLS 1.3 every alert but close_notify and
 * user_canceled ends the connection whatever its level; in TLS 1.2 a fatal
 * level always does (close_notify and user_canceled too), a warning
 * no_renegotiation fails with NO_RENEGOTIATION, and other warnings are
 * ignored, up to the 5th in a row. */
static enum ctl_event on_alert(struct conn *c, SSL *s, uint8_t level, uint8_t desc)
{
    int tls13 = c->version == TLS1_3_VERSION;
    if (level == ALERT_WARNING || (tls13 && desc == ALERT_USER_CANCELED)) {
        if (++c->warn_alerts == MAX_WARN_ALERTS) {
            fatal(c, s, SSL_R_TOO_MANY_WARN_ALERTS, ALERT_UNEXPECTED_MESSAGE,
                  "kTLS: too many warning alerts in a row");
            return CTL_FATAL;
        }
    }
    if (tls13 && desc == ALERT_USER_CANCELED)
        return CTL_CONTINUE;
    if (desc == ALERT_CLOSE_NOTIFY && (tls13 || level == ALERT_WARNING)) {
        add_shutdown(s, SSL_RECEIVED_SHUTDOWN);
        return CTL_CLOSE;
    }
    if (level == ALERT_FATAL || tls13) {
        /* OpenSSL reports a received fatal alert as reason 1000 + description */
        add_shutdown(s, SSL_RECEIVED_SHUTDOWN);
        c->fatal = 1;
        kio_push_error(SSL_AD_REASON_OFFSET + desc, NULL);
        LOG_INFO("fd=%d peer sent fatal alert %u", c->fd, desc);
        return CTL_FATAL;
    }
    if (desc == ALERT_NO_RENEGOTIATION) {
        fatal(c, s, SSL_R_NO_RENEGOTIATION, ALERT_HANDSHAKE_FAILURE,
              "kTLS: peer sent no_renegotiation");
        return CTL_FATAL;
    }
    if (level == ALERT_WARNING)
        return CTL_CONTINUE;
    fatal(c, s, SSL_R_UNKNOWN_ALERT_TYPE, ALERT_ILLEGAL_PARAMETER, "kTLS: alert of an unknown level");
    return CTL_FATAL;
}

/* A renegotiation the kernel's connection cannot make: refused with a
 * warning no_renegotiation, as OpenSSL refuses one with
 * SSL_OP_NO_RENEGOTIATION (its own kTLS sets it; a 3.0 server refuses a
 * client's by default), and the connection goes on. Where TX is still
 * OpenSSL's the shim cannot write the alert: the request is only dropped. */
static void refuse_renegotiation(struct conn *c, SSL *s, const char *what)
{
    if (kernel_owns(c, CONN_TX)) {
        send_alert(c, s, ALERT_WARNING, ALERT_NO_RENEGOTIATION);
        LOG_DEBUG("fd=%d %s refused with no_renegotiation (no renegotiation under kTLS)", c->fd, what);
    } else
        LOG_DEBUG("fd=%d %s ignored (no renegotiation under kTLS; TX is OpenSSL's)", c->fd, what);
}

static enum ctl_event on_handshake_message(struct conn *c, SSL *s, uint8_t type)
{
    switch (type) {
    case SSL3_MT_NEWSESSION_TICKET:
        if (!c->is_server) {
            LOG_DEBUG("fd=%d NewSessionTicket after the move to the kernel: dropped", c->fd);
            return CTL_CONTINUE;
        }
        break;
    case SSL3_MT_HELLO_REQUEST:
        if (!c->is_server && c->version == TLS1_2_VERSION) {
            if (c->ctl.body_left != 0) {
                fatal(c, s, SSL_R_LENGTH_MISMATCH, ALERT_DECODE_ERROR, "kTLS: HelloRequest with a body");
                return CTL_FATAL;
            }
            refuse_renegotiation(c, s, "HelloRequest");
            return CTL_CONTINUE;
        }
        break;
    case SSL3_MT_CLIENT_HELLO:
        /* the body is skipped as it comes in (ctl_feed) */
        if (c->is_server && c->version == TLS1_2_VERSION) {
            refuse_renegotiation(c, s, "renegotiation ClientHello");
            return CTL_CONTINUE;
        }
        break;
    case SSL3_MT_KEY_UPDATE:
        if (rekey_supported(c)) {
            /* followed once its one body byte is in (ctl_feed) */
            if (c->ctl.body_left != 1) {
                fatal(c, s, SSL_R_BAD_LENGTH, ALERT_DECODE_ERROR, "kTLS: KeyUpdate of a bad length");
                return CTL_FATAL;
            }
            c->ctl.key_update = 1;
            c->ctl.request_update = -1;
            return CTL_CONTINUE;
        }
        stats_event(c->arm, STATS_KEYUPDATE_UNSUPPORTED_KERNEL);
        fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_INTERNAL_ERROR,
              "kTLS: peer sent KeyUpdate; this kernel cannot change kTLS keys (before 6.14)");
        return CTL_FATAL;
    default:
        break;
    }
    fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_UNEXPECTED_MESSAGE,
          "kTLS: unexpected post-handshake message");
    return CTL_FATAL;
}

/* Owes the peer our own KeyUpdate (it asked, or the record limit): through
 * the kernel where it owns TX, else through OpenSSL, as OpenSSL itself would
 * answer. A socket that would block keeps it owed for the next call. 0, or
 * -1 with the connection failed. */
static int owe_key_update(struct conn *c, SSL *s)
{
    if (!kernel_owns(c, CONN_TX)) {
        /* OpenSSL refuses while a write of its own is pending
         * (BAD_WRITE_RETRY): the update stays owed, asked again at the next
         * call, and the refusal leaves nothing on the thread's error queue
         * for another connection's SSL_get_error to find */
        const struct ossl_table *o = ossl();
        o->ERR_set_mark();
        shim_openssl_enter(s);
        int asked = REAL(SSL_key_update)(s, SSL_KEY_UPDATE_NOT_REQUESTED) == 1;
        if (asked)
            (void)REAL(SSL_do_handshake)(s); /* sends it now, or at the next write */
        shim_openssl_leave();
        o->ERR_pop_to_mark();
        c->tx_update_pending = asked ? -1 : SSL_KEY_UPDATE_NOT_REQUESTED;
        return 0;
    }
    int saved = errno;
    conn_tx_lock(c);
    if (c->tx_update_pending < 0)
        c->tx_update_pending = SSL_KEY_UPDATE_NOT_REQUESTED;
    int r = rekey_tx_flush(c);
    conn_tx_unlock(c);
    errno = saved;
    if (r >= 0)
        return 0;
    c->fatal = 1;
    kio_push_error(SSL_R_UNEXPECTED_MESSAGE, "kTLS: our KeyUpdate could not be sent or installed");
    return -1;
}

/* The peer's KeyUpdates the shim follows for it, counted in a fixed window
 * (KTLS_SHIM_KEY_UPDATE_MAX per KTLS_SHIM_KEY_UPDATE_WINDOW seconds): each
 * costs a key derivation and a setsockopt, and a peer that sends them in a
 * storm (haproxy#3450) gets its connection closed with a fatal alert rather
 * than the process's CPU. OpenSSL 3.0 sets no such limit; BoringSSL stops at
 * 32 in a row, GnuTLS at 8 a second. 1: within the limit. */
static int key_update_within_limit(struct conn *c)
{
    const struct shim_config *cfg = config_get();
    if (cfg->key_update_max == 0)
        return 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (c->key_updates_in_window == 0
        || now.tv_sec - c->key_update_window_start >= (long long)cfg->key_update_window) {
        c->key_update_window_start = now.tv_sec;
        c->key_updates_in_window = 0;
    }
    return ++c->key_updates_in_window <= cfg->key_update_max;
}

static enum ctl_event key_update_storm(struct conn *c, SSL *s)
{
    const struct shim_config *cfg = config_get();
    char detail[160];
    snprintf(detail, sizeof(detail),
             "kTLS: the peer sent more than %u KeyUpdates in %u s (KTLS_SHIM_KEY_UPDATE_MAX)",
             cfg->key_update_max, cfg->key_update_window);
    stats_event(c->arm, STATS_KEYUPDATE_STORM);
    fatal(c, s, SSL_R_TOO_MANY_KEY_UPDATES, ALERT_UNEXPECTED_MESSAGE, detail);
    return CTL_FATAL;
}

/* The peer's KeyUpdate, whole, read from kernel RX: the next RX key before
 * anything else is read (the kernel holds back every later record until
 * then), and our own KeyUpdate if it asked for one. trailing: bytes of the
 * same record after it, which RFC 8446 5.1 forbids (a key change ends its
 * record). */
static enum ctl_event on_key_update(struct conn *c, SSL *s, int request_update, size_t trailing)
{
    if (request_update != SSL_KEY_UPDATE_NOT_REQUESTED && request_update != SSL_KEY_UPDATE_REQUESTED) {
        fatal(c, s, SSL_R_BAD_KEY_UPDATE, ALERT_ILLEGAL_PARAMETER, "kTLS: KeyUpdate request out of range");
        return CTL_FATAL;
    }
    if (trailing) {
        fatal(c, s, SSL_R_NOT_ON_RECORD_BOUNDARY, ALERT_UNEXPECTED_MESSAGE,
              "kTLS: KeyUpdate not at the end of its record");
        return CTL_FATAL;
    }
    if (!key_update_within_limit(c))
        return key_update_storm(c, s);
    int err = rekey_rx(c);
    if (err) {
        fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_INTERNAL_ERROR,
              "kTLS: the kernel refused the next RX key after the peer's KeyUpdate");
        return CTL_FATAL;
    }
    /* Records that arrived while the kernel waited for the key stay
     * unparsed until more bytes come (measured on 7.3: a whole record
     * queued, and reads and poll() said nothing was there), so a program
     * waiting in select() for them would wait for ever. Setting
     * SO_RCVLOWAT runs the socket's data-ready path, which parses them. */
    kernel_set_rcvlowat(c->fd, c->rcvlowat_raised ? c->rcvlowat_app : kernel_rcvlowat(c->fd));
    c->rcvlowat_raised = 0;
    if (request_update == SSL_KEY_UPDATE_REQUESTED && owe_key_update(c, s) < 0) {
        fail(c, SSL_ERROR_SSL);
        return CTL_FATAL;
    }
    return CTL_CONTINUE;
}

/* Feeds bytes of a control record through c->ctl, one message at a time. */
static enum ctl_event ctl_feed(struct conn *c, SSL *s, const uint8_t *p, size_t n)
{
    struct ctl_progress *ctl = &c->ctl;
    while (n > 0) {
        if (ctl->hdr_have < ctl->hdr_need) {
            size_t take = ctl->hdr_need - ctl->hdr_have;
            if (take > n)
                take = n;
            memcpy(ctl->hdr + ctl->hdr_have, p, take);
            ctl->hdr_have += take;
            p += take;
            n -= take;
            if (ctl->hdr_have < ctl->hdr_need)
                break;
            if (ctl->type == TLS_RECORD_ALERT) {
                enum ctl_event ev = on_alert(c, s, ctl->hdr[0], ctl->hdr[1]);
                ctl->hdr_have = 0;
                if (ev != CTL_CONTINUE) {
                    ctl->hdr_need = 0;
                    return ev;
                }
                continue;
            }
            ctl->body_left = (size_t)ctl->hdr[1] << 16 | (size_t)ctl->hdr[2] << 8 | ctl->hdr[3];
            enum ctl_event ev = on_handshake_message(c, s, ctl->hdr[0]);
            if (ev != CTL_CONTINUE) {
                ctl->hdr_need = ctl->hdr_have = ctl->body_left = 0;
                return ev;
            }
        }
        size_t skip = ctl->body_left < n ? ctl->body_left : n;
        if (ctl->key_update && skip > 0)
            ctl->request_update = p[0];
        ctl->body_left -= skip;
        p += skip;
        n -= skip;
        if (ctl->body_left == 0) {
            ctl->hdr_have = 0; /* next message of the same record, if any */
            if (ctl->key_update) {
                ctl->key_update = 0;
                enum ctl_event ev = on_key_update(c, s, ctl->request_update, n);
                if (ev != CTL_CONTINUE) {
                    ctl->hdr_need = 0;
                    return ev;
                }
            }
        }
    }
    if (ctl->hdr_have == 0 && ctl->body_left == 0)
        ctl->hdr_need = 0; /* nothing in progress */
    return CTL_CONTINUE;
}

static int ctl_in_progress(const struct conn *c)
{
    return c->ctl.hdr_need != 0 && (c->ctl.hdr_have != 0 || c->ctl.body_left != 0);
}

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
        return fail(c, SSL_ERROR_WANT_READ);
    case EINTR:
        sockwatch_layer_note_want_read(&c->watch);
        errno = err;
        return fail(c, SSL_ERROR_WANT_READ);
    case EBADMSG:
        return fatal_record(c, s, RECORD_BAD_MAC, "kTLS: record failed authentication (EBADMSG)");
    case EMSGSIZE:
        return fatal_record(c, s, RECORD_TOO_LONG, "kTLS: malformed or oversized record (EMSGSIZE)");
    case EINVAL:
        return fatal_record(c, s, RECORD_BAD_VERSION, "kTLS: record version mismatch (EINVAL)");
    case EKEYEXPIRED:
        return fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_INTERNAL_ERROR,
                     "kTLS: peer sent KeyUpdate (EKEYEXPIRED)");
    case EIO:
        return fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: record type not deliverable (EIO)");
    case ENOMSG:
        /* no alert: the socket may not be the kernel's TLS any more, and an
         * alert would go out in clear */
        return fatal(c, s, SSL_R_UNEXPECTED_RECORD, 0,
                     "kTLS: bytes without a record type (not a kTLS socket, or the cmsg was cut)");
    default:
        /* connection-level failure: SSL_ERROR_SYSCALL with errno intact */
        errno = err;
        return fail(c, SSL_ERROR_SYSCALL);
    }
}

static int on_eof(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    if (o->version < 0x30000000L) {
        /* 1.1.1: EOF without close_notify is SSL_ERROR_SYSCALL with errno 0 */
        errno = 0;
        fail(c, SSL_ERROR_SYSCALL);
        c->fail_ret = 0;
        return 0;
    }
    if (o->SSL_get_options(s) & SSL_OP_IGNORE_UNEXPECTED_EOF) {
        add_shutdown(s, SSL_RECEIVED_SHUTDOWN);
        return fail(c, SSL_ERROR_ZERO_RETURN);
    }
    c->fatal = 1;
    kio_push_error(SSL_R_UNEXPECTED_EOF_WHILE_READING, NULL);
    fail(c, SSL_ERROR_SSL);
    c->fail_ret = 0; /* OpenSSL 3 hands back the 0 its BIO read returned */
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
        fail(c, SSL_ERROR_SYSCALL);
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
    while (ctl_in_progress(c)) {
        size_t want = c->ctl.hdr_have < c->ctl.hdr_need ? c->ctl.hdr_need - c->ctl.hdr_have
                                                        : c->ctl.body_left;
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
            *ev = on_empty_record(c, s, type);
            if (*ev != CTL_CONTINUE)
                return 1;
            continue;
        }
        c->empty_records = 0;
        if (type != TLS_RECORD_ALERT)
            c->warn_alerts = 0;
        if (type != c->ctl.type)
            return fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE,
                         "kTLS: message split across records of different types");
        /* the rest of an alert whose first byte came alone (a read of one) */
        if (type == TLS_RECORD_ALERT && !record_end)
            return fatal(c, s, SSL_R_INVALID_ALERT, ALERT_UNEXPECTED_MESSAGE,
                         "kTLS: an alert record longer than two bytes");
        *ev = ctl_feed(c, s, tmp, (size_t)n);
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
        kio_push_failed(c);
        return fail(c, SSL_ERROR_SSL);
    }
    if (ossl()->SSL_get_shutdown(s) & SSL_RECEIVED_SHUTDOWN)
        return fail(c, SSL_ERROR_ZERO_RETURN);
    if (len == 0) {
        /* as OpenSSL: nothing read; SSL_get_error decides from OpenSSL's state */
        return fail(c, -1);
    }
    if (socket_lost(c, s, 0))
        return 0;
    restore_rcvlowat(c);
    /* OpenSSL sends a KeyUpdate SSL_key_update left owed from SSL_read too */
    if (c->tx_update_pending >= 0 && owe_key_update(c, s) < 0)
        return fail(c, SSL_ERROR_SSL);
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
        if (ctl_in_progress(c) && !ctl_continue(c, s, &ev))
            return 0;
        if (ev == CTL_CLOSE)
            return fail(c, SSL_ERROR_ZERO_RETURN);
        if (ev == CTL_FATAL)
            return fail(c, SSL_ERROR_SSL);

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
            c->empty_records = 0;
        if (n > 0 && type != TLS_RECORD_ALERT)
            c->warn_alerts = 0;
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
            ev = on_empty_record(c, s, type);
            if (ev == CTL_FATAL)
                return fail(c, SSL_ERROR_SSL);
            continue;
        }
        if (type != TLS_RECORD_ALERT && type != TLS_RECORD_HANDSHAKE)
            return fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE,
                         "kTLS: unexpected record type");
        if (type == TLS_RECORD_ALERT && alert_record_invalid((size_t)n, record_end))
            return fatal(c, s, SSL_R_INVALID_ALERT, ALERT_UNEXPECTED_MESSAGE,
                         "kTLS: an alert record that is not two bytes");
        c->ctl.type = type;
        c->ctl.hdr_need = type == TLS_RECORD_ALERT ? 2 : 4;
        c->ctl.hdr_have = 0;
        c->ctl.body_left = 0;
        ev = ctl_feed(c, s, buf, (size_t)n);
        /* the control bytes we borrowed the buffer for are not data */
        memset(buf, 0, (size_t)n);
        if (type == TLS_RECORD_HANDSHAKE && !ctl_in_progress(c))
            after_handshake_message = 1;
        if (ev == CTL_CLOSE)
            return fail(c, SSL_ERROR_ZERO_RETURN);
        if (ev == CTL_FATAL)
            return fail(c, SSL_ERROR_SSL);
    }
}

int kio_write(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done)
{
    const struct ossl_table *o = ossl();
    *done = 0;
    if (c->fatal || (o->SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN)) {
        kio_push_failed(c);
        return fail(c, SSL_ERROR_SSL);
    }
    size_t off = c->tx_committed;
    if (off > len) {
        /* a retry must repeat the call that returned WANT_WRITE */
        c->tx_committed = 0;
        kio_push_error(SSL_R_BAD_LENGTH, NULL);
        return fail(c, SSL_ERROR_SSL);
    }
    if (len == 0) {
        /* s_client writes 0 bytes at stdin EOF and expects SSL_ERROR_SYSCALL */
        return fail(c, -1);
    }
    if (socket_lost(c, s, 1))
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
            c->fatal = 1;
            c->tx_committed = 0;
            kio_push_error(SSL_R_UNEXPECTED_MESSAGE, "kTLS: our KeyUpdate could not be sent or installed");
            errno = err;
            return fail(c, SSL_ERROR_SSL);
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
                return fail(c, SSL_ERROR_SYSCALL);
            }
            /* what the kernel took is on its way; the retry continues after it */
            c->tx_committed = off;
            errno = err;
            return fail(c, SSL_ERROR_WANT_WRITE);
        }
        c->tx_committed = 0;
        errno = err;
        return fail(c, SSL_ERROR_SYSCALL);
    }
    c->tx_committed = 0;
    *done = off;
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

/* OpenSSL (owning RX) read the peer's KeyUpdate asking for ours, and TX is
 * the kernel's: ours goes through the kernel, where it can rekey; where it
 * cannot, the connection fails as a kernel-read KeyUpdate would. */
static void answer_key_update(struct conn *c, SSL *s)
{
    if (c->fatal)
        return;
    if (!key_update_within_limit(c)) {
        (void)key_update_storm(c, s);
        return;
    }
    if (rekey_supported(c)) {
        (void)owe_key_update(c, s);
        return;
    }
    stats_event(c->arm, STATS_KEYUPDATE_UNSUPPORTED_KERNEL);
    c->fatal = 1;
    c->failed_detail = "kTLS: peer asked for our KeyUpdate; this kernel cannot change kTLS keys (before 6.14)";
    LOG_INFO("fd=%d connection failed: the peer asked for a KeyUpdate kernel TX cannot make", c->fd);
}

void kio_flush_deferred(struct conn *c)
{
    struct conn_deferred *d = &c->deferred;
    if (d->key_update_reply) {
        d->key_update_reply = 0;
        int saved = errno;
        answer_key_update(c, c->ssl);
        errno = saved;
    }
    if (!d->divert_report && !d->shutdown_socket && !d->alert && !d->divert_handshake)
        return;
    int saved = errno;
    /* An alert OpenSSL meant to send (a warning no_renegotiation, say) goes
     * out through the kernel and the connection goes on, unless it was
     * fatal. A handshake message (a certificate request, a renegotiation)
     * cannot be sent: the connection ends at once, both ways, so neither
     * side waits for a timeout. */
    int ends = d->divert_handshake || d->shutdown_socket
               || (d->divert_report && !d->alert) || (d->alert && d->alert_bytes[0] == ALERT_FATAL);
    if (d->alert && conn_socket_intact(c, 1)
        && kernel_send_record(c->fd, TLS_RECORD_ALERT, d->alert_bytes, 2) == 2)
        LOG_INFO("fd=%d OpenSSL's alert (level %u, description %u) went out through the kernel "
                 "(TX moved)", c->fd, d->alert_bytes[0], d->alert_bytes[1]);
    if (d->divert_handshake)
        LOG_ERROR("fd=%d OpenSSL wrote a handshake message after TX moved to the kernel (a "
                  "certificate request or renegotiation the kernel cannot carry); connection ended",
                  c->fd);
    else if (d->divert_report && ends)
        LOG_ERROR("fd=%d OpenSSL wrote a record after TX moved to the kernel; connection failed closed",
                  c->fd);
    if (ends && !c->fatal) {
        c->fatal = 1;
        c->failed_detail = "kTLS: OpenSSL had to write a handshake message after TX moved to the kernel";
    }
    if ((d->divert_handshake || d->shutdown_socket) && c->fd >= 0 && conn_socket_intact(c, 0))
        shutdown(c->fd, SHUT_RDWR);
    memset(d, 0, sizeof(*d));
    errno = saved;
}

void kio_retry_owed_key_update(struct conn *c, SSL *s)
{
    if (c->tx_update_pending >= 0 && !kernel_owns(c, CONN_TX) && !c->fatal)
        (void)owe_key_update(c, s);
}

int kio_failure_return(const struct conn *c)
{
    /* 0 for close_notify, EOF, or a zero-length call; -1 otherwise */
    return c->fail_ret;
}

int kio_shutdown(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    if (c->fatal) {
        /* as OpenSSL after a fatal error (its state machine in error, see
         * SSL_in_init in hooks.c): SHUTDOWN_WHILE_IN_INIT, quiet or not; a
         * failure that happened between calls is named first */
        if (c->failed_detail)
            kio_push_failed(c);
        else
            kio_push_error(SSL_R_SHUTDOWN_WHILE_IN_INIT, NULL);
        fail(c, SSL_ERROR_SSL);
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
            if (socket_lost(c, s, 1))
                return -1;
            uint8_t alert[2] = {ALERT_WARNING, ALERT_CLOSE_NOTIFY};
            if (kernel_send_record(c->fd, TLS_RECORD_ALERT, alert, sizeof(alert)) < 0) {
                int err = errno;
                fail(c, err == EAGAIN || err == EWOULDBLOCK || err == EINTR ? SSL_ERROR_WANT_WRITE
                                                                            : SSL_ERROR_SYSCALL);
                errno = err;
                return -1;
            }
            add_shutdown(s, SSL_SENT_SHUTDOWN);
        } else {
            shim_openssl_enter(s);
            int r = REAL(SSL_shutdown)(s);
            shim_openssl_leave();
            kio_flush_deferred(c);
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
            kio_flush_deferred(c);
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

int kio_key_update(struct conn *c, SSL *s, int type)
{
    if (c->version != TLS1_3_VERSION
        || (type != SSL_KEY_UPDATE_NOT_REQUESTED && type != SSL_KEY_UPDATE_REQUESTED)) {
        /* OpenSSL's own refusal, with its own error (wrong version, bad type):
         * it changes nothing on these paths */
        shim_openssl_enter(s);
        int r = REAL(SSL_key_update)(s, type);
        shim_openssl_leave();
        c->err_override = -1;
        return r;
    }
    if (c->fatal) {
        kio_push_failed(c);
        c->err_override = SSL_ERROR_SSL;
        return 0;
    }
    if (!rekey_supported(c)) {
        stats_event(c->arm, STATS_KEYUPDATE_UNSUPPORTED_KERNEL);
        kio_push_error(SSL_R_UNEXPECTED_MESSAGE,
                       "kTLS: SSL_key_update on an offloaded connection (this kernel cannot rekey: before 6.14)");
        c->err_override = SSL_ERROR_SSL;
        LOG_INFO("fd=%d SSL_key_update refused: this kernel cannot rekey", c->fd);
        return 0;
    }
    /* OpenSSL keeps the last type asked for until it sends one (one whose
     * first bytes are out already keeps its own) */
    conn_tx_lock(c);
    if (c->tx_update_sent == 0)
        c->tx_update_pending = type;
    conn_tx_unlock(c);
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

int kio_key_update_type(const struct conn *c)
{
    return c->tx_update_pending < 0 ? SSL_KEY_UPDATE_NONE : c->tx_update_pending;
}

int kio_handshake(struct conn *c, SSL *s)
{
    if (c->tx_update_pending >= 0 && kernel_owns(c, CONN_TX)) {
        int r = rekey_tx_flush(c);
        if (r == 0) {
            c->err_override = SSL_ERROR_WANT_WRITE;
            return -1;
        }
        if (r < 0) {
            c->fatal = 1;
            kio_push_error(SSL_R_UNEXPECTED_MESSAGE, "kTLS: our KeyUpdate could not be sent or installed");
            c->err_override = SSL_ERROR_SSL;
            return -1;
        }
    }
    (void)s;
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

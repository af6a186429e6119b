#include "control.h"

#include "fail.h"
#include "kernel.h"
#include "log.h"
#include "key_update.h"
#include "rekey.h"
#include "stats.h"
#include "tell.h"

/* OpenSSL's record layer: a fatal error at the 5th warning alert in a row
 * (MAX_WARN_ALERT_COUNT); the count restarts at a record that is not an
 * alert. */
#define MAX_WARN_ALERTS 5
/* ...and at more than 32 records of no bytes in a row (MAX_EMPTY_RECORDS). */
#define MAX_EMPTY_RECORDS 32

struct call {
    struct conn *c;
    SSL *s;
};

static enum ctl_event fatal(struct conn *c, SSL *s, int reason, uint8_t alert, const char *detail)
{
    fail_fatal(c, s, reason, alert, detail);
    return CTL_FATAL;
}

/* (Empty data records the kernel skips without a word: not counted.) As
 * OpenSSL's record layer (ssl3_get_record, ssl3_read_bytes): more than
 * MAX_EMPTY_RECORDS in a row is RECORD_TOO_SMALL, TLS 1.3 allows no empty
 * alert or handshake record (BAD_LENGTH), an alert is two bytes
 * (INVALID_ALERT), and an empty handshake record adds nothing to a message. */
enum ctl_event control_empty_record(struct conn *c, SSL *s, uint8_t type)
{
    if (type == TLS_RECORD_APPLICATION_DATA)
        return CTL_CONTINUE;
    if (++c->empty_records > MAX_EMPTY_RECORDS)
        return fatal(c, s, SSL_R_RECORD_TOO_SMALL, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: too many records of no bytes in a row");
    if (c->version == TLS1_3_VERSION && (type == TLS_RECORD_ALERT || type == TLS_RECORD_HANDSHAKE))
        return fatal(c, s, SSL_R_BAD_LENGTH, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: a TLS 1.3 control record of no bytes");
    if (type == TLS_RECORD_ALERT)
        return fatal(c, s, SSL_R_INVALID_ALERT, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: an alert record of no bytes");
    if (type == TLS_RECORD_HANDSHAKE)
        return CTL_CONTINUE;
    return fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE, "kTLS: unexpected record type");
}

void control_saw_record(struct conn *c, uint8_t type)
{
    c->empty_records = 0;
    if (type != TLS_RECORD_ALERT)
        c->warn_alerts = 0;
}

/* A whole alert, decided as OpenSSL 3.0's record layer decides it
 * (ssl3_read_bytes): in TLS 1.3 every alert but close_notify and
 * user_canceled ends the connection whatever its level; in TLS 1.2 a fatal
 * level always does (close_notify and user_canceled too), a warning
 * no_renegotiation fails with NO_RENEGOTIATION, and other warnings are
 * ignored, up to the 5th in a row. */
static enum ctl_event on_alert(void *ctx, uint8_t level, uint8_t desc)
{
    struct conn *c = ((struct call *)ctx)->c;
    SSL *s = ((struct call *)ctx)->s;
    int tls13 = c->version == TLS1_3_VERSION;
    tell_alert(c, s, 0, level, desc);
    if (level == ALERT_WARNING || (tls13 && desc == ALERT_USER_CANCELED)) {
        if (++c->warn_alerts == MAX_WARN_ALERTS)
            return fatal(c, s, SSL_R_TOO_MANY_WARN_ALERTS, ALERT_UNEXPECTED_MESSAGE,
                         "kTLS: too many warning alerts in a row");
    }
    if (tls13 && desc == ALERT_USER_CANCELED)
        return CTL_CONTINUE;
    if (desc == ALERT_CLOSE_NOTIFY && (tls13 || level == ALERT_WARNING)) {
        fail_add_shutdown(s, SSL_RECEIVED_SHUTDOWN);
        return CTL_CLOSE;
    }
    if (level == ALERT_FATAL || tls13) {
        /* OpenSSL reports a received fatal alert as reason 1000 + description,
         * and its SSL_read returns 0 (ssl3_read_bytes, 1.1.1 and 3.x) */
        fail_add_shutdown(s, SSL_RECEIVED_SHUTDOWN);
        c->fatal = 1;
        fail_push_error(SSL_AD_REASON_OFFSET + desc, NULL);
        fail_as(c, SSL_ERROR_SSL);
        c->fail_ret = 0;
        LOG_INFO("fd=%d peer sent fatal alert %u", c->fd, desc);
        return CTL_FATAL;
    }
    if (desc == ALERT_NO_RENEGOTIATION)
        return fatal(c, s, SSL_R_NO_RENEGOTIATION, ALERT_HANDSHAKE_FAILURE,
                     "kTLS: peer sent no_renegotiation");
    if (level == ALERT_WARNING)
        return CTL_CONTINUE;
    return fatal(c, s, SSL_R_UNKNOWN_ALERT_TYPE, ALERT_ILLEGAL_PARAMETER, "kTLS: alert of an unknown level");
}

/* A renegotiation the kernel's connection cannot make: refused with a
 * warning no_renegotiation, as OpenSSL refuses one with
 * SSL_OP_NO_RENEGOTIATION (its own kTLS sets it; a 3.0 server refuses a
 * client's by default), and the connection goes on. Where TX is still
 * OpenSSL's the shim cannot write the alert: the request is only dropped. */
static void refuse_renegotiation(struct conn *c, SSL *s, const char *what)
{
    if (kernel_owns(c, CONN_TX)) {
        fail_send_alert(c, s, ALERT_WARNING, ALERT_NO_RENEGOTIATION);
        LOG_DEBUG("fd=%d %s refused with no_renegotiation (no renegotiation under kTLS)", c->fd, what);
    } else
        LOG_DEBUG("fd=%d %s ignored (no renegotiation under kTLS; TX is OpenSSL's)", c->fd, what);
}

static enum ctl_event on_handshake_message(void *ctx, uint8_t type, size_t body_len)
{
    struct conn *c = ((struct call *)ctx)->c;
    SSL *s = ((struct call *)ctx)->s;
    switch (type) {
    case SSL3_MT_NEWSESSION_TICKET:
        if (!c->is_server) {
            LOG_DEBUG("fd=%d NewSessionTicket after the move to the kernel: dropped", c->fd);
            return CTL_CONTINUE;
        }
        break;
    case SSL3_MT_HELLO_REQUEST:
        if (!c->is_server && c->version == TLS1_2_VERSION) {
            if (body_len != 0)
                return fatal(c, s, SSL_R_LENGTH_MISMATCH, ALERT_DECODE_ERROR, "kTLS: HelloRequest with a body");
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
            if (body_len != 1)
                return fatal(c, s, SSL_R_BAD_LENGTH, ALERT_DECODE_ERROR, "kTLS: KeyUpdate of a bad length");
            return CTL_CONTINUE;
        }
        stats_event(c->arm, STATS_KEYUPDATE_UNSUPPORTED_KERNEL);
        return fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_INTERNAL_ERROR,
                     "kTLS: peer sent KeyUpdate; this kernel cannot change kTLS keys (before 6.14)");
    default:
        break;
    }
    return fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_UNEXPECTED_MESSAGE,
                 "kTLS: unexpected post-handshake message");
}

static enum ctl_event on_key_update(void *ctx, int request_update, size_t trailing)
{
    return key_update_from_peer(((struct call *)ctx)->c, ((struct call *)ctx)->s, request_update, trailing);
}

static const struct ctl_handlers handlers = {
    .alert = on_alert,
    .handshake = on_handshake_message,
    .key_update = on_key_update,
};

enum ctl_event control_record(struct conn *c, SSL *s, uint8_t type, const uint8_t *p, size_t n,
                              int record_end)
{
    if (type != TLS_RECORD_ALERT && type != TLS_RECORD_HANDSHAKE)
        return fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE, "kTLS: unexpected record type");
    if (type == TLS_RECORD_ALERT && ctl_alert_record_invalid(n, record_end))
        return fatal(c, s, SSL_R_INVALID_ALERT, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: an alert record that is not two bytes");
    ctl_begin(&c->ctl, type);
    struct call call = {c, s};
    return ctl_feed(&c->ctl, p, n, &handlers, &call);
}

enum ctl_event control_more(struct conn *c, SSL *s, uint8_t type, const uint8_t *p, size_t n,
                            int record_end)
{
    if (type != c->ctl.type)
        return fatal(c, s, SSL_R_UNEXPECTED_RECORD, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: message split across records of different types");
    /* the rest of an alert whose first byte came alone (a read of one) */
    if (type == TLS_RECORD_ALERT && !record_end)
        return fatal(c, s, SSL_R_INVALID_ALERT, ALERT_UNEXPECTED_MESSAGE,
                     "kTLS: an alert record longer than two bytes");
    struct call call = {c, s};
    return ctl_feed(&c->ctl, p, n, &handlers, &call);
}

#include "key_update.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "fail.h"
#include "kernel.h"
#include "log.h"
#include "rekey.h"
#include "stats.h"

/* Owes the peer our own KeyUpdate (it asked, or the record limit): through
 * the kernel where it owns TX, else through OpenSSL, as OpenSSL itself would
 * answer. A socket that would block keeps it owed for the next call. 1, or
 * 0 with the connection failed (fail.h). */
static int owe(struct conn *c, SSL *s)
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
        return 1;
    }
    int saved = errno;
    conn_tx_lock(c);
    if (c->tx_update_pending < 0)
        c->tx_update_pending = SSL_KEY_UPDATE_NOT_REQUESTED;
    int r = rekey_tx_flush(c);
    conn_tx_unlock(c);
    errno = saved;
    return r >= 0 ? 1 : fail_key_update_unsent(c);
}

/* The peer's KeyUpdates the shim follows for it, counted in a fixed window
 * (KTLS_SHIM_KEY_UPDATE_MAX per KTLS_SHIM_KEY_UPDATE_WINDOW seconds): each
 * costs a key derivation and a setsockopt, and a peer that sends them in a
 * storm (haproxy#3450) gets its connection closed with a fatal alert rather
 * than the process's CPU. OpenSSL 3.0 sets no such limit; BoringSSL stops at
 * 32 in a row, GnuTLS at 8 a second. 1: within the limit. */
static int within_limit(struct conn *c)
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

static enum ctl_event storm(struct conn *c, SSL *s)
{
    const struct shim_config *cfg = config_get();
    char detail[160];
    snprintf(detail, sizeof(detail),
             "kTLS: the peer sent more than %u KeyUpdates in %u s (KTLS_SHIM_KEY_UPDATE_MAX)",
             cfg->key_update_max, cfg->key_update_window);
    stats_event(c->arm, STATS_KEYUPDATE_STORM);
    fail_fatal(c, s, SSL_R_TOO_MANY_KEY_UPDATES, ALERT_UNEXPECTED_MESSAGE, detail);
    return CTL_FATAL;
}

/* The next RX key before anything else is read (the kernel holds back every
 * later record until then), and our own KeyUpdate if the peer asked for
 * one. RFC 8446 5.1: a key change ends its record. */
enum ctl_event key_update_from_peer(struct conn *c, SSL *s, int request, size_t trailing)
{
    if (request != SSL_KEY_UPDATE_NOT_REQUESTED && request != SSL_KEY_UPDATE_REQUESTED) {
        fail_fatal(c, s, SSL_R_BAD_KEY_UPDATE, ALERT_ILLEGAL_PARAMETER, "kTLS: KeyUpdate request out of range");
        return CTL_FATAL;
    }
    if (trailing) {
        fail_fatal(c, s, SSL_R_NOT_ON_RECORD_BOUNDARY, ALERT_UNEXPECTED_MESSAGE,
                   "kTLS: KeyUpdate not at the end of its record");
        return CTL_FATAL;
    }
    if (!within_limit(c))
        return storm(c, s);
    if (rekey_rx(c)) {
        fail_fatal(c, s, SSL_R_UNEXPECTED_MESSAGE, ALERT_INTERNAL_ERROR,
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
    if (request == SSL_KEY_UPDATE_REQUESTED && !owe(c, s))
        return CTL_FATAL;
    return CTL_CONTINUE;
}

/* Ours goes through the kernel, where it can rekey; where it cannot, the
 * connection fails as a kernel-read KeyUpdate would. */
void key_update_answer_peer(struct conn *c, SSL *s)
{
    if (c->fatal)
        return;
    if (!within_limit(c)) {
        (void)storm(c, s);
        return;
    }
    if (rekey_supported(c)) {
        (void)owe(c, s);
        return;
    }
    stats_event(c->arm, STATS_KEYUPDATE_UNSUPPORTED_KERNEL);
    c->fatal = 1;
    c->failed_detail = "kTLS: peer asked for our KeyUpdate; this kernel cannot change kTLS keys (before 6.14)";
    LOG_INFO("fd=%d connection failed: the peer asked for a KeyUpdate kernel TX cannot make", c->fd);
}

/* OpenSSL sends a KeyUpdate SSL_key_update left owed from SSL_read too */
int key_update_send_owed(struct conn *c, SSL *s)
{
    return c->tx_update_pending >= 0 ? owe(c, s) : 1;
}

void key_update_retry_owed(struct conn *c, SSL *s)
{
    if (c->tx_update_pending >= 0 && !kernel_owns(c, CONN_TX) && !c->fatal)
        (void)owe(c, s);
}

int key_update_ssl_key_update(struct conn *c, SSL *s, int type)
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
        fail_push_failed(c);
        c->err_override = SSL_ERROR_SSL;
        return 0;
    }
    if (!rekey_supported(c)) {
        stats_event(c->arm, STATS_KEYUPDATE_UNSUPPORTED_KERNEL);
        fail_push_error(SSL_R_UNEXPECTED_MESSAGE,
                        "kTLS: SSL_key_update on an offloaded connection (this kernel cannot rekey: before 6.14)");
        c->err_override = SSL_ERROR_SSL;
        LOG_INFO("fd=%d SSL_key_update refused: this kernel cannot rekey", c->fd);
        return 0;
    }
    /* OpenSSL's SSL_key_update puts the connection back in init until the
     * KeyUpdate is sent, and refuses another meanwhile (STILL_IN_INIT; in
     * 3.0 and 3.5 alike, found by seqfuzz in the 7.3 guest) */
    conn_tx_lock(c);
    int owed = c->tx_update_pending >= 0;
    if (!owed)
        c->tx_update_pending = type;
    conn_tx_unlock(c);
    if (owed) {
        fail_push_error(SSL_R_STILL_IN_INIT, NULL);
        c->err_override = SSL_ERROR_SSL;
        return 0;
    }
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

int key_update_type(const struct conn *c)
{
    return c->tx_update_pending < 0 ? SSL_KEY_UPDATE_NONE : c->tx_update_pending;
}

int key_update_handshake(struct conn *c, SSL *s)
{
    (void)s;
    if (c->tx_update_pending >= 0 && kernel_owns(c, CONN_TX)) {
        int r = rekey_tx_flush(c);
        if (r == 0) {
            c->err_override = SSL_ERROR_WANT_WRITE;
            return -1;
        }
        if (r < 0) {
            fail_key_update_unsent(c);
            return -1;
        }
    }
    c->err_override = SSL_ERROR_NONE;
    return 1;
}

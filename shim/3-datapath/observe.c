#include "observe.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl_parse.h"
#include "hello.h"
#include "kernel.h"
#include "key_update.h"
#include "keylog.h"
#include "log.h"
#include "planted.h"

/* When TX belongs to the kernel, any record OpenSSL builds (an alert, a
 * KeyUpdate reply, a ticket) would reach the socket as application data of
 * the kernel's stream. Point OpenSSL's writes at a sink before it flushes and
 * fail the connection instead; the report (and the socket shutdown if no sink
 * could be made) waits until OpenSSL has returned. */
static void divert_openssl_writes(struct conn *c, SSL *s)
{
    if (c->wbio_diverted)
        return;
    const struct ossl_table *o = ossl();
    BIO *sink = o->BIO_new(o->BIO_s_null());
    BIO *program_wbio = o->SSL_get_wbio(s);
    /* SSL_set0_wbio frees the write BIO it replaces unless it is also the
     * read BIO. A program may hold its own pointer to it (mod_ssl calls
     * BIO_get_data on its write BIO after every SSL_write): keep it alive
     * with a reference of ours, released when the connection ends. */
    if (sink && (!program_wbio || PLANTED(drop_bio_ref) || o->BIO_up_ref(program_wbio))) {
        c->kept_wbio = program_wbio;
        c->sink_wbio = sink;
        o->SSL_set0_wbio(s, sink);
    } else {
        o->BIO_free_all(sink); /* NULL-safe */
        c->deferred.shutdown_socket = 1;
    }
    c->wbio_diverted = 1;
    c->deferred.divert_report = 1;
}

/* Runs inside OpenSSL: counts records and records what needs doing; no I/O. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct conn *c = conn_get(ssl);
    if (c) {
        c->app_msg_arg = arg;
        struct conn_dir *d = &c->dir[write_p ? CONN_TX : CONN_RX];
        if (content_type == SSL3_RT_HEADER && write_p && c->dir[CONN_TX].state == DIR_KERNEL)
            divert_openssl_writes(c, ssl);
        if (content_type == SSL3_RT_HEADER && write_p) {
            /* TX's byte base (offload.c checks the records against it; RX is
             * not held to one): the written count before this record, which is
             * not out yet. Another BIO means the program gave the SSL a new
             * one (wrk calls SSL_set_fd on every retry of a non-blocking
             * SSL_connect; the new BIO is made before the old is freed, so the
             * address differs): the records counted so far went out through
             * the old one, and the count goes on from the new one's. Bytes
             * still buffered at the swap would reach the new BIO unreported:
             * the sum at install then differs, and TX stays in OpenSSL.
             * The same address is no proof of the same BIO: malloc hands a
             * freed BIO's memory to a later BIO_new (wrk's BIO of the retry
             * after next can sit where the one of its ClientHello was: TX
             * stayed in OpenSSL for 2 of 1000 wrk connections under load),
             * so the BIO carries a mark. Not its count: during the handshake
             * records wait in OpenSSL's buffering BIO in front of it. A BIO
             * that could not take the mark leaves no base: TX stays in
             * OpenSSL (install's record accounting). (Unsigned: exact mod 2^64.) */
            const struct ossl_table *o = ossl();
            BIO *b = o->SSL_get_wbio(ssl);
            if (b && (!d->bio_base_set || b != d->based_bio || !conn_bio_marked(b, d))
                && !d->bio_unmarked) {
                d->bio_base = o->BIO_number_written(b) - d->seq.bytes;
                d->bio_base_set = 1;
                d->based_bio = b;
                if (!conn_bio_mark(b, d))
                    d->bio_unmarked = 1;
            }
        }
        recseq_observe(&d->seq, content_type, buf, len);
        const uint8_t *m = buf;
        if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0) {
            if (m[0] == SSL3_MT_CLIENT_HELLO
                && hello_offers_extension(m, len, HELLO_EXT_POST_HANDSHAKE_AUTH))
                c->pha_offered = 1;
            /* a handshake message OpenSSL writes while the kernel owns TX
             * (a certificate request, a renegotiation) goes to the sink:
             * the connection cannot go on */
            if (c->dir[CONN_TX].state == DIR_KERNEL)
                c->deferred.divert_handshake = 1;
        }
        /* The peer asks for our KeyUpdate and the kernel owns TX: OpenSSL
         * would answer it itself, through its own record layer, which must
         * never write again. The data path answers through the kernel
         * instead (observe_flush_deferred), and OpenSSL, which reads the message
         * from this very buffer after the callback, is shown it as
         * update_not_requested, so it does not. The application's callback
         * sees the message as it came. */
        const uint8_t *b = buf;
        if (!write_p && content_type == SSL3_RT_HANDSHAKE && len == 5 && b[0] == SSL3_MT_KEY_UPDATE
            && b[1] == 0 && b[2] == 0 && b[3] == 1 && b[4] == SSL_KEY_UPDATE_REQUESTED
            && c->dir[CONN_TX].state == DIR_KERNEL) {
            c->deferred.key_update_reply = 1;
            if (c->app_msg_cb)
                c->app_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
            ((uint8_t *)buf)[4] = SSL_KEY_UPDATE_NOT_REQUESTED;
            return;
        }
        /* the alert OpenSSL meant to send went to the sink: send it for real */
        if (content_type == SSL3_RT_ALERT && write_p && c->wbio_diverted && len == 2) {
            memcpy(c->deferred.alert_bytes, buf, 2);
            c->deferred.alert = 1;
        }
    }
    if (c && c->app_msg_cb)
        c->app_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
}

static void on_keylog(const SSL *ssl, const char *line)
{
    struct conn *c = conn_get(ssl);
    if (c && !c->decided) {
        size_t n;
        if ((n = keylog_parse_secret(line, "CLIENT_TRAFFIC_SECRET_0", c->client_secret,
                                     sizeof(c->client_secret))))
            c->client_secret_len = n;
        else if ((n = keylog_parse_secret(line, "SERVER_TRAFFIC_SECRET_0", c->server_secret,
                                          sizeof(c->server_secret))))
            c->server_secret_len = n;
    }
    keylog_cb_fn app = ctx_registry_app_keylog_cb(ossl()->SSL_get_SSL_CTX(ssl), on_keylog);
    if (app)
        app(ssl, line);
}

struct conn *observe_attach(SSL *s)
{
    struct conn *c = conn_attach(s);
    if (c && !c->observed) {
        REAL(SSL_set_msg_callback)(s, on_msg);
        observe_watch_ctx(ossl()->SSL_get_SSL_CTX(s));
        c->observed = 1;
    }
    return c;
}

void observe_watch_ctx(SSL_CTX *ctx)
{
    ctx_registry_install_keylog(ctx, on_keylog);
}

void observe_ctx_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb)
{
    ctx_registry_set_app_keylog_cb(ctx, cb, on_keylog);
}

keylog_cb_fn observe_ctx_app_keylog_cb(const SSL_CTX *ctx)
{
    return ctx_registry_app_keylog_cb(ctx, on_keylog);
}

void observe_set_app_msg_cb(SSL *s, msg_cb_fn cb)
{
    struct conn *c = conn_get(s);
    if (c && c->observed)
        c->app_msg_cb = cb;
    else
        REAL(SSL_set_msg_callback)(s, cb);
}


void observe_flush_deferred(struct conn *c)
{
    struct conn_deferred *d = &c->deferred;
    if (d->key_update_reply) {
        d->key_update_reply = 0;
        int saved = errno;
        key_update_answer_peer(c, c->ssl);
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

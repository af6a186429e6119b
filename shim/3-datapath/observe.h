/* The observers OpenSSL calls while it owns a connection: the message
 * callback counts records per direction and key epoch (the kernel needs the
 * exact next sequence number) and, once the kernel owns TX, keeps OpenSSL's
 * own records off the socket; the keylog callback captures TLS 1.3 traffic
 * secrets. They run inside OpenSSL and only record; what needs I/O is done
 * by observe_flush_deferred once OpenSSL has returned. The program's own
 * callbacks are kept and chained. */
#ifndef KTLS_SHIM_OBSERVE_H
#define KTLS_SHIM_OBSERVE_H

#include "conn.h"

/* conn_attach, and the observers on s and its SSL_CTX. NULL as conn_attach. */
struct conn *observe_attach(SSL *s);
/* Make sure the keylog observer sits on ctx (SSL_new, SSL_set_SSL_CTX). */
void observe_watch_ctx(SSL_CTX *ctx);
/* The program's callbacks, kept instead of replacing ours. */
void observe_set_app_msg_cb(SSL *s, msg_cb_fn cb);
void observe_ctx_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb);
keylog_cb_fn observe_ctx_app_keylog_cb(const SSL_CTX *ctx);
/* The I/O the message callback had to leave for later (struct
 * conn_deferred): run after every real OpenSSL call. */
void observe_flush_deferred(struct conn *c);

#endif

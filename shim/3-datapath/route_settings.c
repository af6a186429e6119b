/* The calls that change what OpenSSL does rather than move bytes: the
 * program's callbacks (kept beside the shim's observers), the record
 * settings the kernel cannot follow, SSL_clear and an SNI context switch. */
#include "route.h"

#include "observe.h"

void route_reset(struct conn *c)
{
    conn_reset(c);
}

void route_set_app_msg_cb(SSL *s, msg_cb_fn cb)
{
    if (watched(s))
        observe_set_app_msg_cb(s, cb);
    else
        REAL(SSL_set_msg_callback)(s, cb);
}

/* (only where handshakes are observed: route_wanted) */
void route_ctx_set_app_msg_cb(SSL_CTX *ctx, msg_cb_fn cb)
{
    if (route_wanted())
        ctx_registry_set_app_msg_cb(ctx, cb);
    else
        REAL(SSL_CTX_set_msg_callback)(ctx, cb);
}

void route_ctx_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb)
{
    if (route_wanted())
        observe_ctx_set_app_keylog_cb(ctx, cb);
    else
        REAL(SSL_CTX_set_keylog_callback)(ctx, cb);
}

keylog_cb_fn route_ctx_app_keylog_cb(const SSL_CTX *ctx)
{
    if (route_wanted())
        return observe_ctx_app_keylog_cb(ctx);
    return REAL(SSL_CTX_get_keylog_callback)(ctx);
}

/* SNI switched contexts: keylog is read from the new one. Not route_tracked():
 * servers switch from a callback inside the handshake (HAProxy's client
 * hello callback), which is exactly when it matters. */
void route_ctx_switched(SSL *s, SSL_CTX *ctx)
{
    struct conn *c = conn_get(s);
    if (c && c->observed && !c->decided)
        observe_watch_ctx(ctx);
}

void route_note_record_setting(SSL *s, enum record_setting what, long value)
{
    conn_note_record_setting(s, what, value);
}

void route_ctx_note_record_setting(SSL_CTX *ctx, enum record_setting what, long value)
{
    ctx_registry_note_record_setting(ctx, what, value);
}

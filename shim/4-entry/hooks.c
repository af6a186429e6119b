/* The interposed OpenSSL entry points. Each one is thin: pass straight through
 * unless the SSL is one the shim watches, else one call into route.h, which
 * decides between OpenSSL and the kernel. Reads and writes are timed for the
 * CPU sample (cpu_sample.h) around all of that. */
#include "hooks.h"
#include "route.h"

EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
    ENTER(SSL_new, NULL, ctx);
    SSL *s = REAL(SSL_new)(ctx);
    if (s && !shim_depth)
        route_attach(s);
    return s;
}

EXPORT void SSL_free(SSL *s)
{
    ENTER_VOID(SSL_free, s);
    REAL(SSL_free)(s); /* our state (and its fd entry) goes with the SSL's ex_data */
}

EXPORT int SSL_clear(SSL *s)
{
    ENTER(SSL_clear, 0, s);
    struct conn *c = route_tracked(s);
    int ret = REAL(SSL_clear)(s);
    if (c && ret == 1)
        route_reset(c);
    return ret;
}

static int handshake(SSL *s, int (*real)(SSL *))
{
    struct conn *c = watched(s);
    return c ? route_handshake(c, s, real) : route_handshake_unwatched(s, real);
}

EXPORT int SSL_do_handshake(SSL *s)
{
    ENTER(SSL_do_handshake, -1, s);
    return handshake(s, REAL(SSL_do_handshake));
}
EXPORT int SSL_connect(SSL *s)
{
    ENTER(SSL_connect, -1, s);
    return handshake(s, REAL(SSL_connect));
}
EXPORT int SSL_accept(SSL *s)
{
    ENTER(SSL_accept, -1, s);
    return handshake(s, REAL(SSL_accept));
}

/* ---- reads ---- */

static int read_routed(SSL *s, void *buf, int num)
{
    struct conn *passing, *c = watched_or(s, &passing);
    if (!c) {
        int in_handshake = route_unwatched_in_handshake(s);
        int ret = REAL(SSL_read)(s, buf, num);
        route_unwatched_after(s, in_handshake);
        route_count_openssl(passing, STATS_OPENSSL_RX, ret);
        return ret;
    }
    return route_read(c, s, buf, num, 0);
}

EXPORT int SSL_read(SSL *s, void *buf, int num)
{
    ENTER(SSL_read, -1, s, buf, num);
    TIMED_IO(CPU_RX, read_routed(s, buf, num), ret > 0 ? (uint64_t)ret : 0);
}

EXPORT int SSL_peek(SSL *s, void *buf, int num)
{
    ENTER(SSL_peek, -1, s, buf, num);
    struct conn *c = watched(s);
    if (!c)
        return REAL(SSL_peek)(s, buf, num);
    return route_read(c, s, buf, num, 1);
}

static int read_ex_routed(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    struct conn *passing, *c = watched_or(s, &passing);
    if (!c) {
        int in_handshake = route_unwatched_in_handshake(s);
        int ret = REAL(SSL_read_ex)(s, buf, num, readbytes);
        route_unwatched_after(s, in_handshake);
        route_count_openssl(passing, STATS_OPENSSL_RX, ret > 0 && readbytes ? (long long)*readbytes : 0);
        return ret;
    }
    return route_read_ex(c, s, buf, num, readbytes, 0);
}

EXPORT int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    ENTER(SSL_read_ex, 0, s, buf, num, readbytes);
    TIMED_IO(CPU_RX, read_ex_routed(s, buf, num, readbytes), ret > 0 && readbytes ? (uint64_t)*readbytes : 0);
}

EXPORT int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    ENTER(SSL_peek_ex, 0, s, buf, num, readbytes);
    struct conn *c = watched(s);
    if (!c)
        return REAL(SSL_peek_ex)(s, buf, num, readbytes);
    return route_read_ex(c, s, buf, num, readbytes, 1);
}

EXPORT int SSL_pending(const SSL *s)
{
    ENTER(SSL_pending, 0, s);
    if (route_rx_in_kernel(watched(s)))
        return 0; /* the kernel holds undelivered data; we buffer none */
    return REAL(SSL_pending)(s);
}

EXPORT int SSL_has_pending(const SSL *s)
{
    ENTER(SSL_has_pending, 0, s);
    if (route_rx_in_kernel(watched(s)))
        return 0;
    return REAL(SSL_has_pending)(s);
}

/* ---- writes ---- */

static int write_routed(SSL *s, const void *buf, int num)
{
    struct conn *passing, *c = watched_or(s, &passing);
    if (!c) {
        int in_handshake = route_unwatched_in_handshake(s);
        int ret = REAL(SSL_write)(s, buf, num);
        route_unwatched_after(s, in_handshake);
        route_count_openssl(passing, STATS_OPENSSL_TX, ret);
        return ret;
    }
    return route_write(c, s, buf, num);
}

EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    ENTER(SSL_write, -1, s, buf, num);
    TIMED_IO(CPU_TX, write_routed(s, buf, num), ret > 0 ? (uint64_t)ret : 0);
}

static int write_ex_routed(SSL *s, const void *buf, size_t num, size_t *written)
{
    struct conn *passing, *c = watched_or(s, &passing);
    if (!c) {
        int in_handshake = route_unwatched_in_handshake(s);
        int ret = REAL(SSL_write_ex)(s, buf, num, written);
        route_unwatched_after(s, in_handshake);
        route_count_openssl(passing, STATS_OPENSSL_TX, ret > 0 && written ? (long long)*written : 0);
        return ret;
    }
    size_t n = 0;
    int ok = route_write_ex(c, s, buf, num, &n);
    if (written)
        *written = n;
    return ok;
}

EXPORT int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
    ENTER(SSL_write_ex, 0, s, buf, num, written);
    TIMED_IO(CPU_TX, write_ex_routed(s, buf, num, written), ret > 0 && written ? (uint64_t)*written : 0);
}

/* ---- errors, shutdown, things the kernel cannot follow ---- */

EXPORT int SSL_get_error(const SSL *s, int ret)
{
    ENTER(SSL_get_error, SSL_ERROR_SSL, s, ret);
    return route_get_error(route_tracked(s), s, ret);
}

EXPORT int SSL_shutdown(SSL *s)
{
    ENTER(SSL_shutdown, -1, s);
    struct conn *c = watched(s);
    if (!c)
        return REAL(SSL_shutdown)(s);
    return route_shutdown(c, s);
}

/* OpenSSL puts its state machine in error at a fatal protocol error (a bad
 * record, an unexpected EOF, a fatal alert): SSL_in_init says 1 from then on
 * and SSL_is_init_finished 0, and SSL_shutdown refuses. Servers read that as
 * "nothing more to say" (lighttpd then ends the connection without a word in
 * its log). A failure the shim met in the kernel's records never reached
 * OpenSSL's state machine, so the shim answers as OpenSSL would have.
 * OpenSSL's own calls (several per record) go straight through: they are
 * inside a call the shim already routed, and need no look-up. */
EXPORT int SSL_in_init(const SSL *s)
{
    if (ossl_from_served_libssl(__builtin_return_address(0)))
        return REAL(SSL_in_init)(s);
    ENTER(SSL_in_init, 0, s);
    if (route_failed(route_tracked(s)))
        return 1;
    return REAL(SSL_in_init)(s);
}

EXPORT int SSL_is_init_finished(const SSL *s)
{
    if (ossl_from_served_libssl(__builtin_return_address(0)))
        return REAL(SSL_is_init_finished)(s);
    ENTER(SSL_is_init_finished, 0, s);
    if (route_failed(route_tracked(s)))
        return 0;
    return REAL(SSL_is_init_finished)(s);
}

/* TLS 1.3 KeyUpdate: where the kernel owns TX it is sent through the kernel
 * (rekey.c); where OpenSSL owns TX, OpenSSL sends it, and the peer's answer
 * reaches whichever side owns RX. */
EXPORT int SSL_key_update(SSL *s, int updatetype)
{
    ENTER(SSL_key_update, 0, s, updatetype);
    struct conn *c = watched(s);
    return c ? route_key_update(c, s, updatetype) : REAL(SSL_key_update)(s, updatetype);
}

EXPORT int SSL_get_key_update_type(const SSL *s)
{
    ENTER(SSL_get_key_update_type, SSL_KEY_UPDATE_NONE, s);
    const struct conn *c = watched(s);
    return c ? route_key_update_type(c, s) : REAL(SSL_get_key_update_type)(s);
}

EXPORT int SSL_renegotiate(SSL *s)
{
    ENTER(SSL_renegotiate, 0, s);
    struct conn *c = watched(s);
    return c ? route_renegotiate(c, s, 0) : REAL(SSL_renegotiate)(s);
}

EXPORT int SSL_renegotiate_abbreviated(SSL *s)
{
    ENTER(SSL_renegotiate_abbreviated, 0, s);
    struct conn *c = watched(s);
    return c ? route_renegotiate(c, s, 1) : REAL(SSL_renegotiate_abbreviated)(s);
}

/* ---- keep our observers in place when the application installs its own ---- */

EXPORT void SSL_set_msg_callback(SSL *s, msg_cb_fn cb)
{
    ENTER_VOID(SSL_set_msg_callback, s, cb);
    route_set_app_msg_cb(s, cb);
}

EXPORT void SSL_CTX_set_msg_callback(SSL_CTX *ctx, msg_cb_fn cb)
{
    ENTER_VOID(SSL_CTX_set_msg_callback, ctx, cb);
    if (shim_depth)
        REAL(SSL_CTX_set_msg_callback)(ctx, cb);
    else
        route_ctx_set_app_msg_cb(ctx, cb);
}

EXPORT void SSL_CTX_set_keylog_callback(SSL_CTX *ctx, keylog_cb_fn cb)
{
    ENTER_VOID(SSL_CTX_set_keylog_callback, ctx, cb);
    if (shim_depth)
        REAL(SSL_CTX_set_keylog_callback)(ctx, cb);
    else
        route_ctx_set_app_keylog_cb(ctx, cb);
}

EXPORT keylog_cb_fn SSL_CTX_get_keylog_callback(const SSL_CTX *ctx)
{
    ENTER(SSL_CTX_get_keylog_callback, NULL, ctx);
    if (shim_depth)
        return REAL(SSL_CTX_get_keylog_callback)(ctx);
    return route_ctx_app_keylog_cb(ctx);
}

EXPORT SSL_CTX *SSL_set_SSL_CTX(SSL *s, SSL_CTX *ctx)
{
    ENTER(SSL_set_SSL_CTX, NULL, s, ctx);
    SSL_CTX *ret = REAL(SSL_set_SSL_CTX)(s, ctx);
    if (ret)
        route_ctx_switched(s, ret);
    return ret;
}

/* ---- settings that change how OpenSSL builds records ---- */

EXPORT long SSL_ctrl(SSL *s, int cmd, long larg, void *parg)
{
    ENTER(SSL_ctrl, 0, s, cmd, larg, parg);
    long r = REAL(SSL_ctrl)(s, cmd, larg, parg);
    if (cmd == SSL_CTRL_SET_MAX_SEND_FRAGMENT && r > 0)
        route_note_record_setting(s, SET_MAX_SEND_FRAGMENT, larg);
    return r;
}

EXPORT long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg)
{
    ENTER(SSL_CTX_ctrl, 0, ctx, cmd, larg, parg);
    long r = REAL(SSL_CTX_ctrl)(ctx, cmd, larg, parg);
    if (cmd == SSL_CTRL_SET_MAX_SEND_FRAGMENT && r > 0)
        route_ctx_note_record_setting(ctx, SET_MAX_SEND_FRAGMENT, larg);
    return r;
}

/* (In OpenSSL 1.1.1 the two record padding callback setters return void:
 * their callers never look at what is returned here.) */
EXPORT int SSL_set_record_padding_callback(SSL *s, size_t (*cb)(SSL *, int, size_t, void *))
{
    ENTER(SSL_set_record_padding_callback, 0, s, cb);
    int r = REAL(SSL_set_record_padding_callback)(s, cb);
    route_note_record_setting(s, SET_PAD_CALLBACK, cb != NULL);
    return r;
}

EXPORT void SSL_CTX_set_record_padding_callback(SSL_CTX *ctx,
                                                size_t (*cb)(SSL *, int, size_t, void *))
{
    ENTER_VOID(SSL_CTX_set_record_padding_callback, ctx, cb);
    REAL(SSL_CTX_set_record_padding_callback)(ctx, cb);
    route_ctx_note_record_setting(ctx, SET_PAD_CALLBACK, cb != NULL);
}

/* a block size of 0 or 1 means no padding */
EXPORT int SSL_set_block_padding(SSL *s, size_t block_size)
{
    ENTER(SSL_set_block_padding, 0, s, block_size);
    int r = REAL(SSL_set_block_padding)(s, block_size);
    if (r == 1)
        route_note_record_setting(s, SET_PAD_BLOCK, block_size > 1);
    return r;
}

EXPORT int SSL_CTX_set_block_padding(SSL_CTX *ctx, size_t block_size)
{
    ENTER(SSL_CTX_set_block_padding, 0, ctx, block_size);
    int r = REAL(SSL_CTX_set_block_padding)(ctx, block_size);
    if (r == 1)
        route_ctx_note_record_setting(ctx, SET_PAD_BLOCK, block_size > 1);
    return r;
}

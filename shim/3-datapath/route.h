/* Which way each call on a TLS connection goes: to OpenSSL while it owns a
 * direction, to kio where the kernel does, with the bookkeeping around
 * every real OpenSSL call (the handshake finishing, record boundaries, I/O
 * the message callback deferred, byte counts). The interposers and file
 * serving both go through here, never through each other. */
#ifndef KTLS_SHIM_ROUTE_H
#define KTLS_SHIM_ROUTE_H

#include "conn.h"
#include "stats.h"

/* Track connections at all (also on kernels without kTLS: sendfile safety). */
int route_enabled(void);
/* Observe handshakes: only worth it where the kernel can take keys. */
int route_wanted(void);
/* A new SSL from SSL_new: attach state when the shim is enabled. */
void route_attach(SSL *s);

/* The state of an SSL the shim tracks, or NULL to pass a call straight to
 * OpenSSL (untracked SSL, or a nested call from inside OpenSSL). */
struct conn *route_tracked(const SSL *s);
/* Like route_tracked(), but NULL also for connections that stay in OpenSSL for
 * good (passthrough); those come back in *passing when it is not NULL. */
struct conn *watched_or(const SSL *s, struct conn **passing);
static inline struct conn *watched(const SSL *s)
{
    return watched_or(s, NULL);
}

/* Bytes OpenSSL encrypted or decrypted, for the stats of c's arm (c may be
 * NULL: an SSL the shim does not track). */
void route_count_openssl(struct conn *c, enum stats_bytes kind, long long n);

/* real: SSL_do_handshake, SSL_connect or SSL_accept. */
/* Set at SSL_new while the shim is off (KTLS_SHIM_MODE=off, KTLS_SHIM=0)
 * and stats are on: handshakes are counted as passed through. */
extern int route_counting_passthrough;
/* Around a read or write on an SSL the shim does not watch, where the
 * handshake may finish implicitly (s_client's first SSL_read): */
static inline int route_unwatched_in_handshake(const SSL *s)
{
    return __builtin_expect(route_counting_passthrough, 0) && !ossl()->SSL_is_init_finished(s);
}
void route_unwatched_finished(const SSL *s);
static inline void route_unwatched_after(const SSL *s, int was_in_handshake)
{
    if (__builtin_expect(was_in_handshake, 0))
        route_unwatched_finished(s);
}
/* A handshake on an SSL the shim does not watch: counted as passed through
 * when the shim is off and stats are on (stats_passed_through). */
int route_handshake_unwatched(SSL *s, int (*real)(SSL *));
int route_handshake(struct conn *c, SSL *s, int (*real)(SSL *));
/* A sampled read or write of s (cpu_sample.h) ended, having moved bytes:
 * counted in its connection's arm once that is decided. Keeps errno. */
void route_cpu_sample(const SSL *s, const struct cpu_mark *m, int dir, uint64_t bytes);
/* SSL_write_ex semantics, by whichever owns TX; c from route_tracked(). */
int route_write_ex(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done);
/* SSL_get_error's answer; c from route_tracked() (passthrough included: the
 * sendfile emulation answers for its own calls) or NULL. */
int route_get_error(const struct conn *c, const SSL *s, int ret);
/* The entry points' calls, each to OpenSSL or the kernel, whichever owns
 * the direction; c from watched(). SSL_read/SSL_peek's int convention: */
int route_read(struct conn *c, SSL *s, void *buf, int num, int peek);
/* SSL_read_ex/SSL_peek_ex's: 1/0 and *readbytes */
int route_read_ex(struct conn *c, SSL *s, void *buf, size_t num, size_t *readbytes, int peek);
int route_write(struct conn *c, SSL *s, const void *buf, int num);
int route_shutdown(struct conn *c, SSL *s);
/* The kernel owns c's RX (OpenSSL buffers nothing: SSL_pending is 0). */
int route_rx_in_kernel(const struct conn *c);
int route_key_update(struct conn *c, SSL *s, int type);
int route_key_update_type(const struct conn *c, const SSL *s);
/* SSL_renegotiate(_abbreviated): refused once a direction is the kernel's. */
int route_renegotiate(struct conn *c, SSL *s, int abbreviated);
/* The connection failed in the shim's hands (OpenSSL's state machine never
 * saw it): SSL_in_init and SSL_is_init_finished answer as after an error. */
int route_failed(const struct conn *c);

/* route_settings.c: calls that change what OpenSSL does. */
void route_reset(struct conn *c); /* SSL_clear succeeded */
void route_set_app_msg_cb(SSL *s, msg_cb_fn cb);
void route_ctx_set_app_msg_cb(SSL_CTX *ctx, msg_cb_fn cb);
void route_ctx_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb);
keylog_cb_fn route_ctx_app_keylog_cb(const SSL_CTX *ctx);
/* SSL_set_SSL_CTX gave s this context. */
void route_ctx_switched(SSL *s, SSL_CTX *ctx);
void route_note_record_setting(SSL *s, enum record_setting what, long value);
void route_ctx_note_record_setting(SSL_CTX *ctx, enum record_setting what, long value);

#endif

/* What the program set on an SSL_CTX that the shim must keep or chain: its
 * own message and keylog callbacks (the shim's observers sit in their
 * place) and the record settings SSL_new copies into each SSL. Hung off the
 * SSL_CTX with ex_data, freed with it. */
#ifndef KTLS_SHIM_CTX_REGISTRY_H
#define KTLS_SHIM_CTX_REGISTRY_H

#include <stddef.h>

#include "ossl.h"

typedef void (*msg_cb_fn)(int write_p, int version, int content_type, const void *buf,
                          size_t len, SSL *ssl, void *arg);
typedef void (*keylog_cb_fn)(const SSL *ssl, const char *line);

/* Settings that change how OpenSSL builds the records it sends; the kernel
 * builds its own (16 KiB, unpadded). */
enum record_setting { SET_MAX_SEND_FRAGMENT, SET_PAD_CALLBACK, SET_PAD_BLOCK };
struct record_shape {
    long max_send_fragment;     /* 0: OpenSSL's default, 16384 */
    int pad_callback, pad_block;
};

/* 0 when OpenSSL is incomplete (no ex_data). */
int ctx_registry_ready(void);
/* What an SSL made from ctx starts with: the program's message callback
 * and record settings. */
void ctx_registry_defaults(const SSL_CTX *ctx, msg_cb_fn *app_msg_cb, struct record_shape *shape);
/* value: the fragment size, or 0/1 */
void ctx_registry_note_record_setting(SSL_CTX *ctx, enum record_setting what, long value);
void record_shape_set(struct record_shape *r, enum record_setting what, long value);
/* The program's SSL_CTX_set_msg_callback: kept for the SSLs the shim
 * observes, and set on the SSL_CTX as asked. */
void ctx_registry_set_app_msg_cb(SSL_CTX *ctx, msg_cb_fn cb);
/* Puts ours as ctx's keylog callback, keeping the program's (once). */
void ctx_registry_install_keylog(SSL_CTX *ctx, keylog_cb_fn ours);
/* The program's SSL_CTX_set_keylog_callback: kept, and ours stays in
 * place where it was installed. */
void ctx_registry_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb, keylog_cb_fn ours);
/* The program's keylog callback on ctx (never ours). */
keylog_cb_fn ctx_registry_app_keylog_cb(const SSL_CTX *ctx, keylog_cb_fn ours);

#endif

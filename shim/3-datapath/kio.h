/* SSL_read/SSL_write/SSL_shutdown semantics for directions the kernel owns:
 * plain socket calls, with control records (alerts, post-handshake messages)
 * handled here and never handed to the application as data. Each call leaves
 * c->err_override set to what SSL_get_error must answer. */
#ifndef KTLS_SHIM_KIO_H
#define KTLS_SHIM_KIO_H

#include "conn.h"

/* 1 with *done bytes, or 0 on failure. */
int kio_read(struct conn *c, SSL *s, void *buf, size_t len, size_t *done, int peek);
int kio_write(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done);
/* SSL_shutdown's return convention: 1, 0 or -1. */
int kio_shutdown(struct conn *c, SSL *s);
/* SSL_key_update while the kernel owns TX: owed, and sent at the next read,
 * write or handshake call, as OpenSSL would. 1, or 0 with OpenSSL's error. */
int kio_key_update(struct conn *c, SSL *s, int type);
/* SSL_get_key_update_type while the kernel owns TX. */
int kio_key_update_type(const struct conn *c);
/* SSL_do_handshake on an established connection the kernel serves: sends an
 * owed KeyUpdate. 1, or -1 (SSL_get_error: WANT_WRITE or SSL). */
int kio_handshake(struct conn *c, SSL *s);
/* A KeyUpdate the peer asked for while OpenSSL keeps TX, which OpenSSL
 * refused to queue (a write of its own was pending): asked for again. */
void kio_retry_owed_key_update(struct conn *c, SSL *s);
/* The int that SSL_read/SSL_write return after kio_* failed. */
int kio_failure_return(const struct conn *c);
/* The I/O OpenSSL's message callback had to leave for later (see
 * struct conn_deferred): run after every real OpenSSL call. */
void kio_flush_deferred(struct conn *c);
/* The error for a call on a connection that already failed (c->fatal). */
void kio_push_failed(struct conn *c);
/* Put an SSL-library error on the queue, as OpenSSL would. */
void kio_push_error(int reason, const char *detail);

#endif

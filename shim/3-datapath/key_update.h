/* TLS 1.3 KeyUpdate policy on connections the kernel serves: when ours is
 * owed and how it goes out (through the kernel, or through OpenSSL where it
 * keeps TX), following the peer's within a rate limit, and SSL_key_update /
 * SSL_get_key_update_type's answers. The key changes themselves (next
 * secret, second TLS_TX/TLS_RX) are rekey.c's. Results as in fail.h. */
#ifndef KTLS_SHIM_KEY_UPDATE_H
#define KTLS_SHIM_KEY_UPDATE_H

#include "conn.h"
#include "ctl_parse.h"

/* The peer's KeyUpdate, whole, read from kernel RX (control.c): request:
 * its request_update byte; trailing: bytes of its record after it. */
enum ctl_event key_update_from_peer(struct conn *c, SSL *s, int request, size_t trailing);
/* OpenSSL (owning RX) read the peer's KeyUpdate asking for ours while TX is
 * the kernel's (the message callback deferred it): answered now. */
void key_update_answer_peer(struct conn *c, SSL *s);
/* Sends our owed KeyUpdate (c->tx_update_pending) before a read: 1, or 0
 * failed (fail.h). */
int key_update_send_owed(struct conn *c, SSL *s);
/* A KeyUpdate the peer asked for while OpenSSL keeps TX, which OpenSSL
 * refused to queue (a write of its own was pending): asked for again. */
void key_update_retry_owed(struct conn *c, SSL *s);
/* SSL_key_update while the kernel owns TX: owed, and sent at the next read,
 * write or handshake call, as OpenSSL would. 1, or 0 with OpenSSL's error. */
int key_update_ssl_key_update(struct conn *c, SSL *s, int type);
/* SSL_get_key_update_type while the kernel owns TX. */
int key_update_type(const struct conn *c);
/* SSL_do_handshake on an established connection the kernel serves: sends an
 * owed KeyUpdate. 1, or -1 (SSL_get_error: WANT_WRITE or SSL). */
int key_update_handshake(struct conn *c, SSL *s);

#endif

/* TLS 1.3 key updates on directions the kernel owns (RFC 8446 4.6.3, 7.2):
 * the next traffic secret, its key and IV, and the kernel told with a second
 * TLS_TX/TLS_RX (kernels 6.14 and later; older ones refuse with EBUSY, and
 * the shim keeps its clean failure there). Also the record count per key on
 * kernel TX, which arms a KeyUpdate before AES-GCM's limit (RFC 8446 5.5). */
#ifndef KTLS_SHIM_REKEY_H
#define KTLS_SHIM_REKEY_H

#include <stddef.h>

#include "conn.h"

/* 1 if a KeyUpdate on this connection can be followed by the kernel. */
int rekey_supported(const struct conn *c);

/* The peer's KeyUpdate was read from kernel RX (the kernel now waits,
 * EKEYEXPIRED, for the next key): install it with sequence number 0.
 * 0, or an errno with RX unusable. */
int rekey_rx(struct conn *c);

/* Sends the KeyUpdate kernel TX owes (c->tx_update_pending) and installs the
 * next TX key. Every fallible step comes before the KeyUpdate leaves: once it
 * has, the peer expects the new key. 1: done or nothing owed; 0: the socket
 * would block (errno EAGAIN/EINTR), try again later; -1: failed (errno), the
 * connection cannot go on. */
int rekey_tx_flush(struct conn *c);

/* Kernel TX sent bytes of application data (send or sendfile): counts the
 * records they took at most, and owes a KeyUpdate at the record limit. */
void rekey_count_tx(struct conn *c, size_t bytes);

/* The record limit in force for this connection's cipher (0: none). */
unsigned long long rekey_record_limit(const struct conn *c);

#endif

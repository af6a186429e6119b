/* What OpenSSL tells a program through its callbacks about an alert it
 * writes or reads (ssl3_dispatch_alert, ssl3_read_bytes): the message
 * callback (SSL3_RT_ALERT, the two bytes), then the info callback
 * (SSL_CB_WRITE_ALERT or SSL_CB_READ_ALERT, level << 8 | description).
 * Told here for the alerts the kernel carries, which OpenSSL never sees.
 * Programs act on it: stunnel keeps the TLS socket from a reset after a
 * fatal alert (its info callback), s_client -msg prints it. */
#ifndef KTLS_SHIM_TELL_H
#define KTLS_SHIM_TELL_H

#include <stdint.h>

#include "conn.h"

void tell_alert(struct conn *c, SSL *s, int written, uint8_t level, uint8_t desc);

#endif

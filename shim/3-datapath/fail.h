/* One way to fail on the data path (OpenSSL's RLAYERfatal is the model).
 *
 * The result convention of every data-path call that stands in for an
 * OpenSSL I/O call (kio_read, kio_write, the control-record and KeyUpdate
 * steps under them):
 *   1  done (bytes in *done where there are any);
 *   0  failed: c->err_override holds SSL_get_error's answer, c->fail_ret
 *      what SSL_read/SSL_write return for it (kio_failure_return), errno
 *      what SSL_ERROR_SYSCALL's caller must see, the error queue what
 *      OpenSSL would have left. fail_as() is the one place that sets them.
 * A fatal failure (fail_fatal, fail_record) also sets c->fatal: every later
 * call fails (fail_push_failed) without touching the socket, and the peer
 * is told with an alert where the kernel owns TX. The entry points that
 * keep OpenSSL's own conventions (SSL_shutdown's 1/0/-1, the handshake's
 * 1/-1) translate at the boundary, in kio.c and rekey.c.
 * Steps that only report (enum ctl_event) call these and return CTL_FATAL. */
#ifndef KTLS_SHIM_FAIL_H
#define KTLS_SHIM_FAIL_H

#include <stdint.h>

#include "conn.h"
#include "record_errors.h"

/* Sets the failure SSL_get_error reports (-1: let OpenSSL's state decide,
 * as for a call of no bytes). Returns 0. */
int fail_as(struct conn *c, int ssl_error);
/* A fatal protocol error: reason on the queue (with detail), the alert sent
 * when we can (0: none), every later call fails. Returns 0. */
int fail_fatal(struct conn *c, SSL *s, int reason, uint8_t alert, const char *detail);
/* A received record the kernel could not open: the error queue and alert
 * this OpenSSL would have left (record_errors.c). Returns 0. */
int fail_record(struct conn *c, SSL *s, enum record_failure f, const char *detail);
/* Our KeyUpdate could not be sent or installed: the connection cannot go
 * on (the peer may already expect the new key). Returns 0. */
int fail_key_update_unsent(struct conn *c);
/* The descriptor no longer names the connection's socket: 1, and the
 * connection failed closed (EBADF, SSL_ERROR_SYSCALL); 0, it does. Writes
 * pass check_identity (see fail.c). */
int fail_socket_lost(struct conn *c, SSL *s, int check_identity);
/* The error for a call on a connection that already failed (c->fatal). */
void fail_push_failed(struct conn *c);
/* Puts an SSL-library error on the queue, as OpenSSL would. */
void fail_push_error(int reason, const char *detail);
/* Sends the peer an alert through kernel TX (nothing where TX is not the
 * kernel's, the close was sent, or the socket is not ours); a fatal one
 * marks the close sent, as OpenSSL does. */
void fail_send_alert(struct conn *c, SSL *s, uint8_t level, uint8_t desc);
/* ORs flag into the SSL's shutdown state. */
void fail_add_shutdown(SSL *s, int flag);

#endif

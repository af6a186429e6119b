#include "fail.h"

#include <errno.h>

#include "ctl_parse.h"
#include "kernel.h"
#include "log.h"
#include "tell.h"

static void push_error(int lib, int reason, const char *detail)
{
    const struct ossl_table *o = ossl();
    if (o->err_new && o->err_set_debug && o->err_set_error) {
        o->err_new();
        o->err_set_debug("ktls-shim", 0, "ktls-shim");
        if (detail)
            o->err_set_error(lib, reason, "%s", detail);
        else
            o->err_set_error(lib, reason, NULL);
    } else if (o->err_put_error)
        o->err_put_error(lib, 0, reason, "ktls-shim", 0);
}

void fail_push_error(int reason, const char *detail)
{
    push_error(ERR_LIB_SSL, reason, detail);
}

/* A call on a connection that already failed: the reason it failed for, the
 * first time it is reported (it failed between calls, with nothing to
 * return it from), PROTOCOL_IS_SHUTDOWN after that, as OpenSSL does. */
void fail_push_failed(struct conn *c)
{
    if (c->failed_detail) {
        fail_push_error(SSL_R_UNEXPECTED_MESSAGE, c->failed_detail);
        c->failed_detail = NULL;
    } else
        fail_push_error(SSL_R_PROTOCOL_IS_SHUTDOWN, NULL);
}

int fail_as(struct conn *c, int ssl_error)
{
    c->err_override = ssl_error;
    c->fail_ret = ssl_error == SSL_ERROR_ZERO_RETURN || ssl_error < 0 ? 0 : -1;
    return 0;
}

void fail_add_shutdown(SSL *s, int flag)
{
    const struct ossl_table *o = ossl();
    o->SSL_set_shutdown(s, o->SSL_get_shutdown(s) | flag);
}

void fail_send_alert(struct conn *c, SSL *s, uint8_t level, uint8_t desc)
{
    if (c->dir[CONN_TX].state != DIR_KERNEL || (ossl()->SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN)
        || !conn_socket_intact(c, 1))
        return;
    uint8_t alert[2] = {level, desc};
    int saved = errno;
    if (kernel_send_alert(c->fd, alert) == 2)
        tell_alert(c, s, 1, level, desc);
    errno = saved;
    if (level == ALERT_FATAL)
        fail_add_shutdown(s, SSL_SENT_SHUTDOWN);
}

/* the detail goes with the SSL library's own reason */
int fail_record(struct conn *c, SSL *s, enum record_failure f, const char *detail)
{
    struct queued_error q[RECORD_ERRORS_MAX];
    size_t n = record_failure_queue(f, ossl()->version, c->version,
                                    c->cipher ? c->cipher->cipher : KTLS_CIPHER_NONE, q);
    const char *note = detail;
    c->fatal = 1;
    for (size_t i = 0; i < n; i++) {
        push_error(q[i].lib, q[i].reason, q[i].lib == ERR_LIB_SSL ? note : NULL);
        if (q[i].lib == ERR_LIB_SSL)
            note = NULL;
    }
    fail_send_alert(c, s, ALERT_FATAL, (uint8_t)record_failure_alert(f));
    LOG_INFO("fd=%d connection failed: %s", c->fd, detail);
    return fail_as(c, SSL_ERROR_SSL);
}

int fail_fatal(struct conn *c, SSL *s, int reason, uint8_t alert, const char *detail)
{
    c->fatal = 1;
    fail_push_error(reason, detail);
    if (alert)
        fail_send_alert(c, s, ALERT_FATAL, alert);
    LOG_INFO("fd=%d connection failed: %s", c->fd, detail ? detail : "protocol error");
    return fail_as(c, SSL_ERROR_SSL);
}

int fail_key_update_unsent(struct conn *c)
{
    c->fatal = 1;
    fail_push_error(SSL_R_UNEXPECTED_MESSAGE, "kTLS: our KeyUpdate could not be sent or installed");
    return fail_as(c, SSL_ERROR_SSL);
}

/* The descriptor must still belong to the connection whose keys the kernel
 * holds: closed, replaced (dup2, close_range...) or reused, the connection
 * fails for good, as if the descriptor were just closed (EBADF), rather than
 * read from or write to another socket. Writes also compare the socket's
 * identity (one fstat): after a close the shim cannot see (a raw syscall) and
 * a reuse, a write would put plaintext on the new socket; reads need not,
 * the new socket's bytes arrive without the kernel's record type. */
int fail_socket_lost(struct conn *c, SSL *s, int check_identity)
{
    if (conn_socket_intact(c, check_identity) && ossl()->SSL_get_rbio(s) == c->rbio)
        return 0;
    c->fatal = 1;
    LOG_INFO("fd=%d the connection's socket was closed or replaced: failed closed", c->fd);
    errno = EBADF;
    fail_as(c, SSL_ERROR_SYSCALL);
    return 1;
}

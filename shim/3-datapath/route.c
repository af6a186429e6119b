#include "route.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>

#include "config.h"
#include "cpu_sample.h"
#include "fail.h"
#include "kernel.h"
#include "key_update.h"
#include "kio.h"
#include "log.h"
#include "observe.h"
#include "offload.h"
#include "sockwatch.h"
#include "stats_process.h"
#include "stats_publish.h"

static atomic_int watching; /* set once any SSL got state: skips lookups before */

int route_enabled(void)
{
    return config_get()->dirs != SHIM_DIR_NONE && ossl()->complete && conn_module_ready();
}

int route_wanted(void)
{
    return route_enabled() && kernel_tls_available();
}

int route_counting_passthrough;

void route_attach(SSL *s)
{
    int saved = errno;
    if (stats_on()) {
        stats_ssl_made();
        if (config_get()->dirs == SHIM_DIR_NONE)
            route_counting_passthrough = 1;
    }
    if (route_enabled() && (kernel_tls_available() ? observe_attach(s) : conn_attach(s)))
        atomic_store(&watching, 1);
    errno = saved;
}

struct conn *route_tracked(const SSL *s)
{
    if (!s || !atomic_load_explicit(&watching, memory_order_relaxed)
        || (shim_depth && shim_inside_openssl(s)))
        return NULL;
    return conn_get(s);
}

struct conn *watched_or(const SSL *s, struct conn **passing)
{
    struct conn *c = route_tracked(s);
    if (passing)
        *passing = NULL;
    if (c && c->passthrough) {
        /* OpenSSL answers SSL_get_error for this call: no earlier answer of
         * ours (sendfile emulation) may outlive it */
        if (c->err_override != -1)
            c->err_override = -1;
        if (passing)
            *passing = c;
        return NULL;
    }
    return c;
}

void route_count_openssl(struct conn *c, enum stats_bytes kind, long long n)
{
    if (n > 0 && c && c->decided && stats_on())
        stats_add_bytes_slow(c->arm, kind, (uint64_t)n);
}

/* Taken before handing a call to OpenSSL: had the handshake already finished? */
static int finished_before(const struct conn *c, const SSL *s)
{
    return !c->decided && ossl()->SSL_is_init_finished(s);
}

/* The program gave OpenSSL its own BIO and a direction may still move: the
 * socket I/O of this call is the connection's (sockwatch). Only where the
 * kernel can take keys (observed), so elsewhere this costs nothing. */
static int wants_watch(const struct conn *c, const SSL *s)
{
    if (!c->observed || c->passthrough
        || (c->decided && c->dir[CONN_TX].state != DIR_PENDING && c->dir[CONN_RX].state != DIR_PENDING))
        return 0;
    const struct ossl_table *o = ossl();
    BIO *r = o->SSL_get_rbio(s), *w = o->SSL_get_wbio(s);
    return r && (r != w || o->BIO_method_type(r) != BIO_TYPE_SOCKET || o->BIO_next(r));
}

#define WATCHED_CALL(c, s, call)                                                       \
    do {                                                                               \
        int watch_ = wants_watch(c, s);                                                \
        struct sock_watch *outer_ = NULL;                                              \
        if (watch_) {                                                                  \
            conn_hold(c); /* while current: see sockwatch_enter */                     \
            outer_ = sockwatch_enter(&c->watch);                                       \
        }                                                                              \
        shim_openssl_enter(s);                                                         \
        call;                                                                          \
        shim_openssl_leave();                                                          \
        if (watch_) {                                                                  \
            sockwatch_leave(&c->watch, outer_, ossl()->SSL_want(s) == SSL_NOTHING);    \
            conn_release(c);                                                           \
        }                                                                              \
    } while (0)

/* Runs after OpenSSL did real work: what its message callback deferred, then
 * the handshake may have finished (also inside SSL_read/SSL_write), or a
 * record boundary may have been reached. */
static void after_openssl(struct conn *c, SSL *s, int was_finished)
{
    int saved = errno;
    observe_flush_deferred(c);
    shim_openssl_enter(s);
    offload_progress(c, s, was_finished);
    shim_openssl_leave();
    errno = saved;
}

void route_unwatched_finished(const SSL *s)
{
    if (ossl()->SSL_is_init_finished(s))
        stats_passed_through();
}

static int handshake_error(const SSL *s, int ret)
{
    int saved = errno, e = ossl()->SSL_get_error(s, ret);
    errno = saved;
    return e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL;
}

int route_handshake_unwatched(SSL *s, int (*real)(SSL *))
{
    /* SSL_connect and SSL_accept call SSL_do_handshake by its exported name */
    static _Thread_local int inside;
    if (inside || !route_counting_passthrough)
        return real(s);
    inside = 1;
    int was = ossl()->SSL_is_init_finished(s);
    int ret = real(s);
    inside = 0;
    if (ret == 1 && !was)
        stats_passed_through();
    else if (ret <= 0 && handshake_error(s, ret))
        stats_handshake_failed();
    return ret;
}

static int route_handshake_untimed(struct conn *c, SSL *s, int (*real)(SSL *));

/* A sampled connection's handshake CPU goes to its arm once it has one. */
static void handshake_cpu_counted(struct conn *c)
{
    if (c->cpu_handshake == 1 && c->decided) {
        cpu_sample_add_handshake(c->arm, c->handshake_ns);
        c->cpu_handshake = -1;
    }
}

void route_cpu_sample(const SSL *s, const struct cpu_mark *m, int dir, uint64_t bytes)
{
    uint64_t ns = cpu_sample_elapsed(m);
    struct conn *c = route_tracked(s);
    if (!c || !c->decided)
        return; /* no arm yet: a handshake finishing inside a read or write */
    cpu_sample_add(c->arm, dir, ns, bytes, &c->cpu[dir ? CPU_TX : CPU_RX]);
    handshake_cpu_counted(c);
}

/* The handshake calls of a connection drawn at its first one are timed, the
 * shim's own work at the end (deciding, deriving, installing keys) with them. */
static int handshake_timed(struct conn *c, struct cpu_mark *m)
{
    if (c->decided || c->cpu_handshake < 0)
        return 0;
    if (c->cpu_handshake == 0) {
        c->cpu_handshake = cpu_sample_start(m) ? 1 : -1;
        return c->cpu_handshake == 1;
    }
    return cpu_sample_mark(m);
}

int route_handshake(struct conn *c, SSL *s, int (*real)(SSL *))
{
    struct cpu_mark m;
    int timed = handshake_timed(c, &m);
    int ret = route_handshake_untimed(c, s, real);
    if (timed) {
        c->handshake_ns += cpu_sample_elapsed(&m);
        handshake_cpu_counted(c);
    }
    return ret;
}

static int route_handshake_untimed(struct conn *c, SSL *s, int (*real)(SSL *))
{
    if (kernel_owns(c, CONN_TX) || kernel_owns(c, CONN_RX)) {
        if (ossl()->SSL_is_init_finished(s))
            return key_update_handshake(c, s);
        fail_push_error(SSL_R_UNEXPECTED_MESSAGE, "kTLS: no second handshake on an offloaded connection");
        c->err_override = SSL_ERROR_SSL;
        return -1;
    }
    c->err_override = -1;
    int was = finished_before(c, s);
    int ret;
    WATCHED_CALL(c, s, ret = real(s));
    if (ret == 1)
        after_openssl(c, s, was);
    else if (!c->handshake_failed && stats_on() && handshake_error(s, ret)) {
        c->handshake_failed = 1;
        stats_handshake_failed();
    }
    return ret;
}

static int route_read_openssl(struct conn *c, SSL *s, void *buf, size_t len, size_t *done, int peek,
                       int ex)
{
    if (c->fatal) {
        /* the connection failed while OpenSSL still had RX (it had to write
         * what the kernel's TX cannot carry): it stays failed, as a
         * kernel-read failure does, and the peer is not read on */
        fail_push_failed(c);
        c->err_override = SSL_ERROR_SSL;
        if (done)
            *done = 0;
        return ex ? 0 : -1;
    }
    /* OpenSSL's SSL_read and SSL_peek send the KeyUpdate SSL_key_update
     * left owed before they read (the connection is back in init); where
     * the kernel owns TX the shim owes it, and sends it here as kio_read
     * does (a TLS 1.3 client's RX stays OpenSSL's until its first data:
     * seqfuzz 164331743936852 --key-update on 7.3, whose next
     * SSL_key_update met STILL_IN_INIT) */
    if (kernel_owns(c, CONN_TX) && !key_update_send_owed(c, s)) {
        if (done)
            *done = 0;
        return ex ? 0 : kio_failure_return(c);
    }
    c->err_override = -1;
    int was = finished_before(c, s);
    int ret, num = len > INT_MAX ? INT_MAX : (int)len;
    if (ex)
        WATCHED_CALL(c, s, ret = peek ? REAL(SSL_peek_ex)(s, buf, len, done)
                                      : REAL(SSL_read_ex)(s, buf, len, done));
    else
        WATCHED_CALL(c, s, ret = peek ? REAL(SSL_peek)(s, buf, num) : REAL(SSL_read)(s, buf, num));
    if (ret > 0)
        c->app_data_read = 1;
    if (ret <= 0 && c->custom_bio && ossl()->SSL_want(s) == SSL_READING)
        sockwatch_layer_note_want_read(&c->watch);
    if (ret > 0 && !peek)
        route_count_openssl(c, STATS_OPENSSL_RX, ex ? (done ? (long long)*done : 0) : ret);
    after_openssl(c, s, was);
    return ret;
}

static int route_write_openssl(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done, int ex)
{
    c->err_override = -1;
    int was = finished_before(c, s);
    int ret;
    WATCHED_CALL(c, s, ret = ex ? REAL(SSL_write_ex)(s, buf, len, done)
                                : REAL(SSL_write)(s, buf, len > INT_MAX ? INT_MAX : (int)len));
    /* a failed write may leave a record half on the wire inside OpenSSL */
    c->tx_write_pending = ret <= 0 && ossl()->SSL_want(s) == SSL_WRITING;
    if (ret > 0)
        key_update_retry_owed(c, s);
    if (ret > 0)
        route_count_openssl(c, STATS_OPENSSL_TX, ex ? (done ? (long long)*done : 0) : ret);
    after_openssl(c, s, was);
    return ret;
}

int route_write_ex(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done)
{
    if (!kernel_owns(c, CONN_TX))
        return route_write_openssl(c, s, buf, len, done, 1);
    return kio_write(c, s, buf, len, done);
}

int route_get_error(const struct conn *c, const SSL *s, int ret)
{
    if (c && ret <= 0 && c->err_override >= 0)
        return c->err_override;
    return REAL(SSL_get_error)(s, ret);
}

static int route_shutdown_openssl(struct conn *c, SSL *s)
{
    c->err_override = -1;
    int was = finished_before(c, s);
    int ret;
    WATCHED_CALL(c, s, ret = REAL(SSL_shutdown)(s));
    after_openssl(c, s, was); /* pending directions give up once shutdown started */
    return ret;
}

/* ---- one call each for the entry points: OpenSSL or the kernel ---- */

int route_read(struct conn *c, SSL *s, void *buf, int num, int peek)
{
    if (!kernel_owns(c, CONN_RX) || num < 0)
        return route_read_openssl(c, s, buf, num < 0 ? 0 : (size_t)num, NULL, peek, 0);
    size_t n;
    return kio_read(c, s, buf, (size_t)num, &n, peek) ? (int)n : kio_failure_return(c);
}

int route_read_ex(struct conn *c, SSL *s, void *buf, size_t num, size_t *readbytes, int peek)
{
    if (!kernel_owns(c, CONN_RX))
        return route_read_openssl(c, s, buf, num, readbytes, peek, 1);
    size_t n = 0;
    int ok = kio_read(c, s, buf, num, &n, peek);
    if (readbytes)
        *readbytes = n;
    return ok;
}

int route_write(struct conn *c, SSL *s, const void *buf, int num)
{
    if (num < 0) {
        c->err_override = -1;
        return REAL(SSL_write)(s, buf, num);
    }
    if (!kernel_owns(c, CONN_TX))
        return route_write_openssl(c, s, buf, (size_t)num, NULL, 0);
    size_t n;
    return kio_write(c, s, buf, (size_t)num, &n) ? (int)n : kio_failure_return(c);
}

int route_shutdown(struct conn *c, SSL *s)
{
    if (kernel_owns(c, CONN_TX) || kernel_owns(c, CONN_RX))
        return kio_shutdown(c, s);
    return route_shutdown_openssl(c, s);
}

int route_rx_in_kernel(const struct conn *c)
{
    return c && kernel_owns(c, CONN_RX);
}

int route_key_update(struct conn *c, SSL *s, int type)
{
    if (kernel_owns(c, CONN_TX))
        return key_update_ssl_key_update(c, s, type);
    return REAL(SSL_key_update)(s, type);
}

int route_key_update_type(const struct conn *c, const SSL *s)
{
    if (kernel_owns(c, CONN_TX))
        return key_update_type(c);
    return REAL(SSL_get_key_update_type)(s);
}

int route_renegotiate(struct conn *c, SSL *s, int abbreviated)
{
    if (kernel_owns(c, CONN_TX) || kernel_owns(c, CONN_RX)) {
        const char *what = abbreviated ? "kTLS: SSL_renegotiate_abbreviated on an offloaded connection"
                                       : "kTLS: SSL_renegotiate on an offloaded connection";
        fail_push_error(SSL_R_UNEXPECTED_MESSAGE, what);
        c->err_override = SSL_ERROR_SSL;
        LOG_INFO("fd=%d %s refused", c->fd, what);
        return 0;
    }
    return abbreviated ? REAL(SSL_renegotiate_abbreviated)(s) : REAL(SSL_renegotiate)(s);
}

int route_failed(const struct conn *c)
{
    return c && c->fatal;
}

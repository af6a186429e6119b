#include "conn.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fdmap.h"
#include "hello.h"
#include "keylog.h"
#include "keysched.h"
#include "log.h"
#include "stats.h"
#include "stats_publish.h"

struct ctx_hooks {
    msg_cb_fn app_msg_cb;
    keylog_cb_fn app_keylog_cb;
    int keylog_installed;
    struct record_shape shape;
};

/* The state and its reference count, kept outside struct conn so that
 * SSL_clear's reset of the state leaves the count alone. */
struct conn_holder {
    atomic_int refs;
    atomic_int alive;
    struct conn conn;
};

static struct conn_holder *holder(const struct conn *c)
{
    return (struct conn_holder *)((char *)c - offsetof(struct conn_holder, conn));
}

void conn_hold(struct conn *c)
{
    atomic_fetch_add_explicit(&holder(c)->refs, 1, memory_order_relaxed);
}

void conn_release(struct conn *c)
{
    struct conn_holder *h = holder(c);
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(c->file_buf);
    pthread_mutex_destroy(&c->tx_lock);
    free(h);
}

/* glibc's initializer, not pthread_mutexattr_settype: that needs GLIBC_2.34
 * from libc.so.6, or libpthread.so.0 before (shim/glibc/) */
void conn_tx_lock_init(struct conn *c)
{
    c->tx_lock = (pthread_mutex_t)PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
}

void conn_tx_lock(struct conn *c)
{
    pthread_mutex_lock(&c->tx_lock);
}

void conn_tx_unlock(struct conn *c)
{
    pthread_mutex_unlock(&c->tx_lock);
}

static void hold_ref(void *ref)
{
    conn_hold(ref);
}

struct conn *conn_acquire_fd(int fd)
{
    return fdmap_acquire(fd, hold_ref);
}

int conn_alive(const struct conn *c)
{
    return atomic_load_explicit(&holder(c)->alive, memory_order_acquire);
}

/* The write BIO kept at a divert: at SSL_free, freed as SSL_free would
 * have; at SSL_clear (restore), given back to the SSL in place of the sink,
 * where the program has not set another since. */
static void drop_kept_wbio(struct conn *c, int restore)
{
    const struct ossl_table *o = ossl();
    if (c->kept_wbio && restore && c->ssl && o->SSL_get_wbio(c->ssl) == c->sink_wbio)
        o->SSL_set0_wbio(c->ssl, c->kept_wbio); /* our reference goes to the SSL */
    else if (c->kept_wbio)
        o->BIO_free_all(c->kept_wbio);
    c->kept_wbio = c->sink_wbio = NULL;
}

static int ssl_index = -1, ctx_index = -1;
static int module_ready;
static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

static void conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct conn *c = ptr;
    if (!c)
        return;
    atomic_store_explicit(&holder(c)->alive, 0, memory_order_release);
    conn_end(c);
    /* out of the fd map, then no lookup is still about to take a reference */
    fdmap_forget(c->fd, c);
    fdmap_quiesce(c->fd);
    sockwatch_release(&c->watch);
    conn_scrub(c);
    drop_kept_wbio(c, 0);
    conn_release(c);
}

/* SSL_dup makes its copy with SSL_new (our hook attached a conn to it), then
 * copies ex_data: *from_d is what will be stored in the copy. Two SSLs must
 * never share one conn, and the copy's own conn must not be overwritten
 * (it would leak and the copy would lose the application's message
 * callback, which the shim keeps in the conn): keep the copy's conn and
 * carry the callback over. */
static int conn_ex_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                       long argl, void *argp)
{
    (void)from, (void)argl, (void)argp;
    const struct conn *src = *from_d;
    struct conn *dst = ossl()->CRYPTO_get_ex_data(to, idx);
    if (dst && src && src->observed && dst->observed)
        dst->app_msg_cb = src->app_msg_cb;
    *from_d = dst;
    return 1;
}

static void ctx_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                        void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

static int ctx_ex_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                      long argl, void *argp)
{
    (void)to, (void)from, (void)idx, (void)argl, (void)argp;
    *from_d = NULL;
    return 1;
}

/* A forked child must not find ctx_lock held by a thread it does not have. */
static void lock_ctx(void)
{
    pthread_mutex_lock(&ctx_lock);
}

static void unlock_ctx(void)
{
    pthread_mutex_unlock(&ctx_lock);
}

static void module_init(void)
{
    const struct ossl_table *o = ossl();
    pthread_atfork(lock_ctx, unlock_ctx, unlock_ctx);
    if (!o->complete)
        return;
    ssl_index = o->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, conn_ex_dup,
                                           conn_ex_free);
    ctx_index = o->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, ctx_ex_dup,
                                           ctx_ex_free);
    module_ready = ssl_index >= 0 && ctx_index >= 0;
}

int conn_module_ready(void)
{
    /* set once module_init is done: every hook asks, most after that */
    static atomic_int done;
    if (__builtin_expect(atomic_load_explicit(&done, memory_order_acquire), 1))
        return module_ready;
    pthread_once(&module_once, module_init);
    atomic_store_explicit(&done, 1, memory_order_release);
    return module_ready;
}

struct conn *conn_get(const SSL *s)
{
    if (!s || !conn_module_ready())
        return NULL;
    return ossl()->SSL_get_ex_data(s, ssl_index);
}

static struct ctx_hooks *ctx_hooks(const SSL_CTX *ctx, int create)
{
    if (!ctx || !conn_module_ready())
        return NULL;
    struct ctx_hooks *h = ossl()->SSL_CTX_get_ex_data(ctx, ctx_index);
    if (!h && create) {
        h = calloc(1, sizeof(*h));
        if (h && !ossl()->SSL_CTX_set_ex_data((SSL_CTX *)ctx, ctx_index, h)) {
            free(h);
            h = NULL;
        }
    }
    return h;
}

void conn_scrub(struct conn *c)
{
    ks_scrub(c->client_secret, sizeof(c->client_secret));
    ks_scrub(c->server_secret, sizeof(c->server_secret));
    c->client_secret_len = c->server_secret_len = 0;
    for (int d = 0; d < 2; d++) {
        ks_scrub(c->dir[d].key, sizeof(c->dir[d].key));
        ks_scrub(c->dir[d].iv, sizeof(c->dir[d].iv));
        ks_scrub(c->dir[d].secret, sizeof(c->dir[d].secret));
        c->dir[d].secret_len = 0;
    }
}

/* When TX belongs to the kernel, any record OpenSSL builds (an alert, a
 * KeyUpdate reply, a ticket) would reach the socket as application data of
 * the kernel's stream. Point OpenSSL's writes at a sink before it flushes and
 * fail the connection instead; the report (and the socket shutdown if no sink
 * could be made) waits until OpenSSL has returned. */
static void divert_openssl_writes(struct conn *c, SSL *s)
{
    if (c->wbio_diverted)
        return;
    const struct ossl_table *o = ossl();
    BIO *sink = o->BIO_new(o->BIO_s_null());
    BIO *program_wbio = o->SSL_get_wbio(s);
    /* SSL_set0_wbio frees the write BIO it replaces unless it is also the
     * read BIO. A program may hold its own pointer to it (mod_ssl calls
     * BIO_get_data on its write BIO after every SSL_write): keep it alive
     * with a reference of ours, released when the connection ends. */
    if (sink && (!program_wbio || o->BIO_up_ref(program_wbio))) {
        c->kept_wbio = program_wbio;
        c->sink_wbio = sink;
        o->SSL_set0_wbio(s, sink);
    } else {
        o->BIO_free_all(sink); /* NULL-safe */
        c->deferred.shutdown_socket = 1;
    }
    c->wbio_diverted = 1;
    c->deferred.divert_report = 1;
}

/* Runs inside OpenSSL: counts records and records what needs doing; no I/O. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct conn *c = conn_get(ssl);
    if (c) {
        struct conn_dir *d = &c->dir[write_p ? CONN_TX : CONN_RX];
        if (content_type == SSL3_RT_HEADER && write_p && c->dir[CONN_TX].state == DIR_KERNEL)
            divert_openssl_writes(c, ssl);
        if (content_type == SSL3_RT_HEADER && write_p) {
            /* TX's byte base (offload.c checks the records against it; RX is
             * not held to one): the written count before this record, which is
             * not out yet. Another BIO means the program gave the SSL a new
             * one (wrk calls SSL_set_fd on every retry of a non-blocking
             * SSL_connect; the new BIO is made before the old is freed, so the
             * address differs): the records counted so far went out through
             * the old one, and the count goes on from the new one's. Bytes
             * still buffered at the swap would reach the new BIO unreported:
             * the sum at install then differs, and TX stays in OpenSSL.
             * (Unsigned: exact mod 2^64.) */
            const struct ossl_table *o = ossl();
            BIO *b = o->SSL_get_wbio(ssl);
            if (b && (!d->bio_base_set || b != d->based_bio)) {
                d->bio_base = o->BIO_number_written(b) - d->seq.bytes;
                d->bio_base_set = 1;
                d->based_bio = b;
            }
        }
        recseq_observe(&d->seq, content_type, buf, len);
        const uint8_t *m = buf;
        if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0) {
            if (m[0] == SSL3_MT_CLIENT_HELLO
                && hello_offers_extension(m, len, HELLO_EXT_POST_HANDSHAKE_AUTH))
                c->pha_offered = 1;
            /* a handshake message OpenSSL writes while the kernel owns TX
             * (a certificate request, a renegotiation) goes to the sink:
             * the connection cannot go on */
            if (c->dir[CONN_TX].state == DIR_KERNEL)
                c->deferred.divert_handshake = 1;
        }
        /* The peer asks for our KeyUpdate and the kernel owns TX: OpenSSL
         * would answer it itself, through its own record layer, which must
         * never write again. The data path answers through the kernel
         * instead (kio_flush_deferred), and OpenSSL, which reads the message
         * from this very buffer after the callback, is shown it as
         * update_not_requested, so it does not. The application's callback
         * sees the message as it came. */
        const uint8_t *b = buf;
        if (!write_p && content_type == SSL3_RT_HANDSHAKE && len == 5 && b[0] == SSL3_MT_KEY_UPDATE
            && b[1] == 0 && b[2] == 0 && b[3] == 1 && b[4] == SSL_KEY_UPDATE_REQUESTED
            && c->dir[CONN_TX].state == DIR_KERNEL) {
            c->deferred.key_update_reply = 1;
            if (c->app_msg_cb)
                c->app_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
            ((uint8_t *)buf)[4] = SSL_KEY_UPDATE_NOT_REQUESTED;
            return;
        }
        /* the alert OpenSSL meant to send went to the sink: send it for real */
        if (content_type == SSL3_RT_ALERT && write_p && c->wbio_diverted && len == 2) {
            memcpy(c->deferred.alert_bytes, buf, 2);
            c->deferred.alert = 1;
        }
    }
    if (c && c->app_msg_cb)
        c->app_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
}

static void on_keylog(const SSL *ssl, const char *line)
{
    struct conn *c = conn_get(ssl);
    if (c && !c->decided) {
        size_t n;
        if ((n = keylog_parse_secret(line, "CLIENT_TRAFFIC_SECRET_0", c->client_secret,
                                     sizeof(c->client_secret))))
            c->client_secret_len = n;
        else if ((n = keylog_parse_secret(line, "SERVER_TRAFFIC_SECRET_0", c->server_secret,
                                          sizeof(c->server_secret))))
            c->server_secret_len = n;
    }
    keylog_cb_fn app = conn_ctx_app_keylog_cb(ossl()->SSL_get_SSL_CTX(ssl));
    if (app)
        app(ssl, line);
}

void conn_watch_ctx(SSL_CTX *ctx)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h && !h->keylog_installed) {
        keylog_cb_fn current = REAL(SSL_CTX_get_keylog_callback)(ctx);
        if (current != on_keylog)
            h->app_keylog_cb = current;
        REAL(SSL_CTX_set_keylog_callback)(ctx, on_keylog);
        h->keylog_installed = 1;
    }
    pthread_mutex_unlock(&ctx_lock);
}

void conn_ctx_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h) {
        h->app_keylog_cb = cb;
        if (h->keylog_installed)
            cb = on_keylog;
    }
    REAL(SSL_CTX_set_keylog_callback)(ctx, cb);
    pthread_mutex_unlock(&ctx_lock);
}

keylog_cb_fn conn_ctx_app_keylog_cb(const SSL_CTX *ctx)
{
    struct ctx_hooks *h = ctx_hooks(ctx, 0);
    if (h)
        return h->app_keylog_cb;
    keylog_cb_fn current = ctx ? REAL(SSL_CTX_get_keylog_callback)(ctx) : NULL;
    return current == on_keylog ? NULL : current;
}

void conn_ctx_set_app_msg_cb(SSL_CTX *ctx, msg_cb_fn cb)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h)
        h->app_msg_cb = cb;
    pthread_mutex_unlock(&ctx_lock);
    REAL(SSL_CTX_set_msg_callback)(ctx, cb);
}

static void set_shape(struct record_shape *r, enum record_setting what, long value)
{
    switch (what) {
    case SET_MAX_SEND_FRAGMENT: r->max_send_fragment = value; break;
    case SET_PAD_CALLBACK: r->pad_callback = value != 0; break;
    case SET_PAD_BLOCK: r->pad_block = value != 0; break;
    }
}

void conn_note_record_setting(SSL *s, enum record_setting what, long value)
{
    struct conn *c = conn_get(s);
    if (c)
        set_shape(&c->shape, what, value);
}

void conn_ctx_note_record_setting(SSL_CTX *ctx, enum record_setting what, long value)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h)
        set_shape(&h->shape, what, value);
    pthread_mutex_unlock(&ctx_lock);
}

void conn_set_app_msg_cb(SSL *s, msg_cb_fn cb)
{
    struct conn *c = conn_get(s);
    if (c && c->observed)
        c->app_msg_cb = cb;
    else
        REAL(SSL_set_msg_callback)(s, cb);
}

static void conn_init_fields(struct conn *c, SSL *s)
{
    msg_cb_fn app = c->app_msg_cb;
    int observed = c->observed;
    struct record_shape shape = c->shape; /* SSL_clear keeps it too */
    uint8_t *file_buf = c->file_buf;
    drop_kept_wbio(c, 1);
    fdmap_forget(c->fd, c);
    sockwatch_release(&c->watch);
    conn_scrub(c);
    memset(c, 0, sizeof(*c));
    conn_tx_lock_init(c);
    sockwatch_init(&c->watch, s, &holder(c)->alive);
    c->ssl = s;
    c->fd = -1;
    c->err_override = -1;
    c->tx_update_pending = -1;
    c->app_msg_cb = app;
    c->observed = observed;
    c->shape = shape;
    c->file_buf = file_buf;
    c->attached_early = ossl()->SSL_in_before(s);
}

struct conn *conn_attach(SSL *s, int observe)
{
    if (!conn_module_ready())
        return NULL;
    struct conn *c = conn_get(s);
    if (c)
        return c;
    struct conn_holder *box = calloc(1, sizeof(*box));
    if (!box)
        return NULL;
    atomic_init(&box->refs, 1);
    atomic_init(&box->alive, 1);
    c = &box->conn;
    c->fd = -1;
    sockwatch_init(&c->watch, s, &box->alive);
    SSL_CTX *ctx = ossl()->SSL_get_SSL_CTX(s);
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 0);
    c->app_msg_cb = h ? h->app_msg_cb : NULL;
    if (h)
        c->shape = h->shape;
    pthread_mutex_unlock(&ctx_lock);
    conn_init_fields(c, s);
    if (!ossl()->SSL_set_ex_data(s, ssl_index, c)) {
        free(box);
        return NULL;
    }
    if (observe) {
        REAL(SSL_set_msg_callback)(s, on_msg);
        conn_watch_ctx(ctx);
        c->observed = 1;
    }
    return c;
}

void conn_reset(struct conn *c)
{
    conn_end(c);
    conn_init_fields(c, c->ssl);
}

int conn_socket_intact(const struct conn *c, int check_identity)
{
    return c->fd >= 0 && fdmap_owns(c->fd, c)
           && (!check_identity || kernel_same_socket(c->fd, &c->sock));
}

static const char *const dir_name[2] = {"rx", "tx"};

static int settled(const struct conn_dir *dir)
{
    return dir->state == DIR_KERNEL || dir->state == DIR_FALLBACK;
}

/* Once per connection, when both directions have found their owner. */
static void count_outcome(struct conn *c)
{
    if (c->outcome_counted || !settled(&c->dir[CONN_TX]) || !settled(&c->dir[CONN_RX]))
        return;
    c->outcome_counted = 1;
    stats_outcome(c->arm, c->dir[CONN_TX].state == DIR_KERNEL, c->dir[CONN_RX].state == DIR_KERNEL);
}

void conn_fall_back(struct conn *c, int d, enum fallback_reason why, int err)
{
    struct conn_dir *dir = &c->dir[d];
    if (settled(dir))
        return;
    const char *text = reason_text(why);
    dir->state = DIR_FALLBACK;
    stats_direction(c->arm, d == CONN_TX, why);
    count_outcome(c);
    dir->reason = why;
    dir->reason_errno = err;
    ks_scrub(dir->key, sizeof(dir->key));
    ks_scrub(dir->iv, sizeof(dir->iv));
    ks_scrub(dir->secret, sizeof(dir->secret));
    dir->secret_len = 0;
    if (err)
        LOG_INFO("fd=%d %s stays in OpenSSL: %s (%s)", c->fd, dir_name[d], text, strerror(err));
    else
        LOG_INFO("fd=%d %s stays in OpenSSL: %s", c->fd, dir_name[d], text);
}

void conn_mark_kernel(struct conn *c, int d, uint64_t seq)
{
    c->dir[d].state = DIR_KERNEL;
    c->dir[d].seq_at_install = seq;
    stats_direction(c->arm, d == CONN_TX, FB_NONE);
    count_outcome(c);
}

void conn_end(struct conn *c)
{
    if (!c->decided)
        return;
    cpu_sample_connection_end(c->arm, c->cpu);
    memset(c->cpu, 0, sizeof(c->cpu));
    for (int d = CONN_TX; d >= CONN_RX; d--)
        conn_fall_back(c, d, FB_ENDED_BEFORE_MOVE, 0);
    stats_tick();
}

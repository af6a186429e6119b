#include "conn.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fdmap.h"
#include "keysched.h"
#include "log.h"
#include "planted.h"
#include "stats.h"
#include "stats_publish.h"

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

static int ssl_index = -1;
static int bio_index = -1;
static int module_ready;
static pthread_once_t module_once = PTHREAD_ONCE_INIT;

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
    if (dst && src && src->observed && dst->observed) {
        dst->app_msg_cb = src->app_msg_cb;
        dst->app_msg_arg = src->app_msg_arg;
    }
    *from_d = dst;
    return 1;
}

static void module_init(void)
{
    const struct ossl_table *o = ossl();
    int registry = ctx_registry_ready();
    if (!o->complete)
        return;
    ssl_index = o->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, conn_ex_dup,
                                           conn_ex_free);
    /* a mark only (conn_bio_mark): nothing to free or copy with the BIO */
    bio_index = o->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_BIO, 0, NULL, NULL, NULL, NULL);
    module_ready = ssl_index >= 0 && bio_index >= 0 && registry;
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

void conn_note_record_setting(SSL *s, enum record_setting what, long value)
{
    struct conn *c = conn_get(s);
    if (c)
        record_shape_set(&c->shape, what, value);
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

struct conn *conn_attach(SSL *s)
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
    ctx_registry_defaults(ossl()->SSL_get_SSL_CTX(s), &c->app_msg_cb, &c->shape);
    conn_init_fields(c, s);
    if (!ossl()->SSL_set_ex_data(s, ssl_index, c)) {
        free(box);
        return NULL;
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
    if (PLANTED(forget_close))
        check_identity = 0;
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

int conn_bio_mark(BIO *b, const struct conn_dir *d)
{
    return ossl()->BIO_set_ex_data(b, bio_index, (void *)d);
}

int conn_bio_marked(const BIO *b, const struct conn_dir *d)
{
    return ossl()->BIO_get_ex_data(b, bio_index) == d;
}

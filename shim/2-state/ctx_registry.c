#include "ctx_registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct ctx_hooks {
    msg_cb_fn app_msg_cb;
    keylog_cb_fn app_keylog_cb;
    int keylog_installed;
    struct record_shape shape;
};

static int ctx_index = -1;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

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

static void registry_init(void)
{
    const struct ossl_table *o = ossl();
    pthread_atfork(lock_ctx, unlock_ctx, unlock_ctx);
    if (o->complete)
        ctx_index = o->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, ctx_ex_dup,
                                               ctx_ex_free);
}

int ctx_registry_ready(void)
{
    /* set once registry_init is done: asked at every SSL_new */
    static atomic_int done;
    if (!atomic_load_explicit(&done, memory_order_acquire)) {
        pthread_once(&registry_once, registry_init);
        atomic_store_explicit(&done, 1, memory_order_release);
    }
    return ctx_index >= 0;
}

static struct ctx_hooks *ctx_hooks(const SSL_CTX *ctx, int create)
{
    if (!ctx || !ctx_registry_ready())
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

void ctx_registry_defaults(const SSL_CTX *ctx, msg_cb_fn *app_msg_cb, struct record_shape *shape)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 0);
    *app_msg_cb = h ? h->app_msg_cb : NULL;
    if (h)
        *shape = h->shape;
    pthread_mutex_unlock(&ctx_lock);
}

void record_shape_set(struct record_shape *r, enum record_setting what, long value)
{
    switch (what) {
    case SET_MAX_SEND_FRAGMENT: r->max_send_fragment = value; break;
    case SET_PAD_CALLBACK: r->pad_callback = value != 0; break;
    case SET_PAD_BLOCK: r->pad_block = value != 0; break;
    }
}

void ctx_registry_note_record_setting(SSL_CTX *ctx, enum record_setting what, long value)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h)
        record_shape_set(&h->shape, what, value);
    pthread_mutex_unlock(&ctx_lock);
}

void ctx_registry_set_app_msg_cb(SSL_CTX *ctx, msg_cb_fn cb)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h)
        h->app_msg_cb = cb;
    pthread_mutex_unlock(&ctx_lock);
    REAL(SSL_CTX_set_msg_callback)(ctx, cb);
}

void ctx_registry_install_keylog(SSL_CTX *ctx, keylog_cb_fn ours)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h && !h->keylog_installed) {
        keylog_cb_fn current = REAL(SSL_CTX_get_keylog_callback)(ctx);
        if (current != ours)
            h->app_keylog_cb = current;
        REAL(SSL_CTX_set_keylog_callback)(ctx, ours);
        h->keylog_installed = 1;
    }
    pthread_mutex_unlock(&ctx_lock);
}

void ctx_registry_set_app_keylog_cb(SSL_CTX *ctx, keylog_cb_fn cb, keylog_cb_fn ours)
{
    pthread_mutex_lock(&ctx_lock);
    struct ctx_hooks *h = ctx_hooks(ctx, 1);
    if (h) {
        h->app_keylog_cb = cb;
        if (h->keylog_installed)
            cb = ours;
    }
    REAL(SSL_CTX_set_keylog_callback)(ctx, cb);
    pthread_mutex_unlock(&ctx_lock);
}

keylog_cb_fn ctx_registry_app_keylog_cb(const SSL_CTX *ctx, keylog_cb_fn ours)
{
    struct ctx_hooks *h = ctx_hooks(ctx, 0);
    if (h)
        return h->app_keylog_cb;
    keylog_cb_fn current = ctx ? REAL(SSL_CTX_get_keylog_callback)(ctx) : NULL;
    return current == ours ? NULL : current;
}

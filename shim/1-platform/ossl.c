#include "ossl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__thread int shim_depth __attribute__((tls_model("initial-exec")));
__thread const SSL *shim_inside[SHIM_NEST_MAX] __attribute__((tls_model("initial-exec")));

struct ossl_table ossl_resolved;
atomic_int ossl_ready;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether p lies in this library: a name we interpose must never resolve to
 * our own hook. By address, so this file names no exported symbol. */
int ossl_is_ours(const void *p)
{
    Dl_info mine, theirs;
    return dladdr((const void *)ossl_is_ours, &mine) && dladdr(p, &theirs)
           && mine.dli_fbase == theirs.dli_fbase;
}

/* Python loads libssl with dlopen(RTLD_LOCAL) through _ssl.so, out of reach of
 * RTLD_NEXT: fall back to handles of already-loaded libraries. */
static void *find_symbol(const char *name, int interposed)
{
    static const char *const libs[] = {"libssl.so.3", "libssl.so.1.1", "libcrypto.so.3",
                                       "libcrypto.so.1.1", "libssl.so", "libcrypto.so", NULL};
    void *p = dlsym(RTLD_NEXT, name);
    if (p && !(interposed && ossl_is_ours(p)))
        return p;
    for (int i = 0; libs[i]; i++) {
        void *h = dlopen(libs[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        p = dlsym(h, name);
        dlclose(h);
        if (p && !(interposed && ossl_is_ours(p)))
            return p;
    }
    return NULL;
}

static void resolve(void)
{
    ossl_resolved.complete = 1;
#define RESOLVE_INTERPOSED(name)                                                  \
    ossl_resolved.name = (__typeof__(name) *)find_symbol(#name, 1);     \
    if (!ossl_resolved.name)                                                              \
        ossl_resolved.complete = 0;
    OSSL_INTERPOSED(RESOLVE_INTERPOSED)
#undef RESOLVE_INTERPOSED
#define RESOLVE_OPTIONAL(name) ossl_resolved.name = (__typeof__(name) *)find_symbol(#name, 1);
    OSSL_INTERPOSED_OPTIONAL(RESOLVE_OPTIONAL)
#undef RESOLVE_OPTIONAL
#define RESOLVE_CALLED(name)                                                      \
    ossl_resolved.name = (__typeof__(name) *)find_symbol(#name, 0);                    \
    if (!ossl_resolved.name)                                                              \
        ossl_resolved.complete = 0;
    OSSL_CALLED(RESOLVE_CALLED)
#undef RESOLVE_CALLED
    ossl_resolved.md_size = (evp_md_size_fn)find_symbol("EVP_MD_get_size", 0);
    if (!ossl_resolved.md_size)
        ossl_resolved.md_size = (evp_md_size_fn)find_symbol("EVP_MD_size", 0);
    ossl_resolved.err_new = (err_new_fn)find_symbol("ERR_new", 0);
    ossl_resolved.err_set_debug = (err_set_debug_fn)find_symbol("ERR_set_debug", 0);
    ossl_resolved.err_set_error = (err_set_error_fn)find_symbol("ERR_set_error", 0);
    ossl_resolved.err_put_error = (err_put_error_fn)find_symbol("ERR_put_error", 0);
    if (!ossl_resolved.md_size)
        ossl_resolved.complete = 0;
    if (ossl_resolved.complete)
        ossl_resolved.version = ossl_resolved.OpenSSL_version_num();
}

/* Held while resolving (dlopen, dlsym): a forked child must not inherit it
 * held by a thread it does not have. */
static void lock_table(void)
{
    pthread_mutex_lock(&table_lock);
}

static void unlock_table(void)
{
    pthread_mutex_unlock(&table_lock);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void install_fork_handlers(void)
{
    pthread_atfork(lock_table, unlock_table, unlock_table);
}

/* Resolved again until libssl is there: libcrypto (and our BIO_ctrl) can be
 * in use long before a program dlopens libssl (Python's _ssl). */
const struct ossl_table *ossl_resolve(void)
{
    if (atomic_load_explicit(&ossl_ready, memory_order_acquire))
        return &ossl_resolved;
    pthread_once(&fork_once, install_fork_handlers);
    pthread_mutex_lock(&table_lock);
    if (!atomic_load_explicit(&ossl_ready, memory_order_relaxed)) {
        resolve();
        if (ossl_resolved.SSL_new)
            atomic_store_explicit(&ossl_ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&table_lock);
    return &ossl_resolved;
}

/* libcrypto's BIO_ctrl on its own: BIO_ctrl runs (and is interposed) long
 * before a program loads libssl, when the table above is still incomplete
 * and would be resolved again on every call. */
_Atomic(bio_ctrl_fn) ossl_early_bio_ctrl;
static pthread_once_t bio_ctrl_once = PTHREAD_ONCE_INIT;

static void resolve_bio_ctrl(void)
{
    atomic_store_explicit(&ossl_early_bio_ctrl, (bio_ctrl_fn)find_symbol("BIO_ctrl", 1),
                          memory_order_release);
}

bio_ctrl_fn ossl_bio_ctrl_resolve(void)
{
    pthread_once(&bio_ctrl_once, resolve_bio_ctrl);
    bio_ctrl_fn f = atomic_load_explicit(&ossl_early_bio_ctrl, memory_order_acquire);
    return f ? f : REAL(BIO_ctrl);
}

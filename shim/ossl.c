#include "ossl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__thread int shim_depth __attribute__((tls_model("initial-exec")));

static struct ossl_table table;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int table_ready;

/* Python loads libssl with dlopen(RTLD_LOCAL) through _ssl.so, out of reach of
 * RTLD_NEXT: fall back to handles of already-loaded libraries. */
static void *find_symbol(const char *name, const void *self)
{
    static const char *const libs[] = {"libssl.so.3", "libssl.so.1.1", "libcrypto.so.3",
                                       "libcrypto.so.1.1", "libssl.so", "libcrypto.so", NULL};
    void *p = dlsym(RTLD_NEXT, name);
    if (p && p != self)
        return p;
    for (int i = 0; libs[i]; i++) {
        void *h = dlopen(libs[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        p = dlsym(h, name);
        dlclose(h);
        if (p && p != self)
            return p;
    }
    return NULL;
}

static void resolve(void)
{
    table.complete = 1;
#define RESOLVE_INTERPOSED(name)                                                  \
    table.name = (__typeof__(name) *)find_symbol(#name, (const void *)&name);     \
    if (!table.name)                                                              \
        table.complete = 0;
    OSSL_INTERPOSED(RESOLVE_INTERPOSED)
#undef RESOLVE_INTERPOSED
#define RESOLVE_OPTIONAL(name) table.name = (__typeof__(name) *)find_symbol(#name, (const void *)&name);
    OSSL_INTERPOSED_OPTIONAL(RESOLVE_OPTIONAL)
#undef RESOLVE_OPTIONAL
#define RESOLVE_CALLED(name)                                                      \
    table.name = (__typeof__(name) *)find_symbol(#name, NULL);                    \
    if (!table.name)                                                              \
        table.complete = 0;
    OSSL_CALLED(RESOLVE_CALLED)
#undef RESOLVE_CALLED
    table.md_size = (evp_md_size_fn)find_symbol("EVP_MD_get_size", NULL);
    if (!table.md_size)
        table.md_size = (evp_md_size_fn)find_symbol("EVP_MD_size", NULL);
    table.err_new = (err_new_fn)find_symbol("ERR_new", NULL);
    table.err_set_debug = (err_set_debug_fn)find_symbol("ERR_set_debug", NULL);
    table.err_set_error = (err_set_error_fn)find_symbol("ERR_set_error", NULL);
    table.err_put_error = (err_put_error_fn)find_symbol("ERR_put_error", NULL);
    if (!table.md_size)
        table.complete = 0;
    if (table.complete)
        table.version = table.OpenSSL_version_num();
}

void ossl_missing(const char *name)
{
    /* Only reachable if OpenSSL lacks a function its own caller just used. */
    dprintf(2, "ktls-shim: cannot find the real %s; aborting\n", name);
    abort();
}

/* Resolved again until libssl is there: libcrypto (and our BIO_ctrl) can be
 * in use long before a program dlopens libssl (Python's _ssl). */
const struct ossl_table *ossl(void)
{
    if (atomic_load_explicit(&table_ready, memory_order_acquire))
        return &table;
    pthread_mutex_lock(&table_lock);
    if (!atomic_load_explicit(&table_ready, memory_order_relaxed)) {
        resolve();
        if (table.SSL_new)
            atomic_store_explicit(&table_ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&table_lock);
    return &table;
}

/* The shim's OpenSSL table for fuzz targets: filled from the libssl the
 * target links against, instead of dlsym lookups behind interposers. */
#include "ossl.h"

#include <stdio.h>
#include <stdlib.h>

__thread int shim_depth __attribute__((tls_model("initial-exec")));
__thread const SSL *shim_inside[SHIM_NEST_MAX] __attribute__((tls_model("initial-exec")));
struct ossl_table ossl_resolved;
atomic_int ossl_ready;
_Atomic(bio_ctrl_fn) ossl_early_bio_ctrl;

const struct ossl_table *ossl_resolve(void)
{
    struct ossl_table *t = &ossl_resolved;
    if (!t->complete) {
#define FILL(name) t->name = name;
        OSSL_INTERPOSED(FILL)
        OSSL_INTERPOSED_OPTIONAL(FILL)
        OSSL_CALLED(FILL)
#undef FILL
        t->md_size = EVP_MD_get_size;
        t->err_new = ERR_new;
        t->err_set_debug = ERR_set_debug;
        t->err_set_error = ERR_set_error;
        t->version = OpenSSL_version_num();
        t->complete = 1;
        atomic_store(&ossl_ready, 1);
    }
    return t;
}

bio_ctrl_fn ossl_bio_ctrl_resolve(void)
{
    return BIO_ctrl;
}

void ossl_missing(const char *name)
{
    fprintf(stderr, "fake_ossl: %s missing\n", name);
    abort();
}

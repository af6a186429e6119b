/* Which OpenSSL a call into one of our hooks was meant for.
 *
 * A process can hold more than one OpenSSL: a Python wheel's renamed libssl
 * beside the system's, a plugin built against 1.1.1 in a 3.x program, each
 * loaded RTLD_LOCAL. Our exported names catch the calls of every one of them,
 * but the shim serves one (ossl.c). Passing another library's SSL to that one
 * crashes the program, so a call from code linked against another OpenSSL
 * goes straight to that library's own function, as if the shim were not
 * there: the shim is inert for it.
 *
 * The caller is known by its return address. Each calling object is
 * classified once (dladdr, then dlsym in that object's own scope: the library
 * it was linked against) and after that found by address range, lock-free:
 * a few compares per call. */
#ifndef KTLS_SHIM_OSSL_CALLER_H
#define KTLS_SHIM_OSSL_CALLER_H

#include <stdatomic.h>
#include <stdint.h>

#include "ossl.h"

struct caller_range {
    uintptr_t start, len;
    const struct ossl_table *foreign; /* NULL: the OpenSSL the shim serves */
};

#define OSSL_CALLER_RANGES 64
extern struct caller_range ossl_caller_ranges[OSSL_CALLER_RANGES];
extern atomic_uint ossl_caller_count;

const struct ossl_table *ossl_caller_classify(const void *return_address);

/* NULL when the call is for the OpenSSL the shim serves; otherwise the real
 * functions of the caller's own OpenSSL (a name it lacks is NULL). */
static inline const struct ossl_table *ossl_foreign(const void *return_address)
{
    uintptr_t a = (uintptr_t)return_address;
    unsigned n = atomic_load_explicit(&ossl_caller_count, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (a - ossl_caller_ranges[i].start < ossl_caller_ranges[i].len)
            return ossl_caller_ranges[i].foreign;
    return ossl_caller_classify(return_address);
}

/* The served libssl's own code, as [start, start + len): OpenSSL calls some
 * of its exported functions (SSL_in_init, SSL_is_init_finished) several
 * times per record, and those calls need no look-up at all. Both 0 until
 * ossl_served_span_find() has found it. */
extern atomic_uintptr_t ossl_served_start, ossl_served_len;
void ossl_served_span_find(void);

/* 1 when the call comes from inside the served libssl itself. */
static inline int ossl_from_served_libssl(const void *return_address)
{
    uintptr_t len = atomic_load_explicit(&ossl_served_len, memory_order_acquire);
    if (__builtin_expect(!len, 0)) {
        ossl_served_span_find();
        len = atomic_load_explicit(&ossl_served_len, memory_order_acquire);
    }
    return (uintptr_t)return_address - atomic_load_explicit(&ossl_served_start, memory_order_relaxed) < len;
}

/* A hook was called for a function that neither the caller's OpenSSL nor the
 * served one has (a program that found our SSL_sendfile with dlsym on a
 * 1.1.1 process): errno ENOSYS, an error line for the first such call in the
 * process, never an abort. */
void ossl_absent(const char *name);

#endif

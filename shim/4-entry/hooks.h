/* Shared by the files that define interposed entry points (the top layer:
 * nothing below may call them, see tests/check-layers.sh). */
#ifndef KTLS_SHIM_HOOKS_H
#define KTLS_SHIM_HOOKS_H

#include "cpu_sample.h"
#include "ossl_caller.h"

#define EXPORT __attribute__((visibility("default")))

/* First in every OpenSSL hook: a call meant for another OpenSSL in the
 * process goes to that library's own function, untouched (ossl_caller.h);
 * a function that no OpenSSL here has fails with ENOSYS, never an abort. */
#define ENTER(name, fail, ...)                                                        \
    do {                                                                              \
        const struct ossl_table *t_ = ossl_foreign(__builtin_return_address(0));      \
        if (__builtin_expect(t_ != NULL || !ossl()->name, 0)) {                       \
            if (!t_)                                                                  \
                t_ = ossl();                                                          \
            if (!t_->name) {                                                          \
                ossl_absent(#name);                                                   \
                return fail;                                                          \
            }                                                                         \
            return t_->name(__VA_ARGS__);                                             \
        }                                                                             \
    } while (0)

#define ENTER_VOID(name, ...)                                                         \
    do {                                                                              \
        const struct ossl_table *t_ = ossl_foreign(__builtin_return_address(0));      \
        if (__builtin_expect(t_ != NULL || !ossl()->name, 0)) {                       \
            if (!t_)                                                                  \
                t_ = ossl();                                                          \
            if (t_->name)                                                             \
                t_->name(__VA_ARGS__);                                                \
            else                                                                      \
                ossl_absent(#name);                                                   \
            return;                                                                   \
        }                                                                             \
    } while (0)

/* The routed call, timed when the CPU sample draws it (cpu_sample.h);
 * moved: the bytes it moved, from its result ret. */
#define TIMED_IO(dir, routed_call, moved)                                                        \
    do {                                                                                         \
        struct cpu_mark m_;                                                                      \
        if (__builtin_expect(!cpu_sample_start(&m_), 1))                                         \
            return routed_call;                                                                  \
        __typeof__(routed_call) ret = routed_call;                                               \
        route_cpu_sample(s, &m_, dir, moved);                                                    \
        return ret;                                                                              \
    } while (0)

#endif

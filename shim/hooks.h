/* Shared by the files that define interposed entry points (the top layer:
 * nothing below may call them, see tests/check-layers.sh). */
#ifndef KTLS_SHIM_HOOKS_H
#define KTLS_SHIM_HOOKS_H

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

#endif

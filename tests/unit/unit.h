/* A tiny unit-test harness: TEST(name) registers itself, CHECK* record
 * failures with file:line, the runner prints "ok"/"not ok" per test and a
 * final "N passed, N failed". */
#ifndef KTLS_UNIT_H
#define KTLS_UNIT_H

#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);
void unit_register(const char *name, unit_fn fn);
void unit_fail(const char *file, int line, const char *what);
void unit_fail_mem(const char *file, int line, const char *what, const void *got,
                   const void *want, size_t len);

#define TEST(name)                                                                 \
    static void name(void);                                                        \
    __attribute__((constructor)) static void register_##name(void)                 \
    {                                                                              \
        unit_register(#name, name);                                                \
    }                                                                              \
    static void name(void)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond))                                                               \
            unit_fail(__FILE__, __LINE__, #cond);                                  \
    } while (0)

#define CHECK_EQ_INT(got, want)                                                    \
    do {                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                   \
        if (g_ != w_) {                                                            \
            char m_[160];                                                          \
            snprintf(m_, sizeof(m_), "%s == %lld, want %lld", #got, g_, w_);       \
            unit_fail(__FILE__, __LINE__, m_);                                     \
        }                                                                          \
    } while (0)

#define CHECK_MEM(got, want, len)                                                  \
    do {                                                                           \
        if (memcmp((got), (want), (len)) != 0)                                     \
            unit_fail_mem(__FILE__, __LINE__, #got, (got), (want), (len));         \
    } while (0)

/* hex string (spaces allowed) -> bytes; returns the byte count */
size_t unit_hex(const char *hex, unsigned char *out, size_t cap);

#endif

/* A tiny unit-test framework for the shim's pure modules.
 *
 *   TEST(name) { CHECK(x); CHECK_EQ_INT(a, b); CHECK_MEM(p, q, n); }
 *
 * TEST registers the function from a constructor, so a test file only has to
 * be linked in. The runner (unit_main.c) runs every test in registration
 * order, prints "ok - name" or "not ok - name" for each (TAP style, with
 * "# " diagnostic lines before a failure's verdict) and ends with the line
 * "N passed, N failed, N skipped" (a test that calls unit_skip); it exits
 * non-zero when any test failed.
 *
 * CHECK* record a failure with file:line and go on; REQUIRE stops the current
 * test (use it before a dereference that would crash). */
#ifndef KTLS_UNIT_H
#define KTLS_UNIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);

void unit_register(const char *name, unit_fn fn);
void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void unit_fail_int(const char *file, int line, const char *got_expr, const char *want_expr,
                   long long got, long long want);
/* Returns 1 when equal; otherwise records the failure with a hex diff. */
int unit_check_mem(const char *file, int line, const char *got_expr, const char *want_expr,
                   const void *got, const void *want, size_t len);
/* Parses hex (whitespace between digits allowed) into exactly cap bytes;
 * a bad digit, an odd digit count or a length other than cap is a failure. */
int unit_hex_exact(const char *file, int line, const char *hex, uint8_t *out, size_t cap);
/* Failures recorded so far in the running test (to add context to a loop). */
int unit_failure_count(void);
/* The test cannot run here (why: one line): reported as a TAP skip and
 * counted apart, never as passed. */
void unit_skip(const char *why);

#define TEST(name)                                                                 \
    static void unit_test_##name(void);                                            \
    __attribute__((constructor)) static void unit_register_##name(void)            \
    {                                                                              \
        unit_register(#name, unit_test_##name);                                    \
    }                                                                              \
    static void unit_test_##name(void)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond))                                                               \
            unit_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);              \
    } while (0)

#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            unit_fail(__FILE__, __LINE__, "REQUIRE(%s) failed; test stopped", #cond); \
            return;                                                                \
        }                                                                          \
    } while (0)

/* Both sides are evaluated once and compared as long long. */
#define CHECK_EQ_INT(got, want)                                                    \
    do {                                                                           \
        long long unit_g_ = (long long)(got), unit_w_ = (long long)(want);         \
        if (unit_g_ != unit_w_)                                                    \
            unit_fail_int(__FILE__, __LINE__, #got, #want, unit_g_, unit_w_);      \
    } while (0)

#define CHECK_MEM(got, want, len)                                                  \
    ((void)unit_check_mem(__FILE__, __LINE__, #got, #want, (got), (want), (len)))

#define CHECK_STR(got, want)                                                       \
    do {                                                                           \
        const char *unit_gs_ = (got), *unit_ws_ = (want);                          \
        if (!unit_gs_ || !unit_ws_ || strcmp(unit_gs_, unit_ws_) != 0)             \
            unit_fail(__FILE__, __LINE__, "%s == \"%s\", want \"%s\"", #got,       \
                      unit_gs_ ? unit_gs_ : "(null)", unit_ws_ ? unit_ws_ : "(null)"); \
    } while (0)

/* HEX(array, "0a 1b ...") fills a byte array whose size must match exactly. */
#define HEX(array, hex) unit_hex_exact(__FILE__, __LINE__, (hex), (array), sizeof(array))

#endif

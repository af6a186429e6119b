#include <stdlib.h>

#include "unit.h"

#define MAX_TESTS 256

static struct {
    const char *name;
    unit_fn fn;
} tests[MAX_TESTS];
static int ntests, current_failed;

void unit_register(const char *name, unit_fn fn)
{
    if (ntests < MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests++].fn = fn;
    }
}

void unit_fail(const char *file, int line, const char *what)
{
    printf("#   %s:%d: %s\n", file, line, what);
    current_failed = 1;
}

void unit_fail_mem(const char *file, int line, const char *what, const void *got,
                   const void *want, size_t len)
{
    const unsigned char *g = got, *w = want;
    printf("#   %s:%d: %s differs\n#     got  ", file, line, what);
    for (size_t i = 0; i < len; i++)
        printf("%02x", g[i]);
    printf("\n#     want ");
    for (size_t i = 0; i < len; i++)
        printf("%02x", w[i]);
    printf("\n");
    current_failed = 1;
}

size_t unit_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int half = -1;
    for (; *hex && n < cap; hex++) {
        int v = *hex >= '0' && *hex <= '9'   ? *hex - '0'
                : *hex >= 'a' && *hex <= 'f' ? *hex - 'a' + 10
                : *hex >= 'A' && *hex <= 'F' ? *hex - 'A' + 10
                                             : -1;
        if (v < 0)
            continue;
        if (half < 0)
            half = v;
        else {
            out[n++] = (unsigned char)(half << 4 | v);
            half = -1;
        }
    }
    return n;
}

int main(void)
{
    int passed = 0, failed = 0;
    printf("1..%d\n", ntests);
    for (int i = 0; i < ntests; i++) {
        current_failed = 0;
        tests[i].fn();
        printf("%s %d - %s\n", current_failed ? "not ok" : "ok", i + 1, tests[i].name);
        if (current_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

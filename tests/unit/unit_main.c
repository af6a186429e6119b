/* The runner for unit.h: registration, failure reports, hex diffs, main(). */
#include <stdarg.h>
#include <stdlib.h>

#include "unit.h"

struct unit_entry {
    const char *name;
    unit_fn fn;
    struct unit_entry *next;
};

static struct unit_entry *first_test, **last_test = &first_test;
static int current_failures;
static const char *current_skip;

void unit_register(const char *name, unit_fn fn)
{
    /* constructors run before main; a lost test would be silent, so die */
    struct unit_entry *e = calloc(1, sizeof(*e));
    if (!e) {
        fputs("unit: out of memory registering tests\n", stderr);
        exit(2);
    }
    e->name = name;
    e->fn = fn;
    *last_test = e;
    last_test = &e->next;
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    printf("#   %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    current_failures++;
}

int unit_failure_count(void)
{
    return current_failures;
}

void unit_skip(const char *why)
{
    printf("# skip: %s\n", why);
    current_skip = why;
}

void unit_fail_int(const char *file, int line, const char *got_expr, const char *want_expr,
                   long long got, long long want)
{
    unit_fail(file, line, "CHECK_EQ_INT(%s, %s): got %lld (0x%llx), want %lld (0x%llx)", got_expr,
              want_expr, got, (unsigned long long)got, want, (unsigned long long)want);
}

static void hex_row(const char *tag, const uint8_t *p, size_t off, size_t n)
{
    printf("#     %04zx %s", off, tag);
    for (size_t i = 0; i < n; i++)
        printf(" %02x", p[off + i]);
    putchar('\n');
}

int unit_check_mem(const char *file, int line, const char *got_expr, const char *want_expr,
                   const void *got, const void *want, size_t len)
{
    const uint8_t *g = got, *w = want;
    if (len == 0 || memcmp(g, w, len) == 0)
        return 1;

    size_t differing = 0, first = len;
    for (size_t i = 0; i < len; i++)
        if (g[i] != w[i]) {
            differing++;
            if (first == len)
                first = i;
        }
    unit_fail(file, line, "CHECK_MEM(%s, %s, %zu): %zu byte(s) differ, first at offset %zu",
              got_expr, want_expr, len, differing, first);

    /* only the 16-byte rows that differ, with a ^^ under each bad byte */
    int rows_shown = 0;
    for (size_t off = 0; off < len; off += 16) {
        size_t n = len - off < 16 ? len - off : 16;
        if (memcmp(g + off, w + off, n) == 0)
            continue;
        if (rows_shown++ == 16) {
            printf("#     ... (more differing rows not shown)\n");
            break;
        }
        hex_row("got ", g, off, n);
        hex_row("want", w, off, n);
        printf("#%14s", ""); /* as wide as "#     0000 want" */
        for (size_t i = 0; i < n; i++)
            printf("%s", g[off + i] != w[off + i] ? " ^^" : "   ");
        putchar('\n');
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int unit_hex_exact(const char *file, int line, const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int high = -1;
    for (const char *p = hex; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t')
            continue;
        int v = hex_digit(*p);
        if (v < 0) {
            unit_fail(file, line, "HEX: bad character '%c' in test data", *p);
            return 0;
        }
        if (high < 0) {
            high = v;
            continue;
        }
        if (n == cap) {
            unit_fail(file, line, "HEX: test data longer than %zu bytes", cap);
            return 0;
        }
        out[n++] = (uint8_t)(high << 4 | v);
        high = -1;
    }
    if (high >= 0 || n != cap) {
        unit_fail(file, line, "HEX: test data is %zu byte(s)%s, want %zu", n,
                  high >= 0 ? " and a half" : "", cap);
        return 0;
    }
    return 1;
}

/* unit_tests [SUBSTRING...]: run every test, or those whose name contains
 * one of the arguments. */
int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the order readable if a test crashes */
    for (struct unit_entry *t = first_test; t; t = t->next) {
        int wanted = argc < 2;
        for (int i = 1; i < argc && !wanted; i++)
            wanted = strstr(t->name, argv[i]) != NULL;
        if (!wanted)
            continue;
        current_failures = 0;
        current_skip = NULL;
        t->fn();
        if (current_skip && !current_failures) {
            printf("ok - %s # SKIP %s\n", t->name, current_skip);
            skipped++;
            continue;
        }
        printf("%s - %s\n", current_failures ? "not ok" : "ok", t->name);
        if (current_failures)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#include "json_flat.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16

struct parser {
    const char *p, *end;
    char path[1024];
    json_leaf_fn leaf;
    void *arg;
    int depth;
};

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return 0;
    ps->p += n;
    return 1;
}

/* Reads a string into out (truncated to cap-1, still consumed whole). */
static int string(struct parser *ps, char *out, size_t cap)
{
    size_t n = 0;
    if (ps->p >= ps->end || *ps->p != '"')
        return 0;
    ps->p++;
    while (ps->p < ps->end && *ps->p != '"') {
        char ch = *ps->p++;
        if ((unsigned char)ch < 0x20)
            return 0;
        if (ch == '\\') {
            if (ps->p >= ps->end)
                return 0;
            char e = *ps->p++;
            switch (e) {
            case '"': case '\\': case '/': ch = e; break;
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    if (ps->p >= ps->end || !isxdigit((unsigned char)*ps->p))
                        return 0;
                    char h = *ps->p++;
                    v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                }
                ch = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                return 0;
            }
        }
        if (n + 1 < cap)
            out[n++] = ch;
    }
    if (ps->p >= ps->end)
        return 0;
    ps->p++;
    out[n] = 0;
    return 1;
}

static int value(struct parser *ps);

/* Appends ".key" to the path for the duration of one member. */
static int member(struct parser *ps, const char *key)
{
    size_t base = strlen(ps->path);
    if (base + 1 + strlen(key) >= sizeof(ps->path))
        return 0;
    snprintf(ps->path + base, sizeof(ps->path) - base, "%s%s", base ? "." : "", key);
    int ok = value(ps);
    ps->path[base] = 0;
    return ok;
}

static int container(struct parser *ps, char close, int is_object)
{
    if (++ps->depth > MAX_DEPTH)
        return 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 1;
    }
    for (int index = 0;; index++) {
        char key[256];
        skip_ws(ps);
        if (is_object) {
            if (!string(ps, key, sizeof(key)))
                return 0;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p++ != ':')
                return 0;
        } else
            snprintf(key, sizeof(key), "%d", index);
        if (!member(ps, key))
            return 0;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return 0;
        char ch = *ps->p++;
        if (ch == close)
            break;
        if (ch != ',')
            return 0;
    }
    ps->depth--;
    return 1;
}

static int value(struct parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return 0;
    char ch = *ps->p;
    if (ch == '{')
        return container(ps, '}', 1);
    if (ch == '[')
        return container(ps, ']', 0);
    if (ch == '"') {
        char s[1024];
        if (!string(ps, s, sizeof(s)))
            return 0;
        ps->leaf(ps->path, JSON_STRING, s, ps->arg);
        return 1;
    }
    if (literal(ps, "true"))
        return ps->leaf(ps->path, JSON_TRUE, "true", ps->arg), 1;
    if (literal(ps, "false"))
        return ps->leaf(ps->path, JSON_FALSE, "false", ps->arg), 1;
    if (literal(ps, "null"))
        return ps->leaf(ps->path, JSON_NULL, "null", ps->arg), 1;
    const char *start = ps->p;
    while (ps->p < ps->end && strchr("+-0123456789.eE", *ps->p))
        ps->p++;
    size_t n = (size_t)(ps->p - start);
    if (n == 0 || n >= 64)
        return 0;
    char num[64];
    memcpy(num, start, n);
    num[n] = 0;
    ps->leaf(ps->path, JSON_NUMBER, num, ps->arg);
    return 1;
}

int json_flatten(const char *text, size_t len, json_leaf_fn leaf, void *arg)
{
    struct parser ps = {.p = text, .end = text + len, .leaf = leaf, .arg = arg};
    if (!value(&ps))
        return -1;
    skip_ws(&ps);
    return ps.p == ps.end ? 0 : -1;
}

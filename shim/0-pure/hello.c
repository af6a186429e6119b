#include "hello.h"

struct reader {
    const uint8_t *p;
    size_t left;
};

static int take(struct reader *r, size_t n, const uint8_t **out)
{
    if (r->left < n)
        return 0;
    if (out)
        *out = r->p;
    r->p += n;
    r->left -= n;
    return 1;
}

static int number(struct reader *r, size_t bytes, size_t *v)
{
    const uint8_t *b;
    if (!take(r, bytes, &b))
        return 0;
    *v = 0;
    for (size_t i = 0; i < bytes; i++)
        *v = *v << 8 | b[i];
    return 1;
}

/* skips a vector with a length prefix of `prefix` bytes */
static int skip_vector(struct reader *r, size_t prefix)
{
    size_t n;
    return number(r, prefix, &n) && take(r, n, NULL);
}

int hello_offers_extension(const uint8_t *msg, size_t len, unsigned ext_type)
{
    struct reader r = {msg, len};
    size_t type, body, exts_len;
    if (!msg || !number(&r, 1, &type) || type != 1 /* client_hello */ || !number(&r, 3, &body)
        || body > r.left)
        return 0;
    r.left = body;
    if (!take(&r, 2 + 32, NULL) /* legacy_version, random */ || !skip_vector(&r, 1) /* session id */
        || !skip_vector(&r, 2) /* cipher suites */ || !skip_vector(&r, 1) /* compression */
        || !number(&r, 2, &exts_len) || exts_len > r.left)
        return 0;
    r.left = exts_len;
    while (r.left > 0) {
        size_t ext, ext_len;
        if (!number(&r, 2, &ext) || !number(&r, 2, &ext_len) || !take(&r, ext_len, NULL))
            return 0;
        if (ext == ext_type)
            return 1;
    }
    return 0;
}

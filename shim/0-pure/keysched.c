#include "keysched.h"

#include <string.h>

void ks_scrub(void *p, size_t len)
{
    /* volatile stores: a plain memset before free/return may be removed */
    volatile uint8_t *v = p;
    while (len--)
        *v++ = 0;
}

int ks_hkdf_expand_label(const struct ks_hash *h, const uint8_t *secret, size_t secret_len,
                         const char *label, const uint8_t *context, size_t context_len,
                         uint8_t *out, size_t out_len)
{
    static const char prefix[] = "tls13 ";
    if (!label)
        return 0;
    size_t label_len = strlen(label);
    size_t full_label = sizeof(prefix) - 1 + label_len;
    /* HkdfLabel: uint16 length, opaque label<7..255>, opaque context<0..255> */
    if (!h || !h->hmac || h->digest_len == 0 || h->digest_len > KS_MAX_HASH
        || full_label > 255 || context_len > 255 || out_len > 255 * h->digest_len
        || out_len > 0xFFFF)
        return 0;

    uint8_t info[2 + 1 + 255 + 1 + 255 + 1];
    size_t n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)full_label;
    memcpy(info + n, prefix, sizeof(prefix) - 1);
    n += sizeof(prefix) - 1;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = (uint8_t)context_len;
    if (context_len)
        memcpy(info + n, context, context_len);
    n += context_len;

    /* HKDF-Expand (RFC 5869): T(i) = HMAC(PRK, T(i-1) | info | i) */
    uint8_t block[KS_MAX_HASH + sizeof(info)];
    uint8_t t[KS_MAX_HASH];
    size_t t_len = 0, done = 0;
    int ok = 1;
    for (uint8_t i = 1; done < out_len; i++) {
        memcpy(block, t, t_len);
        memcpy(block + t_len, info, n);
        block[t_len + n] = i;
        if (!h->hmac(h->md, secret, secret_len, block, t_len + n + 1, t)) {
            ok = 0;
            break;
        }
        t_len = h->digest_len;
        size_t take = out_len - done < t_len ? out_len - done : t_len;
        memcpy(out + done, t, take);
        done += take;
    }
    ks_scrub(block, sizeof(block));
    ks_scrub(t, sizeof(t));
    if (!ok)
        ks_scrub(out, out_len);
    return ok;
}

int ks_tls13_traffic_keys(const struct ks_hash *h, const uint8_t *secret, size_t secret_len,
                          uint8_t *key, size_t key_len, uint8_t iv[12])
{
    if (ks_hkdf_expand_label(h, secret, secret_len, "key", NULL, 0, key, key_len)
        && ks_hkdf_expand_label(h, secret, secret_len, "iv", NULL, 0, iv, 12))
        return 1;
    ks_scrub(key, key_len);
    ks_scrub(iv, 12);
    return 0;
}

int ks_tls13_next_secret(const struct ks_hash *h, const uint8_t *secret, uint8_t *out)
{
    uint8_t next[KS_MAX_HASH];
    if (!h || h->digest_len == 0 || h->digest_len > KS_MAX_HASH)
        return 0;
    int ok = ks_hkdf_expand_label(h, secret, h->digest_len, "traffic upd", NULL, 0, next,
                                  h->digest_len);
    if (ok)
        memcpy(out, next, h->digest_len);
    else
        ks_scrub(out, h->digest_len);
    ks_scrub(next, sizeof(next));
    return ok;
}

int ks_tls12_prf(const struct ks_hash *h, const uint8_t *secret, size_t secret_len,
                 const char *label, const uint8_t *seed, size_t seed_len,
                 uint8_t *out, size_t out_len)
{
    if (!label)
        return 0;
    size_t label_len = strlen(label);
    if (!h || !h->hmac || h->digest_len == 0 || h->digest_len > KS_MAX_HASH
        || label_len + seed_len > 256)
        return 0;

    /* P_hash: A(0) = label|seed, A(i) = HMAC(A(i-1)),
     * output = HMAC(A(1)|label|seed) | HMAC(A(2)|label|seed) | ... */
    uint8_t ls[256];
    memcpy(ls, label, label_len);
    memcpy(ls + label_len, seed, seed_len);
    size_t ls_len = label_len + seed_len;

    uint8_t a[KS_MAX_HASH], block[KS_MAX_HASH + 256], t[KS_MAX_HASH];
    int ok = h->hmac(h->md, secret, secret_len, ls, ls_len, a);
    size_t done = 0;
    while (ok && done < out_len) {
        memcpy(block, a, h->digest_len);
        memcpy(block + h->digest_len, ls, ls_len);
        ok = h->hmac(h->md, secret, secret_len, block, h->digest_len + ls_len, t);
        if (!ok)
            break;
        size_t take = out_len - done < h->digest_len ? out_len - done : h->digest_len;
        memcpy(out + done, t, take);
        done += take;
        if (done < out_len) /* A(i+1) only when another block follows */
            ok = h->hmac(h->md, secret, secret_len, a, h->digest_len, a);
    }
    ks_scrub(a, sizeof(a));
    ks_scrub(block, sizeof(block));
    ks_scrub(t, sizeof(t));
    if (!ok)
        ks_scrub(out, out_len);
    return ok;
}

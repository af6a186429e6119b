/* The key schedule's HMAC (keysched.h) over the process's OpenSSL: the pure
 * key schedule stays testable with any libcrypto, the shim uses the one it
 * resolved at run time. */
#include "ossl.h"

static int hmac_adapter(const void *md, const uint8_t *key, size_t key_len, const uint8_t *data,
                        size_t data_len, uint8_t *out)
{
    unsigned int out_len = 0;
    return ossl()->HMAC(md, key, (int)key_len, data, data_len, out, &out_len) != NULL;
}

struct ks_hash ossl_ks_hash(const EVP_MD *md)
{
    int size = md ? ossl()->md_size(md) : 0;
    return (struct ks_hash){.md = md, .digest_len = size > 0 ? (size_t)size : 0, .hmac = hmac_adapter};
}

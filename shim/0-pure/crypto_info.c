#include "crypto_info.h"

#include <string.h>

/* NID values from OpenSSL's obj_mac.h; stable across 1.1.1 and 3.x */
#define NID_AES_128_GCM 895
#define NID_AES_256_GCM 901
#define NID_AES_128_CCM 896
#define NID_CHACHA20_POLY1305 1018

static const struct ktls_cipher_desc ciphers[] = {
    {KTLS_CIPHER_AES_128_GCM, "AES-128-GCM", TLS_CIPHER_AES_GCM_128, 16, 4},
    {KTLS_CIPHER_AES_256_GCM, "AES-256-GCM", TLS_CIPHER_AES_GCM_256, 32, 4},
    {KTLS_CIPHER_CHACHA20_POLY1305, "CHACHA20-POLY1305", TLS_CIPHER_CHACHA20_POLY1305, 32, 12},
    {KTLS_CIPHER_AES_128_CCM, "AES-128-CCM", TLS_CIPHER_AES_CCM_128, 16, 4},
};

const struct ktls_cipher_desc *crypto_info_cipher_desc(enum ktls_cipher c)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
        if (ciphers[i].cipher == c)
            return &ciphers[i];
    return NULL;
}

/* IANA ids of the AES-128-CCM suites with the full 16-byte tag (RFC 6655,
 * 7251, 8442, 8446); every *_CCM_8 suite is left out on purpose. */
static int ccm_full_tag(unsigned id)
{
    switch (id) {
    case 0xC09C: /* TLS_RSA_WITH_AES_128_CCM */
    case 0xC09E: /* TLS_DHE_RSA_WITH_AES_128_CCM */
    case 0xC0A4: /* TLS_PSK_WITH_AES_128_CCM */
    case 0xC0A6: /* TLS_DHE_PSK_WITH_AES_128_CCM */
    case 0xC0AC: /* TLS_ECDHE_ECDSA_WITH_AES_128_CCM */
    case 0xD005: /* TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256 */
    case 0x1304: /* TLS_AES_128_CCM_SHA256 */
        return 1;
    default:
        return 0;
    }
}

const struct ktls_cipher_desc *crypto_info_cipher_for_suite(int nid, unsigned suite_id)
{
    switch (nid) {
    case NID_AES_128_GCM: return crypto_info_cipher_desc(KTLS_CIPHER_AES_128_GCM);
    case NID_AES_256_GCM: return crypto_info_cipher_desc(KTLS_CIPHER_AES_256_GCM);
    case NID_CHACHA20_POLY1305: return crypto_info_cipher_desc(KTLS_CIPHER_CHACHA20_POLY1305);
    case NID_AES_128_CCM:
        return ccm_full_tag(suite_id) ? crypto_info_cipher_desc(KTLS_CIPHER_AES_128_CCM) : NULL;
    default: return NULL;
    }
}

static void put_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

/* salt/iv split shared by the GCM and CCM layouts */
#define PACK_SALTED(field, ver)                                                   \
    do {                                                                          \
        out->field.info.version = (ver);                                          \
        out->field.info.cipher_type = d->kernel_type;                             \
        memcpy(out->field.key, key, sizeof(out->field.key));                      \
        if ((ver) == TLS_1_3_VERSION) {                                           \
            memcpy(out->field.salt, iv, sizeof(out->field.salt));                 \
            memcpy(out->field.iv, iv + sizeof(out->field.salt), sizeof(out->field.iv)); \
        } else {                                                                  \
            memcpy(out->field.salt, iv, sizeof(out->field.salt));                 \
            put_be64(out->field.iv, seq);                                         \
        }                                                                         \
        put_be64(out->field.rec_seq, seq);                                        \
        return sizeof(out->field);                                                \
    } while (0)

size_t crypto_info_pack(union ktls_crypto_info *out, int version,
                             enum ktls_cipher cipher, const uint8_t *key,
                             const uint8_t *iv, uint64_t seq)
{
    const struct ktls_cipher_desc *d = crypto_info_cipher_desc(cipher);
    memset(out, 0, sizeof(*out));
    if (!d || !key || !iv || (version != TLS_1_2_VERSION && version != TLS_1_3_VERSION))
        return 0;
    switch (cipher) {
    case KTLS_CIPHER_AES_128_GCM: PACK_SALTED(aes_gcm_128, version);
    case KTLS_CIPHER_AES_256_GCM: PACK_SALTED(aes_gcm_256, version);
    case KTLS_CIPHER_AES_128_CCM: PACK_SALTED(aes_ccm_128, version);
    case KTLS_CIPHER_CHACHA20_POLY1305:
        /* RFC 7905: the nonce is the whole 12-byte IV xor the sequence */
        out->chacha20_poly1305.info.version = (uint16_t)version;
        out->chacha20_poly1305.info.cipher_type = d->kernel_type;
        memcpy(out->chacha20_poly1305.key, key, sizeof(out->chacha20_poly1305.key));
        memcpy(out->chacha20_poly1305.iv, iv, sizeof(out->chacha20_poly1305.iv));
        put_be64(out->chacha20_poly1305.rec_seq, seq);
        return sizeof(out->chacha20_poly1305);
    default:
        return 0;
    }
}

/* The kernel's crypto_info layouts, for every cipher and both versions. */
#include <stdint.h>

#include "crypto_info.h"
#include "unit.h"

static const uint64_t seqs[] = {0, 1, 0x0102030405060708ULL, UINT64_MAX};

static void be64(uint64_t v, unsigned char out[8])
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

static void fill(unsigned char *p, size_t n, unsigned char start)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(start + i);
}

#define CHECK_SALTED(FIELD, KEYLEN, TYPE)                                            \
    do {                                                                             \
        for (int v = 0; v < 2; v++) {                                                \
            int version = v ? TLS_1_3_VERSION : TLS_1_2_VERSION;                     \
            for (size_t s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++) {            \
                union ktls_crypto_info ci;                                           \
                unsigned char seq_be[8];                                             \
                be64(seqs[s], seq_be);                                               \
                size_t n = ktls_crypto_info_pack(&ci, version, TYPE, key, iv, seqs[s]); \
                CHECK_EQ_INT(n, sizeof(ci.FIELD));                                   \
                CHECK_EQ_INT(ci.FIELD.info.version, version);                        \
                CHECK_EQ_INT(ci.FIELD.info.cipher_type, ktls_cipher_desc(TYPE)->kernel_type); \
                CHECK_MEM(ci.FIELD.key, key, KEYLEN);                                \
                CHECK_MEM(ci.FIELD.salt, iv, 4);                                     \
                if (version == TLS_1_3_VERSION)                                      \
                    CHECK_MEM(ci.FIELD.iv, iv + 4, 8);                               \
                else                                                                 \
                    CHECK_MEM(ci.FIELD.iv, seq_be, 8); /* explicit nonce = seq */    \
                CHECK_MEM(ci.FIELD.rec_seq, seq_be, 8);                              \
            }                                                                        \
        }                                                                            \
    } while (0)

TEST(aes_128_gcm_layout_both_versions)
{
    unsigned char key[32], iv[12];
    fill(key, 32, 0x10);
    fill(iv, 12, 0xA0);
    CHECK_SALTED(aes_gcm_128, 16, KTLS_CIPHER_AES_128_GCM);
}

TEST(aes_256_gcm_layout_both_versions)
{
    unsigned char key[32], iv[12];
    fill(key, 32, 0x20);
    fill(iv, 12, 0xB0);
    CHECK_SALTED(aes_gcm_256, 32, KTLS_CIPHER_AES_256_GCM);
}

TEST(aes_128_ccm_layout_both_versions)
{
    unsigned char key[32], iv[12];
    fill(key, 32, 0x30);
    fill(iv, 12, 0xC0);
    CHECK_SALTED(aes_ccm_128, 16, KTLS_CIPHER_AES_128_CCM);
}

TEST(chacha20_poly1305_takes_the_whole_iv)
{
    unsigned char key[32], iv[12];
    fill(key, 32, 0x40);
    fill(iv, 12, 0xD0);
    for (int v = 0; v < 2; v++) {
        int version = v ? TLS_1_3_VERSION : TLS_1_2_VERSION;
        for (size_t s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++) {
            union ktls_crypto_info ci;
            unsigned char seq_be[8];
            be64(seqs[s], seq_be);
            size_t n = ktls_crypto_info_pack(&ci, version, KTLS_CIPHER_CHACHA20_POLY1305, key, iv,
                                             seqs[s]);
            CHECK_EQ_INT(n, sizeof(ci.chacha20_poly1305));
            CHECK_EQ_INT(ci.chacha20_poly1305.info.version, version);
            CHECK_EQ_INT(ci.chacha20_poly1305.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
            CHECK_MEM(ci.chacha20_poly1305.key, key, 32);
            CHECK_MEM(ci.chacha20_poly1305.iv, iv, 12);
            CHECK_MEM(ci.chacha20_poly1305.rec_seq, seq_be, 8);
        }
    }
}

TEST(bad_arguments_give_size_zero)
{
    union ktls_crypto_info ci;
    unsigned char key[32] = {0}, iv[12] = {0};
    CHECK_EQ_INT(ktls_crypto_info_pack(&ci, TLS_1_2_VERSION, KTLS_CIPHER_NONE, key, iv, 0), 0);
    CHECK_EQ_INT(ktls_crypto_info_pack(&ci, 0x0301, KTLS_CIPHER_AES_128_GCM, key, iv, 0), 0);
    CHECK_EQ_INT(ktls_crypto_info_pack(&ci, TLS_1_3_VERSION, KTLS_CIPHER_AES_128_GCM, NULL, iv, 0), 0);
    CHECK_EQ_INT(ktls_crypto_info_pack(&ci, TLS_1_3_VERSION, KTLS_CIPHER_AES_128_GCM, key, NULL, 0), 0);
}

TEST(cipher_nids_map_to_kernel_ciphers)
{
    CHECK(ktls_cipher_from_nid(895, 0)->cipher == KTLS_CIPHER_AES_128_GCM);
    CHECK(ktls_cipher_from_nid(901, 0)->cipher == KTLS_CIPHER_AES_256_GCM);
    CHECK(ktls_cipher_from_nid(1018, 0)->cipher == KTLS_CIPHER_CHACHA20_POLY1305);
    CHECK(ktls_cipher_from_nid(896, 0)->cipher == KTLS_CIPHER_AES_128_CCM);
    CHECK(ktls_cipher_from_nid(896, 1) == NULL); /* CCM_8: 8-byte tag, not the kernel's */
    CHECK(ktls_cipher_from_nid(419, 0) == NULL); /* AES-128-CBC */
    CHECK_EQ_INT(ktls_cipher_from_nid(895, 0)->tls12_fixed_iv, 4);
    CHECK_EQ_INT(ktls_cipher_from_nid(1018, 0)->tls12_fixed_iv, 12);
}

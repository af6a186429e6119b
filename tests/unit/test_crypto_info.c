/* shim/0-pure/crypto_info.c: the tls12_crypto_info_* structs for SOL_TLS TLS_TX/TLS_RX.
 *
 * Expected layouts come from <linux/tls.h> itself (offsetof and the
 * TLS_CIPHER_*_SIZE macros), not from the union in crypto_info.h, and the
 * key/iv inputs are heap buffers of exactly the documented size so ASan
 * reports any read past them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/obj_mac.h>
#include <openssl/ssl.h>
#include <string.h>

#include "crypto_info.h"
#include "unit.h"

struct layout {
    enum ktls_cipher cipher;
    const char *name;
    uint16_t cipher_type;
    size_t size;
    size_t key_off, key_len;
    size_t salt_off, salt_len; /* salt_len 0: no salt field (ChaCha20) */
    size_t iv_off, iv_len;
    size_t seq_off, seq_len;
    size_t tls12_iv_in; /* bytes of implicit IV the caller passes for TLS 1.2 */
};

#define SALTED(ST, CIPHER, NAME, TYPE, P)                                                  \
    {CIPHER, NAME, TYPE, sizeof(struct ST),                                                \
     offsetof(struct ST, key), P##_KEY_SIZE,                                               \
     offsetof(struct ST, salt), P##_SALT_SIZE,                                             \
     offsetof(struct ST, iv), P##_IV_SIZE,                                                 \
     offsetof(struct ST, rec_seq), P##_REC_SEQ_SIZE,                                       \
     P##_SALT_SIZE}

static const struct layout layouts[] = {
    SALTED(tls12_crypto_info_aes_gcm_128, KTLS_CIPHER_AES_128_GCM, "AES-128-GCM",
           TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_128),
    SALTED(tls12_crypto_info_aes_gcm_256, KTLS_CIPHER_AES_256_GCM, "AES-256-GCM",
           TLS_CIPHER_AES_GCM_256, TLS_CIPHER_AES_GCM_256),
    SALTED(tls12_crypto_info_aes_ccm_128, KTLS_CIPHER_AES_128_CCM, "AES-128-CCM",
           TLS_CIPHER_AES_CCM_128, TLS_CIPHER_AES_CCM_128),
    {KTLS_CIPHER_CHACHA20_POLY1305, "CHACHA20-POLY1305", TLS_CIPHER_CHACHA20_POLY1305,
     sizeof(struct tls12_crypto_info_chacha20_poly1305),
     offsetof(struct tls12_crypto_info_chacha20_poly1305, key),
     TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE, 0, 0,
     offsetof(struct tls12_crypto_info_chacha20_poly1305, iv),
     TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE,
     offsetof(struct tls12_crypto_info_chacha20_poly1305, rec_seq),
     TLS_CIPHER_CHACHA20_POLY1305_REC_SEQ_SIZE, TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE},
};
#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static const uint64_t seqs[] = {0, 1, 0x0102030405060708ULL, UINT64_MAX};
#define NSEQS (sizeof(seqs) / sizeof(seqs[0]))

static void be64(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint8_t *pattern(size_t n, uint8_t start)
{
    uint8_t *p = malloc(n ? n : 1);
    if (p)
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(start + 7 * i);
    return p;
}

/* One cipher, one version, every test sequence number. */
static void check_pack(const struct layout *l, int version)
{
    int tls13 = version == TLS_1_3_VERSION;
    size_t iv_in = tls13 ? 12 : l->tls12_iv_in;
    uint8_t *key = pattern(l->key_len, (uint8_t)(0x10 + l->cipher));
    uint8_t *iv = pattern(iv_in, (uint8_t)(0xA0 + l->cipher + (tls13 ? 0x08 : 0)));
    REQUIRE(key && iv);

    for (size_t s = 0; s < NSEQS; s++) {
        union ktls_crypto_info ci;
        uint8_t seq_be[8];
        int failures_before = unit_failure_count();
        be64(seqs[s], seq_be);
        memset(&ci, 0xEE, sizeof(ci));
        size_t n = crypto_info_pack(&ci, version, l->cipher, key, iv, seqs[s]);
        const uint8_t *raw = (const uint8_t *)&ci;

        CHECK_EQ_INT(n, l->size);
        CHECK_EQ_INT(ci.base.version, version);
        CHECK_EQ_INT(ci.base.cipher_type, l->cipher_type);
        CHECK_MEM(raw + l->key_off, key, l->key_len);
        CHECK_MEM(raw + l->seq_off, seq_be, 8);
        if (l->salt_len == 0) {
            /* ChaCha20-Poly1305 (RFC 7905): the whole 12-byte IV, both versions */
            CHECK_EQ_INT(iv_in, 12);
            CHECK_MEM(raw + l->iv_off, iv, 12);
        } else if (tls13) {
            /* TLS 1.3: salt = iv[0..4], iv = iv[4..12]; the kernel XORs in the seq */
            CHECK_MEM(raw + l->salt_off, iv, 4);
            CHECK_MEM(raw + l->iv_off, iv + 4, 8);
        } else {
            /* TLS 1.2: salt = the 4-byte implicit IV, iv = explicit nonce = seq */
            CHECK_MEM(raw + l->salt_off, iv, 4);
            CHECK_MEM(raw + l->iv_off, seq_be, 8);
        }
        if (unit_failure_count() != failures_before) {
            unit_fail(__FILE__, __LINE__, "... %s, version 0x%04x, seq 0x%016llx", l->name,
                      version, (unsigned long long)seqs[s]);
            break;
        }
    }
    free(key);
    free(iv);
}

TEST(kernel_layouts_are_what_this_test_assumes)
{
    /* the sizes the table above was built from, straight from linux/tls.h */
    for (size_t i = 0; i < NLAYOUTS; i++) {
        const struct layout *l = &layouts[i];
        CHECK_EQ_INT(l->seq_len, 8);
        CHECK_EQ_INT(l->iv_len, l->salt_len ? 8 : 12);
        CHECK_EQ_INT(l->salt_len + l->iv_len, 12);
        /* info, key, salt, iv, rec_seq cover the struct with no gap */
        CHECK_EQ_INT(sizeof(struct tls_crypto_info) + l->key_len + l->salt_len + l->iv_len
                         + l->seq_len,
                     l->size);
    }
    CHECK_EQ_INT(TLS_1_2_VERSION, 0x0303);
    CHECK_EQ_INT(TLS_1_3_VERSION, 0x0304);
}

TEST(aes_128_gcm_tls12_and_tls13)
{
    check_pack(&layouts[0], TLS_1_2_VERSION);
    check_pack(&layouts[0], TLS_1_3_VERSION);
}

TEST(aes_256_gcm_tls12_and_tls13)
{
    check_pack(&layouts[1], TLS_1_2_VERSION);
    check_pack(&layouts[1], TLS_1_3_VERSION);
}

TEST(aes_128_ccm_tls12_and_tls13)
{
    check_pack(&layouts[2], TLS_1_2_VERSION);
    check_pack(&layouts[2], TLS_1_3_VERSION);
}

TEST(chacha20_poly1305_tls12_and_tls13)
{
    check_pack(&layouts[3], TLS_1_2_VERSION);
    check_pack(&layouts[3], TLS_1_3_VERSION);
}

TEST(cipher_descriptions_match_the_kernel)
{
    for (size_t i = 0; i < NLAYOUTS; i++) {
        const struct layout *l = &layouts[i];
        const struct ktls_cipher_desc *d = crypto_info_cipher_desc(l->cipher);
        if (!d) {
            unit_fail(__FILE__, __LINE__, "crypto_info_cipher_desc(%s) is NULL", l->name);
            continue;
        }
        CHECK_EQ_INT(d->cipher, l->cipher);
        CHECK_STR(d->name, l->name);
        CHECK_EQ_INT(d->kernel_type, l->cipher_type);
        CHECK_EQ_INT(d->key_len, l->key_len);
        CHECK_EQ_INT(d->tls12_fixed_iv, l->tls12_iv_in);
    }
    CHECK(crypto_info_cipher_desc(KTLS_CIPHER_NONE) == NULL);
    CHECK(crypto_info_cipher_desc((enum ktls_cipher)99) == NULL);
}

TEST(bad_arguments_return_0)
{
    union ktls_crypto_info ci;
    uint8_t key[32] = {1}, iv[12] = {2};
    static const int bad_versions[] = {0, 0x0300, 0x0301, 0x0302, 0x0305, 0x0403, -1};

    CHECK_EQ_INT(crypto_info_pack(&ci, TLS_1_3_VERSION, KTLS_CIPHER_NONE, key, iv, 0), 0);
    CHECK_EQ_INT(crypto_info_pack(&ci, TLS_1_2_VERSION, KTLS_CIPHER_NONE, key, iv, 0), 0);
    CHECK_EQ_INT(
        crypto_info_pack(&ci, TLS_1_3_VERSION, (enum ktls_cipher)99, key, iv, 0), 0);
    for (size_t v = 0; v < sizeof(bad_versions) / sizeof(bad_versions[0]); v++)
        for (size_t i = 0; i < NLAYOUTS; i++)
            CHECK_EQ_INT(
                crypto_info_pack(&ci, bad_versions[v], layouts[i].cipher, key, iv, 0), 0);
    for (size_t i = 0; i < NLAYOUTS; i++) {
        CHECK_EQ_INT(
            crypto_info_pack(&ci, TLS_1_3_VERSION, layouts[i].cipher, NULL, iv, 0), 0);
        CHECK_EQ_INT(
            crypto_info_pack(&ci, TLS_1_2_VERSION, layouts[i].cipher, NULL, iv, 0), 0);
        CHECK_EQ_INT(
            crypto_info_pack(&ci, TLS_1_3_VERSION, layouts[i].cipher, key, NULL, 0), 0);
    }
}

TEST(cipher_for_suite)
{
    /* the shim hard-codes OpenSSL's NIDs; they must be OpenSSL's */
    CHECK_EQ_INT(NID_aes_128_gcm, 895);
    CHECK_EQ_INT(NID_aes_256_gcm, 901);
    CHECK_EQ_INT(NID_chacha20_poly1305, 1018);
    CHECK_EQ_INT(NID_aes_128_ccm, 896);

    static const struct {
        int nid;
        unsigned id;
        enum ktls_cipher want;
    } known[] = {
        {895, 0x1301, KTLS_CIPHER_AES_128_GCM},  /* TLS_AES_128_GCM_SHA256 */
        {895, 0xC02B, KTLS_CIPHER_AES_128_GCM},  /* ECDHE-ECDSA-AES128-GCM-SHA256 */
        {901, 0x1302, KTLS_CIPHER_AES_256_GCM},
        {1018, 0x1303, KTLS_CIPHER_CHACHA20_POLY1305},
        {1018, 0xCCA8, KTLS_CIPHER_CHACHA20_POLY1305},
        {896, 0x1304, KTLS_CIPHER_AES_128_CCM},  /* TLS_AES_128_CCM_SHA256 */
        {896, 0xC0AC, KTLS_CIPHER_AES_128_CCM},  /* ECDHE-ECDSA-AES128-CCM */
        {896, 0xC09C, KTLS_CIPHER_AES_128_CCM},  /* AES128-CCM */
        {896, 0xC09E, KTLS_CIPHER_AES_128_CCM},  /* DHE-RSA-AES128-CCM */
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const struct ktls_cipher_desc *d = crypto_info_cipher_for_suite(known[i].nid, known[i].id);
        if (!d) {
            unit_fail(__FILE__, __LINE__, "crypto_info_cipher_for_suite(%d, 0x%04x) is NULL", known[i].nid,
                      known[i].id);
            continue;
        }
        CHECK_EQ_INT(d->cipher, known[i].want);
        CHECK(d == crypto_info_cipher_desc(known[i].want));
    }

    /* CCM_8 (8-byte tag) is not the kernel's AES-CCM, whatever its name says:
     * OpenSSL calls the TLS 1.3 one TLS_AES_128_CCM_8_SHA256 (no "CCM8") */
    static const unsigned ccm8[] = {0x1305, 0xC0AE, 0xC0A0, 0xC0A2, 0xC0A8, 0xC0AA, 0xD003};
    for (size_t i = 0; i < sizeof(ccm8) / sizeof(ccm8[0]); i++)
        if (crypto_info_cipher_for_suite(896, ccm8[i]) != NULL)
            unit_fail(__FILE__, __LINE__, "CCM_8 suite 0x%04x mapped to a kernel cipher", ccm8[i]);
    /* an unknown id with the CCM NID: refused rather than guessed */
    CHECK(crypto_info_cipher_for_suite(896, 0) == NULL);
    CHECK(crypto_info_cipher_for_suite(896, 0xFFFF) == NULL);

    /* no kernel AEAD for these */
    static const int unknown[] = {NID_undef,       NID_aes_128_cbc, NID_aes_256_cbc,
                                  NID_aes_192_gcm, NID_aes_256_ccm, NID_chacha20,
                                  -1,              100000};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        if (crypto_info_cipher_for_suite(unknown[i], 0x1301) != NULL)
            unit_fail(__FILE__, __LINE__, "crypto_info_cipher_for_suite(%d) is not NULL", unknown[i]);
    }
}

/* What the shim used to do (name search for "CCM8") against the suite names
 * OpenSSL really prints, so a name-based rule can never come back unnoticed. */
TEST(cipher_for_suite_matches_openssl_suite_table)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    REQUIRE(ctx != NULL);
    SSL_CTX_set_security_level(ctx, 0);
    REQUIRE(SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0") == 1);
    REQUIRE(SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                          "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:"
                                          "TLS_AES_128_CCM_8_SHA256") == 1);
    SSL *ssl = SSL_new(ctx);
    REQUIRE(ssl != NULL);
    STACK_OF(SSL_CIPHER) *all = SSL_get_ciphers(ssl);
    int ccm = 0, ccm8 = 0;
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        if (SSL_CIPHER_get_cipher_nid(c) != NID_aes_128_ccm)
            continue;
        const char *desc = SSL_CIPHER_description(c, NULL, 0);
        int eight = desc && strstr(desc, "AESCCM8") != NULL; /* Enc=AESCCM8(128) */
        const struct ktls_cipher_desc *d =
            crypto_info_cipher_for_suite(SSL_CIPHER_get_cipher_nid(c), SSL_CIPHER_get_protocol_id(c));
        if (eight && d)
            unit_fail(__FILE__, __LINE__, "%s (8-byte tag) mapped to the kernel's AES-CCM",
                      SSL_CIPHER_get_name(c));
        if (!eight && !d)
            unit_fail(__FILE__, __LINE__, "%s (16-byte tag) not mapped", SSL_CIPHER_get_name(c));
        eight ? ccm8++ : ccm++;
        OPENSSL_free((void *)desc);
    }
    CHECK(ccm >= 2);  /* at least TLS_AES_128_CCM_SHA256 and one TLS 1.2 suite */
    CHECK(ccm8 >= 2); /* TLS_AES_128_CCM_8_SHA256 among them */
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

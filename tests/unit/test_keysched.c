/* shim/0-pure/keysched.c: HKDF-Expand-Label (TLS 1.3) and the TLS 1.2 PRF.
 *
 * Three kinds of evidence:
 *  - published vectors: RFC 8448 section 3 for TLS 1.3, and the P_SHA256 /
 *    P_SHA384 PRF vectors posted to the IETF TLS WG list (msg03416);
 *  - OpenSSL 3's own KDFs ("TLS1-PRF", and "HKDF" in expand-only mode over an
 *    HkdfLabel built here from RFC 8446 section 7.1) as an independent
 *    implementation, over many lengths;
 *  - argument checks and failure handling (output scrubbed). */
#include <limits.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "keysched.h"
#include "unit.h"

/* ---- HMAC adapters ------------------------------------------------------ */

/* ks_hmac_fn over OpenSSL's one-shot HMAC(); md is an EVP_MD *. */
static int hmac_openssl(const void *md, const uint8_t *key, size_t key_len, const uint8_t *data,
                        size_t data_len, uint8_t *out)
{
    unsigned int n = 0;
    if (key_len > INT_MAX)
        return 0;
    if (!HMAC((const EVP_MD *)md, key, (int)key_len, data, data_len, out, &n))
        return 0;
    return n == (unsigned int)EVP_MD_get_size((const EVP_MD *)md);
}

static struct ks_hash ks_sha256(void)
{
    return (struct ks_hash){EVP_sha256(), 32, hmac_openssl};
}

static struct ks_hash ks_sha384(void)
{
    return (struct ks_hash){EVP_sha384(), 48, hmac_openssl};
}

/* A spy: counts calls, keeps a copy of the first call's data, and fails the
 * call numbered spy_fail_at (1-based; 0 = never). */
static int spy_calls, spy_fail_at;
static uint8_t spy_first_data[1024];
static size_t spy_first_len;

static int hmac_spy(const void *md, const uint8_t *key, size_t key_len, const uint8_t *data,
                    size_t data_len, uint8_t *out)
{
    if (++spy_calls == 1) {
        spy_first_len = data_len < sizeof(spy_first_data) ? data_len : sizeof(spy_first_data);
        memcpy(spy_first_data, data, spy_first_len);
    }
    if (spy_calls == spy_fail_at)
        return 0; /* like a real failure: out left as it was */
    return hmac_openssl(md, key, key_len, data, data_len, out);
}

static void spy_reset(int fail_at)
{
    spy_calls = 0;
    spy_fail_at = fail_at;
    spy_first_len = 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Variable-length HEX: the byte count is taken from the string itself. */
static size_t hex_var(const char *file, int line, const char *hex, uint8_t *out, size_t cap)
{
    size_t digits = 0;
    for (const char *p = hex; *p; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t')
            digits++;
    if (digits / 2 > cap) {
        unit_fail(file, line, "hex_var: %zu bytes do not fit in %zu", digits / 2, cap);
        return 0;
    }
    return unit_hex_exact(file, line, hex, out, digits / 2) ? digits / 2 : 0;
}
#define HEX_VAR(out, hex) hex_var(__FILE__, __LINE__, (hex), (out), sizeof(out))

/* HkdfLabel per RFC 8446 section 7.1, written independently of keysched.c:
 *   uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255> */
static size_t build_hkdf_label(uint8_t *info, size_t out_len, const char *label,
                               const uint8_t *context, size_t context_len)
{
    size_t label_len = strlen(label), n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)(out_len & 0xff);
    info[n++] = (uint8_t)(6 + label_len);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = (uint8_t)context_len;
    if (context_len)
        memcpy(info + n, context, context_len);
    return n + context_len;
}

/* OpenSSL "HKDF", expand-only: OKM = HKDF-Expand(prk, info, len). */
static int openssl_hkdf_expand(const char *digest, const uint8_t *prk, size_t prk_len,
                               const uint8_t *info, size_t info_len, uint8_t *out, size_t len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)prk, prk_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
        OSSL_PARAM_construct_end(),
    };
    if (ctx)
        ok = EVP_KDF_derive(ctx, out, len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

/* OpenSSL "TLS1-PRF" with the given digest: PRF(secret, label, seed). */
static int openssl_tls1_prf(const char *digest, const uint8_t *secret, size_t secret_len,
                            const char *label, const uint8_t *seed, size_t seed_len,
                            uint8_t *out, size_t len)
{
    size_t label_len = strlen(label);
    uint8_t *ls = malloc(label_len + seed_len + 1);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    int ok = 0;
    if (ls && ctx) {
        memcpy(ls, label, label_len);
        if (seed_len)
            memcpy(ls + label_len, seed, seed_len);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)secret, secret_len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, ls, label_len + seed_len),
            OSSL_PARAM_construct_end(),
        };
        ok = EVP_KDF_derive(ctx, out, len, params) == 1;
    }
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    free(ls);
    return ok;
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 131u + i * 29u + (i >> 8));
}

/* ---- RFC 8448 section 3 ("Simple 1-RTT Handshake"), TLS_AES_128_GCM_SHA256 ---- */

/* Every value below is from RFC 8448 section 3. */
#define RFC8448_S_HS_TRAFFIC                                                               \
    "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 " \
    "ad 38"
#define RFC8448_C_HS_TRAFFIC                                                               \
    "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 " \
    "5a 21"
#define RFC8448_S_AP_TRAFFIC                                                               \
    "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 " \
    "16 43"
#define RFC8448_C_AP_TRAFFIC                                                               \
    "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 " \
    "04 a5"
#define RFC8448_KEY_INFO "00 10 09 74 6c 73 31 33 20 6b 65 79 00"
#define RFC8448_IV_INFO "00 0c 08 74 6c 73 31 33 20 69 76 00"

static void check_traffic_keys(const char *file, int line, const char *secret_hex,
                               const char *key_hex, const char *iv_hex)
{
    struct ks_hash h = ks_sha256();
    struct ks_hash spy = {EVP_sha256(), 32, hmac_spy};
    uint8_t secret[32], want_key[16], want_iv[12], key_info[13], iv_info[12];
    uint8_t key[16 + 4], iv[12 + 4];
    if (!unit_hex_exact(file, line, secret_hex, secret, sizeof(secret))
        || !unit_hex_exact(file, line, key_hex, want_key, sizeof(want_key))
        || !unit_hex_exact(file, line, iv_hex, want_iv, sizeof(want_iv))
        || !HEX(key_info, RFC8448_KEY_INFO) || !HEX(iv_info, RFC8448_IV_INFO))
        return;

    /* canaries after the output: exactly out_len bytes are written */
    memset(key, 0xA5, sizeof(key));
    memset(iv, 0xA5, sizeof(iv));
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, "key", NULL, 0, key, 16), 1);
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, "iv", NULL, 0, iv, 12), 1);
    CHECK_MEM(key, want_key, 16);
    CHECK_MEM(iv, want_iv, 12);
    static const uint8_t canary[4] = {0xA5, 0xA5, 0xA5, 0xA5};
    CHECK_MEM(key + 16, canary, 4);
    CHECK_MEM(iv + 12, canary, 4);

    /* the HMAC input of the one block is HkdfLabel || 0x01: the RFC's
     * "key info" / "iv info" lines */
    spy_reset(0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&spy, secret, 32, "key", NULL, 0, key, 16), 1);
    CHECK_EQ_INT(spy_calls, 1);
    CHECK_EQ_INT(spy_first_len, sizeof(key_info) + 1);
    if (spy_first_len == sizeof(key_info) + 1) {
        CHECK_MEM(spy_first_data, key_info, sizeof(key_info));
        CHECK_EQ_INT(spy_first_data[sizeof(key_info)], 1);
    }
    spy_reset(0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&spy, secret, 32, "iv", NULL, 0, iv, 12), 1);
    CHECK_EQ_INT(spy_first_len, sizeof(iv_info) + 1);
    if (spy_first_len == sizeof(iv_info) + 1)
        CHECK_MEM(spy_first_data, iv_info, sizeof(iv_info));
}

/* RFC 8448 section 3, "{server} derive write traffic keys for handshake data" */
TEST(rfc8448_server_handshake_write_key_iv)
{
    check_traffic_keys(__FILE__, __LINE__, RFC8448_S_HS_TRAFFIC,
                       "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc",
                       "5d 31 3e b2 67 12 76 ee 13 00 0b 30");
}

/* RFC 8448 section 3, "{server} derive read traffic keys for handshake data"
 * (the client's handshake write keys) */
TEST(rfc8448_client_handshake_write_key_iv)
{
    check_traffic_keys(__FILE__, __LINE__, RFC8448_C_HS_TRAFFIC,
                       "db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01",
                       "5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f");
}

/* RFC 8448 section 3, "{server} derive write traffic keys for application data" */
TEST(rfc8448_server_application_write_key_iv)
{
    check_traffic_keys(__FILE__, __LINE__, RFC8448_S_AP_TRAFFIC,
                       "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56",
                       "cf 78 2b 88 dd 83 54 9a ad f1 e9 84");
}

/* RFC 8448 section 3, "{client} derive write traffic keys for application data" */
TEST(rfc8448_client_application_write_key_iv)
{
    check_traffic_keys(__FILE__, __LINE__, RFC8448_C_AP_TRAFFIC,
                       "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51",
                       "5b 78 92 3d ee 08 57 90 33 e5 23 d9");
}

/* Expand-Label with a non-empty context and 32-byte outputs: the
 * Derive-Secret steps of RFC 8448 section 3 (PRK, hash = context, info, expanded). */
struct rfc_expand {
    const char *step, *prk, *label, *context, *info, *expanded;
};

static const struct rfc_expand rfc8448_expansions[] = {
    {"{server} derive secret for handshake \"tls13 derived\"",
     "33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 "
     "f9 2a",
     "derived",
     "e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 "
     "b8 55",
     "00 20 0d 74 6c 73 31 33 20 64 65 72 69 76 65 64 20 e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 "
     "6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55",
     "6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 "
     "11 ba"},
    {"{server} derive secret \"tls13 c hs traffic\"",
     "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f "
     "be ac",
     "c hs traffic",
     "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 "
     "ca d8",
     "00 20 12 74 6c 73 31 33 20 63 20 68 73 20 74 72 61 66 66 69 63 20 86 0c 06 ed c0 78 58 ee "
     "8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8",
     RFC8448_C_HS_TRAFFIC},
    {"{server} derive secret \"tls13 s hs traffic\"",
     "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f "
     "be ac",
     "s hs traffic",
     "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 "
     "ca d8",
     "00 20 12 74 6c 73 31 33 20 73 20 68 73 20 74 72 61 66 66 69 63 20 86 0c 06 ed c0 78 58 ee "
     "8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8",
     RFC8448_S_HS_TRAFFIC},
    {"{server} calculate finished \"tls13 finished\"", RFC8448_S_HS_TRAFFIC, "finished", "",
     "00 20 0e 74 6c 73 31 33 20 66 69 6e 69 73 68 65 64 00",
     "00 8d 3b 66 f8 16 ea 55 9f 96 b5 37 e8 85 c3 1f c0 68 bf 49 2c 65 2f 01 f2 88 a1 d8 cd c1 "
     "9f c8"},
    {"{server} derive secret \"tls13 c ap traffic\"",
     "18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 "
     "29 19",
     "c ap traffic",
     "96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 "
     "df 13",
     "00 20 12 74 6c 73 31 33 20 63 20 61 70 20 74 72 61 66 66 69 63 20 96 08 10 2a 0f 1c cc 6d "
     "b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13",
     RFC8448_C_AP_TRAFFIC},
    {"{server} derive secret \"tls13 s ap traffic\"",
     "18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 "
     "29 19",
     "s ap traffic",
     "96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 "
     "df 13",
     "00 20 12 74 6c 73 31 33 20 73 20 61 70 20 74 72 61 66 66 69 63 20 96 08 10 2a 0f 1c cc 6d "
     "b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13",
     RFC8448_S_AP_TRAFFIC},
    {"{server} derive secret \"tls13 exp master\"",
     "18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 "
     "29 19",
     "exp master",
     "96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 "
     "df 13",
     "00 20 10 74 6c 73 31 33 20 65 78 70 20 6d 61 73 74 65 72 20 96 08 10 2a 0f 1c cc 6d b6 25 "
     "0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13",
     "fe 22 f8 81 17 6e da 18 eb 8f 44 52 9e 67 92 c5 0c 9a 3f 89 45 2f 68 d8 ae 31 1b 43 09 d3 "
     "cf 50"},
    {"{server} generate resumption secret \"tls13 resumption\"",
     "7d f2 35 f2 03 1d 2a 05 12 87 d0 2b 02 41 b0 bf da f8 6c c8 56 23 1f 2d 5a ba 46 c4 34 ec "
     "19 6c",
     "resumption", "00 00",
     "00 20 10 74 6c 73 31 33 20 72 65 73 75 6d 70 74 69 6f 6e 02 00 00",
     "4e cd 0e b6 ec 3b 4d 87 f5 d6 02 8f 92 2c a4 c5 85 1a 27 7f d4 13 11 c9 e6 2d 2c 94 92 e1 "
     "c4 f3"},
};

TEST(rfc8448_expand_label_with_context)
{
    struct ks_hash spy = {EVP_sha256(), 32, hmac_spy};
    for (size_t i = 0; i < sizeof(rfc8448_expansions) / sizeof(rfc8448_expansions[0]); i++) {
        const struct rfc_expand *v = &rfc8448_expansions[i];
        int failures_before = unit_failure_count();
        uint8_t prk[32], context[64], info[128], want[32], out[32], built[128];
        size_t context_len = HEX_VAR(context, v->context);
        size_t info_len = HEX_VAR(info, v->info);
        if (!HEX(prk, v->prk) || !HEX(want, v->expanded) || !info_len)
            continue;

        /* our reference HkdfLabel builder agrees with the RFC's info line */
        size_t built_len = build_hkdf_label(built, 32, v->label, context, context_len);
        CHECK_EQ_INT(built_len, info_len);
        CHECK_MEM(built, info, info_len);

        spy_reset(0);
        CHECK_EQ_INT(ks_hkdf_expand_label(&spy, prk, 32, v->label, context_len ? context : NULL,
                                          context_len, out, 32),
                     1);
        CHECK_MEM(out, want, 32);
        CHECK_EQ_INT(spy_calls, 1);
        CHECK_EQ_INT(spy_first_len, info_len + 1);
        if (spy_first_len == info_len + 1)
            CHECK_MEM(spy_first_data, info, info_len);
        if (unit_failure_count() != failures_before)
            unit_fail(__FILE__, __LINE__, "... in RFC 8448 section 3 step %s", v->step);
    }
}

/* ---- TLS 1.2 PRF: published vectors ------------------------------------- */

/* The TLS 1.2 PRF test vectors posted to the IETF TLS WG list
 * (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html); the
 * output bytes were taken from public copies of that post (BearSSL's
 * test_crypto.c cites it for both; other independent test suites carry the
 * same bytes). OpenSSL's TLS1-PRF is also checked against them below, so a
 * transcription slip would show as a failure of both. */
struct prf_vector {
    const char *digest;
    const char *secret, *seed, *output;
    size_t out_len;
};

static const struct prf_vector prf_vectors[] = {
    {"SHA256", "9bbe436ba940f017b17652849a71db35", "a0ba9f936cda311827a6f796ffd5198c",
     "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
     "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
     "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
     "87347b66",
     100},
    {"SHA384", "b80b733d6ceefcdc71566ea48e5567df", "cd665cf6a8447dd6ff8b27555edb7465",
     "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd"
     "e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd"
     "8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425"
     "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6"
     "91c8f3a26854308d5eaa3be85e0990703d73e56f",
     148},
};

TEST(tls12_prf_published_vectors_sha256_sha384)
{
    for (size_t i = 0; i < sizeof(prf_vectors) / sizeof(prf_vectors[0]); i++) {
        const struct prf_vector *v = &prf_vectors[i];
        struct ks_hash h = strcmp(v->digest, "SHA384") == 0 ? ks_sha384() : ks_sha256();
        uint8_t secret[16], seed[16], want[148], out[148 + 8], theirs[148];
        if (!HEX(secret, v->secret) || !HEX(seed, v->seed)
            || !unit_hex_exact(__FILE__, __LINE__, v->output, want, v->out_len))
            continue;

        memset(out, 0x5A, sizeof(out));
        CHECK_EQ_INT(ks_tls12_prf(&h, secret, 16, "test label", seed, 16, out, v->out_len), 1);
        CHECK_MEM(out, want, v->out_len);
        for (size_t j = v->out_len; j < sizeof(out); j++)
            CHECK_EQ_INT(out[j], 0x5A); /* nothing written past out_len */

        /* a shorter request is a prefix of the longer one */
        uint8_t head[33];
        CHECK_EQ_INT(ks_tls12_prf(&h, secret, 16, "test label", seed, 16, head, sizeof(head)), 1);
        CHECK_MEM(head, want, sizeof(head));

        /* and OpenSSL agrees with the published bytes (checks the transcription) */
        CHECK(openssl_tls1_prf(v->digest, secret, 16, "test label", seed, 16, theirs, v->out_len));
        CHECK_MEM(theirs, want, v->out_len);
    }
}

/* ---- TLS 1.2 PRF against OpenSSL's TLS1-PRF ----------------------------- */

TEST(tls12_prf_matches_openssl_tls1_prf)
{
    static const size_t out_lens[] = {0, 1, 12, 31, 32, 33, 47, 48, 49, 64, 100, 104, 255, 1000};
    static const size_t secret_lens[] = {1, 16, 48, 129, 200}; /* > block size: key is hashed */
    static const struct {
        const char *label;
        size_t seed_len;
    } inputs[] = {
        {"master secret", 64},
        {"key expansion", 64},
        {"client finished", 32},
        {"extended master secret", 48},
        {"x", 0},
        {"test label", 246}, /* label + seed = 256, the largest accepted */
    };
    static const char *const digests[] = {"SHA256", "SHA384"};
    uint8_t secret[200], seed[256], ours[1000 + 8], theirs[1000];

    for (int d = 0; d < 2; d++) {
        struct ks_hash h = d ? ks_sha384() : ks_sha256();
        for (size_t s = 0; s < sizeof(secret_lens) / sizeof(secret_lens[0]); s++)
            for (size_t in = 0; in < sizeof(inputs) / sizeof(inputs[0]); in++)
                for (size_t o = 0; o < sizeof(out_lens) / sizeof(out_lens[0]); o++) {
                    size_t slen = secret_lens[s], seed_len = inputs[in].seed_len;
                    size_t out_len = out_lens[o];
                    int failures_before = unit_failure_count();
                    fill_pattern(secret, slen, (unsigned)(s + 1));
                    fill_pattern(seed, seed_len, (unsigned)(in + 7));
                    memset(ours, 0xC3, sizeof(ours));
                    CHECK_EQ_INT(ks_tls12_prf(&h, secret, slen, inputs[in].label, seed, seed_len,
                                              ours, out_len),
                                 1);
                    if (out_len) {
                        CHECK(openssl_tls1_prf(digests[d], secret, slen, inputs[in].label, seed,
                                               seed_len, theirs, out_len));
                        CHECK_MEM(ours, theirs, out_len);
                    }
                    CHECK_EQ_INT(ours[out_len], 0xC3);
                    if (unit_failure_count() != failures_before) {
                        unit_fail(__FILE__, __LINE__,
                                  "... %s, secret %zu bytes, label \"%s\", seed %zu bytes, "
                                  "%zu bytes out",
                                  digests[d], slen, inputs[in].label, seed_len, out_len);
                        return;
                    }
                }
    }
}

/* ---- HKDF-Expand-Label against OpenSSL's HKDF (expand only) -------------- */

TEST(hkdf_expand_label_matches_openssl_hkdf)
{
    static const size_t out_lens[] = {12, 16, 32, 1, 24, 48, 64, 100};
    static const size_t context_lens[] = {0, 32, 48, 255};
    static const char *const labels[] = {"key", "iv", "traffic upd", "c ap traffic", "finished"};
    static const char *const digests[] = {"SHA256", "SHA384"};
    uint8_t secret[48], context[255], info[600], ours[100 + 8], theirs[100];

    for (int d = 0; d < 2; d++) {
        struct ks_hash h = d ? ks_sha384() : ks_sha256();
        fill_pattern(secret, sizeof(secret), (unsigned)(d + 3));
        for (size_t l = 0; l < sizeof(labels) / sizeof(labels[0]); l++)
            for (size_t c = 0; c < sizeof(context_lens) / sizeof(context_lens[0]); c++)
                for (size_t o = 0; o < sizeof(out_lens) / sizeof(out_lens[0]); o++) {
                    size_t clen = context_lens[c], out_len = out_lens[o];
                    int failures_before = unit_failure_count();
                    fill_pattern(context, clen, (unsigned)(c + 11));
                    size_t info_len =
                        build_hkdf_label(info, out_len, labels[l], context, clen);
                    memset(ours, 0x3C, sizeof(ours));
                    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, h.digest_len, labels[l],
                                                      clen ? context : NULL, clen, ours, out_len),
                                 1);
                    CHECK(openssl_hkdf_expand(digests[d], secret, h.digest_len, info, info_len,
                                              theirs, out_len));
                    CHECK_MEM(ours, theirs, out_len);
                    CHECK_EQ_INT(ours[out_len], 0x3C);
                    if (unit_failure_count() != failures_before) {
                        unit_fail(__FILE__, __LINE__,
                                  "... %s, label \"%s\", context %zu bytes, %zu bytes out",
                                  digests[d], labels[l], clen, out_len);
                        return;
                    }
                }
    }
}

/* KeyUpdate's chain of secrets, 1000 steps in place, each against OpenSSL's
 * own HKDF-Expand with the "tls13 traffic upd" label. */
TEST(tls13_next_secret_chain_matches_openssl_hkdf)
{
    static const char *const digests[] = {"SHA256", "SHA384"};
    uint8_t secret[48], expect[48], info[64];
    for (int d = 0; d < 2; d++) {
        struct ks_hash h = d ? ks_sha384() : ks_sha256();
        fill_pattern(secret, sizeof(secret), (unsigned)(d + 17));
        memcpy(expect, secret, sizeof(secret));
        size_t info_len = build_hkdf_label(info, h.digest_len, "traffic upd", NULL, 0);
        for (int step = 0; step < 1000; step++) {
            REQUIRE(openssl_hkdf_expand(digests[d], expect, h.digest_len, info, info_len, expect,
                                        h.digest_len));
            REQUIRE(ks_tls13_next_secret(&h, secret, secret) == 1);
            if (memcmp(secret, expect, h.digest_len) != 0) {
                unit_fail(__FILE__, __LINE__, "%s: step %d differs from OpenSSL", digests[d], step);
                return;
            }
        }
    }
    /* a failing HMAC leaves zeros, never the old secret */
    struct ks_hash spy = {EVP_sha256(), 32, hmac_spy};
    uint8_t s2[32], zero[32] = {0};
    fill_pattern(s2, sizeof(s2), 5);
    spy_reset(1);
    CHECK_EQ_INT(ks_tls13_next_secret(&spy, s2, s2), 0);
    CHECK_MEM(s2, zero, sizeof(zero));
}

/* The limits of RFC 8446 / RFC 5869, accepted right up to the edge. */
TEST(hkdf_expand_label_limits)
{
    static const char *const digests[] = {"SHA256", "SHA384"};
    uint8_t secret[48], context[255], info[600];
    char label[250];
    fill_pattern(secret, sizeof(secret), 5);
    fill_pattern(context, sizeof(context), 6);
    memset(label, 'L', 249);
    label[249] = 0; /* "tls13 " + 249 = 255 bytes: the longest label */

    for (int d = 0; d < 2; d++) {
        struct ks_hash h = d ? ks_sha384() : ks_sha256();
        size_t max_out = 255 * h.digest_len; /* 8160 / 12240 */
        uint8_t *ours = malloc(max_out + 1), *theirs = malloc(max_out);
        REQUIRE(ours && theirs);

        /* longest label and longest context together */
        size_t info_len = build_hkdf_label(info, 40, label, context, 255);
        CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, h.digest_len, label, context, 255, ours, 40),
                     1);
        CHECK(openssl_hkdf_expand(digests[d], secret, h.digest_len, info, info_len, theirs, 40));
        CHECK_MEM(ours, theirs, 40);

        /* 255 blocks, the most HKDF-Expand can give */
        info_len = build_hkdf_label(info, max_out, "key", NULL, 0);
        CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, h.digest_len, "key", NULL, 0, ours, max_out),
                     1);
        CHECK(openssl_hkdf_expand(digests[d], secret, h.digest_len, info, info_len, theirs,
                                  max_out));
        CHECK_MEM(ours, theirs, max_out);

        /* zero bytes asked: success, nothing written */
        ours[0] = 0x77;
        CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, h.digest_len, "key", NULL, 0, ours, 0), 1);
        CHECK_EQ_INT(ours[0], 0x77);
        free(ours);
        free(theirs);
    }
}

/* ---- bad arguments and failing HMACs ------------------------------------ */

TEST(hkdf_expand_label_bad_arguments_return_0)
{
    struct ks_hash h = ks_sha256();
    struct ks_hash no_hmac = {EVP_sha256(), 32, NULL};
    struct ks_hash zero_len = {EVP_sha256(), 0, hmac_openssl};
    struct ks_hash too_long = {EVP_sha256(), KS_MAX_HASH + 1, hmac_openssl};
    uint8_t secret[32], context[256], out[64];
    char label[251];
    fill_pattern(secret, sizeof(secret), 1);
    fill_pattern(context, sizeof(context), 2);
    memset(label, 'L', 250);
    label[250] = 0; /* "tls13 " + 250 = 256 bytes: one too many */

    CHECK_EQ_INT(ks_hkdf_expand_label(NULL, secret, 32, "key", NULL, 0, out, 16), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&no_hmac, secret, 32, "key", NULL, 0, out, 16), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&zero_len, secret, 32, "key", NULL, 0, out, 16), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&too_long, secret, 32, "key", NULL, 0, out, 16), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, label, NULL, 0, out, 16), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, "key", context, 256, out, 16), 0);
    /* out_len over 255 * HashLen: the buffer is never touched, so a short one is fine */
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, "key", NULL, 0, out, 255 * 32 + 1), 0);
    struct ks_hash h384 = ks_sha384();
    CHECK_EQ_INT(ks_hkdf_expand_label(&h384, secret, 32, "key", NULL, 0, out, 255 * 48 + 1), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, "key", NULL, 0, out, (size_t)0x10000), 0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&h, secret, 32, "key", NULL, 0, out, SIZE_MAX), 0);
}

TEST(tls12_prf_bad_arguments_return_0)
{
    struct ks_hash h = ks_sha256();
    struct ks_hash no_hmac = {EVP_sha256(), 32, NULL};
    struct ks_hash zero_len = {EVP_sha256(), 0, hmac_openssl};
    struct ks_hash too_long = {EVP_sha256(), KS_MAX_HASH + 1, hmac_openssl};
    uint8_t secret[48], seed[300], out[64];
    char label[300];
    fill_pattern(secret, sizeof(secret), 1);
    fill_pattern(seed, sizeof(seed), 2);
    memset(label, 'L', 257);
    label[257] = 0;

    CHECK_EQ_INT(ks_tls12_prf(NULL, secret, 48, "key expansion", seed, 64, out, 16), 0);
    CHECK_EQ_INT(ks_tls12_prf(&no_hmac, secret, 48, "key expansion", seed, 64, out, 16), 0);
    CHECK_EQ_INT(ks_tls12_prf(&zero_len, secret, 48, "key expansion", seed, 64, out, 16), 0);
    CHECK_EQ_INT(ks_tls12_prf(&too_long, secret, 48, "key expansion", seed, 64, out, 16), 0);
    /* label || seed over 256 bytes */
    CHECK_EQ_INT(ks_tls12_prf(&h, secret, 48, "test label", seed, 247, out, 16), 0);
    CHECK_EQ_INT(ks_tls12_prf(&h, secret, 48, label, seed, 0, out, 16), 0);
    CHECK_EQ_INT(ks_tls12_prf(&h, secret, 48, "", seed, 257, out, 16), 0);
    /* and 256 exactly is fine */
    CHECK_EQ_INT(ks_tls12_prf(&h, secret, 48, "test label", seed, 246, out, 16), 1);
}

static void check_zero(const char *file, int line, const uint8_t *p, size_t n, uint8_t after)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) {
            unit_fail(file, line, "output byte %zu is 0x%02x after a failure, want 0", i, p[i]);
            return;
        }
    if (p[n] != after)
        unit_fail(file, line, "byte past the output changed to 0x%02x", p[n]);
}

TEST(hkdf_expand_label_hmac_failure_scrubs_output)
{
    /* SHA-256, 80 bytes = 3 HMAC blocks; fail the 1st, 2nd and 3rd call in
     * turn: whatever was already written must be wiped. */
    struct ks_hash spy = {EVP_sha256(), 32, hmac_spy};
    uint8_t secret[32], out[80 + 1];
    fill_pattern(secret, sizeof(secret), 9);
    spy_reset(0);
    CHECK_EQ_INT(ks_hkdf_expand_label(&spy, secret, 32, "key", NULL, 0, out, 80), 1);
    CHECK_EQ_INT(spy_calls, 3);
    for (int fail_at = 1; fail_at <= 3; fail_at++) {
        memset(out, 0xEE, sizeof(out));
        spy_reset(fail_at);
        CHECK_EQ_INT(ks_hkdf_expand_label(&spy, secret, 32, "key", NULL, 0, out, 80), 0);
        CHECK_EQ_INT(spy_calls, fail_at); /* stops at the failure */
        check_zero(__FILE__, __LINE__, out, 80, 0xEE);
    }
}

TEST(tls12_prf_hmac_failure_scrubs_output)
{
    /* SHA-256, 100 bytes = 4 blocks; fail every call position in turn */
    struct ks_hash spy = {EVP_sha256(), 32, hmac_spy};
    uint8_t secret[48], seed[64], out[100 + 1];
    fill_pattern(secret, sizeof(secret), 3);
    fill_pattern(seed, sizeof(seed), 4);
    spy_reset(0);
    CHECK_EQ_INT(ks_tls12_prf(&spy, secret, 48, "key expansion", seed, 64, out, 100), 1);
    int calls = spy_calls;
    CHECK(calls >= 1 + 4); /* A(1), then at least one HMAC per 32-byte block */
    for (int fail_at = 1; fail_at <= calls; fail_at++) {
        memset(out, 0xEE, sizeof(out));
        spy_reset(fail_at);
        CHECK_EQ_INT(ks_tls12_prf(&spy, secret, 48, "key expansion", seed, 64, out, 100), 0);
        check_zero(__FILE__, __LINE__, out, 100, 0xEE);
    }
}

TEST(always_failing_hmac_returns_0_and_zeroes)
{
    struct ks_hash spy = {EVP_sha384(), 48, hmac_spy};
    uint8_t secret[48] = {1}, out[48 + 1];
    memset(out, 0xAB, sizeof(out));
    spy_reset(1);
    CHECK_EQ_INT(ks_hkdf_expand_label(&spy, secret, 48, "iv", NULL, 0, out, 12), 0);
    check_zero(__FILE__, __LINE__, out, 12, 0xAB);
    memset(out, 0xAB, sizeof(out));
    spy_reset(1);
    CHECK_EQ_INT(ks_tls12_prf(&spy, secret, 48, "master secret", secret, 48, out, 48), 0);
    check_zero(__FILE__, __LINE__, out, 48, 0xAB);
}

TEST(ks_scrub_zeroes_exactly_len_bytes)
{
    uint8_t buf[32];
    memset(buf, 0xFF, sizeof(buf));
    ks_scrub(buf + 4, 20);
    for (size_t i = 0; i < sizeof(buf); i++)
        CHECK_EQ_INT(buf[i], i >= 4 && i < 24 ? 0 : 0xFF);
    ks_scrub(buf, 0); /* no-op */
    CHECK_EQ_INT(buf[0], 0xFF);
}

/* Key schedules against published vectors, and against OpenSSL's own KDFs. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "keysched.h"
#include "unit.h"

static int hmac_openssl(const void *md, const uint8_t *key, size_t key_len, const uint8_t *data,
                        size_t data_len, uint8_t *out)
{
    unsigned int n = 0;
    return HMAC(md, key, (int)key_len, data, data_len, out, &n) != NULL;
}

static int hmac_failing(const void *md, const uint8_t *key, size_t key_len, const uint8_t *data,
                        size_t data_len, uint8_t *out)
{
    (void)md, (void)key, (void)key_len, (void)data, (void)data_len, (void)out;
    return 0;
}

static struct ks_hash sha256(void)
{
    return (struct ks_hash){EVP_sha256(), 32, hmac_openssl};
}

static struct ks_hash sha384(void)
{
    return (struct ks_hash){EVP_sha384(), 48, hmac_openssl};
}

static void check_traffic_keys(const char *secret_hex, const char *key_hex, const char *iv_hex)
{
    struct ks_hash h = sha256();
    unsigned char secret[32], want_key[16], want_iv[12], key[16], iv[12];
    unit_hex(secret_hex, secret, sizeof(secret));
    unit_hex(key_hex, want_key, sizeof(want_key));
    unit_hex(iv_hex, want_iv, sizeof(want_iv));
    CHECK(ks_hkdf_expand_label(&h, secret, 32, "key", NULL, 0, key, 16));
    CHECK(ks_hkdf_expand_label(&h, secret, 32, "iv", NULL, 0, iv, 12));
    CHECK_MEM(key, want_key, 16);
    CHECK_MEM(iv, want_iv, 12);
}

/* RFC 8448 section 3 (Simple 1-RTT Handshake): "derive write traffic keys for
 * handshake data" (server) */
TEST(rfc8448_server_handshake_traffic_keys)
{
    check_traffic_keys("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
                       "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30");
}

/* RFC 8448 section 3: server application_traffic_secret_0 -> write key/iv */
TEST(rfc8448_server_application_traffic_keys)
{
    check_traffic_keys("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
                       "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984");
}

/* RFC 8448 section 3: client application_traffic_secret_0 -> write key/iv */
TEST(rfc8448_client_application_traffic_keys)
{
    check_traffic_keys("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
                       "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9");
}

/* The TLS 1.2 PRF (P_SHA256) vector published on the IETF TLS WG list
 * (msg03416): secret, "test label", seed -> 100 bytes */
TEST(tls12_prf_sha256_published_vector)
{
    struct ks_hash h = sha256();
    unsigned char secret[16], seed[16], want[100], out[100];
    unit_hex("9bbe436ba940f017b17652849a71db35", secret, sizeof(secret));
    unit_hex("a0ba9f936cda311827a6f796ffd5198c", seed, sizeof(seed));
    unit_hex("e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
             "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
             "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
             "87347b66",
             want, sizeof(want));
    CHECK(ks_tls12_prf(&h, secret, 16, "test label", seed, 16, out, 100));
    CHECK_MEM(out, want, 100);
}

/* OpenSSL's TLS1-PRF as an independent implementation */
static void openssl_prf(const char *digest, const unsigned char *secret, size_t slen,
                        const char *label, const unsigned char *seed, size_t seedlen,
                        unsigned char *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    unsigned char ls[256];
    size_t label_len = strlen(label);
    memcpy(ls, label, label_len);
    memcpy(ls + label_len, seed, seedlen);
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)secret, slen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, ls, label_len + seedlen),
        OSSL_PARAM_construct_end(),
    };
    CHECK(EVP_KDF_derive(ctx, out, outlen, p) == 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

TEST(tls12_prf_matches_openssl_kdf_for_every_length)
{
    static const size_t lens[] = {1, 32, 33, 48, 72, 88, 100, 255};
    unsigned char secret[48], seed[64], ours[255], theirs[255];
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (unsigned char)(i * 13 + 5);
    for (int which = 0; which < 2; which++) {
        struct ks_hash h = which ? sha384() : sha256();
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            CHECK(ks_tls12_prf(&h, secret, 48, "key expansion", seed, 64, ours, lens[i]));
            openssl_prf(which ? "SHA384" : "SHA256", secret, 48, "key expansion", seed, 64,
                        theirs, lens[i]);
            CHECK_MEM(ours, theirs, lens[i]);
        }
    }
}

/* OpenSSL's HKDF in expand-only mode with the HkdfLabel built by hand */
TEST(hkdf_expand_label_matches_openssl_hkdf)
{
    static const size_t lens[] = {12, 16, 32, 48};
    unsigned char secret[48], ours[64], theirs[64], info[64];
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (unsigned char)(255 - i);
    for (int which = 0; which < 2; which++) {
        struct ks_hash h = which ? sha384() : sha256();
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            size_t n = 0;
            info[n++] = 0;
            info[n++] = (unsigned char)lens[i];
            info[n++] = 9;
            memcpy(info + n, "tls13 key", 9);
            n += 9;
            info[n++] = 0;
            CHECK(ks_hkdf_expand_label(&h, secret, h.digest_len, "key", NULL, 0, ours, lens[i]));
            EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
            EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
            int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
            OSSL_PARAM p[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 which ? "SHA384" : "SHA256", 0),
                OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret, h.digest_len),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
                OSSL_PARAM_construct_end(),
            };
            CHECK(EVP_KDF_derive(ctx, theirs, lens[i], p) == 1);
            CHECK_MEM(ours, theirs, lens[i]);
            EVP_KDF_CTX_free(ctx);
            EVP_KDF_free(kdf);
        }
    }
}

TEST(bad_arguments_are_refused_and_output_scrubbed)
{
    struct ks_hash h = sha256(), none = {NULL, 32, NULL}, failing = {EVP_sha256(), 32, hmac_failing};
    unsigned char secret[32] = {1}, out[64], zero[64] = {0};
    char long_label[260];
    memset(long_label, 'a', sizeof(long_label) - 1);
    long_label[sizeof(long_label) - 1] = 0;
    CHECK(!ks_hkdf_expand_label(NULL, secret, 32, "key", NULL, 0, out, 16));
    CHECK(!ks_hkdf_expand_label(&none, secret, 32, "key", NULL, 0, out, 16));
    CHECK(!ks_hkdf_expand_label(&h, secret, 32, long_label, NULL, 0, out, 16));
    CHECK(!ks_tls12_prf(&h, secret, 32, long_label, secret, 32, out, 16));
    memset(out, 0xAA, sizeof(out));
    CHECK(!ks_hkdf_expand_label(&failing, secret, 32, "key", NULL, 0, out, 16));
    CHECK_MEM(out, zero, 16);
    memset(out, 0xAA, sizeof(out));
    CHECK(!ks_tls12_prf(&failing, secret, 32, "key expansion", secret, 32, out, 64));
    CHECK_MEM(out, zero, 64);
}

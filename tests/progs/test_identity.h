/* A throwaway server identity for test programs: a self-signed certificate
 * for "localhost" over the given key, installed on ctx. No files needed. */
#ifndef KTLS_TEST_IDENTITY_H
#define KTLS_TEST_IDENTITY_H

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Key generation through EVP_PKEY_CTX: the same calls on OpenSSL 1.1.1 and 3.x
 * (EVP_RSA_gen/EVP_EC_gen are 3.0 only). NULL on failure. */
static inline EVP_PKEY *test_key(int type, int rsa_bits)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(type, NULL);
    int ok = pc && EVP_PKEY_keygen_init(pc) > 0;
    if (ok && type == EVP_PKEY_RSA)
        ok = EVP_PKEY_CTX_set_rsa_keygen_bits(pc, rsa_bits) > 0;
    if (ok && type == EVP_PKEY_EC)
        ok = EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pc, NID_X9_62_prime256v1) > 0;
    if (ok && EVP_PKEY_keygen(pc, &key) <= 0)
        key = NULL;
    EVP_PKEY_CTX_free(pc);
    return key;
}
#define test_rsa_key(bits) test_key(EVP_PKEY_RSA, (bits))
#define test_ec_key() test_key(EVP_PKEY_EC, 0)

/* Takes ownership of key. Returns 1 on success, 0 on any failure. */
static inline int use_self_signed_identity(SSL_CTX *ctx, EVP_PKEY *key, long valid_seconds)
{
    X509 *cert = X509_new();
    int ok = key && cert;
    if (ok) {
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), valid_seconds);
        X509_set_pubkey(cert, key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"localhost", -1, -1, 0);
        X509_set_issuer_name(cert, X509_get_subject_name(cert));
        ok = X509_sign(cert, key, EVP_sha256()) && SSL_CTX_use_certificate(ctx, cert) == 1
             && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok;
}

#endif

/* A throwaway server identity for test programs: a self-signed certificate
 * for "localhost" over the given key, installed on ctx. No files needed. */
#ifndef KTLS_TEST_IDENTITY_H
#define KTLS_TEST_IDENTITY_H

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
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
#define test_ec_key() test_key(EVP_PKEY_EC, 0)

/* One RSA-2048 key for every test server that makes its own identity:
 * generating one took seconds under the guests' emulated CPU, at every
 * server start, and most tests start one. A test key, never a secret. */
static const char test_rsa2048_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDFLSfqZIKybvBk\n"
    "Z3mMgybjVbay6wrboq9zbHWVrfg9poWhSppQdQ3n6JWS1BTO0BitcXA4OvOmZp6Y\n"
    "dvOEJf/MLNYutKYF8rwrpYxlVSHTKk/WVza0YueCP8+CwiKm8ipFnmgIXB025DLb\n"
    "l+4rI102ZiHQ9ajKmdqi2/ePI6gfHvvfngY66pSExN1+DyyuqKFBy1dphL/fTXSA\n"
    "dqmu1hyPXNN70HNtQabRTzzJBkDn5rdc3fvBJ1nZfWxf/iF+5fYIxQW8LHe1/gxp\n"
    "mGioJS4UT20X7Id5C85cC2reCa1Jck7az6HbXcnJhI/NiqhHOyju/on9rfenVYhy\n"
    "RQbk6c0fAgMBAAECggEABmB0+4Qfo/Spip28FRrCvbRuca/fTIYg5Xs6/EnBjwDd\n"
    "Ln+yqOp4NilT+Qkp2Rxqx+U0y2TAr39/HpAuRPZTpP9IN/94pRWaF1FFzpsnumQS\n"
    "a+yrJL9UHGbC58guhbasPk8mryqHeVh8+pQZzERbBeDctBzVxiOeqgiyI2t0SvlP\n"
    "fyN8AKp6O8MoGLbgLYfsRK0AdjP+1gGelLFXeHGJ015/qIttJefaoGfd8nRPaE/Q\n"
    "3p9y1GJreII4Wf72kQd+Y34ojSej1VD56qynGsc0FSf16Dh8zmwtkl/xY/O5EiUA\n"
    "8wpKkYvDPOC++Uwehcf+9THV+piEEKcebHTWuzNw6QKBgQDtZVps/21WTghqJp7r\n"
    "9t5eyXw6c6Wk9DjN3wNjPe2BkYojqaPifZ1xRta/gFa5urUefRmvr8rBcLXCmbpM\n"
    "/eTU+Ur/3XJh0zvUWwoDYm/oUAw5ikx1kXxvXiE8o2EiatmtJaylhk4rxjU8dF+Y\n"
    "FBwjsXuzQyShF9UlJnAXwUY7CQKBgQDUoOq+1pPH/5ykJ09KwRQFpMj3fi42o0fK\n"
    "xHydu5ypImGR7ALu3YYR4OROYZioA8xrWKHhMeH1HnmndBgoz79u2LIfE2z3g5rB\n"
    "TwvLlYIysyqdRutgAHF6V8aT8PeIKvuKsWx4GCVx2YVVZXoTxlqJp/IuECwibBb+\n"
    "y6YrGnBI5wKBgCCINCUdt8kM9oA9fKfPc9e/esOz125MfYBQ4HD4KpUH8ctDUw8V\n"
    "sb61O3aQytG28V0VPbDiwUFTBcV+NZaZcINzCkEYArW/McK/GxctpTJLzfEQr7uo\n"
    "zUmht6JMrWH/DId60zb3ubyr892uAO+hSd3mU5JUUC+3SWFG7DOFK++pAoGAOP9p\n"
    "7f5XXyWGN/rRpphbZafmt3F7senTNOe3ABFqzWwJ+7PolV+MsP44NUq0QVXDVoNL\n"
    "4bIdgDfLJLhaQZZvGqe8F9h9PVxp/6fQ4aISZMTih4abUgDMap9c/At8T2Q2SdeF\n"
    "3Cuc3ggRVfL95o8ldgEvSmnLau7Ouz6cLLHJp8ECgYBhszBpaMv0tqkte1xlXwOs\n"
    "aNt5EOKvyObzUIRs62+o/liMax1kvnO/MDgDVXueD5zy87THuRfHVBOg0rXUVuwn\n"
    "ulx3Hudhc1UhAOce2xckpUD1qAe947nU8vQNzWboJE02PvcXodeLGQWZ1Tjbs6eJ\n"
    "DlUzZ+K2HidMOvUnrNrPsw==\n"
    "-----END PRIVATE KEY-----\n";

/* The key above, a new EVP_PKEY each call. NULL on failure. */
static inline EVP_PKEY *test_rsa2048_key(void)
{
    BIO *pem = BIO_new_mem_buf(test_rsa2048_pem, -1);
    EVP_PKEY *key = pem ? PEM_read_bio_PrivateKey(pem, NULL, NULL, NULL) : NULL;
    BIO_free(pem);
    return key;
}
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

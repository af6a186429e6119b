/* A throwaway server identity for test programs: a self-signed certificate
 * for "localhost" over the given key, installed on ctx. No files needed. */
#ifndef KTLS_TEST_IDENTITY_H
#define KTLS_TEST_IDENTITY_H

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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

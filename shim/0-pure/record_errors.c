#include "record_errors.h"

/* OpenSSL's numbers (err.h, sslerr.h, proverr.h): stable across 1.1.1 and 3.x */
#define LIB_SSL 20
#define LIB_PROV 57
#define PROV_CIPHER_OPERATION_FAILED 102
#define SSL_ENCRYPTED_LENGTH_TOO_LONG 150
#define SSL_PACKET_LENGTH_TOO_LONG 198
#define SSL_WRONG_VERSION_NUMBER 267
#define SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC 281
#define SSL_RECORD_LAYER_FAILURE 313

#define TLS12 0x0303
#define OSSL_3_0 0x30000000UL
#define OSSL_3_2 0x30200000UL /* the rewritten record layer (ssl/record/methods/) */

size_t record_failure_queue(enum record_failure f, unsigned long ossl_version, int tls_version,
                            enum ktls_cipher cipher, struct queued_error out[RECORD_ERRORS_MAX])
{
    size_t n = 0;
    int new_layer = ossl_version >= OSSL_3_2;
    switch (f) {
    case RECORD_BAD_MAC:
        /* 3.x's AES-GCM cipher for TLS 1.2 (explicit nonce) queues its own
         * failure first; TLS 1.3 and ChaCha20 do not */
        if (ossl_version >= OSSL_3_0 && tls_version == TLS12
            && (cipher == KTLS_CIPHER_AES_128_GCM || cipher == KTLS_CIPHER_AES_256_GCM))
            out[n++] = (struct queued_error){LIB_PROV, PROV_CIPHER_OPERATION_FAILED};
        out[n++] = (struct queued_error){LIB_SSL, SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC};
        break;
    case RECORD_TOO_LONG:
        out[n++] = (struct queued_error){LIB_SSL, new_layer ? SSL_ENCRYPTED_LENGTH_TOO_LONG
                                                            : SSL_PACKET_LENGTH_TOO_LONG};
        break;
    case RECORD_BAD_VERSION:
        out[n++] = (struct queued_error){LIB_SSL, SSL_WRONG_VERSION_NUMBER};
        break;
    }
    /* 3.2+: the SSL layer closes every fatal record-layer error with its own */
    if (new_layer)
        out[n++] = (struct queued_error){LIB_SSL, SSL_RECORD_LAYER_FAILURE};
    return n;
}

int record_failure_alert(enum record_failure f)
{
    switch (f) {
    case RECORD_BAD_MAC: return 20;     /* bad_record_mac */
    case RECORD_TOO_LONG: return 22;    /* record_overflow */
    case RECORD_BAD_VERSION: return 70; /* protocol_version */
    }
    return 80; /* internal_error */
}

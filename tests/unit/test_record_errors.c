/* shim/0-pure/record_errors.c: the error queue each OpenSSL leaves for a record it
 * could not open. Expected values are OpenSSL's own constants from the
 * headers the unit tests build against (sslerr.h, proverr.h) where 3.0 has
 * them, and the queues measured in the guest (tests/70-tamper.bats corpus
 * lines) for 1.1.1w, 3.0.19 and 3.5.7. */
#include <openssl/err.h>
#include <openssl/proverr.h>
#include <openssl/ssl.h>
#include <openssl/sslerr.h>

#include "record_errors.h"
#include "unit.h"

#define V111 0x1010117fUL /* 1.1.1w */
#define V30 0x30000130UL  /* 3.0.19 */
#define V35 0x30500070UL  /* 3.5.7 */
#define TLS12 0x0303
#define TLS13 0x0304

/* queue as "LIB:REASON,..." like tls_endpoint's errors= */
static const char *queue(enum record_failure f, unsigned long v, int tls, enum ktls_cipher c)
{
    static char out[64];
    struct queued_error q[RECORD_ERRORS_MAX];
    size_t n = record_failure_queue(f, v, tls, c, q), at = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%d:%d", i ? "," : "", q[i].lib, q[i].reason);
    return out;
}

TEST(record_errors_bad_mac_per_version)
{
    /* 3.x's TLS 1.2 AES-GCM: the provider's failure first */
    CHECK_STR(queue(RECORD_BAD_MAC, V30, TLS12, KTLS_CIPHER_AES_128_GCM), "57:102,20:281");
    CHECK_STR(queue(RECORD_BAD_MAC, V30, TLS12, KTLS_CIPHER_AES_256_GCM), "57:102,20:281");
    CHECK_STR(queue(RECORD_BAD_MAC, V30, TLS12, KTLS_CIPHER_CHACHA20_POLY1305), "20:281");
    CHECK_STR(queue(RECORD_BAD_MAC, V30, TLS13, KTLS_CIPHER_AES_256_GCM), "20:281");
    /* 3.2+'s record layer ends with RECORD_LAYER_FAILURE */
    CHECK_STR(queue(RECORD_BAD_MAC, V35, TLS12, KTLS_CIPHER_AES_128_GCM), "57:102,20:281,20:313");
    CHECK_STR(queue(RECORD_BAD_MAC, V35, TLS13, KTLS_CIPHER_CHACHA20_POLY1305), "20:281,20:313");
    /* 1.1.1: no providers */
    CHECK_STR(queue(RECORD_BAD_MAC, V111, TLS12, KTLS_CIPHER_AES_128_GCM), "20:281");
    CHECK_EQ_INT(record_failure_alert(RECORD_BAD_MAC), SSL_AD_BAD_RECORD_MAC);
}

TEST(record_errors_too_long_and_version)
{
    CHECK_STR(queue(RECORD_TOO_LONG, V111, TLS12, KTLS_CIPHER_AES_128_GCM), "20:198");
    CHECK_STR(queue(RECORD_TOO_LONG, V30, TLS13, KTLS_CIPHER_AES_256_GCM), "20:198");
    CHECK_STR(queue(RECORD_TOO_LONG, V35, TLS12, KTLS_CIPHER_AES_128_GCM), "20:150,20:313");
    CHECK_STR(queue(RECORD_BAD_VERSION, V30, TLS12, KTLS_CIPHER_AES_128_GCM), "20:267");
    CHECK_STR(queue(RECORD_BAD_VERSION, V35, TLS13, KTLS_CIPHER_AES_128_GCM), "20:267,20:313");
    CHECK_EQ_INT(record_failure_alert(RECORD_TOO_LONG), SSL_AD_RECORD_OVERFLOW);
    CHECK_EQ_INT(record_failure_alert(RECORD_BAD_VERSION), SSL_AD_PROTOCOL_VERSION);
}

TEST(record_errors_numbers_are_openssls)
{
    /* the module carries its own copies of these numbers (no OpenSSL headers
     * in the shim's pure parts): they must be the headers' */
    struct queued_error q[RECORD_ERRORS_MAX];
    CHECK_EQ_INT(record_failure_queue(RECORD_BAD_MAC, V35, TLS12, KTLS_CIPHER_AES_128_GCM, q), 3);
    CHECK_EQ_INT(q[0].lib, ERR_LIB_PROV);
    CHECK_EQ_INT(q[0].reason, PROV_R_CIPHER_OPERATION_FAILED);
    CHECK_EQ_INT(q[1].lib, ERR_LIB_SSL);
    CHECK_EQ_INT(q[1].reason, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
    CHECK_EQ_INT(q[2].reason, 313); /* SSL_R_RECORD_LAYER_FAILURE: 3.2+, not in 3.0's headers */
    CHECK_EQ_INT(record_failure_queue(RECORD_TOO_LONG, V35, TLS12, KTLS_CIPHER_AES_128_GCM, q), 2);
    CHECK_EQ_INT(q[0].reason, SSL_R_ENCRYPTED_LENGTH_TOO_LONG);
    CHECK_EQ_INT(record_failure_queue(RECORD_TOO_LONG, V30, TLS12, KTLS_CIPHER_AES_128_GCM, q), 1);
    CHECK_EQ_INT(q[0].reason, SSL_R_PACKET_LENGTH_TOO_LONG);
    CHECK_EQ_INT(record_failure_queue(RECORD_BAD_VERSION, V30, TLS12, KTLS_CIPHER_AES_128_GCM, q), 1);
    CHECK_EQ_INT(q[0].reason, SSL_R_WRONG_VERSION_NUMBER);
}

/* What kernel RX reports instead of a record: its errors for a record it
 * could not open, and the end of the stream (played: kio_pair.h). Each
 * must fail the read as OpenSSL 3.0 fails it for the same record or EOF,
 * measured with this host's OpenSSL 3.0.19 alone (a tampered record, an
 * oversized header, a FIN): the SSL_get_error answer, SSL_read's return,
 * the error queue and the alert sent back. Errors with no OpenSSL
 * counterpart are marked so. */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/proverr.h>

#include "kernel.h"
#include "kio.h"
#include "kio_pair.h"
#include "unit.h"

/* The error queues below were measured with 3.0; 3.2's record layer words
 * some differently (record_errors.c). */
static int ossl_3_0(void)
{
    unsigned long v = OpenSSL_version_num();
    return v >= 0x30000000UL && v < 0x30200000UL;
}

/* The kernel's EBADMSG (a record failed authentication): the queue OpenSSL
 * leaves for a bad tag (3.0 adds its provider's failure first for TLS 1.2
 * AES-GCM), and a fatal bad_record_mac (20) sent back. */
static void bad_mac(int version, const char *cipher, int provider_first)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, version, cipher, 1) == 0);
    fake_records_push_error(k.p.client_fd, EBADMSG);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_FAILED(&k);
    if (!ossl_3_0())
        ERR_clear_error();
    else if (provider_first)
        CHECK_ERRORS(ERR_PACK(ERR_LIB_PROV, 0, PROV_R_CIPHER_OPERATION_FAILED),
                     SSL_ERR(SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC));
    else
        CHECK_ERRORS(SSL_ERR(SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC));
    CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_BAD_RECORD_MAC);
    kio_pair_close(&k);
}

TEST(fake_kernel_13_ebadmsg_is_bad_record_mac_with_its_alert)
{
    bad_mac(KIO_V13, 0);
}

TEST(fake_kernel_12_ebadmsg_is_bad_record_mac_with_its_alert)
{
    bad_mac(KIO_V12, 0);
    bad_mac(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", 1);
}

/* EMSGSIZE (a record longer than allowed): OpenSSL 3.0's
 * PACKET_LENGTH_TOO_LONG and a fatal record_overflow (22). */
TEST(fake_kernel_emsgsize_is_packet_length_too_long_with_record_overflow)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
    fake_records_push_error(k.p.client_fd, EMSGSIZE);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_FAILED(&k);
    if (ossl_3_0())
        CHECK_ERRORS(SSL_ERR(SSL_R_PACKET_LENGTH_TOO_LONG));
    CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_RECORD_OVERFLOW);
    kio_pair_close(&k);
}

/* Kernel errors OpenSSL has no counterpart for (EKEYEXPIRED: the peer's
 * KeyUpdate on a kernel that waits for a key the shim did not give; EIO: a
 * control record it could not hand over): the connection fails for good
 * with a fatal alert, never a WANT_READ to retry. */
TEST(fake_kernel_ekeyexpired_and_eio_fail_the_connection_with_an_alert)
{
    static const int errs[] = {EKEYEXPIRED, EIO};
    for (size_t i = 0; i < 2; i++) {
        struct kio_pair k;
        REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
        fake_records_push_error(k.p.client_fd, errs[i]);
        size_t got;
        CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
        CHECK_FAILED(&k);
        CHECK(ERR_peek_error() != 0);
        ERR_clear_error();
        const struct fake_record *a = fake_records_last_sent(k.p.client_fd, TLS_RECORD_ALERT);
        CHECK(a && a->len == 2 && a->bytes[0] == SSL3_AL_FATAL);
        kio_pair_close(&k);
    }
}

/* The peer's FIN without close_notify: OpenSSL 3 fails the read with
 * UNEXPECTED_EOF_WHILE_READING, sends a fatal decode_error (50) and
 * SSL_read returns 0 (the BIO's 0); with SSL_OP_IGNORE_UNEXPECTED_EOF it
 * is a clean close, nothing sent. */
static void eof_without_close_notify(int version, const char *cipher)
{
    for (int ignore = 0; ignore < 2; ignore++) {
        struct kio_pair k;
        REQUIRE(kio_pair_open(&k, version, cipher, 1) == 0);
        if (ignore)
            SSL_set_options(k.p.client, SSL_OP_IGNORE_UNEXPECTED_EOF);
        fake_records_push_eof(k.p.client_fd);
        size_t got;
        CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
        CHECK_EQ_INT(kio_failure_return(k.client), 0);
        if (ignore) {
            CHECK_EQ_INT(k.client->err_override, SSL_ERROR_ZERO_RETURN);
            CHECK_EQ_INT(SSL_get_shutdown(k.p.client), SSL_RECEIVED_SHUTDOWN);
            CHECK_NO_ERRORS();
            CHECK_ALERT_SENT(k.p.client_fd, 0, 0);
        } else {
            CHECK_EQ_INT(k.client->err_override, SSL_ERROR_SSL);
            CHECK(k.client->fatal);
            CHECK_EQ_INT(SSL_get_shutdown(k.p.client), 0);
            CHECK_ERRORS(SSL_ERR(SSL_R_UNEXPECTED_EOF_WHILE_READING));
            CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_DECODE_ERROR);
        }
        kio_pair_close(&k);
    }
}

TEST(fake_kernel_13_eof_without_close_notify_is_unexpected_eof_and_0)
{
    eof_without_close_notify(KIO_V13);
}

TEST(fake_kernel_12_eof_without_close_notify_is_unexpected_eof_and_0)
{
    eof_without_close_notify(KIO_V12);
}

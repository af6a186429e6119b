/* The peer's alerts, and the runs of records OpenSSL stops, as kernel RX
 * hands them over (played: kio_pair.h): kio_read must decide each as
 * OpenSSL 3.0 decides the same records (ssl3_read_bytes, ssl3_get_record):
 * the SSL_get_error answer, SSL_read's return, the error queue, the
 * shutdown flags and the alert sent back, as measured with this host's
 * OpenSSL 3.0.19 alone, a peer writing the records raw
 * (tests/progs/raw_record.h). */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>

#include "kernel.h"
#include "kio.h"
#include "kio_pair.h"
#include "unit.h"

static void close_notify_ends_the_read(int version, const char *cipher)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, version, cipher, 1) == 0);
    kio_pair_push(&k, TLS_RECORD_APPLICATION_DATA, "bye", 3);
    kio_pair_push(&k, TLS_RECORD_ALERT, "\1\0", 2);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 1);
    CHECK_EQ_INT(got, 3);
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_ZERO_RETURN);
    CHECK_EQ_INT(kio_failure_return(k.client), 0);
    CHECK_EQ_INT(SSL_get_shutdown(k.p.client), SSL_RECEIVED_SHUTDOWN);
    CHECK_NO_ERRORS();
    CHECK_ALERT_SENT(k.p.client_fd, 0, 0); /* answered only by SSL_shutdown */
    kio_pair_close(&k);
}

TEST(fake_kernel_13_close_notify_is_zero_return_and_0)
{
    close_notify_ends_the_read(KIO_V13);
}

TEST(fake_kernel_12_close_notify_is_zero_return_and_0)
{
    close_notify_ends_the_read(KIO_V12);
}

/* OpenSSL 3.0: SSL_ERROR_SSL, the alert as reason 1000 + its description,
 * the peer's shutdown noted, nothing sent back, and SSL_read returns 0
 * (ssl3_read_bytes; measured with 3.0.19 alone). */
static void fatal_alert_fails_the_read(int version, const char *cipher, size_t cap)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, version, cipher, 1) == 0);
    kio_pair_push(&k, TLS_RECORD_ALERT, "\2\50", 2); /* fatal handshake_failure */
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, cap, &got), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_SSL);
    CHECK_EQ_INT(kio_failure_return(k.client), 0);
    CHECK(k.client->fatal);
    CHECK_ERRORS(SSL_ERR(SSL_AD_REASON_OFFSET + SSL_AD_HANDSHAKE_FAILURE));
    CHECK_EQ_INT(SSL_get_shutdown(k.p.client), SSL_RECEIVED_SHUTDOWN);
    CHECK_ALERT_SENT(k.p.client_fd, 0, 0);
    kio_pair_close(&k);
}

TEST(fake_kernel_13_fatal_alert_is_ssl_error_with_its_description)
{
    fatal_alert_fails_the_read(KIO_V13, 64);
}

TEST(fake_kernel_12_fatal_alert_is_ssl_error_with_its_description)
{
    fatal_alert_fails_the_read(KIO_V12, 64);
}

/* An alert record read through a buffer of one byte: the kernel hands it
 * over a byte at a time (MSG_EOR with the second); still one alert. */
TEST(fake_kernel_alert_read_a_byte_at_a_time_is_still_the_alert)
{
    fatal_alert_fails_the_read(KIO_V13, 1);
    fatal_alert_fails_the_read(KIO_V12, 1);
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
    kio_pair_push(&k, TLS_RECORD_ALERT, "\1\0", 2);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 1, &got), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_ZERO_RETURN);
    CHECK_EQ_INT(kio_failure_return(k.client), 0);
    CHECK_NO_ERRORS();
    kio_pair_close(&k);
}

/* An alert record is exactly two bytes: one of three (read whole, a byte
 * at a time, or through a buffer of two), or one split across two records
 * of one byte, is INVALID_ALERT with a fatal unexpected_message (10) sent
 * back. */
static void invalid_alerts(int version, const char *cipher)
{
    static const struct {
        const char *what;
        size_t cap;
        int records;
        const char *bytes[2];
        size_t len[2];
    } cases[] = {
        {"three bytes", 64, 1, {"\2\12\0"}, {3}},
        {"three bytes, a byte at a time", 1, 1, {"\2\12\0"}, {3}},
        {"three bytes, two at a time (a close_notify's first two)", 2, 1, {"\1\0\0"}, {3}},
        {"two records of one byte", 64, 2, {"\1", "\0"}, {1, 1}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kio_pair k;
        REQUIRE(kio_pair_open(&k, version, cipher, 1) == 0);
        for (int r = 0; r < cases[i].records; r++)
            kio_pair_push(&k, TLS_RECORD_ALERT, cases[i].bytes[r], cases[i].len[r]);
        size_t got;
        CHECK_EQ_INT(kio_pair_client_read(&k, cases[i].cap, &got), 0);
        CHECK_FAILED(&k);
        CHECK_ERRORS(SSL_ERR(SSL_R_INVALID_ALERT));
        CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_UNEXPECTED_MESSAGE);
        if (unit_failure_count())
            printf("#   (case: %s)\n", cases[i].what);
        kio_pair_close(&k);
        if (unit_failure_count())
            break;
    }
}

TEST(fake_kernel_13_alert_record_not_of_two_bytes_is_invalid_alert)
{
    invalid_alerts(KIO_V13);
}

TEST(fake_kernel_12_alert_record_not_of_two_bytes_is_invalid_alert)
{
    invalid_alerts(KIO_V12);
}

TEST(fake_kernel_12_empty_alert_record_is_invalid_alert)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
    kio_pair_push(&k, TLS_RECORD_ALERT, "", 0);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_FAILED(&k);
    CHECK_ERRORS(SSL_ERR(SSL_R_INVALID_ALERT));
    CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_UNEXPECTED_MESSAGE);
    kio_pair_close(&k);
}

/* under records (type, bytes) in a row, then data: the data comes through
 * untouched; one more in a row fails the read with reason and a fatal
 * unexpected_message (10). */
static void check_limit(uint8_t type, const char *bytes, size_t len, int under, int reason)
{
    for (int records = under; records <= under + 1; records++) {
        struct kio_pair k;
        REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
        for (int i = 0; i < records; i++)
            kio_pair_push(&k, type, bytes, len);
        kio_pair_push(&k, TLS_RECORD_APPLICATION_DATA, "ok", 2);
        size_t got;
        int ok = kio_pair_client_read(&k, 64, &got);
        if (records == under) {
            CHECK_EQ_INT(ok, 1);
            CHECK_EQ_INT(got, 2);
            CHECK_NO_ERRORS();
            CHECK_ALERT_SENT(k.p.client_fd, 0, 0);
        } else {
            CHECK_EQ_INT(ok, 0);
            CHECK_FAILED(&k);
            CHECK_ERRORS(SSL_ERR(reason));
            CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_UNEXPECTED_MESSAGE);
        }
        kio_pair_close(&k);
    }
}

/* Four warnings in a row are ignored; the fifth is TOO_MANY_WARN_ALERTS. */
TEST(fake_kernel_12_fifth_warning_alert_in_a_row_is_too_many)
{
    check_limit(TLS_RECORD_ALERT, "\1\160", 2, 4, SSL_R_TOO_MANY_WARN_ALERTS); /* unrecognized_name */
}

/* 32 empty handshake records in a row are nothing; the 33rd is
 * RECORD_TOO_SMALL (MAX_EMPTY_RECORDS). */
TEST(fake_kernel_12_thirty_third_empty_record_in_a_row_is_record_too_small)
{
    check_limit(TLS_RECORD_HANDSHAKE, "", 0, 32, SSL_R_RECORD_TOO_SMALL);
}

/* The program's info callback hears of the alerts the kernel carries as
 * OpenSSL tells it of its own (ssl3_read_bytes, ssl3_dispatch_alert):
 * stunnel's keeps the TLS socket from a reset after a fatal alert, and
 * without it stunnel logged "Connection reset" where OpenSSL alone gave
 * "Connection reset/closed" (the real-program torture, relay scenario). A
 * received alert is SSL_CB_READ_ALERT, one sent back SSL_CB_WRITE_ALERT,
 * level << 8 | description; the SSL's callback, else its context's. */
static int alert_calls, alert_where, alert_value;

static void on_info(const SSL *s, int where, int value)
{
    (void)s;
    if (!(where & SSL_CB_ALERT))
        return;
    alert_calls++;
    alert_where = where;
    alert_value = value;
}

TEST(fake_kernel_alerts_reach_the_programs_info_callback)
{
    struct kio_pair k;
    size_t got;
    REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
    alert_calls = 0;
    SSL_set_info_callback(k.p.client, on_info);
    kio_pair_push(&k, TLS_RECORD_ALERT, "\2\50", 2); /* fatal handshake_failure */
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_EQ_INT(alert_calls, 1);
    CHECK_EQ_INT(alert_where, SSL_CB_READ_ALERT);
    CHECK_EQ_INT(alert_value, SSL3_AL_FATAL << 8 | SSL_AD_HANDSHAKE_FAILURE);
    ERR_clear_error();
    kio_pair_close(&k);

    REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
    alert_calls = 0;
    SSL_CTX_set_info_callback(SSL_get_SSL_CTX(k.p.client), on_info);
    fake_records_push_error(k.p.client_fd, EBADMSG);
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_EQ_INT(alert_calls, 1);
    CHECK_EQ_INT(alert_where, SSL_CB_WRITE_ALERT);
    CHECK_EQ_INT(alert_value, SSL3_AL_FATAL << 8 | SSL_AD_BAD_RECORD_MAC);
    ERR_clear_error();
    SSL_CTX_set_info_callback(SSL_get_SSL_CTX(k.p.client), NULL);
    kio_pair_close(&k);
}

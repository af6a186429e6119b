/* The cases of test_kio.c that a scripted record stream can stand for, on
 * every host: the connection is moved by the shim's own offload path to a
 * played kernel (kio_pair.h), then kio_* is driven directly with exact
 * errno and SSL_get_error expectations. test_kio.c keeps the same cases on
 * real kTLS sockets (in the guest); kio_cases.c holds those both run. */
#include <errno.h>
#include <string.h>

#include "kernel.h"
#include "kio.h"
#include "kio_pair.h"
#include "unit.h"

/* The kernel takes 1000 bytes, then its buffer is full: WANT_WRITE with
 * EAGAIN, what it took kept (tx_committed); the retry of the same call
 * sends the rest, never the first 1000 again. */
static void write_resumes_after_a_short_send(int version, const char *cipher)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, version, cipher, 1) == 0);
    enum { TOTAL = 40000 };
    static uint8_t out[TOTAL], in[TOTAL];
    kio_pattern(out, TOTAL, 3);
    int fd = k.p.client_fd;
    fake_records_send_takes(fd, 1000);
    fake_records_send_fails(fd, EAGAIN);
    fake_records_send_fails(fd, EAGAIN); /* the first retry: still full, nothing taken */
    size_t done = 7;
    errno = 0;
    CHECK_EQ_INT(kio_write(k.client, k.p.client, out, TOTAL, &done), 0);
    CHECK_EQ_INT(errno, EAGAIN);
    CHECK_EQ_INT(done, 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_WANT_WRITE);
    CHECK_EQ_INT(k.client->tx_committed, 1000);
    CHECK_EQ_INT(kio_write(k.client, k.p.client, out, TOTAL, &done), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_WANT_WRITE);
    CHECK_EQ_INT(k.client->tx_committed, 1000);
    CHECK_EQ_INT(kio_write(k.client, k.p.client, out, TOTAL, &done), 1);
    CHECK_EQ_INT(done, TOTAL);
    CHECK_EQ_INT(k.client->tx_committed, 0);
    CHECK(!k.client->fatal);
    /* 1000, then the rest cut into records as the kernel cuts it */
    CHECK_EQ_INT(fake_records_sent_count(fd), 4);
    static const size_t lens[] = {1000, 16384, 16384, TOTAL - 1000 - 2 * 16384};
    for (int i = 0; i < 4 && fake_records_sent(fd, i); i++) {
        CHECK_EQ_INT(fake_records_sent(fd, i)->type, TLS_RECORD_APPLICATION_DATA);
        CHECK_EQ_INT(fake_records_sent(fd, i)->len, lens[i]);
    }
    CHECK_EQ_INT(kio_pair_read(&k, k.server, k.p.server, in, TOTAL), 0);
    CHECK_MEM(in, out, TOTAL);
    CHECK_EQ_INT(fake_records_unread(k.p.server_fd), 0);
    kio_pair_close(&k);
}

TEST(fake_kernel_13_write_resumes_where_a_short_send_stopped)
{
    write_resumes_after_a_short_send(KIO_V13);
}

TEST(fake_kernel_12_write_resumes_where_a_short_send_stopped)
{
    write_resumes_after_a_short_send(KIO_V12);
}

/* A retry must repeat the call that returned WANT_WRITE: one asking for
 * fewer bytes than the kernel already took fails with BAD_LENGTH and an
 * internal_error alert, as OpenSSL's ssl3_write_bytes fails it (SSLfatal),
 * and every later write fails too. */
TEST(fake_kernel_write_retry_shorter_than_what_was_taken_is_bad_length)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
    static uint8_t out[5000];
    fake_records_send_takes(k.p.client_fd, 3000);
    fake_records_send_fails(k.p.client_fd, EAGAIN);
    size_t done;
    CHECK_EQ_INT(kio_write(k.client, k.p.client, out, sizeof(out), &done), 0);
    CHECK_EQ_INT(k.client->tx_committed, 3000);
    CHECK_EQ_INT(kio_write(k.client, k.p.client, out, 2000, &done), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_SSL);
    CHECK(k.client->fatal);
    CHECK_ERRORS(SSL_ERR(SSL_R_BAD_LENGTH));
    CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_FATAL, SSL_AD_INTERNAL_ERROR);
    CHECK_EQ_INT(kio_write(k.client, k.p.client, out, 100, &done), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_SSL);
    CHECK_ERRORS(SSL_ERR(SSL_R_PROTOCOL_IS_SHUTDOWN));
    kio_pair_close(&k);
}

/* A send the kernel fails (the peer reset the connection): SSL_ERROR_SYSCALL
 * with the errno, as OpenSSL's socket BIO reports it; nothing is kept. */
TEST(fake_kernel_write_failed_by_the_kernel_is_syscall_with_its_errno)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
    fake_records_send_fails(k.p.client_fd, EPIPE);
    size_t done = 7;
    errno = 0;
    CHECK_EQ_INT(kio_write(k.client, k.p.client, "data", 4, &done), 0);
    CHECK_EQ_INT(errno, EPIPE);
    CHECK_EQ_INT(done, 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_SYSCALL);
    CHECK_EQ_INT(kio_failure_return(k.client), -1);
    CHECK_EQ_INT(k.client->tx_committed, 0);
    CHECK_EQ_INT(fake_records_sent_count(k.p.client_fd), 0);
    kio_pair_close(&k);
}

/* A read interrupted by a signal (EINTR), or with nothing there yet
 * (EAGAIN): WANT_READ with that errno, nothing failed, and the connection
 * goes on. */
TEST(fake_kernel_read_interrupted_or_with_nothing_queued_is_want_read_with_its_errno)
{
    static const int errs[] = {EINTR, EAGAIN};
    for (size_t i = 0; i < 2; i++) {
        struct kio_pair k;
        REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
        if (errs[i] == EINTR)
            fake_records_push_error(k.p.server_fd, EINTR);
        uint8_t buf[16];
        size_t got = 1;
        errno = 0;
        CHECK_EQ_INT(kio_read(k.server, k.p.server, buf, sizeof(buf), &got, 0), 0);
        CHECK_EQ_INT(errno, errs[i]);
        CHECK_EQ_INT(got, 0);
        CHECK_EQ_INT(k.server->err_override, SSL_ERROR_WANT_READ);
        CHECK(!k.server->fatal);
        CHECK_NO_ERRORS();
        CHECK_STILL_CARRIES(&k);
        kio_pair_close(&k);
    }
}

TEST(fake_kernel_13_peek_over_mixed_record_types_skips_control_records)
{
    kio_case_peek_over_mixed_records(KIO_V13, 1);
}

TEST(fake_kernel_12_peek_over_mixed_record_types_skips_control_records)
{
    kio_case_peek_over_mixed_records(KIO_V12, 1);
}

TEST(fake_kernel_write_fails_closed_on_a_reused_descriptor)
{
    kio_case_write_fails_closed_on_a_reused_descriptor(1);
}

/* What FIONREAD leaves out on a kernel-owned RX: the rest of a record a read
 * took part of, then the next control record, then nothing at the end of
 * the stream; another descriptor counts 0, and errno is kept. stunnel took
 * a read hangup with FIONREAD 0 for the end of the stream and dropped the
 * rest (torture relay seed 804847581). */
TEST(fake_kernel_unread_decrypted_counts_what_a_read_left_of_a_record)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
    CHECK_EQ_INT(kio_unread_decrypted(k.p.client_fd), 0);
    kio_pair_push(&k, TLS_RECORD_APPLICATION_DATA, "0123456789", 10);
    CHECK_EQ_INT(kio_unread_decrypted(k.p.client_fd), 10);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 4, &got), 1);
    CHECK_EQ_INT(got, 4);
    errno = EPERM;
    CHECK_EQ_INT(kio_unread_decrypted(k.p.client_fd), 6);
    CHECK_EQ_INT(errno, EPERM);
    CHECK_EQ_INT(kio_unread_decrypted(k.p.server_fd), 0);
    CHECK_EQ_INT(kio_unread_decrypted(-1), 0);
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 1);
    CHECK_EQ_INT(got, 6);
    kio_pair_push(&k, TLS_RECORD_ALERT, "\1\0", 2); /* close_notify */
    CHECK_EQ_INT(kio_unread_decrypted(k.p.client_fd), 2);
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_ZERO_RETURN);
    fake_records_push_eof(k.p.client_fd);
    CHECK_EQ_INT(kio_unread_decrypted(k.p.client_fd), 0);
    ERR_clear_error();
    kio_pair_close(&k);
}

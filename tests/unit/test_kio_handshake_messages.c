/* The peer's post-handshake messages as kernel RX hands them over
 * (played: kio_pair.h): a HelloRequest refused as OpenSSL 3.0 with
 * renegotiation off refuses it (measured with this host's OpenSSL 3.0.19),
 * a TLS 1.3 KeyUpdate followed where the kernel can rekey, fatal where it
 * cannot. */
#include <openssl/ssl.h>

#include "fake_kernel.h"
#include "kernel.h"
#include "kio.h"
#include "kio_pair.h"
#include "unit.h"

/* A HelloRequest to a TLS 1.2 client: refused as OpenSSL with renegotiation
 * off refuses it (its own kTLS turns it off), a warning no_renegotiation
 * (100), and the data after it arrives. */
TEST(fake_kernel_12_hello_request_is_refused_with_no_renegotiation_and_goes_on)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V12, 1) == 0);
    check_goes_on(&k, TLS_RECORD_HANDSHAKE, "\0\0\0\0", 4);
    CHECK_ALERT_SENT(k.p.client_fd, SSL3_AL_WARNING, SSL_AD_NO_RENEGOTIATION);
    kio_pair_close(&k);
}

/* The peer's TLS 1.3 KeyUpdate asking for ours, on a kernel that can
 * rekey: followed as OpenSSL follows it: the next RX key installed, ours
 * sent (update_not_requested) and the next TX key installed, and the data
 * after it arrives. */
TEST(fake_kernel_13_key_update_is_followed_where_the_kernel_can_rekey)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
    int fd = k.p.client_fd;
    check_goes_on(&k, TLS_RECORD_HANDSHAKE, "\30\0\0\1\1", 5); /* KeyUpdate, update_requested */
    CHECK_EQ_INT(fake_kernel_calls(fd, SOL_TLS, TLS_RX), 2);
    CHECK_EQ_INT(fake_kernel_calls(fd, SOL_TLS, TLS_TX), 2);
    const struct fake_record *ku = fake_records_last_sent(fd, TLS_RECORD_HANDSHAKE);
    REQUIRE(ku != NULL);
    CHECK_EQ_INT(ku->len, 5);
    CHECK_MEM(ku->bytes, "\30\0\0\1\0", 5);
    CHECK_ALERT_SENT(fd, 0, 0);
    kio_pair_close(&k);
}

/* No OpenSSL counterpart (OpenSSL would follow it): a kernel before 6.14
 * cannot take the next key, so the connection fails for good, telling the
 * peer with a fatal alert. */
TEST(fake_kernel_13_key_update_where_the_kernel_cannot_rekey_is_fatal)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, KIO_V13, 1) == 0);
    fake_kernel_without_rekey();
    kio_pair_push(&k, TLS_RECORD_HANDSHAKE, "\30\0\0\1\0", 5);
    kio_pair_push(&k, TLS_RECORD_APPLICATION_DATA, "after", 5);
    size_t got;
    CHECK_EQ_INT(kio_pair_client_read(&k, 64, &got), 0);
    CHECK_FAILED(&k);
    CHECK(ERR_peek_error() != 0);
    ERR_clear_error();
    CHECK_EQ_INT(fake_kernel_calls(k.p.client_fd, SOL_TLS, TLS_RX), 1);
    const struct fake_record *a = fake_records_last_sent(k.p.client_fd, TLS_RECORD_ALERT);
    CHECK(a && a->len == 2 && a->bytes[0] == SSL3_AL_FATAL);
    kio_pair_close(&k);
}

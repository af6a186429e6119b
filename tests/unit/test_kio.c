/* kio.c on real kTLS sockets, in the style of the kernel's selftests
 * (tools/testing/selftests/net/tls.c): a TLS connection made in this process,
 * both ends moved to the kernel by the shim's own offload path, then kio_*
 * driven directly with exact errno and SSL_get_error expectations.
 * They need a kernel with kTLS: elsewhere each is reported as skipped;
 * tests/76-kio.bats runs them in the guest, where a skip is a failure.
 * test_kio_fake.c runs the cases a scripted record stream can stand for on
 * every host (kio_cases.c holds those both run). */
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conn.h"
#include "kernel.h"
#include "kio.h"
#include "kio_pair.h"
#include "unit.h"

static int skip_without_ktls(void)
{
    kernel_tls_probe_reset();
    if (kernel_tls_available())
        return 0;
    unit_skip("this kernel has no kTLS");
    return 1;
}

static void kio_write_with_a_tiny_send_buffer(int version, const char *cipher)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, version, cipher, 0) == 0);
    int tiny = 100; /* the kernel rounds it up to its minimum */
    REQUIRE(setsockopt(k.p.client_fd, SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny)) == 0);
    enum { TOTAL = 1 << 20 };
    static uint8_t out[TOTAL], in[TOTAL];
    kio_pattern(out, TOTAL, 7);
    size_t sent = 0, received = 0;
    int want_writes = 0, resumed_mid_call = 0;
    while (received < TOTAL) {
        if (sent < TOTAL) {
            size_t done = 0, len = TOTAL - sent < 65536 ? TOTAL - sent : 65536;
            if (kio_write(k.client, k.p.client, out + sent, len, &done)) {
                CHECK_EQ_INT(done, len);
                CHECK_EQ_INT(k.client->tx_committed, 0);
                sent += done;
            } else {
                /* the buffer is full: EAGAIN, WANT_WRITE, what the kernel
                 * took is kept for the retry of the same call */
                CHECK_EQ_INT(k.client->err_override, SSL_ERROR_WANT_WRITE);
                CHECK_EQ_INT(errno, EAGAIN);
                CHECK(k.client->tx_committed <= len);
                want_writes++;
                resumed_mid_call += k.client->tx_committed > 0;
            }
        }
        size_t got = 0;
        if (kio_read(k.server, k.p.server, in + received, TOTAL - received, &got, 0))
            received += got;
        else
            REQUIRE(k.server->err_override == SSL_ERROR_WANT_READ);
        if (unit_failure_count())
            break;
    }
    CHECK_EQ_INT(received, TOTAL);
    CHECK_MEM(in, out, TOTAL);
    CHECK(want_writes > 0);
    CHECK(resumed_mid_call > 0);
    kio_pair_close(&k);
}

TEST(kio_13_write_with_a_tiny_send_buffer_resumes_where_the_kernel_stopped)
{
    if (!skip_without_ktls())
        kio_write_with_a_tiny_send_buffer(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
}

TEST(kio_12_write_with_a_tiny_send_buffer_resumes_where_the_kernel_stopped)
{
    if (!skip_without_ktls())
        kio_write_with_a_tiny_send_buffer(TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305");
}

static void on_alarm(int sig)
{
    (void)sig;
}

TEST(kio_read_interrupted_by_a_signal_is_want_read_with_eintr)
{
    if (skip_without_ktls())
        return;
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", 0) == 0);
    fcntl(k.p.server_fd, F_SETFL, fcntl(k.p.server_fd, F_GETFL) & ~O_NONBLOCK);
    struct sigaction sa = {.sa_handler = on_alarm}, old; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, &old);
    struct itimerval t = {.it_value = {.tv_usec = 100000}};
    setitimer(ITIMER_REAL, &t, NULL);
    uint8_t buf[16];
    size_t got = 1;
    errno = 0;
    CHECK_EQ_INT(kio_read(k.server, k.p.server, buf, sizeof(buf), &got, 0), 0);
    CHECK_EQ_INT(errno, EINTR);
    CHECK_EQ_INT(got, 0);
    CHECK_EQ_INT(k.server->err_override, SSL_ERROR_WANT_READ);
    CHECK(!k.server->fatal);
    sigaction(SIGALRM, &old, NULL);
    CHECK_STILL_CARRIES(&k);
    kio_pair_close(&k);
}

TEST(kio_13_peek_over_mixed_record_types_skips_control_records)
{
    if (!skip_without_ktls())
        kio_case_peek_over_mixed_records(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", 0);
}

TEST(kio_12_peek_over_mixed_record_types_skips_control_records)
{
    if (!skip_without_ktls())
        kio_case_peek_over_mixed_records(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", 0);
}

TEST(kio_write_fails_closed_on_a_reused_descriptor)
{
    if (!skip_without_ktls())
        kio_case_write_fails_closed_on_a_reused_descriptor(0);
}

/* kio.c on real kTLS sockets, in the style of the kernel's selftests
 * (tools/testing/selftests/net/tls.c): a TLS connection made in this process,
 * both ends moved to the kernel by the shim's own offload path, then kio_*
 * driven directly with exact errno and SSL_get_error expectations.
 * They need a kernel with kTLS: elsewhere each is reported as skipped;
 * tests/76-kio.bats runs them in the guest, where a skip is a failure. */
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
#include "observe.h"
#include "offload.h"
#include "tls_pair.h"
#include "unit.h"

struct kpair {
    struct tls_pair p;
    struct conn *server, *client;
};

static int skip_without_ktls(void)
{
    kernel_tls_probe_reset();
    if (kernel_tls_available())
        return 0;
    unit_skip("this kernel has no kTLS");
    return 1;
}

/* A connection with every direction of both ends in the kernel. */
static int kpair_open(struct kpair *k, int version, const char *cipher)
{
    if (tls_pair_open(&k->p, version, cipher) != 0)
        return -1;
    SSL_set_num_tickets(k->p.server, 0); /* only the test's records after the handshake */
    k->server = observe_attach(k->p.server);
    k->client = observe_attach(k->p.client);
    if (!k->server || !k->client || tls_pair_handshake(&k->p) != 0)
        return -1;
    k->client->app_data_read = 1; /* no tickets to wait for */
    offload_progress(k->server, k->p.server, 0);
    offload_progress(k->client, k->p.client, 0);
    for (int d = 0; d < 2; d++)
        if (!kernel_owns(k->server, d) || !kernel_owns(k->client, d)) {
            unit_fail(__FILE__, __LINE__, "offload failed: server %d/%d client %d/%d",
                      k->server->dir[0].state, k->server->dir[1].state, k->client->dir[0].state,
                      k->client->dir[1].state);
            return -1;
        }
    return 0;
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    poll(&p, 1, 2000);
}

/* Reads exactly n bytes of application data (waiting on WANT_READ). */
static int read_exactly(struct conn *c, SSL *s, uint8_t *buf, size_t n)
{
    size_t have = 0;
    while (have < n) {
        size_t got = 0;
        if (kio_read(c, s, buf + have, n - have, &got, 0)) {
            have += got;
            continue;
        }
        if (c->err_override != SSL_ERROR_WANT_READ)
            return -1;
        wait_fd(c->fd, POLLIN);
    }
    return 0;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + seed);
}

static void kio_write_with_a_tiny_send_buffer(int version, const char *cipher)
{
    struct kpair k;
    REQUIRE(kpair_open(&k, version, cipher) == 0);
    int tiny = 100; /* the kernel rounds it up to its minimum */
    REQUIRE(setsockopt(k.p.client_fd, SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny)) == 0);
    enum { TOTAL = 1 << 20 };
    static uint8_t out[TOTAL], in[TOTAL];
    pattern(out, TOTAL, 7);
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
    tls_pair_close(&k.p);
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
    struct kpair k;
    REQUIRE(kpair_open(&k, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256") == 0);
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
    /* and the connection goes on */
    size_t done = 0;
    CHECK_EQ_INT(kio_write(k.client, k.p.client, "after", 5, &done), 1);
    CHECK_EQ_INT(read_exactly(k.server, k.p.server, buf, 5), 0);
    CHECK_MEM(buf, "after", 5);
    tls_pair_close(&k.p);
}

static void send_control(struct kpair *k, uint8_t type, const void *p, size_t n)
{
    REQUIRE(kernel_send_record(k->p.server_fd, type, p, n) == (ssize_t)n);
}

static void peek_over_mixed_records(int version, const char *cipher)
{
    struct kpair k;
    REQUIRE(kpair_open(&k, version, cipher) == 0);
    /* a NewSessionTicket-shaped message (a client drops it under kTLS) */
    static const uint8_t ticket[] = {4, 0, 0, 3, 0xaa, 0xbb, 0xcc};
    static const uint8_t close_notify[] = {1, 0};
    size_t done;
    send_control(&k, TLS_RECORD_HANDSHAKE, ticket, sizeof(ticket));
    REQUIRE(kio_write(k.server, k.p.server, "hello", 5, &done) == 1);
    send_control(&k, TLS_RECORD_HANDSHAKE, ticket, sizeof(ticket));
    REQUIRE(kio_write(k.server, k.p.server, "world!", 6, &done) == 1);
    send_control(&k, TLS_RECORD_ALERT, close_notify, sizeof(close_notify));
    wait_fd(k.p.client_fd, POLLIN);
    usleep(50000); /* every record is in */

    static const char *const want[] = {"hello", "world!"};
    for (int i = 0; i < 2; i++) {
        uint8_t peeked[64] = {0}, got[64] = {0};
        size_t n = 0, m = 0;
        CHECK_EQ_INT(kio_read(k.client, k.p.client, peeked, sizeof(peeked), &n, 1), 1);
        CHECK_EQ_INT(n, strlen(want[i]));
        CHECK_MEM(peeked, want[i], strlen(want[i]));
        /* a second peek sees the same, a read then takes it */
        CHECK_EQ_INT(kio_read(k.client, k.p.client, peeked, sizeof(peeked), &n, 1), 1);
        CHECK_EQ_INT(n, strlen(want[i]));
        CHECK_EQ_INT(kio_read(k.client, k.p.client, got, sizeof(got), &m, 0), 1);
        CHECK_EQ_INT(m, n);
        CHECK_MEM(got, want[i], m);
    }
    uint8_t rest[16];
    size_t n = 9;
    CHECK_EQ_INT(kio_read(k.client, k.p.client, rest, sizeof(rest), &n, 1), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_ZERO_RETURN);
    CHECK(SSL_get_shutdown(k.p.client) & SSL_RECEIVED_SHUTDOWN);
    tls_pair_close(&k.p);
}

TEST(kio_13_peek_over_mixed_record_types_skips_control_records)
{
    if (!skip_without_ktls())
        peek_over_mixed_records(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
}

TEST(kio_12_peek_over_mixed_record_types_skips_control_records)
{
    if (!skip_without_ktls())
        peek_over_mixed_records(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
}

/* A close no interposer sees (this binary has none: close() is libc's), the
 * number reused by a plain socket: a write must fail closed (EBADF), not
 * reach the new socket in clear. */
TEST(kio_write_fails_closed_on_a_reused_descriptor)
{
    if (skip_without_ktls())
        return;
    struct kpair k;
    REQUIRE(kpair_open(&k, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256") == 0);
    int fd = k.p.client_fd, plain[2];
    REQUIRE(close(fd) == 0);
    REQUIRE(unit_tcp_pair(plain) == 0); /* takes the lowest free numbers */
    int reused = plain[0] == fd ? plain[0] : plain[1] == fd ? plain[1] : -1;
    REQUIRE(reused == fd);
    size_t done = 7;
    errno = 0;
    CHECK_EQ_INT(kio_write(k.client, k.p.client, "SECRET", 6, &done), 0);
    CHECK_EQ_INT(errno, EBADF);
    CHECK_EQ_INT(done, 0);
    CHECK_EQ_INT(k.client->err_override, SSL_ERROR_SYSCALL);
    CHECK(k.client->fatal);
    int other = plain[0] == fd ? plain[1] : plain[0];
    char buf[16];
    CHECK_EQ_INT(recv(other, buf, sizeof(buf), MSG_DONTWAIT), -1); /* nothing arrived */
    close(other);
    k.p.client_fd = reused; /* closed by tls_pair_close */
    tls_pair_close(&k.p);
}

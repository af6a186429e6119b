/* kio cases that run the same on real kTLS sockets (test_kio.c, the guest)
 * and on the played kernel (test_kio_fake.c, every host). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kernel.h"
#include "kio.h"
#include "kio_pair.h"
#include "unit.h"

static void send_control(struct kio_pair *k, uint8_t type, const void *p, size_t n)
{
    REQUIRE(kernel_send_record(k->p.server_fd, type, p, n) == (ssize_t)n);
}

void kio_case_peek_over_mixed_records(int version, const char *cipher, int played)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, version, cipher, played) == 0);
    /* a NewSessionTicket-shaped message (a client drops it under kTLS) */
    static const uint8_t ticket[] = {4, 0, 0, 3, 0xaa, 0xbb, 0xcc};
    static const uint8_t close_notify[] = {1, 0};
    size_t done;
    send_control(&k, TLS_RECORD_HANDSHAKE, ticket, sizeof(ticket));
    REQUIRE(kio_write(k.server, k.p.server, "hello", 5, &done) == 1);
    send_control(&k, TLS_RECORD_HANDSHAKE, ticket, sizeof(ticket));
    REQUIRE(kio_write(k.server, k.p.server, "world!", 6, &done) == 1);
    send_control(&k, TLS_RECORD_ALERT, close_notify, sizeof(close_notify));
    if (!played) {
        struct pollfd p = {.fd = k.p.client_fd, .events = POLLIN};
        poll(&p, 1, 2000);
        usleep(50000); /* every record is in */
    }

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
    if (played)
        CHECK_EQ_INT(fake_records_unread(k.p.client_fd), 0);
    kio_pair_close(&k);
}

/* A close no interposer sees (this binary has none: close() is libc's), the
 * number reused by a plain socket: a write must fail closed (EBADF), not
 * reach the new socket in clear. (A played socket is known by its identity:
 * the reused number is a real socket, where a write that got through would
 * arrive.) */
void kio_case_write_fails_closed_on_a_reused_descriptor(int played)
{
    struct kio_pair k;
    REQUIRE(kio_pair_open(&k, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", played) == 0);
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
    if (played)
        CHECK_EQ_INT(fake_records_unread(k.p.server_fd), 0);
    close(other);
    k.p.client_fd = reused; /* closed by tls_pair_close */
    kio_pair_close(&k);
}

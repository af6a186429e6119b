/* half_record: does an event loop spin while one TLS record is half-arrived?
 *
 * half_record [--tls 1.2|1.3] [--bytes N] [--split N] [--pause-ms N] [--rounds N]
 *
 * One process, two ends of a loopback TCP connection. The subject is an
 * ordinary non-blocking OpenSSL server (socket BIO, poll loop): the shim, if
 * preloaded, moves it to the kernel. The peer is an OpenSSL client over
 * memory BIOs whose records this program puts on the wire itself: for each
 * round one application record of --bytes is sent in two TCP segments, the
 * first --split bytes, a --pause-ms pause, then the rest. While the record
 * is incomplete the subject keeps polling; every poll that says "readable"
 * followed by an SSL_read that says WANT_READ is a wakeup without progress.
 * OpenSSL itself takes the partial bytes into its buffer, so it sees one such
 * wakeup per round; a loop that sees hundreds is spinning.
 *
 * Prints "RESULT rounds= received= intact= ktls_rx= idle_wakeups= max_idle_wakeups=
 * poll_readable_on_half=" (max: the worst round; poll_readable_on_half: the
 * socket was reported readable right after the first half, before any read).
 * Exit 0 when every byte arrived intact, 1 otherwise, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loopback.h"
#include "test_identity.h"

static int version = TLS1_3_VERSION, pause_ms = 300, rounds = 3;
static size_t bytes = 4000, split = 1000;

static void die(const char *what)
{
    fprintf(stderr, "half_record: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void tcp_pair(int *subject, int *raw)
{
    if (loopback_pair(raw, subject) != 0)
        die("loopback TCP pair");
    int one = 1;
    /* each write of the peer leaves as its own segment, at once */
    setsockopt(*raw, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(*subject, F_SETFL, O_NONBLOCK);
    fcntl(*raw, F_SETFL, O_NONBLOCK);
}

static void write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pw = {.fd = fd, .events = POLLOUT};
            poll(&pw, 1, 1000);
            continue;
        }
        if (w <= 0)
            die("write to the wire");
        p += w;
        n -= (size_t)w;
    }
}

/* Everything the peer's SSL wrote goes on the wire as is. */
static void peer_flush(BIO *out, int raw)
{
    unsigned char buf[16384];
    int n;
    while ((n = BIO_read(out, buf, sizeof(buf))) > 0)
        write_all(raw, buf, (size_t)n);
}

/* Whatever arrived from the subject goes to the peer's SSL. */
static void peer_feed(BIO *in, int raw)
{
    unsigned char buf[16384];
    ssize_t n;
    while ((n = read(raw, buf, sizeof(buf))) > 0)
        BIO_write(in, buf, (int)n);
}

static int ktls_rx_set(int fd)
{
    unsigned char info[4];
    socklen_t len = sizeof(info);
    return getsockopt(fd, 282 /* SOL_TLS */, 2 /* TLS_RX */, info, &len) == 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tls"))
            version = !strcmp(argv[i + 1], "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
        else if (!strcmp(argv[i], "--bytes"))
            bytes = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--split"))
            split = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--pause-ms"))
            pause_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: half_record [--tls 1.2|1.3] [--bytes N] [--split N] "
                            "[--pause-ms N] [--rounds N]\n");
            return 2;
        }
    }
    if (bytes == 0 || bytes > 16384 || split == 0 || pause_ms < 0 || rounds <= 0)
        return 2;
    alarm(120);
    int subject_fd, raw;
    tcp_pair(&subject_fd, &raw);

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(sctx, version);
    SSL_CTX_set_max_proto_version(sctx, version);
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    SSL_CTX_set_num_tickets(sctx, 0); /* nothing but the test's records on the wire */
    if (!use_self_signed_identity(sctx, EVP_EC_gen("P-256"), 3600))
        die("identity");
    SSL *subject = SSL_new(sctx), *peer = SSL_new(cctx);
    SSL_set_fd(subject, subject_fd);
    BIO *peer_in = BIO_new(BIO_s_mem()), *peer_out = BIO_new(BIO_s_mem());
    SSL_set_bio(peer, peer_in, peer_out);
    SSL_set_accept_state(subject);
    SSL_set_connect_state(peer);

    int subject_done = 0, peer_done = 0;
    for (int i = 0; i < 5000 && !(subject_done && peer_done); i++) {
        if (!peer_done)
            peer_done = SSL_do_handshake(peer) == 1;
        peer_flush(peer_out, raw);
        if (!subject_done) {
            int r = SSL_do_handshake(subject);
            if (r == 1)
                subject_done = 1;
            else if (SSL_get_error(subject, r) != SSL_ERROR_WANT_READ
                     && SSL_get_error(subject, r) != SSL_ERROR_WANT_WRITE)
                die("subject handshake");
        }
        struct pollfd p = {.fd = raw, .events = POLLIN};
        poll(&p, 1, 5);
        peer_feed(peer_in, raw);
    }
    if (!(subject_done && peer_done))
        die("handshake did not finish");

    unsigned char *payload = malloc(bytes), *got = malloc(bytes * (size_t)rounds);
    size_t received = 0;
    long idle_total = 0, idle_max = 0;
    int readable_on_half = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < bytes; i++)
            payload[i] = (unsigned char)(i * 31 + (size_t)r * 7);
        if (SSL_write(peer, payload, (int)bytes) != (int)bytes)
            die("peer SSL_write");
        unsigned char record[16384 + 512];
        int len = BIO_read(peer_out, record, sizeof(record));
        if (len <= 0 || (size_t)len <= split)
            die("peer record (is --split below the record size?)");
        write_all(raw, record, split);
        long idle = 0;
        int first_poll = 1, second_half_sent = 0;
        long long half_at = now_ms();
        size_t want = received + bytes;
        while (received < want) {
            long long left = pause_ms - (now_ms() - half_at);
            if (!second_half_sent && left <= 0) {
                write_all(raw, record + split, (size_t)len - split);
                second_half_sent = 1;
            }
            struct pollfd p = {.fd = subject_fd, .events = POLLIN};
            int ready = poll(&p, 1, second_half_sent ? 2000 : (int)left);
            if (first_poll && ready > 0 && !second_half_sent)
                readable_on_half = 1;
            first_poll = 0;
            if (ready <= 0)
                continue;
            int n = SSL_read(subject, got + received, (int)(want - received));
            if (n > 0) {
                received += (size_t)n;
                continue;
            }
            int e = SSL_get_error(subject, n);
            if (e != SSL_ERROR_WANT_READ)
                die("subject SSL_read");
            idle++;
        }
        idle_total += idle;
        if (idle > idle_max)
            idle_max = idle;
    }
    int intact = 1;
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < bytes; i++)
            intact &= got[(size_t)r * bytes + i] == (unsigned char)(i * 31 + (size_t)r * 7);
    printf("RESULT rounds=%d received=%zu intact=%d ktls_rx=%d idle_wakeups=%ld "
           "max_idle_wakeups=%ld poll_readable_on_half=%d\n",
           rounds, received, intact, ktls_rx_set(subject_fd), idle_total, idle_max,
           readable_on_half);
    SSL_free(subject);
    SSL_free(peer);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    close(subject_fd);
    close(raw);
    free(payload);
    free(got);
    return intact && received == bytes * (size_t)rounds ? 0 : 1;
}

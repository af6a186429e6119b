/* seqfuzz: a seeded sequence of OpenSSL calls on both ends of one TLS
 * connection, in one thread, printing what a program could observe of each:
 * return classes, SSL_get_error, the first error's library and reason, and
 * whether the bytes read are the bytes the other end wrote (each end writes
 * a known pattern, so every read is checked where it lands). Run it with and
 * without the shim (tests/torture/seqfuzz.sh): the transcripts must be the
 * same line for line. How many bytes one read returns is not printed: the
 * kernel may join records OpenSSL hands over one at a time.
 *
 *   seqfuzz SEED STEPS [12|13] [key-update]
 *   (SEQFUZZ_NO_CHACHA=1: TLS 1.2 sequences use AES-GCM only)
 *
 * Lines starting with '#' (offload per end and direction, the seed) are not
 * part of the transcript. Exit status: 0, or 1 when a read saw wrong bytes
 * or the set-up failed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loopback.h"
#include "test_identity.h"

#define MAX_OUTSTANDING (48 * 1024) /* written, not yet read: never fills a socket */
#define MAX_WRITE 20000

struct end {
    const char *name;
    SSL *ssl;
    int fd;
    uint64_t written, read; /* of this end's outgoing / incoming stream */
    int nonblocking;
    struct end *peer;
};

static uint64_t rng;

static uint64_t next(void) /* splitmix64 */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(next() % n);
}

static uint8_t pattern_at(const struct end *writer, uint64_t off)
{
    return (uint8_t)((off * 131 + 7) ^ (writer->name[0] == 'c' ? 0x5a : 0xa5));
}

/* what a program sees of a call that did not move bytes */
static void say_outcome(const struct end *e, const char *what, int ret)
{
    int err = SSL_get_error(e->ssl, ret);
    unsigned long code = ERR_peek_error();
    printf("%s %s -> ret<=0 error=%d lib=%d reason=%d\n", e->name, what, err,
           code ? ERR_GET_LIB(code) : 0, code ? ERR_GET_REASON(code) : 0);
    ERR_clear_error();
}

static int check_bytes(struct end *e, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern_at(e->peer, e->read + i)) {
            printf("%s read WRONG BYTES at stream offset %" PRIu64 "\n", e->name, e->read + i);
            return 0;
        }
    return 1;
}

static int do_write(struct end *e)
{
    static uint8_t buf[MAX_WRITE];
    uint64_t room = MAX_OUTSTANDING - (e->written - e->peer->read);
    size_t n = 1 + below(MAX_WRITE);
    if (n > room)
        n = (size_t)room;
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_at(e, e->written + i);
    int ex = below(2);
    size_t done = 0;
    int ret = ex ? SSL_write_ex(e->ssl, buf, n, &done) : SSL_write(e->ssl, buf, (int)n);
    if (ret > 0) {
        if (!ex)
            done = (size_t)ret;
        /* without partial writes a blocking SSL_write takes it all */
        printf("%s write%s %zu -> %s\n", e->name, ex ? "_ex" : "", n, done == n ? "all" : "PART");
        e->written += done;
        return 1;
    }
    say_outcome(e, ex ? "write_ex" : "write", ret);
    return 1;
}

/* One read call; *got bytes (0 when it failed, with its outcome said).
 * Bytes on their way (the other end's write returned) may not be readable
 * yet: a non-blocking end then waits for them as a program's poll loop
 * would, and only with nothing on its way is WANT_READ an outcome. */
static int read_once(struct end *e, int kind, uint8_t *buf, size_t n, size_t *got)
{
    static const char *const names[] = {"read", "read_ex", "peek", "peek_ex"};
    int ret;
    *got = 0;
again:
    switch (kind) {
    case 0: ret = SSL_read(e->ssl, buf, (int)n); *got = ret > 0 ? (size_t)ret : 0; break;
    case 1: ret = SSL_read_ex(e->ssl, buf, n, got); break;
    case 2: ret = SSL_peek(e->ssl, buf, (int)n); *got = ret > 0 ? (size_t)ret : 0; break;
    default: ret = SSL_peek_ex(e->ssl, buf, n, got); break;
    }
    if (ret <= 0 && e->nonblocking && e->peer->written > e->read
        && SSL_get_error(e->ssl, ret) == SSL_ERROR_WANT_READ) {
        struct pollfd p = {.fd = e->fd, .events = POLLIN};
        ERR_clear_error();
        if (poll(&p, 1, 5000) == 1)
            goto again;
    }
    if (ret <= 0) {
        *got = 0;
        say_outcome(e, names[kind], ret);
        return 1;
    }
    if (*got == 0 || *got > n || !check_bytes(e, buf, *got))
        return 0;
    if (kind < 2)
        e->read += *got;
    return 1;
}

/* Reads (or peeks at) up to n of the bytes on their way, in as many calls
 * as it takes: how the bytes arrive in calls is not part of what is
 * compared, only that they all come, and right. With nothing on its way, a
 * non-blocking end's one call shows what it answers. 1: done; 2: a call
 * failed (said); 0: wrong bytes. */
static int do_read(struct end *e, size_t n)
{
    static uint8_t buf[MAX_WRITE];
    static const char *const names[] = {"read", "read_ex", "peek", "peek_ex"};
    int kind = below(4);
    uint64_t waiting = e->peer->written - e->read;
    if (waiting == 0) {
        size_t got;
        return e->nonblocking ? read_once(e, kind, buf, n, &got) : 1;
    }
    if (n > waiting)
        n = (size_t)waiting;
    if (kind >= 2) {
        size_t got;
        if (!read_once(e, kind, buf, n, &got))
            return 0;
        if (!got)
            return 2;
        printf("%s %s -> bytes\n", e->name, names[kind]);
        return 1;
    }
    for (size_t have = 0; have < n;) {
        size_t got;
        if (!read_once(e, kind, buf, n - have, &got))
            return 0;
        if (!got)
            return 2; /* failed, and said so */
        have += got;
    }
    printf("%s %s %zu -> bytes\n", e->name, names[kind], n);
    return 1;
}

static void set_nonblocking(struct end *e, int on)
{
    int fl = fcntl(e->fd, F_GETFL);
    fcntl(e->fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    e->nonblocking = on;
    printf("%s %s\n", e->name, on ? "nonblocking" : "blocking");
}

static int handshake(struct end *c, struct end *s)
{
    set_nonblocking(c, 1);
    set_nonblocking(s, 1);
    int cd = 0, sd = 0;
    for (int i = 0; i < 10000 && !(cd && sd); i++) {
        if (!cd) {
            int r = SSL_do_handshake(c->ssl);
            if (r == 1)
                cd = 1;
            else if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
                return 0;
        }
        if (!sd) {
            int r = SSL_do_handshake(s->ssl);
            if (r == 1)
                sd = 1;
            else if (SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ)
                return 0;
        }
    }
    return cd && sd;
}

static void step(struct end *ends[2], int key_update)
{
    struct end *e = ends[below(2)];
    unsigned what = below(100);
    if (what < 40)
        do_write(e);
    else if (what < 85) {
        if (!do_read(e, 1 + below(MAX_WRITE)))
            exit(1);
    } else if (what < 93)
        set_nonblocking(e, !e->nonblocking);
    else if (what < 96 && key_update) {
        int type = below(2) ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED;
        int r = SSL_key_update(e->ssl, type);
        if (r == 1)
            printf("%s key_update %d -> 1 type %d\n", e->name, type, SSL_get_key_update_type(e->ssl));
        else
            say_outcome(e, "key_update", r);
    } else {
        /* SSL_pending's number may differ (the kernel holds what OpenSSL
         * would buffer): only that the call is harmless is seen */
        (void)SSL_pending(e->ssl);
        (void)SSL_has_pending(e->ssl);
    }
}

/* Both ends read everything outstanding, then close: what each shutdown
 * call returns, as a program would see it. */
static int finish(struct end *c, struct end *s)
{
    set_nonblocking(c, 0);
    set_nonblocking(s, 0);
    struct end *ends[2] = {c, s};
    /* a last write each way, so that both ends read data before the close
     * and every direction had its chance to move to the kernel */
    for (int i = 0; i < 2; i++)
        if (ends[i]->written - ends[i]->peer->read < MAX_OUTSTANDING) {
            uint8_t b = pattern_at(ends[i], ends[i]->written);
            int r = SSL_write(ends[i]->ssl, &b, 1);
            if (r == 1) {
                ends[i]->written++;
                printf("%s last write -> 1\n", ends[i]->name);
            } else
                say_outcome(ends[i], "last write", r);
        }
    /* a read that fails ends the draining of that end (a failed
     * connection fails every read after: it would never end) */
    for (int i = 0; i < 2; i++)
        for (int r = 1; r == 1 && ends[i]->peer->written > ends[i]->read;)
            if ((r = do_read(ends[i], MAX_WRITE)) == 0)
                return 0;
    int r = SSL_shutdown(c->ssl);
    printf("client shutdown -> %d\n", r);
    uint8_t b[16];
    r = SSL_read(s->ssl, b, sizeof(b));
    if (r <= 0)
        say_outcome(s, "read at close", r);
    r = SSL_shutdown(s->ssl);
    printf("server shutdown -> %d\n", r);
    r = SSL_shutdown(c->ssl);
    if (r < 0)
        say_outcome(c, "second shutdown", r);
    else
        printf("client second shutdown -> %d\n", r);
    return 1;
}

static int in_kernel(int fd, int dir) /* dir: 1 TLS_TX, 2 TLS_RX */
{
    unsigned char info[64];
    socklen_t len = 4;
    return getsockopt(fd, 282 /* SOL_TLS */, dir, info, &len) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: seqfuzz SEED STEPS [12|13] [key-update]\n");
        return 2;
    }
    rng = strtoull(argv[1], NULL, 0);
    long steps = strtol(argv[2], NULL, 0);
    int version = argc > 3 && strcmp(argv[3], "12") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    int key_update = argc > 4 && strcmp(argv[4], "key-update") == 0 && version == TLS1_3_VERSION;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# seed %s steps %ld version %s%s\n", argv[1], steps, version == TLS1_3_VERSION ? "1.3" : "1.2",
           key_update ? " key-update" : "");
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    int cfd, sfd;
    if (!sctx || !cctx || loopback_pair(&cfd, &sfd) != 0
        || !use_self_signed_identity(sctx, test_key(EVP_PKEY_EC, 0), 3600))
        return 1;
    /* SEQFUZZ_NO_CHACHA: a kernel without ChaCha20-Poly1305 in kTLS (5.10) */
    int chacha = below(2) && !getenv("SEQFUZZ_NO_CHACHA");
    const char *cipher12 = chacha ? "ECDHE-ECDSA-CHACHA20-POLY1305" : "ECDHE-ECDSA-AES128-GCM-SHA256";
    for (SSL_CTX *x = sctx; x; x = x == sctx ? cctx : NULL) {
        SSL_CTX_set_min_proto_version(x, version);
        SSL_CTX_set_max_proto_version(x, version);
        if (version == TLS1_2_VERSION)
            SSL_CTX_set_cipher_list(x, cipher12);
    }
    SSL_CTX_set_num_tickets(sctx, below(3));
    struct end c = {.name = "client", .ssl = SSL_new(cctx), .fd = cfd};
    struct end s = {.name = "server", .ssl = SSL_new(sctx), .fd = sfd};
    c.peer = &s, s.peer = &c;
    /* no Nagle: a small record must not wait for an ACK, so the other
     * end's bytes are there when its write returns, as often as can be */
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL_set_fd(c.ssl, cfd);
    SSL_set_fd(s.ssl, sfd);
    SSL_set_connect_state(c.ssl);
    SSL_set_accept_state(s.ssl);
    if (!handshake(&c, &s)) {
        unsigned long code = ERR_peek_error();
        printf("handshake FAILED lib=%d reason=%d\n", code ? ERR_GET_LIB(code) : 0,
               code ? ERR_GET_REASON(code) : 0);
        return 1;
    }
    printf("# cipher %s\n", SSL_get_cipher_name(c.ssl));
    struct end *ends[2] = {&c, &s};
    for (long i = 0; i < steps; i++)
        step(ends, key_update);
    int ok = finish(&c, &s);
    printf("# offload client tx=%d rx=%d server tx=%d rx=%d\n", in_kernel(cfd, 1), in_kernel(cfd, 2),
           in_kernel(sfd, 1), in_kernel(sfd, 2));
    printf("streams client->server %" PRIu64 " server->client %" PRIu64 "\n", c.written, s.written);
    SSL_free(c.ssl);
    SSL_free(s.ssl);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    close(cfd);
    close(sfd);
    return ok ? 0 : 1;
}

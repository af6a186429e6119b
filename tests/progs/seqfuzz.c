/* seqfuzz: a seeded sequence of OpenSSL calls on both ends of one TLS
 * connection, in one thread, printing what a program could observe of each:
 * return classes, SSL_get_error, the first error's library and reason, and
 * whether the bytes read are the bytes the other end wrote (each end writes
 * a known pattern, so every read is checked where it lands). Run it with and
 * without the shim (tests/torture/seqfuzz.sh): the transcripts must be the
 * same line for line. How many bytes one read returns is not printed: the
 * kernel may join records OpenSSL hands over one at a time.
 *
 * The steps: SSL_write/_ex, SSL_read/_ex, SSL_peek/_ex, SSL_pending,
 * blocking switches, SSL_key_update (key-update), and (seqfuzz_ops.h)
 * duplicates of a socket held and closed, fork and vfork+exec children that
 * close every descriptor, calls on the write BIO the program holds, file
 * ranges sent with SSL_sendfile, and the connection lost and made again
 * (both sockets closed under live SSLs, a new pair on the same numbers,
 * the old SSLs freed after its handshake). Drawn per connection: SSL_set_fd
 * or split socket BIOs (swapped once before the handshake, or not); per
 * sequence: an interval timer whose SIGALRM (no SA_RESTART) interrupts
 * blocking calls, which are retried as a program would (counted in a '#'
 * line only). Whatever is drawn before the steps is drawn whatever their
 * number: a sequence of K steps is the first K of a longer one's.
 *
 *   seqfuzz SEED STEPS [12|13] [key-update]
 *   (SEQFUZZ_NO_CHACHA=1: TLS 1.2 sequences use AES-GCM only;
 *    SEQFUZZ_SWAP_BIOS=1: a step also gives an SSL new BIOs mid-connection)
 *
 * Lines starting with '#' (offload per end and direction of each
 * connection, the seed, the cipher, signal counts) are not part of the
 * transcript; the last '# offload client' line is the last connection's.
 * The transcript is the same built against OpenSSL 1.1.1 (no SSL_sendfile:
 * those steps write the range with SSL_write, as 3.x does where its
 * SSL_sendfile refuses). Exit status: 0, or 1 when a read saw wrong bytes
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
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
    BIO *held_wbio; /* the program's own write BIO (split BIOs), or NULL */
    int dups[4], ndups; /* extra descriptors of the socket (seqfuzz_ops.h) */
    int file; /* what its sendfile steps send from */
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

/* The next bytes of e's stream, of a drawn size that never lets what is
 * written and not yet read fill a socket: their count (0: no room now). */
static size_t next_chunk(const struct end *e, uint8_t buf[MAX_WRITE])
{
    uint64_t room = MAX_OUTSTANDING - (e->written - e->peer->read);
    size_t n = 1 + below(MAX_WRITE);
    if (n > room)
        n = (size_t)room;
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_at(e, e->written + i);
    return n;
}

#include "seqfuzz_ops.h" /* uses the above */

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
    size_t n = next_chunk(e, buf);
    if (n == 0)
        return 1;
    int ex = below(2);
    size_t done = 0;
    int ret;
    RETRY_EINTR(e->ssl, ret, ex ? SSL_write_ex(e->ssl, buf, n, &done) : SSL_write(e->ssl, buf, (int)n));
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
    errno = 0;
    switch (kind) {
    case 0: ret = SSL_read(e->ssl, buf, (int)n); *got = ret > 0 ? (size_t)ret : 0; break;
    case 1: ret = SSL_read_ex(e->ssl, buf, n, got); break;
    case 2: ret = SSL_peek(e->ssl, buf, (int)n); *got = ret > 0 ? (size_t)ret : 0; break;
    default: ret = SSL_peek_ex(e->ssl, buf, n, got); break;
    }
    if (interrupted(e->ssl, ret, errno))
        goto again;
    if (ret <= 0 && e->nonblocking && e->peer->written > e->read
        && SSL_get_error(e->ssl, ret) == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        if (poll_retry(e->fd, POLLIN) == 1)
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

/* How an end's SSL reaches its socket, drawn per connection before its
 * handshake: SSL_set_fd; two socket BIOs on the same descriptor, the write
 * one held by the program (mod_ssl's shape); or such a pair replaced by a
 * fresh pair before the first SSL call (the shim documents a BIO changed
 * after it began watching as a fallback, FB_CUSTOM_BIO_CHANGED, so the
 * swap stays before the handshake, where both runs must still agree and
 * the connection must still move). */
static void attach(struct end *e)
{
    e->held_wbio = NULL;
    unsigned how = below(4);
    if (how < 2) {
        SSL_set_fd(e->ssl, e->fd);
        return;
    }
    BIO *r = BIO_new_socket(e->fd, BIO_NOCLOSE), *w = BIO_new_socket(e->fd, BIO_NOCLOSE);
    SSL_set_bio(e->ssl, r, w);
    if (how == 3) {
        r = BIO_new_socket(e->fd, BIO_NOCLOSE), w = BIO_new_socket(e->fd, BIO_NOCLOSE);
        SSL_set_bio(e->ssl, r, w); /* frees the first pair */
    }
    e->held_wbio = w; /* valid until SSL_free, as the program's own */
    printf("%s split bios%s\n", e->name, how == 3 ? ", swapped" : "");
}

/* A new connection to the listener kept open for this: the client's socket
 * and the accepted one take the lowest free numbers, which after a
 * reconnect are the two just closed. */
static int open_pair(int listener, int *cfd, int *sfd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    *cfd = *sfd = -1;
    if (getsockname(listener, (struct sockaddr *)&a, &len) != 0
        || (*cfd = socket(AF_INET, SOCK_STREAM, 0)) < 0
        || connect(*cfd, (struct sockaddr *)&a, sizeof(a)) != 0
        || (*sfd = accept(listener, NULL, NULL)) < 0)
        return -1;
    /* no Nagle: a small record must not wait for an ACK, so the other
     * end's bytes are there when its write returns, as often as can be */
    int one = 1;
    setsockopt(*cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

struct world {
    SSL_CTX *cctx, *sctx;
    int listener;
    struct end c, s;
    int connections;
};

/* A connection and its handshake on w->c and w->s; 0 when it failed (said) */
static int connect_ends(struct world *w)
{
    hold_alarm(1); /* connect and accept are the test's plumbing */
    int cfd, sfd;
    int ok = open_pair(w->listener, &cfd, &sfd) == 0;
    hold_alarm(0);
    if (!ok) {
        printf("connection FAILED\n");
        return 0;
    }
    struct end *ends[2] = {&w->c, &w->s};
    for (int i = 0; i < 2; i++) {
        ends[i]->fd = i ? sfd : cfd;
        ends[i]->ssl = SSL_new(i ? w->sctx : w->cctx);
        ends[i]->written = ends[i]->read = 0;
        attach(ends[i]);
    }
    SSL_set_connect_state(w->c.ssl);
    SSL_set_accept_state(w->s.ssl);
    w->connections++;
    if (!handshake(&w->c, &w->s)) {
        unsigned long code = ERR_peek_error();
        printf("handshake FAILED lib=%d reason=%d\n", code ? ERR_GET_LIB(code) : 0,
               code ? ERR_GET_REASON(code) : 0);
        return 0;
    }
    printf("# cipher %s\n", SSL_get_cipher_name(w->c.ssl));
    return 1;
}

static int in_kernel(int fd, int dir) /* dir: 1 TLS_TX, 2 TLS_RX */
{
    unsigned char info[64];
    socklen_t len = 4;
    return getsockopt(fd, 282 /* SOL_TLS */, dir, info, &len) == 0;
}

static void say_offload(const struct world *w, const char *label)
{
    printf("# %s client tx=%d rx=%d server tx=%d rx=%d\n", label, in_kernel(w->c.fd, 1),
           in_kernel(w->c.fd, 2), in_kernel(w->s.fd, 1), in_kernel(w->s.fd, 2));
}

/* The lost client's SSL writes once more while a plain connection holds its
 * old number (a program that writes after a close it did not mean). OpenSSL
 * alone puts ciphertext on that socket, the shim refuses (a lost descriptor
 * fails closed, shim/docs/design.md): how the write went differs by design
 * and is not printed. What must never differ is that no byte of it arrives
 * in clear: a shim that still took the number for the connection would send
 * it with the kernel's keys gone, as plaintext. */
static void leak_probe(struct world *w, SSL *lost, int old_number)
{
    int pfd, peer;
    hold_alarm(1);
    int ok = open_pair(w->listener, &pfd, &peer) == 0;
    hold_alarm(0);
    if (!ok || pfd != old_number) {
        printf("# leak probe: the plain socket is not on the lost number (%d, was %d)\n", pfd, old_number);
        if (pfd >= 0)
            close(pfd);
        if (peer >= 0)
            close(peer);
        return;
    }
    uint8_t clear[512], got[4096];
    for (size_t i = 0; i < sizeof(clear); i++)
        clear[i] = pattern_at(&w->c, i);
    hold_alarm(1);
    SSL_write(lost, clear, sizeof(clear));
    ERR_clear_error();
    shutdown(pfd, SHUT_WR);
    size_t have = 0;
    ssize_t n;
    while (have < sizeof(got) && (n = read(peer, got + have, sizeof(got) - have)) > 0)
        have += (size_t)n;
    hold_alarm(0);
    int leaked = 0;
    for (size_t at = 0; !leaked && at + sizeof(clear) <= have; at++)
        leaked = memcmp(got + at, clear, sizeof(clear)) == 0;
    printf("write after loss: in clear on the reused number: %s\n", leaked ? "YES" : "no");
    close(pfd);
    close(peer);
}

/* The connection is lost and made again: both sockets closed while their
 * SSLs live (a program that closes first and frees later), a new pair on
 * the same numbers, its handshake, and only then the old SSLs freed. A
 * shim that kept the closed numbers' state would take the new sockets for
 * the old connection (not move them, or send with the old keys), and one
 * whose SSL_free of the old SSL touched the number would break the new. */
static int reconnect(struct world *w)
{
    say_offload(w, "offload before reconnect");
    int oldc = w->c.fd, olds = w->s.fd;
    SSL *gone[2] = {w->c.ssl, w->s.ssl};
    close_dups(&w->c);
    close_dups(&w->s);
    close(oldc);
    close(olds);
    printf("closed both sockets\n");
    leak_probe(w, gone[0], oldc);
    if (!connect_ends(w))
        return 0;
    if (w->c.fd != oldc || w->s.fd != olds)
        printf("# new connection on other numbers: client %d (was %d) server %d (was %d)\n", w->c.fd, oldc,
               w->s.fd, olds);
    SSL_free(gone[0]);
    SSL_free(gone[1]);
    printf("reconnected\n");
    return 1;
}

static int swap_bios;

static void step(struct world *w, int key_update)
{
    struct end *e = below(2) ? &w->s : &w->c;
    unsigned what = below(100);
    if (what < 36)
        do_write(e);
    else if (what < 76) {
        if (!do_read(e, 1 + below(MAX_WRITE)))
            exit(1);
    } else if (what < 83)
        set_nonblocking(e, !e->nonblocking);
    else if (what < 86 && key_update) {
        int type = below(2) ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED;
        int r = SSL_key_update(e->ssl, type);
        if (r == 1)
            printf("%s key_update %d -> 1 type %d\n", e->name, type, SSL_get_key_update_type(e->ssl));
        else
            say_outcome(e, "key_update", r);
    } else if (what < 87) {
        /* SSL_pending's number may differ (the kernel holds what OpenSSL
         * would buffer): only that the call is harmless is seen */
        (void)SSL_pending(e->ssl);
        (void)SSL_has_pending(e->ssl);
    } else if (what < 88) {
        /* SEQFUZZ_SWAP_BIOS=1: new BIOs mid-connection. Off by default:
         * the shim fails a moved connection closed when its BIO is
         * replaced, even by one on the same socket (it pins the BIO,
         * design.md "Descriptors are not identities"), where OpenSSL alone
         * goes on (seed 6, both versions, shortest at 77 steps: the
         * server's SSL_set_fd again after its TX and RX moved, then its
         * writes fail, its reads fail with an SSL error and the client's
         * second shutdown waits for ever; replay in the 6.1 guest:
         * SEQFUZZ_SWAP_BIOS=1 SEQFUZZ_RUN_TIMEOUT=20
         * tests/torture/seqfuzz.sh --first 6 --seeds 1 --require-offload). */
        if (swap_bios)
            do_swap_bios(e);
        else
            (void)SSL_has_pending(e->ssl);
    } else if (what < 91)
        do_dup(e);
    else if (what < 92)
        do_child(e, 0);
    else if (what < 93)
        do_child(e, 1);
    else if (what < 95)
        do_held_wbio(e);
    else if (what < 98)
        do_sendfile(e, e->file);
    else if (!reconnect(w))
        exit(1);
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
            int r;
            RETRY_EINTR(ends[i]->ssl, r, SSL_write(ends[i]->ssl, &b, 1));
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
    int r;
    RETRY_EINTR(c->ssl, r, SSL_shutdown(c->ssl));
    printf("client shutdown -> %d\n", r);
    uint8_t b[16];
    RETRY_EINTR(s->ssl, r, SSL_read(s->ssl, b, sizeof(b)));
    if (r <= 0)
        say_outcome(s, "read at close", r);
    RETRY_EINTR(s->ssl, r, SSL_shutdown(s->ssl));
    printf("server shutdown -> %d\n", r);
    RETRY_EINTR(c->ssl, r, SSL_shutdown(c->ssl));
    if (r < 0)
        say_outcome(c, "second shutdown", r);
    else
        printf("client second shutdown -> %d\n", r);
    return 1;
}

/* an unlinked file per end for its sendfile steps */
static int temp_file(void)
{
    char path[] = "/tmp/seqfuzz.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
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
    struct world w = {.sctx = SSL_CTX_new(TLS_server_method()), .cctx = SSL_CTX_new(TLS_client_method())};
    w.c = (struct end){.name = "client", .peer = &w.s, .file = temp_file()};
    w.s = (struct end){.name = "server", .peer = &w.c, .file = temp_file()};
    /* the listener stays open for reconnects, below the connections'
     * numbers (see open_pair) */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    w.listener = socket(AF_INET, SOCK_STREAM, 0);
    if (!w.sctx || !w.cctx || w.c.file < 0 || w.s.file < 0 || w.listener < 0
        || bind(w.listener, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(w.listener, 1) != 0
        || !use_self_signed_identity(w.sctx, test_key(EVP_PKEY_EC, 0), 3600))
        return 1;
    /* Everything drawn before the steps is drawn whatever their number, so
     * a sequence of K steps is the first K of a longer one's (the runner
     * shrinks by that). SEQFUZZ_NO_CHACHA: a kernel without
     * ChaCha20-Poly1305 in kTLS (5.10) */
    int chacha = below(2) && !getenv("SEQFUZZ_NO_CHACHA");
    swap_bios = getenv("SEQFUZZ_SWAP_BIOS") && atoi(getenv("SEQFUZZ_SWAP_BIOS")) == 1;
    const char *cipher12 = chacha ? "ECDHE-ECDSA-CHACHA20-POLY1305" : "ECDHE-ECDSA-AES128-GCM-SHA256";
    for (SSL_CTX *x = w.sctx; x; x = x == w.sctx ? w.cctx : NULL) {
        SSL_CTX_set_min_proto_version(x, version);
        SSL_CTX_set_max_proto_version(x, version);
        if (version == TLS1_2_VERSION)
            SSL_CTX_set_cipher_list(x, cipher12);
    }
    SSL_CTX_set_num_tickets(w.sctx, below(3));
    /* half the sequences run under a timer's signals, 1 to 5 ms apart */
    unsigned timer_us = below(2) ? 1000 + below(4000) : 0;
    if (!connect_ends(&w))
        return 1;
    if (timer_us)
        start_timer(timer_us);
    for (long i = 0; i < steps; i++)
        step(&w, key_update);
    int ok = finish(&w.c, &w.s);
    stop_timer();
    say_offload(&w, "offload");
    printf("# connections %d, signals every %u us, %lu calls repeated after EINTR\n", w.connections,
           timer_us, eintr_retries);
    printf("streams client->server %" PRIu64 " server->client %" PRIu64 "\n", w.c.written, w.s.written);
    close_dups(&w.c);
    close_dups(&w.s);
    SSL_free(w.c.ssl);
    SSL_free(w.s.ssl);
    SSL_CTX_free(w.sctx);
    SSL_CTX_free(w.cctx);
    close(w.c.fd);
    close(w.s.fd);
    close(w.listener);
    return ok ? 0 : 1;
}

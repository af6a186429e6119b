/* sendfile_check: an OpenSSL program that serves a file over TLS with libc
 * sendfile() and SSL_sendfile() (OpenSSL 3.0+; built against 1.1.1, which
 * has no SSL_sendfile, libc sendfile() serves the whole file), then reuses
 * the socket's descriptor number for a plain socket. Run under the shim it
 * must deliver the file through TLS either way (kernel TX: real sendfile;
 * otherwise emulated with SSL_write), and treat the reused number as the
 * plain socket it now is. Whether the kernel encrypts is read from the socket
 * itself (getsockopt SOL_TLS TLS_TX), not from any library's answer.
 * Usage: sendfile_check [1.2|1.3] [--ossl-ktls]. Exit 0 and "PASS ..." on
 * success. --ossl-ktls turns on OpenSSL's own kTLS (3.0+; exit 2 where the
 * OpenSSL has none), whose SSL_sendfile the shim must leave to OpenSSL.
 *
 * sendfile_check partial [1.2|1.3]: the same file over a non-blocking socket
 * with a tiny send buffer and a slow reader, so sendfile and SSL_sendfile
 * keep stopping with EAGAIN; every retry asks for less than the call before.
 * No call may return more than it was asked for, a NULL offset must leave
 * the file position exactly after the bytes returned (also after EAGAIN),
 * SSL_get_error must describe the SSL_sendfile that just failed, and (where
 * TX stays in OpenSSL, so a chunk is held between calls) a call for another
 * offset while one is held must fail with EIO rather than send the old one. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errno.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "loopback.h"
#include "test_identity.h"

#define FILE_BYTES (3 * 65536 + 123)
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#define PART1 100000 /* via libc sendfile, the rest via SSL_sendfile */
#define VIA "sendfile + SSL_sendfile"
#else
#define PART1 FILE_BYTES
#define VIA "sendfile"
#endif
#define SOL_TLS_LEVEL 282
#define TLS_TX_OPT 1

static unsigned char content[FILE_BYTES];

static void die(const char *what)
{
    fprintf(stderr, "FAIL: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void tcp_pair(int *client, int *server)
{
    if (loopback_pair(client, server) != 0)
        die("loopback TCP pair");
}

static int ossl_ktls;

static SSL_CTX *make_ctx(int server, int version)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, version)
        || !SSL_CTX_set_max_proto_version(ctx, version))
        die("ctx");
#ifdef SSL_OP_ENABLE_KTLS
    if (ossl_ktls)
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
    if (server) {
        if (!use_self_signed_identity(ctx, test_ec_key(), 3600))
            die("cert");
    }
    return ctx;
}

/* A server and a client SSL on the two ends. Each SSL holds its own
 * reference to its context: nothing is left for the leak checker. */
static void ssl_pair(int version, int cfd, int sfd, SSL **server, SSL **client)
{
    SSL_CTX *server_ctx = make_ctx(1, version), *client_ctx = make_ctx(0, version);
    *server = SSL_new(server_ctx);
    *client = SSL_new(client_ctx);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    SSL_set_fd(*server, sfd);
    SSL_set_fd(*client, cfd);
}

struct reader {
    SSL *ssl;
    unsigned char got[FILE_BYTES];
    size_t n;
};

static void *client_main(void *arg)
{
    struct reader *r = arg;
    if (SSL_connect(r->ssl) != 1)
        die("SSL_connect");
    while (r->n < FILE_BYTES) {
        int k = SSL_read(r->ssl, r->got + r->n, (int)(FILE_BYTES - r->n));
        if (k <= 0)
            die("client SSL_read (file bytes did not arrive as TLS)");
        r->n += (size_t)k;
    }
    return NULL;
}

/* whether the kernel encrypts, from the socket itself, not any library's answer */
static int socket_tx_in_kernel(int fd)
{
    unsigned char info[64];
    socklen_t info_len = 4; /* struct tls_crypto_info: larger sizes must match the cipher's */
    return getsockopt(fd, SOL_TLS_LEVEL, TLS_TX_OPT, info, &info_len) == 0;
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#define PART2 (PART1 + 50000) /* PART1..PART2 with a NULL offset */

/* Reads slowly, so the server's small send buffer keeps filling up. */
static void *slow_reader(void *arg)
{
    struct reader *r = arg;
    if (SSL_connect(r->ssl) != 1 || SSL_write(r->ssl, "go", 2) != 2)
        die("client handshake");
    while (r->n < FILE_BYTES) {
        int k = SSL_read(r->ssl, r->got + r->n, 4096);
        if (k <= 0)
            die("client SSL_read");
        r->n += (size_t)k;
        usleep(2000);
    }
    return NULL;
}

static void wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 2000);
}

static int eagains, shorter_retries;

/* One call's count: the next of a cycle, or less than the call before after
 * an EAGAIN (a retry may ask for less). */
static size_t next_count(size_t last, int retry)
{
    static const size_t cycle[] = {100000, 5000, 333, 16384, 7};
    static unsigned i;
    if (retry && last > 1) {
        shorter_retries++;
        return last / 2;
    }
    return cycle[i++ % (sizeof(cycle) / sizeof(cycle[0]))];
}

/* Checks one call's result (never more than asked; EAGAIN: wait, and the
 * retry asks for less) and picks the next count. */
static void after_call(ssize_t n, size_t ask, size_t *count, int fd, const char *what)
{
    if (n > (ssize_t)ask) {
        fprintf(stderr, "%s: %zd bytes for a call that asked for %zu\n", what, n, ask);
        die("a call returned more than it was asked for");
    }
    if (n < 0 && errno == EAGAIN) {
        eagains++;
        wait_writable(fd);
        *count = next_count(ask, 1);
        return;
    }
    if (n <= 0)
        die(what);
    *count = next_count(ask, 0);
}

static void check_partial(int version, int file)
{
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    int small = 4096;
    setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    SSL *server, *client;
    ssl_pair(version, cfd, sfd, &server, &client);
    static struct reader r;
    r.ssl = client;
    pthread_t t;
    pthread_create(&t, NULL, slow_reader, &r);
    char go[2];
    if (SSL_accept(server) != 1 || SSL_read(server, go, 2) != 2)
        die("server handshake");
    int kernel_tx = socket_tx_in_kernel(sfd);
    if (kernel_tx) {
        /* The kernel hands TCP each full record flagged "more to come" while
         * a sendfile has more; when the call stops at EAGAIN, TCP holds that
         * record (less than a loopback MSS) for the rest, and a send buffer
         * smaller than one record never turns writable to supply it: on 6.1
         * every TLS 1.2 run wedged so. No real service's buffer is that small;
         * this one keeps room for a record and still fills (slow reader). */
        int one_record_and_more = 32768;
        setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &one_record_and_more, sizeof(one_record_and_more));
    }
    fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK);

    /* a failed SSL_sendfile: SSL_get_error says so, not what the last call said */
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    if (SSL_sendfile(server, dir, 0, 100, 0) != -1)
        die("SSL_sendfile of a directory succeeded");
    if (SSL_get_error(server, -1) != SSL_ERROR_SYSCALL)
        die("SSL_get_error after a failed SSL_sendfile is not SSL_ERROR_SYSCALL (stale)");
    close(dir);

    off_t off = 0;
    size_t count = next_count(0, 0);
    while (off < PART1) {
        size_t ask = count < (size_t)(PART1 - off) ? count : (size_t)(PART1 - off);
        after_call(sendfile(sfd, file, &off, ask), ask, &count, sfd, "sendfile");
    }
    if (lseek(file, PART1, SEEK_SET) != PART1)
        die("lseek");
    off_t sent = PART1;
    while (sent < PART2) {
        size_t ask = count < (size_t)(PART2 - sent) ? count : (size_t)(PART2 - sent);
        ssize_t n = sendfile(sfd, file, NULL, ask);
        int err = errno;
        sent += n > 0 ? n : 0;
        if (lseek(file, 0, SEEK_CUR) != sent)
            die("with a NULL offset the file position is not right after the bytes returned");
        errno = err;
        after_call(n, ask, &count, sfd, "sendfile (NULL offset)");
    }
    off_t pos = PART2;
    while (pos < FILE_BYTES) {
        size_t ask = count < (size_t)(FILE_BYTES - pos) ? count : (size_t)(FILE_BYTES - pos);
        ossl_ssize_t n = SSL_sendfile(server, file, pos, ask, 0);
        if (n < 0) {
            if (SSL_get_error(server, (int)n) != SSL_ERROR_WANT_WRITE)
                die("SSL_sendfile failed other than WANT_WRITE");
            errno = EAGAIN;
        }
        pos += n > 0 ? n : 0;
        after_call(n, ask, &count, sfd, "SSL_sendfile");
    }
    pthread_join(t, NULL);
    if (r.n != FILE_BYTES || memcmp(r.got, content, FILE_BYTES) != 0)
        die("client received different bytes");

    /* nobody reads now: fill the socket until a chunk is held, then ask for
     * another offset (with the kernel's TX nothing is held: no such case) */
    int other_offset = 0;
    if (!kernel_tx) {
        off_t o = 0;
        ssize_t n;
        while ((n = sendfile(sfd, file, &o, 16384)) > 0)
            if (o >= FILE_BYTES)
                o = 0;
        if (n != -1 || errno != EAGAIN)
            die("filling the socket did not end in EAGAIN");
        off_t elsewhere = o + 4096;
        errno = 0;
        if (sendfile(sfd, file, &elsewhere, 100) != -1 || errno != EIO)
            die("sendfile for another offset while a chunk was held did not fail with EIO");
        other_offset = 1;
    }
    SSL_free(server);
    SSL_free(client);
    close(sfd);
    close(cfd);
    printf("PASS partial %s: %d bytes, %d EAGAIN, %d shorter retries, %s%s\n",
           version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2", FILE_BYTES, eagains,
           shorter_retries, kernel_tx ? "kernel TX: real sendfile" : "TX in OpenSSL: emulated",
           other_offset ? ", another offset refused (EIO)" : "");
}
#else
static void check_partial(int version, int file)
{
    (void)version;
    (void)file;
    die("partial: SSL_sendfile arrived in OpenSSL 3.0; this build is against an older one");
}
#endif

int main(int argc, char **argv)
{
    int partial = argc > 1 && strcmp(argv[1], "partial") == 0;
    if (partial) {
        argc--;
        argv++;
    }
    int version = argc > 1 && strcmp(argv[1], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    ossl_ktls = argc > 2 && strcmp(argv[2], "--ossl-ktls") == 0;
#ifndef SSL_OP_ENABLE_KTLS
    if (ossl_ktls) {
        fprintf(stderr, "sendfile_check: --ossl-ktls needs OpenSSL 3.0 or later\n");
        return 2;
    }
#endif
    alarm(120);
    for (size_t i = 0; i < FILE_BYTES; i++)
        content[i] = (unsigned char)(i * 2654435761u >> 13);
    char path[] = "/tmp/sendfile_check.XXXXXX";
    int file = mkstemp(path);
    if (file < 0 || write(file, content, FILE_BYTES) != FILE_BYTES)
        die("temp file");
    unlink(path);
    if (partial) {
        check_partial(version, file);
        return 0;
    }

    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    SSL *server, *client;
    ssl_pair(version, cfd, sfd, &server, &client);
    static struct reader r;
    r.ssl = client;
    pthread_t t;
    pthread_create(&t, NULL, client_main, &r);
    if (SSL_accept(server) != 1)
        die("SSL_accept");
    int kernel_tx = socket_tx_in_kernel(sfd);

    off_t off = 0;
    while (off < PART1) {
        ssize_t n = sendfile(sfd, file, &off, PART1 - (size_t)off);
        if (n <= 0)
            die("sendfile on the TLS socket");
    }
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    off_t pos = off;
    while (pos < FILE_BYTES) {
        ossl_ssize_t n = SSL_sendfile(server, file, pos, FILE_BYTES - (size_t)pos, 0);
        if (n <= 0)
            die("SSL_sendfile");
        pos += n;
    }
#endif
    pthread_join(t, NULL);
    if (r.n != FILE_BYTES || memcmp(r.got, content, FILE_BYTES) != 0)
        die("client received different bytes");

    /* The descriptor number goes back to the system and comes back as a plain
     * socket: sendfile on it must be plain, before and after SSL_free. */
    int old = sfd;
    close(sfd);
    int c2, s2;
    tcp_pair(&c2, &s2);
    if (c2 == old) { /* the number came back on the other end: swap roles */
        c2 = s2;
        s2 = old;
    }
    if (s2 != old && dup2(s2, old) != old)
        die("dup2");
    for (int round = 0; round < 2; round++) {
        off_t o = 0;
        if (sendfile(old, file, &o, 100) != 100)
            die("sendfile on the reused descriptor");
        unsigned char raw[100];
        size_t got = 0;
        while (got < sizeof(raw)) {
            ssize_t k = read(c2, raw + got, sizeof(raw) - got);
            if (k <= 0)
                die("read plain peer");
            got += (size_t)k;
        }
        if (memcmp(raw, content, sizeof(raw)) != 0)
            die("reused descriptor was not treated as a plain socket");
        if (round == 0)
            SSL_free(server); /* its (closed) socket must not touch the new one */
    }
    SSL_free(client);
    printf("PASS %s: %d bytes via " VIA " (%s), reused fd %d stayed plain\n",
           version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2", FILE_BYTES,
           kernel_tx ? "kernel TX: real sendfile" : "TX in OpenSSL: emulated with SSL_write", old);
    return 0;
}

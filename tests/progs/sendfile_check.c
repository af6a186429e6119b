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
 * OpenSSL has none), whose SSL_sendfile the shim must leave to OpenSSL. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1)
        || getsockname(l, (struct sockaddr *)&a, &len))
        die("listen");
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (*client < 0 || connect(*client, (struct sockaddr *)&a, sizeof(a)))
        die("connect");
    *server = accept(l, NULL, NULL);
    if (*server < 0)
        die("accept");
    close(l);
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

int main(int argc, char **argv)
{
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

    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    SSL_CTX *server_ctx = make_ctx(1, version), *client_ctx = make_ctx(0, version);
    SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
    /* each SSL holds its own reference: nothing left for the leak checker */
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    SSL_set_fd(server, sfd);
    SSL_set_fd(client, cfd);
    static struct reader r;
    r.ssl = client;
    pthread_t t;
    pthread_create(&t, NULL, client_main, &r);
    if (SSL_accept(server) != 1)
        die("SSL_accept");
    unsigned char info[64];
    socklen_t info_len = 4; /* struct tls_crypto_info: larger sizes must match the cipher's */
    int kernel_tx = getsockopt(sfd, SOL_TLS_LEVEL, TLS_TX_OPT, info, &info_len) == 0;

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

/* One TLS 1.3 exchange inside the process, over a loopback TCP pair, with
 * whichever OpenSSL the including file is built against: the client sends
 * EXCHANGE_BYTES, the server echoes them, the client checks them. Reports
 * what each end's socket says about kernel TLS (getsockopt SOL_TLS, not any
 * library's answer). Used by two_openssl.c and other_openssl.c, which are
 * built against different OpenSSLs and run in one process. */
#ifndef KTLS_TEST_EXCHANGE_H
#define KTLS_TEST_EXCHANGE_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loopback.h"
#include "test_identity.h"

#define EXCHANGE_BYTES (256 * 1024)

struct exchange_end {
    SSL *ssl;
    int fd, ok;
    unsigned char *buf;
};

static int exchange_all(SSL *s, unsigned char *buf, int n, int writing)
{
    for (int done = 0; done < n;) {
        int k = writing ? SSL_write(s, buf + done, n - done) : SSL_read(s, buf + done, n - done);
        if (k <= 0)
            return 0;
        done += k;
    }
    return 1;
}

static void *exchange_server(void *arg)
{
    struct exchange_end *e = arg;
    e->ok = SSL_accept(e->ssl) == 1 && exchange_all(e->ssl, e->buf, EXCHANGE_BYTES, 0)
            && exchange_all(e->ssl, e->buf, EXCHANGE_BYTES, 1);
    return NULL;
}

static int exchange_kernel(int fd, int dir) /* dir: 1 TLS_TX, 2 TLS_RX */
{
    unsigned char info[64];
    socklen_t len = 4; /* struct tls_crypto_info */
    return getsockopt(fd, 282 /* SOL_TLS */, dir, info, &len) == 0;
}

/* Writes "version=... ok=0|1 fnv=... server_tx=.. server_rx=.. client_tx=..
 * client_rx=.." into out; returns ok. */
static inline int tls_exchange(char *out, size_t outlen)
{
    static unsigned char sent[EXCHANGE_BYTES], echoed[EXCHANGE_BYTES], relay[EXCHANGE_BYTES];
    for (size_t i = 0; i < sizeof(sent); i++)
        sent[i] = (unsigned char)(i * 2654435761u >> 11);
    int cfd, sfd, ok = 0, kernel[4] = {0};
    unsigned fnv = 2166136261u;
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    if (loopback_pair(&cfd, &sfd) == 0 && sctx && cctx
        && SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION)
        && SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION)
        && use_self_signed_identity(sctx, test_key(EVP_PKEY_EC, 0), 3600)) {
        struct exchange_end server = {.ssl = SSL_new(sctx), .fd = sfd, .buf = relay};
        SSL *client = SSL_new(cctx);
        SSL_set_fd(server.ssl, sfd);
        SSL_set_fd(client, cfd);
        pthread_t t;
        pthread_create(&t, NULL, exchange_server, &server);
        int client_ok = SSL_connect(client) == 1 && exchange_all(client, sent, EXCHANGE_BYTES, 1)
                        && exchange_all(client, echoed, EXCHANGE_BYTES, 0);
        pthread_join(t, NULL);
        kernel[0] = exchange_kernel(sfd, 1);
        kernel[1] = exchange_kernel(sfd, 2);
        kernel[2] = exchange_kernel(cfd, 1);
        kernel[3] = exchange_kernel(cfd, 2);
        ok = client_ok && server.ok && memcmp(sent, echoed, sizeof(sent)) == 0;
        for (size_t i = 0; i < sizeof(echoed); i++)
            fnv = (fnv ^ echoed[i]) * 16777619u;
        SSL_shutdown(client);
        SSL_free(client);
        SSL_free(server.ssl);
        close(cfd);
        close(sfd);
    }
    if (!ok)
        ERR_print_errors_fp(stderr);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    snprintf(out, outlen, "version=%lx ok=%d fnv=%08x server_tx=%d server_rx=%d client_tx=%d client_rx=%d",
             (unsigned long)OpenSSL_version_num(), ok, fnv, kernel[0], kernel[1], kernel[2], kernel[3]);
    return ok;
}

#endif

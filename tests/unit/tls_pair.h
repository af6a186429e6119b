/* A real TLS connection inside one process for unit tests: a loopback TCP
 * pair, a client and a server SSL on it, handshake driven step by step from
 * one thread (non-blocking sockets). The shim's modules see real OpenSSL
 * objects; the kernel can be played through kernel_setsockopt. */
#ifndef KTLS_UNIT_TLS_PAIR_H
#define KTLS_UNIT_TLS_PAIR_H

#include <openssl/ssl.h>

struct tls_pair {
    SSL_CTX *server_ctx, *client_ctx;
    SSL *server, *client;
    int server_fd, client_fd;
};

/* A connected loopback TCP pair, blocking: fds[0] the client end. 0 or -1. */
int unit_tcp_pair(int fds[2]);

/* version: TLS1_2_VERSION or TLS1_3_VERSION; cipher: a TLS 1.2 cipher list or
 * TLS 1.3 suite name, or NULL. Returns 0, or -1 (with a unit failure). */
int tls_pair_open(struct tls_pair *p, int version, const char *cipher);
/* Drives both SSLs' SSL_do_handshake until both are done. 0 or -1. */
int tls_pair_handshake(struct tls_pair *p);
/* Frees both SSLs (their shim state with them), the contexts and sockets. */
void tls_pair_close(struct tls_pair *p);

#endif

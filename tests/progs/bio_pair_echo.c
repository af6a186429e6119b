/* bio_pair_echo BYTES: a TLS server and client in one thread, each SSL on
 * one half of a BIO pair (BIO_new_bio_pair) whose other half the program
 * moves to and from its TCP socket itself, the way Dovecot does. BYTES each
 * way; prints
 *   RESULT sent_sha256=... server_received_sha256=... client_received_sha256=... ktls=none|set
 * (ktls: whether either socket got TLS_TX or TLS_RX). The shim must leave
 * every direction in OpenSSL (custom-bio-memory). Exit 0 iff all bytes
 * arrived within 60 s. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "loopback.h"
#include "test_identity.h"

#define SOL_TLS_LEVEL 282

struct end {
    const char *name;
    SSL *ssl;
    BIO *net; /* the program's half of the pair */
    int fd, handshaken;
    size_t sent, received;
    EVP_MD_CTX *hash;
    unsigned char pending[20000]; /* taken from the pair, not yet on the socket */
    size_t pending_len, pending_off;
};

static size_t total;
static unsigned char *payload;

static int want_io(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* The program's pump: pair -> socket and socket -> pair. 1 if a byte moved. */
static int pump(struct end *e)
{
    int moved = 0;
    if (e->pending_off == e->pending_len) {
        int n = BIO_read(e->net, e->pending, (int)sizeof(e->pending));
        e->pending_off = 0;
        e->pending_len = n > 0 ? (size_t)n : 0;
    }
    if (e->pending_off < e->pending_len) {
        ssize_t n = send(e->fd, e->pending + e->pending_off, e->pending_len - e->pending_off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            e->pending_off += (size_t)n;
            moved = 1;
        }
    }
    size_t room = BIO_ctrl_get_write_guarantee(e->net);
    if (room > 0) {
        unsigned char buf[16384];
        ssize_t n = recv(e->fd, buf, room < sizeof(buf) ? room : sizeof(buf), 0);
        if (n > 0 && BIO_write(e->net, buf, (int)n) == n)
            moved = 1;
    }
    return moved;
}

/* One step of the handshake, a write and a read. -1 on a TLS error. */
static int step(struct end *e)
{
    int moved = 0;
    if (!e->handshaken) {
        int r = SSL_do_handshake(e->ssl);
        if (r == 1)
            e->handshaken = moved = 1;
        else if (!want_io(e->ssl, r))
            return -1;
    }
    if (e->handshaken && e->sent < total) {
        size_t len = total - e->sent < 16384 ? total - e->sent : 16384;
        int w = SSL_write(e->ssl, payload + e->sent, (int)len);
        if (w > 0) {
            e->sent += (size_t)w;
            moved = 1;
        } else if (!want_io(e->ssl, w))
            return -1;
    }
    if (e->handshaken && e->received < total) {
        unsigned char buf[16384];
        int r = SSL_read(e->ssl, buf, sizeof(buf));
        if (r > 0) {
            EVP_DigestUpdate(e->hash, buf, (size_t)r);
            e->received += (size_t)r;
            moved = 1;
        } else if (!want_io(e->ssl, r))
            return -1;
    }
    return moved | pump(e);
}

static void setup(struct end *e, const char *name, SSL_CTX *ctx, int fd, int server)
{
    BIO *inner;
    e->name = name;
    e->fd = fd;
    e->ssl = SSL_new(ctx);
    e->hash = EVP_MD_CTX_new();
    if (!e->ssl || !e->hash || !BIO_new_bio_pair(&inner, 0, &e->net, 0)) {
        fprintf(stderr, "bio_pair_echo: setup failed\n");
        exit(2);
    }
    EVP_DigestInit_ex(e->hash, EVP_sha256(), NULL);
    SSL_set_bio(e->ssl, inner, inner);
    if (server)
        SSL_set_accept_state(e->ssl);
    else
        SSL_set_connect_state(e->ssl);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void hex_digest(EVP_MD_CTX *ctx, char *out)
{
    unsigned char md[32];
    unsigned n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static int ktls_set(int fd)
{
    unsigned char info[4];
    socklen_t len = sizeof(info);
    return getsockopt(fd, SOL_TLS_LEVEL, 1, info, &len) == 0
           || getsockopt(fd, SOL_TLS_LEVEL, 2, info, &len) == 0;
}

int main(int argc, char **argv)
{
    total = argc == 2 ? strtoul(argv[1], NULL, 10) : 0;
    if (!total) {
        fprintf(stderr, "usage: bio_pair_echo BYTES\n");
        return 2;
    }
    payload = malloc(total);
    for (size_t i = 0; i < total; i++)
        payload[i] = (unsigned char)((i * 131 + 7) >> 3);
    SSL_CTX *server_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    int cfd, sfd;
    if (!server_ctx || !client_ctx || !use_self_signed_identity(server_ctx, test_ec_key(), 86400)
        || loopback_pair(&cfd, &sfd) != 0) {
        fprintf(stderr, "bio_pair_echo: no identity or no loopback pair\n");
        return 2;
    }
    struct end ends[2] = {0};
    setup(&ends[0], "server", server_ctx, sfd, 1);
    setup(&ends[1], "client", client_ctx, cfd, 0);

    time_t deadline = time(NULL) + 60;
    while (ends[0].received < total || ends[1].received < total) {
        int moved = 0;
        for (int i = 0; i < 2; i++) {
            int r = step(&ends[i]);
            if (r < 0) {
                fprintf(stderr, "bio_pair_echo: %s: TLS error\n", ends[i].name);
                return 1;
            }
            moved |= r;
        }
        if (time(NULL) > deadline) {
            fprintf(stderr, "bio_pair_echo: stuck (server %zu/%zu, client %zu/%zu bytes in)\n",
                    ends[0].received, total, ends[1].received, total);
            return 1;
        }
        if (!moved) {
            struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
            poll(p, 2, 10);
        }
    }
    EVP_MD_CTX *sent = EVP_MD_CTX_new();
    char s[65], sr[65], cr[65];
    EVP_DigestInit_ex(sent, EVP_sha256(), NULL);
    EVP_DigestUpdate(sent, payload, total);
    hex_digest(sent, s);
    hex_digest(ends[0].hash, sr);
    hex_digest(ends[1].hash, cr);
    printf("RESULT sent_sha256=%s server_received_sha256=%s client_received_sha256=%s ktls=%s\n", s,
           sr, cr, ktls_set(sfd) || ktls_set(cfd) ? "set" : "none");
    for (int i = 0; i < 2; i++) {
        SSL_free(ends[i].ssl);
        BIO_free(ends[i].net);
        EVP_MD_CTX_free(ends[i].hash);
    }
    EVP_MD_CTX_free(sent);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    close(sfd);
    close(cfd);
    free(payload);
    return 0;
}

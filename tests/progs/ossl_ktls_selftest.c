/*
 * ossl_ktls_selftest: proves that OpenSSL's own kTLS path works on this kernel,
 * independently of the shim. Client and server run in one process (server in
 * a thread) over a loopback TCP pair, TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256,
 * SSL_OP_ENABLE_KTLS on both sides. Passes only if both directions are
 * offloaded on both sides, 1 MiB goes each way intact, and the kernel's
 * TlsTxSw/TlsRxSw counters rose by at least 2. Exit 0 = pass, 1 = fail.
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror -O2 ossl_ktls_selftest.c -lssl -lcrypto
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "test_identity.h"

#define PAYLOAD (1024 * 1024)
#define CIPHER "ECDHE-ECDSA-AES128-GCM-SHA256"

struct side {
    const char *name;
    SSL *ssl;
    int fd;
    int ok;            /* handshake + transfer succeeded */
    int ktls_send;
    int ktls_recv;
    char err[256];
};

static unsigned char to_server[PAYLOAD], to_client[PAYLOAD];

/* Only the reason text, so the output stays one readable line. */
static void set_err(struct side *s, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(s->err, sizeof(s->err), "%s: %s%s%s", s->name, what,
             e ? ": " : "", buf);
    ERR_clear_error();
}

static int write_all(SSL *ssl, const unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t done = 0;
        if (!SSL_write_ex(ssl, p, n, &done))
            return 0;
        p += done;
        n -= done;
    }
    return 1;
}

static int read_all(SSL *ssl, unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t done = 0;
        if (!SSL_read_ex(ssl, p, n, &done))
            return 0;
        p += done;
        n -= done;
    }
    return 1;
}

/* Handshake, then record what OpenSSL says about offload on this side. */
static int handshake(struct side *s, int is_server)
{
    int r = is_server ? SSL_accept(s->ssl) : SSL_connect(s->ssl);
    if (r != 1) {
        set_err(s, "handshake failed");
        return 0;
    }
    s->ktls_send = (int)BIO_get_ktls_send(SSL_get_wbio(s->ssl));
    s->ktls_recv = (int)BIO_get_ktls_recv(SSL_get_rbio(s->ssl));
    return 1;
}

static void *server_main(void *arg)
{
    struct side *s = arg;
    unsigned char *buf = malloc(PAYLOAD);

    if (!buf) {
        snprintf(s->err, sizeof(s->err), "server: out of memory");
    } else if (handshake(s, 1)) {
        if (!read_all(s->ssl, buf, PAYLOAD))
            set_err(s, "read failed");
        else if (memcmp(buf, to_server, PAYLOAD) != 0)
            snprintf(s->err, sizeof(s->err), "server: received data differs");
        else if (!write_all(s->ssl, to_client, PAYLOAD))
            set_err(s, "write failed");
        else
            s->ok = 1;
    }
    free(buf);
    /* Unblocks the client if we failed half-way. */
    shutdown(s->fd, SHUT_RDWR);
    return NULL;
}

/* Reads TlsTxSw and TlsRxSw; an absent file (tls module not loaded yet)
 * counts as zero, since the counters start at zero when it loads. */
static int read_tls_stat(long *tx, long *rx)
{
    FILE *f = fopen("/proc/net/tls_stat", "r");
    char key[64];
    long val;

    *tx = *rx = 0;
    if (!f)
        return 0;
    while (fscanf(f, "%63s %ld", key, &val) == 2) {
        if (strcmp(key, "TlsTxSw") == 0)
            *tx = val;
        else if (strcmp(key, "TlsRxSw") == 0)
            *rx = val;
    }
    fclose(f);
    return 1;
}

static EVP_PKEY *make_cert(X509 **out)
{
    EVP_PKEY *key = test_ec_key();
    X509 *x = X509_new();
    X509_NAME *name;

    if (!key || !x)
        goto fail;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_set_pubkey(x, key) || !X509_sign(x, key, EVP_sha256()))
        goto fail;
    *out = x;
    return key;
fail:
    X509_free(x);
    EVP_PKEY_free(key);
    return NULL;
}

static SSL_CTX *make_ctx(int is_server, X509 *cert, EVP_PKEY *key)
{
    SSL_CTX *ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return NULL;
    /* TLS 1.2: OpenSSL 3.0 offloads both directions only for 1.2. */
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, CIPHER))
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    if (is_server) {
        if (!SSL_CTX_use_certificate(ctx, cert) || !SSL_CTX_use_PrivateKey(ctx, key))
            goto fail;
    } else {
        /* Trust exactly our ephemeral cert: the handshake is checked too. */
        if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert))
            goto fail;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Loopback pair; the timeouts turn a stuck peer into an error, not a hang. */
static int tcp_pair(int *cfd, int *sfd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    struct timeval tv = { .tv_sec = 60 };
    int lfd = socket(AF_INET, SOCK_STREAM, 0);

    *cfd = *sfd = -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        goto fail;
    *cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&a, sizeof(a)) < 0)
        goto fail;
    *sfd = accept(lfd, NULL, NULL);
    if (*sfd < 0)
        goto fail;
    for (int i = 0; i < 2; i++) {
        int fd = i ? *sfd : *cfd;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    close(lfd);
    return 1;
fail:
    perror("ossl_ktls_selftest: loopback TCP pair");
    if (lfd >= 0)
        close(lfd);
    return 0;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "ossl_ktls_selftest: FAIL: timed out\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    _exit(1);
}

int main(void)
{
    struct side cli = { .name = "client" }, srv = { .name = "server" };
    struct sigaction sa;
    long tx0, rx0, tx1, rx1;
    int stat_after, fail = 0;
    X509 *cert = NULL;
    EVP_PKEY *key;
    SSL_CTX *cctx, *sctx;
    pthread_t th;
    unsigned char *buf;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(300);
    /* A peer that vanished must give an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    for (size_t i = 0; i < PAYLOAD; i++) {
        to_server[i] = (unsigned char)(i * 7 + (i >> 11));
        to_client[i] = (unsigned char)(i * 13 + (i >> 9) + 1);
    }

    key = make_cert(&cert);
    if (!key) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: cannot make a certificate\n");
        return 1;
    }
    cctx = make_ctx(0, cert, key);
    sctx = make_ctx(1, cert, key);
    if (!cctx || !sctx) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: cannot set up SSL_CTX (%s)\n",
                ERR_reason_error_string(ERR_get_error()));
        return 1;
    }

    read_tls_stat(&tx0, &rx0);
    if (!tcp_pair(&cli.fd, &srv.fd))
        return 1;
    cli.ssl = SSL_new(cctx);
    srv.ssl = SSL_new(sctx);
    if (!cli.ssl || !srv.ssl || !SSL_set_fd(cli.ssl, cli.fd) || !SSL_set_fd(srv.ssl, srv.fd)) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: cannot create SSL objects\n");
        return 1;
    }
    if (pthread_create(&th, NULL, server_main, &srv) != 0) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: pthread_create\n");
        return 1;
    }

    buf = malloc(PAYLOAD);
    if (!buf)
        snprintf(cli.err, sizeof(cli.err), "client: out of memory");
    else if (handshake(&cli, 0)) {
        if (!write_all(cli.ssl, to_server, PAYLOAD))
            set_err(&cli, "write failed");
        else if (!read_all(cli.ssl, buf, PAYLOAD))
            set_err(&cli, "read failed");
        else if (memcmp(buf, to_client, PAYLOAD) != 0)
            snprintf(cli.err, sizeof(cli.err), "client: received data differs");
        else
            cli.ok = 1;
    }
    /* Unblocks the server if we failed half-way. */
    shutdown(cli.fd, SHUT_RDWR);
    pthread_join(th, NULL);
    free(buf);
    stat_after = read_tls_stat(&tx1, &rx1);

    printf("ossl_ktls_selftest: %s, %s; ktls send/recv: client %d/%d server %d/%d; "
           "/proc/net/tls_stat TlsTxSw %ld->%ld TlsRxSw %ld->%ld%s; 1 MiB each way: %s\n",
           OpenSSL_version(OPENSSL_VERSION), CIPHER,
           cli.ktls_send, cli.ktls_recv, srv.ktls_send, srv.ktls_recv,
           tx0, tx1, rx0, rx1, stat_after ? "" : " (file absent)",
           cli.ok && srv.ok ? "ok" : "FAILED");

    if (cli.err[0]) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: %s\n", cli.err);
        fail = 1;
    }
    if (srv.err[0]) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: %s\n", srv.err);
        fail = 1;
    }
    if (cli.ok && srv.ok &&
        !(cli.ktls_send == 1 && cli.ktls_recv == 1 && srv.ktls_send == 1 && srv.ktls_recv == 1)) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: kernel kTLS not active: "
                "BIO_get_ktls_send=%d BIO_get_ktls_recv=%d (client), %d/%d (server)\n",
                cli.ktls_send, cli.ktls_recv, srv.ktls_send, srv.ktls_recv);
        fail = 1;
    }
    if (!stat_after) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: /proc/net/tls_stat missing: "
                "the kernel tls module is not loaded\n");
        fail = 1;
    } else if (tx1 - tx0 < 2 || rx1 - rx0 < 2) {
        fprintf(stderr, "ossl_ktls_selftest: FAIL: TlsTxSw rose by %ld, TlsRxSw by %ld "
                "(expected >= 2 each)\n", tx1 - tx0, rx1 - rx0);
        fail = 1;
    }

    SSL_free(cli.ssl);
    SSL_free(srv.ssl);
    close(cli.fd);
    close(srv.fd);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!fail)
        printf("ossl_ktls_selftest: PASS\n");
    return fail;
}

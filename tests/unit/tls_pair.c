#include "tls_pair.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "../progs/test_identity.h"
#include "unit.h"

int unit_tcp_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[0] = fds[1] = -1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int ok = l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0
             && getsockname(l, (struct sockaddr *)&a, &len) == 0
             && (fds[0] = socket(AF_INET, SOCK_STREAM, 0)) >= 0
             && connect(fds[0], (struct sockaddr *)&a, sizeof(a)) == 0
             && (fds[1] = accept(l, NULL, NULL)) >= 0;
    if (l >= 0)
        close(l);
    return ok ? 0 : -1;
}

static int loopback_pair(int *client, int *server)
{
    int fds[2];
    if (unit_tcp_pair(fds) != 0)
        return -1;
    *client = fds[0];
    *server = fds[1];
    fcntl(*client, F_SETFL, O_NONBLOCK);
    fcntl(*server, F_SETFL, O_NONBLOCK);
    return 0;
}

static SSL_CTX *make_ctx(int server, int version, const char *cipher)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    if (cipher)
        (void)(version == TLS1_3_VERSION ? SSL_CTX_set_ciphersuites(ctx, cipher)
                                         : SSL_CTX_set_cipher_list(ctx, cipher));
    if (server) {
        SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
        if (!use_self_signed_identity(ctx, EVP_EC_gen("P-256"), 3600)) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

int tls_pair_open(struct tls_pair *p, int version, const char *cipher)
{
    memset(p, 0, sizeof(*p));
    p->server_fd = p->client_fd = -1;
    if (loopback_pair(&p->client_fd, &p->server_fd) != 0) {
        unit_fail(__FILE__, __LINE__, "no loopback TCP pair");
        return -1;
    }
    p->server_ctx = make_ctx(1, version, cipher);
    p->client_ctx = make_ctx(0, version, cipher);
    if (!p->server_ctx || !p->client_ctx) {
        unit_fail(__FILE__, __LINE__, "no SSL_CTX");
        return -1;
    }
    p->server = SSL_new(p->server_ctx);
    p->client = SSL_new(p->client_ctx);
    if (!p->server || !p->client) {
        unit_fail(__FILE__, __LINE__, "no SSL");
        return -1;
    }
    SSL_set_fd(p->server, p->server_fd);
    SSL_set_fd(p->client, p->client_fd);
    SSL_set_accept_state(p->server);
    SSL_set_connect_state(p->client);
    return 0;
}

static int step(SSL *s, int *done)
{
    if (*done)
        return 0;
    int r = SSL_do_handshake(s);
    if (r == 1) {
        *done = 1;
        return 0;
    }
    int e = SSL_get_error(s, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int tls_pair_handshake(struct tls_pair *p)
{
    int server_done = 0, client_done = 0;
    for (int i = 0; i < 2000 && !(server_done && client_done); i++) {
        if (step(p->client, &client_done) || step(p->server, &server_done)) {
            unit_fail(__FILE__, __LINE__, "handshake failed");
            ERR_print_errors_fp(stdout);
            return -1;
        }
        struct pollfd w[2] = {{.fd = p->client_fd, .events = POLLIN},
                              {.fd = p->server_fd, .events = POLLIN}};
        poll(w, 2, 10);
    }
    if (!(server_done && client_done)) {
        unit_fail(__FILE__, __LINE__, "handshake did not finish");
        return -1;
    }
    return 0;
}

void tls_pair_close(struct tls_pair *p)
{
    SSL_free(p->server);
    SSL_free(p->client);
    SSL_CTX_free(p->server_ctx);
    SSL_CTX_free(p->client_ctx);
    if (p->server_fd >= 0)
        close(p->server_fd);
    if (p->client_fd >= 0)
        close(p->client_fd);
    memset(p, 0, sizeof(*p));
}

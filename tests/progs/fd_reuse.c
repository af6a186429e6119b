/* fd_reuse: a TLS connection's descriptor number is lost and reused while
 * its SSL lives on. Run with the shim preloaded, plaintext must never reach
 * the wire and the new connection must work.
 *
 * fd_reuse --how HOW --b-port PORT [--tls 1.2|1.3] [--bytes N] [--marker STR]
 *
 * Connection A (a client SSL to a TLS server thread in this process) is set
 * up on descriptor X; with the shim on a kTLS kernel its TX moves to the
 * kernel. Then X is lost, and the same number carries a new TCP connection
 * to PORT (a capture proxy in front of a TLS server):
 *   dup2         the new socket is dup2()ed over X
 *   close_range  close_range(X, X, 0), then socket() reuses X
 *   closefrom    closefrom(X), then socket() reuses X
 *   fclose       fclose(fdopen(X)), a close inside libc, then socket() reuses X
 *   syscall      syscall(SYS_close, X): a close no interposer sees
 *   thread       another thread close()s X and a third opens the new socket
 * Then, in this order: A's SSL_write (only when A's TX was the kernel's: as
 * OpenSSL it would be ciphertext the peer rejects, not a leak; it must fail),
 * BIO_get_ktls_send() on a socket BIO for X (must be 0: nothing on it is the
 * kernel's), and connection B: BIO_f_ssl over X, the handshake inside the
 * first BIO_write (out of the shim's sight), --bytes with --marker every 1024
 * bytes, then a TLS shutdown.
 *
 * Prints "RESULT how= a_ktls_tx= a_write_after_loss=refused|sent|skipped
 * bio_ktls_send=N b_sent= b_sent_sha256= b_error=". Exit 0 when B completed,
 * 1 when it failed, 2 on bad usage or when X was not reused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "test_identity.h"

static int version = TLS1_3_VERSION, b_port;
static size_t bytes = 65536;
static const char *how, *marker = "FD-REUSE-MARKER";
static int listen_fd, x_fd = -1, new_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int stage; /* thread mode: 1 X closed, 2 new socket open */

static void usage(const char *why)
{
    fprintf(stderr, "fd_reuse: %s\n", why);
    exit(2);
}

static SSL_CTX *make_ctx(int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    if (server && !use_self_signed_identity(ctx, EVP_EC_gen("P-256"), 3600))
        usage("no identity");
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0); /* A's socket goes away under its server */
    return ctx;
}

/* A's peer: reads until the connection ends. */
static void *a_server(void *arg)
{
    SSL_CTX *ctx = arg;
    int fd = accept(listen_fd, NULL, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        unsigned char buf[4096];
        while (SSL_read(ssl, buf, sizeof(buf)) > 0)
            ;
    }
    SSL_free(ssl);
    close(fd);
    return NULL;
}

/* A connection to port; on descriptor number want if want >= 0. Lower free
 * numbers (another thread's socket come and gone) are held until want comes
 * back, and another thread may hold want for a moment: try again. */
static int tcp_connect_on(int port, int want)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = -1, held[64], nheld = 0;
    for (int i = 0; i < 200; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (want < 0 || fd == want || fd < 0)
            break;
        if (fd < want && nheld < 64) {
            held[nheld++] = fd; /* fills a gap below want */
            continue;
        }
        close(fd);
        usleep(10000);
    }
    while (nheld > 0)
        close(held[--nheld]);
    if (want >= 0 && fd != want)
        usage("the descriptor number was not reused");
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        usage("cannot connect");
    return fd;
}

static int tcp_connect(int port)
{
    return tcp_connect_on(port, -1);
}

static void wait_stage(int want)
{
    pthread_mutex_lock(&lock);
    while (stage < want)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
}

static void set_stage(int s)
{
    pthread_mutex_lock(&lock);
    stage = s;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void *closer(void *arg)
{
    (void)arg;
    close(x_fd);
    set_stage(1);
    return NULL;
}

static void *opener(void *arg)
{
    (void)arg;
    wait_stage(1);
    new_fd = tcp_connect_on(b_port, x_fd);
    set_stage(2);
    return NULL;
}

/* Loses X the chosen way; afterwards X carries a new connection to b_port. */
static void lose_and_reuse(void)
{
    if (!strcmp(how, "dup2")) {
        int fd = tcp_connect(b_port);
        if (dup2(fd, x_fd) != x_fd)
            usage("dup2");
        close(fd);
        return;
    }
    if (!strcmp(how, "thread")) {
        pthread_t a, b;
        pthread_create(&b, NULL, opener, NULL);
        pthread_create(&a, NULL, closer, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    } else {
        if (!strcmp(how, "close_range"))
            close_range((unsigned)x_fd, (unsigned)x_fd, 0);
        else if (!strcmp(how, "closefrom"))
            closefrom(x_fd);
        else if (!strcmp(how, "fclose"))
            fclose(fdopen(x_fd, "r+"));
        else if (!strcmp(how, "syscall"))
            syscall(SYS_close, x_fd);
        else
            usage("unknown --how");
        new_fd = tcp_connect_on(b_port, x_fd);
    }
}

static int ktls_tx_set(int fd)
{
    unsigned char info[4];
    socklen_t len = sizeof(info);
    return getsockopt(fd, 282 /* SOL_TLS */, 1 /* TLS_TX */, info, &len) == 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--how"))
            how = argv[i + 1];
        else if (!strcmp(argv[i], "--b-port"))
            b_port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tls"))
            version = !strcmp(argv[i + 1], "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
        else if (!strcmp(argv[i], "--bytes"))
            bytes = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--marker"))
            marker = argv[i + 1];
        else
            usage("unknown option");
    }
    if (!how || b_port <= 0 || bytes == 0)
        usage("--how and --b-port are required");
    alarm(120);
    signal(SIGPIPE, SIG_IGN);

    /* A: a client connection to a server thread, TX to the kernel if it can */
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(listen_fd, 1)
        || getsockname(listen_fd, (struct sockaddr *)&a, &alen))
        usage("listen");
    SSL_CTX *sctx = make_ctx(1), *cctx = make_ctx(0);
    pthread_t server;
    pthread_create(&server, NULL, a_server, sctx);
    x_fd = tcp_connect(ntohs(a.sin_port));
    SSL *conn_a = SSL_new(cctx);
    SSL_set_fd(conn_a, x_fd);
    if (SSL_connect(conn_a) != 1 || SSL_write(conn_a, "hello", 5) != 5)
        usage("connection A failed");
    int a_tx = ktls_tx_set(x_fd);

    lose_and_reuse();

    unsigned char *payload = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        payload[i] = (unsigned char)('a' + i % 26);
    for (size_t at = 0; at + strlen(marker) <= bytes; at += 1024)
        memcpy(payload + at, marker, strlen(marker));

    const char *after = "skipped";
    if (a_tx)
        after = SSL_write(conn_a, payload, 4096) > 0 ? "sent" : "refused";
    ERR_clear_error();

    BIO *probe = BIO_new_socket(x_fd, BIO_NOCLOSE);
    long bio_ktls_send = BIO_get_ktls_send(probe);
    BIO_free(probe);

    /* B: BIO_f_ssl on the reused number */
    BIO *ssl_bio = BIO_new_ssl(cctx, 1);
    BIO_push(ssl_bio, BIO_new_socket(x_fd, BIO_NOCLOSE));
    size_t sent = 0;
    while (sent < bytes) {
        int n = BIO_write(ssl_bio, payload + sent, (int)(bytes - sent > 16384 ? 16384 : bytes - sent));
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    (void)BIO_flush(ssl_bio);
    SSL *conn_b = NULL;
    BIO_get_ssl(ssl_bio, &conn_b);
    int b_ok = sent == bytes && conn_b && SSL_shutdown(conn_b) >= 0;
    if (b_ok && SSL_shutdown(conn_b) < 0)
        b_ok = 0;
    unsigned long err = ERR_peek_error();

    unsigned char md[32];
    char hex[65];
    EVP_Digest(payload, sent, md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    printf("RESULT how=%s a_ktls_tx=%d a_write_after_loss=%s bio_ktls_send=%ld b_sent=%zu "
           "b_sent_sha256=%s b_error=%s\n",
           how, a_tx, after, bio_ktls_send, sent, hex,
           b_ok ? "none" : err ? ERR_reason_error_string(err) : "io");
    fflush(stdout);
    BIO_free_all(ssl_bio);
    close(x_fd);
    SSL_free(conn_a);
    close(listen_fd);
    free(payload);
    return b_ok ? 0 : 1;
}

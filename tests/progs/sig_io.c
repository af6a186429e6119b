/* sig_io: a signal handler's socket I/O inside a watched OpenSSL call.
 * One TLS 1.3 exchange over loopback: the server on a socket BIO, the client
 * on its own BIO (own_bio.h "custom"), whose first write raises SIGUSR1
 * before it sends. The handler writes a byte on another TCP socket, the first
 * socket a watched call meets in this process (so whatever the shim keeps
 * per descriptor has nothing allocated for it yet). The shim's hooks run inside the
 * handler, and the interrupted code may hold malloc's lock: they must not
 * allocate. This program's malloc, calloc and realloc count the calls made
 * while the handler runs (linked -rdynamic, they are the process's).
 * Prints: RESULT ok=0|1 handler_ran=N handler_allocs=N server_tx= server_rx=
 * client_tx= client_rx= (getsockopt SOL_TLS on each socket). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "exchange.h"
#include "own_bio.h"

/* below the usual 1024 descriptors; the handler's socket is the first any
 * watched call meets in this process, so the shim's table for it is new */
#define SIDE_FD 1000

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

/* per thread: the server's thread allocates meanwhile */
static __thread volatile sig_atomic_t in_handler;
static volatile sig_atomic_t handler_ran, handler_allocs;

void *malloc(size_t n)
{
    if (in_handler)
        handler_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (in_handler)
        handler_allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (in_handler)
        handler_allocs++;
    return __libc_realloc(p, n);
}

static void on_usr1(int sig)
{
    (void)sig;
    in_handler = 1;
    (void)!write(SIDE_FD, "x", 1);
    in_handler = 0;
    handler_ran++;
}


static int write_after_signal(BIO *b, const char *buf, int len)
{
    static int raised;
    if (!raised++)
        raise(SIGUSR1);
    return own_bio_write(b, buf, len);
}

int main(void)
{
    static unsigned char sent[EXCHANGE_BYTES], echoed[EXCHANGE_BYTES], relay[EXCHANGE_BYTES];
    for (size_t i = 0; i < sizeof(sent); i++)
        sent[i] = (unsigned char)(i * 2654435761u >> 11);
    int cfd, sfd, side_a, side_b;
    if (loopback_pair(&side_a, &side_b) != 0 || dup2(side_a, SIDE_FD) != SIDE_FD)
        return perror("side socket"), 2;
    close(side_a);
    if (loopback_pair(&cfd, &sfd) != 0)
        return perror("loopback"), 2;
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    if (!sctx || !cctx || !SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION)
        || !use_self_signed_identity(sctx, test_ec_key(), 3600))
        return ERR_print_errors_fp(stderr), 2;
    struct exchange_end server = {.ssl = SSL_new(sctx), .fd = sfd, .buf = relay};
    SSL_set_fd(server.ssl, sfd);
    SSL *client = SSL_new(cctx);
    /* own_bio.h's "custom" layer, but its first write raises the signal */
    BIO *b = own_bio_new_with(own_bio_method(write_after_signal, "signalling layer"), cfd, OWN_CUSTOM);
    SSL_set_bio(client, b, b);

    pthread_t t;
    pthread_create(&t, NULL, exchange_server, &server);
    int ok = SSL_connect(client) == 1 && exchange_all(client, sent, EXCHANGE_BYTES, 1)
             && exchange_all(client, echoed, EXCHANGE_BYTES, 0);
    pthread_join(t, NULL);
    ok = ok && server.ok && memcmp(sent, echoed, sizeof(sent)) == 0;
    if (!ok)
        ERR_print_errors_fp(stderr);
    char side_byte = 0;
    ssize_t got = read(side_b, &side_byte, 1);
    printf("RESULT ok=%d handler_ran=%d handler_allocs=%d side_byte=%d server_tx=%d server_rx=%d "
           "client_tx=%d client_rx=%d\n",
           ok, (int)handler_ran, (int)handler_allocs, got == 1 && side_byte == 'x',
           exchange_kernel(sfd, 1), exchange_kernel(sfd, 2), exchange_kernel(cfd, 1),
           exchange_kernel(cfd, 2));
    SSL_shutdown(client);
    SSL_free(client);
    SSL_free(server.ssl);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return ok ? 0 : 1;
}

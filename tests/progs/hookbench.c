/* hookbench: what the shim's hooks cost a connection they pass through,
 * measured inside one process (make bench-hooks; run with the shim preloaded).
 *
 * hookbench [--rounds N] [--scale N]
 *
 * Two copies of OpenSSL live in this process: the ordinary one, whose calls
 * (the program's, and OpenSSL's own calls of exported functions such as
 * BIO_ctrl) go through the shim's interposers, and a second one loaded with
 * dlmopen into a namespace of its own, which no LD_PRELOAD reaches. Each arm
 * runs the same operations on its own loopback TCP connection; rounds
 * rotate the order of the arms and each round yields a paired ratio
 * shim/plain. A third arm, another shim-free copy, is the A/A control: its
 * ratio to the plain arm shows what two identical arms differ by here.
 * On a kernel without kTLS every connection passes through: this is the
 * passthrough cost. (Where the kernel has kTLS the shim arm moves its
 * connection to the kernel; the numbers then compare paths, not overhead.)
 *
 * Operations: SSL_write + SSL_read of 16 KiB (one record) and of 1 byte,
 * socket()+close(), and SSL_get_error. Prints per operation: CPU ns per
 * operation (this thread's CPU time) in each arm (medians), the median paired ratio with its 95%
 * distribution-free confidence interval, and the extra ns per call. Then the
 * verdict on "passthrough costs under 1% CPU per GB" from the 16 KiB
 * operation: MET when the whole interval is below 1.01, NOT MET when it is
 * above, otherwise NOT MEASURABLE (with the interval). Exit 0 unless a
 * measurement failed. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "loopback.h"

/* The functions each arm calls, from its own copy of OpenSSL (and libc). */
struct api {
    const char *name;
    const SSL_METHOD *(*tls_server_method)(void);
    const SSL_METHOD *(*tls_client_method)(void);
    SSL_CTX *(*ctx_new)(const SSL_METHOD *);
    void (*ctx_free)(SSL_CTX *);
    int (*use_cert_file)(SSL_CTX *, const char *, int);
    int (*use_key_file)(SSL_CTX *, const char *, int);
    int (*ctx_set_num_tickets)(SSL_CTX *, size_t);
    SSL *(*ssl_new)(SSL_CTX *);
    void (*ssl_free)(SSL *);
    int (*set_fd)(SSL *, int);
    void (*set_accept_state)(SSL *);
    void (*set_connect_state)(SSL *);
    int (*do_handshake)(SSL *);
    int (*write)(SSL *, const void *, int);
    int (*read)(SSL *, void *, int);
    int (*get_error)(const SSL *, int);
    long (*bio_ctrl)(BIO *, int, long, void *);
    BIO *(*get_wbio)(const SSL *);
    int (*close)(int);
};

struct arm {
    struct api f;
    SSL_CTX *sctx, *cctx;
    SSL *server, *client;
    int sfd, cfd;
    double ns[5]; /* this round, per operation */
};

static const char *cert_path, *key_path;

static void die(const char *what)
{
    fprintf(stderr, "hookbench: %s\n", what);
    exit(1);
}

#define BIND(api, h, field, sym)                                                  \
    do {                                                                          \
        *(void **)&(api)->field = dlsym((h), (sym));                              \
        if (!(api)->field)                                                        \
            die("missing " sym);                                                  \
    } while (0)

static void bind_api(struct api *a, void *h, const char *name)
{
    a->name = name;
    BIND(a, h, tls_server_method, "TLS_server_method");
    BIND(a, h, tls_client_method, "TLS_client_method");
    BIND(a, h, ctx_new, "SSL_CTX_new");
    BIND(a, h, ctx_free, "SSL_CTX_free");
    BIND(a, h, use_cert_file, "SSL_CTX_use_certificate_chain_file");
    BIND(a, h, use_key_file, "SSL_CTX_use_PrivateKey_file");
    BIND(a, h, ctx_set_num_tickets, "SSL_CTX_set_num_tickets");
    BIND(a, h, ssl_new, "SSL_new");
    BIND(a, h, ssl_free, "SSL_free");
    BIND(a, h, set_fd, "SSL_set_fd");
    BIND(a, h, set_accept_state, "SSL_set_accept_state");
    BIND(a, h, set_connect_state, "SSL_set_connect_state");
    BIND(a, h, do_handshake, "SSL_do_handshake");
    BIND(a, h, write, "SSL_write");
    BIND(a, h, read, "SSL_read");
    BIND(a, h, get_error, "SSL_get_error");
    BIND(a, h, bio_ctrl, "BIO_ctrl");
    BIND(a, h, get_wbio, "SSL_get_wbio");
    BIND(a, h, close, "close");
}

static void open_arm(struct arm *a)
{
    const struct api *f = &a->f;
    if (loopback_pair(&a->cfd, &a->sfd) != 0)
        die("loopback pair");
    int one = 1;
    setsockopt(a->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(a->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    a->sctx = f->ctx_new(f->tls_server_method());
    a->cctx = f->ctx_new(f->tls_client_method());
    if (!a->sctx || !a->cctx || f->use_cert_file(a->sctx, cert_path, 1) != 1
        || f->use_key_file(a->sctx, key_path, SSL_FILETYPE_PEM) != 1)
        die("contexts");
    f->ctx_set_num_tickets(a->sctx, 0);
    a->server = f->ssl_new(a->sctx);
    a->client = f->ssl_new(a->cctx);
    f->set_fd(a->server, a->sfd);
    f->set_fd(a->client, a->cfd);
    f->set_accept_state(a->server);
    f->set_connect_state(a->client);
    fcntl(a->sfd, F_SETFL, O_NONBLOCK);
    fcntl(a->cfd, F_SETFL, O_NONBLOCK);
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 5000 && !(sdone && cdone); i++) {
        if (!cdone)
            cdone = f->do_handshake(a->client) == 1;
        if (!sdone)
            sdone = f->do_handshake(a->server) == 1;
        struct pollfd p[2] = {{.fd = a->sfd, .events = POLLIN}, {.fd = a->cfd, .events = POLLIN}};
        poll(p, 2, 5);
    }
    if (!(sdone && cdone))
        die("handshake");
    fcntl(a->sfd, F_SETFL, 0);
    fcntl(a->cfd, F_SETFL, 0);
}

/* This thread's CPU time: both ends of each connection run on it (loopback
 * delivery included), and time other processes take from it does not count. */
static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static unsigned char payload[16384], sink[16384];

/* n writes of len bytes, each read back whole. ns per write+read. */
static double write_read(struct arm *a, int len, int n)
{
    const struct api *f = &a->f;
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        if (f->write(a->client, payload, len) != len)
            die("SSL_write");
        for (int got = 0; got < len;) {
            int r = f->read(a->server, sink + got, len - got);
            if (r <= 0)
                die("SSL_read");
            got += r;
        }
    }
    return (now_ns() - t0) / n;
}

static double socket_close(struct arm *a, int n)
{
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || a->f.close(fd) != 0)
            die("socket/close");
    }
    return (now_ns() - t0) / n;
}

static double get_error(struct arm *a, int n)
{
    volatile int sum = 0;
    double t0 = now_ns();
    for (int i = 0; i < n; i++)
        sum += a->f.get_error(a->client, 1);
    (void)sum;
    return (now_ns() - t0) / n;
}

/* BIO_get_ktls_send on the connection's socket BIO: what OpenSSL 3 asks on
 * every record it writes */
static double ktls_send_query(struct arm *a, int n)
{
    BIO *w = a->f.get_wbio(a->client);
    volatile long sum = 0;
    double t0 = now_ns();
    for (int i = 0; i < n; i++)
        sum += a->f.bio_ctrl(w, BIO_CTRL_GET_KTLS_SEND, 0, NULL);
    (void)sum;
    return (now_ns() - t0) / n;
}

enum { OP_16K, OP_1B, OP_CLOSE, OP_GET_ERROR, OP_BIO_CTRL, OPS };
static const char *const op_name[OPS] = {"SSL_write+SSL_read 16 KiB", "SSL_write+SSL_read 1 byte",
                                         "socket()+close()", "SSL_get_error",
                                         "BIO_get_ktls_send"};

static void run_round(struct arm *a, int scale)
{
    a->ns[OP_16K] = write_read(a, 16384, 20 * scale);
    a->ns[OP_1B] = write_read(a, 1, 100 * scale);
    a->ns[OP_CLOSE] = socket_close(a, 100 * scale);
    a->ns[OP_GET_ERROR] = get_error(a, 2000 * scale);
    a->ns[OP_BIO_CTRL] = ktls_send_query(a, 2000 * scale);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Ranks (1-based) of the order statistics bounding a distribution-free
 * ~95% confidence interval for the median of n values (binomial, p = 1/2). */
static void median_ci_ranks(int n, int *lo, int *hi)
{
    double cdf = 0, c = pow(0.5, n); /* P(X = 0) */
    int k = 0;
    for (; k <= n; k++) {
        if (cdf + c > 0.025)
            break;
        cdf += c;
        c = c * (n - k) / (k + 1);
    }
    *lo = k < 1 ? 1 : k;
    *hi = n + 1 - *lo;
}

int main(int argc, char **argv)
{
    int rounds = 30, scale = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--scale"))
            scale = atoi(argv[i + 1]);
        else
            die("usage: hookbench [--rounds N] [--scale N] (cert and key: HOOKBENCH_CERT, HOOKBENCH_KEY)");
    }
    cert_path = getenv("HOOKBENCH_CERT");
    key_path = getenv("HOOKBENCH_KEY");
    if (rounds < 6 || rounds > 1000 || scale < 1 || !cert_path || !key_path)
        die("usage: hookbench [--rounds 6..1000] [--scale N] with HOOKBENCH_CERT and HOOKBENCH_KEY set");
    if (!getenv("LD_PRELOAD"))
        fprintf(stderr, "hookbench: LD_PRELOAD is empty: both arms run without the shim\n");
    /* the ordinary copy, global: the shim (first in line) interposes on it */
    void *own = dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL);
    void *apart = dlmopen(LM_ID_NEWLM, "libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!own || !apart)
        die("cannot load libssl.so.3 twice (dlopen/dlmopen)");
    void *control = dlmopen(LM_ID_NEWLM, "libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!control)
        die("cannot load a third copy of libssl.so.3 (dlmopen)");
    struct arm arm[3];
    memset(arm, 0, sizeof(arm));
    bind_api(&arm[0].f, RTLD_DEFAULT, "shim"); /* the interposers first in line */
    bind_api(&arm[1].f, apart, "plain");
    bind_api(&arm[2].f, control, "control");
    memset(payload, 'x', sizeof(payload));
    for (int i = 0; i < 3; i++) {
        open_arm(&arm[i]);
        run_round(&arm[i], 1); /* warm up */
    }

    double *ratio[OPS], *control_ratio[OPS], *ns[2][OPS];
    for (int op = 0; op < OPS; op++) {
        ratio[op] = calloc((size_t)rounds, sizeof(double));
        control_ratio[op] = calloc((size_t)rounds, sizeof(double));
        ns[0][op] = calloc((size_t)rounds, sizeof(double));
        ns[1][op] = calloc((size_t)rounds, sizeof(double));
    }
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 3; i++) /* rotated: drift hits every arm alike */
            run_round(&arm[(r + i) % 3], scale);
        for (int op = 0; op < OPS; op++) {
            ns[0][op][r] = arm[0].ns[op];
            ns[1][op][r] = arm[1].ns[op];
            ratio[op][r] = arm[0].ns[op] / arm[1].ns[op];
            control_ratio[op][r] = arm[2].ns[op] / arm[1].ns[op];
        }
    }
    int lo, hi;
    median_ci_ranks(rounds, &lo, &hi);
    printf("hook microbenchmark: %d rounds, shim arm = interposed OpenSSL, plain arm = the same\n"
           "OpenSSL loaded apart with dlmopen, control = another such copy; CPU ns per operation\n"
           "(medians); ratio = shim/plain per round: median and ~95%% distribution-free interval\n"
           "(order statistics %d and %d); A/A = control/plain, median and interval\n\n",
           rounds, lo, hi);
    printf("%-26s %11s %11s %8s %15s %9s %15s\n", "operation", "plain ns", "shim ns", "ratio",
           "interval", "extra ns", "A/A interval");
    double verdict_lo = 0, verdict_hi = 0, verdict_med = 0, extra[OPS], plain16k = 0;
    for (int op = 0; op < OPS; op++) {
        double plain = median(ns[1][op], rounds), shim = median(ns[0][op], rounds);
        double med = median(ratio[op], rounds); /* sorts ratio[op] */
        double rlo = ratio[op][lo - 1], rhi = ratio[op][hi - 1];
        (void)median(control_ratio[op], rounds); /* sorts it */
        printf("%-26s %11.1f %11.1f %8.4f %7.4f-%-7.4f %9.1f %7.4f-%-7.4f\n", op_name[op], plain,
               shim, med, rlo, rhi, shim - plain, control_ratio[op][lo - 1],
               control_ratio[op][hi - 1]);
        extra[op] = shim - plain;
        if (op == OP_16K)
            verdict_lo = rlo, verdict_hi = rhi, verdict_med = med, plain16k = plain;
    }
    const char *verdict = verdict_hi < 1.01 ? "MET" : verdict_lo > 1.01 ? "NOT MET" : "NOT MEASURABLE HERE";
    printf("\nverdict: passthrough overhead under 1%% CPU per GB (16 KiB records): %s\n"
           "  median paired ratio %.4f, interval %.4f-%.4f over %d rounds (limit 1.01)\n",
           verdict, verdict_med, verdict_lo, verdict_hi, rounds);
    /* OpenSSL 3.0 passes 4 hooked calls per record written and read: SSL_write,
     * SSL_read, and a BIO_ctrl ktls query in each direction */
    double est = 2 * extra[OP_GET_ERROR] + 2 * extra[OP_BIO_CTRL];
    printf("  estimate from the per-call costs: 2 hooked SSL calls (%.1f ns each) + 2 BIO_ctrl\n"
           "  queries (%.1f ns each) = %.1f ns per 16 KiB written and read, %.2f%% of %.0f ns\n",
           extra[OP_GET_ERROR], extra[OP_BIO_CTRL], est, 100 * est / plain16k, plain16k);
    return 0;
}

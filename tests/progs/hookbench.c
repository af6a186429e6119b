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
 * above, otherwise NOT MEASURABLE (with the interval).
 *
 * Then the libc hooks (read, write, recv, send, readv, writev, poll), which
 * every preloaded process passes through on every descriptor: each called
 * through the PLT (the shim's interposer first in line) and at libc's own
 * address (dlsym on libc's handle), on a plain TCP socket: a read that finds
 * nothing (EAGAIN, as an event loop ends its reads), poll with timeout 0, and
 * a 1-byte write read back (per call: half the pair). Conditions: no
 * connection the shim watches; a custom-BIO connection open (the hooks then
 * look each descriptor up); after it ended. The last two only where the
 * kernel takes keys: elsewhere the shim watches no custom BIO. Verdict
 * against at most 2 ns added per call. Exit 0 unless a measurement failed. */
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
#include <sys/uio.h>
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

/* Both ends of a loopback pair in one thread: non-blocking until both
 * handshakes are done, blocking again after. */
static void handshake_pair(const struct api *cf, SSL *client, int cfd, const struct api *sf, SSL *server, int sfd,
                           const char *what)
{
    fcntl(sfd, F_SETFL, O_NONBLOCK);
    fcntl(cfd, F_SETFL, O_NONBLOCK);
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 5000 && !(sdone && cdone); i++) {
        if (!cdone)
            cdone = cf->do_handshake(client) == 1;
        if (!sdone)
            sdone = sf->do_handshake(server) == 1;
        struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
        poll(p, 2, 5);
    }
    if (!(sdone && cdone))
        die(what);
    fcntl(sfd, F_SETFL, 0);
    fcntl(cfd, F_SETFL, 0);
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
    handshake_pair(f, a->client, a->cfd, f, a->server, a->sfd, "handshake");
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

/* ---- the libc hooks ---- */

struct libc_api {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    int (*poll)(struct pollfd *, nfds_t, int);
};

/* through the PLT: what the program calls, the shim's interposers first */
static const struct libc_api hooked = {read, write, recv, send, readv, writev, poll};

static void bind_libc(struct libc_api *l)
{
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        die("libc.so.6 not loaded?");
#define LIBC(field)                                                                 \
    do {                                                                            \
        *(void **)&l->field = dlsym(h, #field);                                     \
        if (!l->field)                                                              \
            die("libc's own " #field " not found");                                 \
    } while (0)
    LIBC(read);
    LIBC(write);
    LIBC(recv);
    LIBC(send);
    LIBC(readv);
    LIBC(writev);
    LIBC(poll);
#undef LIBC
}

enum { L_READ, L_RECV, L_READV, L_POLL, L_WRITE_READ, L_SEND_RECV, L_WRITEV_READV, LOPS };
static const char *const lop_name[LOPS] = {"read (EAGAIN)", "recv (EAGAIN)", "readv (EAGAIN)", "poll (timeout 0)",
                                           "write+read 1 byte", "send+recv 1 byte", "writev+readv 1 byte"};
static const int lop_calls[LOPS] = {1, 1, 1, 1, 2, 2, 2}; /* libc calls per operation */

/* empty: a non-blocking pair nothing is sent on; busy: a blocking pair */
static int empty_fd, busy_w, busy_r;

static double wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* the vDSO: no syscall, not hooked */
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* One operation through l, timed alone. */
static double libc_once(const struct libc_api *l, int op)
{
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    struct pollfd p = {.fd = empty_fd, .events = POLLIN};
    int ok = 0;
    double t0 = wall_ns();
    switch (op) {
    case L_READ: ok = l->read(empty_fd, &byte, 1) == -1; break;
    case L_RECV: ok = l->recv(empty_fd, &byte, 1, 0) == -1; break;
    case L_READV: ok = l->readv(empty_fd, &iov, 1) == -1; break;
    case L_POLL: ok = l->poll(&p, 1, 0) == 0; break;
    case L_WRITE_READ: ok = l->write(busy_w, &byte, 1) == 1 && l->read(busy_r, &byte, 1) == 1; break;
    case L_SEND_RECV: ok = l->send(busy_w, &byte, 1, 0) == 1 && l->recv(busy_r, &byte, 1, 0) == 1; break;
    case L_WRITEV_READV: ok = l->writev(busy_w, &iov, 1) == 1 && l->readv(busy_r, &iov, 1) == 1; break;
    }
    double t = wall_ns() - t0;
    if (!ok)
        die(lop_name[op]);
    return t;
}

/* n pairs, a then b and b then a in turn, each call timed alone: a system
 * call costs a microsecond here and varies by more than the few ns sought,
 * so the two arms alternate call by call and the round's value is the mean
 * paired difference a - b per libc call. *a_ns, *b_ns: the arms' means. */
static double libc_pairs(const struct libc_api *a, const struct libc_api *b, int op, int n, double *a_ns,
                         double *b_ns)
{
    double sa = 0, sb = 0;
    for (int i = 0; i < n; i++) {
        if (i & 1) {
            sb += libc_once(b, op);
            sa += libc_once(a, op);
        } else {
            sa += libc_once(a, op);
            sb += libc_once(b, op);
        }
    }
    *a_ns = sa / n;
    *b_ns = sb / n;
    return (sa - sb) / n / lop_calls[op];
}

static int kernel_takes_tls(void)
{
    int a, b, ok;
    if (loopback_pair(&a, &b) != 0)
        return 0;
    ok = setsockopt(a, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
    close(a);
    close(b);
    return ok;
}

/* A connection whose client has a BIO of the program's own over the socket
 * (as mod_ssl's, HAProxy's): the shim arm's OpenSSL, through the hooks. */
struct own_bio {
    BIO_METHOD *(*meth_new)(int, const char *);
    int (*set_write)(BIO_METHOD *, int (*)(BIO *, const char *, int));
    int (*set_read)(BIO_METHOD *, int (*)(BIO *, char *, int));
    int (*set_ctrl)(BIO_METHOD *, long (*)(BIO *, int, long, void *));
    BIO *(*bio_new)(const BIO_METHOD *);
    void (*set_data)(BIO *, void *);
    void *(*get_data)(BIO *);
    void (*set_init)(BIO *, int);
    void (*set_bio)(SSL *, BIO *, BIO *);
};
static struct own_bio ob;

static int own_write(BIO *b, const char *buf, int len)
{
    return (int)write((int)(intptr_t)ob.get_data(b), buf, (size_t)len);
}

static int own_read(BIO *b, char *buf, int len)
{
    return (int)read((int)(intptr_t)ob.get_data(b), buf, (size_t)len);
}

static long own_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH;
}

struct watched {
    SSL *client, *server;
    int cfd, sfd;
};

static void open_custom_bio(struct watched *w, const struct api *shim, const struct api *plain, struct arm *ctx_of)
{
    if (!ob.meth_new) {
        BIND(&ob, RTLD_DEFAULT, meth_new, "BIO_meth_new");
        BIND(&ob, RTLD_DEFAULT, set_write, "BIO_meth_set_write");
        BIND(&ob, RTLD_DEFAULT, set_read, "BIO_meth_set_read");
        BIND(&ob, RTLD_DEFAULT, set_ctrl, "BIO_meth_set_ctrl");
        BIND(&ob, RTLD_DEFAULT, bio_new, "BIO_new");
        BIND(&ob, RTLD_DEFAULT, set_data, "BIO_set_data");
        BIND(&ob, RTLD_DEFAULT, get_data, "BIO_get_data");
        BIND(&ob, RTLD_DEFAULT, set_init, "BIO_set_init");
        BIND(&ob, RTLD_DEFAULT, set_bio, "SSL_set_bio");
    }
    if (loopback_pair(&w->cfd, &w->sfd) != 0)
        die("loopback pair");
    BIO_METHOD *m = ob.meth_new(BIO_TYPE_SOURCE_SINK | 0x80, "hookbench own");
    ob.set_write(m, own_write);
    ob.set_read(m, own_read);
    ob.set_ctrl(m, own_ctrl);
    BIO *b = ob.bio_new(m);
    ob.set_data(b, (void *)(intptr_t)w->cfd);
    ob.set_init(b, 1);
    w->client = shim->ssl_new(ctx_of[0].cctx);
    w->server = plain->ssl_new(ctx_of[1].sctx);
    ob.set_bio(w->client, b, b);
    plain->set_fd(w->server, w->sfd);
    shim->set_connect_state(w->client);
    plain->set_accept_state(w->server);
    handshake_pair(shim, w->client, w->cfd, plain, w->server, w->sfd, "custom-BIO handshake");
    for (int i = 0; i < 3; i++) { /* data both ways: a record boundary for the shim's decision */
        char buf[64];
        if (shim->write(w->client, "ping", 4) != 4 || plain->read(w->server, buf, sizeof(buf)) != 4
            || plain->write(w->server, "pong", 4) != 4 || shim->read(w->client, buf, sizeof(buf)) != 4)
            die("custom-BIO exchange");
    }
}

static void close_custom_bio(struct watched *w, const struct api *shim, const struct api *plain)
{
    shim->ssl_free(w->client);
    plain->ssl_free(w->server);
    close(w->cfd);
    close(w->sfd);
}

/* Per round and operation: the hooked-vs-libc pairs, then libc-vs-libc
 * pairs (the A/A control: what the method reads where nothing differs). */
static void libc_condition(const char *condition, int rounds, int scale, const struct libc_api *own,
                           double *worst_hi, double *worst_lo)
{
    double *diff[LOPS], *aa[LOPS], *ns[2][LOPS], unused;
    for (int op = 0; op < LOPS; op++) {
        diff[op] = calloc((size_t)rounds, sizeof(double));
        aa[op] = calloc((size_t)rounds, sizeof(double));
        ns[0][op] = calloc((size_t)rounds, sizeof(double));
        ns[1][op] = calloc((size_t)rounds, sizeof(double));
        (void)libc_pairs(&hooked, own, op, 200, &unused, &unused); /* warm up */
    }
    for (int r = 0; r < rounds; r++)
        for (int op = 0; op < LOPS; op++) {
            int n = (op >= L_WRITE_READ ? 20 : 100) * scale;
            diff[op][r] = libc_pairs(&hooked, own, op, n, &ns[0][op][r], &ns[1][op][r]);
            aa[op][r] = libc_pairs(own, own, op, n, &unused, &unused);
        }
    int lo, hi;
    median_ci_ranks(rounds, &lo, &hi);
    printf("\n%s\n", condition);
    for (int op = 0; op < LOPS; op++) {
        double plain = median(ns[1][op], rounds), shim = median(ns[0][op], rounds);
        double med = median(diff[op], rounds); /* sorts */
        (void)median(aa[op], rounds);
        printf("%-26s %11.1f %11.1f %8.1f %7.1f..%-7.1f %7.1f..%-7.1f\n", lop_name[op], plain, shim, med,
               diff[op][lo - 1], diff[op][hi - 1], aa[op][lo - 1], aa[op][hi - 1]);
        if (diff[op][hi - 1] > *worst_hi)
            *worst_hi = diff[op][hi - 1];
        if (diff[op][lo - 1] > *worst_lo)
            *worst_lo = diff[op][lo - 1];
        free(diff[op]), free(aa[op]), free(ns[0][op]), free(ns[1][op]);
    }
}

static void libc_section(int rounds, int scale, struct arm *arm)
{
    struct libc_api own;
    bind_libc(&own);
    int e1;
    if (loopback_pair(&e1, &empty_fd) != 0 || loopback_pair(&busy_w, &busy_r) != 0)
        die("loopback pairs");
    fcntl(empty_fd, F_SETFL, O_NONBLOCK);
    int one = 1;
    setsockopt(busy_w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    printf("\nlibc hooks: the same libc function through the PLT (the shim's interposer) and at\n"
           "libc's own address, on a plain TCP socket, alternating call by call; wall ns per\n"
           "operation (medians of the rounds' means); added = hooked - libc per libc call (a pair:\n"
           "half), median and ~95%% interval over the rounds; A/A = libc - libc the same way\n");
    printf("%-26s %11s %11s %8s %16s %16s\n", "operation", "libc ns", "hooked ns", "added", "interval",
           "A/A interval");
    double worst_hi = -1e9, worst_lo = -1e9;
    libc_condition("no connection watched (the shim holds only TLS sockets in OpenSSL):", rounds, scale, &own,
                   &worst_hi, &worst_lo);
    if (kernel_takes_tls()) {
        struct watched w;
        open_custom_bio(&w, &arm[0].f, &arm[1].f, arm);
        libc_condition("a custom-BIO connection open (each call's descriptor is looked up):", rounds, scale, &own,
                       &worst_hi, &worst_lo);
        close_custom_bio(&w, &arm[0].f, &arm[1].f);
        libc_condition("after that connection ended:", rounds, scale, &own, &worst_hi, &worst_lo);
    } else
        printf("\na custom-BIO connection open, and after it: not measured (this kernel takes no TLS keys,\n"
               "and the shim watches custom BIOs only where it does)\n");
    const char *verdict = worst_hi <= 2 ? "MET" : worst_lo > 2 ? "NOT MET" : "NOT MEASURABLE HERE";
    printf("\nverdict: libc hooks add at most 2 ns per call: %s\n"
           "  largest interval bounds over the rows: lower %.1f ns, upper %.1f ns\n",
           verdict, worst_lo, worst_hi);
    close(e1), close(empty_fd), close(busy_w), close(busy_r);
}

/* What KTLS_SHIM_CPU_SAMPLE costs, from its parts measured here: a sampled
 * call reads CLOCK_THREAD_CPUTIME_ID twice; every call of a process with
 * stats on draws a xorshift number from a thread-local state (done here the
 * same way). At the default rate, against the SSL rows' plain costs. */
static __thread uint64_t bench_draw_state = 0x9e3779b97f4a7c15ULL;

static void sampling_section(double plain_16k, double plain_1b)
{
    const double rate = 0.005; /* the knob's default */
    int n = 200000;
    struct timespec t;
    double t0 = now_ns();
    for (int i = 0; i < n; i++)
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    double clock_ns = (now_ns() - t0) / n;
    volatile uint64_t sink_draw = 0;
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
        uint64_t x = bench_draw_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bench_draw_state = x;
        sink_draw += x < 184467440737095516ULL;
    }
    double draw_ns = (now_ns() - t0) / n;
    /* two hooked calls (SSL_write, SSL_read) per operation of the SSL rows */
    double per_call = draw_ns + rate * 2 * clock_ns;
    double share_1b = 2 * per_call / plain_1b, share_16k = 2 * per_call / plain_16k;
    printf("\nCPU sampling (KTLS_SHIM_CPU_SAMPLE, default %.3g), from its parts measured here:\n"
           "  clock_gettime(CLOCK_THREAD_CPUTIME_ID) %.1f ns, draw %.1f ns: %.1f ns per call on average\n"
           "  = %.3f%% of a 1-byte SSL_write+SSL_read (%.0f ns), %.3f%% of a 16 KiB one (%.0f ns)\n",
           rate, clock_ns, draw_ns, per_call, 100 * share_1b, plain_1b, 100 * share_16k, plain_16k);
    printf("verdict: sampling at the default rate costs under 0.5%% (1-byte calls, the worst case): %s\n",
           share_1b < 0.005 ? "MET" : "NOT MET");
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
    sampling_section(plain16k, median(ns[1][OP_1B], rounds));
    libc_section(rounds, scale, arm);
    return 0;
}

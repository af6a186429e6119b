/* tls_peer: an ordinary OpenSSL 3 TLS client/server for the test suite.
 *
 * It does what a normal application does (SSL_set_fd on a TCP socket,
 * SSL_connect/SSL_accept or SSL_do_handshake, SSL_read/SSL_write or the _ex
 * forms, SSL_shutdown, SSL_get_error), so that running it with the shim
 * LD_PRELOADed exercises the shim exactly like a real program would. It moves
 * deterministic pseudo-random bytes, hashes what really went through
 * SSL_write/SSL_read, and ends every connection with one line:
 *
 *   RESULT role=.. version=.. cipher=.. sent=N sent_sha256=HEX received=N
 *          received_sha256=HEX ktls_tx=0|1 ktls_rx=0|1 ulp=tls|none
 *          shutdown=N error=none|TOKEN [msgcb_calls=N]
 *
 * Exit status: 0 success, 1 TLS/IO error, 2 usage error, 3 timeout.
 * See tests/progs/README.md for the options. */

/* The running SHA-256 states must be finalisable from the SIGALRM handler
 * (the timeout still reports what was moved). The low-level SHA256_CTX is a
 * plain struct with no allocation or locking, unlike an EVP_MD_CTX, so this
 * program uses it on purpose and silences its 3.0 deprecation. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/tls.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define MAX_BUF (64u << 20) /* largest --chunk / --read-chunk accepted */

enum role { ROLE_CLIENT, ROLE_SERVER };
enum api { API_CLASSIC, API_EX };
enum sdmode { SD_BIDI, SD_UNI, SD_NONE };
enum order { ORDER_AUTO, ORDER_CONCURRENT, ORDER_SEQUENTIAL };

static struct opts {
    enum role role;
    const char *host;
    unsigned port;
    int tls_version; /* 0: library default range */
    const char *cipher;
    const char *cert, *key;
    uint64_t send, expect, seed;
    size_t chunk, read_chunk;
    int echo;
    unsigned long accept_count;
    enum order order;
    int nonblock;
    enum api api;
    int partial, implicit, do_handshake, peek;
    enum sdmode shutdown;
    const char *sess_in, *sess_out;
    int ktls_native;
    const char *keylog;
    int msgcb;
    unsigned long sleep_ms;
    unsigned timeout;
} O = {
    .host = "127.0.0.1",
    .seed = 1,
    .chunk = 16384,
    .read_chunk = 16384,
    .accept_count = 1,
    .timeout = 60,
};

/* ---------------------------------------------------------------- data */

/* The byte stream: xorshift64 (13, 7, 17) words, least significant byte
 * first, state = splitmix64(seed ^ role constant), so the two directions of
 * one exchange never carry the same bytes. Independent of chunk sizes. */
struct rng {
    uint64_t s, word;
    unsigned left;
};

static void rng_init(struct rng *r, uint64_t seed, enum role role)
{
    uint64_t z = seed ^ (role == ROLE_SERVER ? 0x7365727665720000ull : 0x636c69656e740000ull);
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    r->s = z ? z : 1;
    r->left = 0;
}

static void rng_fill(struct rng *r, unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r->left == 0) {
            uint64_t x = r->s;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r->s = r->word = x;
            r->left = 8;
        }
        p[i] = (unsigned char)r->word;
        r->word >>= 8;
        r->left--;
    }
}

/* ---------------------------------------------------------- connection */

struct conn {
    int fd;
    SSL *ssl;
    uint64_t sent, received;
    SHA256_CTX tx_sha, rx_sha;
    struct rng rng;
    unsigned char *txbuf, *rbuf, *pbuf;
    const unsigned char *pend; /* bytes being written; a retry reuses them */
    size_t pend_len, pend_off;
    size_t peeked; /* bytes SSL_peek returned that SSL_read has not yet */
    int eof;       /* close_notify seen by a read */
    unsigned long peek_mismatch;
    unsigned long msgcb_calls, msgcb_badarg;
    unsigned long n_calls[3], n_short_writes, n_want_read, n_want_write; /* stderr stats */
    int measured, ktls_tx, ktls_rx;
    char ulp[16];
    char err[200]; /* first error; empty = none so far */
};

/* The connection whose RESULT line is still due (NULL: none is). The timeout
 * handler reports it. */
static struct conn *volatile g_conn;
static sigset_t g_alarm_set;
static FILE *g_keylog;
static SSL_SESSION *g_sess_in;

static const char *role_name(void)
{
    return O.role == ROLE_SERVER ? "server" : "client";
}

static void conn_init(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    SHA256_Init(&c->tx_sha);
    SHA256_Init(&c->rx_sha);
    rng_init(&c->rng, O.seed, O.role);
}

static void conn_free(struct conn *c)
{
    free(c->txbuf);
    free(c->rbuf);
    free(c->pbuf);
    c->txbuf = c->rbuf = c->pbuf = NULL;
}

/* Hash and count together, with SIGALRM held off so a timeout report never
 * sees a half-updated state. */
static void account(SHA256_CTX *sha, uint64_t *count, const void *p, size_t n)
{
    sigset_t old;
    if (O.timeout)
        sigprocmask(SIG_BLOCK, &g_alarm_set, &old);
    SHA256_Update(sha, p, n);
    *count += n;
    if (O.timeout)
        sigprocmask(SIG_SETMASK, &old, NULL);
}

__attribute__((format(printf, 2, 3))) static void set_err(struct conn *c, const char *fmt, ...)
{
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    for (char *p = c->err; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '=')
            *p = '_';
}

static const char *errno_name(int e)
{
    const char *n = strerrorname_np(e);
    static char buf[24];
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "errno%d", e);
    return buf;
}

/* Records a failed SSL call: CODE from SSL_get_error, E the errno right after
 * the call. Prints OpenSSL's error queue to stderr. */
static void ssl_fail(struct conn *c, const char *what, int code, int e)
{
    unsigned long first = ERR_peek_error();
    const char *reason = first ? ERR_reason_error_string(first) : NULL;
    char tok[160];
    if (!reason)
        reason = "unknown";
    if (code == SSL_ERROR_SYSCALL && e != 0)
        snprintf(tok, sizeof(tok), "syscall:%s", errno_name(e));
    else if (code == SSL_ERROR_SYSCALL && !first)
        snprintf(tok, sizeof(tok), "syscall:eof");
    else if (code == SSL_ERROR_ZERO_RETURN)
        snprintf(tok, sizeof(tok), "eof");
    else
        snprintf(tok, sizeof(tok), "ssl:%d:%s", code, reason);
    set_err(c, "%s", tok);
    fprintf(stderr, "tls_peer %s: %s failed: SSL_get_error=%d errno=%d (%s): %s\n", role_name(),
            what, code, e, e ? strerror(e) : "-", tok);
    ERR_print_errors_fp(stderr);
}

static void sys_fail(struct conn *c, const char *what, int e)
{
    set_err(c, "syscall:%s", errno_name(e));
    fprintf(stderr, "tls_peer %s: %s: %s\n", role_name(), what, strerror(e));
}

/* ---------------------------------------------------------- the report */

/* Async-signal-safe formatting: used by the normal report and by the
 * SIGALRM handler alike, so both lines have the same shape. */
struct out {
    char *p;
    size_t n, cap;
};

static void put_s(struct out *o, const char *s)
{
    while (*s && o->n + 1 < o->cap)
        o->p[o->n++] = *s++;
    o->p[o->n] = 0;
}

static void put_u(struct out *o, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i && o->n + 1 < o->cap)
        o->p[o->n++] = tmp[--i];
    o->p[o->n] = 0;
}

static void put_hex(struct out *o, const unsigned char *d, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len && o->n + 2 < o->cap; i++) {
        o->p[o->n++] = hex[d[i] >> 4];
        o->p[o->n++] = hex[d[i] & 15];
    }
    o->p[o->n] = 0;
}

static void put_sha(struct out *o, const SHA256_CTX *ctx)
{
    SHA256_CTX copy = *ctx;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_Final(md, &copy);
    put_hex(o, md, sizeof(md));
}

/* Is the kernel's TLS_TX / TLS_RX state configured on FD? Asking with the
 * bare header size returns just {version, cipher_type}: no key material. */
static int ktls_dir(int fd, int dir)
{
    struct tls_crypto_info info;
    socklen_t len = sizeof(info);
    if (fd < 0)
        return 0;
    return getsockopt(fd, SOL_TLS, dir, &info, &len) == 0;
}

static void ulp_name(int fd, char *out, size_t size)
{
    char name[16] = {0};
    socklen_t len = sizeof(name) - 1;
    size_t j = 0;
    if (fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_ULP, name, &len) == 0)
        for (size_t i = 0; i < len && name[i] && j + 1 < size; i++) {
            char ch = name[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
                out[j++] = ch;
        }
    out[j] = 0;
    if (!j)
        snprintf(out, size, "none");
}

static void measure(struct conn *c)
{
    c->ktls_tx = ktls_dir(c->fd, TLS_TX);
    c->ktls_rx = ktls_dir(c->fd, TLS_RX);
    ulp_name(c->fd, c->ulp, sizeof(c->ulp));
    c->measured = 1;
}

static void format_result(struct conn *c, struct out *o, const char *error)
{
    const SSL_CIPHER *ciph = c->ssl ? SSL_get_current_cipher(c->ssl) : NULL;
    int tx = c->measured ? c->ktls_tx : ktls_dir(c->fd, TLS_TX);
    int rx = c->measured ? c->ktls_rx : ktls_dir(c->fd, TLS_RX);
    char ulp[16];
    if (c->measured)
        memcpy(ulp, c->ulp, sizeof(ulp));
    else
        ulp_name(c->fd, ulp, sizeof(ulp));

    put_s(o, "RESULT role=");
    put_s(o, role_name());
    put_s(o, " version=");
    put_s(o, ciph ? SSL_get_version(c->ssl) : "none");
    put_s(o, " cipher=");
    put_s(o, ciph ? SSL_CIPHER_get_name(ciph) : "none");
    put_s(o, " sent=");
    put_u(o, c->sent);
    put_s(o, " sent_sha256=");
    put_sha(o, &c->tx_sha);
    put_s(o, " received=");
    put_u(o, c->received);
    put_s(o, " received_sha256=");
    put_sha(o, &c->rx_sha);
    put_s(o, " ktls_tx=");
    put_u(o, (uint64_t)tx);
    put_s(o, " ktls_rx=");
    put_u(o, (uint64_t)rx);
    put_s(o, " ulp=");
    put_s(o, ulp);
    put_s(o, " shutdown=");
    put_u(o, c->ssl ? (uint64_t)SSL_get_shutdown(c->ssl) : 0);
    put_s(o, " error=");
    put_s(o, error);
    if (O.msgcb) {
        put_s(o, " msgcb_calls=");
        put_u(o, c->msgcb_calls);
    }
    put_s(o, "\n");
}

static void on_alarm(int sig)
{
    static const char msg[] = "tls_peer: --timeout expired\n";
    char line[1024];
    struct out o = {line, 0, sizeof(line)};
    struct conn *c = g_conn;
    (void)sig;
    if (c) {
        format_result(c, &o, "timeout");
        if (write(STDOUT_FILENO, line, o.n) < 0)
            _exit(3);
    }
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(3);
    _exit(3);
}

/* Prints C's RESULT line with SIGALRM held off (no torn or doubled line) and
 * marks it reported. */
static void report(struct conn *c)
{
    char line[1024];
    struct out o = {line, 0, sizeof(line)};
    sigset_t old;
    sigprocmask(SIG_BLOCK, &g_alarm_set, &old);
    format_result(c, &o, c->err[0] ? c->err : "none");
    fputs(line, stdout);
    fflush(stdout);
    g_conn = NULL;
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------ SSL calls */

enum io { IO_OK, IO_WAIT, IO_EOF, IO_FAIL };
enum op { OP_READ, OP_PEEK, OP_WRITE };

static const char *op_name(enum op op)
{
    static const char *const names[2][3] = {
        {"SSL_read", "SSL_peek", "SSL_write"},
        {"SSL_read_ex", "SSL_peek_ex", "SSL_write_ex"},
    };
    return names[O.api == API_EX][op];
}

/* One SSL_read/SSL_peek/SSL_write(_ex). IO_WAIT adds the poll events to wait
 * for to *EV; IO_EOF is SSL_ERROR_ZERO_RETURN (close_notify); IO_FAIL has
 * recorded the error. */
static enum io ssl_io(struct conn *c, enum op op, void *buf, size_t len, size_t *done, short *ev)
{
    int r, ok, e, code;
    *done = 0;
    ERR_clear_error();
    errno = 0;
    if (O.api == API_EX) {
        if (op == OP_READ)
            r = SSL_read_ex(c->ssl, buf, len, done);
        else if (op == OP_PEEK)
            r = SSL_peek_ex(c->ssl, buf, len, done);
        else
            r = SSL_write_ex(c->ssl, buf, len, done);
        ok = r == 1;
    } else {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (op == OP_READ)
            r = SSL_read(c->ssl, buf, n);
        else if (op == OP_PEEK)
            r = SSL_peek(c->ssl, buf, n);
        else
            r = SSL_write(c->ssl, buf, n);
        ok = r > 0;
        if (ok)
            *done = (size_t)r;
    }
    c->n_calls[op]++;
    if (ok) {
        if (op == OP_WRITE && *done < len)
            c->n_short_writes++;
        return IO_OK;
    }
    e = errno;
    code = SSL_get_error(c->ssl, r);
    switch (code) {
    case SSL_ERROR_WANT_READ:
        c->n_want_read++;
        *ev |= POLLIN;
        return IO_WAIT;
    case SSL_ERROR_WANT_WRITE:
        c->n_want_write++;
        *ev |= POLLOUT;
        return IO_WAIT;
    case SSL_ERROR_ZERO_RETURN:
        return IO_EOF;
    default:
        ssl_fail(c, op_name(op), code, e);
        return IO_FAIL;
    }
}

/* Waits for EV on FD (TIMEOUT_MS -1: no limit; the alarm is the backstop). */
static void wait_fd(int fd, short ev, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
        ;
}

static int set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl);
}

static int handshake(struct conn *c)
{
    const char *what = O.do_handshake ? "SSL_do_handshake"
                       : O.role == ROLE_CLIENT ? "SSL_connect"
                                                : "SSL_accept";
    for (;;) {
        int r, e, code;
        ERR_clear_error();
        errno = 0;
        if (O.do_handshake)
            r = SSL_do_handshake(c->ssl);
        else if (O.role == ROLE_CLIENT)
            r = SSL_connect(c->ssl);
        else
            r = SSL_accept(c->ssl);
        if (r == 1)
            return 0;
        e = errno;
        code = SSL_get_error(c->ssl, r);
        if (code == SSL_ERROR_WANT_READ)
            wait_fd(c->fd, POLLIN, -1);
        else if (code == SSL_ERROR_WANT_WRITE)
            wait_fd(c->fd, POLLOUT, -1);
        else {
            ssl_fail(c, what, code, e);
            return -1;
        }
    }
}

static int want_concurrent(void)
{
    if (O.echo)
        return 0;
    if (O.order == ORDER_AUTO)
        return O.send > 0 && O.expect > 0;
    return O.order == ORDER_CONCURRENT;
}

static long ms_until(const struct timespec *now, const struct timespec *deadline)
{
    long ms = (long)(deadline->tv_sec - now->tv_sec) * 1000
              + (deadline->tv_nsec - now->tv_nsec) / 1000000;
    if (ms <= 0 && (deadline->tv_sec > now->tv_sec
                    || (deadline->tv_sec == now->tv_sec && deadline->tv_nsec > now->tv_nsec)))
        ms = 1;
    return ms;
}

/* The exchange. Plain order: the client sends then reads, the server reads
 * then sends; concurrent: both at once over a non-blocking socket; echo: read
 * a chunk, write it back, until close_notify. Returns 0 or -1 (error set). */
static int data_phase(struct conn *c)
{
    int concurrent = want_concurrent();
    int toggled = 0, send_started = 0, have_deadline = 0, rc = -1;
    struct timespec deadline = {0, 0};

    if (concurrent && !O.nonblock) {
        if (set_nonblock(c->fd, 1) < 0) {
            sys_fail(c, "fcntl(O_NONBLOCK)", errno);
            return -1;
        }
        toggled = 1;
    }
    for (;;) {
        int can_send, can_recv, progress = 0, timeout_ms = -1;
        short ev = 0;

        if (O.echo) {
            can_send = c->pend_off < c->pend_len;
            can_recv = !c->eof && !can_send;
            if (!can_send && !can_recv)
                break;
        } else {
            int send_left = c->sent < O.send, recv_left = c->received < O.expect;
            if (!send_left && !recv_left)
                break;
            if (concurrent) {
                can_send = send_left;
                can_recv = recv_left;
            } else if (O.role == ROLE_CLIENT) {
                can_send = send_left;
                can_recv = !send_left && recv_left;
            } else {
                can_recv = recv_left;
                can_send = !recv_left && send_left;
            }
        }

        if (can_send && !send_started && O.sleep_ms) {
            struct timespec now;
            long rem;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!have_deadline) {
                deadline = now;
                deadline.tv_sec += (time_t)(O.sleep_ms / 1000);
                deadline.tv_nsec += (long)(O.sleep_ms % 1000) * 1000000L;
                if (deadline.tv_nsec >= 1000000000L) {
                    deadline.tv_sec++;
                    deadline.tv_nsec -= 1000000000L;
                }
                have_deadline = 1;
            }
            rem = ms_until(&now, &deadline);
            if (rem > 0) {
                can_send = 0;
                timeout_ms = rem > INT_MAX ? INT_MAX : (int)rem;
            }
        }

        if (can_send) {
            size_t w = 0;
            if (!O.echo && c->pend_off == c->pend_len) {
                uint64_t left = O.send - c->sent;
                size_t n = left < O.chunk ? (size_t)left : O.chunk;
                rng_fill(&c->rng, c->txbuf, n);
                c->pend = c->txbuf;
                c->pend_len = n;
                c->pend_off = 0;
            }
            /* after WANT_WRITE the same pointer and length are passed again */
            switch (ssl_io(c, OP_WRITE, (void *)(c->pend + c->pend_off), c->pend_len - c->pend_off,
                           &w, &ev)) {
            case IO_OK:
                account(&c->tx_sha, &c->sent, c->pend + c->pend_off, w);
                c->pend_off += w;
                progress = send_started = 1;
                break;
            case IO_WAIT:
                break;
            case IO_EOF:
                set_err(c, "eof");
                fprintf(stderr, "tls_peer %s: %s: peer closed the TLS connection\n", role_name(),
                        op_name(OP_WRITE));
                goto out;
            case IO_FAIL:
                goto out;
            }
        }

        if (can_recv) {
            size_t len = O.read_chunk, m = 0;
            enum io r = IO_OK;
            if (!O.echo && O.expect - c->received < len)
                len = (size_t)(O.expect - c->received);
            if (O.peek && !c->peeked) {
                size_t k = 0;
                r = ssl_io(c, OP_PEEK, c->pbuf, len, &k, &ev);
                if (r == IO_OK) {
                    c->peeked = k;
                    progress = 1;
                }
            }
            if (r == IO_OK) {
                r = ssl_io(c, OP_READ, c->rbuf, len, &m, &ev);
                if (r == IO_OK) {
                    if (O.peek) {
                        if (m < c->peeked || memcmp(c->pbuf, c->rbuf, c->peeked) != 0) {
                            c->peek_mismatch++;
                            fprintf(stderr, "tls_peer %s: peek mismatch at offset %llu: peeked %zu, read %zu\n",
                                    role_name(), (unsigned long long)c->received, c->peeked, m);
                        }
                        c->peeked = 0;
                    }
                    account(&c->rx_sha, &c->received, c->rbuf, m);
                    progress = 1;
                    if (O.echo) {
                        c->pend = c->rbuf;
                        c->pend_len = m;
                        c->pend_off = 0;
                    }
                }
            }
            if (r == IO_EOF) {
                c->eof = 1;
                progress = 1;
                if (c->peeked) {
                    c->peek_mismatch++;
                    fprintf(stderr, "tls_peer %s: peeked %zu bytes, then the read saw close_notify\n",
                            role_name(), c->peeked);
                    c->peeked = 0;
                }
                if (!O.echo) {
                    set_err(c, "eof");
                    fprintf(stderr, "tls_peer %s: close_notify after %llu of %llu expected bytes\n",
                            role_name(), (unsigned long long)c->received,
                            (unsigned long long)O.expect);
                    goto out;
                }
            } else if (r == IO_FAIL) {
                goto out;
            }
        }

        if (progress)
            continue;
        if (!ev && timeout_ms < 0) {
            set_err(c, "internal:stalled");
            goto out;
        }
        wait_fd(c->fd, ev, timeout_ms);
    }
    rc = 0;
out:
    if (toggled && set_nonblock(c->fd, 0) < 0 && rc == 0) {
        sys_fail(c, "fcntl(~O_NONBLOCK)", errno);
        rc = -1;
    }
    return rc;
}

static void do_shutdown(struct conn *c)
{
    int zeros = 0;
    if (O.shutdown == SD_NONE)
        return;
    for (;;) {
        int r, e, code;
        ERR_clear_error();
        errno = 0;
        r = SSL_shutdown(c->ssl);
        if (r == 1)
            return;
        if (r == 0) {
            if (O.shutdown == SD_UNI)
                return;
            /* close_notify sent, the peer's not seen yet: call again */
            if (++zeros > 1000) {
                set_err(c, "shutdown:stuck");
                fprintf(stderr, "tls_peer %s: SSL_shutdown kept returning 0\n", role_name());
                return;
            }
            if (zeros > 1)
                wait_fd(c->fd, POLLIN, 100);
            continue;
        }
        e = errno;
        code = SSL_get_error(c->ssl, r);
        if (code == SSL_ERROR_WANT_READ)
            wait_fd(c->fd, POLLIN, -1);
        else if (code == SSL_ERROR_WANT_WRITE)
            wait_fd(c->fd, POLLOUT, -1);
        else {
            ssl_fail(c, "SSL_shutdown", code, e);
            return;
        }
    }
}

static int save_session(struct conn *c)
{
    SSL_SESSION *s = SSL_get1_session(c->ssl);
    FILE *f;
    int ok;
    if (!s) {
        set_err(c, "sess-out:no-session");
        fprintf(stderr, "tls_peer client: --sess-out: no session to save\n");
        return -1;
    }
    if (!SSL_SESSION_is_resumable(s))
        fprintf(stderr, "tls_peer client: --sess-out: warning: the session is not resumable%s\n",
                SSL_version(c->ssl) == TLS1_3_VERSION ? " (no TLS 1.3 ticket read yet)" : "");
    f = fopen(O.sess_out, "w");
    if (!f) {
        sys_fail(c, O.sess_out, errno);
        SSL_SESSION_free(s);
        return -1;
    }
    ok = PEM_write_SSL_SESSION(f, s);
    if (fclose(f) != 0)
        ok = 0;
    SSL_SESSION_free(s);
    if (!ok) {
        set_err(c, "sess-out:write");
        fprintf(stderr, "tls_peer client: --sess-out %s: write failed\n", O.sess_out);
        ERR_print_errors_fp(stderr);
        return -1;
    }
    return 0;
}

/* Runs one TLS connection on c->fd and prints its report. Returns 0 on
 * success, 1 on failure. */
static int run_conn(struct conn *c, SSL_CTX *ctx)
{
    int ok = 0;

    c->txbuf = malloc(O.chunk);
    c->rbuf = malloc(O.read_chunk);
    c->pbuf = O.peek ? malloc(O.read_chunk) : NULL;
    if (!c->txbuf || !c->rbuf || (O.peek && !c->pbuf)) {
        set_err(c, "nomem");
        goto report;
    }
    if (c->fd >= 0 && O.nonblock && set_nonblock(c->fd, 1) < 0) {
        sys_fail(c, "fcntl(O_NONBLOCK)", errno);
        goto report;
    }
    ERR_clear_error();
    c->ssl = SSL_new(ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
        set_err(c, "ssl:setup");
        fprintf(stderr, "tls_peer %s: SSL_new/SSL_set_fd failed\n", role_name());
        ERR_print_errors_fp(stderr);
        goto report;
    }
    if (O.msgcb)
        SSL_set_msg_callback_arg(c->ssl, c);
    if (g_sess_in && !SSL_set_session(c->ssl, g_sess_in)) {
        set_err(c, "sess-in:set");
        fprintf(stderr, "tls_peer client: SSL_set_session failed\n");
        ERR_print_errors_fp(stderr);
        goto report;
    }
    if (O.implicit || O.do_handshake) {
        if (O.role == ROLE_CLIENT)
            SSL_set_connect_state(c->ssl);
        else
            SSL_set_accept_state(c->ssl);
    }
    if (!O.implicit && handshake(c) < 0)
        goto after;
    if (data_phase(c) < 0)
        goto after;
    ok = 1;
after:
    measure(c); /* just before the shutdown, after the data exchange */
    if (O.ktls_native)
        fprintf(stderr, "tls_peer %s: OpenSSL kTLS: BIO_get_ktls_send=%d BIO_get_ktls_recv=%d\n",
                role_name(), (int)BIO_get_ktls_send(SSL_get_wbio(c->ssl)),
                (int)BIO_get_ktls_recv(SSL_get_rbio(c->ssl)));
    if (ok) {
        do_shutdown(c);
        if (O.role == ROLE_CLIENT && O.sess_out && !c->err[0])
            save_session(c);
    }
    if (c->peek_mismatch)
        set_err(c, "peek-mismatch");
    if (c->msgcb_badarg) {
        set_err(c, "msgcb-arg");
        fprintf(stderr, "tls_peer %s: message callback got a wrong arg %lu times\n", role_name(),
                c->msgcb_badarg);
    }
    fprintf(stderr,
            "tls_peer %s: stats: %s=%lu %s=%lu %s=%lu short_writes=%lu want_read=%lu "
            "want_write=%lu\n",
            role_name(), op_name(OP_WRITE), c->n_calls[OP_WRITE], op_name(OP_READ),
            c->n_calls[OP_READ], op_name(OP_PEEK), c->n_calls[OP_PEEK], c->n_short_writes,
            c->n_want_read, c->n_want_write);
    printf("REUSED %s\n", SSL_session_reused(c->ssl) ? "yes" : "no");
report:
    if (!c->measured)
        measure(c);
    report(c);
    return c->err[0] ? 1 : 0;
}

static void close_conn(struct conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    conn_free(c);
}

/* ------------------------------------------------------------- sockets */

static struct addrinfo *resolve(const char *host, unsigned port, int passive, int *gai)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%u", port);
    *gai = getaddrinfo(host, ps, &hints, &res);
    return *gai ? NULL : res;
}

static int tcp_connect(struct conn *c)
{
    int gai, e = ECONNREFUSED;
    struct addrinfo *res = resolve(O.host, O.port, 0, &gai), *a;
    if (!res) {
        set_err(c, "resolve");
        fprintf(stderr, "tls_peer client: %s: %s\n", O.host, gai_strerror(gai));
        return -1;
    }
    for (a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | (O.nonblock ? SOCK_NONBLOCK : 0),
                        a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            c->fd = fd;
            break;
        }
        e = errno;
        if (e == EINPROGRESS) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            wait_fd(fd, POLLOUT, -1);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                c->fd = fd;
                break;
            }
            e = soerr ? soerr : errno;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        sys_fail(c, "connect", e);
        return -1;
    }
    return 0;
}

static int tcp_listen(unsigned *port_out)
{
    int gai, fd = -1, e = EADDRNOTAVAIL, one = 1;
    struct addrinfo *res = resolve(O.host, O.port, 1, &gai), *a;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (!res) {
        fprintf(stderr, "tls_peer server: %s: %s\n", O.host, gai_strerror(gai));
        return -1;
    }
    for (a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 16) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "tls_peer server: listen on %s:%u: %s\n", O.host, O.port, strerror(e));
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        fprintf(stderr, "tls_peer server: getsockname: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* ----------------------------------------------------------- callbacks */

static void on_keylog(const SSL *ssl, const char *line)
{
    (void)ssl;
    if (g_keylog) {
        fprintf(g_keylog, "%s\n", line);
        fflush(g_keylog);
    }
}

static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct conn *c = g_conn;
    (void)write_p, (void)version, (void)content_type, (void)buf, (void)len, (void)ssl;
    if (!c)
        return;
    if (arg == c)
        c->msgcb_calls++;
    else
        c->msgcb_badarg++;
}

/* ------------------------------------------------------------ SSL_CTX */

static int self_signed(SSL_CTX *ctx)
{
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_NAME *name;
    int ok = 0;
    if (!pkey || !x)
        goto done;
    name = X509_get_subject_name(x);
    if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid())
        || !X509_gmtime_adj(X509_getm_notBefore(x), -3600)
        || !X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400L) || !X509_set_pubkey(x, pkey)
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                       -1, -1, 0)
        || !X509_set_issuer_name(x, name) || !X509_sign(x, pkey, EVP_sha256())
        || !SSL_CTX_use_certificate(ctx, x) || !SSL_CTX_use_PrivateKey(ctx, pkey))
        goto done;
    ok = 1;
done:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ok;
}

/* NULL on failure; *usage set when the failure is the caller's option. */
static SSL_CTX *make_ctx(int *usage)
{
    SSL_CTX *ctx = SSL_CTX_new(O.role == ROLE_SERVER ? TLS_server_method() : TLS_client_method());
    static const unsigned char sid_ctx[] = "tls_peer";
    *usage = 0;
    if (!ctx) {
        fprintf(stderr, "tls_peer: SSL_CTX_new failed\n");
        return NULL;
    }
    if (O.tls_version && (!SSL_CTX_set_min_proto_version(ctx, O.tls_version)
                          || !SSL_CTX_set_max_proto_version(ctx, O.tls_version))) {
        fprintf(stderr, "tls_peer: --tls: cannot pin the protocol version\n");
        goto fail;
    }
    if (O.cipher) {
        int tls13 = O.tls_version ? O.tls_version == TLS1_3_VERSION : strncmp(O.cipher, "TLS_", 4) == 0;
        int r = tls13 ? SSL_CTX_set_ciphersuites(ctx, O.cipher) : SSL_CTX_set_cipher_list(ctx, O.cipher);
        if (!r) {
            fprintf(stderr, "tls_peer: --cipher %s: not accepted by %s\n", O.cipher,
                    tls13 ? "SSL_CTX_set_ciphersuites" : "SSL_CTX_set_cipher_list");
            *usage = 1;
            goto fail;
        }
    }
    if (O.role == ROLE_SERVER) {
        if (O.cert) {
            if (SSL_CTX_use_certificate_chain_file(ctx, O.cert) != 1) {
                fprintf(stderr, "tls_peer: --cert %s: cannot load\n", O.cert);
                *usage = 1;
                goto fail;
            }
            if (SSL_CTX_use_PrivateKey_file(ctx, O.key, SSL_FILETYPE_PEM) != 1
                || SSL_CTX_check_private_key(ctx) != 1) {
                fprintf(stderr, "tls_peer: --key %s: cannot load or does not match --cert\n", O.key);
                *usage = 1;
                goto fail;
            }
        } else if (!self_signed(ctx)) {
            fprintf(stderr, "tls_peer: cannot make the ephemeral RSA-2048 certificate\n");
            goto fail;
        }
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (O.partial)
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (O.ktls_native)
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    if (O.keylog)
        SSL_CTX_set_keylog_callback(ctx, on_keylog);
    if (O.msgcb)
        SSL_CTX_set_msg_callback(ctx, on_msg);
    return ctx;
fail:
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return NULL;
}

/* -------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fputs("usage: tls_peer server|client [options]\n"
          "  --host H             address (default 127.0.0.1)\n"
          "  --port N             server: 0 = ephemeral (prints 'PORT <n>'); client: required\n"
          "  --tls 1.2|1.3        pin the protocol version\n"
          "  --cipher NAME        cipher list (1.2) or TLS 1.3 ciphersuite\n"
          "  --cert F --key F     server certificate (default: ephemeral RSA-2048, self-signed)\n"
          "  --send N             bytes to send (deterministic, --seed S, default 1)\n"
          "  --chunk C            bytes per SSL_write (default 16384)\n"
          "  --expect N           bytes to read\n"
          "  --read-chunk R       buffer per SSL_read (default 16384)\n"
          "  --echo               server: echo until close_notify\n"
          "  --accept-count K     server: serve K connections one after another\n"
          "  --concurrent | --sequential   send and receive at once, or in turn\n"
          "  --nonblock           non-blocking socket from the start\n"
          "  --api classic|ex     SSL_read/SSL_write or SSL_read_ex/SSL_write_ex\n"
          "  --partial            SSL_MODE_ENABLE_PARTIAL_WRITE\n"
          "  --implicit           handshake inside the first SSL_read/SSL_write\n"
          "  --do-handshake       explicit SSL_do_handshake instead of SSL_connect/SSL_accept\n"
          "  --peek               SSL_peek before each SSL_read and compare\n"
          "  --shutdown bidi|uni|none   (default bidi)\n"
          "  --sess-out F / --sess-in F client: save / load the session (PEM)\n"
          "  --ktls-native        SSL_OP_ENABLE_KTLS\n"
          "  --keylog F           application keylog callback appending to F\n"
          "  --msgcb              application message callback, reports msgcb_calls=N\n"
          "  --sleep-before-send MS\n"
          "  --timeout S          hard timeout, 0 = none (default 60)\n",
          f);
}

__attribute__((noreturn, format(printf, 1, 2))) static void bad(const char *fmt, ...)
{
    va_list ap;
    fputs("tls_peer: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (tls_peer --help for usage)\n", stderr);
    exit(2);
}

static uint64_t num(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    unsigned long long v;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        bad("%s: '%s' is not a number", opt, s ? s : "");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        bad("%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        bad("%s: %s is out of range [%llu, %llu]", opt, s, (unsigned long long)min,
            (unsigned long long)max);
    return v;
}

enum {
    OPT_HOST = 256, OPT_PORT, OPT_TLS, OPT_CIPHER, OPT_CERT, OPT_KEY, OPT_SEND, OPT_SEED,
    OPT_CHUNK, OPT_EXPECT, OPT_READ_CHUNK, OPT_ECHO, OPT_ACCEPT_COUNT, OPT_CONCURRENT,
    OPT_SEQUENTIAL, OPT_NONBLOCK, OPT_API, OPT_PARTIAL, OPT_IMPLICIT, OPT_DO_HANDSHAKE,
    OPT_SHUTDOWN, OPT_SESS_OUT, OPT_SESS_IN, OPT_KTLS_NATIVE, OPT_KEYLOG, OPT_MSGCB,
    OPT_SLEEP, OPT_TIMEOUT, OPT_PEEK, OPT_HELP,
};

static const struct option longopts[] = {
    {"host", required_argument, 0, OPT_HOST},
    {"port", required_argument, 0, OPT_PORT},
    {"tls", required_argument, 0, OPT_TLS},
    {"cipher", required_argument, 0, OPT_CIPHER},
    {"cert", required_argument, 0, OPT_CERT},
    {"key", required_argument, 0, OPT_KEY},
    {"send", required_argument, 0, OPT_SEND},
    {"seed", required_argument, 0, OPT_SEED},
    {"chunk", required_argument, 0, OPT_CHUNK},
    {"expect", required_argument, 0, OPT_EXPECT},
    {"read-chunk", required_argument, 0, OPT_READ_CHUNK},
    {"echo", no_argument, 0, OPT_ECHO},
    {"accept-count", required_argument, 0, OPT_ACCEPT_COUNT},
    {"concurrent", no_argument, 0, OPT_CONCURRENT},
    {"sequential", no_argument, 0, OPT_SEQUENTIAL},
    {"nonblock", no_argument, 0, OPT_NONBLOCK},
    {"api", required_argument, 0, OPT_API},
    {"partial", no_argument, 0, OPT_PARTIAL},
    {"implicit", no_argument, 0, OPT_IMPLICIT},
    {"do-handshake", no_argument, 0, OPT_DO_HANDSHAKE},
    {"shutdown", required_argument, 0, OPT_SHUTDOWN},
    {"sess-out", required_argument, 0, OPT_SESS_OUT},
    {"sess-in", required_argument, 0, OPT_SESS_IN},
    {"ktls-native", no_argument, 0, OPT_KTLS_NATIVE},
    {"keylog", required_argument, 0, OPT_KEYLOG},
    {"msgcb", no_argument, 0, OPT_MSGCB},
    {"sleep-before-send", required_argument, 0, OPT_SLEEP},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"peek", no_argument, 0, OPT_PEEK},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static void parse(int argc, char **argv)
{
    int opt, send_set = 0, expect_set = 0, port_set = 0;
    const char *server_only = NULL, *client_only = NULL;
    const char *role;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        const char *a = optarg;
        switch (opt) {
        case OPT_HOST: O.host = a; break;
        case OPT_PORT: O.port = (unsigned)num("--port", a, 0, 65535); port_set = 1; break;
        case OPT_TLS:
            if (!strcmp(a, "1.2"))
                O.tls_version = TLS1_2_VERSION;
            else if (!strcmp(a, "1.3"))
                O.tls_version = TLS1_3_VERSION;
            else
                bad("--tls: '%s' is not 1.2 or 1.3", a);
            break;
        case OPT_CIPHER: O.cipher = a; break;
        case OPT_CERT: O.cert = a; server_only = "--cert"; break;
        case OPT_KEY: O.key = a; server_only = "--key"; break;
        case OPT_SEND: O.send = num("--send", a, 0, UINT64_MAX / 2); send_set = 1; break;
        case OPT_SEED: O.seed = num("--seed", a, 0, UINT64_MAX); break;
        case OPT_CHUNK: O.chunk = (size_t)num("--chunk", a, 1, MAX_BUF); break;
        case OPT_EXPECT: O.expect = num("--expect", a, 0, UINT64_MAX / 2); expect_set = 1; break;
        case OPT_READ_CHUNK: O.read_chunk = (size_t)num("--read-chunk", a, 1, MAX_BUF); break;
        case OPT_ECHO: O.echo = 1; server_only = "--echo"; break;
        case OPT_ACCEPT_COUNT:
            O.accept_count = (unsigned long)num("--accept-count", a, 1, 1000000);
            server_only = "--accept-count";
            break;
        case OPT_CONCURRENT:
            if (O.order == ORDER_SEQUENTIAL)
                bad("--concurrent: conflicts with --sequential");
            O.order = ORDER_CONCURRENT;
            break;
        case OPT_SEQUENTIAL:
            if (O.order == ORDER_CONCURRENT)
                bad("--sequential: conflicts with --concurrent");
            O.order = ORDER_SEQUENTIAL;
            break;
        case OPT_NONBLOCK: O.nonblock = 1; break;
        case OPT_API:
            if (!strcmp(a, "classic"))
                O.api = API_CLASSIC;
            else if (!strcmp(a, "ex"))
                O.api = API_EX;
            else
                bad("--api: '%s' is not classic or ex", a);
            break;
        case OPT_PARTIAL: O.partial = 1; break;
        case OPT_IMPLICIT: O.implicit = 1; break;
        case OPT_DO_HANDSHAKE: O.do_handshake = 1; break;
        case OPT_SHUTDOWN:
            if (!strcmp(a, "bidi"))
                O.shutdown = SD_BIDI;
            else if (!strcmp(a, "uni"))
                O.shutdown = SD_UNI;
            else if (!strcmp(a, "none"))
                O.shutdown = SD_NONE;
            else
                bad("--shutdown: '%s' is not bidi, uni or none", a);
            break;
        case OPT_SESS_OUT: O.sess_out = a; client_only = "--sess-out"; break;
        case OPT_SESS_IN: O.sess_in = a; client_only = "--sess-in"; break;
        case OPT_KTLS_NATIVE: O.ktls_native = 1; break;
        case OPT_KEYLOG: O.keylog = a; break;
        case OPT_MSGCB: O.msgcb = 1; break;
        case OPT_SLEEP: O.sleep_ms = (unsigned long)num("--sleep-before-send", a, 0, 86400000); break;
        case OPT_TIMEOUT: O.timeout = (unsigned)num("--timeout", a, 0, 86400 * 7); break;
        case OPT_PEEK: O.peek = 1; break;
        case OPT_HELP: usage(stdout); exit(0);
        case ':': bad("option '%s' needs a value", argv[optind - 1]);
        default: bad("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        bad("missing role: server or client");
    if (optind + 1 < argc)
        bad("unexpected argument '%s'", argv[optind + 1]);
    role = argv[optind];
    if (!strcmp(role, "server"))
        O.role = ROLE_SERVER;
    else if (!strcmp(role, "client"))
        O.role = ROLE_CLIENT;
    else
        bad("role '%s' is not server or client", role);

    if (O.role == ROLE_CLIENT && server_only)
        bad("%s: only for the server", server_only);
    if (O.role == ROLE_SERVER && client_only)
        bad("%s: only for the client", client_only);
    if (O.role == ROLE_CLIENT && (!port_set || O.port == 0))
        bad("--port: the client needs the server's port");
    if (!O.cert != !O.key)
        bad("%s: needs %s as well", O.cert ? "--cert" : "--key", O.cert ? "--key" : "--cert");
    if (O.echo && (send_set || expect_set))
        bad("%s: not with --echo (the echo sends what it receives)", send_set ? "--send" : "--expect");
    if (O.echo && O.order == ORDER_CONCURRENT)
        bad("--concurrent: not with --echo");
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    static struct conn pre;
    struct sigaction sa;
    SSL_CTX *ctx;
    int usage_err, failed = 0;

    parse(argc, argv);

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&g_alarm_set);
    sigaddset(&g_alarm_set, SIGALRM);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    /* until a connection exists, a timeout reports an empty one */
    conn_init(&pre);
    g_conn = &pre;
    if (O.timeout)
        alarm(O.timeout);

    if (O.keylog) {
        g_keylog = fopen(O.keylog, "a");
        if (!g_keylog) {
            fprintf(stderr, "tls_peer: --keylog %s: %s\n", O.keylog, strerror(errno));
            return 2;
        }
    }
    if (O.sess_in) {
        FILE *f = fopen(O.sess_in, "r");
        if (!f) {
            fprintf(stderr, "tls_peer: --sess-in %s: %s\n", O.sess_in, strerror(errno));
            return 2;
        }
        g_sess_in = PEM_read_SSL_SESSION(f, NULL, NULL, NULL);
        fclose(f);
        if (!g_sess_in) {
            fprintf(stderr, "tls_peer: --sess-in %s: not a PEM SSL session\n", O.sess_in);
            ERR_print_errors_fp(stderr);
            return 2;
        }
    }

    ctx = make_ctx(&usage_err);
    if (!ctx) {
        g_conn = NULL;
        return usage_err ? 2 : 1;
    }

    if (O.role == ROLE_CLIENT) {
        struct conn c;
        conn_init(&c);
        g_conn = &c;
        if (tcp_connect(&c) < 0) {
            report(&c);
            failed = 1;
        } else {
            failed = run_conn(&c, ctx);
        }
        close_conn(&c);
    } else {
        unsigned port = 0;
        int lfd = tcp_listen(&port);
        if (lfd < 0) {
            g_conn = NULL;
            SSL_CTX_free(ctx);
            return 1;
        }
        printf("PORT %u\n", port);
        fflush(stdout);
        for (unsigned long i = 0; i < O.accept_count; i++) {
            struct conn c;
            conn_init(&c);
            g_conn = &c;
            do
                c.fd = accept(lfd, NULL, NULL);
            while (c.fd < 0 && errno == EINTR);
            if (c.fd < 0) {
                sys_fail(&c, "accept", errno);
                report(&c);
                close_conn(&c);
                failed = 1;
                break;
            }
            failed |= run_conn(&c, ctx);
            close_conn(&c);
        }
        close(lfd);
    }

    SSL_CTX_free(ctx);
    if (g_sess_in)
        SSL_SESSION_free(g_sess_in);
    if (g_keylog)
        fclose(g_keylog);
    return failed ? 1 : 0;
}

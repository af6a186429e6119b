/* tls_endpoint: an ordinary OpenSSL program (SSL_set_fd, SSL_connect/accept,
 * SSL_read/SSL_write, SSL_shutdown) that the bats suite runs as client and
 * server, usually with the shim preloaded, and that reports exactly what
 * happened in one RESULT line: bytes and sha256 each way, and whether the
 * socket's TLS_TX / TLS_RX are set (getsockopt SOL_TLS).
 *
 * tls_endpoint server|client [--host H] [--port N] [--tls 1.2|1.3] [--cipher C] [--seclevel N]
 *   [--cert F --key F] [--send N] [--expect N] [--echo] [--chunk N]
 *   [--read-chunk N] [--nonblock] [--api classic|ex] [--partial] [--implicit]
 *   [--peek] [--keylog FILE] [--msgcb] [--text] [--seed S] [--timeout S]
 *   [--marker STR] [--key-update-after N [--key-update-requested]]
 *   [--key-update-every M [--key-updates K]]
 *   [--renegotiate-after N] [--payload-only] [--conns N] [--dup N] [--ossl-ktls]
 *   [--key-update-burst K] [--inject TYPE:HEX[*COUNT][,...] [--inject-after N]]
 *   [--max-send-fragment N] [--block-padding N] [--padding-cb N]
 *   [--bio socket|custom|split|wait|readahead|xor|apr] [--no-reneg] [--keep-serving]
 *   [--pause-after-inject MS] [--pause-after-ccs MS] [--set-fd-each-retry N]
 * --payload-only prints "PAYLOAD bytes= sha256=" of what --send would send,
 * without connecting. --dup N sets a message callback on the SSL (counted in
 * msgcb_calls) and replaces the SSL with SSL_dup of it N times before use.
 * --max-send-fragment, --block-padding and --padding-cb (pad each record to a
 * multiple of N with a record padding callback) shape the records this side
 * sends; with --msgcb, rec_in_min/rec_in_max report the lengths of the
 * application-data records received (as on the wire, 0 if none).
 * The server prints "PORT <n>" first. Blocking mode is sequential (client
 * sends then reads, server reads then sends); --nonblock interleaves both
 * directions in a poll() loop. --key-update-every M: a KeyUpdate (SSL_key_update)
 * after every M bytes sent, from --key-update-after on, K times (default
 * 1); each time SSL_get_key_update_type must say it is owed until the next
 * write has sent it (RESULT key_updates= and ku_view=ok|bad). --conns N: the server serves N connections in
 * turn (one SSL_CTX, so its session cache and tickets carry over; after a
 * failed one it stops, unless --keep-serving) and the
 * client makes N, each after the first resuming the session of the one before;
 * every connection prints its own RESULT line, with reused=0|1. --bio: the
 * program's own BIO over the socket (own_bio.h); RESULT says how many of its
 * BIOs are alive (bios_live=), and a FREED line how many after SSL_free.
 * --bio apr reads as mod_ssl after keep-alive (see apr_read). --pause-after-inject
 * and --pause-after-ccs (once this side's ChangeCipherSpec and Finished are on
 * the wire; --bio other than socket): a sleep there, so what the peer sends
 * meanwhile arrives in one burst. --set-fd-each-retry N (--nonblock): SSL_set_fd
 * N times before every retry of the handshake, as wrk does once; with 2,
 * malloc puts each retry's new BIO where the one before it was (RESULT
 * bio_same_address= counts the retries where it did).
 * --no-reneg: SSL_OP_NO_RENEGOTIATION, as mod_ssl sets it. --key-update-burst K:
 * K KeyUpdates back to back at --key-update-after (each sent before the next).
 * --inject: records of any type written raw once --inject-after bytes are
 * sent (see inject_records): through OpenSSL's own kTLS TX with --ossl-ktls,
 * else encrypted here (raw_record.h, TLS 1.2 AES-GCM), and then the rest of
 * this side's data and its close_notify too. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <fcntl.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "own_bio.h"
#include "raw_record.h"
#include "test_identity.h"

#define SOL_TLS_LEVEL 282

static struct {
    int server, port, version, nonblock, ex_api, partial, implicit, peek, echo, msgcb, text;
    int key_update_requested, payload_only, ossl_ktls, bio, no_reneg, keep_serving;
    const char *host, *cipher, *cert, *key, *keylog, *marker;
    size_t send, expect, chunk, read_chunk;
    size_t key_update_after, renegotiate_after; /* 0 = never; else after that many bytes sent */
    size_t key_update_burst;   /* that many KeyUpdates back to back at --key-update-after */
    const char *inject;        /* records written raw (kTLS TX or raw_record.h) */
    size_t inject_after;
    unsigned pause_after_inject; /* ms */
    size_t key_update_every, key_updates;
    size_t dup;
    size_t max_send_fragment, block_padding, padding_cb;
    unsigned seed, timeout, conns, set_fd_each_retry;
    int seclevel; /* -1: the library's default */
} opt = {.host = "127.0.0.1", .chunk = 16384, .read_chunk = 16384, .seed = 1, .timeout = 120,
         .conns = 1, .seclevel = -1};
static SSL_SESSION *resume_from; /* the client's previous session (--conns) */

static long msgcb_calls;
static int bio_same_address; /* --set-fd-each-retry: retries whose new BIO sat where the old one was */
static unsigned rec_in_min, rec_in_max;
static FILE *keylog_file;
/* Set once records were injected without the kernel's TX: every later
 * record of this side is encrypted here (raw_record.h). */
static int raw_writes_only;
static char error_text[256] = "none";
static char last_error[128] = "none"; /* the last queued reason: OpenSSL's own, under a provider's */
/* The first queued error as numbers, LIB:REASON, and the whole queue of the
 * first failure (LIB:REASON,...). Texts change between OpenSSL versions; a
 * received alert's reason is 1000 + its TLS description in all. */
static char error_code[32] = "none";
static char error_queue[256] = "none";

static void usage(const char *why)
{
    fprintf(stderr, "tls_endpoint: %s\n", why);
    exit(2);
}

static void set_error(const char *fmt, ...)
{
    if (strcmp(error_text, "none") != 0)
        return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof(error_text), fmt, ap);
    va_end(ap);
    for (char *p = error_text; *p; p++)
        if (*p == ' ')
            *p = '_';
}

static void ssl_error(SSL *ssl, int ret, const char *what)
{
    int e = SSL_get_error(ssl, ret);
    unsigned long q = ERR_peek_error();
    if (e == SSL_ERROR_SYSCALL && !q)
        set_error("%s:syscall:%s", what, errno ? strerror(errno) : "eof");
    else
        set_error("%s:ssl:%d:%s", what, e, q ? ERR_reason_error_string(q) : "none");
    if (q && !strcmp(error_code, "none"))
        snprintf(error_code, sizeof(error_code), "%d:%d", ERR_GET_LIB(q), ERR_GET_REASON(q));
    unsigned long last = ERR_peek_last_error();
    if (last && !strcmp(last_error, "none")) {
        snprintf(last_error, sizeof(last_error), "%s", ERR_reason_error_string(last));
        for (char *p = last_error; *p; p++)
            if (*p == ' ')
                *p = '_';
    }
    /* the queue, oldest first, as numbers for RESULT and as text on stderr */
    int first_failure = !strcmp(error_queue, "none");
    size_t n = 0;
    unsigned long err;
    for (int i = 0; (err = ERR_get_error()) != 0; i++) {
        char text[256];
        fprintf(stderr, "%s\n", ERR_error_string(err, text));
        if (first_failure && n < sizeof(error_queue))
            n += (size_t)snprintf(error_queue + n, sizeof(error_queue) - n, "%s%d:%d", i ? "," : "",
                                  ERR_GET_LIB(err), ERR_GET_REASON(err));
    }
}

/* deterministic payload: xorshift32 */
static void fill(unsigned char *buf, size_t n, unsigned *state)
{
    for (size_t i = 0; i < n; i++) {
        unsigned x = *state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *state = x;
        buf[i] = (unsigned char)x;
    }
}

/* digit lines: for line-oriented peers such as gnutls-serv --echo */
static void fill_text(unsigned char *buf, size_t n, unsigned *state)
{
    fill(buf, n, state);
    for (size_t i = 0; i < n; i++)
        buf[i] = i % 64 == 63 ? '\n' : (unsigned char)('0' + buf[i] % 10);
}

/* What this role sends: --send bytes from --seed (and --marker). */
static unsigned char *make_payload(size_t n)
{
    unsigned char *out = malloc(n + 1);
    unsigned state = opt.seed * 2654435761u + (opt.server ? 7 : 3);
    if (opt.text)
        fill_text(out, n, &state);
    else
        fill(out, n, &state);
    if (opt.marker) /* a known string the wire capture must never show in clear */
        for (size_t at = 0; at + strlen(opt.marker) <= n; at += 1024)
            memcpy(out + at, opt.marker, strlen(opt.marker));
    return out;
}

static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    raw_record_note(write_p, content_type);
    msgcb_calls++;
    const unsigned char *h = buf;
    if (!write_p && content_type == SSL3_RT_HEADER && len >= 5 && h[0] == SSL3_RT_APPLICATION_DATA) {
        unsigned n = (unsigned)h[3] << 8 | h[4];
        rec_in_min = rec_in_min && rec_in_min < n ? rec_in_min : n;
        rec_in_max = rec_in_max > n ? rec_in_max : n;
    }
}

static void on_keylog(const SSL *ssl, const char *line)
{
    (void)ssl;
    if (keylog_file) {
        fprintf(keylog_file, "%s\n", line);
        fflush(keylog_file);
    }
}

/* pads each record to a multiple of opt.padding_cb */
static size_t pad_to_multiple(SSL *ssl, int type, size_t len, void *arg)
{
    (void)ssl, (void)type, (void)arg;
    return (opt.padding_cb - len % opt.padding_cb) % opt.padding_cb;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "RESULT error=timeout\n";
    (void)!write(1, msg, sizeof(msg) - 1);
    _exit(3);
}

static void make_identity(SSL_CTX *ctx)
{
    if (opt.cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1
            || SSL_CTX_use_PrivateKey_file(ctx, opt.key ? opt.key : opt.cert, SSL_FILETYPE_PEM) != 1)
            usage("cannot load --cert/--key");
        return;
    }
    /* RSA, so the ECDHE-RSA suites of the matrix work */
    if (!use_self_signed_identity(ctx, test_rsa2048_key(), 86400))
        usage("cannot build a certificate");
}

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(opt.server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        usage("SSL_CTX_new failed");
    if (opt.version) {
        SSL_CTX_set_min_proto_version(ctx, opt.version);
        SSL_CTX_set_max_proto_version(ctx, opt.version);
    }
    if (opt.ossl_ktls) {
        /* OpenSSL's own kTLS (3.0+): the shim must leave such a connection be */
#ifdef SSL_OP_ENABLE_KTLS
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#else
        usage("--ossl-ktls needs OpenSSL 3.0 or later (this one has no kTLS of its own)");
#endif
    }
    if (opt.no_reneg)
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION); /* as mod_ssl sets it */
    if (opt.seclevel >= 0)
        SSL_CTX_set_security_level(ctx, opt.seclevel);
    if (opt.cipher) {
        int ok = opt.version == TLS1_3_VERSION ? SSL_CTX_set_ciphersuites(ctx, opt.cipher)
                                               : SSL_CTX_set_cipher_list(ctx, opt.cipher);
        if (!ok)
            usage("unknown --cipher");
    }
    if (opt.server)
        make_identity(ctx);
    if (opt.partial)
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (opt.max_send_fragment && !SSL_CTX_set_max_send_fragment(ctx, (long)opt.max_send_fragment))
        usage("bad --max-send-fragment");
    if (opt.block_padding && !SSL_CTX_set_block_padding(ctx, opt.block_padding))
        usage("bad --block-padding");
    if (opt.padding_cb)
        SSL_CTX_set_record_padding_callback(ctx, pad_to_multiple);
    if (opt.msgcb || (opt.inject && !opt.ossl_ktls))
        SSL_CTX_set_msg_callback(ctx, on_msg);
    if (opt.keylog) {
        keylog_file = fopen(opt.keylog, "a");
        if (!keylog_file)
            usage("cannot open --keylog file");
        SSL_CTX_set_keylog_callback(ctx, on_keylog);
    }
    return ctx;
}

/* Waits for the socket in the direction OpenSSL asked for. */
static void wait_for(int fd, int ssl_err)
{
    struct pollfd p = {.fd = fd, .events = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
    poll(&p, 1, 1000);
}

static int handshake(SSL *ssl, int fd)
{
    if (opt.implicit)
        return 1; /* inside the first SSL_read/SSL_write */
    for (;;) {
        int r = opt.server ? SSL_accept(ssl) : SSL_connect(ssl);
        if (r == 1)
            return 1;
        int e = SSL_get_error(ssl, r);
        if (opt.nonblock && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)) {
            wait_for(fd, e);
            const BIO *before = SSL_get_wbio(ssl);
            for (unsigned i = 0; i < opt.set_fd_each_retry; i++)
                SSL_set_fd(ssl, fd);
            bio_same_address += opt.set_fd_each_retry && SSL_get_wbio(ssl) == before;
            continue;
        }
        ssl_error(ssl, r, "handshake");
        return 0;
    }
}

struct flow {
    unsigned char *out, *in;
    size_t sent, received, out_len, in_len;
    size_t pending; /* a write that returned WANT_WRITE: retry with the same length */
    EVP_MD_CTX *in_hash;
    unsigned peek_mismatch;
};

/* One write step. 1 progress/ok, 0 would block (*want set), -1 error. */
static int do_write(SSL *ssl, struct flow *f, const unsigned char *buf, size_t len, int *want)
{
    size_t n = f->pending ? f->pending : len;
    size_t done = 0;
    int r;
    if (raw_writes_only) {
        const char *why = "";
        if (n > 16384)
            n = 16384;
        if (raw_record_send(ssl, SSL_get_fd(ssl), SSL3_RT_APPLICATION_DATA, buf, n, &why))
            return (int)n;
        set_error("write:raw:%s", why);
        return -1;
    }
    if (opt.ex_api)
        r = SSL_write_ex(ssl, buf, n, &done);
    else {
        r = SSL_write(ssl, buf, (int)n);
        done = r > 0 ? (size_t)r : 0;
    }
    if (r > 0) {
        f->pending = 0;
        return (int)done;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        f->pending = n;
        *want = e;
        return 0;
    }
    ssl_error(ssl, r, "write");
    return -1;
}

/* --bio apr: a read as mod_ssl's ssl_io_input_read makes it once a request
 * was answered: first a non-blocking one (the pipeline check); after its
 * WANT_READ (which mod_ssl notes as the status EAGAIN) the event MPM waits
 * for the socket outside OpenSSL (keep-alive), then a read that may wait.
 * The data of an SSL_read comes back with the status the read BIO kept
 * from its last read: EAGAIN there fails the read, as it fails the request
 * in mod_ssl (ssl_io_input_getline). */
static long apr_read(SSL *ssl, unsigned char *buf, size_t cap, int *closed)
{
    struct own_bio *rbio = BIO_get_data(SSL_get_rbio(ssl));
    for (int attempt = 0; attempt < 100; attempt++) {
        if (attempt == 1) {
            struct pollfd p = {.fd = rbio->fd, .events = POLLIN};
            poll(&p, 1, (int)opt.timeout * 1000);
        }
        own_bio_blocking = attempt > 0;
        int r = SSL_read(ssl, buf, (int)cap);
        own_bio_blocking = 1;
        if (r > 0 && rbio->last_read_eagain) {
            set_error("read:stale-eagain");
            return -1;
        }
        if (r > 0)
            return r;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            rbio->last_read_eagain = 1;
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            *closed = 1;
            return -1;
        }
        ssl_error(ssl, r, "read");
        return -1;
    }
    set_error("read:apr:no-progress");
    return -1;
}

/* One read step: >0 bytes, 0 would block, -1 closed/error (*closed for clean close). */
static long do_read(SSL *ssl, struct flow *f, unsigned char *buf, size_t cap, int *want, int *closed)
{
    if (opt.peek) {
        unsigned char *pk = malloc(cap);
        size_t pn = 0;
        int pr = opt.ex_api ? SSL_peek_ex(ssl, pk, cap, &pn) : SSL_peek(ssl, pk, (int)cap);
        if (!opt.ex_api && pr > 0)
            pn = (size_t)pr;
        if (pr > 0) {
            size_t got = 0;
            int rr = opt.ex_api ? SSL_read_ex(ssl, buf, pn, &got) : SSL_read(ssl, buf, (int)pn);
            if (!opt.ex_api && rr > 0)
                got = (size_t)rr;
            if (rr <= 0 || got != pn || memcmp(pk, buf, pn) != 0)
                f->peek_mismatch++;
            free(pk);
            return rr > 0 ? (long)got : -1;
        }
        free(pk);
    }
    if (opt.bio == OWN_APR)
        return apr_read(ssl, buf, cap, closed);
    size_t got = 0;
    int r = opt.ex_api ? SSL_read_ex(ssl, buf, cap, &got) : SSL_read(ssl, buf, (int)cap);
    if (!opt.ex_api && r > 0)
        got = (size_t)r;
    if (r > 0)
        return (long)got;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        *closed = 1;
        return -1;
    }
    ssl_error(ssl, r, "read");
    return -1;
}

/* Once f.sent reaches the configured point: a KeyUpdate (TLS 1.3) or a
 * renegotiation (TLS 1.2), so the peer meets it mid-stream. 0 on failure. */
static size_t key_updates_done;
static const char *ku_view = "ok"; /* what SSL_get_key_update_type said, as OpenSSL documents it */

/* --inject TYPE:HEX[*COUNT][,...]: each record (COUNT times, HEX its bytes,
 * empty for a record of no bytes) written raw, so the peer meets records
 * OpenSSL would never send (a fatal user_canceled, a HelloRequest in a
 * stream, an alert of no bytes): with --ossl-ktls straight to the kernel's
 * TLS with a TLS_SET_RECORD_TYPE cmsg (which sends nothing for no bytes),
 * else encrypted here (TLS 1.2 AES-GCM). 0 on failure. */
static int inject_records(SSL *ssl)
{
    int fd = SSL_get_fd(ssl);
    unsigned char probe[64];
    socklen_t plen = 4;
    if (opt.ossl_ktls && (fd < 0 || getsockopt(fd, SOL_TLS_LEVEL, 1 /* TLS_TX */, probe, &plen) != 0)) {
        set_error("inject:no-kernel-tx");
        return 0;
    }
    if (!opt.ossl_ktls)
        raw_writes_only = 1;
    char spec[512];
    snprintf(spec, sizeof(spec), "%s", opt.inject);
    for (char *save = NULL, *item = strtok_r(spec, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        unsigned type = 0, count = 1;
        char *colon = strchr(item, ':');
        if (!colon || sscanf(item, "%u", &type) != 1) {
            set_error("inject:bad-spec");
            return 0;
        }
        char *star = strchr(colon + 1, '*');
        if (star) {
            count = (unsigned)atoi(star + 1);
            *star = 0;
        }
        unsigned char body[256];
        size_t len = strlen(colon + 1) / 2;
        for (size_t i = 0; i < len && i < sizeof(body); i++)
            sscanf(colon + 1 + 2 * i, "%2hhx", &body[i]);
        for (unsigned k = 0; k < count && !opt.ossl_ktls; k++) {
            const char *why = "";
            if (!raw_record_send(ssl, fd, (uint8_t)type, body, len, &why)) {
                set_error("inject:raw:%s", why);
                return 0;
            }
        }
        for (unsigned k = 0; k < count && opt.ossl_ktls; k++) {
            char cbuf[CMSG_SPACE(1)] = {0};
            struct iovec iov = {.iov_base = body, .iov_len = len};
            struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                 .msg_controllen = sizeof(cbuf)};
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_TLS_LEVEL;
            cm->cmsg_type = 1; /* TLS_SET_RECORD_TYPE */
            cm->cmsg_len = CMSG_LEN(1);
            *CMSG_DATA(cm) = (unsigned char)type;
            if (sendmsg(fd, &msg, 0) < 0) {
                set_error("inject:sendmsg:%s", strerror(errno));
                return 0;
            }
        }
    }
    return 1;
}

static int post_handshake_sent(SSL *ssl, size_t sent)
{
    static int renegotiate_done, burst_done, inject_done;
    if (opt.inject && !inject_done && sent >= opt.inject_after) {
        inject_done = 1;
        if (!inject_records(ssl))
            return 0;
        if (opt.pause_after_inject)
            usleep(opt.pause_after_inject * 1000u);
    }
    if (opt.key_update_burst && !burst_done && sent >= opt.key_update_after) {
        /* each sent at once, before the next is asked for */
        burst_done = 1;
        for (size_t i = 0; i < opt.key_update_burst; i++) {
            int r = SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED);
            if (r == 1)
                r = SSL_do_handshake(ssl);
            if (r != 1) {
                ssl_error(ssl, r, "key_update");
                return 0;
            }
            key_updates_done++;
        }
        return 1;
    }
    static size_t next_at;
    size_t wanted = opt.key_update_every ? (opt.key_updates ? opt.key_updates : 1)
                                         : opt.key_update_after ? 1 : 0;
    int type = opt.key_update_requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED;
    if (key_updates_done && key_updates_done <= wanted && sent > 0
        && SSL_get_key_update_type(ssl) != SSL_KEY_UPDATE_NONE && !strcmp(ku_view, "ok"))
        ku_view = "bad:still-owed-after-a-write";
    if (!next_at)
        next_at = opt.key_update_after ? opt.key_update_after : opt.key_update_every;
    if (key_updates_done < wanted && sent >= next_at) {
        key_updates_done++;
        next_at += opt.key_update_every;
        if (!SSL_key_update(ssl, type)) {
            ssl_error(ssl, 0, "key_update");
            return 0;
        }
        if (SSL_get_key_update_type(ssl) != type && !strcmp(ku_view, "ok"))
            ku_view = "bad:not-owed-after-SSL_key_update";
    }
    if (opt.renegotiate_after && !renegotiate_done && sent >= opt.renegotiate_after) {
        renegotiate_done = 1;
        int r = SSL_renegotiate(ssl);
        if (r == 1)
            r = SSL_do_handshake(ssl);
        if (r != 1) {
            ssl_error(ssl, r, "renegotiate");
            return 0;
        }
    }
    return 1;
}

static void hex(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int ktls_set(int fd, int opt_name)
{
    unsigned char info[64];
    socklen_t len = 4; /* struct tls_crypto_info: other sizes must match exactly */
    return getsockopt(fd, SOL_TLS_LEVEL, opt_name, info, &len) == 0;
}

static int run_connection(SSL_CTX *ctx, int fd)
{
    strcpy(error_text, "none");
    strcpy(last_error, "none");
    strcpy(error_code, "none");
    strcpy(error_queue, "none");
    msgcb_calls = 0;
    SSL *ssl = SSL_new(ctx);
    if (opt.dup)
        SSL_set_msg_callback(ssl, on_msg); /* the copies must keep it */
    for (size_t i = 0; i < opt.dup; i++) {
        SSL *copy = SSL_dup(ssl);
        if (!copy)
            usage("SSL_dup failed");
        SSL_free(ssl);
        ssl = copy;
    }
    own_bio_attach(ssl, fd, (enum own_bio_mode)opt.bio);
    if (resume_from)
        SSL_set_session(ssl, resume_from);
    if (opt.server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    if (opt.nonblock)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    struct flow f = {0};
    f.out_len = opt.send;
    f.out = make_payload(f.out_len);
    f.in = malloc(opt.read_chunk + 1);
    f.in_hash = EVP_MD_CTX_new();
    EVP_DigestInit_ex(f.in_hash, EVP_sha256(), NULL);
    int ok = handshake(ssl, fd);
    int closed = 0, failed = !ok;
    size_t want_in = opt.echo ? (size_t)-1 : opt.expect;

    /* sequential in blocking mode: the side that receives first avoids deadlock */
    int receive_first = opt.server;
    while (!failed && (f.sent < f.out_len || (f.received < want_in && !closed))) {
        int want = 0, progressed = 0;
        int may_write = f.sent < f.out_len && (opt.nonblock || !receive_first
                                               || f.received >= want_in || closed);
        if (may_write && !post_handshake_sent(ssl, f.sent)) {
            failed = 1;
            break;
        }
        if (may_write) {
            size_t len = f.out_len - f.sent < opt.chunk ? f.out_len - f.sent : opt.chunk;
            int w = do_write(ssl, &f, f.out + f.sent, len, &want);
            if (w < 0)
                failed = 1;
            f.sent += (size_t)(w > 0 ? w : 0);
            progressed |= w > 0;
        }
        int may_read = f.received < want_in && !closed
                       && (opt.nonblock || receive_first || f.sent >= f.out_len);
        if (!failed && may_read) {
            long n = do_read(ssl, &f, f.in, opt.read_chunk, &want, &closed);
            if (n > 0) {
                EVP_DigestUpdate(f.in_hash, f.in, (size_t)n);
                f.received += (size_t)n;
                progressed = 1;
                if (opt.echo) { /* echo what came in, before reading more */
                    size_t off = 0;
                    while (off < (size_t)n && !failed) {
                        int ew = 0;
                        int w = do_write(ssl, &f, f.in + off, (size_t)n - off, &ew);
                        if (w < 0)
                            failed = 1;
                        else if (w == 0)
                            wait_for(fd, ew);
                        off += (size_t)(w > 0 ? w : 0);
                    }
                    /* sha of what we sent equals what we received */
                }
            } else if (n < 0 && !closed)
                failed = 1;
            else if (n < 0 && closed && opt.echo)
                break;
        }
        if (!failed && !progressed && opt.nonblock)
            wait_for(fd, want ? want : SSL_ERROR_WANT_READ);
        if (closed && f.received < want_in && !opt.echo) {
            set_error("closed_early");
            failed = 1;
        }
    }
    if (opt.echo)
        f.sent = f.received;

    int tx = ktls_set(fd, 1), rx = ktls_set(fd, 2);
    /* a KeyUpdate still owed at the end (OpenSSL answers a peer's request at
     * its next write): a peer counting our updates must not expect it */
    int ku_owed = SSL_version(ssl) == TLS1_3_VERSION && SSL_get_key_update_type(ssl) != SSL_KEY_UPDATE_NONE;
    char ulp[16] = "none";
    socklen_t ulen = sizeof(ulp);
    if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &ulen) != 0 || !ulp[0])
        strcpy(ulp, "none");

    if (!failed && raw_writes_only) { /* our close_notify, then OpenSSL waits for the peer's */
        static const uint8_t close_notify[2] = {1, 0};
        const char *why = "";
        if (!raw_record_send(ssl, fd, SSL3_RT_ALERT, close_notify, 2, &why)) {
            set_error("shutdown:raw:%s", why);
            failed = 1;
        }
        SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
    }
    if (!failed) { /* bidirectional shutdown */
        for (int i = 0; i < 2000; i++) {
            int r = SSL_shutdown(ssl);
            if (r == 1)
                break;
            if (r == 0)
                continue;
            int e = SSL_get_error(ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                wait_for(fd, e);
                continue;
            }
            if (closed)
                break; /* the peer's close_notify was already read; it may be gone */
            ssl_error(ssl, r, "shutdown");
            failed = 1;
            break;
        }
    }
    if (f.peek_mismatch)
        set_error("peek-mismatch:%u", f.peek_mismatch);

    unsigned char md[32], sent_md[32];
    unsigned mdlen;
    EVP_DigestFinal_ex(f.in_hash, md, &mdlen);
    if (opt.echo)
        memcpy(sent_md, md, 32);
    else
        EVP_Digest(f.out, f.sent, sent_md, &mdlen, EVP_sha256(), NULL);
    char in_hex[65], out_hex[65];
    hex(md, 32, in_hex);
    hex(sent_md, 32, out_hex);
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    printf("RESULT role=%s version=%s cipher=%s sent=%zu sent_sha256=%s received=%zu "
           "received_sha256=%s ktls_tx=%d ktls_rx=%d ulp=%s shutdown=%d msgcb_calls=%ld error=%s "
           "last_error=%s error_code=%s errors=%s reused=%d key_updates=%zu ku_view=%s ku_owed=%d "
           "rec_in_min=%u rec_in_max=%u bios_live=%d bio_same_address=%d\n",
           opt.server ? "server" : "client", SSL_get_version(ssl), c ? SSL_CIPHER_get_name(c) : "none",
           f.sent, out_hex, f.received, in_hex, tx, rx, ulp, SSL_get_shutdown(ssl), msgcb_calls,
           error_text, last_error, error_code, error_queue, (int)SSL_session_reused(ssl),
           key_updates_done, ku_view, ku_owed, rec_in_min, rec_in_max, own_bios_live,
           bio_same_address);
    fflush(stdout);
    if (!opt.server) { /* a TLS 1.3 ticket came with the data: resumable now */
        SSL_SESSION_free(resume_from);
        resume_from = SSL_get1_session(ssl);
    }
    EVP_MD_CTX_free(f.in_hash);
    free(f.out);
    free(f.in);
    SSL_free(ssl);
    if (opt.bio != OWN_SOCKET)
        printf("FREED bios_live=%d\n", own_bios_live);
    close(fd);
    return failed || strcmp(error_text, "none") != 0;
}

static size_t number(const char *s, const char *name)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end)
        usage(name);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
        usage("first argument must be server or client");
    opt.server = strcmp(argv[1], "server") == 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE() (v ? (i++, v) : (usage("missing value"), ""))
        if (!strcmp(a, "--host")) opt.host = VALUE();
        else if (!strcmp(a, "--port")) opt.port = (int)number(VALUE(), "bad --port");
        else if (!strcmp(a, "--tls")) {
            const char *t = VALUE();
            opt.version = !strcmp(t, "1.2") ? TLS1_2_VERSION : !strcmp(t, "1.3") ? TLS1_3_VERSION : -1;
            if (opt.version < 0) usage("bad --tls (1.2|1.3)");
        }
        else if (!strcmp(a, "--cipher")) opt.cipher = VALUE();
        else if (!strcmp(a, "--seclevel")) opt.seclevel = (int)number(VALUE(), "bad --seclevel");
        else if (!strcmp(a, "--cert")) opt.cert = VALUE();
        else if (!strcmp(a, "--key")) opt.key = VALUE();
        else if (!strcmp(a, "--send")) opt.send = number(VALUE(), "bad --send");
        else if (!strcmp(a, "--expect")) opt.expect = number(VALUE(), "bad --expect");
        else if (!strcmp(a, "--chunk")) opt.chunk = number(VALUE(), "bad --chunk");
        else if (!strcmp(a, "--read-chunk")) opt.read_chunk = number(VALUE(), "bad --read-chunk");
        else if (!strcmp(a, "--seed")) opt.seed = (unsigned)number(VALUE(), "bad --seed");
        else if (!strcmp(a, "--timeout")) opt.timeout = (unsigned)number(VALUE(), "bad --timeout");
        else if (!strcmp(a, "--keylog")) opt.keylog = VALUE();
        else if (!strcmp(a, "--marker")) opt.marker = VALUE();
        else if (!strcmp(a, "--key-update-after"))
            opt.key_update_after = number(VALUE(), "bad --key-update-after");
        else if (!strcmp(a, "--key-update-every"))
            opt.key_update_every = number(VALUE(), "bad --key-update-every");
        else if (!strcmp(a, "--key-updates")) opt.key_updates = number(VALUE(), "bad --key-updates");
        else if (!strcmp(a, "--key-update-requested")) opt.key_update_requested = 1;
        else if (!strcmp(a, "--payload-only")) opt.payload_only = 1;
        else if (!strcmp(a, "--dup")) opt.dup = number(VALUE(), "bad --dup");
        else if (!strcmp(a, "--max-send-fragment"))
            opt.max_send_fragment = number(VALUE(), "bad --max-send-fragment");
        else if (!strcmp(a, "--block-padding"))
            opt.block_padding = number(VALUE(), "bad --block-padding");
        else if (!strcmp(a, "--padding-cb")) {
            opt.padding_cb = number(VALUE(), "bad --padding-cb");
            if (!opt.padding_cb)
                usage("--padding-cb must be > 0");
        }
        else if (!strcmp(a, "--key-update-burst"))
            opt.key_update_burst = number(VALUE(), "bad --key-update-burst");
        else if (!strcmp(a, "--inject")) opt.inject = VALUE();
        else if (!strcmp(a, "--pause-after-inject"))
            opt.pause_after_inject = (unsigned)number(VALUE(), "bad --pause-after-inject");
        else if (!strcmp(a, "--pause-after-ccs"))
            own_bio_pause_after_ccs_ms = (unsigned)number(VALUE(), "bad --pause-after-ccs");
        else if (!strcmp(a, "--inject-after"))
            opt.inject_after = number(VALUE(), "bad --inject-after");
        else if (!strcmp(a, "--renegotiate-after"))
            opt.renegotiate_after = number(VALUE(), "bad --renegotiate-after");
        else if (!strcmp(a, "--api")) {
            const char *t = VALUE();
            if (strcmp(t, "ex") && strcmp(t, "classic")) usage("bad --api (classic|ex)");
            opt.ex_api = !strcmp(t, "ex");
        }
        else if (!strcmp(a, "--echo")) opt.echo = 1;
        else if (!strcmp(a, "--nonblock")) opt.nonblock = 1;
        else if (!strcmp(a, "--partial")) opt.partial = 1;
        else if (!strcmp(a, "--implicit")) opt.implicit = 1;
        else if (!strcmp(a, "--peek")) opt.peek = 1;
        else if (!strcmp(a, "--msgcb")) opt.msgcb = 1;
        else if (!strcmp(a, "--text")) opt.text = 1;
        else if (!strcmp(a, "--ossl-ktls")) opt.ossl_ktls = 1;
        else if (!strcmp(a, "--no-reneg")) opt.no_reneg = 1;
        else if (!strcmp(a, "--keep-serving")) opt.keep_serving = 1;
        else if (!strcmp(a, "--bio")) {
            opt.bio = own_bio_mode_of(VALUE());
            if (opt.bio < 0) usage("bad --bio (socket|custom|split|wait|readahead|xor|apr)");
        }
        else if (!strcmp(a, "--set-fd-each-retry"))
            opt.set_fd_each_retry = (unsigned)number(VALUE(), "bad --set-fd-each-retry");
        else if (!strcmp(a, "--conns")) {
            opt.conns = (unsigned)number(VALUE(), "bad --conns");
            if (!opt.conns) usage("--conns must be > 0");
        }
        else {
            fprintf(stderr, "tls_endpoint: unknown option %s\n", a);
            return 2;
        }
    }
    if (!opt.chunk || !opt.read_chunk)
        usage("--chunk and --read-chunk must be > 0");
    if (opt.payload_only) { /* no connection: what the peer should have received */
        unsigned char md[32];
        char md_hex[65];
        unsigned char *out = make_payload(opt.send);
        EVP_Digest(out, opt.send, md, NULL, EVP_sha256(), NULL);
        hex(md, 32, md_hex);
        printf("PAYLOAD bytes=%zu sha256=%s\n", opt.send, md_hex);
        free(out);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(opt.timeout);
    SSL_CTX *ctx = make_ctx();

    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &a.sin_addr) != 1)
        usage("bad --host (IPv4 address)");
    int l = -1, rc = 0;
    if (opt.server) {
        int one = 1;
        l = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        socklen_t len = sizeof(a);
        if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8)
            || getsockname(l, (struct sockaddr *)&a, &len))
            usage("cannot listen");
        printf("PORT %d\n", ntohs(a.sin_port));
        fflush(stdout);
    }
    for (unsigned i = 0; i < opt.conns && (rc == 0 || opt.keep_serving); i++) {
        int fd;
        if (opt.server) {
            fd = accept(l, NULL, NULL);
            if (fd < 0)
                usage("accept failed");
        } else {
            fd = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
                set_error("connect:%s", strerror(errno));
                printf("RESULT role=client error=%s\n", error_text);
                return 1;
            }
        }
        rc |= run_connection(ctx, fd);
    }
    if (l >= 0)
        close(l);
    SSL_SESSION_free(resume_from);
    SSL_CTX_free(ctx);
    return rc;
}

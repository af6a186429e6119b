/* own_bio.h: the program's own BIO over its socket, the way services that
 * cannot use a socket BIO build one (BIO_meth_new), for tls_endpoint --bio:
 *   socket     OpenSSL's socket BIO (SSL_set_fd), the default
 *   custom     one BIO for both directions, recv()/send() on the socket,
 *              EAGAIN handed to OpenSSL as a retry (libpq, curl, HAProxy)
 *   split      a read BIO and a write BIO (Apache httpd's mod_ssl)
 *   wait       like custom on an O_NONBLOCK socket, but the BIO itself polls
 *              with a timeout on EAGAIN and retries (APR, Apache httpd)
 *   readahead  the read BIO takes up to 16 KiB from the socket at a time and
 *              serves OpenSSL from that buffer (Apache's core input filter)
 *   xor        like custom, but every byte is XORed with 0x5a on its way to
 *              and from the socket: a layer that keeps lengths and changes
 *              content (obfuscation; both ends need it)
 *   apr        mod_ssl over APR: a read and a write BIO on an O_NONBLOCK
 *              socket; the read BIO reads ahead, waits for the socket only
 *              while the program's read is a blocking one (own_bio_blocking),
 *              and keeps the status of its last read (inctx->rc), which the
 *              program hands back with the data of its next SSL_read */
#ifndef OWN_BIO_H
#define OWN_BIO_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>

enum own_bio_mode { OWN_SOCKET, OWN_CUSTOM, OWN_SPLIT, OWN_WAIT, OWN_READAHEAD, OWN_XOR, OWN_APR };

#define OWN_XOR_MASK 0x5a

struct own_bio {
    int fd, waits;
    unsigned char ahead[16384];
    size_t ahead_len, ahead_off;
    int readahead, xor, apr;
    int last_read_eagain; /* apr: the status of the last read (mod_ssl's inctx->rc) */
};

/* apr: whether the program's current read may wait (mod_ssl's inctx->block) */
static int own_bio_blocking = 1;
/* A sleep once this side's ChangeCipherSpec is on the wire (its Finished
 * goes with it): what the peer sends next arrives in one burst. */
static unsigned own_bio_pause_after_ccs_ms;

/* Whether the records in buf (whole ones from its start) hold a CCS. */
static int own_bio_holds_ccs(const unsigned char *buf, size_t len)
{
    for (size_t at = 0; at + 5 <= len; at += 5 + ((size_t)buf[at + 3] << 8 | buf[at + 4]))
        if (buf[at] == 20)
            return 1;
    return 0;
}

/* How many of the program's BIOs exist: the program holds its own pointers
 * to them (mod_ssl calls BIO_get_data on its write BIO after every write),
 * so none may be freed before SSL_free, and SSL_free must free them all. */
static int own_bios_live;

static int own_bio_wait(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, 30000) == 1;
}

static int own_bio_write(BIO *b, const char *buf, int len)
{
    struct own_bio *p = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    unsigned char masked[16384 + 2048 + 5];
    if (p->xor) {
        if ((size_t)len > sizeof(masked))
            len = (int)sizeof(masked); /* a partial write, as a socket may make */
        for (int i = 0; i < len; i++)
            masked[i] = (unsigned char)buf[i] ^ OWN_XOR_MASK;
        buf = (const char *)masked;
    }
    for (;;) {
        ssize_t n = send(p->fd, buf, (size_t)len, MSG_NOSIGNAL);
        if (n > 0 && own_bio_pause_after_ccs_ms && own_bio_holds_ccs((const unsigned char *)buf, (size_t)n)) {
            poll(NULL, 0, (int)own_bio_pause_after_ccs_ms);
            own_bio_pause_after_ccs_ms = 0;
        }
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && (p->waits || p->apr) && own_bio_wait(p->fd, POLLOUT))
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return -1;
    }
}

static ssize_t own_bio_recv(struct own_bio *p, BIO *b, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(p->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && (p->waits || (p->apr && own_bio_blocking))
            && own_bio_wait(p->fd, POLLIN))
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            BIO_set_retry_read(b);
            p->last_read_eagain = 1;
        }
        return -1;
    }
}

static int own_bio_read(BIO *b, char *buf, int len)
{
    struct own_bio *p = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    p->last_read_eagain = 0;
    if (p->xor) {
        ssize_t n = own_bio_recv(p, b, buf, (size_t)len);
        for (ssize_t i = 0; i < n; i++)
            buf[i] = (char)(buf[i] ^ OWN_XOR_MASK);
        return (int)n;
    }
    if (!p->readahead)
        return (int)own_bio_recv(p, b, buf, (size_t)len);
    if (p->ahead_off == p->ahead_len) {
        ssize_t n = own_bio_recv(p, b, p->ahead, sizeof(p->ahead));
        if (n <= 0)
            return (int)n;
        p->ahead_len = (size_t)n;
        p->ahead_off = 0;
    }
    size_t k = p->ahead_len - p->ahead_off;
    if (k > (size_t)len)
        k = (size_t)len;
    memcpy(buf, p->ahead + p->ahead_off, k);
    p->ahead_off += k;
    return (int)k;
}

static long own_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int own_bio_destroy(BIO *b)
{
    own_bios_live--;
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

/* The layers' BIO method, with write as its write function (a test program
 * may put its own in front of own_bio_write). */
static inline BIO_METHOD *own_bio_method(int (*write)(BIO *, const char *, int), const char *name)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);
    if (!m)
        abort();
    BIO_meth_set_write(m, write);
    BIO_meth_set_read(m, own_bio_read);
    BIO_meth_set_ctrl(m, own_bio_ctrl);
    BIO_meth_set_destroy(m, own_bio_destroy);
    return m;
}

static inline BIO *own_bio_new_with(BIO_METHOD *m, int fd, enum own_bio_mode mode)
{
    struct own_bio *p = calloc(1, sizeof(*p));
    BIO *b = BIO_new(m);
    if (!p || !b)
        abort();
    p->fd = fd;
    p->waits = mode == OWN_WAIT;
    p->readahead = mode == OWN_READAHEAD || mode == OWN_APR;
    p->apr = mode == OWN_APR;
    p->xor = mode == OWN_XOR;
    BIO_set_data(b, p);
    BIO_set_init(b, 1);
    own_bios_live++;
    return b;
}

static inline BIO *own_bio_new(int fd, enum own_bio_mode mode)
{
    static BIO_METHOD *m;
    if (!m)
        m = own_bio_method(own_bio_write, "own socket layer");
    return own_bio_new_with(m, fd, mode);
}

/* Gives ssl the program's own BIO(s) over fd instead of a socket BIO. */
static inline void own_bio_attach(SSL *ssl, int fd, enum own_bio_mode mode)
{
    if (mode == OWN_SOCKET) {
        SSL_set_fd(ssl, fd);
        return;
    }
    if (mode == OWN_WAIT || mode == OWN_APR)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    BIO *r = own_bio_new(fd, mode);
    BIO *w = mode == OWN_CUSTOM || mode == OWN_WAIT || mode == OWN_XOR ? r : own_bio_new(fd, mode);
    /* one BIO for both: SSL_set_bio takes one reference, not two */
    SSL_set_bio(ssl, r, w);
}

static inline int own_bio_mode_of(const char *name)
{
    static const char *const names[] = {"socket", "custom", "split", "wait", "readahead", "xor", "apr"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

#endif

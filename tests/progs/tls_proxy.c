/* tls_proxy: an unshimmed man in the middle on loopback for the bad-input
 * tests (C, so that it starts at once in the emulated guest). It forwards TCP
 * bytes between a client and --target untouched, except that in one
 * direction (--dir) it parses TLS records and misbehaves at the K-th "big"
 * record (length >= --min-len, so handshake, ticket and alert records are
 * never touched and the handshake always completes):
 *
 *   none          forward everything (with --capture: a raw wire capture)
 *   flip          flip one bit in the middle of the record's ciphertext
 *   biglen        rewrite the header length to 0xffff (over every limit)
 *   shortlen      rewrite the header length to 1 (shorter than any AEAD tag)
 *   cut-mid       forward the header and half the body, then close both sides
 *   cut-boundary  forward every record before it, then close both sides
 *
 * tls_proxy --target PORT [--dir s2c|c2s] [--action A] [--record K]
 *           [--min-len N] [--conns N] [--capture FILE] [--delay-ms N]
 * --delay-ms holds the K-th record back that long before acting, so that the
 * endpoints finish their handshake (and the shim its move to the kernel)
 * before a cut closes the connection: a socket that has already had the FIN
 * can no longer take the tls ULP (ENOTCONN), and the shim rightly stays out.
 * Prints "PORT n" once listening and "ACTED ..." when it misbehaved; serves
 * --conns connections (each in its own process), then exits. A peer that
 * resets is passed on as a plain FIN, and a side whose receiver has gone is
 * drained, so what the other side reads never depends on RST timing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum action { NONE, FLIP, BIGLEN, SHORTLEN, CUT_MID, CUT_BOUNDARY };
static const char *const action_names[] = {"none", "flip", "biglen", "shortlen", "cut-mid",
                                           "cut-boundary"};

static struct {
    int target, s2c, record, min_len, conns, capture_fd, delay_ms;
    enum action action;
} opt = {.s2c = 1, .record = 2, .min_len = 2048, .conns = 1, .capture_fd = -1};

struct pump {
    int src, dst, parse;
};

static void usage(const char *why)
{
    fprintf(stderr, "tls_proxy: %s\n", why);
    exit(2);
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void capture(const uint8_t *p, size_t n)
{
    if (opt.capture_fd >= 0 && write(opt.capture_fd, p, n) != (ssize_t)n)
        usage("capture write failed");
}

/* The receiver is gone: keep reading so the sender never gets a reset. */
static void drain(int src)
{
    uint8_t tmp[65536];
    while (recv(src, tmp, sizeof(tmp), 0) > 0)
        ;
}

/* Applies the action to one complete record; 1 when the pump must stop. */
static int act(struct pump *p, uint8_t *rec, size_t len, size_t body)
{
    int stop = 0;
    if (opt.delay_ms > 0)
        usleep((useconds_t)opt.delay_ms * 1000);
    switch (opt.action) {
    case FLIP:
        rec[5 + body / 2] ^= 0x01;
        break;
    case BIGLEN:
    case SHORTLEN: {
        unsigned v = opt.action == BIGLEN ? 0xffff : 1;
        rec[3] = (uint8_t)(v >> 8);
        rec[4] = (uint8_t)v;
        break;
    }
    case CUT_MID:
        len = 5 + body / 2;
        stop = 1;
        break;
    case CUT_BOUNDARY:
        len = 0;
        stop = 1;
        break;
    case NONE:
        break;
    }
    printf("ACTED %s record %d length %zu\n", action_names[opt.action], opt.record, body);
    fflush(stdout);
    if (send_all(p->dst, rec, len) < 0)
        return -1;
    return stop;
}

static void *pump(void *arg)
{
    struct pump *p = arg;
    size_t cap = 65536 + 5, have = 0;
    uint8_t *buf = malloc(cap);
    int big = 0, acted = !p->parse || opt.action == NONE, dead = 0;
    for (;;) {
        if (have == cap)
            usage("record buffer overflow");
        ssize_t n = recv(p->src, buf + have, cap - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        capture(buf + have, (size_t)n);
        have += (size_t)n;
        size_t off = 0;
        while (!acted && have - off >= 5) {
            size_t body = (size_t)buf[off + 3] << 8 | buf[off + 4];
            if (have - off < 5 + body)
                break;
            if (body >= (size_t)opt.min_len && ++big == opt.record) {
                acted = 1;
                if (send_all(p->dst, buf, off) < 0) {
                    dead = 1;
                    break;
                }
                int r = act(p, buf + off, 5 + body, body);
                off += 5 + body;
                if (r == 1) {
                    shutdown(p->src, SHUT_RDWR);
                    shutdown(p->dst, SHUT_RDWR);
                    free(buf);
                    return NULL;
                }
                memmove(buf, buf + off, have - off);
                have -= off;
                off = 0;
                dead = r < 0;
                break;
            }
            off += 5 + body;
        }
        if (dead)
            break;
        /* whole records (or everything, once acted) go on now */
        size_t out = acted ? have : off;
        if (send_all(p->dst, buf, out) < 0) {
            dead = 1;
            break;
        }
        memmove(buf, buf + out, have - out);
        have -= out;
    }
    if (dead)
        drain(p->src);
    else
        (void)send_all(p->dst, buf, have);
    shutdown(p->dst, SHUT_WR);
    free(buf);
    return NULL;
}

static void serve(int client)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.target)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int server = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(server, (struct sockaddr *)&a, sizeof(a)) != 0)
        usage("cannot connect to --target");
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct pump c2s = {client, server, !opt.s2c}, s2c = {server, client, opt.s2c};
    pthread_t t;
    pthread_create(&t, NULL, pump, &c2s);
    pump(&s2c);
    pthread_join(t, NULL);
    close(client);
    close(server);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage("missing value");
        i++;
        if (!strcmp(a, "--target"))
            opt.target = atoi(v);
        else if (!strcmp(a, "--dir"))
            opt.s2c = !strcmp(v, "s2c") ? 1 : !strcmp(v, "c2s") ? 0 : (usage("bad --dir"), 0);
        else if (!strcmp(a, "--action")) {
            size_t k = 0;
            while (k < sizeof(action_names) / sizeof(*action_names) && strcmp(v, action_names[k]))
                k++;
            if (k == sizeof(action_names) / sizeof(*action_names))
                usage("bad --action");
            opt.action = (enum action)k;
        } else if (!strcmp(a, "--record"))
            opt.record = atoi(v);
        else if (!strcmp(a, "--min-len"))
            opt.min_len = atoi(v);
        else if (!strcmp(a, "--conns"))
            opt.conns = atoi(v);
        else if (!strcmp(a, "--delay-ms"))
            opt.delay_ms = atoi(v);
        else if (!strcmp(a, "--capture")) {
            opt.capture_fd = open(v, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (opt.capture_fd < 0)
                usage("cannot open --capture");
        } else
            usage("unknown option");
    }
    if (opt.target <= 0 || opt.record <= 0 || opt.conns <= 0)
        usage("--target, --record and --conns must be > 0");
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1024)
        || getsockname(l, (struct sockaddr *)&a, &len))
        usage("cannot listen");
    printf("PORT %d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (int i = 0; i < opt.conns; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            usage("accept failed");
        pid_t pid = fork();
        if (pid == 0) {
            close(l);
            serve(c);
            _exit(0);
        }
        close(c);
    }
    close(l);
    int status, rc = 0;
    while (wait(&status) > 0)
        rc |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return rc;
}

/* sockwatch: which TCP socket a program's own BIO uses, found from the I/O
 * made inside the connection's SSL calls, and the bytes the process moves on
 * it anywhere; the layer's way of waiting; the reads the shim answers itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "sockwatch.h"
#include "unit.h"

/* a connected loopback TCP pair: *a and *b */
/* a hook's call that moved n bytes of zeros (no TLS record: these tests
 * count, test_record_stream.c follows content) */
static void io_of(int fd, ssize_t n, int is_write)
{
    static char zeros[256];
    struct iovec one = {.iov_base = zeros, .iov_len = n > 0 ? (size_t)n : 0};
    sockwatch_io(fd, n, is_write, &one, 1);
}

static int tcp_pair(int *a, int *b)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1)
        || getsockname(l, (struct sockaddr *)&sa, &len))
        return 0;
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof(sa)))
        return 0;
    *b = accept(l, NULL, NULL);
    close(l);
    return *b >= 0;
}

static struct conn *fresh_conn(SSL **ssl)
{
    static SSL_CTX *ctx;
    if (!ctx)
        ctx = SSL_CTX_new(TLS_method());
    *ssl = SSL_new(ctx);
    return *ssl ? conn_attach(*ssl) : NULL;
}

/* as the data path's WATCHED_CALL does: the connection held while current */
static struct sock_watch *enter(struct conn *c)
{
    conn_hold(c);
    return sockwatch_enter(&c->watch);
}

static void leave(struct conn *c, struct sock_watch *outer, int call_went_on)
{
    sockwatch_leave(&c->watch, outer, call_went_on);
    conn_release(c);
}

TEST(sockwatch_binds_the_first_tcp_socket_of_a_call_and_counts_it_everywhere)
{
    SSL *ssl;
    struct conn *c = fresh_conn(&ssl);
    int a, b, other_a, other_b, p[2];
    REQUIRE(c && tcp_pair(&a, &b) && tcp_pair(&other_a, &other_b) && pipe(p) == 0);
    uint64_t w = 0, r = 0;
    CHECK(!sockwatch_counts(&c->watch, &w, &r)); /* nothing bound yet */

    struct sock_watch *outer = enter(c);
    errno = 1234;
    io_of(p[1], 5, 1); /* a log file or a pipe: not the connection's */
    CHECK_EQ_INT(errno, 1234);
    CHECK_EQ_INT(c->watch.fd, -1);
    io_of(a, 10, 1);
    CHECK_EQ_INT(c->watch.fd, a);
    CHECK(!c->watch.several);
    leave(c, outer, 1);
    CHECK(!c->watch.layer_waits);

    /* outside the SSL calls too: bytes the program moves itself count */
    io_of(a, 7, 0);
    io_of(a, 3, 1);
    io_of(a, -1, 0);
    io_of(b, 99, 1); /* the peer's descriptor is not ours */
    REQUIRE(sockwatch_counts(&c->watch, &w, &r));
    CHECK_EQ_INT(w, 13);
    CHECK_EQ_INT(r, 7);

    /* a second TCP socket inside the connection's calls: no proof possible */
    outer = enter(c);
    io_of(other_a, 1, 1);
    leave(c, outer, 1);
    CHECK(c->watch.several);

    /* closed: the counters belong to nobody, the numbers may be reused */
    sockwatch_forget(a);
    CHECK(!sockwatch_counts(&c->watch, &w, &r));
    SSL_free(ssl);
    close(a), close(b), close(other_a), close(other_b), close(p[0]), close(p[1]);
}

TEST(sockwatch_a_new_binding_starts_from_zero_and_the_old_one_reads_nothing)
{
    SSL *s1, *s2;
    struct conn *c1 = fresh_conn(&s1), *c2 = fresh_conn(&s2);
    int a, b;
    REQUIRE(c1 && c2 && tcp_pair(&a, &b));
    struct sock_watch *outer = enter(c1);
    io_of(a, 100, 1);
    leave(c1, outer, 1);
    sockwatch_release(&c1->watch); /* SSL_clear, SSL_free */
    outer = enter(c2);
    io_of(a, 4, 0);
    leave(c2, outer, 1);
    uint64_t w = 1, r = 1;
    REQUIRE(sockwatch_counts(&c2->watch, &w, &r));
    CHECK_EQ_INT(w, 0);
    CHECK_EQ_INT(r, 4);
    CHECK(!sockwatch_counts(&c1->watch, &w, &r));
    SSL_free(s1);
    SSL_free(s2);
    close(a), close(b);
}

/* The hooks look a descriptor up only while some socket is bound: once the
 * custom-BIO connections are gone, plain I/O costs what it did before the
 * first one (the flag used to stay set for the life of the process). */
TEST(sockwatch_hooks_skip_lookups_again_once_no_socket_is_bound)
{
    SSL *s1, *s2, *s3;
    struct conn *c1 = fresh_conn(&s1), *c2 = fresh_conn(&s2), *c3 = fresh_conn(&s3);
    int a, b, x, y, z, t;
    REQUIRE(c1 && c2 && c3 && tcp_pair(&a, &b) && tcp_pair(&x, &y) && tcp_pair(&z, &t));
    int before = atomic_load(&sockwatch_counting);
    struct sock_watch *outer = enter(c1);
    io_of(a, 10, 1);
    leave(c1, outer, 1);
    outer = enter(c2);
    io_of(x, 10, 1);
    leave(c2, outer, 1);
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before + 2);
    /* a new connection on a descriptor still bound takes it over: one binding */
    outer = enter(c3);
    io_of(a, 1, 1);
    leave(c3, outer, 1);
    CHECK_EQ_INT(c3->watch.fd, a);
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before + 2);
    sockwatch_release(&c1->watch); /* its claim was taken: nothing to undo */
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before + 2);
    sockwatch_release(&c3->watch); /* SSL_free */
    sockwatch_release(&c3->watch); /* twice: still one */
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before + 1);
    sockwatch_forget(x); /* close() */
    sockwatch_forget(x);
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before);
    sockwatch_release(&c2->watch); /* after close: nothing left */
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before);
    /* close_range() */
    outer = enter(c2);
    io_of(z, 1, 1);
    leave(c2, outer, 1);
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before + 1);
    sockwatch_forget_range((unsigned)z, (unsigned)z);
    CHECK_EQ_INT(atomic_load(&sockwatch_counting), before);
    SSL_free(s1), SSL_free(s2), SSL_free(s3);
    close(a), close(b), close(x), close(y), close(z), close(t);
}

TEST(sockwatch_learns_whether_the_programs_layer_waits_itself)
{
    SSL *ssl;
    struct conn *c = fresh_conn(&ssl);
    int a, b;
    REQUIRE(c && tcp_pair(&a, &b));
    /* EAGAIN handed back to OpenSSL as WANT_READ: a non-blocking layer */
    struct sock_watch *outer = enter(c);
    errno = EAGAIN;
    io_of(a, -1, 0);
    leave(c, outer, 0);
    CHECK(!c->watch.layer_waits);
    CHECK(c->watch.layer_returns);
    /* EAGAIN, and the call went on: the layer waited (APR) */
    outer = enter(c);
    errno = EAGAIN;
    io_of(a, -1, 0);
    leave(c, outer, 1);
    CHECK(c->watch.layer_waits);
    CHECK_EQ_INT(c->watch.wait_ms, 0); /* how long: unknown */
    /* its poll() says for how long */
    struct pollfd pf[2] = {{.fd = b}, {.fd = a, .events = POLLIN}};
    outer = enter(c);
    sockwatch_poll(pf, 2, 300000);
    sockwatch_poll(pf, 2, 5000);
    leave(c, outer, 1);
    CHECK_EQ_INT(c->watch.wait_ms, 300000);
    SSL_free(ssl);
    close(a), close(b);
}

TEST(sockwatch_forced_read_says_readable_without_taking_a_byte)
{
    int a, b;
    REQUIRE(tcp_pair(&a, &b));
    unsigned char buf[4] = {9, 9, 9, 9};
    errno = 0;
    CHECK_EQ_INT(sockwatch_forced_read(a, buf, sizeof(buf)), -1);
    CHECK_EQ_INT(errno, EAGAIN);
    REQUIRE(write(b, "xyz", 3) == 3);
    struct pollfd p = {.fd = a, .events = POLLIN};
    REQUIRE(poll(&p, 1, 2000) == 1);
    CHECK_EQ_INT(sockwatch_forced_read(a, buf, sizeof(buf)), 1);
    CHECK_EQ_INT(buf[0], 0);
    CHECK_EQ_INT(buf[1], 9);
    int queued = 0;
    CHECK(ioctl(a, FIONREAD, &queued) == 0 && queued == 3); /* still there for the kernel */
    close(a), close(b);
}

/* A layer like mod_ssl's read BIO: its socket reads go through what the
 * shim's read() hook does, and it keeps the status of its last read. */
struct status_layer {
    int fd, reads, last_status;
};

static int status_layer_read(BIO *b, char *buf, int len)
{
    struct status_layer *l = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    l->reads++;
    ssize_t n = l->fd == sockwatch_forced_fd ? sockwatch_forced_read(l->fd, buf, (size_t)len)
                                             : recv(l->fd, buf, (size_t)len, MSG_DONTWAIT);
    l->last_status = n > 0 ? 0 : errno;
    if (n < 0 && errno == EAGAIN)
        BIO_set_retry_read(b);
    return (int)n;
}

TEST(sockwatch_a_waiting_layer_told_eagain_sees_success_before_kernel_data)
{
    SSL *ssl;
    struct conn *c = fresh_conn(&ssl);
    int a, b;
    REQUIRE(c && tcp_pair(&a, &b));
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "status layer");
    BIO_meth_set_read(m, status_layer_read);
    BIO *rbio = BIO_new(m);
    struct status_layer l = {.fd = a};
    BIO_set_data(rbio, &l);
    BIO_set_init(rbio, 1);
    c->fd = a;
    /* nothing to read: the layer is told EAGAIN and keeps it */
    CHECK_EQ_INT(sockwatch_layer_wait_readable(&c->watch, c->fd, rbio), 0);
    CHECK(c->watch.layer_told_eagain);
    CHECK_EQ_INT(l.last_status, EAGAIN);
    /* a layer that hands EAGAIN to OpenSSL is left alone */
    sockwatch_layer_note_data(&c->watch, c->fd, rbio);
    CHECK_EQ_INT(l.reads, 1);
    /* one that waits itself reads once more and now holds success, and the
     * socket's bytes stay for the kernel */
    c->watch.layer_waits = 1;
    REQUIRE(write(b, "abc", 3) == 3);
    sockwatch_layer_note_data(&c->watch, c->fd, rbio);
    CHECK_EQ_INT(l.reads, 2);
    CHECK_EQ_INT(l.last_status, 0);
    CHECK(!c->watch.layer_told_eagain);
    int queued = 0;
    CHECK(ioctl(a, FIONREAD, &queued) == 0 && queued == 3);
    /* only once */
    sockwatch_layer_note_data(&c->watch, c->fd, rbio);
    CHECK_EQ_INT(l.reads, 2);
    BIO_free(rbio);
    BIO_meth_free(m);
    SSL_free(ssl);
    close(a), close(b);
}

/* A vfork() child's closes (CPython's subprocess) are its own: the parent's
 * binding and counts stay. */
TEST(sockwatch_a_vfork_child_changes_nothing_of_the_parent)
{
    SSL *ssl;
    struct conn *c = fresh_conn(&ssl);
    int a, b;
    REQUIRE(c && tcp_pair(&a, &b));
    struct sock_watch *outer = enter(c);
    io_of(a, 10, 1);
    leave(c, outer, 1);
    pid_t pid = vfork();
    if (pid == 0) {
        sockwatch_forget_range(3, ~0u);
        sockwatch_forget(a);
        _exit(0);
    }
    REQUIRE(pid > 0);
    int status = 0;
    waitpid(pid, &status, 0);
    uint64_t w = 0, r = 0;
    CHECK(sockwatch_counts(&c->watch, &w, &r));
    CHECK_EQ_INT(w, 10);
    SSL_free(ssl);
    close(a), close(b);
}

/* A layer that reads until EAGAIN (an edge-triggered loop drains the socket):
 * the shim's read through it is answered with one byte, then EAGAIN, never a
 * byte on every call. */
static int draining_layer_read(BIO *b, char *buf, int len)
{
    struct status_layer *l = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    int got = 0;
    for (int i = 0; i < 100; i++) {
        l->reads++;
        ssize_t n = sockwatch_forced_read(l->fd, buf, (size_t)len);
        if (n <= 0)
            break;
        got += (int)n;
    }
    l->last_status = got;
    if (!got)
        BIO_set_retry_read(b);
    return got ? got : -1;
}

TEST(sockwatch_a_layer_that_reads_until_eagain_gets_one_byte_per_wait)
{
    SSL *ssl;
    struct conn *c = fresh_conn(&ssl);
    int a, b;
    REQUIRE(c && tcp_pair(&a, &b));
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "draining layer");
    BIO_meth_set_read(m, draining_layer_read);
    BIO *rbio = BIO_new(m);
    struct status_layer l = {.fd = a};
    BIO_set_data(rbio, &l);
    BIO_set_init(rbio, 1);
    c->fd = a;
    REQUIRE(write(b, "abc", 3) == 3);
    struct pollfd p = {.fd = a, .events = POLLIN};
    REQUIRE(poll(&p, 1, 2000) == 1);
    CHECK_EQ_INT(sockwatch_layer_wait_readable(&c->watch, c->fd, rbio), 1);
    CHECK_EQ_INT(l.last_status, 1); /* one byte, then EAGAIN */
    CHECK_EQ_INT(l.reads, 2);
    /* the next wait gets its own byte */
    CHECK_EQ_INT(sockwatch_layer_wait_readable(&c->watch, c->fd, rbio), 1);
    CHECK_EQ_INT(l.reads, 4);
    BIO_free(rbio);
    BIO_meth_free(m);
    SSL_free(ssl);
    close(a), close(b);
}

/* A callback that leaves an SSL call by longjmp skips the leave: the thread
 * still names the connection, whose SSL is then freed. The hooks must not
 * touch its freed state (ASan would say so), and a poll() that does not wait
 * is not taken for the layer's way of waiting. */
TEST(sockwatch_a_connection_left_current_by_a_longjmp_is_never_touched_freed)
{
    SSL *ssl;
    struct conn *c = fresh_conn(&ssl);
    int a, b;
    REQUIRE(c && tcp_pair(&a, &b));
    struct sock_watch *outer = enter(c);
    struct pollfd pf = {.fd = a, .events = POLLIN};
    io_of(a, 1, 1);
    sockwatch_poll(&pf, 1, 0);
    CHECK(!c->watch.layer_waits);
    (void)outer; /* no leave: the callback jumped out */
    SSL_free(ssl);
    errno = 77;
    io_of(b, 5, 1); /* the next plain write on this thread */
    CHECK_EQ_INT(errno, 77);
    CHECK(sockwatch_current == NULL);
    conn_release(c); /* the reference the skipped leave would have dropped */
    close(a), close(b);
}

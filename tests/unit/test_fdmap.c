/* The fd map: entries by descriptor number, dropped by every way of closing
 * one, and lookups that stay safe while another thread frees the connection
 * (ASan would report a use after free). */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "fdmap.h"
#include "unit.h"

static SSL_CTX *ctx(void)
{
    static SSL_CTX *c;
    if (!c)
        c = SSL_CTX_new(TLS_method());
    return c;
}

/* A connection state the way SSL_new's hook makes one, on descriptor fd. */
static struct conn *registered(SSL **ssl, int fd)
{
    *ssl = SSL_new(ctx());
    struct conn *c = *ssl ? conn_attach(*ssl) : NULL;
    if (c) {
        c->fd = fd;
        if (!fdmap_register(fd, c))
            return NULL;
    }
    return c;
}

TEST(fdmap_entries_follow_register_forget_and_ranges)
{
    SSL *a, *b;
    struct conn *ca = registered(&a, 5), *cb = registered(&b, 1500000);
    REQUIRE(ca && cb);
    CHECK(fdmap_owns(5, ca));
    CHECK(fdmap_owns(1500000, cb)); /* far numbers live in chunks of their own */
    CHECK(!fdmap_owns(6, ca));
    fdmap_forget(5, cb); /* only the connection it still maps to */
    CHECK(fdmap_owns(5, ca));
    fdmap_forget_range(1000000, 2000000);
    CHECK(!fdmap_owns(1500000, cb));
    CHECK(fdmap_owns(5, ca));
    fdmap_forget(5, NULL); /* close() */
    CHECK(!fdmap_owns(5, ca));
    CHECK(conn_acquire_fd(5) == NULL);
    fdmap_forget(-1, NULL);
    fdmap_forget(1 << 30, NULL); /* out of range: nothing to drop, no crash */
    CHECK(!fdmap_register(-1, ca));
    SSL_free(a);
    SSL_free(b);
}

struct race {
    int fd;
    struct conn *got;
    pthread_barrier_t taken, freed;
};

static void *looker(void *arg)
{
    struct race *r = arg;
    r->got = conn_acquire_fd(r->fd);
    pthread_barrier_wait(&r->taken);
    pthread_barrier_wait(&r->freed);
    /* the SSL is gone; the state it had must still be readable */
    if (r->got) {
        CHECK_EQ_INT(r->got->fd, r->fd);
        CHECK(!conn_alive(r->got));
        conn_release(r->got);
    }
    return NULL;
}

/* One thread found the connection by its descriptor; another frees the SSL
 * meanwhile (SSL_free, then the number reused). The first still holds valid
 * state until it lets go, and the map no longer knows the number. */
TEST(fdmap_lookup_survives_a_concurrent_ssl_free)
{
    SSL *s;
    struct race r = {.fd = 9};
    struct conn *c = registered(&s, r.fd);
    REQUIRE(c != NULL);
    pthread_barrier_init(&r.taken, NULL, 2);
    pthread_barrier_init(&r.freed, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, looker, &r);
    pthread_barrier_wait(&r.taken);
    CHECK(r.got == c);
    SSL_free(s);
    CHECK(conn_acquire_fd(r.fd) == NULL);
    pthread_barrier_wait(&r.freed);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&r.taken);
    pthread_barrier_destroy(&r.freed);
}

static void *churn(void *arg)
{
    int base = *(int *)arg;
    for (int i = 0; i < 2000; i++) {
        SSL *s;
        struct conn *c = registered(&s, base + i % 8);
        if (!c)
            continue;
        struct conn *seen = conn_acquire_fd(base + (i + 3) % 8);
        if (seen)
            conn_release(seen);
        if (i % 3 == 0)
            fdmap_forget(c->fd, NULL);
        SSL_free(s);
    }
    return NULL;
}

/* Many threads registering, looking up, closing and freeing over the same
 * few numbers: under ASan, no use after free, no leak. */
TEST(fdmap_concurrent_register_lookup_free)
{
    pthread_t t[8];
    int base[8];
    for (int i = 0; i < 8; i++) {
        base[i] = 100 + (i % 2) * 4; /* pairs of threads share numbers */
        pthread_create(&t[i], NULL, churn, &base[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int fd = 100; fd < 112; fd++)
        CHECK(conn_acquire_fd(fd) == NULL);
}

/* CPython's subprocess: a vfork() child, sharing our memory, closes every
 * descriptor above 2 (close_range) and dup2()s over others before exec. Its
 * descriptor table is its own: the parent's connections must stay mapped. */
TEST(fdmap_a_vfork_child_changes_nothing_of_the_parent)
{
    SSL *a;
    struct conn *ca = registered(&a, 7);
    REQUIRE(ca);
    pid_t pid = vfork();
    if (pid == 0) {
        fdmap_forget_range(3, ~0u);
        fdmap_forget(7, NULL);
        _exit(0);
    }
    REQUIRE(pid > 0);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(fdmap_owns(7, ca));
    /* a fork() child is a process of its own: its closes are its own */
    pid = fork();
    if (pid == 0) {
        fdmap_forget(7, NULL);
        _exit(fdmap_owns(7, ca) ? 1 : 0);
    }
    REQUIRE(pid > 0);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(fdmap_owns(7, ca));
    SSL_free(a);
}

#include "sockwatch.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "fdtable.h"
#include "libc.h"
#include "ossl.h"
#include "record_stream.h"

__thread struct sock_watch *sockwatch_current __attribute__((tls_model("initial-exec")));
__thread int sockwatch_forced_fd __attribute__((tls_model("initial-exec"))) = -1;
/* the forced read answers with a byte whatever poll says (note_data), or
 * with the end of the stream (layer_eof) */
enum { FORCED_WAIT, FORCED_BYTE, FORCED_EOF };
static __thread int forced_ready __attribute__((tls_model("initial-exec")));
/* ...and only once per read the shim makes through the layer: a layer that
 * reads until EAGAIN must meet EAGAIN */
static __thread int forced_answered __attribute__((tls_model("initial-exec")));
/* How many descriptors are bound now: while none is, the hooks skip the
 * lookup (a process that once had a custom-BIO connection pays nothing after
 * it is gone). Every change of a slot's tag from or to 0 goes through an
 * atomic exchange that says which it was, so the count stays exact. */
atomic_int sockwatch_counting;

static void tag_cleared(void)
{
    atomic_fetch_sub_explicit(&sockwatch_counting, 1, memory_order_relaxed);
}

/* Counters by descriptor number (fdtable.h), so a hook on any thread can
 * count into a slot while the connection that bound it is being freed
 * elsewhere. */
struct slot {
    _Atomic uint64_t tag; /* 0: nobody counts this descriptor */
    _Atomic uint64_t written, read;
    /* what each direction carried, followed as records ([1]: written); one
     * thread at a time feeds or reads one, and two at once (nothing a TLS
     * stream can survive) leave it unproved */
    struct record_stream wire[2];
    atomic_flag busy[2];
    atomic_bool contended[2];
};

static struct fdtable_chunks table_chunks;
static struct fdtable table = FDTABLE_OF(struct slot, table_chunks);
static _Atomic uint64_t last_tag;

static struct slot *slot_for(int fd, int create)
{
    return fdtable_slot(&table, fd, create);
}

void sockwatch_init(struct sock_watch *w, void *ssl, const atomic_int *alive)
{
    *w = (struct sock_watch){.ssl = ssl, .alive = alive, .fd = -1, .ignored_fd = -1};
}

static int watch_alive(const struct sock_watch *w)
{
    return atomic_load_explicit(w->alive, memory_order_acquire);
}

struct sock_watch *sockwatch_enter(struct sock_watch *w)
{
    struct sock_watch *previous = sockwatch_current;
    w->eagain_in_call = 0;
    sockwatch_current = w;
    return previous;
}

void sockwatch_leave(struct sock_watch *w, struct sock_watch *previous, int call_went_on)
{
    /* the socket said EAGAIN and yet the call went on without handing
     * WANT_READ/WANT_WRITE back: the program's layer waited for it */
    if (w->eagain_in_call && call_went_on)
        w->layer_waits = 1;
    else if (w->eagain_in_call)
        w->layer_returns = 1;
    w->eagain_in_call = 0;
    /* another connection's enter without its leave in between (a coroutine
     * switched stacks) leaves this thread's current as it found it */
    if (sockwatch_current == w)
        sockwatch_current = previous;
}

static int is_tcp(int fd)
{
    int domain = 0, proto = 0;
    socklen_t len = sizeof(int);
    return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_TCP
           && (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len)) == 0
           && (domain == AF_INET || domain == AF_INET6);
}

static void bind_socket(struct sock_watch *w, int fd)
{
    struct slot *s = slot_for(fd, 1);
    if (!s) {
        w->several = 1; /* out of memory: nothing could be proved */
        return;
    }
    const struct ossl_table *o = ossl();
    BIO *rbio = o->SSL_get_rbio(w->ssl), *wbio = o->SSL_get_wbio(w->ssl);
    w->fd = fd;
    w->tag = atomic_fetch_add(&last_tag, 1) + 1;
    /* the BIO operation under way is not in these yet, nor in the counters */
    w->rbio0 = rbio;
    w->wbio0 = wbio;
    w->rbio_read0 = rbio ? o->BIO_number_read(rbio) : 0;
    w->wbio_written0 = wbio ? o->BIO_number_written(wbio) : 0;
    if (atomic_exchange(&s->tag, 0)) /* a connection before this one left it bound */
        tag_cleared();
    atomic_store(&s->written, 0);
    atomic_store(&s->read, 0);
    for (int d = 0; d < 2; d++) {
        if (atomic_flag_test_and_set(&s->busy[d])) {
            atomic_store(&s->contended[d], 1);
            continue;
        }
        memset(&s->wire[d], 0, sizeof(s->wire[d]));
        atomic_store(&s->contended[d], 0);
        atomic_flag_clear(&s->busy[d]);
    }
    atomic_store(&s->tag, w->tag);
    atomic_fetch_add_explicit(&sockwatch_counting, 1, memory_order_relaxed);
}

static void follow_records(struct slot *s, int is_write, const struct iovec *iov, size_t iovcnt,
                           size_t n)
{
    if (atomic_flag_test_and_set(&s->busy[is_write])) {
        atomic_store(&s->contended[is_write], 1);
        return;
    }
    for (size_t i = 0; i < iovcnt && n; i++) {
        size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
        record_stream_feed(&s->wire[is_write], iov[i].iov_base, k);
        n -= k;
    }
    atomic_flag_clear(&s->busy[is_write]);
}

void sockwatch_io(int fd, ssize_t n, int is_write, const struct iovec *iov, size_t iovcnt)
{
    int saved = errno;
    struct sock_watch *w = sockwatch_current;
    if (w && !watch_alive(w)) {
        /* its SSL is gone, its leave never came (longjmp): held, never freed */
        sockwatch_current = NULL;
        w = NULL;
    }
    if (w && fd >= 0 && (n >= 0 || saved == EAGAIN || saved == EWOULDBLOCK)) {
        if (fd != w->fd && fd != w->ignored_fd) {
            if (!is_tcp(fd))
                w->ignored_fd = fd;
            else if (w->fd < 0)
                bind_socket(w, fd);
            else
                w->several = 1;
        }
        if (n < 0 && fd == w->fd)
            w->eagain_in_call = 1;
    }
    if (n > 0 && atomic_load_explicit(&sockwatch_counting, memory_order_relaxed)) {
        struct slot *s = slot_for(fd, 0);
        if (s && atomic_load_explicit(&s->tag, memory_order_relaxed)) {
            atomic_fetch_add_explicit(is_write ? &s->written : &s->read, (uint64_t)n,
                                      memory_order_relaxed);
            follow_records(s, is_write, iov, iovcnt, (size_t)n);
        }
    }
    errno = saved;
}

void sockwatch_poll(const struct pollfd *fds, nfds_t nfds, int timeout)
{
    struct sock_watch *w = sockwatch_current;
    /* a poll that does not wait (timeout 0) says nothing of how the layer
     * waits, and must not become a wait the shim makes for it */
    if (!w || w->fd < 0 || !fds || timeout == 0 || !watch_alive(w))
        return;
    for (nfds_t i = 0; i < nfds; i++) {
        if (fds[i].fd != w->fd)
            continue;
        w->layer_waits = 1;
        if (timeout < 0 || w->wait_ms < 0)
            w->wait_ms = -1;
        else if (timeout > w->wait_ms)
            w->wait_ms = timeout;
        return;
    }
}

ssize_t sockwatch_forced_read(int fd, void *buf, size_t len)
{
    if (forced_ready == FORCED_EOF)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (!forced_answered && (forced_ready || libc()->poll(&p, 1, 0) == 1)) {
        if (len == 0)
            return 0;
        forced_answered = 1;
        ((unsigned char *)buf)[0] = 0;
        return 1;
    }
    errno = EAGAIN;
    return -1;
}

/* One read of one byte through the program's read BIO, its socket reads
 * (on fd) answered by sockwatch_forced_read. */
static int read_through_layer(struct sock_watch *w, int fd, void *rbio, int ready)
{
    const struct ossl_table *o = ossl();
    struct sock_watch *previous = sockwatch_current;
    int outer = sockwatch_forced_fd, outer_ready = forced_ready, outer_answered = forced_answered;
    unsigned char byte;
    sockwatch_current = NULL;
    sockwatch_forced_fd = fd;
    forced_ready = ready;
    forced_answered = 0;
    int r = o->BIO_read(rbio, &byte, 1);
    forced_answered = outer_answered;
    forced_ready = outer_ready;
    sockwatch_forced_fd = outer;
    sockwatch_current = previous;
    w->layer_told_eagain = r <= 0 && o->BIO_test_flags(rbio, BIO_FLAGS_SHOULD_RETRY);
    return r;
}

int sockwatch_layer_wait_readable(struct sock_watch *w, int fd, void *rbio)
{
    if (read_through_layer(w, fd, rbio, FORCED_WAIT) > 0)
        return 1;
    return w->layer_told_eagain ? 0 : -1;
}

void sockwatch_layer_note_data(struct sock_watch *w, int fd, void *rbio)
{
    if (w->layer_told_eagain && w->layer_waits)
        (void)read_through_layer(w, fd, rbio, FORCED_BYTE);
}

int sockwatch_layer_eof(struct sock_watch *w, int fd, void *rbio, int *read_ret)
{
    int r = read_through_layer(w, fd, rbio, FORCED_EOF);
    const struct ossl_table *o = ossl();
    /* (bytes of its own: a layer that is no plain pipe, which RX never
     * moves past; as OpenSSL with a socket BIO then) */
    if (r > 0) {
        *read_ret = 0;
        return 1;
    }
    *read_ret = r;
    return !o->BIO_test_flags(rbio, BIO_FLAGS_SHOULD_RETRY) && o->BIO_ctrl(rbio, BIO_CTRL_EOF, 0, NULL) > 0;
}

void sockwatch_layer_note_want_read(struct sock_watch *w)
{
    w->layer_told_eagain = 1;
}

int sockwatch_counts(const struct sock_watch *w, uint64_t *written, uint64_t *read)
{
    struct slot *s = w->fd >= 0 ? slot_for(w->fd, 0) : NULL;
    if (!s || atomic_load(&s->tag) != w->tag)
        return 0;
    *written = atomic_load(&s->written);
    *read = atomic_load(&s->read);
    return atomic_load(&s->tag) == w->tag;
}

int sockwatch_wire_proof(const struct sock_watch *w, int is_write, uint8_t hello_type,
                         const uint8_t random[32])
{
    struct slot *s = w->fd >= 0 ? slot_for(w->fd, 0) : NULL;
    if (!s || atomic_load(&s->tag) != w->tag || atomic_load(&s->contended[is_write]))
        return RECORD_STREAM_TRANSFORMED;
    if (atomic_flag_test_and_set(&s->busy[is_write]))
        return RECORD_STREAM_TOO_EARLY; /* a hook is feeding it right now */
    int proof = record_stream_proof(&s->wire[is_write], hello_type, random);
    if (proof == RECORD_STREAM_PROVED && !record_stream_at_boundary(&s->wire[is_write]))
        proof = RECORD_STREAM_TRANSFORMED; /* the counts matched mid-record */
    atomic_flag_clear(&s->busy[is_write]);
    return atomic_load(&s->tag) == w->tag ? proof : RECORD_STREAM_TRANSFORMED;
}

void sockwatch_release(struct sock_watch *w)
{
    struct slot *s = w->fd >= 0 ? slot_for(w->fd, 0) : NULL;
    if (s) {
        uint64_t mine = w->tag;
        if (atomic_compare_exchange_strong(&s->tag, &mine, 0))
            tag_cleared();
    }
    w->fd = -1;
}

void sockwatch_forget(int fd)
{
    if (!atomic_load_explicit(&sockwatch_counting, memory_order_relaxed))
        return;
    struct slot *s = slot_for(fd, 0);
    if (s && atomic_load_explicit(&s->tag, memory_order_relaxed) && !libc_in_vfork_child()
        && atomic_exchange(&s->tag, 0))
        tag_cleared();
}

static void untag(void *slot, void *arg)
{
    (void)arg;
    struct slot *s = slot;
    if (atomic_load_explicit(&s->tag, memory_order_relaxed) && atomic_exchange(&s->tag, 0))
        tag_cleared();
}

void sockwatch_forget_range(unsigned lo, unsigned hi)
{
    if (atomic_load_explicit(&sockwatch_counting, memory_order_relaxed) && !libc_in_vfork_child())
        fdtable_each(&table, lo, hi, untag, NULL);
}

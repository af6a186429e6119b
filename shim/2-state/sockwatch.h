/* Which TCP socket sits under a program's own BIO (Apache, HAProxy, curl,
 * PostgreSQL give OpenSSL a BIO_meth_new BIO over their socket layer), found
 * from what the program does rather than from the BIO's type: while the
 * shim runs an OpenSSL call for a connection, the libc I/O that call makes
 * belongs to it. The first TCP socket touched there is bound to the
 * connection; from then on every byte the process moves through that
 * descriptor is counted (in the SSL calls or not), so offload.c can prove
 * the program's layer is a transparent pipe before moving a direction.
 *
 * Cost for every other call: a thread-local load and a relaxed atomic load;
 * no lock, no syscall. Counters live in a table indexed by descriptor that
 * is never freed, so a hook never touches a connection's memory. */
#ifndef KTLS_SHIM_SOCKWATCH_H
#define KTLS_SHIM_SOCKWATCH_H

#include <poll.h>
#include <sys/uio.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* One connection's watch. It knows of its connection only what it needs:
 * the SSL (whose BIOs' counts it takes at binding) and a flag the owner
 * clears when that SSL is freed, so that a watch left current (a callback
 * that left by longjmp) is let go, never used. */
struct sock_watch {
    void *ssl;              /* SSL * */
    const atomic_int *alive;
    int fd;                 /* the bound socket, -1 none yet */
    int several;            /* a second TCP socket was used inside this connection's calls */
    int ignored_fd;         /* the last descriptor found not to be TCP (cache) */
    uint64_t tag;           /* our claim on fd's counters */
    uint64_t wbio_written0; /* the BIOs' counts when fd was bound */
    uint64_t rbio_read0;
    const void *rbio0, *wbio0;
    int eagain_in_call;     /* the socket said EAGAIN inside the current call */
    int layer_waits;        /* the program's layer waits for the socket itself (blocking
                             * I/O with its own timeout, as APR does) */
    int layer_returns;      /* its layer handed an EAGAIN to OpenSSL as a retry: the
                             * program takes WANT_READ/WANT_WRITE (HAProxy, curl, libpq) */
    int wait_ms;            /* the longest wait it asked poll() for; -1 forever, 0 unknown */
    int layer_told_eagain;  /* the layer's last read ended in EAGAIN, or the program was
                             * last handed WANT_READ (see sockwatch_layer_note_data) */
    int nonblocking_seen;   /* fcntl said O_NONBLOCK once: RX waits for the layer without
                             * asking again (a socket made blocking later only waits longer) */
};

/* Thread state the hooks read; see sockwatch_enter. */
extern __thread struct sock_watch *sockwatch_current __attribute__((tls_model("initial-exec")));
extern __thread int sockwatch_forced_fd __attribute__((tls_model("initial-exec")));
extern atomic_int sockwatch_counting;

/* ssl: the connection's SSL; alive: its owner's flag, nonzero while ssl
 * lives, at an address that outlives the watch while the owner holds it */
void sockwatch_init(struct sock_watch *w, void *ssl, const atomic_int *alive);
/* Around a real OpenSSL call for w's connection; returns the previous
 * watch. The caller holds the connection from before the enter to after the
 * leave: a leave that never comes (longjmp, a coroutine switch) then only
 * leaks it, and the hooks never touch freed memory. */
struct sock_watch *sockwatch_enter(struct sock_watch *w);
void sockwatch_leave(struct sock_watch *w, struct sock_watch *previous, int call_waited_for_io);

/* The hooks, after a libc call on fd moved n bytes (n < 0: failed, errno
 * set). Keeps errno. */
static inline int sockwatch_wanted(void)
{
    return sockwatch_current != 0 || atomic_load_explicit(&sockwatch_counting, memory_order_relaxed);
}
/* iov: the buffers of the call (n bytes of them moved), whose content is
 * followed as TLS records on a bound socket (sockwatch_wire_proof). */
void sockwatch_io(int fd, ssize_t n, int is_write, const struct iovec *iov, size_t iovcnt);
/* poll() inside a watched call: the program's layer waits itself. */
void sockwatch_poll(const struct pollfd *fds, nfds_t nfds, int timeout);

/* While the shim asks a program's read BIO to wait for the socket fd
 * (sockwatch_layer_wait_readable), its reads on that socket are answered
 * here and never reach the kernel's TLS: 1 (a zero byte in buf) once the
 * socket is readable, else -1/EAGAIN, so the program's layer polls with its
 * own timeout, or marks the socket not ready (edge-triggered loops); 0 when
 * the shim tells the layer of the end of the stream (sockwatch_layer_eof). */
ssize_t sockwatch_forced_read(int fd, void *buf, size_t len);
/* 1: readable, retry the kernel read; 0: the layer is non-blocking and has
 * noted EAGAIN (WANT_READ); -1: the layer's own wait failed (timeout, EOF). */
int sockwatch_layer_wait_readable(struct sock_watch *w, int fd, void *rbio);
/* Before data from the kernel goes back to a layer that waits itself and
 * last said EAGAIN, or whose program was last handed WANT_READ: mod_ssl
 * hands back, with the data of an SSL_read, the status its read BIO saw
 * last (inctx->rc), and notes a WANT_READ there as EAGAIN, so a stale EAGAIN
 * turned a blocking request read after keep-alive into a failure and the
 * connection was closed. One read through the layer, answered with a byte
 * the shim drops, leaves it holding success. */
void sockwatch_layer_note_data(struct sock_watch *w, int fd, void *rbio);
/* The kernel read the end of the stream: what OpenSSL 3 would make of it
 * depends on the program's read BIO, which decides an EOF unexpected only
 * when BIO_eof() says so after its read returned 0 (ssl3_read_n). A socket
 * BIO does, mod_ssl's does, PostgreSQL's (a socket BIO's methods with its
 * own read, which never sets BIO_FLAGS_IN_EOF) does not: OpenSSL alone
 * then returns SSL_ERROR_SYSCALL. And SSL_read returns what that BIO read
 * returned (0 from a socket BIO, -1 from mod_ssl's). One read through the
 * layer, answered with the end of the stream; 1 if the BIO then says
 * BIO_eof(), else 0; *read_ret: what its read returned (0 or less). */
int sockwatch_layer_eof(struct sock_watch *w, int fd, void *rbio, int *read_ret);
/* A read of the program's ended in WANT_READ without the shim's read
 * through its layer (OpenSSL's own, whose BIO read said EAGAIN before RX
 * moved; the kernel's EAGAIN handed back at once): as after that read. */
void sockwatch_layer_note_want_read(struct sock_watch *w);

/* Counts of the bound socket since it was bound; 0 when the binding is gone
 * (closed, another connection bound it). */
int sockwatch_counts(const struct sock_watch *w, uint64_t *written, uint64_t *read);
/* Whether what the bound socket carried in one direction since it was bound
 * (is_write: what it sent) is the TLS records OpenSSL wrote or read
 * unchanged: a record_stream_proof (record_stream.h) of that stream, whose
 * first record must be the hello of hello_type with random; a record under
 * way counts as changed (the byte counts matched already). Meaningful only
 * where the socket was bound before the BIO moved a byte that way. */
int sockwatch_wire_proof(const struct sock_watch *w, int is_write, uint8_t hello_type,
                         const uint8_t random[32]);
/* The connection ends: drop its claim. */
void sockwatch_release(struct sock_watch *w);
/* close()/dup2() of fd: its counters belong to nobody. */
void sockwatch_forget(int fd);
void sockwatch_forget_range(unsigned lo, unsigned hi);

#endif

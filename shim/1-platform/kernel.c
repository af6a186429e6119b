#include "kernel.h"

#include "libc.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

static ssize_t libc_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return libc()->sendmsg(fd, msg, flags);
}

static ssize_t libc_recvmsg(int fd, struct msghdr *msg, int flags)
{
    return libc()->recvmsg(fd, msg, flags);
}

kernel_setsockopt_fn kernel_setsockopt = setsockopt;
kernel_sendmsg_fn kernel_sendmsg = libc_sendmsg;
kernel_recvmsg_fn kernel_recvmsg = libc_recvmsg;

/* -1 unknown, 0 no, 1 yes */
static atomic_int tls_available = -1;

static int probe(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    /* An unconnected socket: ENOTCONN means the ULP exists (tls_init ran),
     * ENOENT means no tls module. Nothing is attached either way. */
    int rc = kernel_setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
    int err = rc == 0 ? 0 : errno;
    libc()->close(fd);
    return rc == 0 || err == ENOTCONN;
}

int kernel_tls_available(void)
{
    int v = atomic_load_explicit(&tls_available, memory_order_relaxed);
    if (v < 0) {
        int saved = errno;
        v = probe();
        if (!v)
            LOG_INFO("kernel-no-tls: setsockopt TCP_ULP \"tls\" fails here; every connection "
                     "stays in OpenSSL (passthrough)");
        errno = saved;
        atomic_store(&tls_available, v);
    }
    return v;
}

/* -1 unknown, 0 no, 1 yes */
static atomic_int rekey_available = -1;

/* A connected loopback pair; the accepted end in *server. 0 or -1. */
static int loopback_pair(int *client, int *server)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *client = *server = -1;
    if (l < 0)
        return -1;
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0
        && getsockname(l, (struct sockaddr *)&a, &len) == 0
        && (*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0
        && connect(*client, (struct sockaddr *)&a, sizeof(a)) == 0)
        *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    libc()->close(l);
    if (*server >= 0)
        return 0;
    if (*client >= 0)
        libc()->close(*client);
    *client = -1;
    return -1;
}

/* Throwaway keys on a socket of our own: a second TLS_TX is the rekey a
 * 6.14+ kernel accepts and an older one refuses with EBUSY. */
static int rekey_probe(void)
{
    int c, srv;
    if (loopback_pair(&c, &srv) != 0)
        return 0;
    static const uint8_t zero[32];
    union ktls_crypto_info info;
    size_t len = crypto_info_pack(&info, TLS_1_3_VERSION, KTLS_CIPHER_AES_128_GCM, zero, zero, 0);
    int ok = kernel_setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0
             && kernel_setsockopt(c, SOL_TLS, TLS_TX, &info, (socklen_t)len) == 0
             && kernel_setsockopt(c, SOL_TLS, TLS_TX, &info, (socklen_t)len) == 0;
    libc()->close(c);
    libc()->close(srv);
    return ok;
}

int kernel_release_has_rekey(const char *release)
{
    char *end;
    unsigned long major = strtoul(release, &end, 10);
    if (end == release || *end != '.')
        return 0;
    const char *p = end + 1;
    unsigned long minor = strtoul(p, &end, 10);
    if (end == p)
        return 0;
    return major > 6 || (major == 6 && minor >= 14);
}

int kernel_rekey_available(void)
{
    int v = atomic_load_explicit(&rekey_available, memory_order_relaxed);
    if (v < 0) {
        int saved = errno;
        struct utsname u;
        int played = kernel_setsockopt != setsockopt; /* a unit test's kernel */
        v = kernel_tls_available()
            && ((!played && uname(&u) == 0 && kernel_release_has_rekey(u.release)) || rekey_probe());
        LOG_DEBUG("kTLS rekey (TLS 1.3 KeyUpdate through the kernel): %s",
                  v ? "supported" : "not supported by this kernel (before 6.14)");
        errno = saved;
        atomic_store(&rekey_available, v);
    }
    return v;
}

void kernel_tls_probe_reset(void)
{
    atomic_store(&tls_available, -1);
    atomic_store(&rekey_available, -1);
}

int kernel_attach_ulp(int fd)
{
    if (kernel_setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0)
        return 0;
    int err = errno;
    if (err == ENOENT)
        atomic_store(&tls_available, 0);
    return err;
}

int kernel_has_ulp(int fd)
{
    char name[16] = {0};
    socklen_t len = sizeof(name);
    if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, name, &len) != 0)
        return 0;
    return strcmp(name, "tls") == 0;
}

/* statx rather than fstat: fstat is its own symbol only since glibc 2.33
 * (GLIBC_2.28 is the floor, see shim/glibc/); statx is 2.28's. A kernel older
 * than statx (4.11, before kTLS) gets the raw fstat system call. */
int kernel_sock_id(int fd, struct sock_id *id)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &stx) == 0) {
        id->dev = (uint64_t)makedev(stx.stx_dev_major, stx.stx_dev_minor);
        id->ino = (uint64_t)stx.stx_ino;
        return 0;
    }
    if (errno != ENOSYS)
        return -1;
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0)
        return -1;
    id->dev = (uint64_t)st.st_dev;
    id->ino = (uint64_t)st.st_ino;
    return 0;
}

int kernel_same_socket(int fd, const struct sock_id *id)
{
    int saved = errno;
    struct sock_id now;
    int same = kernel_sock_id(fd, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
    errno = saved;
    return same;
}

static int installed(int fd, int direction)
{
    int saved = errno;
    struct tls_crypto_info info;
    socklen_t len = sizeof(info);
    int on = getsockopt(fd, SOL_TLS, direction, &info, &len) == 0;
    errno = saved;
    return on;
}

int kernel_tx_installed(int fd)
{
    return installed(fd, TLS_TX);
}

int kernel_rx_installed(int fd)
{
    return installed(fd, TLS_RX);
}

int kernel_unread_bytes(int fd)
{
    int n = 0;
    /* libc's: our own ioctl hook would add what the kernel decrypted */
    return libc()->ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

int kernel_rcvlowat(int fd)
{
    int v = 1;
    socklen_t len = sizeof(v);
    return getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &len) == 0 ? v : 1;
}

int kernel_set_rcvlowat(int fd, int bytes)
{
    return setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes));
}

int kernel_install(int fd, int tx, const union ktls_crypto_info *info, size_t len)
{
    if (kernel_setsockopt(fd, SOL_TLS, tx ? TLS_TX : TLS_RX, info, (socklen_t)len) == 0)
        return 0;
    return errno;
}

ssize_t kernel_send(int fd, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    return kernel_sendmsg(fd, &msg, 0);
}

ssize_t kernel_send_record(int fd, uint8_t type, const void *buf, size_t len)
{
    /* zeroed: the cmsg's alignment padding goes to the kernel too (valgrind) */
    union {
        char buf[CMSG_SPACE(sizeof(uint8_t))];
        struct cmsghdr align;
    } control = {{0}};
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_TLS;
    cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
    cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
    memcpy(CMSG_DATA(cmsg), &type, 1);
    /* MSG_NOSIGNAL: a control record is ours, not the application's write */
    return kernel_sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/* Nagle may hold a small record back while earlier segments are unacked, and
 * a close that finds the failed record still unread in the kernel (kTLS does
 * not consume a record it could not open) resets the connection, dropping
 * whatever is still queued: the alert would never leave. Turning TCP_NODELAY
 * on pushes the queue out now; the application's setting is put back. */
static void push_queued_segments(int fd)
{
    int nodelay = 0, on = 1, off = 0;
    socklen_t len = sizeof(nodelay);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) != 0 || nodelay)
        return;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off));
}

ssize_t kernel_send_alert(int fd, const uint8_t alert[2])
{
    ssize_t n = kernel_send_record(fd, TLS_RECORD_ALERT, alert, 2);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EPIPE) {
        int pending = 0;
        socklen_t len = sizeof(pending);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &len) == 0 && pending != 0)
            n = kernel_send_record(fd, TLS_RECORD_ALERT, alert, 2);
    }
    if (n > 0)
        push_queued_segments(fd);
    return n;
}

#define KERNEL_RECV_LABELS 8

ssize_t kernel_recv(int fd, void *buf, size_t len, int flags, uint8_t *type, int *record_end)
{
    /* Room for several labels: 5.10 labels the rest of a record a short
     * read left (its rx_list) and then the records it decrypts after it in
     * the same call again; with room for one, the second was cut
     * (MSG_CTRUNC) and good data looked unlabelled (measured in the 5.10
     * guest by tests/progs/seqfuzz.c). They all carry the same type: the
     * kernel ends a read at a record of another. */
    union {
        char buf[KERNEL_RECV_LABELS * CMSG_SPACE(sizeof(uint8_t))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
    ssize_t n = kernel_recvmsg(fd, &msg, flags);
    *type = 0;
    *record_end = 0;
    if (n < 0)
        return n;
    /* A kTLS socket labels every record. Bytes without a label (a socket
     * that is not, or no longer, the kernel's TLS) or with the label cut off
     * are never data: dropped, and the caller fails the connection, as
     * s2n-tls does. A record of no bytes comes with the label of a control
     * record; the end of the stream without one (or, as some kernels may,
     * with the data label of the records before it). */
    int labelled = 0;
    if (!(msg.msg_flags & MSG_CTRUNC) && msg.msg_controllen > 0)
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE
                && c->cmsg_len >= CMSG_LEN(1)) {
                uint8_t t;
                memcpy(&t, CMSG_DATA(c), 1);
                if (labelled && t != *type)
                    labelled = -1; /* two types in one read: never data */
                else if (labelled == 0) {
                    *type = t;
                    labelled = 1;
                }
            }
    if (labelled < 0) {
        *type = 0;
        labelled = 0;
    }
    if (n == 0) {
        if (!labelled || *type == TLS_RECORD_APPLICATION_DATA)
            *type = 0;
        *record_end = *type != 0;
        return 0;
    }
    if (!labelled) {
        errno = ENOMSG;
        return -1;
    }
    *record_end = (msg.msg_flags & MSG_EOR) != 0;
    return n;
}

int kernel_wait_writable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int r;
    do
        r = libc()->poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r;
}

int kernel_nonblocking(int fd)
{
    int saved = errno;
    int flags = fcntl(fd, F_GETFL);
    errno = saved;
    return flags < 0 || (flags & O_NONBLOCK);
}

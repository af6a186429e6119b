/* kernel.c on a plain loopback TCP pair (no tls ULP needed: TCP ignores a
 * SOL_TLS cmsg): a fatal alert leaves at once, arrives as the two bytes
 * given, and the application's TCP_NODELAY choice is what it was. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kernel.h"
#include "tls_pair.h"
#include "unit.h"

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof(v);
    return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 ? v : -1;
}

static void alert_arrives_and_nodelay_kept(int app_nodelay)
{
    int fds[2];
    REQUIRE(unit_tcp_pair(fds) == 0);
    REQUIRE(setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &app_nodelay, sizeof(app_nodelay)) == 0);
    const uint8_t alert[2] = {2, 20};
    errno = 0;
    CHECK_EQ_INT(kernel_send_alert(fds[0], alert), 2);
    CHECK_EQ_INT(nodelay(fds[0]), app_nodelay ? 1 : 0);
    struct pollfd p = {.fd = fds[1], .events = POLLIN};
    CHECK_EQ_INT(poll(&p, 1, 5000), 1);
    uint8_t got[4] = {0};
    CHECK_EQ_INT(recv(fds[1], got, sizeof(got), MSG_DONTWAIT), 2);
    CHECK_MEM(got, alert, 2);
    close(fds[0]);
    close(fds[1]);
}

TEST(fatal_alert_leaves_and_keeps_nagle_on)
{
    alert_arrives_and_nodelay_kept(0);
}

TEST(fatal_alert_leaves_and_keeps_nodelay_on)
{
    alert_arrives_and_nodelay_kept(1);
}

TEST(fatal_alert_on_a_closed_peer_fails_without_sigpipe)
{
    int fds[2];
    REQUIRE(unit_tcp_pair(fds) == 0);
    REQUIRE(shutdown(fds[0], SHUT_WR) == 0);
    const uint8_t alert[2] = {2, 20};
    CHECK_EQ_INT(kernel_send_alert(fds[0], alert), -1);
    CHECK_EQ_INT(errno, EPIPE);
    close(fds[0]);
    close(fds[1]);
}

/* A kTLS socket labels every record with its type. Bytes without a label
 * came from a socket that is not (or no longer) the kernel's TLS: never
 * data. Before, they were handed over as application data. */
TEST(recv_without_record_type_is_refused_not_data)
{
    int fds[2];
    REQUIRE(unit_tcp_pair(fds) == 0);
    REQUIRE(send(fds[1], "plain", 5, 0) == 5);
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    REQUIRE(poll(&p, 1, 5000) == 1);
    uint8_t buf[16], type = 0xee;
    int record_end = 7;
    errno = 0;
    CHECK_EQ_INT(kernel_recv(fds[0], buf, sizeof(buf), 0, &type, &record_end), -1);
    CHECK_EQ_INT(errno, ENOMSG);
    CHECK(type != TLS_RECORD_APPLICATION_DATA);
    /* end of stream is still 0, with no record type: not a record of no bytes */
    close(fds[1]);
    type = 0xee;
    CHECK_EQ_INT(kernel_recv(fds[0], buf, sizeof(buf), 0, &type, &record_end), 0);
    CHECK_EQ_INT(type, 0);
    CHECK_EQ_INT(record_end, 0);
    close(fds[0]);
}

/* Control data cut short (MSG_CTRUNC): the record's label cannot be trusted. */
TEST(recv_with_truncated_control_data_is_refused)
{
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int pass[3] = {0, 1, 2}; /* three descriptors: more than our cmsg buffer holds */
    union {
        char buf[CMSG_SPACE(sizeof(pass))];
        struct cmsghdr align;
    } control = {{0}};
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(pass));
    memcpy(CMSG_DATA(c), pass, sizeof(pass));
    REQUIRE(sendmsg(sv[1], &msg, 0) == 1);
    uint8_t buf[4], type = 0;
    int record_end;
    errno = 0;
    CHECK_EQ_INT(kernel_recv(sv[0], buf, sizeof(buf), 0, &type, &record_end), -1);
    CHECK_EQ_INT(errno, ENOMSG);
    close(sv[0]);
    close(sv[1]);
}

/* Rekey is known from the release for 6.14 and later (no probe, whose
 * throwaway keys would show in /proc/net/tls_stat). */
TEST(release_with_rekey_is_6_14_or_later)
{
    CHECK_EQ_INT(kernel_release_has_rekey("6.14.0"), 1);
    CHECK_EQ_INT(kernel_release_has_rekey("6.14"), 1);
    CHECK_EQ_INT(kernel_release_has_rekey("6.15.2-arch1-1"), 1);
    CHECK_EQ_INT(kernel_release_has_rekey("7.3.4+deb13-amd64"), 1);
    CHECK_EQ_INT(kernel_release_has_rekey("10.0.1"), 1);
    CHECK_EQ_INT(kernel_release_has_rekey("6.13.12"), 0);
    CHECK_EQ_INT(kernel_release_has_rekey("6.12.117+deb13-amd64"), 0);
    CHECK_EQ_INT(kernel_release_has_rekey("6.1.0-50-amd64"), 0);
    CHECK_EQ_INT(kernel_release_has_rekey("5.10.223-ktls-7a5b121c1e19"), 0);
    CHECK_EQ_INT(kernel_release_has_rekey("6.2"), 0);
    CHECK_EQ_INT(kernel_release_has_rekey(""), 0);
    CHECK_EQ_INT(kernel_release_has_rekey("six.fourteen"), 0);
    CHECK_EQ_INT(kernel_release_has_rekey("6."), 0);
}

/* kernel_recv through the recvmsg seam: a read that carries several
 * record-type labels (5.10 labels the rest of a record a short read left,
 * then the records decrypted after it, again) is data when they agree, and
 * never data when they do not. */
static uint8_t labels[3];
static size_t nlabels;

static ssize_t labelled_recvmsg(int fd, struct msghdr *msg, int flags)
{
    (void)fd, (void)flags;
    size_t need = nlabels * CMSG_SPACE(1);
    if (need > msg->msg_controllen) {
        msg->msg_flags = MSG_CTRUNC;
        need = msg->msg_controllen / CMSG_SPACE(1) * CMSG_SPACE(1);
    } else
        msg->msg_flags = 0;
    memset(msg->msg_control, 0, msg->msg_controllen);
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    for (size_t i = 0; i < nlabels && c && (size_t)((char *)c - (char *)msg->msg_control) < need; i++) {
        c->cmsg_level = SOL_TLS;
        c->cmsg_type = TLS_GET_RECORD_TYPE;
        c->cmsg_len = CMSG_LEN(1);
        memcpy(CMSG_DATA(c), &labels[i], 1);
        c = CMSG_NXTHDR(msg, c);
    }
    msg->msg_controllen = need;
    memcpy(msg->msg_iov[0].iov_base, "abcd", 4);
    return 4;
}

TEST(kernel_recv_takes_a_read_with_several_labels_of_one_type_as_that_type)
{
    kernel_recvmsg_fn saved = kernel_recvmsg;
    kernel_recvmsg = labelled_recvmsg;
    char buf[16];
    uint8_t type;
    int end;
    labels[0] = labels[1] = TLS_RECORD_APPLICATION_DATA;
    nlabels = 2;
    CHECK_EQ_INT(kernel_recv(3, buf, sizeof(buf), 0, &type, &end), 4);
    CHECK_EQ_INT(type, TLS_RECORD_APPLICATION_DATA);
    labels[1] = TLS_RECORD_ALERT;
    errno = 0;
    CHECK_EQ_INT(kernel_recv(3, buf, sizeof(buf), 0, &type, &end), -1);
    CHECK_EQ_INT(errno, ENOMSG);
    nlabels = 0;
    errno = 0;
    CHECK_EQ_INT(kernel_recv(3, buf, sizeof(buf), 0, &type, &end), -1);
    CHECK_EQ_INT(errno, ENOMSG);
    kernel_recvmsg = saved;
}

/* kernel.c on a plain loopback TCP pair (no tls ULP needed: TCP ignores a
 * SOL_TLS cmsg): a fatal alert leaves at once, arrives as the two bytes
 * given, and the application's TCP_NODELAY choice is what it was. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kernel.h"
#include "unit.h"

static int tcp_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0
        || getsockname(l, (struct sockaddr *)&a, &len) != 0)
        return -1;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    fds[1] = accept(l, NULL, NULL);
    close(l);
    return fds[1] < 0 ? -1 : 0;
}

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof(v);
    return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 ? v : -1;
}

static void alert_arrives_and_nodelay_kept(int app_nodelay)
{
    int fds[2];
    REQUIRE(tcp_pair(fds) == 0);
    REQUIRE(setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &app_nodelay, sizeof(app_nodelay)) == 0);
    const uint8_t alert[2] = {2, 20};
    errno = 0;
    CHECK_EQ_INT(kernel_send_fatal_alert(fds[0], alert), 2);
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
    REQUIRE(tcp_pair(fds) == 0);
    REQUIRE(shutdown(fds[0], SHUT_WR) == 0);
    const uint8_t alert[2] = {2, 20};
    CHECK_EQ_INT(kernel_send_fatal_alert(fds[0], alert), -1);
    CHECK_EQ_INT(errno, EPIPE);
    close(fds[0]);
    close(fds[1]);
}

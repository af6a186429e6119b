/* The fake record stream itself (fake_records.h), read through the shim's
 * own kernel_recv as kio.c reads a kTLS socket: it must hand records over
 * as net/tls/tls_sw.c does, or the kio tests built on it prove nothing. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_records.h"
#include "kernel.h"
#include "tls_pair.h"
#include "unit.h"

struct one_read {
    ssize_t n;
    uint8_t type;
    int end;
    uint8_t buf[64];
};

static struct one_read rd(int fd, size_t cap, int flags)
{
    struct one_read r;
    memset(&r, 0, sizeof(r));
    r.n = kernel_recv(fd, r.buf, cap, flags, &r.type, &r.end);
    return r;
}

#define CHECK_READ(r, want_n, want_type, want_end, bytes)                          \
    do {                                                                           \
        struct one_read r_ = (r);                                                  \
        CHECK_EQ_INT(r_.n, (want_n));                                              \
        CHECK_EQ_INT(r_.type, (want_type));                                        \
        CHECK_EQ_INT(r_.end, (want_end));                                          \
        if (r_.n > 0)                                                              \
            CHECK_MEM(r_.buf, (bytes), (size_t)r_.n);                              \
    } while (0)

static int open_fake(int fds[2])
{
    if (unit_tcp_pair(fds) != 0)
        return -1;
    fake_records_on();
    fake_records_add(fds[0]);
    fake_records_add(fds[1]);
    fake_records_link(fds[0], fds[1]);
    return 0;
}

static void close_fake(int fds[2])
{
    fake_records_off();
    close(fds[0]);
    close(fds[1]);
}

TEST(fake_records_hand_records_over_as_kernel_tls_does)
{
    int fds[2];
    REQUIRE(open_fake(fds) == 0);
    int fd = fds[0];
    fake_records_push(fd, TLS_RECORD_APPLICATION_DATA, "abc", 3);
    fake_records_push(fd, TLS_RECORD_APPLICATION_DATA, "", 0);
    fake_records_push(fd, TLS_RECORD_APPLICATION_DATA, "def", 3);
    fake_records_push(fd, TLS_RECORD_ALERT, "\1\0", 2);
    fake_records_push(fd, TLS_RECORD_HANDSHAKE, "\4\0\0\0", 4);
    fake_records_push(fd, TLS_RECORD_HANDSHAKE, "", 0);
    fake_records_push(fd, TLS_RECORD_APPLICATION_DATA, "g", 1);
    fake_records_push_error(fd, EBADMSG);
    fake_records_push_eof(fd);
    /* data across data records (the empty one skipped), never into the alert */
    CHECK_READ(rd(fd, 64, MSG_PEEK), 6, TLS_RECORD_APPLICATION_DATA, 0, "abcdef");
    CHECK_READ(rd(fd, 4, 0), 4, TLS_RECORD_APPLICATION_DATA, 1, "abcd");
    CHECK_READ(rd(fd, 64, 0), 2, TLS_RECORD_APPLICATION_DATA, 1, "ef");
    /* a control record alone, its end marked; a short read leaves the rest */
    CHECK_READ(rd(fd, 1, MSG_PEEK), 1, TLS_RECORD_ALERT, 0, "\1");
    CHECK_READ(rd(fd, 1, 0), 1, TLS_RECORD_ALERT, 0, "\1");
    CHECK_READ(rd(fd, 64, 0), 1, TLS_RECORD_ALERT, 1, "\0");
    CHECK_READ(rd(fd, 64, 0), 4, TLS_RECORD_HANDSHAKE, 1, "\4\0\0\0");
    /* an empty control record: a read of 0 with its type */
    CHECK_READ(rd(fd, 64, MSG_PEEK), 0, TLS_RECORD_HANDSHAKE, 1, "");
    CHECK_READ(rd(fd, 64, 0), 0, TLS_RECORD_HANDSHAKE, 1, "");
    /* data stops before an error, which comes once; EOF stays */
    CHECK_READ(rd(fd, 64, 0), 1, TLS_RECORD_APPLICATION_DATA, 1, "g");
    errno = 0;
    CHECK_READ(rd(fd, 64, 0), -1, 0, 0, "");
    CHECK_EQ_INT(errno, EBADMSG);
    CHECK_READ(rd(fd, 64, 0), 0, 0, 0, "");
    CHECK_READ(rd(fd, 64, 0), 0, 0, 0, "");
    close_fake(fds);
}

TEST(fake_records_control_record_without_room_for_its_type_is_eio)
{
    int fds[2];
    REQUIRE(open_fake(fds) == 0);
    fake_records_push(fds[0], TLS_RECORD_ALERT, "\1\0", 2);
    uint8_t buf[8];
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    errno = 0;
    CHECK_EQ_INT(kernel_recvmsg(fds[0], &msg, 0), -1);
    CHECK_EQ_INT(errno, EIO);
    CHECK_EQ_INT(fake_records_unread(fds[0]), 2); /* still there */
    CHECK_READ(rd(fds[0], 64, 0), 2, TLS_RECORD_ALERT, 1, "\1\0");
    errno = 0; /* nothing queued: EAGAIN, the fake never blocks */
    CHECK_READ(rd(fds[0], 64, 0), -1, 0, 0, "");
    CHECK_EQ_INT(errno, EAGAIN);
    close_fake(fds);
}

TEST(fake_records_sends_are_logged_and_reach_the_linked_socket)
{
    int fds[2];
    REQUIRE(open_fake(fds) == 0);
    static uint8_t big[20000];
    memset(big, 'x', sizeof(big));
    fake_records_send_takes(fds[0], 10);
    fake_records_send_fails(fds[0], EAGAIN);
    CHECK_EQ_INT(kernel_send(fds[0], big, sizeof(big)), 10);
    errno = 0;
    CHECK_EQ_INT(kernel_send(fds[0], big, sizeof(big)), -1);
    CHECK_EQ_INT(errno, EAGAIN);
    CHECK_EQ_INT(kernel_send(fds[0], big, sizeof(big)), (ssize_t)sizeof(big));
    CHECK_EQ_INT(kernel_send_alert(fds[0], (const uint8_t *)"\2\24"), 2);
    CHECK_EQ_INT(fake_records_sent_count(fds[0]), 4);
    static const size_t lens[] = {10, 16384, 20000 - 16384, 2};
    static const uint8_t types[] = {23, 23, 23, 21};
    for (int i = 0; i < 4 && fake_records_sent(fds[0], i); i++) {
        CHECK_EQ_INT(fake_records_sent(fds[0], i)->len, lens[i]);
        CHECK_EQ_INT(fake_records_sent(fds[0], i)->type, types[i]);
    }
    CHECK_EQ_INT(fake_records_unread(fds[1]), 10 + 20000 + 2);
    CHECK_EQ_INT(fake_records_unread(fds[0]), 0);
    close_fake(fds);
}

/* Known by identity: once the number names another socket, the real call. */
TEST(fake_records_reused_number_is_a_real_socket)
{
    int fds[2], plain[2];
    REQUIRE(open_fake(fds) == 0);
    int fd = fds[0];
    close(fd);
    REQUIRE(unit_tcp_pair(plain) == 0);
    REQUIRE(plain[0] == fd || plain[1] == fd);
    CHECK_EQ_INT(kernel_send(fd, "clear", 5), 5);
    char buf[8];
    int other = plain[0] == fd ? plain[1] : plain[0];
    CHECK_EQ_INT(recv(other, buf, sizeof(buf), 0), 5);
    CHECK_EQ_INT(fake_records_unread(fds[1]), 0);
    close(other);
    fds[0] = fd;
    close_fake(fds);
}

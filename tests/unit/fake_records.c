#include "fake_records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kernel.h"

enum item_kind { ITEM_RECORD, ITEM_ERROR, ITEM_EOF };

struct item {
    enum item_kind kind;
    int err;
    struct fake_record rec;
    size_t off; /* bytes of rec already read */
};

struct send_outcome {
    int err;      /* fail with it, or 0 */
    size_t takes; /* else take at most this much */
};

struct fake_sock {
    int used, fd;
    struct sock_id id;
    int peer; /* index in socks, or -1 */
    struct item *rx;
    size_t rx_head, rx_len, rx_cap;
    struct fake_record *sent;
    int nsent, sent_cap;
    struct send_outcome script[16];
    int script_len, script_head;
};

static struct fake_sock socks[8];
static kernel_sendmsg_fn real_sendmsg;
static kernel_recvmsg_fn real_recvmsg;

static void *grow(void *p, size_t n, size_t size)
{
    p = realloc(p, n * size);
    if (!p) {
        fputs("fake_records: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* The fake socket fd names now, or NULL (a real one). */
static struct fake_sock *find(int fd)
{
    for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++)
        if (socks[i].used && socks[i].fd == fd && kernel_same_socket(fd, &socks[i].id))
            return &socks[i];
    return NULL;
}

static struct fake_sock *must_find(int fd)
{
    struct fake_sock *s = find(fd);
    if (!s) {
        fprintf(stderr, "fake_records: fd %d is not a fake kTLS socket\n", fd);
        abort();
    }
    return s;
}

static void queue(struct fake_sock *s, struct item it)
{
    if (s->rx_len == s->rx_cap) {
        s->rx_cap = s->rx_cap ? 2 * s->rx_cap : 16;
        s->rx = grow(s->rx, s->rx_cap, sizeof(*s->rx));
    }
    s->rx[s->rx_len++] = it;
}

static struct fake_record copy_record(uint8_t type, const void *bytes, size_t len)
{
    struct fake_record r = {type, len, grow(NULL, len ? len : 1, 1)};
    if (len)
        memcpy(r.bytes, bytes, len);
    return r;
}

static void drop(struct fake_sock *s)
{
    free(s->rx[s->rx_head].rec.bytes);
    s->rx_head++;
}

/* Copies n bytes to the message's buffers from offset at. */
static void copy_out(struct msghdr *msg, size_t at, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < msg->msg_iovlen && n > 0; i++) {
        size_t room = msg->msg_iov[i].iov_len;
        if (at >= room) {
            at -= room;
            continue;
        }
        size_t take = room - at < n ? room - at : n;
        memcpy((uint8_t *)msg->msg_iov[i].iov_base + at, p, take);
        p += take;
        n -= take;
        at = 0;
    }
}

static size_t iov_total(const struct msghdr *msg)
{
    size_t n = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        n += msg->msg_iov[i].iov_len;
    return n;
}

/* The record-type cmsg; 0 where the buffer has no room for it (MSG_CTRUNC). */
static int put_type(struct msghdr *msg, uint8_t type)
{
    if (!msg->msg_control || msg->msg_controllen < CMSG_SPACE(sizeof(type))) {
        msg->msg_controllen = 0;
        msg->msg_flags |= MSG_CTRUNC;
        return 0;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_GET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof(type));
    memcpy(CMSG_DATA(c), &type, sizeof(type));
    msg->msg_controllen = CMSG_SPACE(sizeof(type));
    return 1;
}

static ssize_t fake_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct fake_sock *s = find(fd);
    if (!s)
        return real_recvmsg(fd, msg, flags);
    int peek = (flags & MSG_PEEK) != 0;
    msg->msg_flags = 0;
    /* the kernel drops a data record of no bytes without a word */
    while (s->rx_head < s->rx_len && s->rx[s->rx_head].kind == ITEM_RECORD
           && s->rx[s->rx_head].rec.type == TLS_RECORD_APPLICATION_DATA && s->rx[s->rx_head].rec.len == 0)
        drop(s);
    if (s->rx_head == s->rx_len) {
        errno = EAGAIN;
        return -1;
    }
    struct item *it = &s->rx[s->rx_head];
    if (it->kind != ITEM_RECORD) {
        msg->msg_controllen = 0;
        if (it->kind == ITEM_EOF)
            return 0;
        errno = it->err;
        drop(s);
        return -1;
    }
    uint8_t type = it->rec.type;
    if (!put_type(msg, type) && type != TLS_RECORD_APPLICATION_DATA) {
        errno = EIO; /* a control record must come with its type */
        return -1;
    }
    size_t cap = iov_total(msg), got = 0;
    for (size_t i = s->rx_head; i < s->rx_len && got < cap; i++) {
        it = &s->rx[i];
        if (it->kind != ITEM_RECORD || it->rec.type != type)
            break; /* never two types in one read */
        size_t left = it->rec.len - it->off, n = cap - got < left ? cap - got : left;
        copy_out(msg, got, it->rec.bytes + it->off, n);
        got += n;
        if (n < left) {
            if (!peek)
                it->off += n;
            break;
        }
        if (!peek) {
            msg->msg_flags |= MSG_EOR;
            drop(s);
        }
        if (type != TLS_RECORD_APPLICATION_DATA)
            break; /* one control record at a time */
    }
    return (ssize_t)got;
}

static void log_record(struct fake_sock *s, uint8_t type, const uint8_t *p, size_t n)
{
    if (s->nsent == s->sent_cap) {
        s->sent_cap = s->sent_cap ? 2 * s->sent_cap : 16;
        s->sent = grow(s->sent, (size_t)s->sent_cap, sizeof(*s->sent));
    }
    s->sent[s->nsent++] = copy_record(type, p, n);
    if (s->peer >= 0)
        queue(&socks[s->peer], (struct item){ITEM_RECORD, 0, copy_record(type, p, n), 0});
}

static ssize_t fake_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct fake_sock *s = find(fd);
    if (!s)
        return real_sendmsg(fd, msg, flags);
    uint8_t type = TLS_RECORD_APPLICATION_DATA;
    struct msghdr m = *msg;
    if (m.msg_controllen)
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_SET_RECORD_TYPE
                && c->cmsg_len >= CMSG_LEN(1))
                memcpy(&type, CMSG_DATA(c), 1);
    size_t take = iov_total(msg);
    if (s->script_head < s->script_len) {
        struct send_outcome o = s->script[s->script_head++];
        if (o.err) {
            errno = o.err;
            return -1;
        }
        if (o.takes < take)
            take = o.takes;
    }
    uint8_t *flat = grow(NULL, take ? take : 1, 1);
    size_t at = 0;
    for (size_t i = 0; i < msg->msg_iovlen && at < take; i++) {
        size_t n = msg->msg_iov[i].iov_len < take - at ? msg->msg_iov[i].iov_len : take - at;
        memcpy(flat + at, msg->msg_iov[i].iov_base, n);
        at += n;
    }
    /* nothing at all goes out for no bytes (tls_sw_sendmsg) */
    for (size_t off = 0; off < take;) {
        size_t n = take - off;
        if (type == TLS_RECORD_APPLICATION_DATA && n > FAKE_RECORDS_MAX_PLAIN)
            n = FAKE_RECORDS_MAX_PLAIN;
        log_record(s, type, flat + off, n);
        off += n;
    }
    free(flat);
    return (ssize_t)take;
}

void fake_records_on(void)
{
    if (kernel_recvmsg != fake_recvmsg) {
        real_sendmsg = kernel_sendmsg;
        real_recvmsg = kernel_recvmsg;
    }
    kernel_sendmsg = fake_sendmsg;
    kernel_recvmsg = fake_recvmsg;
}

void fake_records_off(void)
{
    for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
        struct fake_sock *s = &socks[i];
        while (s->rx_head < s->rx_len)
            drop(s);
        free(s->rx);
        for (int j = 0; j < s->nsent; j++)
            free(s->sent[j].bytes);
        free(s->sent);
        memset(s, 0, sizeof(*s));
    }
    if (kernel_recvmsg == fake_recvmsg) {
        kernel_sendmsg = real_sendmsg;
        kernel_recvmsg = real_recvmsg;
    }
}

void fake_records_add(int fd)
{
    for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++)
        if (!socks[i].used) {
            struct fake_sock *s = &socks[i];
            memset(s, 0, sizeof(*s));
            if (kernel_sock_id(fd, &s->id) != 0) {
                fprintf(stderr, "fake_records: fd %d is not open\n", fd);
                abort();
            }
            s->used = 1;
            s->fd = fd;
            s->peer = -1;
            return;
        }
    fputs("fake_records: too many fake sockets\n", stderr);
    abort();
}

void fake_records_link(int a, int b)
{
    struct fake_sock *x = must_find(a), *y = must_find(b);
    x->peer = (int)(y - socks);
    y->peer = (int)(x - socks);
}

void fake_records_push(int fd, uint8_t type, const void *bytes, size_t len)
{
    queue(must_find(fd), (struct item){ITEM_RECORD, 0, copy_record(type, bytes, len), 0});
}

void fake_records_push_error(int fd, int err)
{
    queue(must_find(fd), (struct item){ITEM_ERROR, err, {0, 0, NULL}, 0});
}

void fake_records_push_eof(int fd)
{
    queue(must_find(fd), (struct item){ITEM_EOF, 0, {0, 0, NULL}, 0});
}

size_t fake_records_unread(int fd)
{
    struct fake_sock *s = must_find(fd);
    size_t n = 0;
    for (size_t i = s->rx_head; i < s->rx_len; i++)
        if (s->rx[i].kind == ITEM_RECORD)
            n += s->rx[i].rec.len - s->rx[i].off;
    return n;
}

static void script(int fd, struct send_outcome o)
{
    struct fake_sock *s = must_find(fd);
    if (s->script_len == (int)(sizeof(s->script) / sizeof(s->script[0]))) {
        fputs("fake_records: send script too long\n", stderr);
        abort();
    }
    s->script[s->script_len++] = o;
}

void fake_records_send_takes(int fd, size_t n)
{
    script(fd, (struct send_outcome){0, n});
}

void fake_records_send_fails(int fd, int err)
{
    script(fd, (struct send_outcome){err, 0});
}

int fake_records_sent_count(int fd)
{
    return must_find(fd)->nsent;
}

const struct fake_record *fake_records_sent(int fd, int i)
{
    struct fake_sock *s = must_find(fd);
    return i >= 0 && i < s->nsent ? &s->sent[i] : NULL;
}

const struct fake_record *fake_records_last_sent(int fd, uint8_t type)
{
    struct fake_sock *s = must_find(fd);
    for (int i = s->nsent - 1; i >= 0; i--)
        if (s->sent[i].type == type)
            return &s->sent[i];
    return NULL;
}

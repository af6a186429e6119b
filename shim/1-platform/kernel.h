/* The only place that talks to the kernel's TLS ULP: probe, attach, install
 * keys, and record-level send/recv with TLS_{SET,GET}_RECORD_TYPE cmsgs. */
#ifndef KTLS_SHIM_KERNEL_H
#define KTLS_SHIM_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "crypto_info.h"
#include "record_types.h"

/* Test seams: every setsockopt that attaches the ULP or installs keys, and
 * every send and receive the data path makes on a kTLS socket (kernel_send,
 * kernel_send_record, kernel_send_alert, kernel_recv; sendfile is not one),
 * go through these pointers, so the unit tests can play the kernel's TLS on
 * a host without it: one that refuses (ENOENT, EINVAL, EBUSY;
 * tests/unit/fake_kernel.c), and a scripted record stream
 * (tests/unit/fake_records.c). The defaults are the real calls (libc's,
 * never our own interposers); the product never changes them, so they cost
 * one indirect call. */
typedef int (*kernel_setsockopt_fn)(int fd, int level, int name, const void *val, socklen_t len);
typedef ssize_t (*kernel_sendmsg_fn)(int fd, const struct msghdr *msg, int flags);
typedef ssize_t (*kernel_recvmsg_fn)(int fd, struct msghdr *msg, int flags);
extern kernel_setsockopt_fn kernel_setsockopt;
extern kernel_sendmsg_fn kernel_sendmsg;
extern kernel_recvmsg_fn kernel_recvmsg;

/* 1 if this kernel can attach the "tls" ULP (probed once per process). */
int kernel_tls_available(void);
/* Forget the cached probe (after fork in tests; the kernel does not change). */
void kernel_tls_probe_reset(void);

/* 1 if this kernel can rekey a TLS 1.3 socket (TLS_TX set twice): every
 * kernel from 6.14 on can, known from its release alone; an older one
 * (which may carry a backport) is probed once per process, and only when a
 * rekey is about to be needed, on a loopback pair: the probe's throwaway keys
 * show in /proc/net/tls_stat, so it is never made where it is not needed. 0
 * where it cannot (EBUSY) or there is no kTLS at all. Where a test plays the
 * kernel (kernel_setsockopt replaced) the release is not the played
 * kernel's: the probe asks the played one. */
int kernel_rekey_available(void);
/* Pure: 1 if a kernel release string ("6.14.2-...", "7.3.4+deb13-amd64") is
 * 6.14 or later. */
int kernel_release_has_rekey(const char *release);

/* 0 or an errno. ENOENT also marks kTLS unavailable for the process. */
int kernel_attach_ulp(int fd);
/* 1 if the socket already carries the tls ULP (someone else's kTLS). */
int kernel_has_ulp(int fd);
/* Which socket a descriptor names (its device and inode): descriptor
 * numbers are reused, this is not. */
struct sock_id {
    uint64_t dev, ino;
};
/* 0 with *id filled, -1 if fd is not open. */
int kernel_sock_id(int fd, struct sock_id *id);
/* 1 if fd names the socket id, 0 if it is closed or names another file. */
int kernel_same_socket(int fd, const struct sock_id *id);
/* 1 if the kernel encrypts what is sent on fd (its TLS_TX is set). */
int kernel_tx_installed(int fd);
/* 1 if the kernel's TLS decrypts what fd receives (TLS_RX is set). Keeps errno. */
int kernel_rx_installed(int fd);

/* Bytes that arrived on fd and were not read yet: with kTLS RX, those of
 * records not complete or not read yet (TCP's queue). -1 on error. */
int kernel_unread_bytes(int fd);
/* SO_RCVLOWAT: the bytes poll() waits for before it says readable. */
int kernel_rcvlowat(int fd);
int kernel_set_rcvlowat(int fd, int bytes);
/* poll() for POLLOUT: 1 writable (or an error to find by writing), 0 timed
 * out, -1 failed (errno); EINTR is retried. timeout_ms < 0: forever. */
int kernel_wait_writable(int fd, int timeout_ms);
/* 1 when fd has O_NONBLOCK set (or its flags cannot be read). */
int kernel_nonblocking(int fd);

/* TLS_TX (tx=1) or TLS_RX (tx=0). 0 or an errno. After 0 there is no way
 * back for that direction. */
int kernel_install(int fd, int tx, const union ktls_crypto_info *info, size_t len);

/* Application data (send(2) with no flags, through kernel_sendmsg): the
 * kernel cuts it into data records. Same return as send. */
ssize_t kernel_send(int fd, const void *buf, size_t len);
/* One record of the given type (alerts, handshake). Same return as sendmsg. */
ssize_t kernel_send_record(int fd, uint8_t type, const void *buf, size_t len);
/* One alert, fatal or warning. The kernel marks the socket failed (sk_err)
 * when a received record fails authentication or is malformed, and then
 * refuses every sendmsg; the alert the peer is owed still has to go out,
 * so the mark is read (SO_ERROR clears it) and the send tried once more.
 * The alert is then pushed out at once (see push_queued_segments). */
ssize_t kernel_send_alert(int fd, const uint8_t alert[2]);
/* recvmsg with a record-type cmsg; *type is the record's content type, and
 * *record_end (MSG_EOR) says the read took the record's last byte, so a
 * control record's length is known. Bytes that arrive without that cmsg (or
 * with it truncated) fail with ENOMSG: they did not come from the kernel's
 * TLS. 0 with *type 0: the end of the stream; 0 with a type: a control
 * record of no bytes (a peer's empty alert or handshake record; an empty
 * data record the kernel skips itself). */
ssize_t kernel_recv(int fd, void *buf, size_t len, int flags, uint8_t *type, int *record_end);

#endif

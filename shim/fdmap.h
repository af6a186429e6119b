/* Which socket descriptors carry a TLS connection the shim knows, so that a
 * plain sendfile() on one is never let through in clear and nginx's
 * BIO_get_ktls_send() question can be answered. Entries are dropped on
 * close() (and the other ways to close a descriptor) and SSL_free, so a
 * reused descriptor number is never mistaken for the old connection.
 * Lock-free: close() stays async-signal-safe, nothing waits on a lock a
 * forked child's missing threads held, and threads never contend. */
#ifndef KTLS_SHIM_FDMAP_H
#define KTLS_SHIM_FDMAP_H

struct conn;

/* 1, or 0 when fd cannot be tracked (out of memory). */
int fdmap_register(int fd, struct conn *c);
/* Drop fd; with c != NULL only if it still maps to c. Async-signal-safe. */
void fdmap_forget(int fd, const struct conn *c);
/* Drop every fd from lo to hi (close_range, closefrom). */
void fdmap_forget_range(unsigned lo, unsigned hi);
/* 1 if fd maps to c. */
int fdmap_owns(int fd, const struct conn *c);
/* The connection on fd with a reference held (conn_release it), or NULL.
 * Safe while another thread frees that connection. */
struct conn *fdmap_acquire(int fd);
/* Waits until no fdmap_acquire on fd is between reading the slot and taking
 * its reference: after fdmap_forget, the connection may then be released. */
void fdmap_quiesce(int fd);
/* Cheap: 0 until the first registration, so close() costs nothing before. */
int fdmap_active(void);

#endif

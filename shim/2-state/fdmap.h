/* Which socket descriptors carry a TLS connection the shim knows, so that a
 * plain sendfile() on one is never let through in clear and nginx's
 * BIO_get_ktls_send() question can be answered. Entries are dropped on
 * close() (and the other ways to close a descriptor) and SSL_free, so a
 * reused descriptor number is never mistaken for the old connection.
 * Lock-free: close() stays async-signal-safe, nothing waits on a lock a
 * forked child's missing threads held, and threads never contend. */
#ifndef KTLS_SHIM_FDMAP_H
#define KTLS_SHIM_FDMAP_H

/* What a descriptor maps to is its registrant's reference (the connection
 * state: conn_acquire_fd in conn.h), opaque here: the map stores it,
 * compares it and hands it back, held by the registrant's own hold. */

/* 1, or 0 when fd cannot be tracked (out of memory). */
int fdmap_register(int fd, void *ref);
/* Drop fd; with ref != NULL only if it still maps to ref. Async-signal-safe. */
void fdmap_forget(int fd, const void *ref);
/* Drop every fd from lo to hi (close_range, closefrom). */
void fdmap_forget_range(unsigned lo, unsigned hi);
/* 1 if fd maps to ref. */
int fdmap_owns(int fd, const void *ref);
/* The reference on fd with hold(ref) done before the map could let it go,
 * or NULL. Safe while another thread forgets fd and frees what it mapped
 * to (after fdmap_quiesce). */
void *fdmap_acquire(int fd, void (*hold)(void *ref));
/* Waits until no fdmap_acquire on fd is between reading the slot and taking
 * its reference: after fdmap_forget, the connection may then be released. */
void fdmap_quiesce(int fd);
/* Cheap: 0 until the first registration, so close() costs nothing before. */
int fdmap_active(void);

#endif

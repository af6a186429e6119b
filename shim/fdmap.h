/* Which socket descriptors carry a TLS connection the shim knows, so that a
 * plain sendfile() on one is never let through in clear and nginx's
 * BIO_get_ktls_send() question can be answered. Entries are dropped on
 * close() and SSL_free, so a reused descriptor number is never mistaken for
 * the old connection. */
#ifndef KTLS_SHIM_FDMAP_H
#define KTLS_SHIM_FDMAP_H

struct conn;

/* 1, or 0 when fd cannot be tracked (out of memory). */
int fdmap_register(int fd, struct conn *c);
/* Drop fd; with c != NULL only if it still maps to c. */
void fdmap_forget(int fd, const struct conn *c);
/* Drop every fd from lo to hi (close_range, closefrom). */
void fdmap_forget_range(unsigned lo, unsigned hi);
/* 1 if fd maps to c. */
int fdmap_owns(int fd, const struct conn *c);
/* The connection on fd, or NULL. */
struct conn *fdmap_lookup(int fd);
/* Cheap: 0 until the first registration, so close() costs nothing before. */
int fdmap_active(void);

#endif

/* SSL_read/SSL_write/SSL_shutdown semantics for directions the kernel owns:
 * plain socket calls. Control records that arrive among the data are
 * handed to control.c and never to the application as data; failures follow
 * fail.h's convention. */
#ifndef KTLS_SHIM_KIO_H
#define KTLS_SHIM_KIO_H

#include "conn.h"

/* 1 with *done bytes, or 0 on failure (fail.h). */
int kio_read(struct conn *c, SSL *s, void *buf, size_t len, size_t *done, int peek);
int kio_write(struct conn *c, SSL *s, const void *buf, size_t len, size_t *done);
/* SSL_shutdown's return convention: 1, 0 or -1. */
int kio_shutdown(struct conn *c, SSL *s);
/* What FIONREAD leaves out on a socket whose RX the kernel owns: bytes
 * decrypted and not yet read (0 for any other descriptor). Keeps errno. */
int kio_unread_decrypted(int fd);
/* A plain read of fd that failed with EIO: again, taking the non-data
 * record that caused it as bytes, where the program's SSL on fd was shut
 * down or is gone (the kernel's TLS outlived it). -1 with EIO
 * otherwise. */
ssize_t kio_read_after_ssl(int fd, void *buf, size_t len, int flags);
/* The int that SSL_read/SSL_write return after kio_* failed. */
int kio_failure_return(const struct conn *c);

#endif

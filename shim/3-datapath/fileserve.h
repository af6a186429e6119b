/* Serving files on TLS sockets: SSL_sendfile and libc sendfile, and the
 * BIO_get_ktls_send() answer that makes nginx choose SSL_sendfile. Where the
 * kernel owns TX, a real sendfile() lets it read the page cache, encrypt and
 * send. Where it does not, the file is read and written through the
 * connection's TLS path, so file bytes never reach a TLS socket in clear. */
#ifndef KTLS_SHIM_FILESERVE_H
#define KTLS_SHIM_FILESERVE_H

#include <sys/types.h>

#include "ossl.h"

typedef ssize_t (*sendfile_fn)(int out_fd, int in_fd, off_t *offset, size_t count);

/* SSL_sendfile's contract. */
ossl_ssize_t fileserve_ssl_sendfile(SSL *s, int fd, off_t offset, size_t size, int flags);
/* sendfile(2)'s contract; real is libc's sendfile or sendfile64. */
ssize_t fileserve_sendfile(sendfile_fn real, int out_fd, int in_fd, off_t *offset, size_t count);
/* BIO_ctrl's answer; real is libcrypto's BIO_ctrl. */
long fileserve_bio_ctrl(bio_ctrl_fn real, BIO *b, int cmd, long larg, void *parg);

#endif

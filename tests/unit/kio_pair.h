/* A TLS connection made in this process (tls_pair.h) whose two ends the
 * shim's own offload path moved to the kernel (every direction of both must
 * be DIR_KERNEL after it, or the open fails), for driving kio_* directly:
 * on this kernel's kTLS (test_kio.c, the guest), or on a played kernel on
 * any host (played: fake_kernel.h takes the keys, then both descriptors
 * become fake kTLS sockets linked to each other, fake_records.h: what one
 * end's kernel sends the other's reads, and a test can push the peer's
 * records, errors and EOF itself). */
#ifndef KTLS_UNIT_KIO_PAIR_H
#define KTLS_UNIT_KIO_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/err.h>

#include "conn.h"
#include "fake_records.h"
#include "tls_pair.h"

/* The two variants the played cases run over. */
#define KIO_V13 TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"
#define KIO_V12 TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"

#define SSL_ERR(reason) ERR_PACK(ERR_LIB_SSL, 0, (reason))

struct kio_pair {
    struct tls_pair p;
    struct conn *server, *client;
    int played;
};

/* 0, or -1 with a unit failure and the pair closed already. */
int kio_pair_open(struct kio_pair *k, int version, const char *cipher, int played);
/* Frees the pair; a played kernel's seams go back to the real calls. */
void kio_pair_close(struct kio_pair *k);

/* kio_read until n bytes of data are in, waiting on WANT_READ (a played
 * kernel never blocks: there nothing more will come). 0, or -1. */
int kio_pair_read(struct kio_pair *k, struct conn *c, SSL *s, uint8_t *buf, size_t n);
/* The connection goes on: 5 bytes the client writes reach the server intact. */
void check_still_carries(const char *file, int line, struct kio_pair *k);
#define CHECK_STILL_CARRIES(k) check_still_carries(__FILE__, __LINE__, (k))

/* Played: the peer's next record, queued for the client to read. */
void kio_pair_push(struct kio_pair *k, uint8_t type, const char *bytes, size_t len);
/* One kio_read of the client into a buffer of cap bytes (at most 256): 1,
 * or 0 with the failure in err_override. */
int kio_pair_client_read(struct kio_pair *k, size_t cap, size_t *got);
/* Played: the record (type, bytes), then data: the data arrives, nothing
 * failed. */
void check_goes_on(struct kio_pair *k, uint8_t type, const char *bytes, size_t len);
/* The client's read failed for good with SSL_ERROR_SSL (SSL_read -1). */
void check_failed(const char *file, int line, struct kio_pair *k);
#define CHECK_FAILED(k) check_failed(__FILE__, __LINE__, (k))

/* Bytes to send that show where they were cut: p[i] = i * 131 + seed. */
void kio_pattern(uint8_t *p, size_t n, unsigned seed);

/* The thread's error queue holds exactly these ERR_PACK(lib, 0, reason)
 * codes, oldest first (none: NULL, 0); it is emptied. */
void check_errors(const char *file, int line, const unsigned long *want, size_t n);
#define CHECK_ERRORS(...)                                                          \
    check_errors(__FILE__, __LINE__, (const unsigned long[]){__VA_ARGS__},         \
                 sizeof((const unsigned long[]){__VA_ARGS__}) / sizeof(unsigned long))
#define CHECK_NO_ERRORS() check_errors(__FILE__, __LINE__, NULL, 0)

/* A played fd sent exactly one alert record, [level, desc] (level 0: none
 * at all). */
void check_alert_sent(const char *file, int line, int fd, int level, int desc);
#define CHECK_ALERT_SENT(fd, level, desc) check_alert_sent(__FILE__, __LINE__, (fd), (level), (desc))

/* Cases that run the same on both kernels (kio_cases.c). */
void kio_case_peek_over_mixed_records(int version, const char *cipher, int played);
void kio_case_write_fails_closed_on_a_reused_descriptor(int played);

#endif

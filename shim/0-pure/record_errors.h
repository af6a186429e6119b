/* What OpenSSL itself puts on the error queue, and which alert it sends, when
 * a received record fails: the kernel reports such a record with one errno
 * (EBADMSG, EMSGSIZE, EINVAL), and a program must see the queue the same
 * OpenSSL would have left (first and last reason, provider entries). It
 * differs by version: 3.0 adds the provider's failure before a TLS 1.2
 * AES-GCM bad-tag error, the record layer of 3.2+ words a too-long record
 * differently and closes every record failure with RECORD_LAYER_FAILURE.
 * Measured against 1.1.1w, 3.0.19 and 3.5.7 in the guest (tests/70-tamper).
 * Pure: no OpenSSL needed. */
#ifndef KTLS_SHIM_RECORD_ERRORS_H
#define KTLS_SHIM_RECORD_ERRORS_H

#include <stddef.h>

#include "crypto_info.h"

enum record_failure {
    RECORD_BAD_MAC,     /* EBADMSG: the tag did not verify (or no room for one) */
    RECORD_TOO_LONG,    /* EMSGSIZE: longer than a record may be */
    RECORD_BAD_VERSION, /* EINVAL: the header's version is not the session's */
};

struct queued_error {
    int lib;
    int reason;
};

#define RECORD_ERRORS_MAX 3

/* Fills out (oldest first) and returns how many entries OpenSSL of
 * ossl_version (OpenSSL_version_num()) queues for this failure. */
size_t record_failure_queue(enum record_failure f, unsigned long ossl_version, int tls_version,
                            enum ktls_cipher cipher, struct queued_error out[RECORD_ERRORS_MAX]);
/* The alert description OpenSSL sends the peer for it. */
int record_failure_alert(enum record_failure f);

#endif

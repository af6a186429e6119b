/* record_stream: follows the bytes one direction of a socket carried as a
 * stream of TLS records, header by header, from the first byte. A program's
 * own BIO that passes as many bytes as OpenSSL gave it may still change them
 * (an XOR or obfuscation layer, a stream cipher); byte counts cannot tell,
 * the wire's content can: a stream that is not records, or whose first
 * record is not the hello carrying the handshake's random, was transformed,
 * and the kernel would send (or expect) records without that layer.
 * Pure: no syscalls; the caller serialises feeds of one stream. */
#ifndef KTLS_SHIM_RECORD_STREAM_H
#define KTLS_SHIM_RECORD_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* header (5) + handshake header (4) + legacy_version (2) + random (32) */
#define RECORD_STREAM_HELLO_PREFIX 43

struct record_stream {
    uint8_t hdr[5];
    uint8_t hdr_have;
    uint8_t not_records;  /* a header no TLS stack writes: the bytes were changed */
    uint8_t first_have;   /* the stream's first bytes kept, up to the prefix */
    uint8_t first[RECORD_STREAM_HELLO_PREFIX];
    uint32_t body_left;   /* of the record under way */
    uint64_t records;     /* headers seen */
};

void record_stream_feed(struct record_stream *r, const uint8_t *p, size_t n);
/* Whole records only so far (nothing of a record under way). */
int record_stream_at_boundary(const struct record_stream *r);

enum record_stream_proof {
    RECORD_STREAM_PROVED,      /* records, the first one the expected hello */
    RECORD_STREAM_TRANSFORMED, /* not the records OpenSSL wrote or read */
    RECORD_STREAM_TOO_EARLY,   /* not enough bytes yet to say */
};
/* hello_type: 1 ClientHello, 2 ServerHello (a HelloRetryRequest, whose
 * random is fixed by RFC 8446 4.1.3, counts as one); random: the one that
 * hello carries in this handshake. */
enum record_stream_proof record_stream_proof(const struct record_stream *r, uint8_t hello_type,
                                             const uint8_t random[32]);

#endif

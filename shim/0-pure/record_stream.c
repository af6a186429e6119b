#include "record_stream.h"

#include <string.h>

/* TLS 1.2 ciphertext may exceed a plaintext record by 2048 (RFC 5246 6.2.3);
 * TLS 1.3's limit (2^14 + 256) is inside that. */
#define RECORD_MAX_BODY (16384 + 2048)

/* RFC 8446 4.1.3: SHA-256("HelloRetryRequest") */
static const uint8_t hello_retry_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

static int header_plausible(const uint8_t h[5])
{
    /* change_cipher_spec, alert, handshake, application_data; record
     * versions 3.1 (a first ClientHello) to 3.3 (TLS 1.2, and TLS 1.3's
     * legacy version) */
    unsigned len = (unsigned)h[3] << 8 | h[4];
    return h[0] >= 20 && h[0] <= 23 && h[1] == 3 && h[2] >= 1 && h[2] <= 3 && len <= RECORD_MAX_BODY;
}

void record_stream_feed(struct record_stream *r, const uint8_t *p, size_t n)
{
    if (r->first_have < RECORD_STREAM_HELLO_PREFIX) {
        size_t k = RECORD_STREAM_HELLO_PREFIX - r->first_have;
        if (k > n)
            k = n;
        memcpy(r->first + r->first_have, p, k);
        r->first_have += (uint8_t)k;
    }
    while (n && !r->not_records) {
        if (r->body_left) {
            size_t k = n < r->body_left ? n : r->body_left;
            r->body_left -= (uint32_t)k;
            p += k;
            n -= k;
            continue;
        }
        r->hdr[r->hdr_have++] = *p++;
        n--;
        if (r->hdr_have < 5)
            continue;
        r->hdr_have = 0;
        r->records++;
        if (!header_plausible(r->hdr)) {
            r->not_records = 1;
            return;
        }
        r->body_left = (uint32_t)r->hdr[3] << 8 | r->hdr[4];
    }
}

int record_stream_at_boundary(const struct record_stream *r)
{
    return !r->not_records && r->hdr_have == 0 && r->body_left == 0;
}

enum record_stream_proof record_stream_proof(const struct record_stream *r, uint8_t hello_type,
                                             const uint8_t random[32])
{
    const uint8_t *f = r->first;
    if (r->not_records)
        return RECORD_STREAM_TRANSFORMED;
    /* a hello's body is 38 bytes at least: its header, version and random */
    if (r->first_have >= 5 && ((unsigned)f[3] << 8 | f[4]) < RECORD_STREAM_HELLO_PREFIX - 5)
        return RECORD_STREAM_TRANSFORMED;
    if (r->first_have < RECORD_STREAM_HELLO_PREFIX)
        return RECORD_STREAM_TOO_EARLY;
    if (f[0] != 22 || f[5] != hello_type)
        return RECORD_STREAM_TRANSFORMED;
    const uint8_t *got = f + 11;
    if (memcmp(got, random, 32) == 0 || (hello_type == 2 && memcmp(got, hello_retry_random, 32) == 0))
        return RECORD_STREAM_PROVED;
    return RECORD_STREAM_TRANSFORMED;
}

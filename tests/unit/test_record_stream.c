/* shim/0-pure/record_stream.c: the bytes OpenSSL writes are proved records that
 * open with the handshake's hello; the same bytes through a layer that keeps
 * their length (XOR), cut short, or followed by a record under way are not. */
#include <openssl/ssl.h>

#include "record_stream.h"
#include "unit.h"

static uint8_t wire[4096];
static size_t wire_len;
static uint8_t client_random[32];

/* What an OpenSSL client puts on the wire first (its ClientHello record). */
static int openssl_client_wire(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *s = SSL_new(ctx);
    BIO *a, *b;
    BIO_new_bio_pair(&a, 0, &b, 0);
    SSL_set_bio(s, a, a);
    (void)SSL_connect(s); /* writes the ClientHello, then wants to read */
    int n = BIO_read(b, wire, sizeof(wire));
    wire_len = n > 0 ? (size_t)n : 0;
    SSL_get_client_random(s, client_random, sizeof(client_random));
    SSL_free(s);
    BIO_free(b);
    SSL_CTX_free(ctx);
    return wire_len > RECORD_STREAM_HELLO_PREFIX;
}

static enum record_stream_proof proof_of(const uint8_t *p, size_t n, size_t split, uint8_t type,
                                         const uint8_t *random)
{
    struct record_stream r = {0};
    record_stream_feed(&r, p, split);
    record_stream_feed(&r, p + split, n - split);
    return record_stream_proof(&r, type, random);
}

TEST(record_stream_proves_openssls_clienthello_however_it_is_split)
{
    REQUIRE(openssl_client_wire());
    for (size_t split = 0; split <= wire_len; split++)
        CHECK_EQ_INT(proof_of(wire, wire_len, split, 1, client_random), RECORD_STREAM_PROVED);
    struct record_stream r = {0};
    for (size_t i = 0; i < wire_len; i++) /* a byte a call */
        record_stream_feed(&r, wire + i, 1);
    CHECK(record_stream_at_boundary(&r));
    CHECK_EQ_INT(record_stream_proof(&r, 1, client_random), RECORD_STREAM_PROVED);
}

TEST(record_stream_refuses_a_layer_that_keeps_lengths_and_other_hellos)
{
    REQUIRE(openssl_client_wire());
    uint8_t xored[sizeof(wire)];
    for (size_t i = 0; i < wire_len; i++)
        xored[i] = wire[i] ^ 0x5a;
    CHECK_EQ_INT(proof_of(xored, wire_len, 0, 1, client_random), RECORD_STREAM_TRANSFORMED);
    /* the right records with another random, or taken for a ServerHello */
    uint8_t other[32];
    memcpy(other, client_random, 32);
    other[31] ^= 1;
    CHECK_EQ_INT(proof_of(wire, wire_len, 0, 1, other), RECORD_STREAM_TRANSFORMED);
    CHECK_EQ_INT(proof_of(wire, wire_len, 0, 2, client_random), RECORD_STREAM_TRANSFORMED);
    /* a layer that changes only the random (past the headers) */
    uint8_t tweaked[sizeof(wire)];
    memcpy(tweaked, wire, wire_len);
    tweaked[20] ^= 0xff;
    CHECK_EQ_INT(proof_of(tweaked, wire_len, 0, 1, client_random), RECORD_STREAM_TRANSFORMED);
}

TEST(record_stream_waits_for_the_hello_and_counts_a_record_under_way_as_changed)
{
    REQUIRE(openssl_client_wire());
    for (size_t n = 0; n < RECORD_STREAM_HELLO_PREFIX; n++)
        CHECK_EQ_INT(proof_of(wire, n, 0, 1, client_random), RECORD_STREAM_TOO_EARLY);
    struct record_stream r = {0};
    record_stream_feed(&r, wire, wire_len);
    /* an application-data record under way: records still, not at a boundary */
    const uint8_t app[] = {23, 3, 3, 0, 4, 'a', 'b'};
    record_stream_feed(&r, app, sizeof(app));
    CHECK(!record_stream_at_boundary(&r));
    CHECK_EQ_INT(record_stream_proof(&r, 1, client_random), RECORD_STREAM_PROVED);
    record_stream_feed(&r, app + 5, 2);
    CHECK(record_stream_at_boundary(&r));
    /* then a header no TLS stack writes (type 0x99; then an oversized length) */
    const uint8_t bad_type[] = {0x99, 3, 3, 0, 1};
    record_stream_feed(&r, bad_type, sizeof(bad_type));
    CHECK_EQ_INT(record_stream_proof(&r, 1, client_random), RECORD_STREAM_TRANSFORMED);
    struct record_stream big = {0};
    record_stream_feed(&big, wire, wire_len);
    const uint8_t too_long[] = {23, 3, 3, 0x48, 0x01};
    record_stream_feed(&big, too_long, sizeof(too_long));
    CHECK_EQ_INT(record_stream_proof(&big, 1, client_random), RECORD_STREAM_TRANSFORMED);
    /* a first record too short to be any hello */
    const uint8_t alert_first[] = {21, 3, 3, 0, 2, 2, 40};
    CHECK_EQ_INT(proof_of(alert_first, sizeof(alert_first), 0, 2, client_random),
                 RECORD_STREAM_TRANSFORMED);
}

TEST(record_stream_takes_a_hello_retry_request_for_the_server_hello)
{
    /* RFC 8446 4.1.3: an HRR is a ServerHello whose random is fixed */
    static const uint8_t hrr_random[32] = {
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
        0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    uint8_t rec[5 + 4 + 2 + 32 + 8] = {22, 3, 3, 0, 4 + 2 + 32 + 8, 2, 0, 0, 2 + 32 + 8, 3, 3};
    memcpy(rec + 11, hrr_random, 32);
    uint8_t mine[32] = {1};
    CHECK_EQ_INT(proof_of(rec, sizeof(rec), 7, 2, mine), RECORD_STREAM_PROVED);
    CHECK_EQ_INT(proof_of(rec, sizeof(rec), 7, 1, mine), RECORD_STREAM_TRANSFORMED);
    memcpy(rec + 11, mine, 32);
    CHECK_EQ_INT(proof_of(rec, sizeof(rec), 0, 2, mine), RECORD_STREAM_PROVED);
}

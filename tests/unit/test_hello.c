/* shim/0-pure/hello.c: extensions of a ClientHello, from OpenSSL's own messages and
 * from cut or lying ones. */
#include <openssl/ssl.h>

#include "hello.h"
#include "unit.h"

static uint8_t hello[4096];
static size_t hello_len;

static void record_hello(int write_p, int version, int content_type, const void *buf, size_t len,
                         SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    const uint8_t *b = buf;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len && b[0] == SSL3_MT_CLIENT_HELLO
        && len <= sizeof(hello)) {
        memcpy(hello, buf, len);
        hello_len = len;
    }
}

/* The ClientHello OpenSSL writes, with or without post-handshake auth. */
static int openssl_hello(int pha)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (pha)
        SSL_CTX_set_post_handshake_auth(ctx, 1);
    SSL *s = SSL_new(ctx);
    BIO *a, *b;
    BIO_new_bio_pair(&a, 0, &b, 0);
    SSL_set_bio(s, a, a);
    SSL_set_msg_callback(s, record_hello);
    hello_len = 0;
    (void)SSL_connect(s); /* writes the ClientHello, then wants to read */
    SSL_free(s);
    BIO_free(b);
    SSL_CTX_free(ctx);
    return hello_len > 0;
}

TEST(hello_finds_post_handshake_auth_in_openssls_clienthello)
{
    REQUIRE(openssl_hello(1));
    CHECK(hello_offers_extension(hello, hello_len, HELLO_EXT_POST_HANDSHAKE_AUTH));
    CHECK(hello_offers_extension(hello, hello_len, 43)); /* supported_versions */
    /* every cut of the message is refused, never read past */
    for (size_t n = 0; n < hello_len; n++)
        CHECK(!hello_offers_extension(hello, n, 0xfafa));
    REQUIRE(openssl_hello(0));
    CHECK(!hello_offers_extension(hello, hello_len, HELLO_EXT_POST_HANDSHAKE_AUTH));
}

TEST(hello_refuses_other_messages_and_lying_lengths)
{
    const uint8_t server_hello[] = {2, 0, 0, 0};
    CHECK(!hello_offers_extension(server_hello, sizeof(server_hello), 49));
    CHECK(!hello_offers_extension(NULL, 0, 49));
    /* a body length beyond the buffer */
    uint8_t lying[64] = {1, 0, 1, 0};
    CHECK(!hello_offers_extension(lying, sizeof(lying), 49));
    /* extensions: one of type 49 whose length overruns the block */
    uint8_t m[4 + 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 4] = {1, 0, 0, 47};
    size_t at = 4 + 2 + 32;
    m[at++] = 0;              /* session id */
    m[at++] = 0, m[at++] = 2; /* cipher suites */
    m[at++] = 0x13, m[at++] = 0x01;
    m[at++] = 1, m[at++] = 0; /* compression */
    m[at++] = 0, m[at++] = 4; /* extensions: 4 bytes */
    m[at++] = 0, m[at++] = 49, m[at++] = 0, m[at++] = 0;
    CHECK(hello_offers_extension(m, sizeof(m), 49));
    m[sizeof(m) - 1] = 9; /* extension length 9 > what is left */
    CHECK(!hello_offers_extension(m, sizeof(m), 49));
}

/* offload.c's decisions on a real TLS connection in this process, with the
 * kernel played by fake_kernel: when a direction may move, and when it must
 * stay in OpenSSL. */
#include <poll.h>

#include "conn.h"
#include "fake_kernel.h"
#include "kernel.h"
#include "observe.h"
#include "offload.h"
#include "tls_pair.h"
#include "unit.h"

/* The client renegotiates; the server reads (SSL_read) so it answers. */
static int renegotiate(struct tls_pair *p, int start_only)
{
    if (SSL_renegotiate(p->client) != 1)
        return -1;
    uint8_t buf[16];
    for (int i = 0; i < 2000; i++) {
        int r = SSL_do_handshake(p->client);
        if (start_only)
            return 0;
        if (r == 1 && SSL_is_init_finished(p->client) && SSL_is_init_finished(p->server)
            && !SSL_renegotiate_pending(p->client))
            return 0;
        (void)SSL_read(p->server, buf, sizeof(buf));
        struct pollfd w[2] = {{.fd = p->client_fd, .events = POLLIN},
                              {.fd = p->server_fd, .events = POLLIN}};
        poll(w, 2, 10);
    }
    return -1;
}

/* A TLS 1.2 pair whose client has shim state and a finished handshake, its
 * TX waiting behind a half-written record (as after an SSL_write that
 * returned WANT_WRITE) and its RX moved. NULL on failure. */
static struct conn *client_with_tx_pending(struct tls_pair *p)
{
    fake_kernel_on();
    if (tls_pair_open(p, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256") != 0)
        return NULL;
    struct conn *c = observe_attach(p->client);
    if (!c || tls_pair_handshake(p) != 0)
        return NULL;
    c->tx_write_pending = 1;
    offload_progress(c, p->client, 0);
    CHECK_EQ_INT(c->dir[CONN_RX].state, DIR_KERNEL);
    CHECK_EQ_INT(c->dir[CONN_TX].state, DIR_PENDING);
    return c;
}

static void done(struct tls_pair *p)
{
    tls_pair_close(p);
    fake_kernel_off();
}

/* A direction waiting for a record boundary (here TX, behind a half-written
 * record) must not move while a renegotiation runs, and once that has
 * changed the keys the ones derived at the handshake are stale: it stays in
 * OpenSSL for good. */
TEST(pending_direction_waits_for_a_renegotiation_then_refuses_stale_keys)
{
    struct tls_pair p;
    struct conn *c = client_with_tx_pending(&p);
    REQUIRE(c != NULL);
    REQUIRE(renegotiate(&p, 1) == 0);
    CHECK(!SSL_is_init_finished(p.client));
    c->tx_write_pending = 0;
    offload_progress(c, p.client, 0);
    CHECK_EQ_INT(c->dir[CONN_TX].state, DIR_PENDING);
    CHECK_EQ_INT(fake_kernel_calls(p.client_fd, SOL_TLS, TLS_TX), 0);

    REQUIRE(renegotiate(&p, 0) == 0);
    offload_progress(c, p.client, 0);
    CHECK_EQ_INT(c->dir[CONN_TX].state, DIR_FALLBACK);
    CHECK_EQ_INT(c->dir[CONN_TX].reason, FB_RENEGOTIATION);
    CHECK_EQ_INT(fake_kernel_calls(p.client_fd, SOL_TLS, TLS_TX), 0);
    done(&p);
}

/* The same connection without a renegotiation moves once the record is out. */
TEST(pending_direction_moves_at_the_record_boundary)
{
    struct tls_pair p;
    struct conn *c = client_with_tx_pending(&p);
    REQUIRE(c != NULL);
    c->tx_write_pending = 0;
    offload_progress(c, p.client, 0);
    CHECK_EQ_INT(c->dir[CONN_TX].state, DIR_KERNEL);
    CHECK_EQ_INT(fake_kernel_calls(p.client_fd, SOL_TLS, TLS_TX), 1);
    /* Finished was record 0 of the new keys: application data starts at 1 */
    CHECK_EQ_INT(c->dir[CONN_TX].seq_at_install, 1);
    done(&p);
}

/* wrk calls SSL_set_fd before every retry of a non-blocking SSL_connect: each
 * retry writes through a new socket BIO on the same socket. The record count
 * must carry over, and TX still moves. */
TEST(tx_moves_when_the_program_gives_a_new_bio_between_handshake_steps)
{
    struct tls_pair p;
    fake_kernel_on();
    REQUIRE(tls_pair_open(&p, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256") == 0);
    struct conn *c = observe_attach(p.client);
    REQUIRE(c != NULL);
    int client_done = 0, server_done = 0, new_bios = 0;
    for (int i = 0; i < 2000 && !(client_done && server_done); i++) {
        if (!client_done) {
            SSL_set_fd(p.client, p.client_fd);
            new_bios++;
            int r = SSL_do_handshake(p.client);
            client_done = r == 1;
            REQUIRE(r == 1 || SSL_get_error(p.client, r) == SSL_ERROR_WANT_READ);
        }
        if (!server_done) {
            int r = SSL_do_handshake(p.server);
            server_done = r == 1;
            REQUIRE(r == 1 || SSL_get_error(p.server, r) == SSL_ERROR_WANT_READ);
        }
        struct pollfd w[2] = {{.fd = p.client_fd, .events = POLLIN}, {.fd = p.server_fd, .events = POLLIN}};
        poll(w, 2, 10);
    }
    REQUIRE(client_done && server_done);
    CHECK(new_bios >= 2);
    offload_progress(c, p.client, 0);
    CHECK_EQ_INT(c->dir[CONN_TX].state, DIR_KERNEL);
    CHECK_EQ_INT(fake_kernel_calls(p.client_fd, SOL_TLS, TLS_TX), 1);
    done(&p);
}

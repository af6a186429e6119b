#include "kio_pair.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "fake_kernel.h"
#include "kernel.h"
#include "kio.h"
#include "observe.h"
#include "offload.h"
#include "unit.h"

static int moved(struct kio_pair *k)
{
    int ok = 1;
    for (int d = 0; d < 2; d++)
        ok &= kernel_owns(k->server, d) && kernel_owns(k->client, d);
    if (!ok)
        unit_fail(__FILE__, __LINE__, "offload failed: server %d/%d client %d/%d",
                  k->server->dir[0].state, k->server->dir[1].state, k->client->dir[0].state,
                  k->client->dir[1].state);
    /* the played kernel got each key once, and nothing else did */
    int fds[2] = {k->p.server_fd, k->p.client_fd};
    for (int i = 0; k->played && i < 2; i++)
        if (fake_kernel_calls(fds[i], SOL_TLS, TLS_TX) != 1 || fake_kernel_calls(fds[i], SOL_TLS, TLS_RX) != 1) {
            unit_fail(__FILE__, __LINE__, "fd %d: TLS_TX x%d, TLS_RX x%d, want one each", fds[i],
                      fake_kernel_calls(fds[i], SOL_TLS, TLS_TX), fake_kernel_calls(fds[i], SOL_TLS, TLS_RX));
            ok = 0;
        }
    return ok;
}

int kio_pair_open(struct kio_pair *k, int version, const char *cipher, int played)
{
    k->server = k->client = NULL;
    k->played = played;
    if (played)
        fake_kernel_on();
    if (tls_pair_open(&k->p, version, cipher) != 0)
        goto failed;
    SSL_set_num_tickets(k->p.server, 0); /* only the test's records after the handshake */
    k->server = observe_attach(k->p.server);
    k->client = observe_attach(k->p.client);
    if (!k->server || !k->client || tls_pair_handshake(&k->p) != 0)
        goto failed;
    k->client->app_data_read = 1; /* no tickets to wait for */
    offload_progress(k->server, k->p.server, 0);
    offload_progress(k->client, k->p.client, 0);
    if (!moved(k))
        goto failed;
    if (played) {
        fake_records_on();
        fake_records_add(k->p.server_fd);
        fake_records_add(k->p.client_fd);
        fake_records_link(k->p.server_fd, k->p.client_fd);
        ERR_clear_error();
    }
    return 0;
failed:
    kio_pair_close(k);
    return -1;
}

void kio_pair_close(struct kio_pair *k)
{
    tls_pair_close(&k->p);
    if (k->played) {
        fake_records_off();
        fake_kernel_off();
        ERR_clear_error();
    }
}

int kio_pair_read(struct kio_pair *k, struct conn *c, SSL *s, uint8_t *buf, size_t n)
{
    for (size_t have = 0; have < n;) {
        size_t got = 0;
        if (kio_read(c, s, buf + have, n - have, &got, 0)) {
            have += got;
            continue;
        }
        if (c->err_override != SSL_ERROR_WANT_READ || k->played)
            return -1;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        poll(&p, 1, 2000);
    }
    return 0;
}

void kio_pair_push(struct kio_pair *k, uint8_t type, const char *bytes, size_t len)
{
    fake_records_push(k->p.client_fd, type, bytes, len);
}

int kio_pair_client_read(struct kio_pair *k, size_t cap, size_t *got)
{
    static uint8_t buf[256];
    *got = 0;
    return kio_read(k->client, k->p.client, buf, cap < sizeof(buf) ? cap : sizeof(buf), got, 0);
}

void check_goes_on(struct kio_pair *k, uint8_t type, const char *bytes, size_t len)
{
    kio_pair_push(k, type, bytes, len);
    kio_pair_push(k, TLS_RECORD_APPLICATION_DATA, "after", 5);
    uint8_t buf[5];
    CHECK_EQ_INT(kio_pair_read(k, k->client, k->p.client, buf, 5), 0);
    CHECK_MEM(buf, "after", 5);
    CHECK(!k->client->fatal);
    CHECK_NO_ERRORS();
}

void check_failed(const char *file, int line, struct kio_pair *k)
{
    if (k->client->err_override != SSL_ERROR_SSL || kio_failure_return(k->client) != -1
        || !k->client->fatal)
        unit_fail(file, line, "want SSL_ERROR_SSL, -1, failed for good: got %d, %d, fatal %d",
                  k->client->err_override, kio_failure_return(k->client), k->client->fatal);
}

void kio_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + seed);
}

void check_errors(const char *file, int line, const unsigned long *want, size_t n)
{
    unsigned long e;
    size_t i = 0;
    while ((e = ERR_get_error()) != 0) {
        const char *text = ERR_reason_error_string(e);
        if (i >= n)
            unit_fail(file, line, "error queue entry %zu: lib %d reason %d (%s), want no more", i,
                      ERR_GET_LIB(e), ERR_GET_REASON(e), text ? text : "?");
        else if (ERR_GET_LIB(e) != ERR_GET_LIB(want[i]) || ERR_GET_REASON(e) != ERR_GET_REASON(want[i]))
            unit_fail(file, line, "error queue entry %zu: lib %d reason %d (%s), want lib %d reason %d", i,
                      ERR_GET_LIB(e), ERR_GET_REASON(e), text ? text : "?", ERR_GET_LIB(want[i]),
                      ERR_GET_REASON(want[i]));
        i++;
    }
    if (i < n)
        unit_fail(file, line, "error queue: %zu entries, want %zu", i, n);
}

void check_alert_sent(const char *file, int line, int fd, int level, int desc)
{
    int alerts = 0;
    for (int i = 0; i < fake_records_sent_count(fd); i++)
        alerts += fake_records_sent(fd, i)->type == TLS_RECORD_ALERT;
    const struct fake_record *a = fake_records_last_sent(fd, TLS_RECORD_ALERT);
    if (level == 0) {
        if (alerts)
            unit_fail(file, line, "an alert was sent: [%u, %u]", a->bytes[0], a->len > 1 ? a->bytes[1] : 0);
        return;
    }
    if (alerts != 1 || a->len != 2 || a->bytes[0] != level || a->bytes[1] != desc)
        unit_fail(file, line, "alerts sent: %d, the last %s%u, %u], want one [%d, %d]", alerts,
                  a ? "[" : "none [", a && a->len > 0 ? a->bytes[0] : 0, a && a->len > 1 ? a->bytes[1] : 0,
                  level, desc);
}

void check_still_carries(const char *file, int line, struct kio_pair *k)
{
    uint8_t buf[5];
    size_t done = 0;
    if (kio_write(k->client, k->p.client, "after", 5, &done) != 1
        || kio_pair_read(k, k->server, k->p.server, buf, 5) != 0 || memcmp(buf, "after", 5) != 0)
        unit_fail(file, line, "the connection did not go on: 5 bytes written did not arrive intact");
}

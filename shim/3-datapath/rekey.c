#include "rekey.h"

#include <errno.h>
#include <string.h>

#include "kernel.h"
#include "keysched.h"
#include "log.h"
#include "planted.h"
#include "stats.h"

#define KEY_UPDATE_MSG_LEN 5 /* type, 24-bit length 1, request_update */
#define MAX_PLAINTEXT 16384

int rekey_supported(const struct conn *c)
{
    return c->version == TLS1_3_VERSION && c->md && kernel_rekey_available();
}

/* The next secret of direction d and the kernel's crypto_info for it, at
 * sequence 0. Nothing is changed in c. Returns the info's size, 0 on failure;
 * next (secret_len bytes) and info are scrubbed by the caller. */
static size_t next_keys(const struct conn *c, int d, uint8_t next[48], union ktls_crypto_info *info)
{
    const struct conn_dir *dir = &c->dir[d];
    struct ks_hash h = ossl_ks_hash(c->md);
    uint8_t key[32], iv[12];
    size_t len = 0;
    if (h.digest_len == dir->secret_len && h.digest_len <= 48
        && ks_tls13_next_secret(&h, dir->secret, next)
        && ks_tls13_traffic_keys(&h, next, h.digest_len, key, c->cipher->key_len, iv))
        len = crypto_info_pack(info, TLS1_3_VERSION, c->cipher->cipher, key, iv, 0);
    ks_scrub(key, sizeof(key));
    ks_scrub(iv, sizeof(iv));
    return len;
}

/* The direction now runs on next: the old secret is gone. */
static void adopt(struct conn *c, int d, const uint8_t next[48])
{
    struct conn_dir *dir = &c->dir[d];
    memcpy(dir->secret, next, dir->secret_len);
    dir->records = 0;
}

int rekey_rx(struct conn *c)
{
    uint8_t next[48];
    union ktls_crypto_info info;
    int err = EINVAL;
    if (PLANTED(ignore_key_update))
        return 0;
    size_t len = next_keys(c, CONN_RX, next, &info);
    if (len)
        err = kernel_install(c->fd, 0, &info, len);
    if (!err) {
        adopt(c, CONN_RX, next);
        stats_event(c->arm, STATS_REKEY_RX);
        LOG_DEBUG("fd=%d rx: the peer's KeyUpdate followed, kernel RX rekeyed", c->fd);
    } else {
        stats_event(c->arm, STATS_REKEY_FAILED);
        LOG_ERROR("fd=%d rx: the kernel refused the next key after the peer's KeyUpdate (%s)",
                  c->fd, strerror(err));
    }
    ks_scrub(next, sizeof(next));
    ks_scrub(&info, sizeof(info));
    return err;
}

static int flush_locked(struct conn *c);

int rekey_tx_flush(struct conn *c)
{
    conn_tx_lock(c);
    int r = flush_locked(c);
    int err = errno;
    conn_tx_unlock(c);
    errno = err;
    return r;
}

static int flush_locked(struct conn *c)
{
    if (c->tx_update_pending < 0 || !kernel_owns(c, CONN_TX))
        return 1;
    /* nothing may follow our close_notify: an owed KeyUpdate is dropped */
    if (c->ssl && (ossl()->SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
        c->tx_update_pending = -1;
        c->tx_update_sent = 0;
        return 1;
    }
    uint8_t next[48];
    union ktls_crypto_info info;
    /* The keys first: what could fail must fail before the peer is told. */
    size_t len = next_keys(c, CONN_TX, next, &info);
    if (!len) {
        ks_scrub(next, sizeof(next));
        errno = EINVAL;
        return -1;
    }
    const uint8_t msg[KEY_UPDATE_MSG_LEN] = {24, 0, 0, 1, (uint8_t)c->tx_update_pending};
    int rc = 1;
    while (c->tx_update_sent < sizeof(msg)) {
        /* A handshake record closes whatever data record the kernel holds
         * open, so everything before it goes out under the old key. */
        ssize_t n = kernel_send_record(c->fd, TLS_RECORD_HANDSHAKE, msg + c->tx_update_sent,
                                       sizeof(msg) - c->tx_update_sent);
        if (n > 0) {
            c->tx_update_sent += (size_t)n;
            continue;
        }
        rc = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        break;
    }
    if (rc == 1) {
        /* Point of no return: the KeyUpdate is out; the kernel must take the
         * key it announced, or nothing more may be sent. */
        int err = kernel_install(c->fd, 1, &info, len);
        if (err) {
            stats_event(c->arm, STATS_REKEY_FAILED);
            LOG_ERROR("fd=%d tx: KeyUpdate sent but the kernel refused the next key (%s); "
                      "connection failed", c->fd, strerror(err));
            errno = err;
            rc = -1;
        } else {
            adopt(c, CONN_TX, next);
            stats_event(c->arm, STATS_REKEY_TX);
            LOG_DEBUG("fd=%d tx: KeyUpdate (%s) sent, kernel TX rekeyed", c->fd,
                      c->tx_update_pending ? "update_requested" : "update_not_requested");
        }
        c->tx_update_pending = -1;
        c->tx_update_sent = 0;
    }
    ks_scrub(next, sizeof(next));
    ks_scrub(&info, sizeof(info));
    return rc;
}

unsigned long long rekey_record_limit(const struct conn *c)
{
    unsigned long long knob = config_get()->rekey_records;
    if (knob)
        return knob;
    if (!c->cipher)
        return 0;
    switch (c->cipher->cipher) {
    case KTLS_CIPHER_AES_128_GCM:
    case KTLS_CIPHER_AES_256_GCM:
    case KTLS_CIPHER_AES_128_CCM:
        /* RFC 8446 5.5: 2^24.5 full-size records under one AES-GCM key; the
         * count here is an upper bound, a rekey at 2^24 keeps well below */
        return 1ULL << 24;
    default:
        return 0; /* ChaCha20-Poly1305: no practical limit (RFC 8446 5.5) */
    }
}

void rekey_count_tx(struct conn *c, size_t bytes)
{
    if (c->version != TLS1_3_VERSION || !bytes)
        return;
    struct conn_dir *dir = &c->dir[CONN_TX];
    /* the kernel cuts at most ceil(bytes / 16384) records from one call */
    dir->records += (bytes + MAX_PLAINTEXT - 1) / MAX_PLAINTEXT;
    unsigned long long limit = rekey_record_limit(c);
    if (!limit || dir->records < limit || c->tx_update_pending >= 0)
        return;
    if (rekey_supported(c))
        c->tx_update_pending = 0; /* update_not_requested */
    else if (!c->rekey_limit_said) {
        c->rekey_limit_said = 1;
        LOG_ERROR("fd=%d tx: %llu records under one key (limit %llu) and this kernel cannot "
                  "rekey (before 6.14): carrying on as OpenSSL would", c->fd,
                  (unsigned long long)dir->records, limit);
    }
}

#include "offload.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fdmap.h"
#include "kernel.h"
#include "keysched.h"
#include "log.h"
#include "stats.h"

static const char *const dir_name[2] = {"rx", "tx"};

static int hmac_adapter(const void *md, const uint8_t *key, size_t key_len, const uint8_t *data,
                        size_t data_len, uint8_t *out)
{
    unsigned int out_len = 0;
    return ossl()->HMAC(md, key, (int)key_len, data, data_len, out, &out_len) != NULL;
}

static int settled(const struct conn_dir *dir)
{
    return dir->state == DIR_KERNEL || dir->state == DIR_FALLBACK;
}

/* Once per connection, when both directions have found their owner. */
static void count_outcome(struct conn *c)
{
    if (c->outcome_counted || !settled(&c->dir[CONN_TX]) || !settled(&c->dir[CONN_RX]))
        return;
    c->outcome_counted = 1;
    stats_outcome(c->arm, c->dir[CONN_TX].state == DIR_KERNEL, c->dir[CONN_RX].state == DIR_KERNEL);
}

static void fall_back(struct conn *c, int d, const char *reason, int err)
{
    struct conn_dir *dir = &c->dir[d];
    if (settled(dir))
        return;
    dir->state = DIR_FALLBACK;
    stats_direction(c->arm, d == CONN_TX, reason);
    count_outcome(c);
    dir->reason = reason;
    dir->reason_errno = err;
    ks_scrub(dir->key, sizeof(dir->key));
    ks_scrub(dir->iv, sizeof(dir->iv));
    if (err)
        LOG_INFO("fd=%d %s stays in OpenSSL: %s (%s)", c->fd, dir_name[d], reason, strerror(err));
    else
        LOG_INFO("fd=%d %s stays in OpenSSL: %s", c->fd, dir_name[d], reason);
}

static int socket_fd(SSL *s, const char **why)
{
    const struct ossl_table *o = ossl();
    BIO *rbio = o->SSL_get_rbio(s), *wbio = o->SSL_get_wbio(s);
    if (!rbio || rbio != wbio) {
        *why = "custom-bio (read and write BIOs differ)";
        return -1;
    }
    if (o->BIO_method_type(rbio) != BIO_TYPE_SOCKET || o->BIO_next(rbio)) {
        *why = "custom-bio (not a plain socket BIO)";
        return -1;
    }
    if (o->BIO_ctrl(wbio, BIO_CTRL_GET_KTLS_SEND, 0, NULL) > 0
        || o->BIO_ctrl(rbio, BIO_CTRL_GET_KTLS_RECV, 0, NULL) > 0) {
        *why = "openssl-ktls (OpenSSL already offloaded this socket)";
        return -1;
    }
    int fd = -1;
    if (o->BIO_ctrl(rbio, BIO_C_GET_FD, 0, &fd) <= 0 || fd < 0) {
        *why = "no-fd";
        return -1;
    }
    int domain = 0, type = 0, proto = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0
        || (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) != 0
        || (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len)) != 0
        || (domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM
        || proto != IPPROTO_TCP) {
        *why = "not-tcp (not an AF_INET/AF_INET6 TCP socket)";
        return -1;
    }
    if (kernel_has_ulp(fd)) {
        *why = "ulp-present (socket already has the tls ULP)";
        return -1;
    }
    return fd;
}

static const char *check_eligible(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    if (!kernel_tls_available())
        return "kernel-no-tls (setsockopt TCP_ULP \"tls\" gives ENOENT)";
    if (!c->attached_early)
        return "attached-mid-handshake (record counts unknown)";
    if (o->SSL_is_dtls(s))
        return "dtls";
    c->version = o->SSL_version(s);
    if (c->version != TLS1_2_VERSION && c->version != TLS1_3_VERSION)
        return "version (only TLS 1.2 and 1.3)";
    const SSL_CIPHER *cipher = o->SSL_get_current_cipher(s);
    if (!cipher)
        return "cipher (none)";
    c->cipher_name = o->SSL_CIPHER_get_name(cipher);
    int ccm8 = c->cipher_name && strstr(c->cipher_name, "CCM8") != NULL;
    c->cipher = ktls_cipher_from_nid(o->SSL_CIPHER_get_cipher_nid(cipher), ccm8);
    if (!c->cipher)
        return "cipher (the kernel has no such AEAD)";
    if (o->SSL_get_current_compression(s))
        return "compression";
    SSL_SESSION *sess = o->SSL_get_session(s);
    if (!sess)
        return "no-session";
    if (o->SSL_SESSION_get_max_fragment_length(sess) != 0)
        return "max-fragment-length (negotiated; the kernel sends 16 KiB records)";
    if (o->SSL_get_shutdown(s) != 0)
        return "shutdown (close_notify already in flight)";
    if (c->version == TLS1_3_VERSION && (!c->client_secret_len || !c->server_secret_len))
        return "secrets-missing (keylog gave no traffic secrets)";
    c->is_server = o->SSL_is_server(s);
    return NULL;
}

/* Traffic keys for both directions, written into c->dir[].key/iv. */
static int derive_keys(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    const EVP_MD *md = o->SSL_CIPHER_get_handshake_digest(o->SSL_get_current_cipher(s));
    if (!md)
        return 0;
    struct ks_hash h = {.md = md, .digest_len = (size_t)o->md_size(md), .hmac = hmac_adapter};
    size_t k = c->cipher->key_len;
    uint8_t *client_key = c->dir[c->is_server ? CONN_RX : CONN_TX].key;
    uint8_t *server_key = c->dir[c->is_server ? CONN_TX : CONN_RX].key;
    uint8_t *client_iv = c->dir[c->is_server ? CONN_RX : CONN_TX].iv;
    uint8_t *server_iv = c->dir[c->is_server ? CONN_TX : CONN_RX].iv;
    int ok;

    if (c->version == TLS1_3_VERSION) {
        ok = ks_hkdf_expand_label(&h, c->client_secret, c->client_secret_len, "key", NULL, 0,
                                  client_key, k)
             && ks_hkdf_expand_label(&h, c->client_secret, c->client_secret_len, "iv", NULL, 0,
                                     client_iv, 12)
             && ks_hkdf_expand_label(&h, c->server_secret, c->server_secret_len, "key", NULL, 0,
                                     server_key, k)
             && ks_hkdf_expand_label(&h, c->server_secret, c->server_secret_len, "iv", NULL, 0,
                                     server_iv, 12);
    } else {
        uint8_t master[SSL_MAX_MASTER_KEY_LENGTH], seed[2 * SSL3_RANDOM_SIZE];
        uint8_t block[2 * 32 + 2 * 12];
        size_t f = c->cipher->tls12_fixed_iv;
        size_t mlen = o->SSL_SESSION_get_master_key(o->SSL_get_session(s), master, sizeof(master));
        ok = mlen > 0
             && o->SSL_get_server_random(s, seed, SSL3_RANDOM_SIZE) == SSL3_RANDOM_SIZE
             && o->SSL_get_client_random(s, seed + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE)
                    == SSL3_RANDOM_SIZE
             && ks_tls12_prf(&h, master, mlen, "key expansion", seed, sizeof(seed), block,
                             2 * k + 2 * f);
        if (ok) {
            /* RFC 5246 6.3: client key, server key, client IV, server IV */
            memcpy(client_key, block, k);
            memcpy(server_key, block + k, k);
            memcpy(client_iv, block + 2 * k, f);
            memcpy(server_iv, block + 2 * k + f, f);
        }
        ks_scrub(master, sizeof(master));
        ks_scrub(block, sizeof(block));
    }
    ks_scrub(c->client_secret, sizeof(c->client_secret));
    ks_scrub(c->server_secret, sizeof(c->server_secret));
    c->client_secret_len = c->server_secret_len = 0;
    return ok;
}

/* Every connection whose handshake finished is counted once, in its arm. */
static void begin(struct conn *c)
{
    c->decided = 1;
    c->arm = stats_pick_arm();
    stats_connection(c->arm);
}

static void decide(struct conn *c, SSL *s)
{
    begin(c);
    /* Known before anything else, so sendfile() on this socket is never let
     * through in clear, whatever the kernel can do. */
    const char *why = NULL;
    c->fd = socket_fd(s, &why);
    if (c->fd >= 0)
        fdmap_register(c->fd, c);
    if (!why && c->arm == STATS_ARM_CONTROL)
        why = "ab-control (KTLS_SHIM_SAMPLE put this connection in the control arm)";
    if (!why)
        why = check_eligible(c, s);
    if (!why && !derive_keys(c, s))
        why = "key-derivation failed";
    if (why) {
        fall_back(c, CONN_TX, why, 0);
        fall_back(c, CONN_RX, why, 0);
        conn_scrub(c);
        return;
    }
    int wanted = config_get()->dirs;
    for (int d = 0; d < 2; d++) {
        if (wanted & (d == CONN_TX ? SHIM_DIR_TX : SHIM_DIR_RX))
            c->dir[d].state = DIR_PENDING;
        else
            fall_back(c, d, "mode (KTLS_SHIM_MODE leaves this direction to OpenSSL)", 0);
    }
    LOG_DEBUG("fd=%d %s %s %s: eligible", c->fd, c->version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2",
              c->cipher_name, c->is_server ? "server" : "client");
}

/* A direction may move only on a record boundary with nothing of it buffered
 * inside OpenSSL. */
static int ready(struct conn *c, SSL *s, int d)
{
    const struct ossl_table *o = ossl();
    if (d == CONN_TX)
        return !c->tx_write_pending && o->SSL_want(s) != SSL_WRITING;
    if (o->SSL_has_pending(s) || strcmp(o->SSL_rstate_string(s), "RH") != 0)
        return 0;
    /* TLS 1.3 servers send NewSessionTickets right after the handshake; a client
     * lets OpenSSL read until the first application data so the tickets (and
     * session resumption) reach it. */
    if (c->version == TLS1_3_VERSION && !c->is_server && !c->app_data_read)
        return 0;
    return 1;
}

static void install(struct conn *c, int d)
{
    struct conn_dir *dir = &c->dir[d];
    if (!c->ulp_attached) {
        int err = kernel_attach_ulp(c->fd);
        if (err) {
            fall_back(c, CONN_TX, "setsockopt TCP_ULP failed", err);
            fall_back(c, CONN_RX, "setsockopt TCP_ULP failed", err);
            return;
        }
        c->ulp_attached = 1;
    }
    int tls13 = c->version == TLS1_3_VERSION;
    if (dir->saw_key_update) {
        fall_back(c, d, "key-update (keys changed before the move)", 0);
        return;
    }
    if (!(tls13 ? dir->saw_finished : dir->saw_ccs)) {
        fall_back(c, d, "no-epoch (never saw the key change)", 0);
        return;
    }
    uint64_t seq = tls13 ? dir->records_since_finished : dir->records_since_ccs;
    union ktls_crypto_info info;
    size_t len = ktls_crypto_info_pack(&info, c->version, c->cipher->cipher, dir->key, dir->iv, seq);
    ks_scrub(dir->key, sizeof(dir->key));
    ks_scrub(dir->iv, sizeof(dir->iv));
    if (!len) {
        fall_back(c, d, "crypto-info", 0);
        return;
    }
    /* Point of no return for this direction once this succeeds. */
    int err = kernel_install(c->fd, d == CONN_TX, &info, len);
    ks_scrub(&info, sizeof(info));
    if (err) {
        fall_back(c, d, d == CONN_TX ? "setsockopt TLS_TX failed" : "setsockopt TLS_RX failed", err);
        return;
    }
    dir->state = DIR_KERNEL;
    dir->seq_at_install = seq;
    stats_direction(c->arm, d == CONN_TX, NULL);
    count_outcome(c);
    LOG_INFO("fd=%d %s %s %s %s: kernel (seq %llu)", c->fd, tls13 ? "TLSv1.3" : "TLSv1.2",
             c->cipher_name, c->is_server ? "server" : "client", dir_name[d],
             (unsigned long long)seq);
}

void offload_progress(struct conn *c, SSL *s, int was_finished)
{
    if (!c->decided) {
        if (!ossl()->SSL_is_init_finished(s))
            return;
        if (was_finished) {
            begin(c);
            fall_back(c, CONN_TX, "unseen-handshake (finished outside the shim's view, e.g. BIO_f_ssl)", 0);
            fall_back(c, CONN_RX, "unseen-handshake (finished outside the shim's view, e.g. BIO_f_ssl)", 0);
            conn_scrub(c);
            c->passthrough = 1;
            return;
        }
        decide(c, s);
        stats_tick();
    }
    if (c->fatal || c->passthrough)
        return;
    if (ossl()->SSL_get_shutdown(s) != 0) {
        fall_back(c, CONN_TX, "shutdown (close_notify before the move)", 0);
        fall_back(c, CONN_RX, "shutdown (close_notify before the move)", 0);
        c->passthrough = c->dir[CONN_TX].state == DIR_FALLBACK && c->dir[CONN_RX].state == DIR_FALLBACK;
        return;
    }
    for (int d = CONN_TX; d >= CONN_RX; d--)
        if (c->dir[d].state == DIR_PENDING && ready(c, s, d))
            install(c, d);
    c->passthrough = c->dir[CONN_TX].state == DIR_FALLBACK && c->dir[CONN_RX].state == DIR_FALLBACK;
}

void offload_conn_end(struct conn *c)
{
    if (!c->decided)
        return;
    for (int d = CONN_TX; d >= CONN_RX; d--)
        fall_back(c, d, "ended-before-move (the connection ended first)", 0);
    stats_tick();
}

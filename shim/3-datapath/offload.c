#include "offload.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fdmap.h"
#include "kernel.h"
#include "keysched.h"
#include "log.h"
#include "planted.h"
#include "record_stream.h"
#include "sockwatch.h"
#include "stats.h"
#include "stats_process.h"
#include "stats_publish.h"

static const char *const dir_name[2] = {"rx", "tx"};

static void fall_back_both(struct conn *c, enum fallback_reason why, int err)
{
    conn_fall_back(c, CONN_TX, why, err);
    conn_fall_back(c, CONN_RX, why, err);
}

/* The program gave OpenSSL its own BIO (Apache, HAProxy, curl, PostgreSQL):
 * the socket is the one sockwatch saw this connection's SSL calls use. That
 * the BIO passes bytes through unchanged and unbuffered is proved for each
 * direction before it moves (custom_bio_ready). */
static int is_memory(BIO *b)
{
    /* by OpenSSL's own method names: the type is what a program says (curl
     * 7.88 gives its socket-filter BIO the memory BIO's type) */
    const char *name = ossl()->BIO_method_name(b);
    return name && (!strcmp(name, "memory buffer") || !strcmp(name, "BIO pair"));
}

static int custom_socket(struct conn *c, BIO *rbio, BIO *wbio, enum fallback_reason *why)
{
    uint64_t written, read;
    if (!c->observed && !kernel_tls_available()) /* every connection's reason here */
        *why = FB_KERNEL_NO_TLS;
    else if (!c->observed) /* attached before the shim could watch its I/O */
        *why = rbio != wbio ? FB_CUSTOM_BIO_SPLIT : FB_CUSTOM_BIO_NOT_SOCKET;
    else if (is_memory(rbio) || is_memory(wbio)) /* the program moves the bytes, when it likes */
        *why = FB_CUSTOM_BIO_MEMORY;
    else if (c->watch.several)
        *why = FB_CUSTOM_BIO_SEVERAL_SOCKETS;
    else if (c->watch.fd < 0)
        *why = FB_CUSTOM_BIO_NO_SOCKET;
    else if (!sockwatch_counts(&c->watch, &written, &read))
        *why = FB_SOCKET_CHANGED;
    else if (c->watch.rbio0 != rbio || c->watch.wbio0 != wbio)
        *why = FB_CUSTOM_BIO_CHANGED;
    else
        return c->watch.fd;
    return -1;
}

/* *openssl_owns: the directions OpenSSL's own kTLS already moved
 * (SHIM_DIR_TX/RX); the socket is still returned when only one has. */
static int socket_fd(struct conn *c, SSL *s, enum fallback_reason *why, int *openssl_owns)
{
    const struct ossl_table *o = ossl();
    BIO *rbio = o->SSL_get_rbio(s), *wbio = o->SSL_get_wbio(s);
    int fd = -1;
    if (!rbio || !wbio) {
        *why = FB_NO_FD;
        return -1;
    }
    if (rbio != wbio || o->BIO_method_type(rbio) != BIO_TYPE_SOCKET || o->BIO_next(rbio)) {
        fd = custom_socket(c, rbio, wbio, why);
        if (fd < 0)
            return -1;
        c->custom_bio = 1;
    } else {
        *openssl_owns = (o->BIO_ctrl(wbio, BIO_CTRL_GET_KTLS_SEND, 0, NULL) > 0 ? SHIM_DIR_TX : 0)
                        | (o->BIO_ctrl(rbio, BIO_CTRL_GET_KTLS_RECV, 0, NULL) > 0 ? SHIM_DIR_RX : 0);
        if (*openssl_owns == (SHIM_DIR_TX | SHIM_DIR_RX)) {
            *why = FB_OPENSSL_KTLS;
            return -1;
        }
        if (o->BIO_ctrl(rbio, BIO_C_GET_FD, 0, &fd) <= 0 || fd < 0) {
            *why = FB_NO_FD;
            return -1;
        }
    }
    int domain = 0, type = 0, proto = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0
        || (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) != 0
        || (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len)) != 0
        || (domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM
        || proto != IPPROTO_TCP) {
        *why = FB_NOT_TCP;
        return -1;
    }
    /* the ULP is OpenSSL's when it moved one direction; anyone else's is not ours to share */
    if (!*openssl_owns && kernel_has_ulp(fd)) {
        *why = FB_ULP_PRESENT;
        return -1;
    }
    c->bio = wbio;
    c->rbio = rbio;
    return fd;
}

static enum fallback_reason check_eligible(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    if (!kernel_tls_available())
        return FB_KERNEL_NO_TLS;
    if (!c->attached_early)
        return FB_ATTACHED_MID_HANDSHAKE;
    if (o->SSL_is_dtls(s))
        return FB_DTLS;
    c->version = o->SSL_version(s);
    if (c->version != TLS1_2_VERSION && c->version != TLS1_3_VERSION)
        return FB_VERSION;
    const SSL_CIPHER *cipher = o->SSL_get_current_cipher(s);
    if (!cipher)
        return FB_CIPHER_NONE;
    c->cipher_name = o->SSL_CIPHER_get_name(cipher);
    c->cipher = crypto_info_cipher_for_suite(o->SSL_CIPHER_get_cipher_nid(cipher),
                                      o->SSL_CIPHER_get_protocol_id(cipher));
    if (!c->cipher)
        return FB_CIPHER_UNSUPPORTED;
    if (o->SSL_get_current_compression(s))
        return FB_COMPRESSION;
    SSL_SESSION *sess = o->SSL_get_session(s);
    if (!sess)
        return FB_NO_SESSION;
    if (o->SSL_SESSION_get_max_fragment_length(sess) != 0)
        return FB_MAX_FRAGMENT_LENGTH;
    if (o->SSL_get_shutdown(s) != 0)
        return FB_SHUTDOWN_IN_FLIGHT;
    if (c->version == TLS1_3_VERSION && (!c->client_secret_len || !c->server_secret_len))
        return FB_SECRETS_MISSING;
    c->is_server = o->SSL_is_server(s);
    return FB_NONE;
}

/* Traffic keys for both directions, written into c->dir[].key/iv. */
static int derive_keys(struct conn *c, SSL *s)
{
    const struct ossl_table *o = ossl();
    const EVP_MD *md = o->SSL_CIPHER_get_handshake_digest(o->SSL_get_current_cipher(s));
    if (!md)
        return 0;
    struct ks_hash h = ossl_ks_hash(md);
    size_t k = c->cipher->key_len;
    uint8_t *client_key = c->dir[c->is_server ? CONN_RX : CONN_TX].key;
    uint8_t *server_key = c->dir[c->is_server ? CONN_TX : CONN_RX].key;
    uint8_t *client_iv = c->dir[c->is_server ? CONN_RX : CONN_TX].iv;
    uint8_t *server_iv = c->dir[c->is_server ? CONN_TX : CONN_RX].iv;
    int ok;

    if (c->version == TLS1_3_VERSION) {
        ok = c->client_secret_len == h.digest_len && c->server_secret_len == h.digest_len
             && ks_tls13_traffic_keys(&h, c->client_secret, c->client_secret_len, client_key, k,
                                      client_iv)
             && ks_tls13_traffic_keys(&h, c->server_secret, c->server_secret_len, server_key, k,
                                      server_iv);
        /* each direction keeps its secret while it waits and once the kernel
         * has it: a KeyUpdate derives the next keys from it (rekey.c) */
        if (ok) {
            struct conn_dir *cd = &c->dir[c->is_server ? CONN_RX : CONN_TX];
            struct conn_dir *sd = &c->dir[c->is_server ? CONN_TX : CONN_RX];
            memcpy(cd->secret, c->client_secret, h.digest_len);
            memcpy(sd->secret, c->server_secret, h.digest_len);
            cd->secret_len = sd->secret_len = h.digest_len;
            c->md = md;
        }
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
    enum fallback_reason why = FB_NONE;
    int openssl_owns = 0;
    c->fd = socket_fd(c, s, &why, &openssl_owns);
    /* pinned: a descriptor number can be closed and reused; the socket it
     * names now is what the kernel's keys will belong to */
    if (c->fd >= 0 && (kernel_sock_id(c->fd, &c->sock) != 0 || !fdmap_register(c->fd, c))) {
        c->fd = -1;
        why = FB_NO_FD;
    }
    if (!why && c->arm == STATS_ARM_CONTROL)
        why = FB_AB_CONTROL;
    if (!why)
        why = check_eligible(c, s);
    if (!why && !derive_keys(c, s))
        why = FB_KEY_DERIVATION;
    int wanted = config_get()->dirs;
    if (why) {
        /* a direction KTLS_SHIM_MODE leaves to OpenSSL stays there for that */
        conn_fall_back(c, CONN_TX, wanted & SHIM_DIR_TX ? why : FB_MODE, 0);
        conn_fall_back(c, CONN_RX, wanted & SHIM_DIR_RX ? why : FB_MODE, 0);
        conn_scrub(c);
        return;
    }
    for (int d = 0; d < 2; d++) {
        int flag = d == CONN_TX ? SHIM_DIR_TX : SHIM_DIR_RX;
        c->dir[d].ccs_at_decide = c->dir[d].seq.ccs_count;
        if (openssl_owns & flag)
            conn_fall_back(c, d, FB_OPENSSL_KTLS, 0);
        else if (wanted & flag)
            c->dir[d].state = DIR_PENDING;
        else
            conn_fall_back(c, d, FB_MODE, 0);
    }
    /* OpenSSL 3.0 moves TLS 1.3 TX only (lighttpd turns it on): the shim
     * completes RX, on the ULP OpenSSL attached, with its own record count */
    if (openssl_owns)
        c->ulp_attached = 1;
    /* OpenSSL's own kTLS refuses TX then too: the kernel neither pads nor
     * sends records smaller than 16 KiB */
    if (c->shape.pad_callback || c->shape.pad_block)
        conn_fall_back(c, CONN_TX, FB_RECORD_PADDING, 0);
    else if (c->shape.max_send_fragment && c->shape.max_send_fragment != SSL3_RT_MAX_PLAIN_LENGTH)
        conn_fall_back(c, CONN_TX, FB_MAX_SEND_FRAGMENT, 0);
    /* TLS 1.3 post-handshake authentication: a certificate request may come
     * at any time (Apache's per-directory client certificates), and only
     * OpenSSL can answer one (client) or read the answer (server); a client
     * shows it in its ClientHello (curl always offers it), a server in its
     * verify mode. */
    if (c->version == TLS1_3_VERSION && !config_get()->pha_move
        && (c->is_server ? (ossl()->SSL_get_verify_mode(s) & SSL_VERIFY_POST_HANDSHAKE) != 0
                         : c->pha_offered))
        fall_back_both(c, FB_POST_HANDSHAKE_AUTH, 0);
    /* services whose peers rekey, on a kernel that cannot: OpenSSL keeps RX */
    if (c->version == TLS1_3_VERSION && config_get()->no_rekey_rx_openssl
        && !kernel_rekey_available())
        conn_fall_back(c, CONN_RX, FB_KEYUPDATE_UNSUPPORTED_KERNEL, 0);
    LOG_DEBUG("fd=%d %s %s %s: eligible", c->fd, c->version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2",
              c->cipher_name, c->is_server ? "server" : "client");
}

/* As many bytes on the socket as through the BIO, and the same bytes: a
 * layer that keeps lengths (XOR, a stream cipher) passes the counts, and the
 * kernel would then send, or expect, records without it. The socket's stream
 * that way must be records from its first byte, opening with the hello that
 * carries this handshake's random. Where the socket was bound after the BIO
 * had moved bytes that way, the stream's start was not seen: counts only. */
static int wire_unchanged(struct conn *c, SSL *s, int d)
{
    int sent = d == CONN_TX;
    if ((sent ? c->watch.wbio_written0 : c->watch.rbio_read0) != 0) {
        LOG_DEBUG("fd=%d %s: the socket was found after the handshake began: bytes counted, content not proved",
                  c->fd, dir_name[d]);
        return 1;
    }
    /* the hello this end wrote, or the peer's */
    int client_hello = sent != c->is_server;
    uint8_t random[32];
    if ((client_hello ? ossl()->SSL_get_client_random(s, random, sizeof(random))
                      : ossl()->SSL_get_server_random(s, random, sizeof(random)))
        != sizeof(random)) {
        conn_fall_back(c, d, FB_CUSTOM_BIO_TRANSFORMS, 0);
        return 0;
    }
    switch (sockwatch_wire_proof(&c->watch, sent, client_hello ? 1 : 2, random)) {
    case RECORD_STREAM_PROVED:
        return 1;
    case RECORD_STREAM_TOO_EARLY:
        return 0;
    default:
        LOG_DEBUG("fd=%d %s: the socket did not carry OpenSSL's records unchanged", c->fd, dir_name[d]);
        conn_fall_back(c, d, FB_CUSTOM_BIO_TRANSFORMS, 0);
        return 0;
    }
}

/* The program's own BIO must be a transparent pipe for direction d right
 * now: TX, every byte OpenSSL wrote into it has reached the socket and the
 * socket carried nothing else (bytes still in the program's layer: wait);
 * RX, every byte the program read from the socket has gone into OpenSSL
 * (the program read ahead: wait for a moment when it has not) and nothing
 * reached OpenSSL from elsewhere. Counts are since the socket was bound. */
static int custom_bio_ready(struct conn *c, SSL *s, int d)
{
    const struct ossl_table *o = ossl();
    uint64_t sock_written, sock_read;
    if (o->SSL_get_rbio(s) != c->rbio || o->SSL_get_wbio(s) != c->bio) {
        conn_fall_back(c, d, FB_CUSTOM_BIO_CHANGED, 0);
        return 0;
    }
    if (!sockwatch_counts(&c->watch, &sock_written, &sock_read) || c->watch.several) {
        conn_fall_back(c, d, c->watch.several ? FB_CUSTOM_BIO_SEVERAL_SOCKETS : FB_SOCKET_CHANGED, 0);
        return 0;
    }
    /* RX on a non-blocking socket: once the kernel has it, an empty socket
     * must reach the program as it did before, through its own layer (see
     * sockwatch_layer_wait_readable): a layer seen handing EAGAIN to OpenSSL
     * notes it and takes WANT_READ; one seen waiting for the socket itself
     * (APR) waits with its own timeout. Until the layer was seen either way,
     * RX waits. A blocking socket needs neither. The fcntl is asked until
     * it says non-blocking once, not on every call while RX waits. */
    if (d == CONN_RX && !c->watch.layer_waits && !c->watch.layer_returns
        && (c->watch.nonblocking_seen || (c->watch.nonblocking_seen = kernel_nonblocking(c->fd))))
        return 0;
    uint64_t through_bio = d == CONN_TX ? o->BIO_number_written(c->bio) - c->watch.wbio_written0
                                        : o->BIO_number_read(c->rbio) - c->watch.rbio_read0;
    uint64_t on_socket = d == CONN_TX ? sock_written : sock_read;
    if (on_socket == through_bio)
        return wire_unchanged(c, s, d);
    if (d == CONN_TX ? on_socket > through_bio : on_socket < through_bio) {
        LOG_DEBUG("fd=%d %s: the BIO carried %llu bytes, the socket %llu", c->fd, dir_name[d],
                  (unsigned long long)through_bio, (unsigned long long)on_socket);
        conn_fall_back(c, d, FB_CUSTOM_BIO_UNACCOUNTED, 0);
    }
    return 0;
}

/* A direction may move only on a record boundary with nothing of it buffered
 * inside OpenSSL, and never while a handshake (a renegotiation) is under way. */
static int ready(struct conn *c, SSL *s, int d)
{
    const struct ossl_table *o = ossl();
    if (!o->SSL_is_init_finished(s))
        return 0;
    if (d == CONN_TX)
        return !c->tx_write_pending && o->SSL_want(s) != SSL_WRITING
               && (!c->custom_bio || custom_bio_ready(c, s, d));
    if (o->SSL_has_pending(s) || strcmp(o->SSL_rstate_string(s), "RH") != 0)
        return 0;
    /* TLS 1.3 servers send NewSessionTickets right after the handshake; a client
     * lets OpenSSL read until the first application data so the tickets (and
     * session resumption) reach it. */
    if (c->version == TLS1_3_VERSION && !c->is_server && !c->app_data_read)
        return 0;
    return !c->custom_bio || custom_bio_ready(c, s, d);
}

static void install(struct conn *c, int d)
{
    struct conn_dir *dir = &c->dir[d];
    if (!conn_socket_intact(c, 1)) {
        fall_back_both(c, FB_SOCKET_CHANGED, 0);
        return;
    }
    if (!c->ulp_attached) {
        int err = kernel_attach_ulp(c->fd);
        if (err) {
            fall_back_both(c, FB_ULP_FAILED, err);
            return;
        }
        c->ulp_attached = 1;
    }
    int tls13 = c->version == TLS1_3_VERSION;
    if (dir->seq.saw_key_update) {
        conn_fall_back(c, d, FB_KEY_UPDATE, 0);
        return;
    }
    if (!tls13 && dir->seq.ccs_count != dir->ccs_at_decide) {
        conn_fall_back(c, d, FB_RENEGOTIATION, 0);
        return;
    }
    if (!(tls13 ? dir->seq.saw_finished : dir->seq.saw_ccs)) {
        conn_fall_back(c, d, FB_NO_EPOCH, 0);
        return;
    }
    /* The TX sequence number is only as good as the record count behind it:
     * the records OpenSSL reported writing must add up to exactly the bytes
     * its socket BIO carried, or one went unseen and its nonce would be used
     * again. RX is not held to it: with read-ahead (nginx sets it) the read
     * count includes records not yet reported, so no base is exact there,
     * and an RX count that is off fails the first kernel read (EBADMSG),
     * never reuses a nonce; RX installs only at a record boundary. */
    const struct ossl_table *o = ossl();
    uint64_t carried = d == CONN_TX ? o->BIO_number_written(c->bio) : 0;
    /* a BIO given after the last record was written (SSL_set_fd before the
     * last, read-only, handshake step) carried none of them, and can have
     * carried nothing: a write through it would have been seen (observe.c
     * on_msg). It may sit at the address of the BIO the records went
     * through (malloc reuses it): a count of 0 where records were counted
     * is a new BIO whatever its address. */
    if (d == CONN_TX && dir->bio_base_set && carried == 0) {
        dir->bio_base = carried - dir->seq.bytes;
        dir->based_bio = c->bio;
    }
    if (d == CONN_TX
        && (!dir->bio_base_set || dir->bio_unmarked || dir->bio_base + dir->seq.bytes != carried)) {
        LOG_DEBUG("fd=%d %s: records add up to %llu bytes, the socket BIO carried %llu", c->fd,
                  dir_name[d], (unsigned long long)(dir->bio_base + dir->seq.bytes),
                  (unsigned long long)carried);
        conn_fall_back(c, d, FB_RECORD_ACCOUNTING, 0);
        return;
    }
    uint64_t seq = tls13 ? dir->seq.since_finished : dir->seq.since_ccs;
    if (PLANTED(skip_seq) && d == CONN_TX)
        seq++;
    union ktls_crypto_info info;
    size_t len = crypto_info_pack(&info, c->version, c->cipher->cipher, dir->key, dir->iv, seq);
    ks_scrub(dir->key, sizeof(dir->key));
    ks_scrub(dir->iv, sizeof(dir->iv));
    if (!len) {
        conn_fall_back(c, d, FB_CRYPTO_INFO, 0);
        return;
    }
    /* Point of no return for this direction once this succeeds: every
     * fallible step is above. After it only steps that cannot fail run
     * (s2n-tls's rule): the direction is marked the kernel's and logged. */
    int err = kernel_install(c->fd, d == CONN_TX, &info, len);
    ks_scrub(&info, sizeof(info));
    if (err) {
        conn_fall_back(c, d, d == CONN_TX ? FB_TLS_TX_FAILED : FB_TLS_RX_FAILED, err);
        return;
    }
    conn_mark_kernel(c, d, seq);
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
            fall_back_both(c, FB_UNSEEN_HANDSHAKE, 0);
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
        fall_back_both(c, FB_SHUTDOWN_BEFORE_MOVE, 0);
        c->passthrough = c->dir[CONN_TX].state == DIR_FALLBACK && c->dir[CONN_RX].state == DIR_FALLBACK;
        return;
    }
    for (int d = CONN_TX; d >= CONN_RX; d--)
        if (c->dir[d].state == DIR_PENDING && ready(c, s, d))
            install(c, d);
    c->passthrough = c->dir[CONN_TX].state == DIR_FALLBACK && c->dir[CONN_RX].state == DIR_FALLBACK;
}

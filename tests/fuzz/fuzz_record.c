/* libFuzzer target: the kernel-side read path (kio.c) that turns what a
 * kTLS socket returns - application data, alerts, post-handshake handshake
 * messages, split across reads at any point, and errors - into SSL_read,
 * SSL_peek and SSL_shutdown results. The kernel is played from the input:
 *
 *   byte 0: flags (bit0 TLS 1.3, bit1 server, bit2 peek, bit3 shutdown at end,
 *           bit4 the kernel can rekey: KeyUpdates are followed, not fatal)
 *   byte 1: read buffer size - 1
 *   then chunks: [kind][len][len bytes]; kind < 0xf0 is a record type whose
 *   bytes a recvmsg returns (at most what was asked; the rest stays for the
 *   next call, as the kernel does), 0xf0.. an errno, 0xff end of stream.
 *
 * Checks, beyond ASan/UBSan: bytes handed over as data are exactly the
 * application-data bytes played, in order (never alert or handshake bytes);
 * every failure leaves a defined SSL_get_error answer; once the connection
 * failed for good nothing more is delivered; every alert the shim sends is
 * one 2-byte record: one fatal one at most and nothing after it, one
 * close_notify at most, a warning no_renegotiation only in answer to a
 * handshake message (a HelloRequest or ClientHello); every KeyUpdate the shim sends is one whole 5-byte
 * message with request_update 0; RX is rekeyed once per KeyUpdate followed;
 * SO_RCVLOWAT, which the shim raises while a record is incomplete, is the
 * program's again at every read; the loop always ends. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "fdmap.h"
#include "kernel.h"
#include "kio.h"
#include "record_stream.h"

static const uint8_t *in;
static size_t in_left;
static uint8_t cur_type;
static const uint8_t *cur;
static size_t cur_left;
static uint8_t app_stream[1 << 16];
static size_t app_played, app_delivered;
static int sent_fatal, sent_close_notify, sent_no_renegotiation, handshake_bytes_played;
static int sent_key_updates, rx_installs, tx_installs;
static int can_rekey;
static int rcvlowat = 1; /* the program's value is 1 */

static const int errnos[] = {EAGAIN, EINTR, EBADMSG, EMSGSIZE, EINVAL, EKEYEXPIRED, EIO, ECONNRESET,
                             ENOMSG};

static int empty_record; /* the chunk is a control record of no bytes */

static int next_chunk(void)
{
    if (empty_record)
        return 0;
    while (!cur_left) {
        if (in_left < 2)
            return -2; /* end of stream */
        uint8_t kind = in[0], len = in[1];
        in += 2;
        in_left -= 2;
        if (kind == 0xff)
            return -2;
        if (kind >= 0xf0) {
            errno = errnos[(kind - 0xf0) % (sizeof(errnos) / sizeof(*errnos))];
            return -1;
        }
        if (len > in_left)
            len = (uint8_t)in_left;
        cur_type = kind;
        if (len == 0 && kind != TLS_RECORD_APPLICATION_DATA) {
            empty_record = 1; /* the kernel skips empty data records itself */
            return 0;
        }
        if (kind == TLS_RECORD_HANDSHAKE)
            handshake_bytes_played += len;
        cur = in;
        cur_left = len;
        in += len;
        in_left -= len;
        if (kind == TLS_RECORD_APPLICATION_DATA)
            for (size_t i = 0; i < len && app_played < sizeof(app_stream); i++)
                app_stream[app_played++] = cur[i];
    }
    return 0;
}

int kernel_unread_bytes(int fd)
{
    (void)fd;
    size_t n = cur_left + in_left;
    return n > 65535 ? 65535 : (int)n;
}

int kernel_rcvlowat(int fd)
{
    (void)fd;
    return rcvlowat;
}

int kernel_set_rcvlowat(int fd, int bytes)
{
    (void)fd;
    rcvlowat = bytes;
    return 0;
}

ssize_t kernel_recv(int fd, void *buf, size_t len, int flags, uint8_t *type, int *record_end)
{
    (void)fd;
    if (rcvlowat != 1)
        abort(); /* read with SO_RCVLOWAT still raised */
    *type = 0;
    *record_end = 0;
    int r = next_chunk();
    if (r == -1)
        return -1;
    if (r == -2)
        return 0; /* the end of the stream: no type */
    if (empty_record) {
        *type = cur_type;
        *record_end = 1;
        empty_record = (flags & MSG_PEEK) != 0;
        return 0;
    }
    size_t n = len < cur_left ? len : cur_left;
    memcpy(buf, cur, n);
    *type = cur_type;
    *record_end = n == cur_left;
    if (!(flags & MSG_PEEK)) {
        cur += n;
        cur_left -= n;
    }
    return (ssize_t)n;
}

ssize_t kernel_send_record(int fd, uint8_t type, const void *buf, size_t len)
{
    (void)fd;
    const uint8_t *b = buf;
    if (type == TLS_RECORD_HANDSHAKE) {
        /* our answer to update_requested: update_not_requested, whole */
        if (!can_rekey || len != 5 || b[0] != 24 || b[3] != 1 || b[4] != 0)
            abort();
        sent_key_updates++;
        return (ssize_t)len;
    }
    if (type != TLS_RECORD_ALERT || len != 2 || sent_fatal)
        abort(); /* only whole alerts, and nothing after a fatal one */
    if (b[0] == 2)
        sent_fatal++;
    else if (b[0] == 1 && b[1] == 0)
        sent_close_notify++;
    else if (b[0] == 1 && b[1] == 100)
        sent_no_renegotiation++; /* a refused HelloRequest or ClientHello */
    else
        abort();
    return (ssize_t)len;
}

/* kio_write's data: the fuzzed calls only read */
ssize_t kernel_send(int fd, const void *buf, size_t len)
{
    (void)fd, (void)buf, (void)len;
    abort();
}

int kernel_rekey_available(void)
{
    return can_rekey;
}

int kernel_install(int fd, int tx, const union ktls_crypto_info *info, size_t len)
{
    (void)fd;
    if (!can_rekey || !len || info->base.version != TLS_1_3_VERSION)
        abort();
    /* a new key starts at sequence 0 */
    static const uint8_t zero[8];
    if (memcmp(info->aes_gcm_128.rec_seq, zero, 8) != 0)
        abort();
    if (tx)
        tx_installs++;
    else
        rx_installs++;
    return 0;
}

ssize_t kernel_send_alert(int fd, const uint8_t alert[2])
{
    return kernel_send_record(fd, TLS_RECORD_ALERT, alert, 2);
}

static SSL_CTX *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ctx = SSL_CTX_new(TLS_method());
    return 0;
}

/* The same input as the bytes a socket carried (record_stream.c, the wire
 * proof of a program's own BIO): taken whole, or split at the first byte's
 * offset, or a byte at a time, it ends in the same state and proof, and
 * the kept prefix never outgrows its buffer (ASan). */
static void wire_stream_agrees(const uint8_t *data, size_t size)
{
    struct record_stream whole = {0}, split = {0}, bytes = {0};
    record_stream_feed(&whole, data, size);
    size_t cut = size ? data[0] % (size + 1) : 0;
    record_stream_feed(&split, data, cut);
    record_stream_feed(&split, data + cut, size - cut);
    for (size_t i = 0; i < size; i++)
        record_stream_feed(&bytes, data + i, 1);
    static const uint8_t random[32];
    for (uint8_t type = 1; type <= 2; type++) {
        enum record_stream_proof p = record_stream_proof(&whole, type, random);
        if (p != record_stream_proof(&split, type, random) || p != record_stream_proof(&bytes, type, random))
            abort();
    }
    if (memcmp(&whole, &split, sizeof(whole)) != 0 || memcmp(&whole, &bytes, sizeof(whole)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_stream_agrees(data, size);
    if (size < 2)
        return 0;
    SSL *s = SSL_new(ctx);
    struct conn c;
    memset(&c, 0, sizeof(c));
    conn_tx_lock_init(&c);
    c.ssl = s;
    c.fd = 3; /* a number the fd map gives to this connection; kernel_recv is played */
    c.bio = SSL_get_rbio(s);
    if (!fdmap_register(c.fd, &c))
        abort();
    c.err_override = -1;
    c.version = data[0] & 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
    c.is_server = (data[0] >> 1) & 1;
    c.cipher = crypto_info_cipher_desc(KTLS_CIPHER_AES_128_GCM);
    c.dir[CONN_RX].state = c.dir[CONN_TX].state = DIR_KERNEL;
    c.tx_update_pending = -1;
    can_rekey = (data[0] >> 4) & 1;
    if (c.version == TLS1_3_VERSION) {
        c.md = EVP_sha256();
        c.dir[CONN_RX].secret_len = c.dir[CONN_TX].secret_len = 32;
    }
    int peek = (data[0] >> 2) & 1, shut = (data[0] >> 3) & 1;
    size_t cap = (size_t)data[1] + 1;
    in = data + 2;
    in_left = size - 2;
    cur_left = 0;
    empty_record = 0;
    app_played = app_delivered = 0;
    sent_fatal = sent_close_notify = sent_no_renegotiation = handshake_bytes_played = 0;
    sent_key_updates = rx_installs = tx_installs = 0;
    rcvlowat = 1;
    uint8_t *buf = malloc(cap);

    int failed_for_good = 0;
    for (int calls = 0; calls < 4096; calls++) {
        size_t done = 0;
        int ok = kio_read(&c, s, buf, cap, &done, peek);
        if (ok) {
            if (failed_for_good || done == 0 || done > cap || c.err_override != SSL_ERROR_NONE)
                abort();
            if (app_delivered + done > app_played
                || memcmp(buf, app_stream + app_delivered, done) != 0)
                abort(); /* not the application data, in order */
            if (peek) {
                /* the read after a peek hands over the same bytes */
                size_t again = 0;
                if (kio_read(&c, s, buf, cap, &again, 0) != 1 || again != done
                    || memcmp(buf, app_stream + app_delivered, done) != 0)
                    abort();
            }
            app_delivered += done;
            continue;
        }
        int e = c.err_override;
        if (e != SSL_ERROR_SSL && e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL
            && e != SSL_ERROR_WANT_READ)
            abort();
        if (e == SSL_ERROR_SSL || e == SSL_ERROR_ZERO_RETURN)
            failed_for_good = 1;
        if (e == SSL_ERROR_SSL && !c.fatal)
            abort();
        if (in_left == 0 && cur_left == 0 && e != SSL_ERROR_WANT_READ)
            break;
        if (failed_for_good && calls > 2)
            break;
    }
    if (shut)
        (void)kio_shutdown(&c, s);
    if (sent_close_notify > 1 || sent_no_renegotiation > handshake_bytes_played / 4)
        abort(); /* one close_notify at most; a refusal answers a request (4 bytes at least) */
    if (tx_installs != sent_key_updates || (!can_rekey && rx_installs))
        abort(); /* TX rekeyed exactly once per KeyUpdate sent */
    ERR_clear_error();
    fdmap_forget(c.fd, &c);
    free(buf);
    SSL_free(s);
    return 0;
}

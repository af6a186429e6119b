/* Per-connection state, hung off the SSL with ex_data so it lives and dies
 * with the SSL object: its references, its TX lock, its directions' owners
 * and the counting of how each ended. What fills it during the handshake
 * (the message and keylog observers) is 3-datapath/observe.c's. */
#ifndef KTLS_SHIM_CONN_H
#define KTLS_SHIM_CONN_H

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "cpu_sample.h"
#include "crypto_info.h"
#include "ctl_parse.h"
#include "ctx_registry.h"
#include "kernel.h"
#include "ossl.h"
#include "reason.h"
#include "recseq.h"
#include "sockwatch.h"

enum conn_dir_index { CONN_RX = 0, CONN_TX = 1 };

enum conn_dir_state {
    DIR_OPENSSL = 0, /* not decided yet: OpenSSL owns it */
    DIR_PENDING,     /* eligible, keys derived, waiting for a record boundary */
    DIR_KERNEL,      /* kernel owns it; no way back */
    DIR_FALLBACK,    /* OpenSSL keeps it for good; reason says why */
};

struct conn_dir {
    int state;
    enum fallback_reason reason; /* why DIR_FALLBACK */
    int reason_errno;
    uint8_t key[32];            /* while DIR_PENDING only */
    uint8_t iv[12];
    uint8_t secret[48];         /* TLS 1.3: the traffic secret of the current keys, while
                                 * pending and once the kernel has them (KeyUpdate) */
    size_t secret_len;
    uint64_t records;           /* kernel TX: records sent under the current key (at most) */
    struct recseq seq;          /* records under the current keys */
    uint64_t bio_base;          /* TX: the BIO's byte count before the first record seen */
    int bio_base_set;
    int bio_unmarked;           /* TX: conn_bio_mark failed: no exact base, TX stays */
    const void *based_bio;      /* TX: the BIO that count is of (compared, never used;
                                 * conn_bio_mark tells a new BIO at its address) */
    unsigned ccs_at_decide;     /* seq.ccs_count when the keys were derived */
    uint64_t seq_at_install;
};

/* What OpenSSL's message callback found that needs I/O. The callback runs
 * inside OpenSSL, so it only records; the data path acts once the OpenSSL
 * call has returned (observe_flush_deferred). */
struct conn_deferred {
    int key_update_reply;       /* OpenSSL read a KeyUpdate asking for ours, TX is the kernel's */
    int divert_report;          /* log that OpenSSL wrote after TX moved */
    int divert_handshake;       /* ...and what it wrote was a handshake message (a
                                 * certificate request, a renegotiation): the
                                 * connection ends, the peer must not wait for it */
    int shutdown_socket;        /* no sink BIO: cut the socket instead */
    int alert;                  /* send alert_bytes through the kernel */
    uint8_t alert_bytes[2];
};

struct conn {
    SSL *ssl;
    int fd;                     /* the socket's descriptor when decided, and... */
    struct sock_id sock;        /* ...the socket it named then */
    BIO *bio;                   /* the SSL's socket BIO then (read = write), or its
                                 * write BIO where the program gave its own */
    BIO *rbio;                  /* the read BIO then */
    int custom_bio;             /* the program's own BIO over c->fd (sockwatch found it) */
    struct sock_watch watch;
    int attached_early;         /* saw the handshake from its first record */
    int pha_offered;            /* its ClientHello offered post-handshake auth (curl does) */
    int observed;               /* our msg/keylog observers are installed */
    int decided;
    int passthrough;            /* decided, and both directions stay in OpenSSL */
    int arm;                    /* enum stats_arm: A/B arm, drawn when decided */
    int cpu_handshake;          /* its handshake calls are timed (cpu_sample.h): 1 yes,
                                 * -1 no or already counted, 0 not drawn yet */
    uint64_t handshake_ns;      /* their CPU so far, added to the arm once decided */
    struct cpu_conn_dir cpu[2]; /* its sampled I/O calls, [CPU_RX], [CPU_TX] */
    int outcome_counted;
    int ulp_attached;
    int version;
    int is_server;
    const struct ktls_cipher_desc *cipher;
    const char *cipher_name;
    const EVP_MD *md;           /* TLS 1.3: the suite's hash, for the key schedule */
    int tx_update_pending;      /* a KeyUpdate owed on kernel TX: -1 none, else its
                                 * request_update (SSL_KEY_UPDATE_[NOT_]REQUESTED) */
    size_t tx_update_sent;      /* bytes of that KeyUpdate message already sent */
    int rekey_limit_said;       /* logged that TX hit the record limit on a kernel that
                                 * cannot rekey */
    struct conn_dir dir[2];
    uint8_t client_secret[48], server_secret[48];
    size_t client_secret_len, server_secret_len;
    msg_cb_fn app_msg_cb;
    void *app_msg_arg;          /* what OpenSSL last passed the callback (tell.c) */
    struct record_shape shape;  /* how OpenSSL was told to build records */
    /* I/O on kernel-owned directions */
    int err_override;           /* SSL_get_error answer for our last call; -1 none */
    int fail_ret;               /* what SSL_read/SSL_write return for that failure */
    int fatal;
    const char *failed_detail;  /* why it failed between calls, for the next call's error */
    int wbio_diverted;
    BIO *kept_wbio;             /* the program's write BIO OpenSSL let go of at the divert:
                                 * the program may still hold it (mod_ssl), so it lives on
                                 * until the connection ends */
    BIO *sink_wbio;             /* what OpenSSL writes into instead */
    int app_data_read;          /* OpenSSL has handed the app data (TLS 1.3 tickets done) */
    int tx_write_pending;       /* OpenSSL holds a partly written record */
    size_t tx_committed;        /* bytes of a retried SSL_write the kernel already took */
    struct ctl_progress ctl;
    unsigned warn_alerts;       /* warning alerts read in a row (OpenSSL stops at 5) */
    unsigned empty_records;     /* records of no bytes read in a row (it stops past 32) */
    int handshake_failed;       /* counted in the stats once */
    unsigned key_updates_in_window; /* the peer's KeyUpdates followed in the window... */
    long long key_update_window_start; /* ...that began then (monotonic seconds) */
    atomic_int program_shut_down; /* it called SSL_shutdown: plain reads of the socket
                                 * may take records (kio_read_after_ssl) */
    int rcvlowat_raised;        /* SO_RCVLOWAT is ours until the next read... */
    int rcvlowat_app;           /* ...and this is the program's, to put back */
    uint64_t kernel_tx_bytes, kernel_rx_bytes, kernel_sendfile_bytes;
    pthread_mutex_t tx_lock;    /* recursive: conn_tx_lock */
    /* sendfile emulation: file_pending bytes of file file_in (from offset
     * file_at) the connection has not taken yet, or file_ahead bytes it took
     * beyond what a call could return (a retry that asked for less) */
    uint8_t *file_buf;
    size_t file_pending, file_ahead;
    int file_in;
    off_t file_at;
    struct conn_deferred deferred;
};

static inline int kernel_owns(const struct conn *c, int d)
{
    return c->dir[d].state == DIR_KERNEL;
}

/* 0 when the shim cannot work in this process (OpenSSL incomplete). */
int conn_module_ready(void);
/* The state for s, or NULL if it was never attached. Cheap. */
struct conn *conn_get(const SSL *s);
/* Attach state to s (idempotent); observe_attach also installs the
 * observers the kernel hand-over needs. NULL on allocation failure. */
struct conn *conn_attach(SSL *s);
/* References: the SSL holds one; fdmap_acquire takes one for a caller that
 * found the connection by its descriptor. The state is freed with the last. */
/* Kernel TX of one connection, one thread at a time: a KeyUpdate and the key
 * it announces must not have another thread's records between them (nginx's
 * aio threads call sendfile() while the event loop's SSL_read answers the
 * peer's KeyUpdate). Recursive: the write paths flush an owed KeyUpdate. */
void conn_tx_lock(struct conn *c);
void conn_tx_unlock(struct conn *c);
/* (made unlocked by conn_attach and SSL_clear's reset; a test's own conn) */
void conn_tx_lock_init(struct conn *c);
void conn_hold(struct conn *c);
void conn_release(struct conn *c);
/* 0 once the SSL the state belonged to is being freed. */
int conn_alive(const struct conn *c);
/* The connection registered on descriptor fd (fdmap.h) with a reference
 * held (conn_release it), or NULL. Safe while another thread frees it. */
struct conn *conn_acquire_fd(int fd);
/* Back to a fresh, before-handshake state (SSL_clear). Directions still
 * undecided are counted as never moved first. */
void conn_reset(struct conn *c);
/* Direction d stays in OpenSSL for good (no-op once settled): counted,
 * logged, its pending keys wiped. */
void conn_fall_back(struct conn *c, int d, enum fallback_reason why, int err);
/* Direction d now belongs to the kernel (after TLS_TX/TLS_RX succeeded). */
void conn_mark_kernel(struct conn *c, int d, uint64_t seq);
/* The connection ends (SSL_free, SSL_clear): directions still waiting for a
 * record boundary are counted as never moved. */
void conn_end(struct conn *c);
/* Record a record setting made on an SSL (ctx_registry.h for an SSL_CTX's).
 * value: the fragment size, or 0/1. */
void conn_note_record_setting(SSL *s, enum record_setting what, long value);
/* Wipe secrets and pending keys. */
void conn_scrub(struct conn *c);
/* c->fd still belongs to this connection: the fd map says so (no close,
 * dup2 or reuse seen), and with check_identity it still names the socket
 * pinned when the connection was decided (a close the shim could not see). */
int conn_socket_intact(const struct conn *c, int check_identity);

/* A mark in the BIO's own ex_data naming the direction whose byte count is
 * based on it: the BIO's address alone does not tell it from a later BIO
 * that malloc put at the same address. conn_bio_mark: 0 when OpenSSL could
 * not store it. */
int conn_bio_mark(BIO *b, const struct conn_dir *d);
int conn_bio_marked(const BIO *b, const struct conn_dir *d);

#endif

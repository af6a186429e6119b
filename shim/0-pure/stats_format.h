/* What one process's stats file says: the counters' shape (per A/B arm:
 * connections, where each direction went, bytes, events, sampled CPU) and
 * the pure code that renders them as JSON. No globals, no syscalls:
 * unit-tested; the counting itself is stats.c's and cpu_sample.c's. */
#ifndef KTLS_SHIM_STATS_FORMAT_H
#define KTLS_SHIM_STATS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "reason.h"

/* ---- sampled CPU of I/O calls (cpu_sample.h counts them) ---- */

enum cpu_dir { CPU_RX = 0, CPU_TX = 1 };

/* A sum kept in two words (hi * 2^64 + lo): squares of nanoseconds add up
 * past 2^64. */
struct cpu_wide {
    uint64_t hi, lo;
};

struct cpu_moments {
    uint64_t calls, bytes, ns;            /* every sampled call so far */
    uint64_t conns, conn_calls;           /* ended connections with sampled calls */
    struct cpu_wide conn_ns, conn_bytes;  /* their sums... */
    struct cpu_wide conn_ns_sq, conn_bytes_sq, conn_ns_bytes; /* ...squares, products */
};

struct cpu_counts {
    struct cpu_moments dir[2]; /* [CPU_RX], [CPU_TX] */
    uint64_t handshakes, handshake_ns;
};

/* ---- the counters ---- */

enum stats_arm { STATS_ARM_OFFLOAD = 0, STATS_ARM_CONTROL = 1, STATS_ARMS };

enum stats_bytes {
    STATS_KERNEL_TX = 0,        /* SSL_write served by send() on a kTLS socket */
    STATS_KERNEL_RX,            /* SSL_read served by recvmsg() on a kTLS socket */
    STATS_KERNEL_SENDFILE,      /* SSL_sendfile turned into sendfile() */
    STATS_OPENSSL_TX,           /* SSL_write that OpenSSL encrypted */
    STATS_OPENSSL_RX,
    STATS_EMULATED_SENDFILE,    /* sendfile onto a TLS socket whose TX stayed in OpenSSL */
    STATS_BYTE_KINDS
};

enum stats_outcome { STATS_BOTH = 0, STATS_TX_ONLY, STATS_RX_ONLY, STATS_NONE, STATS_OUTCOMES };

/* What happened to moved connections later on (TLS 1.3 key updates). */
enum stats_event {
    STATS_REKEY_TX = 0,                 /* our KeyUpdate sent, kernel TX rekeyed */
    STATS_REKEY_RX,                     /* the peer's KeyUpdate followed, kernel RX rekeyed */
    STATS_KEYUPDATE_UNSUPPORTED_KERNEL, /* a connection ended by a KeyUpdate this kernel
                                         * cannot follow (before 6.14) */
    STATS_REKEY_FAILED,                 /* a rekey the kernel refused: connection failed */
    STATS_KEYUPDATE_STORM,              /* a connection ended: the peer sent more KeyUpdates
                                         * than KTLS_SHIM_KEY_UPDATE_MAX in a window */
    STATS_EVENTS
};

#define STATS_REASON_KEY 48

struct stats_arm_counts {
    uint64_t connections;
    uint64_t kernel[2];                 /* [0] rx, [1] tx */
    uint64_t outcome[STATS_OUTCOMES];
    uint64_t bytes[STATS_BYTE_KINDS];
    uint64_t events[STATS_EVENTS];
    uint64_t reasons[FB_COUNT][2];      /* directions left to OpenSSL, by reason:
                                         * [0] rx, [1] tx (FB_NONE unused) */
    struct cpu_counts cpu;              /* sampled CPU time of I/O calls (cpu_sample.h) */
};

struct stats_snapshot {
    long pid, ppid;
    char exe[512];
    const char *run_id;
    long long started_unix, updated_unix;
    int final;
    int signal;                         /* the signal that ended the process, or 0 */
    const char *mode;
    char sample[32];                    /* stats_format_sample() */
    int seed_set;
    unsigned long long seed;
    int kernel_tls;
    uint64_t passed_through;            /* handshakes done while the shim was off */
    uint64_t ssl_objects;               /* SSL_new calls: this process's OpenSSL made TLS */
    uint64_t handshake_failures;        /* handshakes that ended in an error */
    struct stats_arm_counts arm[STATS_ARMS];
};

/* ---- rendering ---- */

/* The arm of connection number index: a hash of (seed, index) against sample,
 * so a given seed reproduces the same split. */
int stats_arm_for(uint64_t seed, uint64_t index, double sample);
/* "custom-bio (read and write BIOs differ)" -> "custom-bio"; spaces become
 * '-'. Several reasons may share a key ("cipher"): the JSON sums them. */
void stats_reason_key(const char *reason, char *out, size_t cap);
/* The A/B share as the JSON shows it (snprintf: not for a signal handler). */
void stats_format_sample(double sample, char *out, size_t cap);
/* JSON for one process; returns the length, or 0 if cap is too small.
 * Async-signal-safe: no stdio, no locale, no allocation. */
size_t stats_render(const struct stats_snapshot *s, char *buf, size_t cap);
/* Appends text / a decimal to buf at *len (cap includes the final NUL);
 * 0 when it did not fit. Async-signal-safe; used for paths and messages. */
int stats_append(char *buf, size_t cap, size_t *len, const char *text);
int stats_append_u64(char *buf, size_t cap, size_t *len, unsigned long long v);

#endif

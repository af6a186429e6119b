/* Per-process counters for operators: connections per A/B arm, where each
 * direction went (kernel, or the fallback reason), bytes through the kernel
 * and through OpenSSL. Written as one JSON object per process to
 * KTLS_SHIM_STATS.<pid>.json at exit, on SIGTERM/SIGINT where the program left
 * them at their default, and at most every KTLS_SHIM_STATS_INTERVAL seconds
 * from handshake/teardown points only, never from the data path, and never
 * while a lock of the data path is held. Writing takes no lock and calls only
 * async-signal-safe functions, so the signal handler can do it too. */
#ifndef KTLS_SHIM_STATS_H
#define KTLS_SHIM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_sample.h"

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

#define STATS_MAX_REASONS 24
#define STATS_REASON_KEY 48

struct stats_arm_counts {
    uint64_t connections;
    uint64_t kernel[2];                 /* [0] rx, [1] tx */
    uint64_t outcome[STATS_OUTCOMES];
    uint64_t bytes[STATS_BYTE_KINDS];
    uint64_t events[STATS_EVENTS];
    struct {
        char key[STATS_REASON_KEY];
        uint64_t n[2];                  /* [0] rx, [1] tx */
    } reasons[STATS_MAX_REASONS];
    int nreasons;
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

/* ---- pure parts (unit-tested) ---- */

/* The arm of connection number index: a hash of (seed, index) against sample,
 * so a given seed reproduces the same split. */
int stats_arm_for(uint64_t seed, uint64_t index, double sample);
/* "custom-bio (read and write BIOs differ)" -> "custom-bio"; spaces become '-'. */
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

/* ---- the process's counters ---- */

int stats_on(void);                     /* KTLS_SHIM_STATS is set */
int stats_pick_arm(void);               /* the arm of the next connection */
void stats_connection(int arm);
/* A handshake finished while the shim is off (KTLS_SHIM_MODE=off,
 * KTLS_SHIM=0): no state, no arm, only this count, so a baseline run tells
 * how many TLS connections it passed through. */
void stats_passed_through(void);
/* An SSL was made (SSL_new): a process that used OpenSSL for TLS leaves a
 * file even with no connection, so ktls-run can tell it from one that
 * never did (GnuTLS, a static TLS library). */
void stats_ssl_made(void);
/* A handshake ended in an error (SSL_ERROR_SSL/SYSCALL) before the shim could
 * take the connection: counted, so "no connections" can say why. */
void stats_handshake_failed(void);
/* reason NULL: kernel; else counted under stats_reason_key(reason), the
 * table's last slot being "other" for what comes once it is full */
void stats_direction(int arm, int tx, const char *reason);
void stats_outcome(int arm, int tx_kernel, int rx_kernel);
void stats_add_bytes_slow(int arm, enum stats_bytes kind, uint64_t n);
void stats_event(int arm, enum stats_event ev);
/* Writes the file if KTLS_SHIM_STATS_INTERVAL has passed since the last write. */
void stats_tick(void);

/* SIGTERM/SIGINT, caught for the final file where the program left them at
 * SIG_DFL (stats.c). The entry layer keeps that handler out of the
 * program's sight: */
struct sigaction;
/* 1 once the shim's handler was put on sig in this process. Cheap. */
int stats_signal_caught(int sig);
/* What to install where the program asks for SIG_DFL on a caught signal. */
void stats_signal_disposition(struct sigaction *sa);
/* sa is the shim's handler (to be shown to the program as SIG_DFL). */
int stats_signal_is_ours(const struct sigaction *sa);
/* The counters now, as the next file would show them. */
void stats_read(struct stats_snapshot *s);

static inline void stats_add_bytes(int arm, enum stats_bytes kind, uint64_t n)
{
    if (n && stats_on())
        stats_add_bytes_slow(arm, kind, n);
}

#endif

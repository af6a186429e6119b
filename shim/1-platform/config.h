/* Knobs from the environment, read once per process. Bad values never stop
 * the host program: they get one line on stderr and the safe default. */
#ifndef KTLS_SHIM_CONFIG_H
#define KTLS_SHIM_CONFIG_H

#include <stddef.h>

enum shim_dirs { SHIM_DIR_NONE = 0, SHIM_DIR_TX = 1, SHIM_DIR_RX = 2, SHIM_DIR_BOTH = 3 };
enum shim_log_level { SHIM_LOG_OFF = 0, SHIM_LOG_ERROR, SHIM_LOG_INFO, SHIM_LOG_DEBUG };

struct shim_config {
    int enabled;            /* KTLS_SHIM: 1|on|true|yes, 0|off|false|no; default 1 */
    int dirs;               /* KTLS_SHIM_MODE: both|tx|rx|off; default both */
    int log_level;          /* KTLS_SHIM_LOG: off|error|info|debug; default error */
    char log_file[4096];    /* KTLS_SHIM_LOG_FILE: path; default "" = stderr */
    double sample;          /* KTLS_SHIM_SAMPLE: 0..1, share of connections in the
                             * offload arm (the rest: control arm); default 1 */
    double cpu_sample;      /* KTLS_SHIM_CPU_SAMPLE: 0..1, share of the I/O calls of decided
                             * connections whose thread CPU time is measured (stats only);
                             * default 0.005 */
    int seed_set;           /* KTLS_SHIM_SEED: unsigned decimal; default unset = random */
    unsigned long long seed;
    char stats_prefix[4000];/* KTLS_SHIM_STATS: PREFIX -> PREFIX.<pid>.json; default "" = off */
    int stats_interval;     /* KTLS_SHIM_STATS_INTERVAL: seconds, 0 = at exit only; default 10 */
    char run_id[65];        /* KTLS_SHIM_RUN_ID: [A-Za-z0-9._-]{1,64}, copied into stats */
    unsigned long long rekey_records; /* KTLS_SHIM_REKEY_RECORDS: TLS 1.3 kernel TX sends a
                             * KeyUpdate after this many records under one key;
                             * default 0 = the cipher's limit (AES-GCM 2^24, RFC 8446
                             * 5.5 allows 2^24.5; ChaCha20 none) */
    int no_rekey_rx_openssl;/* KTLS_SHIM_NO_REKEY: fail|rx-openssl: on kernels that cannot
                             * rekey (< 6.14), a peer's KeyUpdate ends a TLS 1.3 connection
                             * whose RX the kernel has (fail, the default), or TLS 1.3 RX
                             * stays in OpenSSL, which follows it (rx-openssl) */
    unsigned key_update_max;    /* KTLS_SHIM_KEY_UPDATE_MAX: the peer's KeyUpdates that kernel
                             * RX follows within one window; one more ends the connection
                             * (a storm: HAProxy's kTLS busy-looped on one, haproxy#3450);
                             * 0 = no limit; default 32 */
    unsigned key_update_window; /* KTLS_SHIM_KEY_UPDATE_WINDOW: that window, in seconds
                             * (1..3600); default 1 */
    int pha_move;           /* KTLS_SHIM_POST_HANDSHAKE_AUTH: keep|move. TLS 1.3 connections
                             * open to post-handshake authentication (a client that offered
                             * it, a server whose verify mode asks for it) stay in OpenSSL,
                             * which alone can answer a certificate request (keep, the
                             * default), or move anyway, a certificate request then ending
                             * the connection at once (move) */
};

typedef const char *(*config_lookup_fn)(const char *name);
typedef void (*config_report_fn)(const char *message);

/* Pure: fills cfg from lookup(); calls report() once per bad value.
 * Returns the number of bad values. */
int config_parse(struct shim_config *cfg, config_lookup_fn lookup, config_report_fn report);

/* The process-wide configuration (parsed on first use, thread-safe). */
const struct shim_config *config_get(void);
/* 1 if the knob was in the environment at load time; parses nothing (so
 * reports nothing). */
int config_knob_given(const char *name);

#endif

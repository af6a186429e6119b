/* ktls-check's verdict from what it found: which case this machine is in,
 * and the next step. Pure (unit-tested); ktls-check gathers the facts. */
#ifndef KTLS_CHECK_DIAG_H
#define KTLS_CHECK_DIAG_H

enum config_tls { CONFIG_TLS_UNKNOWN, CONFIG_TLS_NOT_SET, CONFIG_TLS_MODULE, CONFIG_TLS_BUILTIN };

struct diag_facts {
    const char *release;        /* uname -r */
    int ulp_err;                /* setsockopt(TCP_ULP "tls") on a connected socket: 0 or errno */
    int pairs_both;             /* version x cipher pairs accepted in both directions */
    enum config_tls config;     /* from config_source */
    const char *config_source;  /* "/proc/config.gz", "/boot/config-R", or NULL */
    const char *module_path;    /* the tls module file under /lib/modules/R, or NULL */
    int module_loaded;          /* /sys/module/tls exists */
    int cap_net_admin;          /* in this process's effective set */
    int modules_disabled;       /* /proc/sys/kernel/modules_disabled = 1 */
};

struct diag {
    const char *name; /* "works", "config-tls-not-set", "module-not-loaded", ... */
    char why[512];
    char next[512];
};

void check_diagnose(const struct diag_facts *f, struct diag *d);

/* The first kernel that accepts a TLS version x cipher in software kTLS
 * ("4.17" for TLS 1.2 AES-128-GCM), or NULL if not known here. */
const char *check_min_kernel(int tls_version, const char *cipher);
#define CHECK_REKEY_MIN_KERNEL "6.14"

#endif

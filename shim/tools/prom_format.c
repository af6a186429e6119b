#include "prom_format.h"

#include <string.h>

static const char *const arms[] = {"offload", "control"};

static void family(FILE *to, const char *name, const char *type, const char *help)
{
    fprintf(to, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: backslash, quote and newline
 * escaped. Whatever else is not printable ASCII becomes '?': the values
 * come from files other users' processes may write. */
static void label_value(FILE *to, const char *v)
{
    fputc('"', to);
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '\\' || c == '"')
            fprintf(to, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", to);
        else
            fputc(c < 0x20 || c >= 0x7f ? '?' : c, to);
    }
    fputc('"', to);
}

/* name{arm="A"[,KEY="VALUE"]} N */
static void arm_sample(FILE *to, const char *name, const char *arm, const char *key, const char *value,
                       unsigned long long n)
{
    fprintf(to, "%s{arm=\"%s\"", name, arm);
    if (key) {
        fprintf(to, ",%s=", key);
        label_value(to, value);
    }
    fprintf(to, "} %llu\n", n);
}

static int listed(const char *const *known, const char *key)
{
    for (; *known; known++)
        if (!strcmp(*known, key))
            return 1;
    return 0;
}

/* One sample per arm and key under ARM.GROUP.KEY: the keys this version
 * writes (0 when a file lacks them, so every series is always there), then
 * any other key the files carry (a newer shim's). skip: keys shown in
 * another family. */
static void keyed(FILE *to, const struct run_totals *t, const char *name, const char *group, const char *label,
                  const char *const *known, const char *const *skip)
{
    for (size_t a = 0; a < sizeof(arms) / sizeof(arms[0]); a++) {
        char path[160];
        for (const char *const *k = known; *k; k++) {
            snprintf(path, sizeof(path), "%s.%s.%s", arms[a], group, *k);
            arm_sample(to, name, arms[a], label, *k, run_total(t, path));
        }
        snprintf(path, sizeof(path), "%s.%s.", arms[a], group);
        size_t plen = strlen(path);
        for (int i = 0; i < t->n; i++) {
            const char *key = t->path[i] + plen;
            if (strncmp(t->path[i], path, plen) || strchr(key, '.') || listed(known, key) || (skip && listed(skip, key)))
                continue;
            arm_sample(to, name, arms[a], label, key, t->sum[i]);
        }
    }
}

/* name{arm} for both arms; path_format takes the arm */
static void per_arm(FILE *to, const struct run_totals *t, const char *name, const char *path_format)
{
    for (size_t a = 0; a < sizeof(arms) / sizeof(arms[0]); a++) {
        char path[64];
        snprintf(path, sizeof(path), path_format, arms[a]);
        arm_sample(to, name, arms[a], NULL, NULL, run_total(t, path));
    }
}

/* name{arm,direction} for both arms and directions; path_format takes the
 * arm, then "tx" or "rx" */
static void per_direction(FILE *to, const struct run_totals *t, const char *name, const char *path_format)
{
    for (size_t a = 0; a < sizeof(arms) / sizeof(arms[0]); a++)
        for (int d = 0; d < 2; d++) {
            char path[64];
            snprintf(path, sizeof(path), path_format, arms[a], d ? "rx" : "tx");
            arm_sample(to, name, arms[a], "direction", d ? "rx" : "tx", run_total(t, path));
        }
}

static const char *const outcomes[] = {"both", "tx_only", "rx_only", "none", NULL};
static const char *const byte_paths[] = {"kernel_tx", "kernel_rx", "kernel_sendfile", "openssl_tx", "openssl_rx",
                                         "emulated_sendfile", NULL};
static const char *const rekeys[] = {"rekey_tx", "rekey_rx", NULL};
static const char *const endings[] = {"keyupdate-unsupported-kernel", "rekey_failed", "keyupdate-storm", NULL};

static void arm_families(FILE *to, const struct run_totals *t)
{
    family(to, "ktls_shim_connections_total", "counter", "TLS connections the shim decided, by A/B arm.");
    per_arm(to, t, "ktls_shim_connections_total", "%s.connections");

    family(to, "ktls_shim_directions_kernel_total", "counter",
           "Directions of a connection (tx, rx) moved to kernel TLS.");
    per_direction(to, t, "ktls_shim_directions_kernel_total", "%s.%s.kernel");

    family(to, "ktls_shim_fallbacks_total", "counter",
           "Directions kept in OpenSSL, by reason (ktls-shim(7), FALLBACK REASONS).");
    for (size_t a = 0; a < 2; a++)
        for (int d = 0; d < 2; d++) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "%s.%s.fallback.", arms[a], d ? "rx" : "tx");
            size_t plen = strlen(prefix);
            for (int i = 0; i < t->n; i++) {
                if (strncmp(t->path[i], prefix, plen))
                    continue;
                fprintf(to, "ktls_shim_fallbacks_total{arm=\"%s\",direction=\"%s\",reason=", arms[a], d ? "rx" : "tx");
                label_value(to, t->path[i] + plen);
                fprintf(to, "} %llu\n", t->sum[i]);
            }
        }

    family(to, "ktls_shim_connection_outcomes_total", "counter",
           "Connections by what moved to the kernel: both, tx_only, rx_only, none.");
    keyed(to, t, "ktls_shim_connection_outcomes_total", "outcome", "outcome", outcomes, NULL);

    family(to, "ktls_shim_bytes_total", "counter",
           "Application bytes by path: kernel_tx, kernel_rx, kernel_sendfile (kernel TLS); openssl_tx, "
           "openssl_rx (OpenSSL); emulated_sendfile (SSL_sendfile done as reads and writes).");
    keyed(to, t, "ktls_shim_bytes_total", "bytes", "path", byte_paths, NULL);

    family(to, "ktls_shim_key_updates_total", "counter",
           "TLS 1.3 KeyUpdates: sent with the kernel rekeyed (tx), the peer's followed in the kernel (rx).");
    per_direction(to, t, "ktls_shim_key_updates_total", "%s.events.rekey_%s");

    family(to, "ktls_shim_connections_ended_total", "counter",
           "Connections the shim ended with an error, by event (ktls-shim(7)).");
    keyed(to, t, "ktls_shim_connections_ended_total", "events", "event", endings, rekeys);

    /* the sampled CPU (KTLS_SHIM_CPU_SAMPLE): rate(ns) / rate(bytes) per arm
     * is CPU per byte; ktls-stats' summary gives the interval */
    family(to, "ktls_shim_cpu_sampled_calls_total", "counter", "I/O calls whose thread CPU time was sampled.");
    per_direction(to, t, "ktls_shim_cpu_sampled_calls_total", "%s.cpu.%s.calls");
    family(to, "ktls_shim_cpu_sampled_bytes_total", "counter", "Bytes the sampled I/O calls moved.");
    per_direction(to, t, "ktls_shim_cpu_sampled_bytes_total", "%s.cpu.%s.bytes");
    family(to, "ktls_shim_cpu_sampled_ns_total", "counter",
           "Thread CPU time (user and system) of the sampled I/O calls, nanoseconds.");
    per_direction(to, t, "ktls_shim_cpu_sampled_ns_total", "%s.cpu.%s.ns");
    family(to, "ktls_shim_handshake_cpu_sampled_total", "counter", "Handshakes whose CPU time was sampled.");
    per_arm(to, t, "ktls_shim_handshake_cpu_sampled_total", "%s.cpu.handshake.calls");
    family(to, "ktls_shim_handshake_cpu_sampled_ns_total", "counter",
           "Thread CPU time of the sampled handshakes (the shim's key install included), nanoseconds.");
    per_arm(to, t, "ktls_shim_handshake_cpu_sampled_ns_total", "%s.cpu.handshake.ns");
}

static void per_process(FILE *to, const struct run_totals *t)
{
    family(to, "ktls_shim_passed_through_total", "counter", "TLS connections while the shim was off (mode off).");
    fprintf(to, "ktls_shim_passed_through_total %llu\n", t->passed_through);
    family(to, "ktls_shim_handshake_failures_total", "counter", "TLS handshakes that failed before the shim took over.");
    fprintf(to, "ktls_shim_handshake_failures_total %llu\n", t->handshake_failures);
    family(to, "ktls_shim_ssl_objects_total", "counter", "SSL objects the processes made.");
    fprintf(to, "ktls_shim_ssl_objects_total %llu\n", t->ssl_objects);
    family(to, "ktls_shim_stats_files", "gauge", "Stats files summed (one per process).");
    fprintf(to, "ktls_shim_stats_files %d\n", t->files);
    family(to, "ktls_shim_stats_files_unreadable", "gauge", "Files named like stats files that could not be read.");
    fprintf(to, "ktls_shim_stats_files_unreadable %d\n", t->unreadable);
    family(to, "ktls_shim_processes_without_final_stats", "gauge",
           "Processes whose file is not final: still running, or killed (numbers from their last refresh).");
    fprintf(to, "ktls_shim_processes_without_final_stats %d\n", t->not_final);
    if (t->last_updated > 0) {
        family(to, "ktls_shim_last_update_timestamp_seconds", "gauge", "The newest refresh among the files, Unix time.");
        fprintf(to, "ktls_shim_last_update_timestamp_seconds %lld\n", t->last_updated);
    }
}

/* The Curr* counters go up and down (connections open now); the rest only
 * grow. */
static int is_gauge(const char *name)
{
    return !strncmp(name, "TlsCurr", 7);
}

static void kernel_counters(FILE *to, const struct tls_stat *k)
{
    family(to, "ktls_kernel_tls_loaded", "gauge", "1 when /proc/net/tls_stat exists (the tls module is loaded).");
    fprintf(to, "ktls_kernel_tls_loaded %d\n", k != NULL);
    if (!k)
        return;
    for (int gauge = 0; gauge < 2; gauge++) {
        const char *name = gauge ? "ktls_kernel_tls_current" : "ktls_kernel_tls_stat_total";
        int any = 0;
        for (int i = 0; i < k->n; i++) {
            if (is_gauge(k->name[i]) != gauge)
                continue;
            if (!any++)
                family(to, name, gauge ? "gauge" : "counter",
                       gauge ? "Kernel TLS sockets open now, /proc/net/tls_stat (this network namespace)."
                             : "Kernel TLS counters, /proc/net/tls_stat (this network namespace).");
            fprintf(to, "%s{stat=\"%s\"} %lld\n", name, k->name[i], k->value[i]);
        }
    }
}

void prom_write(FILE *to, const struct run_totals *t, const struct tls_stat *kernel)
{
    arm_families(to, t);
    per_process(to, t);
    kernel_counters(to, kernel);
}

#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <limits.h>
#include <unistd.h>

static int word_in(const char *v, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (strcasecmp(v, words[i]) == 0)
            return 1;
    return 0;
}

static void complain(config_report_fn report, const char *name, const char *value,
                     const char *expected, const char *fallback)
{
    /* the value is the environment's, not ours: control characters would
     * split the report or forge a second line */
    char shown[65];
    size_t n = 0;
    for (; value[n] && n < sizeof(shown) - 1; n++)
        shown[n] = (value[n] >= 0x20 && value[n] < 0x7f) ? value[n] : '?';
    shown[n] = 0;
    char line[512];
    snprintf(line, sizeof(line), "ktls-shim: %s=\"%s\" is not valid (expected %s); using %s",
             name, shown, expected, fallback);
    if (report)
        report(line);
}

/* Digits only: strtoull alone would take "-1", " 7" and "0x10". */
/* 0..1, all of v; *out untouched otherwise */
static int parse_fraction(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !isfinite(x) || x < 0 || x > 1)
        return 0;
    *out = x;
    return 1;
}

static int parse_unsigned(const char *v, unsigned long long max, unsigned long long *out)
{
    if (!*v || strspn(v, "0123456789") != strlen(v))
        return 0;
    errno = 0;
    unsigned long long n = strtoull(v, NULL, 10);
    if (errno || n > max)
        return 0;
    *out = n;
    return 1;
}

int config_parse(struct shim_config *cfg, config_lookup_fn lookup, config_report_fn report)
{
    static const char *const yes[] = {"1", "on", "true", "yes", NULL};
    static const char *const no[] = {"0", "off", "false", "no", NULL};
    int bad = 0;
    const char *v;

    memset(cfg, 0, sizeof(*cfg));
    cfg->enabled = 1;
    cfg->dirs = SHIM_DIR_BOTH;
    cfg->log_level = SHIM_LOG_ERROR;
    cfg->sample = 1.0;
    cfg->cpu_sample = 0.005;
    cfg->stats_interval = 10;
    cfg->key_update_max = 32;
    cfg->key_update_window = 1;

    if ((v = lookup("KTLS_SHIM")) && *v) {
        if (word_in(v, no))
            cfg->enabled = 0;
        else if (!word_in(v, yes)) {
            complain(report, "KTLS_SHIM", v, "1|0|on|off|true|false|yes|no", "1");
            bad++;
        }
    }
    if ((v = lookup("KTLS_SHIM_MODE")) && *v) {
        if (!strcasecmp(v, "both"))
            cfg->dirs = SHIM_DIR_BOTH;
        else if (!strcasecmp(v, "tx"))
            cfg->dirs = SHIM_DIR_TX;
        else if (!strcasecmp(v, "rx"))
            cfg->dirs = SHIM_DIR_RX;
        else if (!strcasecmp(v, "off"))
            cfg->dirs = SHIM_DIR_NONE;
        else {
            complain(report, "KTLS_SHIM_MODE", v, "both|tx|rx|off", "both");
            bad++;
        }
    }
    if ((v = lookup("KTLS_SHIM_LOG")) && *v) {
        static const char *const names[] = {"off", "error", "info", "debug"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcasecmp(v, names[i]))
                found = i;
        if (found < 0) {
            complain(report, "KTLS_SHIM_LOG", v, "off|error|info|debug", "error");
            bad++;
        } else
            cfg->log_level = found;
    }
    if ((v = lookup("KTLS_SHIM_LOG_FILE")) && *v) {
        if (strlen(v) >= sizeof(cfg->log_file)) {
            complain(report, "KTLS_SHIM_LOG_FILE", v, "a path shorter than 4096 bytes", "stderr");
            bad++;
        } else
            strcpy(cfg->log_file, v);
    }
    if ((v = lookup("KTLS_SHIM_SAMPLE")) && *v && !parse_fraction(v, &cfg->sample)) {
        complain(report, "KTLS_SHIM_SAMPLE", v, "a fraction from 0 to 1", "1");
        bad++;
    }
    if ((v = lookup("KTLS_SHIM_CPU_SAMPLE")) && *v && !parse_fraction(v, &cfg->cpu_sample)) {
        complain(report, "KTLS_SHIM_CPU_SAMPLE", v, "a fraction from 0 to 1", "0.005");
        bad++;
    }
    if ((v = lookup("KTLS_SHIM_SEED")) && *v) {
        unsigned long long n;
        if (!parse_unsigned(v, ULLONG_MAX, &n)) {
            complain(report, "KTLS_SHIM_SEED", v, "an unsigned decimal integer", "a random seed");
            bad++;
        } else {
            cfg->seed = n;
            cfg->seed_set = 1;
        }
    }
    if ((v = lookup("KTLS_SHIM_STATS")) && *v) {
        /* room for ".<pid>.json.tmp" */
        if (strlen(v) >= sizeof(cfg->stats_prefix) - 32) {
            complain(report, "KTLS_SHIM_STATS", v, "a path prefix shorter than 3968 bytes",
                     "no stats");
            bad++;
        } else
            strcpy(cfg->stats_prefix, v);
    }
    if ((v = lookup("KTLS_SHIM_STATS_INTERVAL")) && *v) {
        unsigned long long n;
        if (!parse_unsigned(v, 86400, &n)) {
            complain(report, "KTLS_SHIM_STATS_INTERVAL", v, "whole seconds from 0 to 86400", "10");
            bad++;
        } else
            cfg->stats_interval = (int)n;
    }
    if ((v = lookup("KTLS_SHIM_RUN_ID")) && *v) {
        size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        if (v[n] || n >= sizeof(cfg->run_id)) {
            complain(report, "KTLS_SHIM_RUN_ID", v, "1-64 of A-Z a-z 0-9 . _ -", "none");
            bad++;
        } else
            strcpy(cfg->run_id, v);
    }
    if ((v = lookup("KTLS_SHIM_REKEY_RECORDS")) && *v) {
        unsigned long long n;
        if (!parse_unsigned(v, 1ULL << 62, &n) || n == 0) {
            complain(report, "KTLS_SHIM_REKEY_RECORDS", v, "records from 1 to 2^62",
                     "the cipher's limit");
            bad++;
        } else
            cfg->rekey_records = n;
    }
    if ((v = lookup("KTLS_SHIM_NO_REKEY")) && *v) {
        if (!strcasecmp(v, "fail"))
            cfg->no_rekey_rx_openssl = 0;
        else if (!strcasecmp(v, "rx-openssl"))
            cfg->no_rekey_rx_openssl = 1;
        else {
            complain(report, "KTLS_SHIM_NO_REKEY", v, "fail|rx-openssl", "fail");
            bad++;
        }
    }
    if ((v = lookup("KTLS_SHIM_POST_HANDSHAKE_AUTH")) && *v) {
        if (!strcasecmp(v, "keep"))
            cfg->pha_move = 0;
        else if (!strcasecmp(v, "move"))
            cfg->pha_move = 1;
        else {
            complain(report, "KTLS_SHIM_POST_HANDSHAKE_AUTH", v, "keep|move", "keep");
            bad++;
        }
    }
    if ((v = lookup("KTLS_SHIM_KEY_UPDATE_MAX")) && *v) {
        unsigned long long n;
        if (!parse_unsigned(v, 1000000, &n)) {
            complain(report, "KTLS_SHIM_KEY_UPDATE_MAX", v, "KeyUpdates from 0 (no limit) to 1000000", "32");
            bad++;
        } else
            cfg->key_update_max = (unsigned)n;
    }
    if ((v = lookup("KTLS_SHIM_KEY_UPDATE_WINDOW")) && *v) {
        unsigned long long n;
        if (!parse_unsigned(v, 3600, &n) || n == 0) {
            complain(report, "KTLS_SHIM_KEY_UPDATE_WINDOW", v, "whole seconds from 1 to 3600", "1");
            bad++;
        } else
            cfg->key_update_window = (unsigned)n;
    }
    if (!cfg->enabled)
        cfg->dirs = SHIM_DIR_NONE;
    return bad;
}

static struct shim_config global_config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

/* nginx wipes its workers' environment after loading us; the knobs are copied
 * at load time and parsed (with any complaint) only when first needed. */
static const char *const knob_names[] = {
    "KTLS_SHIM",        "KTLS_SHIM_MODE",  "KTLS_SHIM_LOG",           "KTLS_SHIM_LOG_FILE",
    "KTLS_SHIM_SAMPLE", "KTLS_SHIM_SEED",  "KTLS_SHIM_STATS",         "KTLS_SHIM_STATS_INTERVAL",
    "KTLS_SHIM_RUN_ID", "KTLS_SHIM_REKEY_RECORDS", "KTLS_SHIM_NO_REKEY",
    "KTLS_SHIM_KEY_UPDATE_MAX", "KTLS_SHIM_KEY_UPDATE_WINDOW", "KTLS_SHIM_POST_HANDSHAKE_AUTH",
    "KTLS_SHIM_CPU_SAMPLE"};
#define KNOBS (sizeof(knob_names) / sizeof(knob_names[0]))
static char knob_values[KNOBS][4200];
static int knob_set[KNOBS];

__attribute__((constructor)) static void config_snapshot(void)
{
    for (size_t i = 0; i < KNOBS; i++) {
        const char *v = getenv(knob_names[i]);
        if (!v)
            continue;
        knob_set[i] = 1;
        snprintf(knob_values[i], sizeof(knob_values[i]), "%s", v);
    }
}

static const char *env_lookup(const char *name)
{
    for (size_t i = 0; i < KNOBS; i++)
        if (strcmp(name, knob_names[i]) == 0)
            return knob_set[i] ? knob_values[i] : NULL;
    return NULL;
}

int config_knob_given(const char *name)
{
    return env_lookup(name) != NULL;
}

static void report_stderr(const char *message)
{
    char line[600];
    int n = snprintf(line, sizeof(line), "%s\n", message);
    if (n > 0)
        /* raw: config.c also builds into ktls-run, without the libc table */
        (void)!syscall(SYS_write, 2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void config_init(void)
{
    config_parse(&global_config, env_lookup, report_stderr);
}

const struct shim_config *config_get(void)
{
    pthread_once(&config_once, config_init);
    return &global_config;
}

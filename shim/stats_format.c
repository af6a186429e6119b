/* The pure half of the stats: the A/B draw, reason keys and the JSON a
 * process writes. No globals, no syscalls: unit-tested. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int stats_arm_for(uint64_t seed, uint64_t index, double sample)
{
    if (sample >= 1.0)
        return STATS_ARM_OFFLOAD;
    if (sample <= 0.0)
        return STATS_ARM_CONTROL;
    /* 53 random bits: a uniform double in [0, 1) */
    double u = (double)(splitmix64(seed ^ splitmix64(index)) >> 11) * 0x1.0p-53;
    return u < sample ? STATS_ARM_OFFLOAD : STATS_ARM_CONTROL;
}

void stats_reason_key(const char *reason, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return;
    for (const char *p = reason ? reason : "unknown"; *p && n + 1 < cap; p++) {
        if (p[0] == ' ' && p[1] == '(')
            break;
        char ch = *p;
        out[n++] = (ch == ' ' || ch == '"' || ch == '\\' || (unsigned char)ch < 0x20) ? '-' : ch;
    }
    out[n] = 0;
}

void stats_count_reason(struct stats_arm_counts *a, const char *reason, int tx)
{
    char key[STATS_REASON_KEY];
    stats_reason_key(reason, key, sizeof(key));
    int i;
    for (i = 0; i < a->nreasons; i++)
        if (strcmp(a->reasons[i].key, key) == 0)
            break;
    if (i == a->nreasons) {
        if (a->nreasons == STATS_MAX_REASONS) {
            i = STATS_MAX_REASONS - 1; /* the last slot doubles as "other" */
            snprintf(a->reasons[i].key, sizeof(a->reasons[i].key), "other");
        } else {
            a->nreasons++;
            snprintf(a->reasons[i].key, sizeof(a->reasons[i].key), "%s", key);
            a->reasons[i].n[0] = a->reasons[i].n[1] = 0;
        }
    }
    a->reasons[i].n[tx ? 1 : 0]++;
}

struct out {
    char *buf;
    size_t cap, len;
    int overflow;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0 || o->len + (size_t)n >= o->cap)
        o->overflow = 1;
    else
        o->len += (size_t)n;
}

static void put_string(struct out *o, const char *s)
{
    put(o, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            put(o, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            put(o, "\\u%04x", ch);
        else
            put(o, "%c", ch);
    }
    put(o, "\"");
}

static void put_direction(struct out *o, const struct stats_arm_counts *a, int d)
{
    put(o, "{\"kernel\": %llu, \"fallback\": {", (unsigned long long)a->kernel[d]);
    int first = 1;
    for (int i = 0; i < a->nreasons; i++) {
        if (!a->reasons[i].n[d])
            continue;
        put(o, "%s", first ? "" : ", ");
        put_string(o, a->reasons[i].key);
        put(o, ": %llu", (unsigned long long)a->reasons[i].n[d]);
        first = 0;
    }
    put(o, "}}");
}

static void put_arm(struct out *o, const char *name, const struct stats_arm_counts *a)
{
    static const char *const bytes[STATS_BYTE_KINDS] = {
        "kernel_tx", "kernel_rx", "kernel_sendfile", "openssl_tx", "openssl_rx",
        "emulated_sendfile"};
    static const char *const outcomes[STATS_OUTCOMES] = {"both", "tx_only", "rx_only", "none"};
    put(o, "    \"%s\": {\n      \"connections\": %llu,\n      \"tx\": ", name,
        (unsigned long long)a->connections);
    put_direction(o, a, 1);
    put(o, ",\n      \"rx\": ");
    put_direction(o, a, 0);
    put(o, ",\n      \"outcome\": {");
    for (int i = 0; i < STATS_OUTCOMES; i++)
        put(o, "%s\"%s\": %llu", i ? ", " : "", outcomes[i], (unsigned long long)a->outcome[i]);
    put(o, "},\n      \"bytes\": {");
    for (int i = 0; i < STATS_BYTE_KINDS; i++)
        put(o, "%s\"%s\": %llu", i ? ", " : "", bytes[i], (unsigned long long)a->bytes[i]);
    put(o, "}\n    }");
}

size_t stats_render(const struct stats_snapshot *s, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0, 0};
    put(&o, "{\n  \"pid\": %ld,\n  \"ppid\": %ld,\n  \"exe\": ", s->pid, s->ppid);
    put_string(&o, s->exe);
    put(&o, ",\n  \"run\": ");
    if (s->run_id && *s->run_id)
        put_string(&o, s->run_id);
    else
        put(&o, "null");
    put(&o, ",\n  \"started_unix\": %lld,\n  \"updated_unix\": %lld,\n  \"final\": %s,\n",
        s->started_unix, s->updated_unix, s->final ? "true" : "false");
    put(&o, "  \"config\": {\"mode\": ");
    put_string(&o, s->mode);
    put(&o, ", \"sample\": %.17g, \"seed\": ", s->sample);
    if (s->seed_set)
        put(&o, "%llu", s->seed);
    else
        put(&o, "null");
    put(&o, "},\n  \"kernel_tls\": %s,\n  \"arms\": {\n", s->kernel_tls ? "true" : "false");
    put_arm(&o, "offload", &s->arm[STATS_ARM_OFFLOAD]);
    put(&o, ",\n");
    put_arm(&o, "control", &s->arm[STATS_ARM_CONTROL]);
    put(&o, "\n  }\n}\n");
    return o.overflow ? 0 : o.len;
}


/* The pure half of the stats: the A/B draw, reason keys and the JSON a
 * process writes. No globals, no syscalls: unit-tested. */
#include <stdio.h>
#include <string.h>

#include "stats_format.h"
#include "version.h"

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

/* ---- the JSON, built without stdio: the signal handler renders it too ---- */

int stats_append(char *buf, size_t cap, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n >= cap)
        return 0;
    memcpy(buf + *len, text, n + 1);
    *len += n;
    return 1;
}

int stats_append_u64(char *buf, size_t cap, size_t *len, unsigned long long v)
{
    char digits[24];
    size_t i = sizeof(digits);
    digits[--i] = 0;
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return stats_append(buf, cap, len, digits + i);
}

struct out {
    char *buf;
    size_t cap, len;
    int overflow;
};

static void put(struct out *o, const char *text)
{
    if (!stats_append(o->buf, o->cap, &o->len, text))
        o->overflow = 1;
}

static void put_u64(struct out *o, unsigned long long v)
{
    if (!stats_append_u64(o->buf, o->cap, &o->len, v))
        o->overflow = 1;
}

static void put_i64(struct out *o, long long v)
{
    if (v < 0) {
        put(o, "-");
        put_u64(o, 0ULL - (unsigned long long)v);
    } else
        put_u64(o, (unsigned long long)v);
}

static void put_string(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(o, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[7] = {0};
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
        } else
            esc[0] = (char)ch;
        put(o, esc);
    }
    put(o, "\"");
}

static void put_field_u64(struct out *o, const char *sep, const char *name, unsigned long long v)
{
    put(o, sep);
    put_string(o, name);
    put(o, ": ");
    put_u64(o, v);
}

/* hi * 2^64 + lo in decimal, by long division in 32-bit limbs (no
 * 128-bit type needed, nothing a signal handler may not do) */
static void put_wide(struct out *o, const struct cpu_wide *w)
{
    uint32_t limb[4] = {(uint32_t)(w->hi >> 32), (uint32_t)w->hi, (uint32_t)(w->lo >> 32), (uint32_t)w->lo};
    char digits[48];
    int i = (int)sizeof(digits) - 1;
    digits[i] = 0;
    do {
        uint64_t rem = 0;
        int zero = 1;
        for (int k = 0; k < 4; k++) {
            uint64_t cur = (rem << 32) | limb[k];
            limb[k] = (uint32_t)(cur / 10);
            rem = cur % 10;
            zero &= limb[k] == 0;
        }
        digits[--i] = (char)('0' + rem);
        if (zero)
            break;
    } while (i > 0);
    put(o, digits + i);
}

static void put_moments(struct out *o, const struct cpu_moments *m)
{
    static const char *const wide_names[] = {"conn_ns", "conn_bytes", "conn_ns_sq", "conn_bytes_sq",
                                             "conn_ns_bytes"};
    const struct cpu_wide *wide[] = {&m->conn_ns, &m->conn_bytes, &m->conn_ns_sq, &m->conn_bytes_sq,
                                     &m->conn_ns_bytes};
    put_field_u64(o, "{", "calls", m->calls);
    put_field_u64(o, ", ", "bytes", m->bytes);
    put_field_u64(o, ", ", "ns", m->ns);
    put_field_u64(o, ", ", "conns", m->conns);
    put_field_u64(o, ", ", "conn_calls", m->conn_calls);
    for (int i = 0; i < 5; i++) {
        put(o, ", ");
        put_string(o, wide_names[i]);
        put(o, ": ");
        put_wide(o, wide[i]);
    }
    put(o, "}");
}

static void put_cpu(struct out *o, const struct cpu_counts *c)
{
    put(o, ",\n      \"cpu\": {\"tx\": ");
    put_moments(o, &c->dir[CPU_TX]);
    put(o, ",\n              \"rx\": ");
    put_moments(o, &c->dir[CPU_RX]);
    put(o, ",\n              \"handshake\": ");
    put_field_u64(o, "{", "calls", c->handshakes);
    put_field_u64(o, ", ", "ns", c->handshake_ns);
    put(o, "}}");
}

static int same_key(enum fallback_reason a, enum fallback_reason b)
{
    char ka[STATS_REASON_KEY], kb[STATS_REASON_KEY];
    stats_reason_key(reason_text(a), ka, sizeof(ka));
    stats_reason_key(reason_text(b), kb, sizeof(kb));
    return strcmp(ka, kb) == 0;
}

/* Each key once, at its first reason, with the counts of every reason that
 * shares it. Keys are made here, a few at a time: this runs in a signal
 * handler too, maybe on a small alternate stack. */
static void put_direction(struct out *o, const struct stats_arm_counts *a, int d)
{
    put(o, "{\"kernel\": ");
    put_u64(o, a->kernel[d]);
    put(o, ", \"fallback\": {");
    const char *sep = "";
    for (int r = FB_NONE + 1; r < FB_COUNT; r++) {
        if (!a->reasons[r][d])
            continue;
        int first = 1;
        for (int e = FB_NONE + 1; e < r && first; e++)
            first = !(a->reasons[e][d] && same_key(e, r));
        if (!first)
            continue;
        uint64_t n = a->reasons[r][d];
        for (int e = r + 1; e < FB_COUNT; e++)
            if (a->reasons[e][d] && same_key(e, r))
                n += a->reasons[e][d];
        char key[STATS_REASON_KEY];
        stats_reason_key(reason_text(r), key, sizeof(key));
        put_field_u64(o, sep, key, n);
        sep = ", ";
    }
    put(o, "}}");
}

static void put_arm(struct out *o, const char *name, const struct stats_arm_counts *a)
{
    static const char *const bytes[STATS_BYTE_KINDS] = {
        "kernel_tx", "kernel_rx", "kernel_sendfile", "openssl_tx", "openssl_rx",
        "emulated_sendfile"};
    static const char *const outcomes[STATS_OUTCOMES] = {"both", "tx_only", "rx_only", "none"};
    static const char *const events[STATS_EVENTS] = {"rekey_tx", "rekey_rx",
                                                     "keyupdate-unsupported-kernel", "rekey_failed",
                                                     "keyupdate-storm"};
    put(o, "    ");
    put_string(o, name);
    put(o, ": {\n      \"connections\": ");
    put_u64(o, a->connections);
    put(o, ",\n      \"tx\": ");
    put_direction(o, a, 1);
    put(o, ",\n      \"rx\": ");
    put_direction(o, a, 0);
    put(o, ",\n      \"outcome\": {");
    for (int i = 0; i < STATS_OUTCOMES; i++)
        put_field_u64(o, i ? ", " : "", outcomes[i], a->outcome[i]);
    put(o, "},\n      \"bytes\": {");
    for (int i = 0; i < STATS_BYTE_KINDS; i++)
        put_field_u64(o, i ? ", " : "", bytes[i], a->bytes[i]);
    put(o, "},\n      \"events\": {");
    for (int i = 0; i < STATS_EVENTS; i++)
        put_field_u64(o, i ? ", " : "", events[i], a->events[i]);
    put(o, "}");
    put_cpu(o, &a->cpu);
    put(o, "\n    }");
}

void stats_format_sample(double sample, char *out, size_t cap)
{
    snprintf(out, cap, "%.17g", sample);
}

size_t stats_render(const struct stats_snapshot *s, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0, 0};
    if (cap)
        buf[0] = 0;
    put(&o, "{\n  \"pid\": ");
    put_i64(&o, s->pid);
    put(&o, ",\n  \"ppid\": ");
    put_i64(&o, s->ppid);
    put(&o, ",\n  \"exe\": ");
    put_string(&o, s->exe);
    put(&o, ",\n  \"version\": ");
    put_string(&o, KTLS_SHIM_VERSION);
    put(&o, ",\n  \"run\": ");
    if (s->run_id && *s->run_id)
        put_string(&o, s->run_id);
    else
        put(&o, "null");
    put(&o, ",\n  \"started_unix\": ");
    put_i64(&o, s->started_unix);
    put(&o, ",\n  \"updated_unix\": ");
    put_i64(&o, s->updated_unix);
    put(&o, s->final ? ",\n  \"final\": true" : ",\n  \"final\": false");
    put(&o, ",\n  \"signal\": ");
    if (s->signal)
        put_i64(&o, s->signal);
    else
        put(&o, "null");
    put(&o, ",\n  \"config\": {\"mode\": ");
    put_string(&o, s->mode);
    put(&o, ", \"sample\": ");
    put(&o, s->sample[0] ? s->sample : "null");
    put(&o, ", \"seed\": ");
    if (s->seed_set)
        put_u64(&o, s->seed);
    else
        put(&o, "null");
    put(&o, s->kernel_tls ? "},\n  \"kernel_tls\": true,\n  \"passed_through\": "
                          : "},\n  \"kernel_tls\": false,\n  \"passed_through\": ");
    put_u64(&o, s->passed_through);
    put(&o, ",\n  \"ssl_objects\": ");
    put_u64(&o, s->ssl_objects);
    put(&o, ",\n  \"handshake_failures\": ");
    put_u64(&o, s->handshake_failures);
    put(&o, ",\n  \"arms\": {\n");
    put_arm(&o, "offload", &s->arm[STATS_ARM_OFFLOAD]);
    put(&o, ",\n");
    put_arm(&o, "control", &s->arm[STATS_ARM_CONTROL]);
    put(&o, "\n  }\n}\n");
    return o.overflow ? 0 : o.len;
}

/* shim/0-pure/stats_format.c: the A/B draw is reproducible and fair, reason keys are
 * stable, and the JSON a process writes parses back to the numbers put in
 * (read with the same reader ktls-run uses). */
#include <stdlib.h>

#include "json_flat.h"
#include "stats.h"
#include "stats_process.h"
#include "unit.h"
#include "version.h"

TEST(arm_draw_edges_are_exact)
{
    for (uint64_t i = 0; i < 1000; i++) {
        CHECK_EQ_INT(stats_arm_for(7, i, 1.0), STATS_ARM_OFFLOAD);
        CHECK_EQ_INT(stats_arm_for(7, i, 0.0), STATS_ARM_CONTROL);
    }
}

TEST(arm_draw_is_reproducible_and_fair)
{
    static const double samples[] = {0.01, 0.25, 0.5, 0.9};
    for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
        int offload = 0, differs = 0;
        for (uint64_t i = 0; i < 100000; i++) {
            int a = stats_arm_for(42, i, samples[k]);
            CHECK_EQ_INT(stats_arm_for(42, i, samples[k]), a);
            offload += a == STATS_ARM_OFFLOAD;
            differs += a != stats_arm_for(43, i, samples[k]);
        }
        /* binomial, n = 1e5: 5 standard deviations at most ~0.8% of n */
        double share = offload / 100000.0;
        if (share < samples[k] - 0.008 || share > samples[k] + 0.008)
            unit_fail(__FILE__, __LINE__, "sample %.2f gave %.4f", samples[k], share);
        CHECK(differs > 0); /* another seed, another split */
    }
}

TEST(reason_keys)
{
    char key[STATS_REASON_KEY];
    stats_reason_key("custom-bio (read and write BIOs differ)", key, sizeof(key));
    CHECK_STR(key, "custom-bio");
    stats_reason_key("setsockopt TLS_TX failed", key, sizeof(key));
    CHECK_STR(key, "setsockopt-TLS_TX-failed");
    stats_reason_key("kernel-no-tls (setsockopt TCP_ULP \"tls\" gives ENOENT)", key, sizeof(key));
    CHECK_STR(key, "kernel-no-tls");
    stats_reason_key(NULL, key, sizeof(key));
    CHECK_STR(key, "unknown");
    stats_reason_key("a\"b\\c\nd", key, sizeof(key)); /* nothing that needs JSON escaping */
    CHECK_STR(key, "a-b-c-d");
    char tiny[4];
    stats_reason_key("abcdefgh", tiny, sizeof(tiny));
    CHECK_STR(tiny, "abc");
}

/* shim/2-state/stats.c's table by reason: per direction, every reason kept
 * (no table to fill up, nothing folded into "other") */
TEST(reason_table_counts_every_reason_per_direction)
{
    stats_direction(STATS_ARM_CONTROL, 1, FB_CIPHER_NONE);
    stats_direction(STATS_ARM_CONTROL, 0, FB_CIPHER_UNSUPPORTED);
    stats_direction(STATS_ARM_CONTROL, 1, FB_CIPHER_NONE);
    static struct stats_snapshot s;
    stats_read(&s);
    const struct stats_arm_counts *a = &s.arm[STATS_ARM_CONTROL];
    CHECK_EQ_INT(a->reasons[FB_CIPHER_NONE][1], 2);
    CHECK_EQ_INT(a->reasons[FB_CIPHER_UNSUPPORTED][0], 1);
    for (int r = FB_NONE + 1; r < FB_COUNT; r++)
        stats_direction(STATS_ARM_CONTROL, 0, r);
    stats_direction(STATS_ARM_CONTROL, 1, FB_NONE); /* the kernel's, not a reason */
    stats_read(&s);
    uint64_t total = 0;
    for (int r = 0; r < FB_COUNT; r++)
        total += a->reasons[r][0] + a->reasons[r][1];
    CHECK_EQ_INT(total, 3 + FB_COUNT - 1); /* nothing lost */
    CHECK_EQ_INT(a->reasons[FB_NONE][1], 0);
    CHECK_EQ_INT(a->kernel[1], 1);
}

/* Reasons that share a key ("cipher", "shutdown") are one JSON member with
 * their sum; each key once, every reason's key there. */
TEST(render_sums_reasons_that_share_a_key)
{
    static struct stats_snapshot s;
    memset(&s, 0, sizeof(s));
    s.mode = "both";
    struct stats_arm_counts *a = &s.arm[STATS_ARM_CONTROL];
    for (int r = FB_NONE + 1; r < FB_COUNT; r++)
        a->reasons[r][0] = 1;
    a->reasons[FB_CIPHER_NONE][1] = 2;
    a->reasons[FB_CIPHER_UNSUPPORTED][1] = 3;
    static char json[65536];
    size_t len = stats_render(&s, json, sizeof(json));
    REQUIRE(len > 0);
    CHECK(strstr(json, "\"fallback\": {\"cipher\": 5}") != NULL); /* control's tx */
    /* control's rx: every key exactly once; as many members as keys */
    const char *open = strstr(strstr(json, "\"control\""), "\"rx\": {\"kernel\": 0, \"fallback\": {");
    REQUIRE(open != NULL);
    open = strstr(open, "\"fallback\": {") + strlen("\"fallback\": {");
    char rx[4096];
    size_t n = (size_t)(strchr(open, '}') - open);
    REQUIRE(n < sizeof(rx));
    memcpy(rx, open, n);
    rx[n] = 0;
    int keys = 0, members = 0;
    for (int r = FB_NONE + 1; r < FB_COUNT; r++) {
        char key[STATS_REASON_KEY], quoted[STATS_REASON_KEY + 8];
        stats_reason_key(reason_text(r), key, sizeof(key));
        snprintf(quoted, sizeof(quoted), "\"%s\": ", key);
        const char *at = strstr(rx, quoted);
        if (!at || strstr(at + 1, quoted))
            unit_fail(__FILE__, __LINE__, "%s not exactly once in: %s", key, rx);
        int earlier = 0;
        for (int e = FB_NONE + 1; e < r; e++) {
            char k2[STATS_REASON_KEY];
            stats_reason_key(reason_text(e), k2, sizeof(k2));
            earlier |= strcmp(k2, key) == 0;
        }
        keys += !earlier;
    }
    for (const char *p = rx; *p; p++)
        members += *p == ':';
    CHECK_EQ_INT(members, keys);
    CHECK(keys < FB_COUNT - 1); /* some keys are shared */
    CHECK(strstr(rx, "\"cipher\": 2") != NULL && strstr(rx, "\"shutdown\": 2") != NULL);
}

static void add_reason(struct stats_arm_counts *a, enum fallback_reason r, int tx)
{
    a->reasons[r][tx] = 1;
}

struct leaves {
    char text[4096];
};

static void gather(const char *path, enum json_kind kind, const char *value, void *arg)
{
    struct leaves *l = arg;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%s=%s%s\n", path,
             kind == JSON_STRING ? "s:" : "", value);
}

TEST(render_parses_back_to_the_numbers)
{
    static struct stats_snapshot s;
    memset(&s, 0, sizeof(s));
    s.pid = 4242;
    s.ppid = 1;
    snprintf(s.exe, sizeof(s.exe), "/usr/sbin/ng\"inx\n");
    s.run_id = "run-1";
    s.started_unix = 100;
    s.updated_unix = 200;
    s.final = 1;
    s.mode = "both";
    stats_format_sample(0.5, s.sample, sizeof(s.sample));
    s.seed_set = 1;
    s.seed = 18446744073709551615ULL;
    s.kernel_tls = 1;
    s.passed_through = 7;
    s.ssl_objects = 11;
    s.handshake_failures = 2;
    s.arm[STATS_ARM_OFFLOAD].connections = 3;
    s.arm[STATS_ARM_OFFLOAD].kernel[1] = 3;
    s.arm[STATS_ARM_OFFLOAD].kernel[0] = 2;
    s.arm[STATS_ARM_OFFLOAD].outcome[STATS_TX_ONLY] = 1;
    s.arm[STATS_ARM_OFFLOAD].bytes[STATS_KERNEL_SENDFILE] = 1ULL << 40;
    s.signal = 15;
    struct cpu_moments *m = &s.arm[STATS_ARM_OFFLOAD].cpu.dir[CPU_TX];
    m->calls = 5, m->bytes = 1000, m->ns = 700, m->conns = 2, m->conn_calls = 4;
    m->conn_ns = (struct cpu_wide){0, 600};
    m->conn_ns_sq = (struct cpu_wide){1, 5};                      /* 2^64 + 5 */
    m->conn_ns_bytes = (struct cpu_wide){UINT64_MAX, UINT64_MAX}; /* 2^128 - 1 */
    s.arm[STATS_ARM_CONTROL].cpu.handshakes = 9;
    s.arm[STATS_ARM_CONTROL].cpu.handshake_ns = 123456;
    add_reason(&s.arm[STATS_ARM_OFFLOAD], FB_KEY_UPDATE, 0);
    add_reason(&s.arm[STATS_ARM_CONTROL], FB_AB_CONTROL, 1);
    char json[16384];
    size_t len = stats_render(&s, json, sizeof(json));
    REQUIRE(len > 0 && len == strlen(json));
    static struct leaves l;
    memset(&l, 0, sizeof(l));
    CHECK_EQ_INT(json_flatten(json, len, gather, &l), 0);
    static const char *const want[] = {
        "pid=4242\n", "exe=s:/usr/sbin/ng\"inx\n\n", "run=s:run-1\n", "final=true\n", "signal=15\n",
        "version=s:" KTLS_SHIM_VERSION "\n", "started_unix=100\n", "updated_unix=200\n",
        "config.sample=0.5\n", "config.seed=18446744073709551615\n", "kernel_tls=true\n",
        "passed_through=7\n", "ssl_objects=11\n", "handshake_failures=2\n",
        "arms.offload.connections=3\n", "arms.offload.tx.kernel=3\n", "arms.offload.rx.kernel=2\n",
        "arms.offload.outcome.tx_only=1\n", "arms.offload.bytes.kernel_sendfile=1099511627776\n",
        "arms.offload.rx.fallback.key-update=1\n", "arms.control.tx.fallback.ab-control=1\n",
        "arms.control.connections=0\n",
        "arms.offload.cpu.tx.calls=5\n", "arms.offload.cpu.tx.bytes=1000\n", "arms.offload.cpu.tx.ns=700\n",
        "arms.offload.cpu.tx.conns=2\n", "arms.offload.cpu.tx.conn_calls=4\n", "arms.offload.cpu.tx.conn_ns=600\n",
        "arms.offload.cpu.tx.conn_bytes=0\n", "arms.offload.cpu.tx.conn_ns_sq=18446744073709551621\n",
        "arms.offload.cpu.tx.conn_ns_bytes=340282366920938463463374607431768211455\n",
        "arms.offload.cpu.rx.calls=0\n", "arms.control.cpu.handshake.calls=9\n",
        "arms.control.cpu.handshake.ns=123456\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(l.text, want[i]))
            unit_fail(__FILE__, __LINE__, "missing leaf %s in:\n%s", want[i], l.text);
    CHECK(strstr(l.text, "arms.offload.tx.fallback.key-update") == NULL);
    /* too small a buffer: 0, never a cut document */
    CHECK_EQ_INT(stats_render(&s, json, 100), 0);
    s.seed_set = 0;
    s.run_id = NULL;
    s.signal = 0;
    s.pid = -7; /* negative numbers render too */
    len = stats_render(&s, json, sizeof(json));
    memset(&l, 0, sizeof(l));
    CHECK_EQ_INT(json_flatten(json, len, gather, &l), 0);
    CHECK(strstr(l.text, "config.seed=null\n") && strstr(l.text, "run=null\n"));
    CHECK(strstr(l.text, "signal=null\n") && strstr(l.text, "pid=-7\n"));
    /* every length cut short gives 0, never a partial document */
    for (size_t cap = 0; cap < len; cap += 97)
        CHECK_EQ_INT(stats_render(&s, json, cap), 0);
    CHECK_EQ_INT(stats_render(&s, json, len + 1), len);
}

TEST(json_reader_rejects_malformed_input)
{
    static const char *const bad[] = {"", "{", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "[1 2]",
                                      "{\"a\":1} x", "\"\\q\"", "{\"a\":tru}", "\"\x01\""};
    static struct leaves l;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (json_flatten(bad[i], strlen(bad[i]), gather, &l) != -1)
            unit_fail(__FILE__, __LINE__, "accepted malformed #%zu: %s", i, bad[i]);
    char deep[64];
    memset(deep, '[', sizeof(deep));
    CHECK_EQ_INT(json_flatten(deep, sizeof(deep), gather, &l), -1); /* depth limit, no recursion blow-up */
}

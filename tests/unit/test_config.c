/* shim/1-platform/config.c: knob parsing through an injected lookup and report callback.
 * Defaults, every accepted spelling, and for each bad value: the default is
 * kept and report() is called exactly once with one line naming the knob. */
#include <stdlib.h>

#include "config.h"
#include "unit.h"

/* ---- a fake environment ------------------------------------------------- */

#define MAX_VARS 8
static struct {
    const char *name, *value;
} fake_env[MAX_VARS];
static int fake_count;

static const char *fake_lookup(const char *name)
{
    for (int i = 0; i < fake_count; i++)
        if (strcmp(fake_env[i].name, name) == 0)
            return fake_env[i].value;
    return NULL;
}

static int report_calls;
static char reports[MAX_VARS][1024];

static void fake_report(const char *message)
{
    if (report_calls < MAX_VARS)
        snprintf(reports[report_calls], sizeof(reports[0]), "%s", message);
    report_calls++;
}

static void env_clear(void)
{
    fake_count = 0;
    report_calls = 0;
    memset(reports, 0, sizeof(reports));
}

static void env_set(const char *name, const char *value)
{
    if (fake_count < MAX_VARS) {
        fake_env[fake_count].name = name;
        fake_env[fake_count].value = value;
        fake_count++;
    }
}

/* parse with exactly one knob set (name NULL: none) */
static int parse1(struct shim_config *cfg, const char *name, const char *value)
{
    env_clear();
    if (name)
        env_set(name, value);
    memset(cfg, 0xA5, sizeof(*cfg)); /* config_parse must set every field */
    return config_parse(cfg, fake_lookup, fake_report);
}

#define CHECK_DEFAULTS(cfg)                                                        \
    do {                                                                           \
        CHECK_EQ_INT((cfg).enabled, 1);                                            \
        CHECK_EQ_INT((cfg).dirs, SHIM_DIR_BOTH);                                   \
        CHECK_EQ_INT((cfg).log_level, SHIM_LOG_ERROR);                             \
        CHECK_STR((cfg).log_file, "");                                             \
        CHECK((cfg).sample == 1.0);                                                \
        CHECK((cfg).cpu_sample == 0.005);                                          \
        CHECK_EQ_INT((cfg).seed_set, 0);                                           \
        CHECK_STR((cfg).stats_prefix, "");                                         \
        CHECK_EQ_INT((cfg).stats_interval, 10);                                    \
        CHECK_STR((cfg).run_id, "");                                               \
    } while (0)

/* ---- defaults ----------------------------------------------------------- */

TEST(defaults_when_nothing_is_set)
{
    struct shim_config cfg;
    CHECK_EQ_INT(parse1(&cfg, NULL, NULL), 0);
    CHECK_DEFAULTS(cfg);
    CHECK_EQ_INT(report_calls, 0);
}

TEST(empty_values_mean_unset)
{
    static const char *const knobs[] = {"KTLS_SHIM",        "KTLS_SHIM_MODE",
                                        "KTLS_SHIM_LOG",    "KTLS_SHIM_LOG_FILE",
                                        "KTLS_SHIM_SAMPLE", "KTLS_SHIM_SEED",
                                        "KTLS_SHIM_STATS",  "KTLS_SHIM_STATS_INTERVAL"};
    struct shim_config cfg;
    env_clear();
    for (int i = 0; i < 8; i++)
        env_set(knobs[i], "");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 0);
    CHECK_DEFAULTS(cfg);
    CHECK_EQ_INT(report_calls, 0);
}

TEST(unrelated_variables_are_ignored)
{
    struct shim_config cfg;
    env_clear();
    env_set("KTLS_SHIMX", "0");
    env_set("ktls_shim", "0"); /* names are case-sensitive */
    env_set("KTLS_SHIM_MODES", "tx");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 0);
    CHECK_DEFAULTS(cfg);
    CHECK_EQ_INT(report_calls, 0);
}

/* ---- every accepted value ----------------------------------------------- */

TEST(ktls_shim_off_words_any_case)
{
    static const char *const off[] = {"0",     "off", "OFF", "Off",   "false",
                                      "FALSE", "False", "no", "NO",   "nO"};
    struct shim_config cfg;
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM", off[i]), 0);
        CHECK_EQ_INT(cfg.enabled, 0);
        CHECK_EQ_INT(cfg.dirs, SHIM_DIR_NONE);
        CHECK_EQ_INT(cfg.log_level, SHIM_LOG_ERROR);
        CHECK_STR(cfg.log_file, "");
        CHECK_EQ_INT(report_calls, 0);
    }
}

TEST(ktls_shim_on_words_any_case)
{
    static const char *const on[] = {"1",    "on",  "ON",  "On",  "true",
                                     "TRUE", "True", "yes", "YES", "Yes"};
    struct shim_config cfg;
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM", on[i]), 0);
        CHECK_DEFAULTS(cfg);
        CHECK_EQ_INT(report_calls, 0);
    }
}

TEST(ktls_shim_mode_values)
{
    static const struct {
        const char *value;
        int dirs;
    } modes[] = {
        {"both", SHIM_DIR_BOTH}, {"BOTH", SHIM_DIR_BOTH}, {"tx", SHIM_DIR_TX},
        {"TX", SHIM_DIR_TX},     {"rx", SHIM_DIR_RX},     {"Rx", SHIM_DIR_RX},
        {"off", SHIM_DIR_NONE},  {"OFF", SHIM_DIR_NONE},
    };
    struct shim_config cfg;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_MODE", modes[i].value), 0);
        CHECK_EQ_INT(cfg.dirs, modes[i].dirs);
        CHECK_EQ_INT(cfg.enabled, 1); /* MODE=off moves nothing but does not disable */
        CHECK_EQ_INT(cfg.log_level, SHIM_LOG_ERROR);
        CHECK_EQ_INT(report_calls, 0);
    }
}

TEST(ktls_shim_log_values)
{
    static const struct {
        const char *value;
        int level;
    } levels[] = {
        {"off", SHIM_LOG_OFF},     {"OFF", SHIM_LOG_OFF},   {"error", SHIM_LOG_ERROR},
        {"Error", SHIM_LOG_ERROR}, {"info", SHIM_LOG_INFO}, {"INFO", SHIM_LOG_INFO},
        {"debug", SHIM_LOG_DEBUG}, {"DeBuG", SHIM_LOG_DEBUG},
    };
    struct shim_config cfg;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_LOG", levels[i].value), 0);
        CHECK_EQ_INT(cfg.log_level, levels[i].level);
        CHECK_EQ_INT(cfg.enabled, 1);
        CHECK_EQ_INT(cfg.dirs, SHIM_DIR_BOTH);
        CHECK_EQ_INT(report_calls, 0);
    }
}

TEST(ktls_shim_log_file_values)
{
    struct shim_config cfg;
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_LOG_FILE", "/var/log/ktls-shim.log"), 0);
    CHECK_STR(cfg.log_file, "/var/log/ktls-shim.log");
    CHECK_EQ_INT(report_calls, 0);

    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_LOG_FILE", "relative/with space.log"), 0);
    CHECK_STR(cfg.log_file, "relative/with space.log");

    /* the longest that fits: 4095 bytes + NUL */
    char *path = malloc(sizeof(cfg.log_file));
    REQUIRE(path);
    memset(path, 'p', sizeof(cfg.log_file) - 1);
    path[0] = '/';
    path[sizeof(cfg.log_file) - 1] = 0;
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_LOG_FILE", path), 0);
    CHECK_EQ_INT(strlen(cfg.log_file), sizeof(cfg.log_file) - 1);
    CHECK(strcmp(cfg.log_file, path) == 0);
    CHECK_EQ_INT(report_calls, 0);
    free(path);
}

TEST(sample_seed_stats_values)
{
    static const struct {
        const char *value;
        double sample;
    } samples[] = {{"0", 0.0}, {"1", 1.0}, {"0.5", 0.5}, {".25", 0.25}, {"1.0", 1.0},
                   {"0.001", 0.001}, {"1e-1", 0.1}};
    struct shim_config cfg;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_SAMPLE", samples[i].value), 0);
        CHECK(cfg.sample == samples[i].sample);
        CHECK_EQ_INT(report_calls, 0);
    }
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_SEED", "0"), 0);
    CHECK_EQ_INT(cfg.seed_set, 1);
    CHECK(cfg.seed == 0);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_SEED", "18446744073709551615"), 0);
    CHECK(cfg.seed == 18446744073709551615ULL);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_STATS", "/var/tmp/ktls"), 0);
    CHECK_STR(cfg.stats_prefix, "/var/tmp/ktls");
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_STATS_INTERVAL", "0"), 0);
    CHECK_EQ_INT(cfg.stats_interval, 0);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_STATS_INTERVAL", "86400"), 0);
    CHECK_EQ_INT(cfg.stats_interval, 86400);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_RUN_ID", "ab-test_1.2"), 0);
    CHECK_STR(cfg.run_id, "ab-test_1.2");
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_REKEY_RECORDS", "3"), 0);
    CHECK(cfg.rekey_records == 3);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_REKEY_RECORDS", "4611686018427387904"), 0);
    CHECK(cfg.rekey_records == 1ULL << 62);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_NO_REKEY", "rx-openssl"), 0);
    CHECK_EQ_INT(cfg.no_rekey_rx_openssl, 1);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_NO_REKEY", "FAIL"), 0);
    CHECK_EQ_INT(cfg.no_rekey_rx_openssl, 0);
    CHECK_EQ_INT(report_calls, 0);
}

TEST(disabled_forces_no_direction_whatever_the_mode)
{
    static const char *const modes[] = {"both", "tx", "rx", "off"};
    struct shim_config cfg;
    for (int i = 0; i < 4; i++) {
        env_clear();
        env_set("KTLS_SHIM", "0");
        env_set("KTLS_SHIM_MODE", modes[i]);
        env_set("KTLS_SHIM_LOG", "debug");
        CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 0);
        CHECK_EQ_INT(cfg.enabled, 0);
        CHECK_EQ_INT(cfg.dirs, SHIM_DIR_NONE);
        CHECK_EQ_INT(cfg.log_level, SHIM_LOG_DEBUG); /* logging still configurable */
        CHECK_EQ_INT(report_calls, 0);
    }
    /* and enabled leaves the mode alone */
    env_clear();
    env_set("KTLS_SHIM", "yes");
    env_set("KTLS_SHIM_MODE", "rx");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 0);
    CHECK_EQ_INT(cfg.enabled, 1);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_RX);
}

TEST(all_knobs_together)
{
    struct shim_config cfg;
    env_clear();
    env_set("KTLS_SHIM_LOG_FILE", "/tmp/k.log");
    env_set("KTLS_SHIM_LOG", "info");
    env_set("KTLS_SHIM_MODE", "tx");
    env_set("KTLS_SHIM", "on");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 0);
    CHECK_EQ_INT(cfg.enabled, 1);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_TX);
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_INFO);
    CHECK_STR(cfg.log_file, "/tmp/k.log");
    CHECK_EQ_INT(report_calls, 0);
}

/* ---- bad values ---------------------------------------------------------- */

/* For diagnostics: s with control characters written as \n, \r, \xNN, cut
 * to fit buf (keeps the "# " prefix on every output line). */
static const char *printable(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 6 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n' || c == '\r')
            n += (size_t)snprintf(buf + n, cap - n, "\\%c", c == '\n' ? 'n' : 'r');
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
        else
            buf[n++] = (char)c;
    }
    if (*s && n + 4 < cap)
        n += (size_t)snprintf(buf + n, cap - n, "...");
    buf[n] = 0;
    return buf;
}

/* One bad knob: 1 returned, defaults kept, exactly one one-line report that
 * names the knob. */
static void check_bad(const char *file, int line, const char *name, const char *value)
{
    struct shim_config cfg;
    int failures_before = unit_failure_count();
    CHECK_EQ_INT(parse1(&cfg, name, value), 1);
    CHECK_DEFAULTS(cfg);
    CHECK_EQ_INT(report_calls, 1);
    if (report_calls >= 1) {
        char named[64];
        snprintf(named, sizeof(named), "%s=", name); /* the knob, not a longer one */
        CHECK(strstr(reports[0], named) != NULL);
        CHECK(strchr(reports[0], '\n') == NULL);
        CHECK(strchr(reports[0], '\r') == NULL);
        CHECK(reports[0][0] != 0);
        CHECK(strlen(reports[0]) < 512);
    }
    if (unit_failure_count() != failures_before) {
        char v[64], r[200];
        unit_fail(file, line, "... with %s=\"%s\"; report: \"%s\"", name,
                  printable(value, v, sizeof(v)),
                  report_calls ? printable(reports[0], r, sizeof(r)) : "(none)");
    }
}
#define CHECK_BAD(name, value) check_bad(__FILE__, __LINE__, (name), (value))

TEST(bad_values_keep_defaults_and_report_once)
{
    CHECK_BAD("KTLS_SHIM", "maybe");
    CHECK_BAD("KTLS_SHIM", "2");
    CHECK_BAD("KTLS_SHIM", " 1");
    CHECK_BAD("KTLS_SHIM", "enable");
    CHECK_BAD("KTLS_SHIM_MODE", "sideways");
    CHECK_BAD("KTLS_SHIM_MODE", "txrx");
    CHECK_BAD("KTLS_SHIM_MODE", "0");
    CHECK_BAD("KTLS_SHIM_LOG", "loud");
    CHECK_BAD("KTLS_SHIM_LOG", "warn");
    CHECK_BAD("KTLS_SHIM_LOG", "3");

    /* a path that does not fit log_file (4096 bytes with the NUL) */
    static char long_path[4097];
    memset(long_path, 'q', sizeof(long_path) - 1);
    long_path[0] = '/';
    CHECK_BAD("KTLS_SHIM_LOG_FILE", long_path);
    static char longer_path[20000];
    memset(longer_path, 'r', sizeof(longer_path) - 1);
    CHECK_BAD("KTLS_SHIM_LOG_FILE", longer_path);

    CHECK_BAD("KTLS_SHIM_SAMPLE", "half");
    CHECK_BAD("KTLS_SHIM_SAMPLE", "1.5");
    CHECK_BAD("KTLS_SHIM_SAMPLE", "-0.1");
    CHECK_BAD("KTLS_SHIM_SAMPLE", "nan");
    CHECK_BAD("KTLS_SHIM_SAMPLE", "inf");
    CHECK_BAD("KTLS_SHIM_SAMPLE", "0.5x");
    CHECK_BAD("KTLS_SHIM_CPU_SAMPLE", "often");
    CHECK_BAD("KTLS_SHIM_CPU_SAMPLE", "2");
    CHECK_BAD("KTLS_SHIM_CPU_SAMPLE", "-0.01");
    CHECK_BAD("KTLS_SHIM_CPU_SAMPLE", "nan");
    CHECK_BAD("KTLS_SHIM_SAMPLE", "50%");
    CHECK_BAD("KTLS_SHIM_SEED", "-1");
    CHECK_BAD("KTLS_SHIM_SEED", "0x10");
    CHECK_BAD("KTLS_SHIM_SEED", " 7");
    CHECK_BAD("KTLS_SHIM_SEED", "18446744073709551616");
    CHECK_BAD("KTLS_SHIM_STATS_INTERVAL", "86401");
    CHECK_BAD("KTLS_SHIM_STATS_INTERVAL", "1.5");
    CHECK_BAD("KTLS_SHIM_STATS_INTERVAL", "-5");
    CHECK_BAD("KTLS_SHIM_REKEY_RECORDS", "0");
    CHECK_BAD("KTLS_SHIM_REKEY_RECORDS", "4611686018427387905");
    CHECK_BAD("KTLS_SHIM_REKEY_RECORDS", "1e6");
    CHECK_BAD("KTLS_SHIM_NO_REKEY", "openssl");
    CHECK_BAD("KTLS_SHIM_RUN_ID", "a b");
    CHECK_BAD("KTLS_SHIM_RUN_ID", "x/../y");
    static char long_id[66];
    memset(long_id, 'i', sizeof(long_id) - 1);
    CHECK_BAD("KTLS_SHIM_RUN_ID", long_id);
    static char long_prefix[4000];
    memset(long_prefix, 's', sizeof(long_prefix) - 1);
    CHECK_BAD("KTLS_SHIM_STATS", long_prefix);

    /* a long bad value still gives a bounded single line */
    static char long_word[3000];
    memset(long_word, 'w', sizeof(long_word) - 1);
    CHECK_BAD("KTLS_SHIM_MODE", long_word);
}

TEST(several_bad_values_one_report_each)
{
    static const char *const names[] = {"KTLS_SHIM", "KTLS_SHIM_MODE", "KTLS_SHIM_LOG"};
    struct shim_config cfg;
    env_clear();
    env_set("KTLS_SHIM", "perhaps");
    env_set("KTLS_SHIM_MODE", "upward");
    env_set("KTLS_SHIM_LOG", "shout");
    env_set("KTLS_SHIM_LOG_FILE", "/ok/path");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 3);
    CHECK_EQ_INT(report_calls, 3);
    CHECK_EQ_INT(cfg.enabled, 1);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_BOTH);
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_ERROR);
    CHECK_STR(cfg.log_file, "/ok/path"); /* the good one still applies */
    for (int n = 0; n < 3 && report_calls == 3; n++) {
        char named[64];
        int mentioned = 0;
        snprintf(named, sizeof(named), "%s=", names[n]);
        for (int r = 0; r < 3; r++)
            mentioned += strstr(reports[r], named) != NULL;
        if (mentioned != 1)
            unit_fail(__FILE__, __LINE__, "%s is named in %d report(s), want 1", names[n],
                      mentioned);
    }
}

TEST(bad_value_next_to_good_ones)
{
    struct shim_config cfg;
    env_clear();
    env_set("KTLS_SHIM", "0");
    env_set("KTLS_SHIM_LOG", "verbose");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, fake_report), 1);
    CHECK_EQ_INT(report_calls, 1);
    CHECK_EQ_INT(cfg.enabled, 0);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_NONE);
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_ERROR);
}

TEST(null_report_callback_is_allowed)
{
    struct shim_config cfg;
    env_clear();
    env_set("KTLS_SHIM_MODE", "sideways");
    env_set("KTLS_SHIM_LOG", "debug");
    CHECK_EQ_INT(config_parse(&cfg, fake_lookup, NULL), 1);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_BOTH);
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_DEBUG);
}

/* config.h promises one line per bad value; a value that itself holds a line
 * break must not split the report (nor let the environment forge a second
 * "ktls-shim:" line on stderr). */
TEST(report_stays_one_line_when_the_value_has_a_newline)
{
    CHECK_BAD("KTLS_SHIM_MODE", "side\nways");
    CHECK_BAD("KTLS_SHIM", "maybe\r\nktls-shim: forged line");
    CHECK_BAD("KTLS_SHIM_LOG", "\nloud");
}

TEST(key_update_storm_knobs)
{
    struct shim_config cfg;
    CHECK_EQ_INT(parse1(&cfg, NULL, NULL), 0);
    CHECK_EQ_INT(cfg.key_update_max, 32);
    CHECK_EQ_INT(cfg.key_update_window, 1);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_KEY_UPDATE_MAX", "0"), 0);
    CHECK_EQ_INT(cfg.key_update_max, 0);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_KEY_UPDATE_MAX", "1000"), 0);
    CHECK_EQ_INT(cfg.key_update_max, 1000);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_KEY_UPDATE_MAX", "-1"), 1);
    CHECK_EQ_INT(cfg.key_update_max, 32);
    CHECK(strstr(reports[0], "KTLS_SHIM_KEY_UPDATE_MAX") != NULL);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_KEY_UPDATE_WINDOW", "60"), 0);
    CHECK_EQ_INT(cfg.key_update_window, 60);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_KEY_UPDATE_WINDOW", "0"), 1);
    CHECK_EQ_INT(cfg.key_update_window, 1);
    CHECK_EQ_INT(report_calls, 1);
}

TEST(post_handshake_auth_knob)
{
    struct shim_config cfg;
    CHECK_EQ_INT(parse1(&cfg, NULL, NULL), 0);
    CHECK_EQ_INT(cfg.pha_move, 0);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_POST_HANDSHAKE_AUTH", "MOVE"), 0);
    CHECK_EQ_INT(cfg.pha_move, 1);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_POST_HANDSHAKE_AUTH", "keep"), 0);
    CHECK_EQ_INT(cfg.pha_move, 0);
    CHECK_EQ_INT(parse1(&cfg, "KTLS_SHIM_POST_HANDSHAKE_AUTH", "sometimes"), 1);
    CHECK_EQ_INT(cfg.pha_move, 0);
    CHECK(strstr(reports[0], "KTLS_SHIM_POST_HANDSHAKE_AUTH") != NULL);
}

/* Knob parsing: defaults, every accepted value, and one clear line per bad value. */
#include "config.h"
#include "unit.h"

static const char *env_names[8], *env_values[8];
static int env_count, reports;
static char last_report[512];

static const char *fake_lookup(const char *name)
{
    for (int i = 0; i < env_count; i++)
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    return NULL;
}

static void fake_report(const char *message)
{
    reports++;
    snprintf(last_report, sizeof(last_report), "%s", message);
}

static int parse_with(struct shim_config *cfg, const char *name, const char *value)
{
    env_count = 0;
    reports = 0;
    last_report[0] = 0;
    if (name) {
        env_names[0] = name;
        env_values[0] = value;
        env_count = 1;
    }
    return config_parse(cfg, fake_lookup, fake_report);
}

TEST(defaults_when_nothing_is_set)
{
    struct shim_config cfg;
    CHECK_EQ_INT(parse_with(&cfg, NULL, NULL), 0);
    CHECK_EQ_INT(cfg.enabled, 1);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_BOTH);
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_ERROR);
    CHECK(cfg.log_file[0] == 0);
    CHECK_EQ_INT(reports, 0);
}

TEST(enable_switch_accepts_the_usual_words_in_any_case)
{
    static const char *off[] = {"0", "off", "FALSE", "No"}, *on[] = {"1", "ON", "true", "yes"};
    struct shim_config cfg;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(parse_with(&cfg, "KTLS_SHIM", off[i]), 0);
        CHECK_EQ_INT(cfg.enabled, 0);
        CHECK_EQ_INT(cfg.dirs, SHIM_DIR_NONE); /* off means no direction moves */
        CHECK_EQ_INT(parse_with(&cfg, "KTLS_SHIM", on[i]), 0);
        CHECK_EQ_INT(cfg.enabled, 1);
    }
}

TEST(mode_log_level_and_log_file)
{
    struct shim_config cfg;
    parse_with(&cfg, "KTLS_SHIM_MODE", "tx");
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_TX);
    parse_with(&cfg, "KTLS_SHIM_MODE", "RX");
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_RX);
    parse_with(&cfg, "KTLS_SHIM_MODE", "off");
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_NONE);
    parse_with(&cfg, "KTLS_SHIM_MODE", "both");
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_BOTH);
    parse_with(&cfg, "KTLS_SHIM_LOG", "debug");
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_DEBUG);
    parse_with(&cfg, "KTLS_SHIM_LOG", "off");
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_OFF);
    parse_with(&cfg, "KTLS_SHIM_LOG_FILE", "/var/log/ktls.log");
    CHECK(strcmp(cfg.log_file, "/var/log/ktls.log") == 0);
    CHECK_EQ_INT(reports, 0);
}

static void check_bad(const char *name, const char *value)
{
    struct shim_config cfg;
    CHECK_EQ_INT(parse_with(&cfg, name, value), 1);
    CHECK_EQ_INT(reports, 1);
    CHECK(strstr(last_report, name) != NULL);
    CHECK(strchr(last_report, '\n') == NULL);
    CHECK_EQ_INT(cfg.enabled, 1);
    CHECK_EQ_INT(cfg.dirs, SHIM_DIR_BOTH);
    CHECK_EQ_INT(cfg.log_level, SHIM_LOG_ERROR);
    CHECK(cfg.log_file[0] == 0);
}

TEST(bad_values_keep_the_default_and_say_so_once)
{
    static char long_path[5000];
    memset(long_path, 'p', sizeof(long_path) - 1);
    check_bad("KTLS_SHIM", "maybe");
    check_bad("KTLS_SHIM_MODE", "sideways");
    check_bad("KTLS_SHIM_LOG", "loud");
    check_bad("KTLS_SHIM_LOG_FILE", long_path);
}

/* libFuzzer target: config_parse, the knob parser, on arbitrary values.
 * Input: up to four NUL-separated values for KTLS_SHIM, KTLS_SHIM_MODE,
 * KTLS_SHIM_LOG, KTLS_SHIM_LOG_FILE (missing ones are unset). Checks that
 * every result is one of the documented values and that each bad value is
 * reported exactly once, with its control characters never echoed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const char *values[4];
static int reports;

static const char *lookup(const char *name)
{
    static const char *const names[] = {"KTLS_SHIM", "KTLS_SHIM_MODE", "KTLS_SHIM_LOG",
                                        "KTLS_SHIM_LOG_FILE"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i]))
            return values[i];
    return NULL;
}

static void report(const char *message)
{
    reports++;
    for (const char *p = message; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n')
            abort(); /* a control character reached the user's terminal */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *p = copy, *end = copy + size;
    for (int i = 0; i < 4; i++) {
        values[i] = p <= end ? p : NULL;
        if (p <= end)
            p += strlen(p) + 1;
    }
    struct shim_config cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    reports = 0;
    int bad = config_parse(&cfg, lookup, report);
    if (bad != reports || bad < 0 || bad > 4)
        abort();
    if ((cfg.enabled != 0 && cfg.enabled != 1) || cfg.dirs < SHIM_DIR_NONE || cfg.dirs > SHIM_DIR_BOTH
        || cfg.log_level < SHIM_LOG_OFF || cfg.log_level > SHIM_LOG_DEBUG
        || memchr(cfg.log_file, '\0', sizeof(cfg.log_file)) == NULL)
        abort();
    free(copy);
    return 0;
}

/* One-line diagnostics to stderr or KTLS_SHIM_LOG_FILE. Never given key
 * material: callers pass names, numbers and reasons only. */
#ifndef KTLS_SHIM_LOG_H
#define KTLS_SHIM_LOG_H

#include "config.h"

void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline int shim_log_enabled(int level)
{
    return config_get()->log_level >= level;
}

#define LOG_ERROR(...) do { if (shim_log_enabled(SHIM_LOG_ERROR)) shim_log(SHIM_LOG_ERROR, __VA_ARGS__); } while (0)
#define LOG_INFO(...) do { if (shim_log_enabled(SHIM_LOG_INFO)) shim_log(SHIM_LOG_INFO, __VA_ARGS__); } while (0)
#define LOG_DEBUG(...) do { if (shim_log_enabled(SHIM_LOG_DEBUG)) shim_log(SHIM_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif

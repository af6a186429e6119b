/* libFuzzer target: the keylog line parser the shim feeds from OpenSSL's
 * keylog callback. Checks: never reads past the line, never writes past the
 * buffer (ASan), returns only secrets that are really in the line, and
 * leaves the buffer wiped when it rejects a line it had started to decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keylog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = 1 + data[0] % 64; /* 48 in the shim; smaller caps probe the limit */
    char *line = malloc(size);
    memcpy(line, data + 1, size - 1);
    line[size - 1] = '\0';
    uint8_t *out = malloc(cap);
    static const char *const labels[] = {"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "X"};
    for (int i = 0; i < 3; i++) {
        memset(out, 0xa5, cap);
        size_t n = keylog_parse_secret(line, labels[i], out, cap);
        if (n > cap)
            abort();
        if (n) {
            /* the line starts with the label and ends with those bytes in hex */
            if (strncmp(line, labels[i], strlen(labels[i])) != 0)
                abort();
            size_t len = strlen(line);
            if (len && line[len - 1] == '\n')
                len--;
            if (len < 2 * n)
                abort();
            for (size_t k = 0; k < n; k++) {
                char hex[3];
                memcpy(hex, line + len - 2 * n + 2 * k, 2);
                hex[2] = '\0';
                if ((uint8_t)strtoul(hex, NULL, 16) != out[k])
                    abort();
            }
        } else {
            /* rejected: untouched, or wiped if decoding had begun */
            int untouched = 1, wiped = 1;
            for (size_t k = 0; k < cap; k++) {
                untouched &= out[k] == 0xa5;
                wiped &= out[k] == 0;
            }
            if (!untouched && !wiped)
                abort();
        }
    }
    free(out);
    free(line);
    return 0;
}

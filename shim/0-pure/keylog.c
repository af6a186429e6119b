#include "keylog.h"

#include <string.h>

#include "keysched.h"

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

size_t keylog_parse_secret(const char *line, const char *label, uint8_t *out, size_t cap)
{
    size_t label_len = strlen(label);
    if (strncmp(line, label, label_len) != 0 || line[label_len] != ' ')
        return 0;
    const char *p = strchr(line + label_len + 1, ' ');
    if (!p)
        return 0;
    p++;
    size_t n = 0;
    while (p[0] && p[1] && n < cap) {
        int hi = hex_value(p[0]), lo = hex_value(p[1]);
        if (hi < 0 || lo < 0)
            break;
        out[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    /* the whole rest of the line, with at most one final newline */
    if (*p != '\0' && !(p[0] == '\n' && p[1] == '\0')) {
        ks_scrub(out, cap);
        return 0;
    }
    return n;
}

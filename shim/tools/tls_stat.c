#include "tls_stat.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tls_stat_read(const char *path, struct tls_stat *out)
{
    out->n = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    int bad = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[64], *end;
        int used = 0;
        if (sscanf(line, "%63s %n", name, &used) != 1 || !used) {
            bad = 1;
            break;
        }
        errno = 0;
        long long v = strtoll(line + used, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (errno || end == line + used || *end || strlen(name) >= sizeof(out->name[0])) {
            bad = 1;
            break;
        }
        for (const char *c = name; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_')
                bad = 1;
        if (bad)
            break;
        if (out->n < TLS_STAT_MAX) {
            strcpy(out->name[out->n], name);
            out->value[out->n++] = v;
        }
    }
    fclose(f);
    if (bad) {
        out->n = 0;
        errno = EINVAL;
        return -1;
    }
    return 0;
}

long long tls_stat_value(const struct tls_stat *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name))
            return s->value[i];
    return 0;
}

/* The kernel's kTLS counters, /proc/net/tls_stat: one "Name value" line each.
 * They are per network namespace (a container's are its own), counted since
 * the namespace was made; the file exists once the tls module is loaded. */
#ifndef KTLS_TLS_STAT_H
#define KTLS_TLS_STAT_H

#define TLS_STAT_MAX 48

struct tls_stat {
    int n;
    char name[TLS_STAT_MAX][40];
    long long value[TLS_STAT_MAX];
};

/* 0 with every counter read; -1 with errno when the file cannot be opened,
 * -1 with EINVAL for a line that is not "Name value". */
int tls_stat_read(const char *path, struct tls_stat *out);
/* A counter's value, 0 when this kernel has no such counter. */
long long tls_stat_value(const struct tls_stat *s, const char *name);

#endif

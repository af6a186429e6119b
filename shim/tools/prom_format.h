/* ktls-stats --prometheus: summed stats files and the kernel's counters in
 * the Prometheus text exposition format, as node_exporter's textfile
 * collector reads it (no timestamps; each family's HELP and TYPE once,
 * before its samples; counters named *_total). */
#ifndef KTLS_PROM_FORMAT_H
#define KTLS_PROM_FORMAT_H

#include <stdio.h>

#include "run_stats.h"
#include "tls_stat.h"

/* kernel: NULL when /proc/net/tls_stat is not there (or not asked for) */
void prom_write(FILE *to, const struct run_totals *t, const struct tls_stat *kernel);

#endif

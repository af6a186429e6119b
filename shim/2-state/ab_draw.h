/* The A/B draw: which arm (offload or control, stats_format.h) each
 * connection of a process is in. Connection number i of a process is in the
 * arm stats_arm_for(seed, i, KTLS_SHIM_SAMPLE) says, so KTLS_SHIM_SEED
 * reproduces a split and, unseeded, each process splits its own way. */
#ifndef KTLS_SHIM_AB_DRAW_H
#define KTLS_SHIM_AB_DRAW_H

#include <stdint.h>

#include "stats.h"

struct shim_config;

/* The process's seed: KTLS_SHIM_SEED where set, else random (a draw of the
 * process's, stats_process.c). */
uint64_t ab_draw_seed(const struct shim_config *cfg, uint64_t random);
/* The arm of the process's next connection. */
int ab_draw_arm(const struct stats_process *p);
/* A forked child numbers its connections from 0 again. */
void ab_draw_reset(void);

#endif

#include "ab_draw.h"

#include <stdatomic.h>

#include "config.h"

static atomic_ullong next_index;

uint64_t ab_draw_seed(const struct shim_config *cfg, uint64_t random)
{
    return cfg->seed_set ? cfg->seed : random;
}

int ab_draw_arm(const struct stats_process *p)
{
    uint64_t i = atomic_fetch_add_explicit(&next_index, 1, memory_order_relaxed);
    return stats_arm_for(p->arm_seed, i, p->cfg->sample);
}

void ab_draw_reset(void)
{
    atomic_store(&next_index, 0);
}

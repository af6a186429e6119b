#include "stats.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cpu_sample.h"
#include "kernel.h"

struct live_arm {
    atomic_ullong connections, kernel[2], outcome[STATS_OUTCOMES], bytes[STATS_BYTE_KINDS];
    atomic_ullong events[STATS_EVENTS];
};

static struct live_arm live[STATS_ARMS];
/* directions left to OpenSSL, by arm, reason and direction ([0] rx, [1] tx) */
static atomic_ullong live_reasons[STATS_ARMS][FB_COUNT][2];
static atomic_int any_connection;
static atomic_ullong in_process[STATS_IN_PROCESS];

int stats_on(void)
{
    return config_get()->stats_prefix[0] != 0;
}

void stats_connection(int arm)
{
    atomic_fetch_add_explicit(&live[arm].connections, 1, memory_order_relaxed);
    atomic_store_explicit(&any_connection, 1, memory_order_relaxed);
}

void stats_count_in_process(enum stats_in_process what)
{
    atomic_fetch_add_explicit(&in_process[what], 1, memory_order_relaxed);
    atomic_store_explicit(&any_connection, 1, memory_order_relaxed);
}

void stats_direction(int arm, int tx, enum fallback_reason why)
{
    if ((unsigned)why >= FB_COUNT)
        return; /* never (the enum is the caller's): counted nowhere, never out of bounds */
    if (why == FB_NONE)
        atomic_fetch_add_explicit(&live[arm].kernel[tx ? 1 : 0], 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&live_reasons[arm][why][tx ? 1 : 0], 1, memory_order_relaxed);
}

void stats_outcome(int arm, int tx_kernel, int rx_kernel)
{
    int k = tx_kernel ? (rx_kernel ? STATS_BOTH : STATS_TX_ONLY)
                      : (rx_kernel ? STATS_RX_ONLY : STATS_NONE);
    atomic_fetch_add_explicit(&live[arm].outcome[k], 1, memory_order_relaxed);
}

void stats_count_bytes(int arm, enum stats_bytes kind, uint64_t n)
{
    atomic_fetch_add_explicit(&live[arm].bytes[kind], n, memory_order_relaxed);
}

void stats_event(int arm, enum stats_event ev)
{
    atomic_fetch_add_explicit(&live[arm].events[ev], 1, memory_order_relaxed);
}

int stats_any_counted(void)
{
    return atomic_load_explicit(&any_connection, memory_order_relaxed);
}

/* async-signal-safe: the signal-time flush takes it */
void stats_snapshot(struct stats_snapshot *s, const struct stats_process *p, int final, int sig)
{
    static const char *const modes[] = {"off", "tx", "rx", "both"};
    const struct shim_config *cfg = p->cfg;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    memset(s, 0, sizeof(*s));
    s->pid = (long)getpid();
    s->ppid = (long)getppid();
    memcpy(s->exe, p->exe, sizeof(s->exe));
    s->run_id = cfg->run_id;
    s->started_unix = p->started_unix;
    s->updated_unix = (long long)now.tv_sec;
    s->final = final;
    s->signal = sig;
    s->mode = modes[cfg->dirs & 3];
    memcpy(s->sample, p->sample, sizeof(s->sample));
    s->seed_set = cfg->seed_set;
    s->seed = cfg->seed;
    /* an atomic load once probed (stats_process.c made sure) */
    s->kernel_tls = kernel_tls_available();
    s->passed_through = atomic_load_explicit(&in_process[STATS_PASSED_THROUGH], memory_order_relaxed);
    s->ssl_objects = atomic_load_explicit(&in_process[STATS_SSL_OBJECTS], memory_order_relaxed);
    s->handshake_failures =
        atomic_load_explicit(&in_process[STATS_HANDSHAKE_FAILURES], memory_order_relaxed);
    struct cpu_counts cpu[STATS_ARMS];
    cpu_sample_read(cpu, STATS_ARMS);
    for (int a = 0; a < STATS_ARMS; a++) {
        struct stats_arm_counts *c = &s->arm[a];
        c->cpu = cpu[a];
        c->connections = atomic_load_explicit(&live[a].connections, memory_order_relaxed);
        for (int d = 0; d < 2; d++)
            c->kernel[d] = atomic_load_explicit(&live[a].kernel[d], memory_order_relaxed);
        for (int i = 0; i < STATS_OUTCOMES; i++)
            c->outcome[i] = atomic_load_explicit(&live[a].outcome[i], memory_order_relaxed);
        for (int i = 0; i < STATS_BYTE_KINDS; i++)
            c->bytes[i] = atomic_load_explicit(&live[a].bytes[i], memory_order_relaxed);
        for (int i = 0; i < STATS_EVENTS; i++)
            c->events[i] = atomic_load_explicit(&live[a].events[i], memory_order_relaxed);
        for (int r = 0; r < FB_COUNT; r++)
            for (int d = 0; d < 2; d++)
                c->reasons[r][d] = atomic_load_explicit(&live_reasons[a][r][d], memory_order_relaxed);
    }
}

void stats_reset(void)
{
    memset(live, 0, sizeof(live));
    memset(live_reasons, 0, sizeof(live_reasons));
    atomic_store(&any_connection, 0);
    for (int i = 0; i < STATS_IN_PROCESS; i++)
        atomic_store(&in_process[i], 0);
}

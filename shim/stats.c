#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kernel.h"
#include "libc.h"

/* ---- the process's counters ---- */

struct live_arm {
    atomic_ullong connections, kernel[2], outcome[STATS_OUTCOMES], bytes[STATS_BYTE_KINDS];
};

static struct live_arm live[STATS_ARMS];
static atomic_int any_connection;
static atomic_ullong next_index;
static atomic_llong last_flush = -1000000; /* monotonic seconds */
static long long started_unix;
static uint64_t arm_seed;
/* reason tables change at decision time only (not per byte) */
static pthread_mutex_t reasons_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_arm_counts reasons[STATS_ARMS];
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void draw_seed(void)
{
    const struct shim_config *cfg = config_get();
    if (cfg->seed_set) {
        arm_seed = cfg->seed;
        return;
    }
    if (getrandom(&arm_seed, sizeof(arm_seed), GRND_NONBLOCK) != sizeof(arm_seed))
        arm_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&arm_seed;
}

/* A forked child is a process of its own: its own file, its own counts, and
 * (unless seeded) its own A/B draw. */
static void after_fork_in_child(void)
{
    pthread_mutex_init(&reasons_lock, NULL);
    pthread_mutex_init(&flush_lock, NULL);
    memset(live, 0, sizeof(live));
    memset(reasons, 0, sizeof(reasons));
    atomic_store(&any_connection, 0);
    atomic_store(&next_index, 0);
    atomic_store(&last_flush, -1000000);
    started_unix = (long long)time(NULL);
    draw_seed();
}

static void process_init(void)
{
    started_unix = (long long)time(NULL);
    draw_seed();
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

int stats_on(void)
{
    return config_get()->stats_prefix[0] != 0;
}

int stats_pick_arm(void)
{
    pthread_once(&process_once, process_init);
    uint64_t i = atomic_fetch_add_explicit(&next_index, 1, memory_order_relaxed);
    return stats_arm_for(arm_seed, i, config_get()->sample);
}

void stats_connection(int arm)
{
    pthread_once(&process_once, process_init);
    atomic_fetch_add_explicit(&live[arm].connections, 1, memory_order_relaxed);
    atomic_store_explicit(&any_connection, 1, memory_order_relaxed);
}

void stats_direction(int arm, int tx, const char *reason)
{
    if (!reason) {
        atomic_fetch_add_explicit(&live[arm].kernel[tx ? 1 : 0], 1, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&reasons_lock);
    stats_count_reason(&reasons[arm], reason, tx);
    pthread_mutex_unlock(&reasons_lock);
}

void stats_outcome(int arm, int tx_kernel, int rx_kernel)
{
    int k = tx_kernel ? (rx_kernel ? STATS_BOTH : STATS_TX_ONLY)
                      : (rx_kernel ? STATS_RX_ONLY : STATS_NONE);
    atomic_fetch_add_explicit(&live[arm].outcome[k], 1, memory_order_relaxed);
}

void stats_add_bytes_slow(int arm, enum stats_bytes kind, uint64_t n)
{
    atomic_fetch_add_explicit(&live[arm].bytes[kind], n, memory_order_relaxed);
}

static void snapshot(struct stats_snapshot *s, int final)
{
    static const char *const modes[] = {"off", "tx", "rx", "both"};
    const struct shim_config *cfg = config_get();
    memset(s, 0, sizeof(*s));
    s->pid = (long)getpid();
    s->ppid = (long)getppid();
    ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
    s->exe[n > 0 ? n : 0] = 0;
    s->run_id = cfg->run_id;
    s->started_unix = started_unix;
    s->updated_unix = (long long)time(NULL);
    s->final = final;
    s->mode = modes[cfg->dirs & 3];
    s->sample = cfg->sample;
    s->seed_set = cfg->seed_set;
    s->seed = cfg->seed;
    s->kernel_tls = kernel_tls_available();
    pthread_mutex_lock(&reasons_lock);
    for (int a = 0; a < STATS_ARMS; a++)
        s->arm[a] = reasons[a];
    pthread_mutex_unlock(&reasons_lock);
    for (int a = 0; a < STATS_ARMS; a++) {
        struct stats_arm_counts *c = &s->arm[a];
        c->connections = atomic_load_explicit(&live[a].connections, memory_order_relaxed);
        for (int d = 0; d < 2; d++)
            c->kernel[d] = atomic_load_explicit(&live[a].kernel[d], memory_order_relaxed);
        for (int i = 0; i < STATS_OUTCOMES; i++)
            c->outcome[i] = atomic_load_explicit(&live[a].outcome[i], memory_order_relaxed);
        for (int i = 0; i < STATS_BYTE_KINDS; i++)
            c->bytes[i] = atomic_load_explicit(&live[a].bytes[i], memory_order_relaxed);
    }
}

/* Readers never see a half-written file: write a temporary, then rename. */
static void write_file(int final)
{
    static char json[16384];
    static struct stats_snapshot snap;
    snapshot(&snap, final);
    size_t len = stats_render(&snap, json, sizeof(json));
    if (!len)
        return;
    char path[4096], tmp[4096 + 8];
    snprintf(path, sizeof(path), "%s.%ld.json", config_get()->stats_prefix, snap.pid);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, json + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    int ok = off == len && libc()->close(fd) == 0;
    if (off != len)
        libc()->close(fd);
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

static void flush(int final)
{
    if (!atomic_load_explicit(&any_connection, memory_order_relaxed) || !stats_on())
        return;
    int saved = errno;
    if (final)
        pthread_mutex_lock(&flush_lock);
    else if (pthread_mutex_trylock(&flush_lock) != 0) {
        errno = saved;
        return; /* another thread is writing it right now */
    }
    write_file(final);
    pthread_mutex_unlock(&flush_lock);
    errno = saved;
}

void stats_tick(void)
{
    if (!stats_on())
        return;
    int interval = config_get()->stats_interval;
    if (interval == 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    long long now = (long long)ts.tv_sec;
    long long last = atomic_load_explicit(&last_flush, memory_order_relaxed);
    if (now - last < interval)
        return;
    if (!atomic_compare_exchange_strong(&last_flush, &last, now))
        return; /* another thread took this turn */
    flush(0);
}

/* nginx workers and most servers leave through exit(): the final numbers. */
__attribute__((destructor)) static void stats_at_exit(void)
{
    flush(1);
}

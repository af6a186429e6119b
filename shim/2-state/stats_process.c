#include "stats_process.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ab_draw.h"
#include "config.h"
#include "cpu_sample.h"
#include "kernel.h"
#include "stats_publish.h"

static struct stats_process self;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void draw_process_values(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    self.started_unix = (long long)now.tv_sec;
    uint64_t r[2] = {0, 0};
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        r[0] = (uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&self;
        r[1] = r[0] * 0x9e3779b97f4a7c15ULL ^ (uint64_t)now.tv_sec;
    }
    self.arm_seed = ab_draw_seed(self.cfg, r[0]);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        self.token[i] = hex[(r[1] >> (4 * i)) & 15];
    self.token[16] = 0;
}

/* A forked child is a process of its own: its own file, its own counts, and
 * (unless seeded) its own A/B draw. */
static void after_fork_in_child(void)
{
    stats_reset();
    ab_draw_reset();
    stats_publish_reset();
    cpu_sample_reset();
    draw_process_values();
}

static void process_init(void)
{
    self.cfg = config_get();
    draw_process_values();
    ssize_t n = readlink("/proc/self/exe", self.exe, sizeof(self.exe) - 1);
    self.exe[n > 0 ? n : 0] = 0;
    stats_format_sample(self.cfg->sample, self.sample, sizeof(self.sample));
    (void)kernel_tls_available(); /* probed here, not first in a handler */
    pthread_atfork(NULL, NULL, after_fork_in_child);
    stats_publish_begin(&self);
    if (stats_on() && self.cfg->dirs != SHIM_DIR_NONE)
        cpu_sample_init(self.cfg->cpu_sample);
}

static void begin(void)
{
    pthread_once(&process_once, process_init);
}

int stats_pick_arm(void)
{
    begin();
    return ab_draw_arm(&self);
}

/* A per-process count outside the arms; the process then has a file to write. */
static void count_in_process(enum stats_in_process what)
{
    begin();
    stats_count_in_process(what);
}

void stats_passed_through(void)
{
    count_in_process(STATS_PASSED_THROUGH);
}

void stats_ssl_made(void)
{
    count_in_process(STATS_SSL_OBJECTS);
}

void stats_handshake_failed(void)
{
    count_in_process(STATS_HANDSHAKE_FAILURES);
}

void stats_read(struct stats_snapshot *s)
{
    begin();
    stats_snapshot(s, &self, 0, 0);
}

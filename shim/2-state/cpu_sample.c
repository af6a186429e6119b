#include "cpu_sample.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"

_Atomic uint64_t cpu_sample_threshold;

struct live_wide {
    atomic_ullong hi, lo;
};
struct live_moments {
    atomic_ullong calls, bytes, ns, conns, conn_calls;
    struct live_wide conn_ns, conn_bytes, conn_ns_sq, conn_bytes_sq, conn_ns_bytes;
};
static struct {
    struct live_moments dir[2];
    atomic_ullong handshakes, handshake_ns;
} live[STATS_ARMS];

/* Per thread, from the thread's own address and the clock: a draw costs a
 * few instructions and no lock. */
static __thread uint64_t draw_state __attribute__((tls_model("initial-exec")));

void cpu_sample_init(double fraction)
{
    uint64_t t = 0;
    if (fraction >= 1)
        t = UINT64_MAX;
    else if (fraction > 0) {
        /* at least 1: a tiny fraction still samples now and then */
        double x = fraction * 18446744073709551616.0;
        t = x < 1 ? 1 : (uint64_t)x;
    }
    atomic_store_explicit(&cpu_sample_threshold, t, memory_order_relaxed);
}

void cpu_sample_reset(void)
{
    memset(live, 0, sizeof(live));
}

int cpu_sample_draw(struct cpu_mark *m)
{
    uint64_t x = draw_state;
    if (!x) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        x = ((uint64_t)(uintptr_t)&draw_state * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)now.tv_nsec ^ 1;
    }
    x ^= x << 13; /* xorshift64 */
    x ^= x >> 7;
    x ^= x << 17;
    draw_state = x;
    uint64_t t = atomic_load_explicit(&cpu_sample_threshold, memory_order_relaxed);
    if (t != UINT64_MAX && x >= t)
        return 0;
    return cpu_sample_mark(m);
}

int cpu_sample_mark(struct cpu_mark *m)
{
    if (!atomic_load_explicit(&cpu_sample_threshold, memory_order_relaxed))
        return 0;
    int saved = errno;
    int ok = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &m->t0) == 0;
    errno = saved;
    return ok;
}

uint64_t cpu_sample_elapsed(const struct cpu_mark *m)
{
    int saved = errno;
    struct timespec now;
    int ok = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0;
    errno = saved;
    if (!ok)
        return 0;
    int64_t ns = (int64_t)(now.tv_sec - m->t0.tv_sec) * 1000000000 + (now.tv_nsec - m->t0.tv_nsec);
    return ns > 0 ? (uint64_t)ns : 0;
}

/* Adds v to a two-word sum: the add that wraps the low word carries. A
 * reader between the two may see the sum 2^64 short, once in 2^64. */
static void add_wide(struct live_wide *w, unsigned __int128 v)
{
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
    uint64_t old = atomic_fetch_add_explicit(&w->lo, lo, memory_order_relaxed);
    if (old + lo < old)
        hi++;
    if (hi)
        atomic_fetch_add_explicit(&w->hi, hi, memory_order_relaxed);
}

void cpu_sample_add(int arm, int dir, uint64_t ns, uint64_t bytes, struct cpu_conn_dir *conn)
{
    if (arm < 0 || arm >= STATS_ARMS)
        return;
    struct live_moments *l = &live[arm].dir[dir ? CPU_TX : CPU_RX];
    atomic_fetch_add_explicit(&l->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->ns, ns, memory_order_relaxed);
    int me = (int)getpid();
    if (conn->pid != me)
        *conn = (struct cpu_conn_dir){.pid = me};
    conn->calls++;
    conn->bytes += bytes;
    conn->ns += ns;
}

void cpu_sample_connection_end(int arm, const struct cpu_conn_dir conn[2])
{
    if (arm < 0 || arm >= STATS_ARMS)
        return;
    for (int d = 0; d < 2; d++) {
        const struct cpu_conn_dir *c = &conn[d];
        if (!c->calls || c->pid != (int)getpid())
            continue;
        struct live_moments *l = &live[arm].dir[d];
        atomic_fetch_add_explicit(&l->conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&l->conn_calls, c->calls, memory_order_relaxed);
        add_wide(&l->conn_ns, c->ns);
        add_wide(&l->conn_bytes, c->bytes);
        add_wide(&l->conn_ns_sq, (unsigned __int128)c->ns * c->ns);
        add_wide(&l->conn_bytes_sq, (unsigned __int128)c->bytes * c->bytes);
        add_wide(&l->conn_ns_bytes, (unsigned __int128)c->ns * c->bytes);
    }
}

void cpu_sample_add_handshake(int arm, uint64_t ns)
{
    if (arm < 0 || arm >= STATS_ARMS)
        return;
    atomic_fetch_add_explicit(&live[arm].handshakes, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&live[arm].handshake_ns, ns, memory_order_relaxed);
}

static void read_wide(struct live_wide *w, struct cpu_wide *out)
{
    out->hi = atomic_load_explicit(&w->hi, memory_order_relaxed);
    out->lo = atomic_load_explicit(&w->lo, memory_order_relaxed);
}

void cpu_sample_read(struct cpu_counts *arms, int narms)
{
    for (int a = 0; a < narms && a < STATS_ARMS; a++) {
        for (int d = 0; d < 2; d++) {
            struct live_moments *l = &live[a].dir[d];
            struct cpu_moments *o = &arms[a].dir[d];
            o->calls = atomic_load_explicit(&l->calls, memory_order_relaxed);
            o->bytes = atomic_load_explicit(&l->bytes, memory_order_relaxed);
            o->ns = atomic_load_explicit(&l->ns, memory_order_relaxed);
            o->conns = atomic_load_explicit(&l->conns, memory_order_relaxed);
            o->conn_calls = atomic_load_explicit(&l->conn_calls, memory_order_relaxed);
            read_wide(&l->conn_ns, &o->conn_ns);
            read_wide(&l->conn_bytes, &o->conn_bytes);
            read_wide(&l->conn_ns_sq, &o->conn_ns_sq);
            read_wide(&l->conn_bytes_sq, &o->conn_bytes_sq);
            read_wide(&l->conn_ns_bytes, &o->conn_ns_bytes);
        }
        arms[a].handshakes = atomic_load_explicit(&live[a].handshakes, memory_order_relaxed);
        arms[a].handshake_ns = atomic_load_explicit(&live[a].handshake_ns, memory_order_relaxed);
    }
}

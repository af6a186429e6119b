#include "fdmap.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "conn.h"

/* Descriptor numbers index a two-level table: chunks of slots, allocated on
 * first use and never freed, so a slot's address never changes and no lock
 * is ever taken. A slot holds the connection registered on that number and
 * a count of lookups in progress: a connection is freed only after it left
 * its slot and the slot's readers have gone (fdmap_quiesce), and a lookup
 * takes a reference before it leaves, so it never holds freed memory. */
#define CHUNK_BITS 10
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS (1u << 16) /* 64 Mi descriptors, past Linux's nr_open ceiling */

struct slot {
    _Atomic(struct conn *) conn;
    atomic_uint readers;
};

static _Atomic(struct slot *) chunks[MAX_CHUNKS];
static atomic_int active;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A forked child has only the thread that forked: a lookup other threads had
 * in progress will never end there. */
static void after_fork_in_child(void)
{
    for (unsigned i = 0; i < MAX_CHUNKS; i++) {
        struct slot *chunk = atomic_load_explicit(&chunks[i], memory_order_relaxed);
        for (unsigned j = 0; chunk && j < CHUNK_SLOTS; j++)
            atomic_store_explicit(&chunk[j].readers, 0, memory_order_relaxed);
    }
}

static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* The slot for fd; with create, its chunk is allocated if missing (never in
 * close(), which only clears what exists). NULL when out of range/memory. */
static struct slot *slot_for(int fd, int create)
{
    if (fd < 0 || (unsigned)fd >> CHUNK_BITS >= MAX_CHUNKS)
        return NULL;
    _Atomic(struct slot *) *at = &chunks[(unsigned)fd >> CHUNK_BITS];
    struct slot *chunk = atomic_load_explicit(at, memory_order_acquire);
    if (!chunk && create) {
        struct slot *fresh = calloc(CHUNK_SLOTS, sizeof(*fresh));
        if (!fresh)
            return NULL;
        if (atomic_compare_exchange_strong_explicit(at, &chunk, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            chunk = fresh;
        else
            free(fresh); /* another thread's chunk is in place: chunk holds it */
    }
    return chunk ? &chunk[(unsigned)fd & (CHUNK_SLOTS - 1)] : NULL;
}

int fdmap_register(int fd, struct conn *c)
{
    pthread_once(&fork_once, install_fork_handler);
    struct slot *s = slot_for(fd, 1);
    if (!s)
        return 0;
    atomic_store(&s->conn, c);
    atomic_store_explicit(&active, 1, memory_order_relaxed);
    return 1;
}

void fdmap_forget(int fd, const struct conn *c)
{
    if (!fdmap_active())
        return;
    struct slot *s = slot_for(fd, 0);
    if (!s)
        return;
    if (!c) {
        /* close() of every descriptor comes here: store only to drop one */
        if (atomic_load_explicit(&s->conn, memory_order_relaxed))
            atomic_store(&s->conn, NULL);
        return;
    }
    struct conn *expected = (struct conn *)c;
    atomic_compare_exchange_strong(&s->conn, &expected, NULL);
}

void fdmap_forget_range(unsigned lo, unsigned hi)
{
    if (!fdmap_active())
        return;
    for (unsigned i = lo >> CHUNK_BITS; i < MAX_CHUNKS && i <= hi >> CHUNK_BITS; i++) {
        struct slot *chunk = atomic_load_explicit(&chunks[i], memory_order_acquire);
        for (unsigned j = 0; chunk && j < CHUNK_SLOTS; j++) {
            unsigned fd = i << CHUNK_BITS | j;
            if (fd >= lo && fd <= hi)
                atomic_store(&chunk[j].conn, NULL);
        }
    }
}

int fdmap_owns(int fd, const struct conn *c)
{
    struct slot *s = fdmap_active() ? slot_for(fd, 0) : NULL;
    return s && atomic_load_explicit(&s->conn, memory_order_acquire) == c;
}

struct conn *fdmap_acquire(int fd)
{
    struct slot *s = fdmap_active() ? slot_for(fd, 0) : NULL;
    if (!s)
        return NULL;
    atomic_fetch_add(&s->readers, 1);
    struct conn *c = atomic_load(&s->conn);
    if (c)
        conn_hold(c);
    atomic_fetch_sub(&s->readers, 1);
    return c;
}

void fdmap_quiesce(int fd)
{
    struct slot *s = slot_for(fd, 0);
    while (s && atomic_load(&s->readers) != 0)
        sched_yield();
}

int fdmap_active(void)
{
    return atomic_load_explicit(&active, memory_order_relaxed);
}

#include "fdmap.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "fdtable.h"
#include "libc.h"

/* A slot holds the reference registered on that descriptor number and a
 * count of lookups in progress: what it refers to is freed only after it
 * left its slot and the slot's readers have gone (fdmap_quiesce), and a
 * lookup takes a hold before it leaves, so it never holds freed memory. */
struct slot {
    _Atomic(void *) ref;
    atomic_uint readers;
};

static struct fdtable_chunks table_chunks;
static struct fdtable table = FDTABLE_OF(struct slot, table_chunks);
static atomic_int active;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void no_readers(void *slot, void *arg)
{
    (void)arg;
    atomic_store_explicit(&((struct slot *)slot)->readers, 0, memory_order_relaxed);
}

/* A forked child has only the thread that forked: a lookup other threads had
 * in progress will never end there. */
static void after_fork_in_child(void)
{
    fdtable_each(&table, 0, UINT_MAX, no_readers, NULL);
}

static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static struct slot *slot_for(int fd, int create)
{
    return fdtable_slot(&table, fd, create);
}

int fdmap_register(int fd, void *ref)
{
    pthread_once(&fork_once, install_fork_handler);
    struct slot *s = slot_for(fd, 1);
    if (!s)
        return 0;
    atomic_store(&s->ref, ref);
    atomic_store_explicit(&active, 1, memory_order_relaxed);
    return 1;
}

void fdmap_forget(int fd, const void *ref)
{
    if (!fdmap_active())
        return;
    struct slot *s = slot_for(fd, 0);
    if (!s)
        return;
    if (!ref) {
        /* close() of every descriptor comes here: store only to drop one,
         * and never from a vfork child (its descriptors are its own) */
        if (atomic_load_explicit(&s->ref, memory_order_relaxed) && !libc_in_vfork_child())
            atomic_store(&s->ref, NULL);
        return;
    }
    void *expected = (void *)ref;
    atomic_compare_exchange_strong(&s->ref, &expected, NULL);
}

static void no_ref(void *slot, void *arg)
{
    (void)arg;
    atomic_store(&((struct slot *)slot)->ref, NULL);
}

void fdmap_forget_range(unsigned lo, unsigned hi)
{
    if (fdmap_active() && !libc_in_vfork_child())
        fdtable_each(&table, lo, hi, no_ref, NULL);
}

int fdmap_owns(int fd, const void *ref)
{
    struct slot *s = fdmap_active() ? slot_for(fd, 0) : NULL;
    return s && atomic_load_explicit(&s->ref, memory_order_acquire) == ref;
}

void *fdmap_acquire(int fd, void (*hold)(void *ref))
{
    struct slot *s = fdmap_active() ? slot_for(fd, 0) : NULL;
    if (!s)
        return NULL;
    atomic_fetch_add(&s->readers, 1);
    void *ref = atomic_load(&s->ref);
    if (ref)
        hold(ref);
    atomic_fetch_sub(&s->readers, 1);
    return ref;
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

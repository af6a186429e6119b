#include "fdmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn **slots;
static size_t nslots;
static atomic_int active;

int fdmap_register(int fd, struct conn *c)
{
    if (fd < 0)
        return 0;
    pthread_mutex_lock(&lock);
    if ((size_t)fd >= nslots) {
        size_t n = nslots ? nslots : 256;
        while (n <= (size_t)fd)
            n *= 2;
        struct conn **grown = realloc(slots, n * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&lock);
            return 0;
        }
        memset(grown + nslots, 0, (n - nslots) * sizeof(*grown));
        slots = grown;
        nslots = n;
    }
    slots[fd] = c;
    atomic_store(&active, 1);
    pthread_mutex_unlock(&lock);
    return 1;
}

void fdmap_forget_range(unsigned lo, unsigned hi)
{
    if (!fdmap_active())
        return;
    pthread_mutex_lock(&lock);
    for (size_t fd = lo; fd < nslots && fd <= hi; fd++)
        slots[fd] = NULL;
    pthread_mutex_unlock(&lock);
}

int fdmap_owns(int fd, const struct conn *c)
{
    if (fd < 0 || !fdmap_active())
        return 0;
    pthread_mutex_lock(&lock);
    int owns = (size_t)fd < nslots && slots[fd] == c;
    pthread_mutex_unlock(&lock);
    return owns;
}

void fdmap_forget(int fd, const struct conn *c)
{
    if (fd < 0 || !fdmap_active())
        return;
    pthread_mutex_lock(&lock);
    if ((size_t)fd < nslots && (!c || slots[fd] == c))
        slots[fd] = NULL;
    pthread_mutex_unlock(&lock);
}

struct conn *fdmap_lookup(int fd)
{
    if (fd < 0 || !fdmap_active())
        return NULL;
    pthread_mutex_lock(&lock);
    struct conn *c = (size_t)fd < nslots ? slots[fd] : NULL;
    pthread_mutex_unlock(&lock);
    return c;
}

int fdmap_active(void)
{
    return atomic_load_explicit(&active, memory_order_relaxed);
}

#include "fdtable.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

/* Chunks come from mmap, not calloc: a hook may run in a signal handler that
 * interrupted the program inside malloc (a handler's write() during a watched
 * OpenSSL call binds its socket here), and malloc's lock is not reentrant. */
void *fdtable_slot(struct fdtable *t, int fd, int create)
{
    if (fd < 0 || (unsigned)fd >> FDTABLE_CHUNK_BITS >= FDTABLE_MAX_CHUNKS)
        return NULL;
    _Atomic(unsigned char *) *at = &t->chunks->at[(unsigned)fd >> FDTABLE_CHUNK_BITS];
    unsigned char *chunk = atomic_load_explicit(at, memory_order_acquire);
    if (!chunk && create) {
        size_t bytes = (size_t)FDTABLE_CHUNK_SLOTS * t->slot_size;
        int saved = errno;
        unsigned char *fresh =
            mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        errno = saved;
        if (fresh == MAP_FAILED)
            return NULL;
        if (atomic_compare_exchange_strong_explicit(at, &chunk, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            chunk = fresh;
        else
            munmap(fresh, bytes); /* another thread's chunk is in place: chunk holds it */
        errno = saved;
    }
    return chunk ? chunk + ((unsigned)fd & (FDTABLE_CHUNK_SLOTS - 1)) * t->slot_size : NULL;
}

void fdtable_each(struct fdtable *t, unsigned lo, unsigned hi, void (*each)(void *slot, void *arg),
                  void *arg)
{
    for (unsigned i = lo >> FDTABLE_CHUNK_BITS; i < FDTABLE_MAX_CHUNKS && i <= hi >> FDTABLE_CHUNK_BITS;
         i++) {
        unsigned char *chunk = atomic_load_explicit(&t->chunks->at[i], memory_order_acquire);
        for (unsigned j = 0; chunk && j < FDTABLE_CHUNK_SLOTS; j++) {
            unsigned fd = i << FDTABLE_CHUNK_BITS | j;
            if (fd >= lo && fd <= hi)
                each(chunk + j * t->slot_size, arg);
        }
    }
}

/* Memory indexed by descriptor number, for interposers that must never take
 * a lock (close() is async-signal-safe; a forked child must not wait for a
 * thread it does not have): chunks of slots allocated on first use and never
 * freed, so a slot's address never changes and any thread may use it while
 * another frees the connection it belonged to. fdmap.c (which connection is
 * on a descriptor) and sockwatch.c (bytes counted on a program's socket)
 * each keep one. */
#ifndef KTLS_SHIM_FDTABLE_H
#define KTLS_SHIM_FDTABLE_H

#include <stddef.h>

#define FDTABLE_CHUNK_BITS 10
#define FDTABLE_CHUNK_SLOTS (1u << FDTABLE_CHUNK_BITS)
#define FDTABLE_MAX_CHUNKS (1u << 16) /* 64 Mi descriptors, past Linux's nr_open ceiling */

/* 512 KiB of chunk pointers: zero-initialised (bss), so a process that
 * preloads the shim maps no initialised data for them */
struct fdtable_chunks {
    _Atomic(unsigned char *) at[FDTABLE_MAX_CHUNKS];
};
struct fdtable {
    size_t slot_size;
    struct fdtable_chunks *chunks;
};
/* static struct fdtable_chunks c; static struct fdtable t = FDTABLE_OF(slot, c); */
#define FDTABLE_OF(slot_type, chunks_var) {.slot_size = sizeof(slot_type), .chunks = &(chunks_var)}

/* fd's slot, zeroed when its chunk is new; with create, a missing chunk is
 * allocated (never from close(), which only clears what exists). NULL when
 * fd is out of range, or its chunk is missing or could not be allocated. */
void *fdtable_slot(struct fdtable *t, int fd, int create);
/* Calls each(slot, arg) for every existing slot of a descriptor from lo to hi. */
void fdtable_each(struct fdtable *t, unsigned lo, unsigned hi, void (*each)(void *slot, void *arg),
                  void *arg);

#endif

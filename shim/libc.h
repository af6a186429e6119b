/* The real libc functions the shim interposes, resolved once (a constructor,
 * or the first call if another library's constructor gets here first) into
 * typed pointers. Every layer below the interposers calls these, never the
 * exported names, which bind to our own hooks. */
#ifndef KTLS_SHIM_LIBC_H
#define KTLS_SHIM_LIBC_H

#include <sys/types.h>

struct libc_table {
    int (*close)(int fd);
    ssize_t (*sendfile)(int out_fd, int in_fd, off_t *offset, size_t count);
    ssize_t (*sendfile64)(int out_fd, int in_fd, off_t *offset, size_t count);
};

/* Never NULL, and no field is NULL (raw syscalls stand in where libc has
 * no such function). Lock-free once resolved: safe in a signal handler. */
const struct libc_table *libc(void);

#endif

/* The real libc functions the shim interposes, resolved once (a constructor,
 * or the first call if another library's constructor gets here first) into
 * typed pointers. Every layer below the interposers calls these, never the
 * exported names, which bind to our own hooks. */
#ifndef KTLS_SHIM_LIBC_H
#define KTLS_SHIM_LIBC_H

#include <stdio.h>
#include <sys/types.h>

struct libc_table {
    int (*close)(int fd);
    int (*dup2)(int oldfd, int newfd);
    int (*dup3)(int oldfd, int newfd, int flags);
    int (*close_range)(unsigned first, unsigned last, int flags);
    void (*closefrom)(int lowfd);
    int (*fclose)(FILE *stream);
    ssize_t (*sendfile)(int out_fd, int in_fd, off_t *offset, size_t count);
    ssize_t (*sendfile64)(int out_fd, int in_fd, off_t *offset, size_t count);
};

/* Never NULL, and no field is NULL (raw syscalls stand in where libc has
 * no such function). Lock-free once resolved: safe in a signal handler. */
const struct libc_table *libc(void);

#endif

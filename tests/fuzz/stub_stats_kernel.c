/* shim/2-state/stats.c asks the kernel probe for its JSON; the record fuzz target has
 * no kernel behind it (and KTLS_SHIM_STATS unset keeps stats off anyway).
 * Its played socket is always the one the connection pinned. */
#include "kernel.h"

int kernel_tls_available(void)
{
    return 1;
}

int kernel_sock_id(int fd, struct sock_id *id)
{
    (void)fd;
    id->dev = id->ino = 1;
    return 0;
}

int kernel_same_socket(int fd, const struct sock_id *id)
{
    (void)fd, (void)id;
    return 1;
}

int kernel_tx_installed(int fd)
{
    (void)fd;
    return 1;
}

int kernel_rx_installed(int fd)
{
    (void)fd;
    return 1;
}

/* only a program's own BIO waits for its socket (the fuzzed connection has a
 * socket BIO) */
int kernel_wait_writable(int fd, int timeout_ms)
{
    (void)fd, (void)timeout_ms;
    return 1;
}

#include "fake_kernel.h"

#include <sys/socket.h>

#include "kernel.h"

struct call {
    int fd, level, name;
};
static struct call calls[64];
static int ncalls;

static int fake_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    (void)val, (void)len;
    if (ncalls < (int)(sizeof(calls) / sizeof(calls[0])))
        calls[ncalls++] = (struct call){fd, level, name};
    return 0;
}

void fake_kernel_on(void)
{
    ncalls = 0;
    kernel_setsockopt = fake_setsockopt;
    kernel_tls_probe_reset();
}

void fake_kernel_off(void)
{
    kernel_setsockopt = setsockopt;
    kernel_tls_probe_reset();
}

int fake_kernel_calls(int fd, int level, int name)
{
    int n = 0;
    for (int i = 0; i < ncalls; i++)
        n += (fd < 0 || calls[i].fd == fd) && calls[i].level == level && calls[i].name == name;
    return n;
}

#include "fake_kernel.h"

#include <errno.h>
#include <sys/socket.h>

#include "kernel.h"

struct call {
    int fd, level, name;
    struct sock_id sock; /* the socket fd named: numbers are reused */
};
static struct call calls[64];
static int ncalls;
static int no_rekey;

/* a key already installed in that direction of that socket */
static int installed(const struct call *c)
{
    for (int i = 0; i < ncalls; i++)
        if (calls[i].level == SOL_TLS && calls[i].name == c->name && calls[i].sock.dev == c->sock.dev
            && calls[i].sock.ino == c->sock.ino)
            return 1;
    return 0;
}

static int fake_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    (void)val, (void)len;
    struct call c = {fd, level, name, {0, 0}};
    (void)kernel_sock_id(fd, &c.sock);
    if (no_rekey && level == SOL_TLS && installed(&c)) {
        errno = EBUSY;
        return -1;
    }
    if (ncalls < (int)(sizeof(calls) / sizeof(calls[0])))
        calls[ncalls++] = c;
    return 0;
}

void fake_kernel_on(void)
{
    ncalls = 0;
    no_rekey = 0;
    kernel_setsockopt = fake_setsockopt;
    kernel_tls_probe_reset();
}

void fake_kernel_without_rekey(void)
{
    no_rekey = 1;
    kernel_tls_probe_reset(); /* the kernel changed: ask again */
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

/* late_dlopen: a program with no link-time OpenSSL that dlopens libssl.so.3
 * after main() has started and then runs one TLS client connection through
 * function pointers. With --global it opens libssl RTLD_GLOBAL and looks the
 * SSL_* functions up in the global scope, where an LD_PRELOADed interposer
 * wins; otherwise it asks the libssl handle, which bypasses any preload.
 * Usage: late_dlopen PORT [--global]. Sends 40000 bytes, reads 40000, prints
 * "LATE sent=N received=N fnv=HEX tls_tx=0|1 tls_rx=0|1". */
#include <dlfcn.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BYTES 40000

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "late_dlopen: no %s\n", name);
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int global = argc > 2 && strcmp(argv[2], "--global") == 0;
    void *lib = dlopen("libssl.so.3", RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
    if (!lib) {
        fprintf(stderr, "late_dlopen: %s\n", dlerror());
        return 2;
    }
    void *scope = global ? RTLD_DEFAULT : lib;
    void *(*method)(void) = sym(scope, "TLS_client_method");
    void *(*ctx_new)(void *) = sym(scope, "SSL_CTX_new");
    void *(*ssl_new)(void *) = sym(scope, "SSL_new");
    int (*set_fd)(void *, int) = sym(scope, "SSL_set_fd");
    int (*connect_)(void *) = sym(scope, "SSL_connect");
    int (*write_)(void *, const void *, int) = sym(scope, "SSL_write");
    int (*read_)(void *, void *, int) = sym(scope, "SSL_read");
    int (*shutdown_)(void *) = sym(scope, "SSL_shutdown");
    void (*ssl_free)(void *) = sym(scope, "SSL_free");
    void (*ctx_free)(void *) = sym(scope, "SSL_CTX_free");

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 1;
    void *ctx = ctx_new(method());
    void *ssl = ssl_new(ctx);
    set_fd(ssl, fd);
    if (connect_(ssl) != 1)
        return 1;
    static unsigned char out[BYTES], in[BYTES];
    for (size_t i = 0; i < BYTES; i++)
        out[i] = (unsigned char)(i * 7 + 3);
    int sent = 0, got = 0;
    while (sent < BYTES) {
        int w = write_(ssl, out + sent, BYTES - sent);
        if (w <= 0)
            return 1;
        sent += w;
    }
    while (got < BYTES) {
        int r = read_(ssl, in + got, BYTES - got);
        if (r <= 0)
            break;
        got += r;
    }
    uint32_t h = 2166136261u; /* FNV-1a: enough to see a changed byte */
    for (int i = 0; i < got; i++)
        h = (h ^ in[i]) * 16777619u;
    unsigned char info[4];
    socklen_t len = sizeof(info);
    int tx = getsockopt(fd, 282, 1, info, &len) == 0;
    len = sizeof(info);
    int rx = getsockopt(fd, 282, 2, info, &len) == 0;
    shutdown_(ssl);
    ssl_free(ssl);
    ctx_free(ctx);
    close(fd);
    printf("LATE sent=%d received=%d fnv=%08x tls_tx=%d tls_rx=%d\n", sent, got, h, tx, rx);
    return got == BYTES ? 0 : 1;
}

/* two_openssl PLUGIN: two OpenSSLs in one process. This program does a TLS
 * exchange with the OpenSSL it is linked against, loads PLUGIN (built
 * against another OpenSSL, RTLD_LOCAL) and has it do one with its own, then
 * does one more: each library must get only its own objects. Prints
 * "MAIN ...", "PLUGIN ...", "MAIN ..." (exchange.h) and exits 0 when all
 * three exchanges delivered every byte. Built against an OpenSSL without
 * SSL_sendfile (1.1.1) it then looks the name up the way feature probes do
 * (dlsym RTLD_DEFAULT) and calls what it finds: "PROBE found=0|1 rc= errno=". */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#include "exchange.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: two_openssl PLUGIN.so\n");
        return 2;
    }
    char line[256];
    int ok = tls_exchange(line, sizeof(line));
    printf("MAIN %s\n", line);
    void *plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    int (*other_exchange)(char *, size_t) = plugin ? (int (*)(char *, size_t))dlsym(plugin, "other_exchange") : NULL;
    if (!other_exchange) {
        fprintf(stderr, "two_openssl: %s\n", dlerror());
        return 2;
    }
    ok &= other_exchange(line, sizeof(line));
    printf("PLUGIN %s\n", line);
    ok &= tls_exchange(line, sizeof(line));
    printf("MAIN %s\n", line);
#if OPENSSL_VERSION_NUMBER < 0x30000000L
    long (*ssl_sendfile)(SSL *, int, off_t, size_t, int) =
        (long (*)(SSL *, int, off_t, size_t, int))dlsym(RTLD_DEFAULT, "SSL_sendfile");
    errno = 0;
    long rc = ssl_sendfile ? ssl_sendfile(NULL, -1, 0, 1, 0) : 0;
    printf("PROBE found=%d rc=%ld errno=%s\n", ssl_sendfile != NULL, rc,
           errno == ENOSYS ? "ENOSYS" : errno ? "other" : "0");
#endif
    return ok ? 0 : 1;
}

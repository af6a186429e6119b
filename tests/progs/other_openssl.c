/* other_openssl.so: a plugin built against another OpenSSL than the program
 * that loads it (two_openssl.c), as a Python wheel brings its own libssl.
 * Loaded RTLD_LOCAL, its calls must reach its own OpenSSL. */
#include "exchange.h"

__attribute__((visibility("default"))) int other_exchange(char *out, size_t outlen)
{
    return tls_exchange(out, outlen);
}

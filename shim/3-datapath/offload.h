/* Deciding and performing the move of each direction to the kernel.
 * Everything that can fail (eligibility, key derivation, the sequence number)
 * happens before the SOL_TLS setsockopt; after it succeeds there is no going
 * back for that direction, so nothing fallible follows it. */
#ifndef KTLS_SHIM_OFFLOAD_H
#define KTLS_SHIM_OFFLOAD_H

#include "conn.h"

/* Call after every real OpenSSL call on a connection the shim watches: decides
 * once the handshake is finished, then installs each pending direction as soon
 * as OpenSSL holds no partial record for it. was_finished: the handshake was
 * already complete before this call, i.e. it finished out of our sight
 * (BIO_f_ssl calls OpenSSL internals directly): then we keep out. */
void offload_progress(struct conn *c, SSL *s, int was_finished);

#endif

/* What a ClientHello the program sent offers, read from the handshake
 * message OpenSSL's message callback reports. Pure: unit-tested. */
#ifndef KTLS_SHIM_HELLO_H
#define KTLS_SHIM_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define HELLO_EXT_POST_HANDSHAKE_AUTH 49 /* RFC 8446 4.2.6 */

/* 1 if msg (a whole handshake message, its 4-byte header included) is a
 * ClientHello carrying the extension ext_type; 0 otherwise, also for a
 * message too short or malformed to say. */
int hello_offers_extension(const uint8_t *msg, size_t len, unsigned ext_type);

#endif

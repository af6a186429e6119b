/* NSS key log lines, as OpenSSL hands them to the keylog callback. Pure, so
 * the fuzzer and the unit tests reach it without OpenSSL or a connection. */
#ifndef KTLS_SHIM_KEYLOG_H
#define KTLS_SHIM_KEYLOG_H

#include <stddef.h>
#include <stdint.h>

/* "<LABEL> <client_random hex> <secret hex>[\n]" with exactly LABEL ->
 * the secret's bytes in out (at most cap) and their count; 0 for any other
 * line, a malformed one, or a secret longer than cap (out is then wiped). */
size_t keylog_parse_secret(const char *line, const char *label, uint8_t *out, size_t cap);

#endif

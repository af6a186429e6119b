/* TLS key schedules the shim needs to rebuild traffic keys outside OpenSSL:
 * TLS 1.3 HKDF-Expand-Label (RFC 8446 7.1) and the TLS 1.2 PRF (RFC 5246 5).
 * Pure functions over an injected HMAC so the unit tests can run them against
 * published vectors with any libcrypto, and the shim can use the one it finds
 * in the process at run time. */
#ifndef KTLS_SHIM_KEYSCHED_H
#define KTLS_SHIM_KEYSCHED_H

#include <stddef.h>
#include <stdint.h>

#define KS_MAX_HASH 64

/* Returns 1 and writes digest_len bytes to out, or 0 on failure. */
typedef int (*ks_hmac_fn)(const void *md, const uint8_t *key, size_t key_len,
                          const uint8_t *data, size_t data_len, uint8_t *out);

struct ks_hash {
    const void *md;       /* opaque to this module: an EVP_MD * in practice */
    size_t digest_len;    /* 32 for SHA-256, 48 for SHA-384 */
    ks_hmac_fn hmac;
};

/* HKDF-Expand-Label(secret, label, context, out_len); label without "tls13 ".
 * Returns 1 on success, 0 on bad arguments or HMAC failure (out is scrubbed). */
int ks_hkdf_expand_label(const struct ks_hash *h, const uint8_t *secret, size_t secret_len,
                         const char *label, const uint8_t *context, size_t context_len,
                         uint8_t *out, size_t out_len);

/* TLS 1.3 traffic key and IV of a traffic secret (RFC 8446 7.3): key_len
 * bytes of HKDF-Expand-Label(secret, "key", "", key_len) and 12 of
 * HKDF-Expand-Label(secret, "iv", "", 12). Returns 1 or 0 (both scrubbed). */
int ks_tls13_traffic_keys(const struct ks_hash *h, const uint8_t *secret, size_t secret_len,
                          uint8_t *key, size_t key_len, uint8_t iv[12]);

/* TLS 1.3 KeyUpdate (RFC 8446 7.2): the next application traffic secret,
 * HKDF-Expand-Label(secret, "traffic upd", "", Hash.length), into out
 * (h->digest_len bytes). out may be secret itself. Returns 1 or 0 (out
 * scrubbed). */
int ks_tls13_next_secret(const struct ks_hash *h, const uint8_t *secret, uint8_t *out);

/* TLS 1.2 PRF: P_<hash>(secret, label || seed). Returns 1 or 0 (out scrubbed). */
int ks_tls12_prf(const struct ks_hash *h, const uint8_t *secret, size_t secret_len,
                 const char *label, const uint8_t *seed, size_t seed_len,
                 uint8_t *out, size_t out_len);

/* Overwrites len bytes in a way the compiler may not elide. */
void ks_scrub(void *p, size_t len);

#endif

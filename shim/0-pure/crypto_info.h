/* The kernel's view of one direction of a TLS connection: the
 * tls12_crypto_info_* struct for SOL_TLS TLS_TX / TLS_RX. Pure packing, no
 * syscalls, so every layout is unit-tested. */
#ifndef KTLS_SHIM_CRYPTO_INFO_H
#define KTLS_SHIM_CRYPTO_INFO_H

#include <linux/tls.h>
#include <stddef.h>
#include <stdint.h>

/* Older libc headers lack these; the kernel's numbers never change. */
#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

enum ktls_cipher {
    KTLS_CIPHER_NONE = 0,
    KTLS_CIPHER_AES_128_GCM,
    KTLS_CIPHER_AES_256_GCM,
    KTLS_CIPHER_CHACHA20_POLY1305,
    KTLS_CIPHER_AES_128_CCM,
};

struct ktls_cipher_desc {
    enum ktls_cipher cipher;
    const char *name;
    uint16_t kernel_type;   /* TLS_CIPHER_* */
    size_t key_len;
    size_t tls12_fixed_iv;  /* implicit IV bytes from the TLS 1.2 key block */
};

/* The kernel cipher for a suite: its cipher NID (an int, so this header needs
 * no OpenSSL) and its IANA id (SSL_CIPHER_get_protocol_id). NULL when the
 * kernel has no such AEAD. AES-128-CCM and AES-128-CCM_8 share one NID; only
 * the id tells the 16-byte tag (the kernel's) from the 8-byte one (no kernel
 * layout), so CCM is accepted for the known 16-byte-tag ids only. */
const struct ktls_cipher_desc *crypto_info_cipher_for_suite(int cipher_nid, unsigned suite_id);
const struct ktls_cipher_desc *crypto_info_cipher_desc(enum ktls_cipher c);

union ktls_crypto_info {
    struct tls_crypto_info base;
    struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
    struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
    struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
    struct tls12_crypto_info_aes_ccm_128 aes_ccm_128;
};

/* Fills *out for TLS 1.2 (version 0x0303) or 1.3 (0x0304).
 * key: key_len bytes. iv: TLS 1.3 -> the 12-byte traffic IV;
 * TLS 1.2 -> tls12_fixed_iv bytes (4 for GCM/CCM, 12 for ChaCha20).
 * seq: the sequence number of the next record in this direction; it is also
 * the TLS 1.2 explicit nonce we send, so nonces never repeat under one key.
 * Returns the struct size to pass to setsockopt, or 0 on bad arguments. */
size_t crypto_info_pack(union ktls_crypto_info *out, int tls_version,
                             enum ktls_cipher cipher, const uint8_t *key,
                             const uint8_t *iv, uint64_t seq);

#endif

/* raw_record.h: records this endpoint encrypts itself with its own TLS 1.2
 * AES-GCM write keys and writes straight to its socket, for tls_endpoint
 * --inject without --ossl-ktls: records no OpenSSL writes and no kernel
 * sends (tls_sw_sendmsg sends nothing for a message of no bytes), such as
 * an alert or handshake record of zero bytes.
 *
 * The sequence number is counted from the records OpenSSL reports writing
 * (raw_record_note from the message callback: each record header, restarted
 * at a ChangeCipherSpec). OpenSSL does not know a number was taken, so once
 * a record was injected every later record of this side must be written
 * here too (tls_endpoint sends its data and close_notify so). */
#ifndef RAW_RECORD_H
#define RAW_RECORD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

static uint64_t raw_write_seq; /* records this side wrote in its current write epoch */

static void raw_record_note(int write_p, int content_type)
{
    if (!write_p)
        return;
    if (content_type == SSL3_RT_HEADER)
        raw_write_seq++;
    else if (content_type == SSL3_RT_CHANGE_CIPHER_SPEC)
        raw_write_seq = 0; /* its own record was the last of the old epoch */
}

/* This side's write key and 4-byte salt from the TLS 1.2 key block
 * (RFC 5246 6.3; AEAD suites have no MAC keys). 0: not TLS 1.2 AES-GCM. */
static int raw_write_keys(SSL *ssl, uint8_t key[32], size_t *key_len, uint8_t salt[4])
{
    const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
    if (SSL_version(ssl) != TLS1_2_VERSION || !cipher)
        return 0;
    int nid = SSL_CIPHER_get_cipher_nid(cipher);
    if (nid != NID_aes_128_gcm && nid != NID_aes_256_gcm)
        return 0;
    *key_len = nid == NID_aes_128_gcm ? 16 : 32;
    uint8_t master[48], client_random[32], server_random[32], block[72];
    size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
    SSL_get_client_random(ssl, client_random, sizeof(client_random));
    SSL_get_server_random(ssl, server_random, sizeof(server_random));
    size_t block_len = 2 * *key_len + 8;
    EVP_PKEY_CTX *prf = EVP_PKEY_CTX_new_id(EVP_PKEY_TLS1_PRF, NULL);
    int ok = prf && EVP_PKEY_derive_init(prf) > 0
             && EVP_PKEY_CTX_set_tls1_prf_md(prf, SSL_CIPHER_get_handshake_digest(cipher)) > 0
             && EVP_PKEY_CTX_set1_tls1_prf_secret(prf, master, (int)master_len) > 0
             && EVP_PKEY_CTX_add1_tls1_prf_seed(prf, (const unsigned char *)"key expansion", 13) > 0
             && EVP_PKEY_CTX_add1_tls1_prf_seed(prf, server_random, 32) > 0
             && EVP_PKEY_CTX_add1_tls1_prf_seed(prf, client_random, 32) > 0
             && EVP_PKEY_derive(prf, block, &block_len) > 0;
    EVP_PKEY_CTX_free(prf);
    if (ok) {
        int server = SSL_is_server(ssl);
        memcpy(key, block + (server ? *key_len : 0), *key_len);
        memcpy(salt, block + 2 * *key_len + (server ? 4 : 0), 4);
    }
    OPENSSL_cleanse(master, sizeof(master));
    OPENSSL_cleanse(block, sizeof(block));
    return ok;
}

/* One record of TYPE with LEN bytes of BODY (0 allowed), encrypted as
 * OpenSSL would with the next sequence number, sent on FD. 1, or 0 with
 * *why set. */
static int raw_record_send(SSL *ssl, int fd, uint8_t type, const uint8_t *body, size_t len,
                           const char **why)
{
    uint8_t key[32], salt[4], iv[12], aad[13];
    size_t key_len;
    if (len > 16384) {
        *why = "too-long";
        return 0;
    }
    if (!raw_write_keys(ssl, key, &key_len, salt)) {
        *why = "needs-tls1.2-aes-gcm";
        return 0;
    }
    size_t wire_len = 8 + len + 16, total = 5 + wire_len;
    uint8_t *record = malloc(total);
    if (!record) {
        OPENSSL_cleanse(key, sizeof(key));
        *why = "malloc";
        return 0;
    }
    record[0] = type;
    record[1] = record[2] = 3;
    record[3] = (uint8_t)(wire_len >> 8);
    record[4] = (uint8_t)wire_len;
    for (int i = 0; i < 8; i++) /* the explicit nonce: the sequence number, as the kernel's */
        record[5 + i] = aad[i] = (uint8_t)(raw_write_seq >> (56 - 8 * i));
    aad[8] = type;
    aad[9] = aad[10] = 3;
    aad[11] = (uint8_t)(len >> 8);
    aad[12] = (uint8_t)len;
    memcpy(iv, salt, 4);
    memcpy(iv + 4, record + 5, 8);
    EVP_CIPHER_CTX *gcm = EVP_CIPHER_CTX_new();
    int out_len = 0, final_len = 0;
    int ok = gcm
             && EVP_EncryptInit_ex(gcm, key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), NULL,
                                   NULL, NULL)
             && EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_SET_IVLEN, 12, NULL)
             && EVP_EncryptInit_ex(gcm, NULL, NULL, key, iv)
             && EVP_EncryptUpdate(gcm, NULL, &out_len, aad, sizeof(aad))
             && EVP_EncryptUpdate(gcm, record + 13, &out_len, body, (int)len)
             && EVP_EncryptFinal_ex(gcm, record + 13 + out_len, &final_len)
             && EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_GET_TAG, 16, record + 13 + len);
    EVP_CIPHER_CTX_free(gcm);
    OPENSSL_cleanse(key, sizeof(key));
    if (!ok)
        *why = "encrypt";
    for (size_t off = 0; ok && off < total;) {
        ssize_t n = send(fd, record + off, total - off, MSG_NOSIGNAL);
        if (n <= 0) {
            *why = "send";
            ok = 0;
        }
        off += n > 0 ? (size_t)n : 0;
    }
    free(record);
    if (ok)
        raw_write_seq++;
    return ok;
}

#endif

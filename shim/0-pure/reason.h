/* Why a direction stays in OpenSSL. One enum, one table of texts: the text
 * up to " (" is the key operators see in the stats file and in the logs, so
 * a text never changes once shipped. */
#ifndef KTLS_SHIM_REASON_H
#define KTLS_SHIM_REASON_H

enum fallback_reason {
    FB_NONE = 0,
    FB_CUSTOM_BIO_SPLIT,
    FB_CUSTOM_BIO_NOT_SOCKET,
    FB_OPENSSL_KTLS,
    FB_NO_FD,
    FB_NOT_TCP,
    FB_ULP_PRESENT,
    FB_KERNEL_NO_TLS,
    FB_ATTACHED_MID_HANDSHAKE,
    FB_DTLS,
    FB_VERSION,
    FB_CIPHER_NONE,
    FB_CIPHER_UNSUPPORTED,
    FB_COMPRESSION,
    FB_NO_SESSION,
    FB_MAX_FRAGMENT_LENGTH,
    FB_SHUTDOWN_IN_FLIGHT,
    FB_SECRETS_MISSING,
    FB_AB_CONTROL,
    FB_KEY_DERIVATION,
    FB_MODE,
    FB_ULP_FAILED,
    FB_KEY_UPDATE,
    FB_NO_EPOCH,
    FB_CRYPTO_INFO,
    FB_TLS_TX_FAILED,
    FB_TLS_RX_FAILED,
    FB_UNSEEN_HANDSHAKE,
    FB_SHUTDOWN_BEFORE_MOVE,
    FB_ENDED_BEFORE_MOVE,
    FB_RENEGOTIATION,
    FB_SOCKET_CHANGED,
    FB_RECORD_PADDING,
    FB_MAX_SEND_FRAGMENT,
    FB_KEYUPDATE_UNSUPPORTED_KERNEL,
    FB_RECORD_ACCOUNTING,
    FB_CUSTOM_BIO_MEMORY,
    FB_CUSTOM_BIO_NO_SOCKET,
    FB_CUSTOM_BIO_SEVERAL_SOCKETS,
    FB_CUSTOM_BIO_CHANGED,
    FB_CUSTOM_BIO_UNACCOUNTED,
    FB_CUSTOM_BIO_TRANSFORMS,
    FB_POST_HANDSHAKE_AUTH,
    FB_COUNT
};

/* The full text ("custom-bio (read and write BIOs differ)"); never NULL. */
const char *reason_text(enum fallback_reason r);

#endif

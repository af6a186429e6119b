#include "reason.h"

static const char *const texts[FB_COUNT] = {
    [FB_NONE] = "none",
    [FB_CUSTOM_BIO_SPLIT] = "custom-bio (read and write BIOs differ)",
    [FB_CUSTOM_BIO_NOT_SOCKET] = "custom-bio (not a plain socket BIO)",
    [FB_OPENSSL_KTLS] = "openssl-ktls (OpenSSL already offloaded this socket)",
    [FB_NO_FD] = "no-fd",
    [FB_NOT_TCP] = "not-tcp (not an AF_INET/AF_INET6 TCP socket)",
    [FB_ULP_PRESENT] = "ulp-present (socket already has the tls ULP)",
    [FB_KERNEL_NO_TLS] = "kernel-no-tls (setsockopt TCP_ULP \"tls\" gives ENOENT)",
    [FB_ATTACHED_MID_HANDSHAKE] = "attached-mid-handshake (record counts unknown)",
    [FB_DTLS] = "dtls",
    [FB_VERSION] = "version (only TLS 1.2 and 1.3)",
    [FB_CIPHER_NONE] = "cipher (none)",
    [FB_CIPHER_UNSUPPORTED] = "cipher (the kernel has no such AEAD)",
    [FB_COMPRESSION] = "compression",
    [FB_NO_SESSION] = "no-session",
    [FB_MAX_FRAGMENT_LENGTH] = "max-fragment-length (negotiated; the kernel sends 16 KiB records)",
    [FB_SHUTDOWN_IN_FLIGHT] = "shutdown (close_notify already in flight)",
    [FB_SECRETS_MISSING] = "secrets-missing (keylog gave no traffic secrets)",
    [FB_AB_CONTROL] = "ab-control (KTLS_SHIM_SAMPLE put this connection in the control arm)",
    [FB_KEY_DERIVATION] = "key-derivation failed",
    [FB_MODE] = "mode (KTLS_SHIM_MODE leaves this direction to OpenSSL)",
    [FB_ULP_FAILED] = "setsockopt TCP_ULP failed",
    [FB_KEY_UPDATE] = "key-update (keys changed before the move)",
    [FB_NO_EPOCH] = "no-epoch (never saw the key change)",
    [FB_CRYPTO_INFO] = "crypto-info",
    [FB_TLS_TX_FAILED] = "setsockopt TLS_TX failed",
    [FB_TLS_RX_FAILED] = "setsockopt TLS_RX failed",
    [FB_UNSEEN_HANDSHAKE] = "unseen-handshake (finished outside the shim's view, e.g. BIO_f_ssl)",
    [FB_SHUTDOWN_BEFORE_MOVE] = "shutdown (close_notify before the move)",
    [FB_ENDED_BEFORE_MOVE] = "ended-before-move (the connection ended first)",
    [FB_RENEGOTIATION] = "renegotiation (a new handshake changed the keys before the move)",
    [FB_SOCKET_CHANGED] = "socket-changed (the descriptor was closed or names another socket)",
    [FB_RECORD_PADDING] = "record-padding (a padding callback or block padding is set; the kernel cannot pad)",
    [FB_MAX_SEND_FRAGMENT] = "max-send-fragment (set below 16384; the kernel sends 16 KiB records)",
    [FB_KEYUPDATE_UNSUPPORTED_KERNEL] = "keyupdate-unsupported-kernel (KTLS_SHIM_NO_REKEY=rx-openssl: this kernel cannot rekey TLS 1.3, so OpenSSL keeps RX and follows the peer's KeyUpdates)",
    [FB_CUSTOM_BIO_MEMORY] = "custom-bio-memory (a memory BIO or BIO pair: no socket under it)",
    [FB_CUSTOM_BIO_NO_SOCKET] = "custom-bio-no-socket (the program's BIO used no TCP socket inside the SSL calls)",
    [FB_CUSTOM_BIO_SEVERAL_SOCKETS] = "custom-bio-several-sockets (the program's BIO used more than one TCP socket)",
    [FB_CUSTOM_BIO_CHANGED] = "custom-bio-changed (the program gave the SSL other BIOs after its socket was found)",
    [FB_CUSTOM_BIO_UNACCOUNTED] = "custom-bio-unaccounted (the socket carried bytes that did not pass through the SSL's BIO)",
    [FB_CUSTOM_BIO_TRANSFORMS] = "custom-bio-transforms (the program's layer changes the bytes on their way to or from the socket)",
    [FB_POST_HANDSHAKE_AUTH] = "post-handshake-auth (TLS 1.3 with post-handshake authentication on: a certificate request, which only OpenSSL can answer, may come at any time; KTLS_SHIM_POST_HANDSHAKE_AUTH=move moves it anyway)",
    [FB_RECORD_ACCOUNTING] = "record-accounting (the records OpenSSL reported do not add up to the bytes on the socket)",
};

const char *reason_text(enum fallback_reason r)
{
    if ((unsigned)r >= FB_COUNT || !texts[r])
        return "unknown";
    return texts[r];
}

/* Every OpenSSL function the shim touches, resolved once at run time with
 * dlsym: the library has no DT_NEEDED on libssl/libcrypto, so one build serves
 * OpenSSL 1.1.1 and 3.x and loads inert into programs without OpenSSL.
 * Interposed functions resolve to the next definition (never to ourselves). */
#ifndef KTLS_SHIM_OSSL_H
#define KTLS_SHIM_OSSL_H

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <stdatomic.h>

#include "keysched.h"

/* Functions the shim defines itself; the table holds the real ones. */
#define OSSL_INTERPOSED(X)                                                        \
    X(SSL_new) X(SSL_free) X(SSL_clear) X(SSL_do_handshake) X(SSL_connect)        \
    X(SSL_accept) X(SSL_read) X(SSL_read_ex) X(SSL_peek) X(SSL_peek_ex)           \
    X(SSL_write) X(SSL_write_ex) X(SSL_pending) X(SSL_has_pending)                \
    X(SSL_get_error) X(SSL_shutdown) X(SSL_in_init) X(SSL_is_init_finished) X(SSL_key_update) X(SSL_get_key_update_type) X(SSL_renegotiate)          \
    X(SSL_renegotiate_abbreviated) X(SSL_set_msg_callback)                        \
    X(SSL_CTX_set_msg_callback) X(SSL_CTX_set_keylog_callback)                    \
    X(SSL_CTX_get_keylog_callback) X(SSL_set_SSL_CTX) X(BIO_ctrl) X(SSL_ctrl)       \
    X(SSL_CTX_ctrl) X(SSL_set_record_padding_callback)                            \
    X(SSL_CTX_set_record_padding_callback) X(SSL_set_block_padding)               \
    X(SSL_CTX_set_block_padding)

/* Interposed, but absent from some supported versions (SSL_sendfile: 3.0+). */
#define OSSL_INTERPOSED_OPTIONAL(X) X(SSL_sendfile)

/* Functions the shim only calls; every one exists in 1.1.1 and 3.x. */
#define OSSL_CALLED(X)                                                            \
    X(SSL_get_SSL_CTX) X(SSL_in_before) X(SSL_version)    \
    X(SSL_is_server) X(SSL_is_dtls) X(SSL_get_current_cipher)                     \
    X(SSL_CIPHER_get_cipher_nid) X(SSL_CIPHER_get_name) X(SSL_CIPHER_get_protocol_id) \
    X(SSL_CIPHER_get_handshake_digest) X(SSL_get_session)                         \
    X(SSL_SESSION_get_master_key) X(SSL_SESSION_get_max_fragment_length)          \
    X(SSL_get_client_random) X(SSL_get_server_random) X(SSL_get_rbio)             \
    X(SSL_get_wbio) X(SSL_set0_wbio) X(SSL_get_current_compression)               \
    X(SSL_get_shutdown) X(SSL_set_shutdown) X(SSL_get_options)                    \
    X(SSL_get_ex_data) X(SSL_set_ex_data) X(SSL_CTX_get_ex_data)                  \
    X(SSL_CTX_set_ex_data) X(SSL_get_quiet_shutdown) X(SSL_rstate_string)          \
    X(SSL_want) X(CRYPTO_get_ex_new_index) X(CRYPTO_get_ex_data) X(BIO_method_type) \
    X(BIO_next) X(BIO_number_read) X(BIO_number_written) X(BIO_read) X(BIO_test_flags) X(BIO_method_name) X(BIO_new) X(BIO_s_null) X(BIO_up_ref) X(BIO_free_all) X(SSL_get_info_callback) X(SSL_CTX_get_info_callback) X(BIO_set_ex_data) X(BIO_get_ex_data) X(ERR_set_mark) X(ERR_pop_to_mark) X(SSL_get_verify_mode) X(HMAC) X(OPENSSL_cleanse)               \
    X(OpenSSL_version_num)

typedef int (*evp_md_size_fn)(const EVP_MD *md);
typedef void (*err_new_fn)(void);
typedef void (*err_set_debug_fn)(const char *file, int line, const char *func);
typedef void (*err_set_error_fn)(int lib, int reason, const char *fmt, ...);
typedef void (*err_put_error_fn)(int lib, int func, int reason, const char *file, int line);

struct ossl_table {
#define OSSL_FIELD(name) __typeof__(name) *name;
    OSSL_INTERPOSED(OSSL_FIELD)
    OSSL_INTERPOSED_OPTIONAL(OSSL_FIELD)
    OSSL_CALLED(OSSL_FIELD)
#undef OSSL_FIELD
    /* differ between 1.1.1 and 3.x: resolved by whichever name exists */
    evp_md_size_fn md_size;           /* EVP_MD_get_size | EVP_MD_size */
    err_new_fn err_new;               /* 3.x */
    err_set_debug_fn err_set_debug;   /* 3.x */
    err_set_error_fn err_set_error;   /* 3.x */
    err_put_error_fn err_put_error;   /* 1.1.1 */
    int complete;                     /* every OSSL_CALLED function found */
    unsigned long version;            /* OpenSSL_version_num() */
};

/* Resolves the table on first use; never returns NULL. Anything missing
 * leaves complete == 0 and the shim stays out of the way. Every hook starts
 * here: once libssl is found it is one load, inline. */
const struct ossl_table *ossl_resolve(void);
extern struct ossl_table ossl_resolved;
extern atomic_int ossl_ready;

static inline const struct ossl_table *ossl(void)
{
    if (__builtin_expect(atomic_load_explicit(&ossl_ready, memory_order_acquire), 1))
        return &ossl_resolved;
    return ossl_resolve();
}
/* The key schedule's hash (keysched.h) over OpenSSL's HMAC with md. */
struct ks_hash ossl_ks_hash(const EVP_MD *md);

/* Whether p lies in this library: a name we interpose must never resolve to
 * our own hook. */
int ossl_is_ours(const void *p);

typedef long (*bio_ctrl_fn)(BIO *b, int cmd, long larg, void *parg);
/* The real BIO_ctrl, usable before libssl is loaded. */
bio_ctrl_fn ossl_bio_ctrl_resolve(void);
extern _Atomic(bio_ctrl_fn) ossl_early_bio_ctrl;

static inline bio_ctrl_fn ossl_bio_ctrl(void)
{
    bio_ctrl_fn f = atomic_load_explicit(&ossl_early_bio_ctrl, memory_order_acquire);
    return __builtin_expect(f != NULL, 1) ? f : ossl_bio_ctrl_resolve();
}

/* The real definition of an interposed function, for a hook to pass on to.
 * Never NULL where it is used: every hook checks its own name on entry
 * (ENTER in hooks.h), and the layers below run only for connections of a
 * complete table. */
#define REAL(name) (ossl()->name)

/* Thread-local guard: OpenSSL calls its own exported functions through the
 * PLT (SSL_connect -> SSL_do_handshake), which lands in our hooks again; the
 * inner call must go straight to OpenSSL. shim_depth counts the real
 * OpenSSL calls the shim has under way on this thread, shim_inside names the
 * SSL of each: a call on one of those is OpenSSL's own, while a call on
 * another SSL is the program's, made from a callback or a BIO of the outer
 * call (curl through an HTTPS proxy writes the origin's TLS into the proxy
 * connection's SSL_write), and is routed like any other. */
#define SHIM_NEST_MAX 8
extern __thread int shim_depth __attribute__((tls_model("initial-exec")));
extern __thread const SSL *shim_inside[SHIM_NEST_MAX] __attribute__((tls_model("initial-exec")));

static inline void shim_openssl_enter(const SSL *s)
{
    if (shim_depth < SHIM_NEST_MAX)
        shim_inside[shim_depth] = s;
    shim_depth++;
}

static inline void shim_openssl_leave(void)
{
    shim_depth--;
}

/* 1 when a call on s comes from inside OpenSSL's own work on s (or nesting
 * too deep to tell: then the call stays OpenSSL's, as before). */
static inline int shim_inside_openssl(const SSL *s)
{
    if (shim_depth > SHIM_NEST_MAX)
        return 1;
    for (int i = 0; i < shim_depth; i++)
        if (shim_inside[i] == s)
            return 1;
    return 0;
}

#endif

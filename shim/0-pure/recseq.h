/* Record sequence numbers, counted from what OpenSSL's message callback
 * reports for one direction. The kernel must be given the exact sequence
 * number of the next record: one too low and a nonce is used twice under
 * the same key. Pure: unit-tested with synthetic callback sequences. */
#ifndef KTLS_SHIM_RECSEQ_H
#define KTLS_SHIM_RECSEQ_H

#include <stddef.h>
#include <stdint.h>

/* content_type values the message callback passes (OpenSSL's numbers) */
#define RECSEQ_RT_HEADER 0x100          /* SSL3_RT_HEADER: one per record */
#define RECSEQ_RT_CHANGE_CIPHER_SPEC 20
#define RECSEQ_RT_HANDSHAKE 22
#define RECSEQ_MT_FINISHED 20
#define RECSEQ_MT_KEY_UPDATE 24

struct recseq {
    uint64_t since_ccs;       /* TLS 1.2 epoch: records since ChangeCipherSpec */
    uint64_t since_finished;  /* TLS 1.3 epoch: records since Finished */
    int saw_ccs, saw_finished, saw_key_update;
    uint64_t bytes;           /* every record reported so far, headers included: what the
                               * socket must have carried, if none went unreported */
    unsigned ccs_count;       /* grows with every ChangeCipherSpec (by 1 or 2: OpenSSL may report
                               * one as a header and as a message); a change after the
                               * handshake means a renegotiation changed the keys */
};

/* One message-callback report (content_type, first byte of buf, len). */
void recseq_observe(struct recseq *r, int content_type, const uint8_t *buf, size_t len);

#endif

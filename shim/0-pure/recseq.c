#include "recseq.h"

void recseq_observe(struct recseq *r, int content_type, const uint8_t *buf, size_t len)
{
    switch (content_type) {
    case RECSEQ_RT_HEADER:
        r->since_ccs++;
        r->since_finished++;
        if (len >= 5)
            r->bytes += 5 + ((uint64_t)buf[3] << 8 | buf[4]);
        /* OpenSSL 3.0 reports a received ChangeCipherSpec only as this
         * header, so the TLS 1.2 epoch is keyed on the record type */
        if (len >= 1 && buf[0] == RECSEQ_RT_CHANGE_CIPHER_SPEC) {
            r->since_ccs = 0;
            r->saw_ccs = 1;
            r->ccs_count++;
        }
        break;
    case RECSEQ_RT_CHANGE_CIPHER_SPEC:
        /* TLS 1.2: the next record (Finished) is sequence 0 of the new keys */
        r->since_ccs = 0;
        r->saw_ccs = 1;
        r->ccs_count++;
        break;
    case RECSEQ_RT_HANDSHAKE:
        /* TLS 1.3: keys move to the application secrets right after Finished */
        if (len >= 1 && buf[0] == RECSEQ_MT_FINISHED) {
            r->since_finished = 0;
            r->saw_finished = 1;
        } else if (len >= 1 && buf[0] == RECSEQ_MT_KEY_UPDATE)
            r->saw_key_update = 1;
        break;
    default:
        break;
    }
}

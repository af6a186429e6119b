/* The record-sequence counter fed what OpenSSL's message callback reports,
 * in the orders OpenSSL 3.0 and 1.1.1 report it. The kernel is given the
 * counter's value as the next record's sequence number: one too low reuses a
 * nonce under the same key, one too high and the peer cannot decrypt. */
#include "recseq.h"
#include "unit.h"

#define H(type) {RECSEQ_RT_HEADER, (type)}   /* a record header: buf[0] = record type */
#define HS(msg) {RECSEQ_RT_HANDSHAKE, (msg)} /* a handshake message: buf[0] = msg type */
#define CCS {RECSEQ_RT_CHANGE_CIPHER_SPEC, 1}
#define END {0, 0}

enum { RT_CCS = 20, RT_ALERT = 21, RT_HS = 22, RT_APP = 23 };
enum { MT_CLIENT_HELLO = 1, MT_SERVER_HELLO = 2, MT_NST = 4, MT_EE = 8, MT_CERT = 11,
       MT_SKE = 12, MT_SHD = 14, MT_CV = 15, MT_CKE = 16 };

struct event {
    int content_type;
    uint8_t first;
};

static struct recseq feed(const struct event *e)
{
    struct recseq r = {0};
    for (; e->content_type; e++)
        recseq_observe(&r, e->content_type, &e->first, 1);
    return r;
}

TEST(recseq_tls12_client_writes)
{
    /* ClientHello, ClientKeyExchange, CCS, Finished (record 0 of the new
     * keys), then three application records: the next one is number 4 */
    static const struct event ev[] = {
        H(RT_HS), HS(MT_CLIENT_HELLO), H(RT_HS), HS(MT_CKE), H(RT_CCS), CCS,
        H(RT_HS), HS(RECSEQ_MT_FINISHED), H(RT_APP), H(RT_APP), H(RT_APP), END};
    struct recseq r = feed(ev);
    CHECK(r.saw_ccs);
    CHECK_EQ_INT(r.since_ccs, 4);
    CHECK(!r.saw_key_update);
}

TEST(recseq_tls12_reads_openssl3_ccs_as_header_only)
{
    /* OpenSSL 3.0 reports a received CCS only as its record header */
    static const struct event ev[] = {
        H(RT_HS), HS(MT_SERVER_HELLO), HS(MT_CERT), HS(MT_SKE), HS(MT_SHD),
        H(RT_CCS), H(RT_HS), HS(RECSEQ_MT_FINISHED), END};
    struct recseq r = feed(ev);
    CHECK(r.saw_ccs);
    CHECK_EQ_INT(r.since_ccs, 1); /* Finished was 0 */
}

TEST(recseq_tls12_reads_openssl111_ccs_twice)
{
    /* 1.1.1 reports it as a header and as a message: still one key change */
    static const struct event ev[] = {
        H(RT_HS), HS(MT_SERVER_HELLO), H(RT_CCS), CCS, H(RT_HS), HS(RECSEQ_MT_FINISHED),
        H(RT_APP), END};
    struct recseq r = feed(ev);
    CHECK_EQ_INT(r.since_ccs, 2);
}

TEST(recseq_tls13_client_reads_tickets_under_the_application_key)
{
    /* ServerHello, the compatibility CCS, one encrypted record holding
     * EncryptedExtensions..Finished (handshake key), then two tickets, each
     * its own record under the application key: next is number 2 */
    static const struct event ev[] = {
        H(RT_HS), HS(MT_SERVER_HELLO), H(RT_CCS), H(RT_APP), HS(MT_EE), HS(MT_CERT),
        HS(MT_CV), HS(RECSEQ_MT_FINISHED), H(RT_APP), HS(MT_NST), H(RT_APP), HS(MT_NST), END};
    struct recseq r = feed(ev);
    CHECK(r.saw_finished);
    CHECK_EQ_INT(r.since_finished, 2);
}

TEST(recseq_tls13_finished_record_itself_is_not_counted)
{
    /* Finished travels under the handshake key; the first application
     * record is number 0 */
    static const struct event ev[] = {H(RT_APP), HS(RECSEQ_MT_FINISHED), END};
    struct recseq r = feed(ev);
    CHECK_EQ_INT(r.since_finished, 0);
}

TEST(recseq_key_update_is_flagged)
{
    static const struct event ev[] = {H(RT_APP), HS(RECSEQ_MT_FINISHED), H(RT_APP),
                                      HS(RECSEQ_MT_KEY_UPDATE), END};
    struct recseq r = feed(ev);
    CHECK(r.saw_key_update);
}

TEST(recseq_alerts_and_empty_reports_count_as_records_only_by_header)
{
    struct recseq r = {0};
    recseq_observe(&r, RECSEQ_RT_HANDSHAKE, (const uint8_t *)"\x14", 1);
    recseq_observe(&r, RT_ALERT, (const uint8_t *)"\x01\x00", 2); /* message only: no record */
    recseq_observe(&r, RECSEQ_RT_HEADER, NULL, 0);                /* a header without bytes */
    recseq_observe(&r, RECSEQ_RT_HANDSHAKE, NULL, 0);
    CHECK_EQ_INT(r.since_finished, 1);
    CHECK(!r.saw_key_update);
}

/* Whatever mix of records follows the key change, the count is exactly the
 * number of record headers after it: never one short (nonce reuse), never
 * one over. Deterministic pseudo-random sequences. */
TEST(recseq_counts_every_record_after_the_key_change)
{
    uint32_t x = 2463534242u;
    for (int round = 0; round < 2000; round++) {
        struct recseq r = {0};
        static const struct event start12[] = {H(RT_CCS), CCS, H(RT_HS), HS(RECSEQ_MT_FINISHED), END};
        int tls13 = round & 1;
        const struct event *e = start12;
        for (; e->content_type; e++)
            recseq_observe(&r, e->content_type, &e->first, 1);
        uint64_t headers = 1; /* Finished's own record, under the TLS 1.2 keys */
        if (tls13) {
            struct recseq t = {0};
            recseq_observe(&t, RECSEQ_RT_HEADER, (const uint8_t *)"\x17", 1);
            recseq_observe(&t, RECSEQ_RT_HANDSHAKE, (const uint8_t *)"\x14", 1);
            r = t;
            headers = 0;
        }
        int n = (int)(x % 50);
        for (int i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            static const uint8_t types[] = {RT_APP, RT_APP, RT_APP, RT_HS, RT_ALERT};
            uint8_t t = types[x % 5];
            recseq_observe(&r, RECSEQ_RT_HEADER, &t, 1);
            headers++;
            if (t == RT_HS) { /* a post-handshake message inside it (not Finished, not KeyUpdate) */
                uint8_t m = MT_NST;
                recseq_observe(&r, RECSEQ_RT_HANDSHAKE, &m, 1);
            }
        }
        uint64_t got = tls13 ? r.since_finished : r.since_ccs;
        if (got != headers) {
            unit_fail(__FILE__, __LINE__, "round %d (TLS 1.%d): counted %llu, %llu records", round,
                      tls13 ? 3 : 2, (unsigned long long)got, (unsigned long long)headers);
            return;
        }
    }
}

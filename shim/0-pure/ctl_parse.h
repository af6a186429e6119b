/* The framing of control records the kernel hands over whole or in part
 * (alerts, post-handshake messages): message headers gathered across reads,
 * bodies skipped, and a KeyUpdate's one body byte kept. What each message
 * means is the caller's (3-datapath/control.c), through the handlers.
 * Pure: no I/O, no OpenSSL. */
#ifndef KTLS_SHIM_CTL_PARSE_H
#define KTLS_SHIM_CTL_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* TLS alert levels and the descriptions the shim sends or decides on
 * (RFC 8446 6, RFC 5246 7.2) */
#define ALERT_WARNING 1
#define ALERT_FATAL 2
#define ALERT_CLOSE_NOTIFY 0
#define ALERT_UNEXPECTED_MESSAGE 10
#define ALERT_HANDSHAKE_FAILURE 40
#define ALERT_ILLEGAL_PARAMETER 47
#define ALERT_DECODE_ERROR 50
#define ALERT_INTERNAL_ERROR 80
#define ALERT_USER_CANCELED 90
#define ALERT_NO_RENEGOTIATION 100

/* the handshake message whose body byte matters (RFC 8446 4.6.3) */
#define CTL_HS_KEY_UPDATE 24

/* What a handler (and a feed) says of the connection. */
enum ctl_event { CTL_CONTINUE, CTL_CLOSE, CTL_FATAL };

struct ctl_progress {           /* a control record read only in part */
    uint8_t type;               /* its record type (21 alert, 22 handshake) */
    uint8_t hdr[4];
    size_t hdr_have, hdr_need;  /* hdr_need 0: nothing in progress */
    size_t body_left;
    int key_update;             /* the message is a KeyUpdate: its one body byte matters */
    int request_update;         /* that byte, once read; -1 before */
};

struct ctl_handlers {
    /* a whole alert */
    enum ctl_event (*alert)(void *ctx, uint8_t level, uint8_t desc);
    /* a handshake message's header; its body (body_len bytes) is skipped,
     * except a KeyUpdate's, whose byte goes to key_update when this said
     * CTL_CONTINUE */
    enum ctl_event (*handshake)(void *ctx, uint8_t type, size_t body_len);
    /* a whole KeyUpdate: its request_update byte, and the bytes of the same
     * record after it (trailing; RFC 8446 5.1 forbids any) */
    enum ctl_event (*key_update)(void *ctx, int request_update, size_t trailing);
};

/* A control record of this type starts. */
void ctl_begin(struct ctl_progress *ctl, uint8_t type);
/* Feeds n bytes of the record, one message at a time; stops at the first
 * event that is not CTL_CONTINUE (what is left of the record is dropped). */
enum ctl_event ctl_feed(struct ctl_progress *ctl, const uint8_t *p, size_t n,
                        const struct ctl_handlers *h, void *ctx);
/* A message is under way: the record ended before it did. */
int ctl_in_progress(const struct ctl_progress *ctl);
/* Bytes that would finish the header or body under way. */
size_t ctl_wanted(const struct ctl_progress *ctl);
/* An alert record is exactly its two bytes in OpenSSL 1.1.1 and 3.x (an
 * alert split across records, or one with more, is INVALID_ALERT): got
 * bytes of it so far, the record ended with them or not (two bytes and
 * more to come is already too many). */
int ctl_alert_record_invalid(size_t got, int record_end);

#endif

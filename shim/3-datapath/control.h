/* What a control record the kernel hands over means (alerts, post-handshake
 * messages, records of no bytes), decided as OpenSSL's record layer decides
 * it, so a program sees the same errors and shutdown state with or without
 * the shim. The framing is ctl_parse.c's; the reads are kio.c's. */
#ifndef KTLS_SHIM_CONTROL_H
#define KTLS_SHIM_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "ctl_parse.h"

/* A record of type (not application data) starts with its first n bytes in
 * p (record_end: the record ended with them). */
enum ctl_event control_record(struct conn *c, SSL *s, uint8_t type, const uint8_t *p, size_t n,
                              int record_end);
/* More bytes of the record under way (c->ctl). */
enum ctl_event control_more(struct conn *c, SSL *s, uint8_t type, const uint8_t *p, size_t n,
                            int record_end);
/* A record of no bytes. */
enum ctl_event control_empty_record(struct conn *c, SSL *s, uint8_t type);
/* A record of n > 0 bytes arrived: the in-a-row counts start again. */
void control_saw_record(struct conn *c, uint8_t type);

#endif

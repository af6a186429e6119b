/* Plays the records a kTLS socket carries, through the kernel_sendmsg and
 * kernel_recvmsg seams (kernel.h), for descriptors put in fake mode; every
 * other descriptor gets the real calls. A fake socket is known by its
 * identity, not its number: once the number names another socket (closed
 * and reused), that one is real again.
 *
 * Reads, as net/tls/tls_sw.c hands records over: a record-type cmsg
 * (TLS_GET_RECORD_TYPE) with every read; a read takes application data
 * across consecutive data records up to its buffer, but never more than one
 * control record (alert, handshake), and never data and a control record
 * together; a buffer smaller than the record leaves the rest for the next
 * read, and MSG_EOR says a read took a record's last byte (a peek leaves
 * everything and says nothing); a control record without room for the
 * cmsg fails with EIO and stays; an empty control record is a read of 0
 * with its type; an empty data record is skipped. Errors pushed into the
 * stream come out once, where they stand; EOF stays. The fake never
 * blocks: nothing queued is EAGAIN.
 *
 * Sends: each sendmsg is logged as the records it makes (the type from a
 * TLS_SET_RECORD_TYPE cmsg, 23 for plain data; data cut at 16 KiB as the
 * kernel cuts it), and queued for the linked socket to read. What a send
 * may take can be scripted: a short send, or a failure (EAGAIN). */
#ifndef KTLS_UNIT_FAKE_RECORDS_H
#define KTLS_UNIT_FAKE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_RECORDS_MAX_PLAIN 16384

struct fake_record {
    uint8_t type;
    size_t len;
    uint8_t *bytes;
};

/* Installs the seams (no descriptor is fake yet); off puts the real calls
 * back and forgets every fake socket. */
void fake_records_on(void);
void fake_records_off(void);
/* fd's socket is a fake kTLS socket from now on. */
void fake_records_add(int fd);
/* What one of the two sends, the other reads. */
void fake_records_link(int a, int b);

/* The peer's next record for fd to read (len 0: a record of no bytes). */
void fake_records_push(int fd, uint8_t type, const void *bytes, size_t len);
/* The next read that reaches this point fails with err, once. */
void fake_records_push_error(int fd, int err);
/* The peer's end of the stream: reads return 0 with no record type, for good. */
void fake_records_push_eof(int fd);
/* Bytes (of any records) queued for fd and not read yet. */
size_t fake_records_unread(int fd);

/* The next sendmsg on fd (in the order scripted) takes at most n bytes... */
void fake_records_send_takes(int fd, size_t n);
/* ...or fails with err. Unscripted sends take everything. */
void fake_records_send_fails(int fd, int err);
/* The records fd sent, oldest first (NULL past the last). */
int fake_records_sent_count(int fd);
const struct fake_record *fake_records_sent(int fd, int i);
/* The last record of that type fd sent, or NULL. */
const struct fake_record *fake_records_last_sent(int fd, uint8_t type);

#endif

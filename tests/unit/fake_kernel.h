/* Plays the kernel's TLS for the unit tests through the kernel_setsockopt
 * seam: every TCP_ULP / TLS_TX / TLS_RX succeeds and is recorded, the probe
 * says kTLS is there. No socket really gets the tls ULP. A rekey (TLS_TX or
 * TLS_RX set again on the same socket) succeeds as on 6.14 and later, or
 * fails with EBUSY as before (fake_kernel_without_rekey). The records such
 * a socket carries are fake_records.h's. */
#ifndef KTLS_UNIT_FAKE_KERNEL_H
#define KTLS_UNIT_FAKE_KERNEL_H

void fake_kernel_on(void);
void fake_kernel_off(void);
/* From now on the played kernel cannot rekey (before 6.14). */
void fake_kernel_without_rekey(void);
/* setsockopt(level, name) calls seen since fake_kernel_on, on fd (-1: any). */
int fake_kernel_calls(int fd, int level, int name);

#endif

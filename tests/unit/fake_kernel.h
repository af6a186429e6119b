/* Plays the kernel's TLS for the unit tests through the kernel_setsockopt
 * seam: every TCP_ULP / TLS_TX / TLS_RX succeeds and is recorded, the probe
 * says kTLS is there. No socket really gets the tls ULP. */
#ifndef KTLS_UNIT_FAKE_KERNEL_H
#define KTLS_UNIT_FAKE_KERNEL_H

void fake_kernel_on(void);
void fake_kernel_off(void);
/* setsockopt(level, name) calls seen since fake_kernel_on, on fd (-1: any). */
int fake_kernel_calls(int fd, int level, int name);

#endif

/* TLS record content types (RFC 8446 section 5.1) as the kernel's
 * TLS_SET_RECORD_TYPE / TLS_GET_RECORD_TYPE cmsgs carry them: one
 * definition for the framing (ctl_parse.c) and the kernel I/O (kernel.c). */
#ifndef KTLS_SHIM_RECORD_TYPES_H
#define KTLS_SHIM_RECORD_TYPES_H

#define TLS_RECORD_ALERT 21
#define TLS_RECORD_HANDSHAKE 22
#define TLS_RECORD_APPLICATION_DATA 23

#endif

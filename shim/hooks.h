/* Shared by the files that define interposed entry points. */
#ifndef KTLS_SHIM_HOOKS_H
#define KTLS_SHIM_HOOKS_H

#include "conn.h"

#define EXPORT __attribute__((visibility("default")))

/* The state of an SSL the shim tracks, or NULL to pass a call straight to
 * OpenSSL (untracked SSL, or a nested call from inside OpenSSL). */
struct conn *watched(const SSL *s);
/* Like watched(), also for connections that stay in OpenSSL for good
 * (sendfile emulation and SSL_clear still need their state). */
struct conn *tracked(const SSL *s);

static inline int kernel_owns(const struct conn *c, int d)
{
    return c->dir[d].state == DIR_KERNEL;
}

#endif

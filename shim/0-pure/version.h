/* The one place the version is written; the Makefile reads it from here for
 * the man pages, the tools print it (--version), the library puts it in the
 * stats files, its info log and a marker ktls-run looks for. */
#ifndef KTLS_SHIM_VERSION_H
#define KTLS_SHIM_VERSION_H

#define KTLS_SHIM_VERSION "0.1.0"

#endif

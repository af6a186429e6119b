/* Shared by the files that define interposed entry points (the top layer:
 * nothing below may call them, see tests/check-layers.sh). */
#ifndef KTLS_SHIM_HOOKS_H
#define KTLS_SHIM_HOOKS_H

#define EXPORT __attribute__((visibility("default")))

#endif

#include "check_diag.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define KEEP_LOADED "(to keep it across reboots: echo tls > /etc/modules-load.d/tls.conf)"

static void say(struct diag *d, const char *name, const char *next)
{
    d->name = name;
    snprintf(d->next, sizeof(d->next), "%s", next);
}

void check_diagnose(const struct diag_facts *f, struct diag *d)
{
    memset(d, 0, sizeof(*d));
    if (!f->ulp_err) {
        if (f->pairs_both) {
            say(d, "works", "none: preload the shim (ktls-run -- COMMAND)");
            snprintf(d->why, sizeof(d->why), "the tls ULP attaches and the kernel takes keys");
        } else {
            say(d, "no-cipher",
                "load the kernel's AEAD modules (modprobe gcm aes chacha20poly1305) or use a kernel that has them");
            snprintf(d->why, sizeof(d->why),
                     "the tls ULP attaches but no version x cipher is accepted in both directions (crypto "
                     "modules missing?)");
        }
        return;
    }
    if (f->ulp_err != ENOENT) {
        say(d, "ulp-error", "see the error; on a kernel with kTLS this probe normally works");
        snprintf(d->why, sizeof(d->why), "setsockopt(TCP_ULP, \"tls\") on a connected socket: %s",
                 strerror(f->ulp_err));
        return;
    }
    /* ENOENT: the kernel has no tls ULP registered */
    if (f->config == CONFIG_TLS_NOT_SET) {
        say(d, "config-tls-not-set",
            "use a kernel built with CONFIG_TLS=m or =y (distribution kernels of Debian, Ubuntu, RHEL and "
            "Fedora build it as a module)");
        snprintf(d->why, sizeof(d->why), "CONFIG_TLS is not set in %s: kernel %s was built without kernel TLS",
                 f->config_source, f->release);
        return;
    }
    if (f->module_loaded) {
        say(d, "module-loaded-ulp-missing", "check dmesg for tls errors; reload it (modprobe -r tls; modprobe tls)");
        snprintf(d->why, sizeof(d->why), "the tls module is loaded (/sys/module/tls) yet TCP_ULP \"tls\" is refused");
        return;
    }
    if (f->modules_disabled) {
        say(d, "modules-disabled", "load tls at boot, before modules are locked: " KEEP_LOADED);
        snprintf(d->why, sizeof(d->why),
                 "the tls module is not loaded and module loading is disabled (kernel.modules_disabled = 1)");
        return;
    }
    if (f->module_path || f->config == CONFIG_TLS_MODULE) {
        char where[300];
        if (f->module_path)
            snprintf(where, sizeof(where), "present (%s)", f->module_path);
        else
            snprintf(where, sizeof(where), "built (CONFIG_TLS=m in %s) but not visible here under /lib/modules/%s",
                     f->config_source, f->release);
        if (!f->cap_net_admin) {
            say(d, "module-not-loaded-no-cap",
                "as root on the host: modprobe tls " KEEP_LOADED
                "; a container cannot load it for itself");
            snprintf(d->why, sizeof(d->why),
                     "the tls module is %s but not loaded, and this process lacks CAP_NET_ADMIN, which the "
                     "kernel requires to load it on demand",
                     where);
        } else if (f->module_path) {
            say(d, "module-not-loaded", "modprobe tls, and read its error " KEEP_LOADED);
            snprintf(d->why, sizeof(d->why), "the tls module is %s but not loaded, and loading it on demand failed",
                     where);
        } else {
            say(d, "module-not-visible", "on the host: modprobe tls " KEEP_LOADED);
            snprintf(d->why, sizeof(d->why), "the tls module is %s (a container without the host's modules?)",
                     where);
        }
        return;
    }
    if (f->config == CONFIG_TLS_BUILTIN) {
        say(d, "builtin-ulp-missing", "check dmesg; this kernel should have kTLS");
        snprintf(d->why, sizeof(d->why), "CONFIG_TLS=y in %s, yet TCP_ULP \"tls\" is refused", f->config_source);
        return;
    }
    say(d, "no-tls-found",
        "modprobe tls; if there is no such module, use a kernel built with CONFIG_TLS=m or =y");
    snprintf(d->why, sizeof(d->why),
             "no tls module under /lib/modules/%s and no kernel config to tell (/boot/config-%s, /proc/config.gz)",
             f->release, f->release);
}

const char *check_min_kernel(int tls_version, const char *cipher)
{
    /* Linux: TLS 1.2 AES-128-GCM TX 4.13, RX 4.17; TLS 1.3 and AES-256-GCM
     * 5.1; CHACHA20-POLY1305 5.11 (Documentation/networking/tls.rst history) */
    if (!strcmp(cipher, "CHACHA20-POLY1305"))
        return "5.11";
    if (!strcmp(cipher, "AES-256-GCM"))
        return "5.1";
    if (!strcmp(cipher, "AES-128-GCM"))
        return tls_version == 0x0304 ? "5.1" : "4.17 (TX 4.13)";
    return NULL;
}

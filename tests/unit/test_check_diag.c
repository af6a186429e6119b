/* shim/tools/check_diag.c: ktls-check names the case and the next step for
 * each way a kernel can lack kTLS, and the first kernel of each row. */
#include <errno.h>

#include "check_diag.h"
#include "unit.h"

static struct diag run(struct diag_facts f)
{
    struct diag d;
    if (!f.release)
        f.release = "6.1.0-9-amd64";
    check_diagnose(&f, &d);
    return d;
}

TEST(diag_working_kernel)
{
    struct diag d = run((struct diag_facts){.ulp_err = 0, .pairs_both = 6});
    CHECK_STR(d.name, "works");
    d = run((struct diag_facts){.ulp_err = 0, .pairs_both = 0});
    CHECK_STR(d.name, "no-cipher");
    CHECK(strstr(d.next, "modprobe") != NULL);
}

TEST(diag_config_tls_not_set)
{
    struct diag d = run((struct diag_facts){.ulp_err = ENOENT, .config = CONFIG_TLS_NOT_SET,
                                            .config_source = "/proc/config.gz", .cap_net_admin = 1});
    CHECK_STR(d.name, "config-tls-not-set");
    CHECK_STR(d.why, "CONFIG_TLS is not set in /proc/config.gz: kernel 6.1.0-9-amd64 was built without kernel TLS");
    CHECK(strstr(d.next, "CONFIG_TLS=m") != NULL);
}

TEST(diag_module_present_not_loaded)
{
    const char *ko = "/lib/modules/6.1.0-9-amd64/kernel/net/tls/tls.ko.xz";
    /* no CAP_NET_ADMIN: the kernel will not autoload it for us (a container) */
    struct diag d = run((struct diag_facts){.ulp_err = ENOENT, .config = CONFIG_TLS_MODULE,
                                            .config_source = "/boot/config-6.1.0-9-amd64", .module_path = ko});
    CHECK_STR(d.name, "module-not-loaded-no-cap");
    CHECK(strstr(d.why, "lacks CAP_NET_ADMIN") && strstr(d.why, ko));
    CHECK(!strncmp(d.next, "as root on the host: modprobe tls", 33));
    /* with it, autoload failed: modprobe by hand shows why */
    d = run((struct diag_facts){.ulp_err = ENOENT, .module_path = ko, .cap_net_admin = 1});
    CHECK_STR(d.name, "module-not-loaded");
    CHECK(!strncmp(d.next, "modprobe tls", 12));
    /* module built but /lib/modules not visible (a container) */
    d = run((struct diag_facts){.ulp_err = ENOENT, .config = CONFIG_TLS_MODULE, .config_source = "/proc/config.gz",
                                .cap_net_admin = 1});
    CHECK_STR(d.name, "module-not-visible");
    d = run((struct diag_facts){.ulp_err = ENOENT, .module_path = ko, .modules_disabled = 1});
    CHECK_STR(d.name, "modules-disabled");
}

TEST(diag_nothing_known)
{
    struct diag d = run((struct diag_facts){.ulp_err = ENOENT, .cap_net_admin = 1});
    CHECK_STR(d.name, "no-tls-found");
    d = run((struct diag_facts){.ulp_err = EPERM});
    CHECK_STR(d.name, "ulp-error");
    CHECK(strstr(d.why, "Operation not permitted") != NULL);
}

TEST(min_kernel_per_row)
{
    CHECK_STR(check_min_kernel(0x0303, "CHACHA20-POLY1305"), "5.11");
    CHECK_STR(check_min_kernel(0x0304, "CHACHA20-POLY1305"), "5.11");
    CHECK_STR(check_min_kernel(0x0304, "AES-128-GCM"), "5.1");
    CHECK_STR(check_min_kernel(0x0303, "AES-256-GCM"), "5.1");
    CHECK_STR(check_min_kernel(0x0303, "AES-128-GCM"), "4.17 (TX 4.13)");
    CHECK_STR(CHECK_REKEY_MIN_KERNEL, "6.14");
}

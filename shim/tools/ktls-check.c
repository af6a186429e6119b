/* ktls-check: what this machine's kernel TLS can do, probed for real on a
 * loopback TCP pair: does the tls ULP attach, and which TLS version x cipher
 * x direction does setsockopt(SOL_TLS) accept. Where it does not, which case
 * this is (kernel config, module, capability) and the next step. Exit 0 when
 * software kTLS works (at least one pair in both directions), 1 with the
 * reason when not. */
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "check_diag.h"
#include "crypto_info.h"
#include "version.h"

struct probe {
    int version; /* 0x0303, 0x0304 */
    enum ktls_cipher cipher;
    const char *cipher_name;
    int tx_err, rx_err; /* 0 = accepted; else errno; -1 = not tried */
};

static struct probe probes[] = {
    {0x0303, KTLS_CIPHER_AES_128_GCM, "AES-128-GCM", -1, -1},
    {0x0303, KTLS_CIPHER_AES_256_GCM, "AES-256-GCM", -1, -1},
    {0x0303, KTLS_CIPHER_CHACHA20_POLY1305, "CHACHA20-POLY1305", -1, -1},
    {0x0304, KTLS_CIPHER_AES_128_GCM, "AES-128-GCM", -1, -1},
    {0x0304, KTLS_CIPHER_AES_256_GCM, "AES-256-GCM", -1, -1},
    {0x0304, KTLS_CIPHER_CHACHA20_POLY1305, "CHACHA20-POLY1305", -1, -1},
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

/* A connected loopback pair; the ULP only attaches to an established socket. */
static int tcp_pair(int *client, int *server)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        return errno;
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1)
        || getsockname(l, (struct sockaddr *)&a, &len)) {
        int e = errno;
        close(l);
        return e;
    }
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*client < 0 || connect(*client, (struct sockaddr *)&a, sizeof(a))) {
        int e = errno;
        if (*client >= 0)
            close(*client);
        close(l);
        return e;
    }
    *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    int e = *server < 0 ? errno : 0;
    close(l);
    if (e)
        close(*client);
    return e;
}

static int attach_ulp(int fd)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ? errno : 0;
}

static int probe_ulp(void)
{
    int c, s, e = tcp_pair(&c, &s);
    if (e)
        return e;
    e = attach_ulp(c);
    close(c);
    close(s);
    return e;
}

/* Throwaway keys: the kernel only checks the layout and loads the AEAD. */
static void probe_cipher(struct probe *p)
{
    int c, s;
    int e = tcp_pair(&c, &s);
    if (e) {
        p->tx_err = p->rx_err = e;
        return;
    }
    e = attach_ulp(c);
    if (e) {
        p->tx_err = p->rx_err = e;
        close(c);
        close(s);
        return;
    }
    static const uint8_t key[32] = {0x42}, iv[12] = {0x24};
    const struct ktls_cipher_desc *d = crypto_info_cipher_desc(p->cipher);
    union ktls_crypto_info info;
    size_t len = crypto_info_pack(&info, p->version, p->cipher, key, iv, 0);
    if (!d || !len) {
        p->tx_err = p->rx_err = EINVAL;
    } else {
        p->tx_err = setsockopt(c, SOL_TLS, TLS_TX, &info, (socklen_t)len) ? errno : 0;
        p->rx_err = setsockopt(c, SOL_TLS, TLS_RX, &info, (socklen_t)len) ? errno : 0;
    }
    close(c);
    close(s);
}

/* TLS 1.3 KeyUpdate: from 6.14 a second TLS_TX with the next key rekeys;
 * before, it fails (EBUSY). 0 when accepted, else the errno. */
static int probe_rekey(void)
{
    int c, s, e = tcp_pair(&c, &s);
    if (e)
        return e;
    static const uint8_t key[16] = {0x42}, next_key[16] = {0x43}, iv[12] = {0x24};
    union ktls_crypto_info info;
    size_t len = crypto_info_pack(&info, 0x0304, KTLS_CIPHER_AES_128_GCM, key, iv, 0);
    if (!(e = attach_ulp(c)))
        e = setsockopt(c, SOL_TLS, TLS_TX, &info, (socklen_t)len) ? errno : 0;
    if (!e) {
        len = crypto_info_pack(&info, 0x0304, KTLS_CIPHER_AES_128_GCM, next_key, iv, 0);
        e = setsockopt(c, SOL_TLS, TLS_TX, &info, (socklen_t)len) ? errno : 0;
    }
    close(c);
    close(s);
    return e;
}

/* ---- why not: the kernel's config, its tls module, this process's rights ---- */

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* "CONFIG_TLS=m" -> module; "# CONFIG_TLS is not set" -> not set */
static enum config_tls config_line(const char *line, enum config_tls seen)
{
    if (!strncmp(line, "CONFIG_TLS=", 11))
        return line[11] == 'y' ? CONFIG_TLS_BUILTIN : line[11] == 'm' ? CONFIG_TLS_MODULE : seen;
    if (!strncmp(line, "# CONFIG_TLS is not set", 23))
        return CONFIG_TLS_NOT_SET;
    return seen;
}

/* /proc/config.gz through zlib, loaded only if there (no link-time dependency) */
static enum config_tls config_gz(const char *path)
{
    void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!z)
        return CONFIG_TLS_UNKNOWN;
    void *(*gz_open)(const char *, const char *) = (void *(*)(const char *, const char *))dlsym(z, "gzopen");
    char *(*gz_gets)(void *, char *, int) = (char *(*)(void *, char *, int))dlsym(z, "gzgets");
    int (*gz_close)(void *) = (int (*)(void *))dlsym(z, "gzclose");
    enum config_tls v = CONFIG_TLS_UNKNOWN;
    void *f = gz_open && gz_gets && gz_close ? gz_open(path, "rb") : NULL;
    if (f) {
        char line[512];
        while (gz_gets(f, line, sizeof(line)))
            v = config_line(line, v);
        gz_close(f);
    }
    dlclose(z);
    return v;
}

static enum config_tls kernel_config(const char *release, char *source, size_t cap)
{
    snprintf(source, cap, "/boot/config-%s", release);
    FILE *f = fopen(source, "r");
    if (f) {
        enum config_tls v = CONFIG_TLS_UNKNOWN;
        char line[512];
        while (fgets(line, sizeof(line), f))
            v = config_line(line, v);
        fclose(f);
        if (v != CONFIG_TLS_UNKNOWN)
            return v;
    }
    snprintf(source, cap, "/proc/config.gz");
    if (exists(source)) {
        enum config_tls v = config_gz(source);
        if (v != CONFIG_TLS_UNKNOWN)
            return v;
    }
    source[0] = 0;
    return CONFIG_TLS_UNKNOWN;
}

static int module_file(const char *release, char *out, size_t cap)
{
    static const char *const suffixes[] = {"", ".xz", ".zst", ".gz"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(out, cap, "/lib/modules/%s/kernel/net/tls/tls.ko%s", release, suffixes[i]);
        if (exists(out))
            return 1;
    }
    return 0;
}

static int has_cap_net_admin(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long eff = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    if (f)
        fclose(f);
    return (eff >> 12) & 1; /* CAP_NET_ADMIN */
}

static int read_flag(const char *path)
{
    FILE *f = fopen(path, "r");
    int v = 0;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* ---- OpenSSL: which one a dynamically linked program here would get ---- */

struct openssl_info {
    const char *library;
    char version[128];
};

static void find_openssl(struct openssl_info *o)
{
    static const char *const libs[] = {"libssl.so.3", "libssl.so.1.1", NULL};
    o->library = NULL;
    o->version[0] = 0;
    for (int i = 0; libs[i]; i++) {
        void *h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
        if (!h)
            continue;
        const char *(*version)(int) = (const char *(*)(int))dlsym(h, "OpenSSL_version");
        o->library = libs[i];
        snprintf(o->version, sizeof(o->version), "%s", version ? version(0) : "unknown");
        return;
    }
}

/* ---- NIC TLS offload: ethtool features tls-hw-tx-offload / tls-hw-rx-offload ---- */

struct nic {
    char name[IF_NAMESIZE + 1];
    int tx, rx; /* 1 on, 0 off, -1 feature unknown to the driver */
};

static int nic_features(int sock, const char *ifname, struct nic *n)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    struct {
        struct ethtool_sset_info hdr;
        uint32_t len;
    } sset = {.hdr = {.cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES}};
    ifr.ifr_data = (void *)&sset;
    if (ioctl(sock, SIOCETHTOOL, &ifr) || !sset.hdr.sset_mask)
        return -1;
    uint32_t count = sset.len;
    struct ethtool_gstrings *names = calloc(1, sizeof(*names) + (size_t)count * ETH_GSTRING_LEN);
    size_t blocks = (count + 31) / 32;
    struct ethtool_gfeatures *feats = calloc(1, sizeof(*feats) + blocks * sizeof(feats->features[0]));
    int ok = -1;
    if (names && feats) {
        names->cmd = ETHTOOL_GSTRINGS;
        names->string_set = ETH_SS_FEATURES;
        names->len = count;
        ifr.ifr_data = (void *)names;
        feats->cmd = ETHTOOL_GFEATURES;
        feats->size = (uint32_t)blocks;
        if (!ioctl(sock, SIOCETHTOOL, &ifr) && (ifr.ifr_data = (void *)feats, !ioctl(sock, SIOCETHTOOL, &ifr))) {
            n->tx = n->rx = -1;
            for (uint32_t i = 0; i < count; i++) {
                const char *s = (const char *)names->data + (size_t)i * ETH_GSTRING_LEN;
                int on = (feats->features[i / 32].active >> (i % 32)) & 1;
                if (!strncmp(s, "tls-hw-tx-offload", ETH_GSTRING_LEN))
                    n->tx = on;
                else if (!strncmp(s, "tls-hw-rx-offload", ETH_GSTRING_LEN))
                    n->rx = on;
            }
            ok = 0;
        }
    }
    free(names);
    free(feats);
    return ok;
}

static int list_nics(struct nic *out, int cap)
{
    int n = 0, sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    DIR *d = opendir("/sys/class/net");
    if (!d || sock < 0) {
        if (d)
            closedir(d);
        if (sock >= 0)
            close(sock);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "lo") || strlen(e->d_name) > IF_NAMESIZE)
            continue;
        snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
        if (nic_features(sock, e->d_name, &out[n]) == 0)
            n++;
    }
    closedir(d);
    close(sock);
    return n;
}

/* ---- output ---- */

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_err(int e)
{
    if (e)
        json_str(strerror(e));
    else
        fputs("null", stdout);
}

static const char *tri(int v)
{
    return v < 0 ? "unknown" : v ? "on" : "off";
}

int main(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--version")) {
            printf("ktls-check (ktls-shim) %s\n", KTLS_SHIM_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ktls-check [--json] [--version]\n"
                   "Probes kernel TLS on a loopback TCP pair. Exit 0 when software kTLS works,\n"
                   "1 when it does not (the reason and the next step are printed), 2 on bad usage.\n"
                   "See ktls-check(1).\n");
            return 0;
        } else {
            fprintf(stderr, "ktls-check: unknown option %s (see ktls-check --help)\n", argv[i]);
            return 2;
        }
    }
    struct utsname u;
    uname(&u);
    int ulp_err = probe_ulp(), pairs_both = 0, rekey_err = -1;
    for (size_t i = 0; i < NPROBES; i++) {
        if (ulp_err)
            probes[i].tx_err = probes[i].rx_err = ulp_err;
        else
            probe_cipher(&probes[i]);
        pairs_both += !probes[i].tx_err && !probes[i].rx_err;
    }
    if (!ulp_err)
        rekey_err = probe_rekey();
    int works = pairs_both > 0;

    char config_source[300], module_path[300];
    struct diag_facts facts = {
        .release = u.release,
        .ulp_err = ulp_err,
        .pairs_both = pairs_both,
        .config = kernel_config(u.release, config_source, sizeof(config_source)),
        .module_loaded = exists("/sys/module/tls"),
        .cap_net_admin = has_cap_net_admin(),
        .modules_disabled = read_flag("/proc/sys/kernel/modules_disabled"),
    };
    facts.config_source = config_source[0] ? config_source : NULL;
    facts.module_path = module_file(u.release, module_path, sizeof(module_path)) ? module_path : NULL;
    struct diag d;
    check_diagnose(&facts, &d);

    struct openssl_info o;
    find_openssl(&o);
    struct nic nics[32];
    int nnics = list_nics(nics, 32);
    /* read after probing: the probe loads the module that creates this file */
    FILE *f = fopen("/proc/net/tls_stat", "r");
    char names[32][64];
    long long values[32];
    int nstat = 0, device_counters = 0;
    while (f && nstat < 32 && fscanf(f, "%63s %lld", names[nstat], &values[nstat]) == 2) {
        device_counters |= strstr(names[nstat], "Device") != NULL;
        nstat++;
    }
    if (f)
        fclose(f);

    if (json) {
        printf("{\n  \"kernel\": ");
        json_str(u.release);
        printf(",\n  \"software_ktls\": %s,\n  \"reason\": ", works ? "true" : "false");
        if (!works)
            json_str(d.why);
        else
            fputs("null", stdout);
        printf(",\n  \"diagnosis\": {\"case\": ");
        json_str(d.name);
        printf(", \"why\": ");
        json_str(d.why);
        printf(", \"next_step\": ");
        json_str(d.next);
        printf(", \"config_tls\": \"%s\", \"config_source\": ",
               (const char *[]){"unknown", "not set", "m", "y"}[facts.config]);
        if (facts.config_source)
            json_str(facts.config_source);
        else
            fputs("null", stdout);
        printf(", \"module\": ");
        if (facts.module_path)
            json_str(facts.module_path);
        else
            fputs("null", stdout);
        printf(", \"module_loaded\": %s, \"cap_net_admin\": %s}", facts.module_loaded ? "true" : "false",
               facts.cap_net_admin ? "true" : "false");
        printf(",\n  \"ulp\": {\"attaches\": %s, \"error\": ", ulp_err ? "false" : "true");
        json_err(ulp_err);
        printf("},\n  \"ciphers\": [\n");
        for (size_t i = 0; i < NPROBES; i++) {
            const struct probe *p = &probes[i];
            printf("    {\"tls\": \"%s\", \"cipher\": \"%s\", \"tx\": %s, \"rx\": %s, \"tx_error\": ",
                   p->version == 0x0304 ? "1.3" : "1.2", p->cipher_name, p->tx_err ? "false" : "true",
                   p->rx_err ? "false" : "true");
            json_err(p->tx_err);
            printf(", \"rx_error\": ");
            json_err(p->rx_err);
            printf(", \"min_kernel\": ");
            json_str(check_min_kernel(p->version, p->cipher_name));
            printf("}%s\n", i + 1 < NPROBES ? "," : "");
        }
        printf("  ],\n  \"rekey\": {\"tls\": \"1.3\", \"tx\": %s, \"error\": ", rekey_err == 0 ? "true" : "false");
        json_err(rekey_err < 0 ? ulp_err : rekey_err);
        printf(", \"min_kernel\": \"%s\"}", CHECK_REKEY_MIN_KERNEL);
        printf(",\n  \"tls_stat\": {");
        for (int i = 0; i < nstat; i++) {
            printf("%s", i ? ", " : "");
            json_str(names[i]);
            printf(": %lld", values[i]);
        }
        printf("},\n  \"openssl\": {\"library\": ");
        if (o.library)
            json_str(o.library);
        else
            fputs("null", stdout);
        printf(", \"version\": ");
        if (o.library)
            json_str(o.version);
        else
            fputs("null", stdout);
        printf("},\n  \"device_offload\": {\"counters\": %s, \"interfaces\": [",
               device_counters ? "true" : "false");
        for (int i = 0; i < nnics; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            json_str(nics[i].name);
            printf(", \"tls_hw_tx\": \"%s\", \"tls_hw_rx\": \"%s\"}", tri(nics[i].tx), tri(nics[i].rx));
        }
        printf("]}\n}\n");
    } else {
        printf("kernel:            %s\n", u.release);
        if (ulp_err) {
            printf("tls ULP:           missing (setsockopt TCP_ULP \"tls\": %s)\n", strerror(ulp_err));
            printf("ciphers:           not probed: no tls ULP to take keys\n");
        } else {
            printf("tls ULP:           attaches\n");
            printf("ciphers (setsockopt SOL_TLS on a loopback pair; since: first kernel with it):\n");
            for (size_t i = 0; i < NPROBES; i++) {
                const struct probe *p = &probes[i];
                printf("  TLS %s %-18s TX %-3s RX %-3s  since %-15s", p->version == 0x0304 ? "1.3" : "1.2",
                       p->cipher_name, p->tx_err ? "no" : "yes", p->rx_err ? "no" : "yes",
                       check_min_kernel(p->version, p->cipher_name));
                if (p->tx_err || p->rx_err)
                    printf(" (%s)", strerror(p->tx_err ? p->tx_err : p->rx_err));
                printf("\n");
            }
            printf("  TLS 1.3 KeyUpdate (rekey)  TX %-3s         since %-15s", rekey_err ? "no" : "yes",
                   CHECK_REKEY_MIN_KERNEL);
            if (rekey_err)
                printf(" (%s: a peer's KeyUpdate ends the connection)", strerror(rekey_err));
            printf("\n");
        }
        printf("/proc/net/tls_stat:%s", nstat ? "\n" : " absent\n");
        for (int i = 0; i < nstat; i++)
            printf("  %-28s %lld\n", names[i], values[i]);
        printf("OpenSSL:           %s%s%s\n", o.library ? o.library : "not found",
               o.library ? ", " : "", o.library ? o.version : "");
        printf("device (NIC) offload: counters %s", device_counters ? "present" : "absent");
        for (int i = 0; i < nnics; i++)
            printf("; %s tls-hw-tx %s, tls-hw-rx %s", nics[i].name, tri(nics[i].tx), tri(nics[i].rx));
        printf("\n");
        printf("software kTLS:     %s\n", works ? "works" : "does NOT work (why and next step: on stderr)");
    }
    if (!works)
        fprintf(stderr, "ktls-check: no software kTLS here: %s\nktls-check: next step: %s\n", d.why, d.next);
    return works ? 0 : 1;
}

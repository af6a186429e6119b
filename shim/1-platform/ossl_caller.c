#include "ossl_caller.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "log.h"

struct caller_range ossl_caller_ranges[OSSL_CALLER_RANGES];
atomic_uint ossl_caller_count;

/* One table per other OpenSSL, found by the address of its SSL_new (or of
 * its BIO_ctrl for code that uses libcrypto alone). Never freed: a range may
 * point at it for the life of the process. */
struct foreign_lib {
    const void *key;
    struct ossl_table table;
    struct foreign_lib *next;
};
static struct foreign_lib *foreign_libs;

/* Held while classifying (dladdr, dlopen, dlsym): a forked child must not
 * inherit it held by a thread it does not have. */
static pthread_mutex_t classify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void lock_classify(void) { pthread_mutex_lock(&classify_lock); }
static void unlock_classify(void) { pthread_mutex_unlock(&classify_lock); }
static void install_fork_handlers(void)
{
    pthread_atfork(lock_classify, unlock_classify, unlock_classify);
}

/* The loaded extent of the object mapped at base, from its own program
 * headers (the first PT_LOAD maps the ELF header): 0 if it cannot tell. */
static int object_span(uintptr_t base, uintptr_t *start, uintptr_t *len)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return 0;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        lo = ph[i].p_vaddr < lo ? ph[i].p_vaddr : lo;
        hi = ph[i].p_vaddr + ph[i].p_memsz > hi ? ph[i].p_vaddr + ph[i].p_memsz : hi;
    }
    if (hi <= lo)
        return 0;
    /* shared objects and PIE link at 0; a fixed-address program at its base */
    uintptr_t bias = base - (lo & ~(uintptr_t)0xfff);
    *start = bias + lo;
    *len = hi - lo;
    return 1;
}

/* name as the object behind handle sees it: its own dependencies first (the
 * library it was linked against), never our hook. */
static void *own_symbol(void *handle, const char *name)
{
    void *p = dlsym(handle, name);
    return p && !ossl_is_ours(p) ? p : NULL;
}

static const struct ossl_table *foreign_table(void *handle, const void *key, const char *caller)
{
    for (struct foreign_lib *f = foreign_libs; f; f = f->next)
        if (f->key == key)
            return &f->table;
    struct foreign_lib *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->key = key;
#define FILL(name) f->table.name = (__typeof__(name) *)own_symbol(handle, #name);
    OSSL_INTERPOSED(FILL)
    OSSL_INTERPOSED_OPTIONAL(FILL)
#undef FILL
    Dl_info lib;
    const char *libname = dladdr(key, &lib) && lib.dli_fname ? lib.dli_fname : "?";
    f->next = foreign_libs;
    foreign_libs = f;
    LOG_INFO("a second OpenSSL in this process (%s, called from %s): its connections stay in "
             "OpenSSL, untouched", libname, caller);
    return &f->table;
}

/* Which OpenSSL the object called from would use without us. The main
 * program binds through the global scope, where the served OpenSSL is
 * found (ossl.c); any other object is asked in its own scope. */
static const struct ossl_table *classify_object(const Dl_info *caller)
{
    Dl_info main_program;
    if (dladdr((const void *)getauxval(AT_ENTRY), &main_program)
        && main_program.dli_fbase == caller->dli_fbase)
        return NULL;
    if (!caller->dli_fname || !caller->dli_fname[0])
        return NULL;
    void *h = dlopen(caller->dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return NULL;
    /* h is kept: the object stays mapped, so its range never names another */
    void *ssl_new = own_symbol(h, "SSL_new");
    if (ssl_new) {
        const void *served = (const void *)ossl_resolve()->SSL_new;
        return ssl_new == served ? NULL : foreign_table(h, ssl_new, caller->dli_fname);
    }
    void *bio_ctrl = own_symbol(h, "BIO_ctrl");
    if (bio_ctrl && bio_ctrl != (void *)ossl_bio_ctrl())
        return foreign_table(h, bio_ctrl, caller->dli_fname);
    return NULL;
}

const struct ossl_table *ossl_caller_classify(const void *return_address)
{
    Dl_info info;
    /* code no object holds (a JIT's): its calls are taken as the served one's */
    if (!dladdr(return_address, &info) || !info.dli_fbase)
        return NULL;
    pthread_once(&fork_once, install_fork_handlers);
    int saved = errno;
    pthread_mutex_lock(&classify_lock);
    uintptr_t a = (uintptr_t)return_address;
    unsigned n = atomic_load_explicit(&ossl_caller_count, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        if (a - ossl_caller_ranges[i].start < ossl_caller_ranges[i].len) {
            pthread_mutex_unlock(&classify_lock);
            errno = saved;
            return ossl_caller_ranges[i].foreign;
        }
    }
    const struct ossl_table *t = classify_object(&info);
    uintptr_t start, len;
    if (n < OSSL_CALLER_RANGES && object_span((uintptr_t)info.dli_fbase, &start, &len)
        && a - start < len) {
        ossl_caller_ranges[n] = (struct caller_range){start, len, t};
        atomic_store_explicit(&ossl_caller_count, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&classify_lock);
    errno = saved;
    return t;
}

atomic_uintptr_t ossl_served_start, ossl_served_len;

static void find_served_span(void)
{
    Dl_info lib;
    uintptr_t start, len;
    const void *ssl_new = (const void *)ossl_resolve()->SSL_new;
    if (ssl_new && dladdr(ssl_new, &lib) && lib.dli_fbase
        && object_span((uintptr_t)lib.dli_fbase, &start, &len)) {
        atomic_store_explicit(&ossl_served_start, start, memory_order_relaxed);
        atomic_store_explicit(&ossl_served_len, len, memory_order_release);
    }
}

void ossl_served_span_find(void)
{
    /* once libssl is resolved; until then (never, without OpenSSL) every
     * call takes the hooks' ordinary way */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (ossl_resolve()->SSL_new)
        pthread_once(&once, find_served_span);
}

void ossl_absent(const char *name)
{
    static atomic_int said;
    if (!atomic_exchange(&said, 1))
        LOG_ERROR("%s was called, but no OpenSSL in this process has it: failing the call "
                  "with ENOSYS", name);
    errno = ENOSYS;
}

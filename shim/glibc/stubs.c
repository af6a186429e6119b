/* Link-time stand-ins for libdl.so.2 and libpthread.so.0, never installed or
 * loaded. Since glibc 2.34 these functions live in libc.so.6 under the new
 * version GLIBC_2.34, and linking against that libc would make the shim
 * unloadable on older systems. Linked against these stubs instead, the
 * library asks for them exactly as a build on glibc 2.28 did: from libdl.so.2
 * and libpthread.so.0 at the architecture's base version. Every glibc still
 * provides that (2.34 and later keep the old versions in libc.so.6, and
 * libdl.so.2/libpthread.so.0 as empty placeholders), and before 2.34 the
 * loader insists the symbol is in the file the version names, which is why
 * pinning with .symver alone (the file would be libc.so.6) is not enough.
 * The version script (built by the Makefile) picks which names each stub
 * exports; bodies are never run. */
void dlopen(void) {}
void dlsym(void) {}
void dlvsym(void) {}
void dlclose(void) {}
void dlerror(void) {}
void dladdr(void) {}
void pthread_once(void) {}
void pthread_mutex_init(void) {}
void pthread_mutex_destroy(void) {}
void pthread_mutex_lock(void) {}
void pthread_mutex_trylock(void) {}
void pthread_mutex_unlock(void) {}
void pthread_key_create(void) {}
void pthread_key_delete(void) {}
void pthread_getspecific(void) {}
void pthread_setspecific(void) {}
void pthread_rwlock_init(void) {}
void pthread_rwlock_destroy(void) {}
void pthread_rwlock_rdlock(void) {}
void pthread_rwlock_wrlock(void) {}
void pthread_rwlock_unlock(void) {}
void pthread_sigmask(void) {}
void pthread_self(void) {}
void pthread_create(void) {}
void pthread_join(void) {}
void pthread_detach(void) {}

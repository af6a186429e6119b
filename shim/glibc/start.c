/* The tools' entry into glibc, pinned to the architecture's base version.
 * crt1.o from glibc 2.34 and later calls __libc_start_main@GLIBC_2.34, which
 * older systems lack, so the link wraps that call (-Wl,--wrap) and makes the
 * old one instead. The old entry point runs the program's constructors only
 * through the init function it is given (newer crt1.o gives none), so this
 * passes one that does what glibc's own did: _init, then .init_array.
 * Destructors need nothing here: ld.so runs the program's .fini_array. */
#include <stddef.h>

#ifndef KTLS_GLIBC_BASE
#error "KTLS_GLIBC_BASE (e.g. \"GLIBC_2.2.5\") comes from the Makefile"
#endif

typedef int (*main_fn)(int, char **, char **);
typedef void (*ctor_fn)(int, char **, char **);

int ktls_libc_start_main_base(main_fn main, int argc, char **argv, ctor_fn init, void (*fini)(void),
                              void (*rtld_fini)(void), void *stack_end);
__asm__(".symver ktls_libc_start_main_base, __libc_start_main@" KTLS_GLIBC_BASE);

extern void _init(void);
extern const ctor_fn __init_array_start[] __attribute__((visibility("hidden")));
extern const ctor_fn __init_array_end[] __attribute__((visibility("hidden")));

static void run_constructors(int argc, char **argv, char **envp)
{
    _init();
    for (const ctor_fn *f = __init_array_start; f < __init_array_end; f++)
        (*f)(argc, argv, envp);
}

int __wrap___libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                             void (*rtld_fini)(void), void *stack_end);
int __wrap___libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                             void (*rtld_fini)(void), void *stack_end)
{
    (void)init;
    (void)fini;
    return ktls_libc_start_main_base(main, argc, argv, run_constructors, NULL, rtld_fini, stack_end);
}

/* The interposed sigaction() and signal(): where the shim caught SIGTERM or
 * SIGINT for its final stats file (stats_publish.c), the program must still see the
 * SIG_DFL it left there. A program that saves a disposition and restores it
 * later (git's sigchain: old = signal(SIGTERM, SIG_IGN); ...;
 * signal(SIGTERM, old)), or that chains to "the previous handler", would
 * otherwise hold the shim's handler as its own and stop dying of the signal.
 * So the shim's handler is reported as SIG_DFL, and SIG_DFL set by the
 * program puts it back. Every other signal, and every process where the
 * shim caught nothing, goes straight to libc. */
#include <signal.h>
#include <string.h>

#include "hooks.h"
#include "libc.h"
#include "stats_publish.h"

static void shown_as_default(struct sigaction *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sa_handler = SIG_DFL;
    sigemptyset(&sa->sa_mask);
}

static int asks_default(const struct sigaction *act)
{
    return act && !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_DFL;
}

/* sig is one the shim caught */
static int change(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction ours;
    if (asks_default(act)) {
        stats_signal_disposition(&ours);
        act = &ours;
    }
    int r = libc()->sigaction(sig, act, old);
    if (r == 0 && old && stats_signal_is_ours(old))
        shown_as_default(old);
    return r;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (__builtin_expect(!stats_signal_caught(sig), 1))
        return libc()->sigaction(sig, act, old);
    return change(sig, act, old);
}

/* glibc's signal(): BSD semantics (SA_RESTART, the signal blocked in its
 * handler). */
static sighandler_t set_handler(int sig, sighandler_t handler)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof(act));
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    act.sa_flags = SA_RESTART;
    if (change(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

static sighandler_t install(int sig, sighandler_t handler)
{
    if (__builtin_expect(!stats_signal_caught(sig), 1) || handler == SIG_ERR)
        return libc()->signal(sig, handler);
    return set_handler(sig, handler);
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    return install(sig, handler);
}

EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    return install(sig, handler);
}

/* sig_keep MODE: one TLS exchange in the process (so a shim with stats on
 * has caught SIGTERM for its final file), then the program handles SIGTERM
 * the way real programs do, prints "ready" and waits up to 10 s (exit 0).
 * The test sends SIGTERM and compares the exit status and the time it took
 * with the same program run without the shim.
 *   restore    old = signal(SIGTERM, SIG_IGN); signal(SIGTERM, old) (git's sigchain)
 *   sigaction  the same with sigaction()
 *   chain-die  its handler calls the previous one if that is a function, else
 *              puts SIG_DFL back and raises (dies of the signal)
 *   chain-exit its handler notes the signal and calls the previous one if that
 *              is a function; main then exits 3 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "exchange.h"

static struct sigaction previous;
static volatile sig_atomic_t noted;

static void call_previous(int sig)
{
    if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL
        && previous.sa_handler != SIG_IGN)
        previous.sa_handler(sig);
}

static void chain_die(int sig)
{
    if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    call_previous(sig);
}

static void chain_exit(int sig)
{
    noted = 1;
    call_previous(sig);
}

static void take(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &previous);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    char line[512];
    if (!tls_exchange(line, sizeof(line))) {
        fprintf(stderr, "sig_keep: exchange failed: %s\n", line);
        return 1;
    }
    if (!strcmp(mode, "restore")) {
        void (*old)(int) = signal(SIGTERM, SIG_IGN);
        signal(SIGTERM, old);
    } else if (!strcmp(mode, "sigaction")) {
        struct sigaction ign, old;
        memset(&ign, 0, sizeof(ign));
        ign.sa_handler = SIG_IGN;
        sigaction(SIGTERM, &ign, &old);
        sigaction(SIGTERM, &old, NULL);
    } else if (!strcmp(mode, "chain-die")) {
        take(chain_die);
    } else if (!strcmp(mode, "chain-exit")) {
        take(chain_exit);
    } else {
        fprintf(stderr, "usage: sig_keep restore|sigaction|chain-die|chain-exit\n");
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 100 && !noted; i++) {
        struct timespec t = {0, 100000000};
        nanosleep(&t, NULL);
    }
    return noted ? 3 : 0;
}

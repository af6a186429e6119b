/* seqfuzz's calls beyond reads and writes (tests/progs/seqfuzz.c includes
 * this after its core): descriptor shuffles, fork and vfork children, a
 * write BIO the program holds, file ranges through SSL_sendfile, and the
 * interval timer whose signals interrupt blocking calls. Each prints only
 * what a program sees the same with and without the shim. */
#ifndef KTLS_TEST_SEQFUZZ_OPS_H
#define KTLS_TEST_SEQFUZZ_OPS_H

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

/* SIGALRM from an interval timer, without SA_RESTART: a blocking wait in
 * OpenSSL (or in the shim's kernel path) returns EINTR and the call fails
 * with WANT_READ/WANT_WRITE or SYSCALL. A program retries it; so does
 * seqfuzz, silently (when a signal lands depends on timing), counting the
 * retries for a '#' line. */
static volatile sig_atomic_t alarms;
static unsigned long eintr_retries;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void start_timer(unsigned usec)
{
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval t = {.it_interval = {0, (suseconds_t)usec}, .it_value = {0, (suseconds_t)usec}};
    setitimer(ITIMER_REAL, &t, NULL);
}

static void stop_timer(void)
{
    struct itimerval t = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &t, NULL);
}

/* SIGALRM held off around calls that must not see EINTR for the sake of the
 * test's own plumbing (connect/accept of a new connection) */
static void hold_alarm(int on)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* 1: the call failed only because a signal interrupted a wait (errno was 0
 * before it); the error queue is cleared and the call is to be repeated
 * with the same arguments, as OpenSSL asks of a retried write */
static int interrupted(SSL *ssl, int ret, int err_no)
{
    if (ret > 0 || err_no != EINTR)
        return 0;
    int e = SSL_get_error(ssl, ret);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_SYSCALL)
        return 0;
    ERR_clear_error();
    eintr_retries++;
    return 1;
}

#define RETRY_EINTR(ssl, ret, call)                                                    \
    do {                                                                               \
        errno = 0;                                                                     \
        (ret) = (call);                                                                \
    } while (interrupted((ssl), (int)(ret), errno))

static int poll_retry(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    while ((r = poll(&p, 1, 5000)) < 0 && errno == EINTR)
        ;
    return r;
}

static pid_t wait_child(pid_t pid, int *status)
{
    pid_t r;
    while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
        ;
    return r;
}

/* Extra descriptors for an end's socket, held a while and closed: closing a
 * duplicate leaves the connection's own number open, so OpenSSL alone goes
 * on; a shim that keyed its state by socket rather than by number would
 * drop the connection here. (Replacing the connection's own number, even
 * by a dup2 of the same socket, is left out: the shim then fails the
 * connection closed by design, design.md "Descriptors are not
 * identities".) */
#define MAX_DUPS 4

static void close_dups(struct end *e)
{
    for (int i = 0; i < e->ndups; i++)
        close(e->dups[i]);
    e->ndups = 0;
}

static void do_dup(struct end *e)
{
    unsigned how = below(4);
    if (how == 3 && e->ndups > 0) {
        close(e->dups[0]);
        memmove(e->dups, e->dups + 1, (size_t)--e->ndups * sizeof(e->dups[0]));
        printf("%s close a dup\n", e->name);
        return;
    }
    if (how == 2) { /* dup2 onto itself: a no-op that must stay one */
        printf("%s dup2 self -> %s\n", e->name, dup2(e->fd, e->fd) == e->fd ? "same" : "OTHER");
        return;
    }
    if (e->ndups == MAX_DUPS) {
        close_dups(e);
        printf("%s close all dups\n", e->name);
        return;
    }
    /* how 0: the lowest free number; 1: one far above, as a dup2 to a
     * chosen number would give */
    int d = how == 1 ? fcntl(e->fd, F_DUPFD_CLOEXEC, 200 + e->ndups) : dup(e->fd);
    if (d < 0) {
        printf("%s dup FAILED\n", e->name);
        return;
    }
    e->dups[e->ndups++] = d;
    printf("%s dup\n", e->name);
}

/* A child that closes every descriptor it inherited and leaves: fork's
 * child then exits, vfork's (which shares the parent's memory until it
 * execs) execs /bin/true, as a program's spawn of a helper would. The
 * parent's connections must go on as before: a shim that took the vfork
 * child's closes for the parent's would forget them. */
static void do_child(struct end *e, int use_vfork)
{
    int close_range_too = below(2);
    pid_t pid;
    fflush(stdout);
    if (use_vfork) {
        pid = vfork();
        if (pid == 0) {
            if (close_range_too)
                close_range(3, ~0u, 0);
            else
                for (int fd = 3; fd < 256; fd++)
                    close(fd);
            /* an empty environment: the helper runs without the preload
             * (a shimmed, sanitized /bin/true would cost the guest a
             * second per exec and test nothing of this connection) */
            static char *const no_env[] = {NULL};
            execle("/bin/true", "true", (char *)NULL, no_env);
            _exit(127);
        }
    } else {
        pid = fork();
        if (pid == 0) {
            for (int fd = 3; fd < 256; fd++)
                close(fd);
            _exit(0);
        }
    }
    int status = 0;
    if (pid < 0 || wait_child(pid, &status) != pid)
        printf("%s %s FAILED\n", e->name, use_vfork ? "vfork" : "fork");
    else
        printf("%s %s -> child exit %d\n", e->name, use_vfork ? "vfork+exec" : "fork",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The write BIO a program built itself and keeps a pointer to (mod_ssl's
 * split BIOs): harmless calls on it. A shim that let it be freed under the
 * program (it swaps the SSL's write BIO for a sink when OpenSSL must not
 * write) turns this into a use after free, which the ASan build reports. */
static void do_held_wbio(const struct end *e)
{
    if (!e->held_wbio) {
        printf("%s wbio not held\n", e->name);
        return;
    }
    int fd = -1;
    BIO_get_fd(e->held_wbio, &fd);
    printf("%s held wbio: %s fd, %s\n", e->name, fd == e->fd ? "its" : "ANOTHER",
           BIO_method_type(e->held_wbio) == BIO_TYPE_SOCKET ? "socket" : "NOT socket");
}

/* The program gives its SSL new BIOs on the same socket mid-connection
 * (SSL_set_fd again, or a fresh pair of socket BIOs whose write one it
 * keeps): valid in OpenSSL alone, whose buffered records belong to the SSL,
 * not to the BIO. The old ones are freed by OpenSSL here: a shim still
 * using them would be reading freed memory, which ASan reports. */
static void do_swap_bios(struct end *e)
{
    if (below(2)) {
        SSL_set_fd(e->ssl, e->fd);
        e->held_wbio = NULL;
        printf("%s set_fd again\n", e->name);
        return;
    }
    BIO *r = BIO_new_socket(e->fd, BIO_NOCLOSE), *w = BIO_new_socket(e->fd, BIO_NOCLOSE);
    SSL_set_bio(e->ssl, r, w);
    e->held_wbio = w;
    printf("%s new split bios\n", e->name);
}

/* A range of a file sent as the next bytes of the stream: the file holds
 * this end's pattern at the stream offsets, so the reader's check holds.
 * OpenSSL alone has SSL_sendfile only where its own kTLS sends (3.0+; it
 * fails otherwise), the shim serves it always (design.md "File serving"),
 * and 1.1.1 has none: a program that wants both writes what sendfile did
 * not send with SSL_write, and that is what this does. Printed is that the
 * range went, not which call took it. (libc sendfile() on the socket is
 * left out: without the shim it puts clear bytes in the TLS stream, which
 * no program may do, so there is nothing both runs could share.) */
static void do_sendfile(struct end *e, int file)
{
    static uint8_t buf[MAX_WRITE];
    size_t n = next_chunk(e, buf);
    if (n == 0)
        return;
    if (pwrite(file, buf, n, (off_t)e->written) != (ssize_t)n) {
        printf("%s sendfile: file FAILED\n", e->name);
        exit(1);
    }
    size_t sent = 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    while (sent < n) {
        ossl_ssize_t r;
        errno = 0;
        r = SSL_sendfile(e->ssl, file, (off_t)(e->written + sent), n - sent, 0);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        if (interrupted(e->ssl, (int)r, errno))
            continue;
        if (e->nonblocking && SSL_get_error(e->ssl, (int)r) == SSL_ERROR_WANT_WRITE
            && poll_retry(e->fd, POLLOUT) == 1) {
            ERR_clear_error();
            continue;
        }
        break;
    }
    ERR_clear_error(); /* a refusal here is answered by the writes below */
#endif
    while (sent < n) {
        int r;
        RETRY_EINTR(e->ssl, r, SSL_write(e->ssl, buf + sent, (int)(n - sent)));
        if (r <= 0) {
            e->written += sent;
            say_outcome(e, "sendfile", r);
            return;
        }
        sent += (size_t)r;
    }
    e->written += n;
    printf("%s sendfile %zu -> all\n", e->name, n);
}

#endif

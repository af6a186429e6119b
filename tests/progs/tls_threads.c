/* tls_threads: concurrency and process-model cases in one ordinary OpenSSL
 * program, both ends in-process over loopback TCP so the guest starts one
 * process, not hundreds.
 *
 * tls_threads threads [--threads N] [--conns N] [--bytes N] [--tls 1.2|1.3]
 *   N server threads share one SSL_CTX and one listening socket; N client
 *   threads each run --conns connections one after another, alternately
 *   with a fresh SSL and with the previous SSL reused after SSL_clear, so
 *   descriptor numbers are closed and reused all the time. Each connection
 *   sends --bytes of a per-connection pattern; the server echoes; the client
 *   checks every byte.
 * tls_threads fork [--bytes N] [--tls 1.2|1.3]
 *   The server side completes the handshake, then forks: the child carries
 *   the connection on (echo), the parent frees its SSL and closes its copy.
 * tls_threads threads ... --probe
 *   As threads, plus a thread that keeps asking about every descriptor
 *   number the connections use (sendfile of 0 bytes, BIO_get_ktls_send on a
 *   socket BIO) while they are freed and reused: the shim's fd map must never
 *   hand it a freed connection (run under ASan).
 * tls_threads forkstorm [--threads N] [--forks N] [--tls 1.2|1.3]
 *   N threads run connections and open/close sockets without pause while the
 *   main thread forks --forks times; each child must close a socket, make an
 *   SSL and run one connection of its own within 60 s (a lock held by a
 *   thread that does not exist in the child would hang it). OpenSSL itself
 *   is not fork-safe: its global locks (the ex_data lock SSL_new and BIO_new
 *   take, the DRBG's) may be held by a busy thread at the fork, and a child
 *   then waits for ever with or without the shim (seen in the guest about
 *   once in 300 forks, in SSL_new and in RAND_bytes under SSL_connect). So
 *   a child still stuck after 20 s looks at its own stack: waiting in a
 *   lock that OpenSSL took itself (libcrypto or libssl directly above libc)
 *   counts as hung_in_openssl; anywhere else (the shim, an I/O wait through
 *   the shim's hooks, the program) counts as hung. Prints
 *   "FORKS ok= hung= hung_in_openssl= failed="; exit 0 needs hung=0 and
 *   failed=0.
 * tls_threads sendfile-rekey [--bytes N] [--updates K]
 *   nginx's "aio threads" shape on TLS 1.3: one server thread sends a file
 *   of N bytes with sendfile() while another sits in SSL_read; the client
 *   asks for a KeyUpdate (update_requested) K times during the transfer, so
 *   the SSL_read thread owes an answer while the sendfile thread sends. The
 *   client checks every byte against the file's pattern. Prints "SENDFILE
 *   bytes= intact= updates= pings= ktls_tx= ktls_rx=" (pings: the client's
 *   update carrying bytes the server read).
 * tls_threads signal [--seconds N]
 *   A thread opens and closes sockets without pause while another interrupts
 *   it with signals whose handler calls close() (async-signal-safe, so it
 *   must never wait for a lock its own thread holds). Prints "SIGNALS sent=
 *   handled=" once the time is up; a deadlock ends in the 300 s alarm.
 *
 * Prints "THREADS ok=N failed=N ktls_tx=N ktls_rx=N" (ktls_*: server-side
 * connections whose socket had TLS_TX / TLS_RX set). Exit 0 iff failed=0. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <execinfo.h>
#include <link.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "test_identity.h"

static int threads = 8, conns = 4, version = TLS1_3_VERSION, probe, forks = 100, seconds = 3;
static unsigned child_seconds = 20; /* a child this late is stuck, not slow */
static atomic_int stop;
#define BIO_CTRL_GET_KTLS_SEND_NUMBER 73 /* BIO_CTRL_GET_KTLS_SEND, absent from 1.1.1's headers */

static void *prober(void *arg);
static size_t bytes = 65536;
static int listen_fd, port;
static SSL_CTX *server_ctx, *client_ctx;
static atomic_int ok_count, failed_count, ktls_tx_count, ktls_rx_count, to_serve;

static void pattern(unsigned char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)((i * 131 + seed * 7919) >> 3);
}

static int ktls_set(int fd, int name)
{
    unsigned char info[4];
    socklen_t len = sizeof(info);
    return getsockopt(fd, 282 /* SOL_TLS */, name, info, &len) == 0;
}

static int write_all(SSL *ssl, const unsigned char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, p, (int)(n > 16384 ? 16384 : n));
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

static int read_all(SSL *ssl, unsigned char *p, size_t n)
{
    while (n > 0) {
        int r = SSL_read(ssl, p, (int)n);
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

/* Echo one connection on an accepted, handshaken SSL. */
static int echo(SSL *ssl, int fd)
{
    unsigned char *buf = malloc(bytes);
    int good = read_all(ssl, buf, bytes) && write_all(ssl, buf, bytes);
    if (ktls_set(fd, 1))
        atomic_fetch_add(&ktls_tx_count, 1);
    if (ktls_set(fd, 2))
        atomic_fetch_add(&ktls_rx_count, 1);
    if (good && SSL_shutdown(ssl) == 0)
        SSL_shutdown(ssl); /* wait for the client's close_notify */
    free(buf);
    return good;
}

static void *server_thread(void *arg)
{
    (void)arg;
    while (atomic_fetch_sub(&to_serve, 1) > 0) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        SSL *ssl = SSL_new(server_ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1 || !echo(ssl, fd)) {
            ERR_print_errors_fp(stderr);
            atomic_fetch_add(&failed_count, 1);
        }
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

static int tcp_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One client connection; ssl is fresh or SSL_clear'ed. 1 if every byte came back. */
static int client_once(SSL *ssl, unsigned seed)
{
    int fd = tcp_connect();
    if (fd < 0)
        return 0;
    unsigned char *out = malloc(bytes), *in = malloc(bytes);
    pattern(out, bytes, seed);
    SSL_set_fd(ssl, fd);
    int good = SSL_connect(ssl) == 1 && write_all(ssl, out, bytes) && read_all(ssl, in, bytes)
               && memcmp(in, out, bytes) == 0;
    if (good) {
        /* both close_notifys, so the SSL can be cleared and reused */
        int r = SSL_shutdown(ssl);
        if (r == 0)
            r = SSL_shutdown(ssl);
        good = r == 1;
    }
    if (!good)
        ERR_print_errors_fp(stderr);
    close(fd);
    free(out);
    free(in);
    return good;
}

static void *client_thread(void *arg)
{
    unsigned id = (unsigned)(size_t)arg;
    SSL *ssl = NULL;
    for (int i = 0; i < conns; i++) {
        if (ssl && i % 2 == 1) {
            if (SSL_clear(ssl) != 1) { /* reuse the object for the next connection */
                SSL_free(ssl);
                ssl = NULL;
            }
        } else {
            SSL_free(ssl);
            ssl = SSL_new(client_ctx);
        }
        if (ssl && client_once(ssl, id * 1000 + (unsigned)i))
            atomic_fetch_add(&ok_count, 1);
        else
            atomic_fetch_add(&failed_count, 1);
    }
    SSL_free(ssl);
    return NULL;
}

static SSL_CTX *make_ctx(int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    if (server && !use_self_signed_identity(ctx, test_ec_key(), 86400)) {
        fprintf(stderr, "tls_threads: no identity\n");
        exit(2);
    }
    return ctx;
}

static void start_listening(void)
{
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(listen_fd, 1024)
        || getsockname(listen_fd, (struct sockaddr *)&a, &len)) {
        perror("tls_threads: listen");
        exit(2);
    }
    port = ntohs(a.sin_port);
}

static void run_threads(void)
{
    atomic_store(&to_serve, threads * conns);
    pthread_t *s = calloc((size_t)threads, sizeof(*s)), *c = calloc((size_t)threads, sizeof(*c));
    for (int i = 0; i < threads; i++)
        pthread_create(&s[i], NULL, server_thread, NULL);
    for (int i = 0; i < threads; i++)
        pthread_create(&c[i], NULL, client_thread, (void *)(size_t)(i + 1));
    pthread_t p;
    if (probe)
        pthread_create(&p, NULL, prober, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(c[i], NULL);
    atomic_store(&stop, 1);
    if (probe)
        pthread_join(p, NULL);
    shutdown(listen_fd, SHUT_RDWR); /* a server thread still in accept() after a failure */
    for (int i = 0; i < threads; i++)
        pthread_join(s[i], NULL);
    free(s);
    free(c);
}

/* The server hands a handshaken connection to a child process. */
static void run_fork(void)
{
    pid_t client = fork();
    if (client == 0) {
        SSL *ssl = SSL_new(client_ctx);
        int good = client_once(ssl, 42);
        SSL_free(ssl);
        _exit(good ? 0 : 1);
    }
    int fd = accept(listen_fd, NULL, NULL);
    SSL *ssl = SSL_new(server_ctx);
    SSL_set_fd(ssl, fd);
    int handshaken = SSL_accept(ssl) == 1;
    pid_t worker = handshaken ? fork() : -1;
    if (worker == 0) {
        int good = echo(ssl, fd);
        SSL_free(ssl);
        close(fd);
        printf("CHILD ktls_tx=%d ktls_rx=%d\n", atomic_load(&ktls_tx_count),
               atomic_load(&ktls_rx_count));
        fflush(stdout);
        _exit(good ? 0 : 1);
    }
    /* the parent lets go without a word to the peer: the child owns it now */
    SSL_set_quiet_shutdown(ssl, 1);
    SSL_free(ssl);
    close(fd);
    int st_worker = 1, st_client = 1;
    if (worker > 0)
        waitpid(worker, &st_worker, 0);
    waitpid(client, &st_client, 0);
    int good = worker > 0 && WIFEXITED(st_worker) && WEXITSTATUS(st_worker) == 0
               && WIFEXITED(st_client) && WEXITSTATUS(st_client) == 0;
    atomic_fetch_add(good ? &ok_count : &failed_count, 1);
}

/* Asks about every low descriptor number, again and again, while the
 * connection threads free SSLs and reuse numbers. */
static void *prober(void *arg)
{
    (void)arg;
    int in = open("/dev/null", O_RDONLY);
    while (!atomic_load(&stop)) {
        for (int fd = 3; fd < 3 + 4 * threads + 8; fd++) {
            off_t off = 0;
            (void)sendfile(fd, in, &off, 0);
            BIO *b = BIO_new_socket(fd, BIO_NOCLOSE);
            /* BIO_get_ktls_send(b): a macro of 3.0+, the ctrl the shim answers */
            (void)BIO_ctrl(b, BIO_CTRL_GET_KTLS_SEND_NUMBER, 0, NULL);
            BIO_free(b);
        }
    }
    close(in);
    return NULL;
}

/* Opens and closes sockets without pause: the fd map's close path. */
static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

static void *connection_loop(void *arg)
{
    unsigned id = (unsigned)(size_t)arg, i = 0;
    while (!atomic_load(&stop)) {
        SSL *ssl = SSL_new(client_ctx);
        if (!client_once(ssl, id * 100000 + i++))
            atomic_fetch_add(&failed_count, 1);
        SSL_free(ssl);
    }
    return NULL;
}

static void *serve_forever(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        SSL *ssl = SSL_new(server_ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1)
            (void)echo(ssl, fd);
        SSL_free(ssl);
        close(fd);
    }
}

/* sendfile-rekey: the byte at offset i of the file, as the client expects it */
static unsigned char file_byte(size_t i)
{
    return (unsigned char)((i * 131 + i / 65521) >> 2);
}

static int updates = 64;
static size_t sendfile_sent;
static atomic_int sendfile_failed;

struct sendfile_job {
    int sock, file;
};

/* The aio thread: the whole file in 64 KiB sendfile() calls, as nginx's
 * sendfile_max_chunk-bounded writes make them. */
static void *sendfile_thread(void *arg)
{
    struct sendfile_job *job = arg;
    off_t off = 0;
    while ((size_t)off < bytes) {
        size_t want = bytes - (size_t)off > 65536 ? 65536 : bytes - (size_t)off;
        ssize_t n = sendfile(job->sock, job->file, &off, want);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            fprintf(stderr, "tls_threads: sendfile at %lld: %s\n", (long long)off,
                    n < 0 ? strerror(errno) : "0 bytes");
            atomic_store(&sendfile_failed, 1);
            break;
        }
    }
    sendfile_sent = (size_t)off;
    return NULL;
}

static void *sendfile_client(void *arg)
{
    int *result = arg, fd = tcp_connect();
    SSL *ssl = SSL_new(client_ctx);
    SSL_set_fd(ssl, fd);
    unsigned char buf[16384];
    size_t got = 0, next_update = bytes / (size_t)(updates + 1);
    int intact = 1, sent_updates = 0;
    if (SSL_connect(ssl) != 1)
        intact = 0;
    while (intact && got < bytes) {
        int r = SSL_read(ssl, buf, sizeof(buf));
        if (r <= 0) {
            fprintf(stderr, "tls_threads: client read at %zu: SSL_get_error %d\n", got,
                    SSL_get_error(ssl, r));
            intact = 0;
            break;
        }
        for (int i = 0; i < r; i++)
            if (buf[i] != file_byte(got + (size_t)i)) {
                fprintf(stderr, "tls_threads: byte %zu differs\n", got + (size_t)i);
                intact = 0;
                break;
            }
        got += (size_t)r;
        if (sent_updates < updates && got >= next_update && got < bytes) {
            /* the KeyUpdate goes out with the next record: a ping */
            if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_write(ssl, "p", 1) != 1) {
                fprintf(stderr, "tls_threads: client KeyUpdate %d failed\n", sent_updates + 1);
                intact = 0;
            }
            sent_updates++;
            next_update += bytes / (size_t)(updates + 1);
        }
    }
    if (intact && SSL_write(ssl, "q", 1) != 1)
        intact = 0;
    if (intact && SSL_shutdown(ssl) == 0)
        (void)SSL_shutdown(ssl);
    if (!intact)
        ERR_print_errors_fp(stderr);
    SSL_free(ssl);
    close(fd);
    result[0] = intact;
    result[1] = sent_updates;
    result[2] = (int)(got == bytes);
    return NULL;
}

static void run_sendfile_rekey(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tls_threads.XXXXXX", dir && *dir ? dir : "/tmp");
    int file = mkstemp(path);
    if (file < 0) {
        perror("tls_threads: mkstemp");
        exit(2);
    }
    unlink(path);
    unsigned char block[65536];
    for (size_t off = 0; off < bytes; off += sizeof(block)) {
        size_t n = bytes - off > sizeof(block) ? sizeof(block) : bytes - off;
        for (size_t i = 0; i < n; i++)
            block[i] = file_byte(off + i);
        if (write(file, block, n) != (ssize_t)n) {
            perror("tls_threads: write");
            exit(2);
        }
    }
    int result[3] = {0, 0, 0};
    pthread_t client;
    pthread_create(&client, NULL, sendfile_client, result);
    int fd = accept(listen_fd, NULL, NULL);
    SSL *ssl = SSL_new(server_ctx);
    SSL_set_fd(ssl, fd);
    int pings = 0, good = SSL_accept(ssl) == 1;
    if (good) {
        int tx = ktls_set(fd, 1), rx = ktls_set(fd, 2);
        atomic_fetch_add(&ktls_tx_count, tx);
        atomic_fetch_add(&ktls_rx_count, rx);
        struct sendfile_job job = {fd, file};
        pthread_t sender;
        pthread_create(&sender, NULL, sendfile_thread, &job);
        char c = 0;
        /* the SSL_read thread: each ping's record follows a KeyUpdate that
         * asks for ours, which the shim sends from here */
        while (c != 'q') {
            int r = SSL_read(ssl, &c, 1);
            if (r != 1) {
                fprintf(stderr, "tls_threads: server read: SSL_get_error %d\n", SSL_get_error(ssl, r));
                good = 0;
                break;
            }
            pings += c == 'p';
        }
        pthread_join(sender, NULL);
        if (good && SSL_shutdown(ssl) == 0)
            (void)SSL_shutdown(ssl);
    }
    pthread_join(client, NULL);
    if (!good)
        ERR_print_errors_fp(stderr);
    SSL_free(ssl);
    close(fd);
    close(file);
    printf("SENDFILE bytes=%zu intact=%d updates=%d pings=%d ktls_tx=%d ktls_rx=%d\n",
           sendfile_sent, result[0] && result[2], result[1], pings, atomic_load(&ktls_tx_count),
           atomic_load(&ktls_rx_count));
    int ok = good && result[0] && result[2] && !atomic_load(&sendfile_failed) && pings == updates;
    atomic_fetch_add(ok ? &ok_count : &failed_count, 1);
}

/* Where a stuck child waits (see forkstorm above): the executable ranges
 * of libc, OpenSSL and the shim, noted before any fork so the child's
 * alarm handler needs no loader lock. */
enum code_owner { OWNER_OTHER, OWNER_LIBC, OWNER_OPENSSL, OWNER_SHIM };
static struct { uintptr_t lo, hi; enum code_owner owner; } code[32];
static int code_count;
#define EXIT_HUNG_IN_OPENSSL 3
#define EXIT_HUNG 4

static int note_code(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    const char *name = info->dlpi_name;
    enum code_owner owner = strstr(name, "libcrypto.so") || strstr(name, "libssl.so") ? OWNER_OPENSSL
                            : strstr(name, "libktls-shim")                           ? OWNER_SHIM
                            : strstr(name, "libc.so") || strstr(name, "ld-linux")    ? OWNER_LIBC
                                                                                     : OWNER_OTHER;
    for (int i = 0; owner != OWNER_OTHER && i < info->dlpi_phnum && code_count < 32; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            code[code_count].lo = info->dlpi_addr + ph->p_vaddr;
            code[code_count].hi = code[code_count].lo + ph->p_memsz;
            code[code_count++].owner = owner;
        }
    }
    return 0;
}

static enum code_owner owner_of(void *pc)
{
    for (int i = 0; i < code_count; i++)
        if ((uintptr_t)pc >= code[i].lo && (uintptr_t)pc < code[i].hi)
            return code[i].owner;
    return OWNER_OTHER;
}

/* The child's alarm: the innermost frame outside libc (frame 0 is this
 * handler, then the signal trampoline) says whose wait this is. */
static void on_child_alarm(int sig)
{
    (void)sig;
    void *frames[64];
    int n = backtrace(frames, 64);
    for (int i = 1; i < n; i++) {
        enum code_owner owner = owner_of(frames[i]);
        if (owner != OWNER_LIBC)
            _exit(owner == OWNER_OPENSSL ? EXIT_HUNG_IN_OPENSSL : EXIT_HUNG);
    }
    _exit(EXIT_HUNG);
}

/* The child of a busy multithreaded parent: only this thread exists. Its
 * connection goes to the parent's listening socket, which it shares. */
static int child_work(void)
{
    struct sigaction sa = {.sa_handler = on_child_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarm(child_seconds);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    SSL *ssl = SSL_new(client_ctx);
    int good = ssl && client_once(ssl, 4242);
    SSL_free(ssl);
    return good ? 0 : 1;
}

static void run_forkstorm(void)
{
    pthread_t server, *busy = calloc((size_t)threads, sizeof(*busy));
    dl_iterate_phdr(note_code, NULL);
    void *warm[4];
    (void)backtrace(warm, 4); /* loads the unwinder now, not in a child */
    pthread_create(&server, NULL, serve_forever, NULL);
    for (int i = 0; i < threads; i++)
        pthread_create(&busy[i], NULL, i % 2 ? churn : connection_loop, (void *)(size_t)(i + 1));
    int ok = 0, hung = 0, hung_in_openssl = 0, failed = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_work());
        int st = 0;
        waitpid(pid, &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (code == EXIT_HUNG_IN_OPENSSL)
            hung_in_openssl++;
        else if (code == EXIT_HUNG || (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM))
            hung++;
        else if (code == 0)
            ok++;
        else
            failed++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(busy[i], NULL);
    shutdown(listen_fd, SHUT_RDWR);
    pthread_join(server, NULL);
    free(busy);
    printf("FORKS ok=%d hung=%d hung_in_openssl=%d failed=%d\n", ok, hung, hung_in_openssl, failed);
    atomic_fetch_add(&ok_count, ok);
    atomic_fetch_add(&failed_count, hung + failed);
}

static atomic_long handled;

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    close(1000000); /* not open: EBADF, but the shim's close path runs */
    atomic_fetch_add(&handled, 1);
    errno = saved;
}

static void run_signal(void)
{
    /* one connection first, so the shim's fd map is in use */
    pthread_t server;
    pthread_create(&server, NULL, serve_forever, NULL);
    SSL *ssl = SSL_new(client_ctx);
    if (!client_once(ssl, 7))
        atomic_fetch_add(&failed_count, 1);
    SSL_free(ssl);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t busy;
    pthread_create(&busy, NULL, churn, NULL);
    long sent = 0;
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        pthread_kill(busy, SIGUSR1);
        sent++;
        usleep(50);
    }
    atomic_store(&stop, 1);
    pthread_join(busy, NULL);
    shutdown(listen_fd, SHUT_RDWR);
    pthread_join(server, NULL);
    printf("SIGNALS sent=%ld handled=%ld\n", sent, atomic_load(&handled));
    atomic_fetch_add(&ok_count, 1);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "threads") && strcmp(argv[1], "fork")
                     && strcmp(argv[1], "forkstorm") && strcmp(argv[1], "signal")
                     && strcmp(argv[1], "sendfile-rekey"))) {
        fprintf(stderr, "usage: tls_threads threads|fork|forkstorm|signal|sendfile-rekey "
                        "[--threads N] [--conns N] [--bytes N] [--tls 1.2|1.3] [--probe] "
                        "[--forks N] [--seconds N] [--updates K]\n");
        return 2;
    }
    for (int i = 2; i < argc; i += 2) {
        if (!strcmp(argv[i], "--probe")) {
            probe = 1;
            i--;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tls_threads: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--forks"))
            forks = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bytes"))
            bytes = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--updates"))
            updates = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tls"))
            version = !strcmp(argv[i + 1], "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
        else {
            fprintf(stderr, "tls_threads: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads <= 0 || conns <= 0 || bytes == 0 || updates < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    alarm(300);
    server_ctx = make_ctx(1);
    client_ctx = make_ctx(0);
    start_listening();
    if (!strcmp(argv[1], "threads"))
        run_threads();
    else if (!strcmp(argv[1], "forkstorm"))
        run_forkstorm();
    else if (!strcmp(argv[1], "signal"))
        run_signal();
    else if (!strcmp(argv[1], "sendfile-rekey"))
        run_sendfile_rekey();
    else
        run_fork();
    printf("THREADS ok=%d failed=%d ktls_tx=%d ktls_rx=%d\n", atomic_load(&ok_count),
           atomic_load(&failed_count), atomic_load(&ktls_tx_count), atomic_load(&ktls_rx_count));
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    close(listen_fd);
    return atomic_load(&failed_count) == 0 && atomic_load(&ok_count) > 0 ? 0 : 1;
}

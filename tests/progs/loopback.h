/* A connected TCP pair on 127.0.0.1 for test programs (blocking sockets).
 * Returns 0, or -1 with nothing left open. */
#ifndef KTLS_TEST_LOOPBACK_H
#define KTLS_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int loopback_pair(int *client, int *server)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    *client = *server = -1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int ok = l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0
             && getsockname(l, (struct sockaddr *)&a, &len) == 0
             && (*client = socket(AF_INET, SOCK_STREAM, 0)) >= 0
             && connect(*client, (struct sockaddr *)&a, sizeof(a)) == 0
             && (*server = accept(l, NULL, NULL)) >= 0;
    if (l >= 0)
        close(l);
    if (!ok) {
        if (*client >= 0)
            close(*client);
        *client = *server = -1;
    }
    return ok ? 0 : -1;
}

#endif

/* The load generator's view of sockets: non-blocking TCP client sockets and
 * a readiness loop that owns them. net_epoll.c implements it with epoll,
 * net_winsock.c with WSAPoll (loadgen.exe; it says there why not a
 * completion port). Errors come back as net_status values, never errno. */
#ifndef WSB_LOADGEN_NET_H
#define WSB_LOADGEN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    NET_OK = 0,
    NET_WOULD_BLOCK,  /* try again when the loop says the socket is ready */
    NET_CLOSED,       /* the peer closed its side (recv only) */
    NET_RESET,        /* connection reset or broken pipe */
    NET_REFUSED,      /* nobody listens there */
    NET_NO_PORTS,     /* ephemeral ports exhausted (EADDRNOTAVAIL) */
    NET_NO_RESOURCES, /* out of descriptors or memory */
    NET_FAILED        /* anything else */
} net_status;

typedef intptr_t net_socket;
#define NET_INVALID_SOCKET ((net_socket)-1)

typedef struct net_address {
    unsigned char storage[128]; /* a sockaddr of either family */
    unsigned length;
} net_address;

typedef struct net_loop net_loop;

typedef struct net_event {
    void *owner; /* as given to net_connect */
    bool readable, writable, failed;
} net_event;

bool net_init(void); /* once per process (WSAStartup on Windows) */
const char *net_status_text(net_status status);

/* Resolves a numeric or named host; false with a one-line reason in `error`. */
bool net_resolve(const char *host, int port, net_address *out, char *error, size_t error_size);

net_loop *net_loop_create(void);
void net_loop_destroy(net_loop *loop);

/* Starts a non-blocking connect (TCP_NODELAY set) and watches the socket for
 * writability, which signals the connect's end; net_connect_result() then
 * tells how it ended. `owner` comes back in every event of the socket. */
net_status net_connect(net_loop *loop, const net_address *to, void *owner, net_socket *out);
net_status net_connect_result(net_socket socket);

/* Which readiness events the loop reports for the socket from now on. */
net_status net_watch(net_loop *loop, net_socket socket, void *owner, bool readable, bool writable);

/* Waits up to timeout_us microseconds (0: poll) for events; returns how
 * many, or -1. Sub-millisecond waits matter to the open-loop rate workload. */
int net_wait(net_loop *loop, net_event *events, int capacity, uint64_t timeout_us);

/* Sends/receives what it can now; *done is the byte count on NET_OK. */
net_status net_send(net_socket socket, const void *data, size_t length, size_t *done);
net_status net_recv(net_socket socket, void *data, size_t length, size_t *done);

/* Half-close: no more sending; the peer sees end-of-file. */
void net_shutdown_send(net_socket socket);
void net_close(net_loop *loop, net_socket socket);

#endif

/* The AcceptEx pool shared by every model that accepts with AcceptEx
 * (overlapped, overlapped-events, iocp, threadpool).
 *
 * A fixed number of AcceptEx calls is kept outstanding on the listener, each
 * into a socket created in advance. How a model learns that one completed
 * differs (a completion port, a thread-pool callback, an event), so the pool
 * does everything else once: arming, the accepted socket's
 * SO_UPDATE_ACCEPT_CONTEXT, admission, the counting rule for failures
 * (server_count_accept_failure), re-arming, and the stop.
 *
 * The stop closes the listener under the pool's lock, the same lock every
 * AcceptEx is issued under, so no AcceptEx ever sees a closed (or, worse,
 * reused) listener handle. Closing the listener completes every outstanding
 * AcceptEx, in Wine 8 too; each such completion takes its op out of service.
 * The pool may be freed once acceptex_pool_outstanding() is 0. */
#ifndef WSB_ACCEPTEX_H
#define WSB_ACCEPTEX_H

#include "server.h"

#include <mswsock.h>

/* AcceptEx wants room for each address plus 16 bytes. */
#define ACCEPTEX_ADDRESS_LENGTH (sizeof(struct sockaddr_in6) + 16)

typedef struct acceptex_pool acceptex_pool;

typedef struct acceptex_op {
    OVERLAPPED overlapped; /* first: a model finds the op from its OVERLAPPED */
    acceptex_pool *pool;
    SOCKET socket; /* created in advance: AcceptEx connects it */
    int pending;   /* an AcceptEx is outstanding */
    /* AcceptEx writes both addresses here. An echo server never reads them,
     * so there is no need for GetAcceptExSockaddrs. */
    unsigned char addresses[2 * ACCEPTEX_ADDRESS_LENGTH];
} acceptex_op;

/* How a model is told of completions. Every hook but accepted may be NULL. */
typedef struct acceptex_hooks {
    /* A client was accepted and admitted (server_admit): the model owns it. */
    void (*accepted)(void *context, SOCKET client);
    /* Just before each AcceptEx (the thread pool's StartThreadpoolIo). */
    void (*starting)(void *context, acceptex_op *op);
    /* The AcceptEx failed at once: no completion will come (the thread
     * pool's CancelThreadpoolIo). */
    void (*not_started)(void *context, acceptex_op *op);
} acceptex_hooks;

struct acceptex_pool {
    server *s;
    LPFN_ACCEPTEX accept_ex;
    const acceptex_hooks *hooks;
    void *context;
    /* Guards the listener handle against the stop, and what follows. */
    CRITICAL_SECTION lock;
    int stopping;
    int outstanding; /* ops with an AcceptEx in flight */
    int count;
    acceptex_op *ops;
    HANDLE *events;     /* with_events: each op's auto-reset event, else NULL */
    DWORD socket_flags; /* for WSASocketW: WSA_FLAG_OVERLAPPED, plus what the model adds before arming */
};

/* Finds AcceptEx and allocates s->options.accept_pool ops; posts nothing yet.
 * with_events: each op signals its own auto-reset event (in
 * pool->events[i]), for the models that wait on events. Returns 0, or -1
 * after saying why on stderr. */
int acceptex_pool_open(acceptex_pool *p, server *s, int with_events, const acceptex_hooks *hooks, void *context);
/* Posts every op not in service; returns how many are outstanding. Also how
 * a model retries the ops that a failure took out of service. */
int acceptex_pool_arm(acceptex_pool *p);
/* An op's completion arrived: hands the client over, then arms the op again
 * (or takes it out of service when stopping or AcceptEx keeps failing). */
void acceptex_completed(acceptex_op *op, int ok);
/* For event models: handles every op whose AcceptEx has completed. Must run
 * on the one thread that also arms the pool. */
void acceptex_pool_poll(acceptex_pool *p);
/* Stops accepting: closes the listener, which completes every AcceptEx. */
void acceptex_pool_stop(acceptex_pool *p);
int acceptex_pool_outstanding(acceptex_pool *p);
/* Frees the ops; only once nothing is outstanding. */
void acceptex_pool_close(acceptex_pool *p);

#endif

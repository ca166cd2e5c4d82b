/* The AcceptEx pool shared by every model that accepts with AcceptEx
 * (overlapped, overlapped-events, iocp, threadpool, rio), and the run that
 * every such model has (acceptex_run, at the end).
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

#include "lifecycle.h"

#include <mswsock.h>

/* AcceptEx wants room for each address plus 16 bytes. */
#define ACCEPTEX_ADDRESS_LENGTH (sizeof(struct sockaddr_in6) + 16)
/* A pool with events: one per AcceptEx, plus the stop event, in one wait of
 * at most 64 handles (the model's max_accept_pool; options_parse enforces it). */
#define ACCEPTEX_MAX_EVENT_POOL (WSA_MAXIMUM_WAIT_EVENTS - 1)

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
/* For the stop's drain: what is still outstanding, after handling what has
 * completed if the pool has events (then only on the thread that arms it;
 * a port's or thread pool's completions are handled where they arrive). */
int acceptex_pool_left(acceptex_pool *p);
/* Frees the ops; only once nothing is outstanding. */
void acceptex_pool_close(acceptex_pool *p);

/* ---- The run of an AcceptEx model ----------------------------------------
 * Every AcceptEx model runs the same way: set up; start the port's workers
 * (iocp, rio); arm the pool; serve until the stop; close the listener, which
 * ends the accepts; drain (end every connection, wait for what the system
 * still holds); end the workers; free. A model embeds an acceptex_server
 * first in its own state and says what it does differently in an
 * acceptex_model. Functions get the acceptex_server; a model casts it back
 * to its own state, of which it is the first member. */
typedef struct acceptex_server {
    server *s;
    acceptex_pool accepts;
    HANDLE port;          /* the completion port, for models that have one; closed at the end */
    port_workers workers; /* the threads waiting on it (model->worker) */
} acceptex_server;

typedef struct acceptex_model {
    /* Opens the pool (acceptex_pool_open) and whatever the model waits on
     * (port, queue, thread-pool I/O). Returns 0, or -1 after saying why. */
    int (*open)(acceptex_server *a);
    /* The body of each worker waiting on a->port (argument: a), or NULL for
     * a model without port workers. */
    unsigned(__stdcall *worker)(void *a);
    /* Serves until the stop; returns 0, or 1 after a fatal error. NULL: the
     * work is done on other threads, and the run waits for stop_event. */
    int (*serve)(acceptex_server *a);
    /* With the listener closed: ends every connection and waits until the
     * system gives everything back (lifecycle_drain): 0, or -1 when it gave
     * up. Must cope with a model that failed to open half-way. */
    int (*drain)(acceptex_server *a);
    /* Frees what open made beyond the pool and the port, once nothing is
     * outstanding and the workers are gone; may be NULL. */
    void (*close)(acceptex_server *a);
} acceptex_model;

/* run() of an AcceptEx model: 0, or 1 after a failure or a stop that had to
 * leave something to the process exit. a->s is set by the caller. */
int acceptex_run(acceptex_server *a, const acceptex_model *m);

/* A serve() for an event pool: waits on the stop event and every accept's
 * event until the stop, handling the accepts that completed, and retrying
 * after a second without events the ops a failure took out of service.
 * alertable: the wait also runs this thread's queued completion routines
 * (overlapped serves its connections there). Returns 0, or 1 when the wait
 * failed. */
int acceptex_serve_events(acceptex_server *a, BOOL alertable);

#endif

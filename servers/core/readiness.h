/* The readiness engine: everything the readiness models (select, WSAPoll,
 * WSAAsyncSelect, WSAEventSelect) do alike, written once.
 *
 * A readiness model is told that a socket is ready, then calls recv and send
 * itself. What differs between the models is only how it learns that: so
 * each model is a backend of four operations (watch, unwatch, wait, wake;
 * open and close set a loop up and take it down), in the manner of redis's
 * ae_select.c and ae_epoll.c behind ae.h. Diffing two backends shows exactly
 * how the models differ. The engine owns the rest:
 *
 * - loops: a loop is one thread with its own connections and its own waiting
 *   state. A backend that can watch only so many sockets per wait (select's
 *   FD_SETSIZE, WSAWaitForMultipleEvents' 64 handles) gets more loops as
 *   connections arrive; the others run one loop.
 * - the connection table of each loop: a dense array to walk, and a hash from
 *   socket to connection for backends that are told only a socket handle.
 * - accepting: the first loop holds the listener; each readiness accepts a
 *   bounded batch, so a connect storm cannot keep the loop away from its
 *   connections, and hands each connection to the first loop with room.
 * - the step: receive -> send -> half-close (see readiness_serve in the .c).
 * - the stop: an atomic flag checked between waits, and the backend's own
 *   wake-up; no kernel wait per message.
 * - the close-everything rule: once every loop has stopped, idle connections
 *   get a FIN, connections with echo still pending an RST (the one closing
 *   rule, closing_with_echo in lifecycle.h).
 * - the counting rules for errors, shared with every model: a failed accept
 *   by server_count_accept_failure, a failed recv or send by
 *   server_count_io_error. */
#ifndef WSB_READINESS_H
#define WSB_READINESS_H

#include "server.h"

/* What a backend reports for a connection after a wait. */
enum {
    READY_READ = 1,  /* recv will not block (bytes, end of input or an error) */
    READY_WRITE = 2, /* send will take bytes again */
    READY_CLOSE = 4  /* the peer finished or reset: read on until recv says which */
};

/* What a connection wants to be told about now (level-triggered backends
 * build their sets from it; notification backends watch everything). */
enum { WANT_READ = 1, WANT_WRITE = 2 };

typedef struct loop loop;

typedef struct connection {
    SOCKET socket;
    echo_buffer echo;            /* received and not yet echoed */
    int index;                   /* in its loop's dense table */
    int slot;                    /* the backend's own index for it (pollfd entry, event) */
    unsigned char read_wanted;   /* readiness reported and no recv made for it yet */
    unsigned char peer_closed;   /* READY_CLOSE came: no further readiness is promised */
    unsigned char write_blocked; /* send would block: wait for READY_WRITE */
    unsigned char input_ended;   /* recv returned 0: the client sends nothing more */
    unsigned char had_input;     /* a byte has arrived (see server_count_io_error) */
    unsigned char ready;         /* events gathered in this round, not yet served */
    struct connection *next;     /* in an inbox, or in the round's ready list */
} connection;

typedef struct readiness_backend {
    /* Sockets one loop can watch besides its own wake-up (the first loop's
     * listener included); 0: no limit, one loop serves everything. */
    int sockets_per_loop;
    /* Every this many milliseconds the first loop sweeps the backlog even
     * without a readiness for the listener (0: never). A safety net for
     * notification models: Wine 8 now and then fails to signal FD_ACCEPT
     * again after accept() re-enabled it, and a client then waited for ever. */
    unsigned accept_sweep_ms;
    /* Sets up a loop's waiting state, with loop_listener(l) to watch when it
     * is not INVALID_SOCKET. Runs before the loop's thread starts (on
     * run()'s thread for the first loop). Returns 0, or -1 after logging. */
    int (*open)(loop *l);
    void (*close)(loop *l);
    /* Starts / stops watching a connection; watch returns 0 or -1. */
    int (*watch)(loop *l, connection *c);
    void (*unwatch)(loop *l, connection *c);
    /* Blocks until something is ready, the loop is woken, or timeout_ms
     * passes (INFINITE: no limit); reports each ready connection with
     * loop_ready and the listener with loop_listener_ready. Returns 0, or -1
     * after a fatal error (logged). */
    int (*wait)(loop *l, DWORD timeout_ms);
    /* From any thread: makes a wait in progress, or the next one, return. */
    void (*wake)(loop *l);
} readiness_backend;

/* A readiness model's run() and wake(): readiness_run(s, &backend). */
int readiness_run(server *s, const readiness_backend *backend);
void readiness_wake(server *s);

/* For backends. */
server *loop_server(const loop *l);
SOCKET loop_listener(const loop *l);
void *loop_state(const loop *l);
void loop_set_state(loop *l, void *state);
int loop_connection_count(const loop *l);
connection *loop_connection(const loop *l, int index);
/* NULL when the socket is not (any more) one of the loop's connections. */
connection *loop_find(const loop *l, SOCKET socket);
void loop_ready(loop *l, connection *c, int events);
void loop_listener_ready(loop *l);
int connection_interest(const connection *c);

#endif

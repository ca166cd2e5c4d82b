/* The connection engine shared by the completion models that keep one
 * overlapped operation per connection (iocp, threadpool, overlapped-events).
 *
 * They differ only in how a completion reaches them (a completion port, a
 * thread-pool callback, an event); the rest is here once: the step
 * (receive, send the echo until it is out, receive again; a FIN once the
 * client has half-closed and its echo is out), the counting rules, and the
 * stop.
 *
 * One operation at a time per connection. That is what issue 9's
 * measurements pointed to: our iocp used to keep a receive and a send in
 * flight at once, posting the next WSARecv in the same pass as the WSASend,
 * under the connection's lock, so two workers could serve one connection and
 * the second blocked on that lock; with one operation at a time a
 * connection's completions never run concurrently and the lock is never
 * contended (only the stop takes it from elsewhere). It costs nothing in
 * calls: a ping-pong echo makes the same WSARecv and WSASend per message.
 * Back-pressure is kept: while the echo is being sent nothing is read, so
 * the unsent echo never exceeds one receive, and TCP pushes back.
 *
 * Life cycle (servers/core/DESIGN.md, "The completion engine"): each
 * connection has one hold per outstanding operation plus one while it is
 * being set going; whoever releases the last hold closes the socket (unless
 * the stop did) and frees the context, exactly once. A socket is closed only
 * after its last completion, except one with only a receive outstanding at
 * the stop, which has nothing to echo and is closed at once with a FIN (its
 * completion then arrives and frees it). */
#ifndef WSB_COMPLETION_H
#define WSB_COMPLETION_H

#include "acceptex.h"

typedef struct completion_conn completion_conn;
typedef struct completion_set completion_set;

typedef enum completion_op { COMPLETION_NONE, COMPLETION_RECV, COMPLETION_SEND } completion_op;

/* How a model is told of completions. Every hook may be NULL. */
typedef struct completion_hooks {
    /* A new connection: tie its socket to the model's notification (the
     * port, a thread-pool I/O object, an event). Returns 0, or -1 when it
     * cannot (the connection is then closed and counted as `resource`). */
    int (*attach)(completion_conn *c);
    /* Just before each WSARecv / WSASend (the thread pool's StartThreadpoolIo). */
    void (*starting)(completion_conn *c);
    /* The call completed without a notification to come: it failed at once,
     * or succeeded inline with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS (the
     * thread pool's CancelThreadpoolIo). */
    void (*not_started)(completion_conn *c);
    /* The context is about to be freed; nothing is outstanding any more. */
    void (*detach)(completion_conn *c);
} completion_hooks;

struct completion_conn {
    OVERLAPPED overlapped; /* first: the one operation in flight */
    completion_set *set;
    /* Taken by the thread that handles a completion and by the stop; with
     * one operation at a time nothing else contends for it. */
    CRITICAL_SECTION lock;
    SOCKET socket; /* INVALID_SOCKET once closed: only completions may remain */
    /* Freed only with the context, after the last completion: until then the
     * system may still write a receive into it or read a send from it. */
    echo_buffer buffer;
    completion_op pending;
    int holds;
    int peer_finished; /* the client shut down its sending side */
    int had_input;     /* a byte has arrived (see server_count_io_error) */
    int ending;        /* no new operation; closed once the holds are gone */
    closing how;       /* how it is closed, once ending */
    void *model_data;  /* for the model (its TP_IO, its group) */
    live_link link;    /* in the set's live list */
};

struct completion_set {
    server *s;
    const completion_hooks *hooks;
    void *context;           /* for the hooks */
    int skip_inline_success; /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set on every socket */
    CRITICAL_SECTION lock;   /* guards what follows */
    int stopping;
    int live;
    live_link *connections;
    HANDLE drained; /* set once stopping and no connection is left */
};

int completion_set_init(completion_set *set, server *s, const completion_hooks *hooks, void *context);
void completion_set_free(completion_set *set);

/* Takes an accepted, admitted socket and sets it going (its first receive).
 * model_data is stored before attach is called. Returns -1 when no context
 * could be made (the socket is then closed and counted as `resource`, and
 * no hook has run), else 0. */
int completion_open(completion_set *set, SOCKET client, void *model_data);
/* The completion of c's one operation arrived. ok and bytes as reported;
 * the Winsock error of a failure is read from the OVERLAPPED. */
void completion_done(completion_conn *c, int ok, DWORD bytes);
/* Whether c's operation has completed, from its OVERLAPPED (no system call):
 * for models that poll after an event. */
int completion_has_completed(const completion_conn *c);

/* The stop, after the listener is closed: ends every connection (see
 * above), then drains (lifecycle_drain: cancelling again every
 * CANCEL_RETRY_MS what a cancel may have missed, giving up after
 * STOP_STALL_MS without progress), the accepts still outstanding
 * (accepts_left) included. Returns 0 when everything is gone, -1 (said on
 * stderr) when not; then nothing may be freed. */
int completion_stop(completion_set *set, acceptex_pool *accepts);

/* ---- An AcceptEx model served by this engine -----------------------------
 * iocp, threadpool and overlapped-events: accepts from the pool, connections
 * from a completion_set. A model embeds a completion_server first in its
 * own state; the hooks get that state as their context. */
typedef struct completion_server {
    acceptex_server base; /* first: acceptex_run's functions get it */
    completion_set connections;
} completion_server;

/* For the model's open(): the set, then the pool (with_events: see
 * acceptex_pool_open). Returns 0, or -1 after saying why. */
int completion_server_open(completion_server *cs, const completion_hooks *connection_hooks,
                           const acceptex_hooks *accept_hooks, int with_events);
/* The model's drain(): completion_stop over its connections and accepts. */
int completion_server_drain(acceptex_server *a);
/* For the model's close(): frees the set. */
void completion_server_close(acceptex_server *a);

#endif

/* The life cycle shared by every model that is not a readiness backend
 * (thread, overlapped, overlapped-events, iocp, threadpool, rio): how an
 * operation is marked outstanding, how a connection is kept on the live
 * list and how it is closed, how a stop waits for what the system still
 * holds, and the worker threads of a completion port. Each model keeps only
 * what its way of waiting does differently; this is the rest, written once.
 * (The readiness models need none of it: nothing of theirs is outstanding
 * in the system, see readiness.h.) */
#ifndef WSB_LIFECYCLE_H
#define WSB_LIFECYCLE_H

#include "server.h"

#include <string.h>

/* ---- Operations in flight ------------------------------------------------
 * An OVERLAPPED's Internal holds the status once the call has finished;
 * while it runs it holds STATUS_PENDING (spelled here without ntstatus.h).
 * A model that polls OVERLAPPEDs after an event (overlapped, overlapped-
 * events) tells a finished call from one in flight by it. */
#define OP_IN_FLIGHT ((ULONG_PTR)0x103)

/* Readies an OVERLAPPED for its next call: zeroed, as the system wants it,
 * but its hEvent kept (the model's event, set once), and marked in flight
 * here rather than left to the system, so that a poller never takes a
 * zeroed OVERLAPPED for a finished one. Inline: it runs once per call. */
static inline void overlapped_prepare(OVERLAPPED *o)
{
    HANDLE event = o->hEvent;
    memset(o, 0, sizeof *o);
    o->hEvent = event;
    o->Internal = OP_IN_FLIGHT;
}

static inline int overlapped_finished(const OVERLAPPED *o)
{
    return o->Internal != OP_IN_FLIGHT;
}

/* ---- The live list -------------------------------------------------------
 * Every connection not yet freed, for the stop to end (and, for a blocked
 * thread, to interrupt). A link names its item, so one list serves every
 * model's own connection type without casts. The caller holds whatever
 * lock guards the list. */
typedef struct live_link {
    struct live_link *previous, *next;
    void *item;
} live_link;

void live_list_push(live_link **list, live_link *link, void *item);
void live_list_unlink(live_link **list, live_link *link);

/* ---- Closing a connection ------------------------------------------------
 * Closes *socket once and leaves INVALID_SOCKET there: once closed, only
 * completions may remain. The one closing rule: a connection ended
 * gracefully gets its FIN only if nothing of its echo is pending; otherwise
 * a reset, since a FIN would pass the cut-off echo off as complete. */
void connection_close(SOCKET *socket, closing how, int echo_pending);

static inline closing closing_with_echo(closing how, int echo_pending)
{
    return how == CLOSE_GRACEFULLY && echo_pending ? CLOSE_ABORTIVELY : how;
}

/* ---- The stop's drain ----------------------------------------------------
 * A stop ends every connection, then waits until the system gives back what
 * it still holds (buffers it may write into, blocked calls). It gives up
 * only when nothing has finished for STOP_STALL_MS: not a fixed total, since
 * thousands of completions or threads take Wine more than a second to end,
 * and they are not stuck while they keep ending. Meanwhile the model cancels
 * again, about every CANCEL_RETRY_MS, what a cancel may have missed (Wine 8
 * skips an operation it is completing at that very moment, which then goes
 * back to waiting: servers/core/DESIGN.md, "Stopping"). */
#define STOP_STALL_MS 1000
#define CANCEL_RETRY_MS 20

typedef struct drain_hooks {
    /* What is still outstanding, in all; *connections and *accepts say how
     * much of it is which, for the line that gives up. */
    int (*outstanding)(void *context, int *connections, int *accepts);
    /* Waits a little (or runs the completions that arrive meanwhile), then
     * cancels again what a cancel may have missed. Returns how many blocked
     * calls that interrupted: progress too, since one round over thousands
     * of them can take Wine longer than STOP_STALL_MS by itself. */
    int (*wait)(void *context);
} drain_hooks;

/* Returns 0 once nothing is outstanding, or -1 after saying on stderr what
 * is left to the process exit: then nothing the system may still write
 * into may be freed, and the model returns 1. */
int lifecycle_drain(server *s, const drain_hooks *hooks, void *context);

/* ---- Workers on a completion port (iocp, rio) ----------------------------
 * server_worker_count() threads wait on one port. A packet without an
 * OVERLAPPED tells one of them to return: no operation ever completes
 * without one. */
#define PORT_QUIT_KEY ((ULONG_PTR)3)

typedef struct port_workers {
    HANDLE port;
    HANDLE *threads;
    int started;
} port_workers;

/* Starts as many as it can; returns 0 when at least one runs, else -1
 * after saying so on stderr. */
int port_workers_start(port_workers *w, server *s, HANDLE port, unsigned(__stdcall *body)(void *), void *arg);
/* Posts one quit packet. */
void port_post_quit(HANDLE port);
/* Posts one quit packet per worker and joins them all; only once nothing
 * more can complete on the port (every connection is gone). */
void port_workers_stop(port_workers *w);

#endif

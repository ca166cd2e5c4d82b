#include "completion.h"

#include <stdlib.h>
#include <string.h>

int completion_set_init(completion_set *set, server *s, const completion_hooks *hooks, void *context)
{
    memset(set, 0, sizeof *set);
    set->s = s;
    set->hooks = hooks;
    set->context = context;
    InitializeCriticalSection(&set->lock);
    set->drained = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!set->drained) {
        server_log_error(s, (int)GetLastError(), "cannot create an event");
        return -1;
    }
    return 0;
}

void completion_set_free(completion_set *set)
{
    if (!set->s)
        return; /* never initialised */
    if (set->drained)
        CloseHandle(set->drained);
    DeleteCriticalSection(&set->lock);
}

/* ---- Ending and freeing ------------------------------------------------ */

/* Frees a context whose last hold is gone. It leaves the list first (the
 * stop walks the list and takes each context's lock), and leaves the count
 * last: once the stop sees no connection left it may free the set (the
 * thread pool's callbacks are not joined), so nothing of the set is used
 * after that lock is left. */
static void destroy(completion_conn *c)
{
    completion_set *set = c->set;
    EnterCriticalSection(&set->lock);
    live_list_unlink(&set->connections, &c->link);
    LeaveCriticalSection(&set->lock);
    if (set->hooks->detach)
        set->hooks->detach(c);
    server_connection_closed(set->s);
    DeleteCriticalSection(&c->lock);
    echo_buffer_free(&c->buffer);
    EnterCriticalSection(&set->lock);
    set->live--;
    if (set->stopping && set->live == 0)
        SetEvent(set->drained);
    LeaveCriticalSection(&set->lock);
    free(c);
}

/* Starts no more operations and cancels the one outstanding; with c's lock
 * held. The socket stays open until the last completion has arrived (see
 * release): in Wine 8 a send that Wine is partway through when its socket is
 * closed goes back to waiting on a socket that is gone and never completes,
 * while a cancel on an open handle can be repeated until it takes. */
static void end_connection(completion_conn *c, closing how)
{
    if (c->ending)
        return; /* already on its way out: the first reason stands */
    c->ending = 1;
    c->how = how;
    if (c->pending != COMPLETION_NONE)
        CancelIoEx((HANDLE)c->socket, NULL);
}

/* Closes the socket, once, by the one closing rule (lifecycle.h). */
static void close_socket(completion_conn *c)
{
    connection_close(&c->socket, c->how, !echo_buffer_is_empty(&c->buffer));
}

/* Drops one hold, with c's lock held. Returns 1 when it was the last: the
 * socket is then closed, and the caller frees the context (destroy) once it
 * has left the lock. No hold left means ending: step leaves a live
 * connection with an operation outstanding. */
static int release(completion_conn *c)
{
    if (--c->holds > 0)
        return 0;
    close_socket(c);
    return 1;
}

/* Ends c for the stop, with its lock held. A send in flight is cancelled and
 * the socket closed after its completion; a receive alone has nothing to
 * echo, so the socket is closed at once with a FIN: Windows cancels the
 * receive on close, Wine 8 completes it when it destroys the socket object,
 * and its completion frees the context. That spares thousands of idle
 * connections a cancel each (a wineserver round trip that also walks the
 * process's whole list of pending I/O), and the retries a cancel may need. */
static void end_for_stop(completion_conn *c)
{
    if (c->ending)
        return;
    if (c->pending == COMPLETION_SEND) {
        end_connection(c, CLOSE_GRACEFULLY); /* or a reset: see close_socket */
        return;
    }
    c->ending = 1;
    c->how = CLOSE_GRACEFULLY;
    close_socket(c);
}

/* ---- The step ---------------------------------------------------------- */

/* Applies what an operation did, with c's lock held. */
static void apply(completion_conn *c, completion_op op, int ok, DWORD bytes, int error)
{
    server *s = c->set->s;
    if (!ok) {
        /* Once the connection is ending, failures are our own cancellations. */
        if (!c->ending) {
            server_count_io_error(s, error, op == COMPLETION_RECV ? ERROR_RECV : ERROR_SEND, c->had_input);
            end_connection(c, CLOSE_FAILED);
        }
    } else if (op == COMPLETION_RECV && bytes == 0) {
        c->peer_finished = 1;
    } else if (op == COMPLETION_RECV) {
        /* Kept even when ending: close_socket then knows the echo was cut off. */
        c->had_input = 1;
        echo_buffer_commit(&c->buffer, bytes);
        stats_received(&s->stats, bytes);
    } else {
        /* A send may complete only part of its span: the rest goes next time. */
        echo_buffer_consume(&c->buffer, bytes);
        stats_sent(&s->stats, bytes);
    }
}

typedef enum started { STARTED, FAILED, DONE_INLINE } started;

/* Issues op on c, with its lock held. DONE_INLINE: it succeeded at once and,
 * with skip-on-success, no completion will come; *bytes says how much. */
static started start(completion_conn *c, completion_op op, DWORD *bytes)
{
    const completion_hooks *hooks = c->set->hooks;
    WSABUF span;
    DWORD flags = 0;
    unsigned char *where;
    int rc;
    span.len = (ULONG)(op == COMPLETION_RECV ? echo_buffer_write_span(&c->buffer, &where)
                                             : echo_buffer_read_span(&c->buffer, &where));
    span.buf = (char *)where;
    overlapped_prepare(&c->overlapped); /* overlapped-events polls it */
    if (hooks->starting)
        hooks->starting(c);
    c->pending = op;
    c->holds++;
    if (op == COMPLETION_RECV)
        rc = WSARecv(c->socket, &span, 1, bytes, &flags, &c->overlapped, NULL);
    else
        rc = WSASend(c->socket, &span, 1, bytes, 0, &c->overlapped, NULL);
    /* Without skip-on-success a call that succeeds at once still queues its
     * completion, so success and pending are handled the same way. */
    if ((rc == 0 && !c->set->skip_inline_success) || (rc != 0 && WSAGetLastError() == WSA_IO_PENDING))
        return STARTED;
    int error = rc == 0 ? 0 : WSAGetLastError();
    if (hooks->not_started)
        hooks->not_started(c);
    c->pending = COMPLETION_NONE;
    c->holds--;
    if (rc == 0)
        return DONE_INLINE;
    apply(c, op, 0, 0, error);
    return FAILED;
}

/* Keeps one operation going, with c's lock held: the echo out first, then a
 * receive; a FIN once the client has half-closed and everything is echoed.
 * Once the server is stopping it starts nothing more and ends the
 * connection: under a client that streams without pause there would
 * otherwise always be a new operation outstanding.
 *
 * With skip-on-success an operation that succeeds at once is finished here,
 * and the loop goes on: a client that streams without pause then keeps this
 * thread on its connection until the stop or a call that pends. Each pass
 * still checks the stop, and other connections' completions go to other
 * threads. */
static void step(completion_conn *c)
{
    for (;;) {
        DWORD bytes = 0;
        completion_op next;
        if (!c->ending && server_stopping(c->set->s))
            end_for_stop(c);
        if (c->ending || c->pending != COMPLETION_NONE)
            return;
        if (!echo_buffer_is_empty(&c->buffer)) {
            next = COMPLETION_SEND;
        } else if (!c->peer_finished) {
            /* Nothing is in flight and nothing unsent: the ring may start
             * over, so the receive gets the whole buffer, not what is left
             * before the end of the ring. */
            c->buffer.head = 0;
            next = COMPLETION_RECV;
        } else {
            end_connection(c, CLOSE_GRACEFULLY); /* everything echoed: end with a FIN */
            return;
        }
        if (start(c, next, &bytes) != DONE_INLINE)
            return;
        apply(c, next, 1, bytes, 0);
    }
}

int completion_has_completed(const completion_conn *c)
{
    return c->pending != COMPLETION_NONE && overlapped_finished(&c->overlapped);
}

void completion_done(completion_conn *c, int ok, DWORD bytes)
{
    int error = 0, last;
    EnterCriticalSection(&c->lock);
    completion_op op = c->pending;
    c->pending = COMPLETION_NONE;
    if (!ok && !c->ending) {
        /* The Winsock error, for the counting rule. Not ending, so the
         * socket is still open. */
        DWORD unused, flags;
        if (!WSAGetOverlappedResult(c->socket, &c->overlapped, &unused, FALSE, &flags))
            error = WSAGetLastError();
    }
    apply(c, op, ok, bytes, error);
    step(c);
    last = release(c); /* this operation's hold */
    LeaveCriticalSection(&c->lock);
    if (last)
        destroy(c);
}

int completion_open(completion_set *set, SOCKET client, void *model_data)
{
    server *s = set->s;
    completion_conn *c = calloc(1, sizeof *c);
    if (!c || echo_buffer_init(&c->buffer, s->options.buffer_size) != 0) {
        stats_error(&s->stats, ERROR_RESOURCE);
        if (c)
            echo_buffer_free(&c->buffer);
        free(c);
        server_drop(s, client);
        return -1;
    }
    c->set = set;
    c->socket = client;
    c->model_data = model_data;
    c->holds = 1; /* ours, until step has set it going */
    InitializeCriticalSection(&c->lock);
    if (set->hooks->attach && set->hooks->attach(c) != 0) {
        stats_error(&s->stats, ERROR_RESOURCE);
        DeleteCriticalSection(&c->lock);
        echo_buffer_free(&c->buffer);
        free(c);
        server_drop(s, client);
        return -1;
    }

    EnterCriticalSection(&set->lock);
    if (set->stopping) {
        /* The stop has already ended the others: this one ends at once. */
        c->ending = 1;
        c->how = CLOSE_GRACEFULLY;
    }
    live_list_push(&set->connections, &c->link, c);
    set->live++;
    LeaveCriticalSection(&set->lock);

    EnterCriticalSection(&c->lock);
    step(c);
    int last = release(c);
    LeaveCriticalSection(&c->lock);
    if (last)
        destroy(c);
    return 0;
}

/* ---- The stop ---------------------------------------------------------- */

static void end_all(completion_set *set)
{
    EnterCriticalSection(&set->lock);
    set->stopping = 1;
    for (live_link *l = set->connections; l; l = l->next) {
        completion_conn *c = l->item;
        EnterCriticalSection(&c->lock);
        end_for_stop(c);
        LeaveCriticalSection(&c->lock);
    }
    if (set->live == 0)
        SetEvent(set->drained);
    LeaveCriticalSection(&set->lock);
}

static int live_connections(completion_set *set)
{
    EnterCriticalSection(&set->lock);
    int live = set->live;
    LeaveCriticalSection(&set->lock);
    return live;
}

typedef struct stopping_set {
    completion_set *set;
    acceptex_pool *accepts;
} stopping_set;

static int outstanding(void *context, int *connections, int *accepts)
{
    stopping_set *stop = context;
    *connections = live_connections(stop->set);
    *accepts = acceptex_pool_left(stop->accepts);
    return *connections + *accepts;
}

/* Waits for the connections (they signal drained, which stays signalled;
 * closing the listener ends the accepts within moments), then, if none
 * completed meanwhile, cancels again the operations of connections still
 * open: a cancel misses an operation that Wine is completing at that very
 * moment and then re-queues. Closed ones cannot be cancelled any more; their completions
 * come from Wine destroying the socket. */
static int wait_and_cancel(void *context)
{
    completion_set *set = ((stopping_set *)context)->set;
    int before = live_connections(set);
    if (before > 0)
        WaitForSingleObject(set->drained, CANCEL_RETRY_MS);
    else
        Sleep(1);
    /* While completions still come, nothing was missed yet. The pass below
     * holds the set's lock over every live connection, which the workers
     * need to free each one: done every wait, with thousands held, it made
     * a stop take 3-6 s instead of about 1. */
    if (live_connections(set) < before)
        return 0;
    EnterCriticalSection(&set->lock);
    for (live_link *l = set->connections; l; l = l->next) {
        completion_conn *c = l->item;
        EnterCriticalSection(&c->lock);
        if (c->socket != INVALID_SOCKET && c->pending != COMPLETION_NONE)
            CancelIoEx((HANDLE)c->socket, NULL);
        LeaveCriticalSection(&c->lock);
    }
    LeaveCriticalSection(&set->lock);
    return 0; /* an interrupted operation counts when its completion frees it */
}

int completion_stop(completion_set *set, acceptex_pool *accepts)
{
    static const drain_hooks hooks = {outstanding, wait_and_cancel};
    stopping_set stop = {set, accepts};
    if (!set->drained)
        return 0; /* never set up, so no accept was armed either (the pool opens after it) */
    end_all(set);
    return lifecycle_drain(set->s, &hooks, &stop);
}

/* ---- An AcceptEx model served by this engine --------------------------- */

int completion_server_open(completion_server *cs, const completion_hooks *connection_hooks,
                           const acceptex_hooks *accept_hooks, int with_events)
{
    server *s = cs->base.s;
    if (completion_set_init(&cs->connections, s, connection_hooks, cs) != 0 ||
        acceptex_pool_open(&cs->base.accepts, s, with_events, accept_hooks, cs) != 0)
        return -1;
    return 0;
}

int completion_server_drain(acceptex_server *a)
{
    completion_server *cs = (completion_server *)a;
    return completion_stop(&cs->connections, &a->accepts);
}

void completion_server_close(acceptex_server *a)
{
    completion_set_free(&((completion_server *)a)->connections);
}

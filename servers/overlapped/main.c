/* The overlapped model: one thread, overlapped I/O with completion routines.
 *
 * New connections arrive through the shared pool of AcceptEx calls kept
 * outstanding at once (core/acceptex.c), each signalling its own event. Connections themselves use WSARecv and
 * WSASend with completion routines: Windows queues each routine as an APC to
 * the thread that started the operation, and runs it while that thread waits
 * alertably. So one alertable WaitForMultipleObjectsEx watches the stop event
 * and the accept events (at most 64 handles) and, at the same time, serves any
 * number of connections, which need no handle in the wait at all. */
#include "acceptex.h"

#include <stdlib.h>
#include <string.h>

typedef struct connection {
    /* Both OVERLAPPEDs carry the connection in hEvent, which Winsock leaves
     * to the caller when a completion routine is given. */
    WSAOVERLAPPED receiving;
    WSAOVERLAPPED sending;
    server *s;
    SOCKET socket; /* INVALID_SOCKET once closed; only completions may remain */
    /* Freed only with the context, after the last completion: until then the
     * system may still write a receive into it or read a send from it. */
    echo_buffer buffer;
    int receive_pending; /* at most one WSARecv and one WSASend outstanding */
    int send_pending;
    int peer_finished;            /* the client shut down its sending side */
    int had_input;                /* a byte has arrived (see server_count_io_error) */
    int ending;                   /* no new I/O; closed and freed once none is pending */
    closing how;                  /* how it is closed, once ending */
    struct idle_close *closed_by; /* its socket went to the stop's closer (see close_idle_aside) */
    live_link link;               /* in the_state.connections */
} connection;

/* A socket the stop's closer thread closes, and whether the connection's
 * echo was cut off meanwhile (then a reset, not a FIN). */
typedef struct idle_close {
    SOCKET socket;
    counter_t cut;
} idle_close;

typedef struct closer {
    idle_close *sockets;
    int count;
    HANDLE thread;
} closer;

typedef struct overlapped_server {
    acceptex_server base;   /* first: the run's functions get it; each AcceptEx signals its own event */
    live_link *connections; /* every context not yet freed, for the stop */
    closer idle;            /* the stop's closes of idle connections */
} overlapped_server;

/* The completion routines get no argument of their own; there is only one
 * server per process and everything runs on the one thread. */
static overlapped_server the_state;

/* ---- Connections ---------------------------------------------------------- */

static void CALLBACK on_received(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags);
static void CALLBACK on_sent(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags);

static int io_pending(const connection *c)
{
    return c->receive_pending + c->send_pending;
}

/* Starts no more I/O on the connection and cancels what is outstanding; its
 * socket is closed only when every completion has come back (see advance).
 * The socket stays open until then on purpose: in Wine 8 a send that Wine is
 * partway through when its socket is closed goes back to waiting on a socket
 * that is gone, and never completes, while a cancel on an open handle can be
 * repeated until it takes (the stop does, see drain). */
static void end_connection(connection *c, closing how)
{
    if (c->ending)
        return; /* already on its way out: the first reason stands */
    c->ending = 1;
    c->how = how;
    if (io_pending(c))
        CancelIoEx((HANDLE)c->socket, NULL);
}

static void fail_connection(connection *c, int error, error_kind kind)
{
    server_count_io_error(c->s, error, kind, c->had_input);
    end_connection(c, CLOSE_FAILED);
}

/* A failed completion after the connection started ending is our own
 * cancellation arriving, not the client's doing. */
static void on_failed(connection *c, DWORD error, error_kind kind)
{
    if (!c->ending)
        fail_connection(c, (int)error, kind);
}

static void start_receive(connection *c)
{
    WSABUF span;
    DWORD flags = 0;
    unsigned char *where;
    if (c->receive_pending || c->peer_finished)
        return;
    /* A full buffer means no receive at all: the client's TCP window closes
     * until our sends make room again (on_sent restarts the receive). */
    span.len = (ULONG)echo_buffer_write_span(&c->buffer, &where);
    span.buf = (char *)where;
    if (span.len == 0)
        return;
    /* Even when WSARecv succeeds at once, the routine is still queued and is
     * where the result is handled: never handle it here too. */
    if (WSARecv(c->socket, &span, 1, NULL, &flags, &c->receiving, on_received) == 0 ||
        WSAGetLastError() == WSA_IO_PENDING)
        c->receive_pending = 1;
    else
        fail_connection(c, WSAGetLastError(), ERROR_RECV);
}

static void start_send(connection *c)
{
    WSABUF span;
    unsigned char *where;
    if (c->send_pending)
        return;
    span.len = (ULONG)echo_buffer_read_span(&c->buffer, &where);
    span.buf = (char *)where;
    if (span.len == 0)
        return;
    if (WSASend(c->socket, &span, 1, NULL, 0, &c->sending, on_sent) == 0 || WSAGetLastError() == WSA_IO_PENDING)
        c->send_pending = 1;
    else
        fail_connection(c, WSAGetLastError(), ERROR_SEND);
}

/* Closes the socket, once, by the one closing rule (lifecycle.h); a socket
 * handed to the closer thread learns the same way whether its echo was cut. */
static void close_socket(connection *c)
{
    int echo_pending = !echo_buffer_is_empty(&c->buffer);
    if (c->closed_by && echo_pending)
        counter_add(&c->closed_by->cut, 1); /* input arrived before the closer got to it */
    connection_close(&c->socket, c->how, echo_pending);
}

/* Frees the context, now that the system holds none of its buffers: the one
 * place that happens. */
static void finish_connection(connection *c)
{
    close_socket(c);
    live_list_unlink(&the_state.connections, &c->link);
    echo_buffer_free(&c->buffer);
    server_connection_closed(c->s);
    free(c);
}

/* Ends a connection for the stop. One with a send in flight is cancelled and
 * closed after its last completion (see end_connection). One with only a
 * receive outstanding has nothing to echo and is closed at once, with a FIN:
 * Windows cancels the receive on close, Wine 8 completes it when it destroys
 * the socket object, and its routine then frees the context. That spares
 * thousands of idle connections a cancel each (a wineserver round trip that
 * also walks the process's whole list of pending I/O), and the retries that a
 * cancel may need. */
static void end_for_stop(connection *c)
{
    if (c->send_pending) {
        end_connection(c, CLOSE_GRACEFULLY); /* or a reset: see close_socket */
        return;
    }
    c->ending = 1;
    c->how = CLOSE_GRACEFULLY;
    close_socket(c);
}

/* Everything after an event on a connection: keep one send going while there
 * is echo to send and one receive while there is room, finish the half-close,
 * end it once the server is stopping, and free it once it is ending and no
 * operation is outstanding. Frees c: the caller must not touch it afterwards.
 *
 * The stop check matters: under a client that streams without pause every
 * receive completes at once and queues the next routine, and the alertable
 * wait in run() runs queued routines until there are none left, so it
 * would never return to look at stop_event if the routines kept going. */
static void advance(connection *c)
{
    if (!c->ending && server_stopping(c->s))
        end_for_stop(c);
    if (!c->ending)
        start_send(c);
    if (!c->ending)
        start_receive(c);
    if (!c->ending && c->peer_finished && !c->send_pending && echo_buffer_is_empty(&c->buffer))
        end_connection(c, CLOSE_GRACEFULLY); /* everything echoed: nothing is pending */
    if (c->ending && !io_pending(c))
        finish_connection(c);
}

static void CALLBACK on_received(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags)
{
    connection *c = overlapped->hEvent;
    (void)flags;
    c->receive_pending = 0;
    if (error != 0) {
        on_failed(c, error, ERROR_RECV);
    } else if (bytes == 0) {
        c->peer_finished = 1;
    } else {
        /* Kept even when the connection is ending: finish_connection then
         * knows this echo was cut off. */
        c->had_input = 1;
        echo_buffer_commit(&c->buffer, bytes);
        stats_received(&c->s->stats, bytes);
    }
    advance(c);
}

static void CALLBACK on_sent(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags)
{
    connection *c = overlapped->hEvent;
    (void)flags;
    c->send_pending = 0;
    if (error != 0) {
        on_failed(c, error, ERROR_SEND);
    } else {
        /* Only now may the sent bytes be overwritten: until the completion,
         * the system was still reading them from the buffer. */
        echo_buffer_consume(&c->buffer, bytes);
        stats_sent(&c->s->stats, bytes);
    }
    advance(c);
}

static void open_connection(overlapped_server *state, SOCKET socket)
{
    server *s = state->base.s;
    connection *c = calloc(1, sizeof *c);
    if (!c || echo_buffer_init(&c->buffer, s->options.buffer_size) != 0) {
        free(c);
        stats_error(&s->stats, ERROR_RESOURCE);
        server_drop(s, socket);
        return;
    }
    c->s = s;
    c->socket = socket;
    c->receiving.hEvent = c;
    c->sending.hEvent = c;
    live_list_push(&state->connections, &c->link, c);
    advance(c);
}

/* ---- Accepting ----------------------------------------------------------- */

static void accepted(void *context, SOCKET client)
{
    open_connection(context, client);
}

static const acceptex_hooks accept_hooks = {accepted, NULL, NULL};

/* ---- Run and stop --------------------------------------------------------- */

static unsigned __stdcall close_sockets(void *argument)
{
    closer *idle = argument;
    for (int i = 0; i < idle->count; i++)
        server_close(idle->sockets[i].socket,
                     closing_with_echo(CLOSE_GRACEFULLY, counter_get(&idle->sockets[i].cut) != 0));
    return 0;
}

static int is_idle(const connection *c)
{
    return !c->ending && !c->send_pending && c->receive_pending;
}

/* Hands the sockets of the connections with only a receive outstanding (the
 * idle ones, which end_for_stop would close at once) to a thread of their own,
 * while this thread waits alertably for their receives to come back. Each
 * close completes its receive, and Wine 8 delivers that to the thread that
 * started it: to a thread that is waiting, with its wait; to one that is busy
 * closing, by a signal and two more wineserver round trips. With 9,000 idle
 * connections that detour took the stop from about 1.0 s to 1.9 s here. The
 * contexts stay this thread's: the closer touches nothing but the list.
 * Without memory or a thread, end_for_stop closes them here instead. */
static void close_idle_aside(overlapped_server *state)
{
    closer *idle = &state->idle;
    int count = 0;
    for (live_link *l = state->connections; l; l = l->next)
        count += is_idle(l->item);
    if (count == 0 || !(idle->sockets = calloc((size_t)count, sizeof *idle->sockets)))
        return;
    for (live_link *l = state->connections; l; l = l->next) {
        connection *c = l->item;
        if (!is_idle(c))
            continue;
        idle_close *slot = &idle->sockets[idle->count++];
        slot->socket = c->socket;
        c->socket = INVALID_SOCKET;
        c->closed_by = slot;
        c->ending = 1;
        c->how = CLOSE_GRACEFULLY;
    }
    idle->thread = server_start_thread(state->base.s, close_sockets, idle, 64 * 1024);
    if (!idle->thread)
        close_sockets(idle);
}

static int count_connections(const overlapped_server *state)
{
    int n = 0;
    for (const live_link *l = state->connections; l; l = l->next)
        n++;
    return n;
}

/* What the system still holds: the accept slots' buffers, every
 * connection's buffers, and the closer thread while it is at work. The
 * accepts complete on this thread's events, so this is where they are
 * collected. */
static int outstanding(void *context, int *connections, int *accepts)
{
    overlapped_server *state = context;
    *accepts = acceptex_pool_left(&state->base.accepts);
    *connections = count_connections(state);
    int closer_busy = state->idle.thread && WaitForSingleObject(state->idle.thread, 0) == WAIT_TIMEOUT;
    return *accepts + *connections + closer_busy;
}

/* Alertable: this is where the outstanding operations' routines run and
 * free their connections. Then cancels again on the sockets still open. */
static int wait_and_cancel(void *context)
{
    overlapped_server *state = context;
    SleepEx(CANCEL_RETRY_MS, TRUE);
    for (live_link *l = state->connections; l; l = l->next) {
        connection *c = l->item;
        if (c->socket != INVALID_SOCKET)
            CancelIoEx((HANDLE)c->socket, NULL);
    }
    return 0; /* an interrupted operation counts when its routine frees it */
}

/* With the listener closed: ends every connection (advance sees the stop,
 * see end_for_stop; each is freed by the routine of its last completion)
 * and waits for them and the accepts. */
static int drain(acceptex_server *a)
{
    static const drain_hooks hooks = {outstanding, wait_and_cancel};
    overlapped_server *state = (overlapped_server *)a;
    close_idle_aside(state);
    for (live_link *l = state->connections, *next; l; l = next) {
        next = l->next;
        advance(l->item); /* may free it */
    }
    return lifecycle_drain(a->s, &hooks, state);
}

static void close_idle(acceptex_server *a)
{
    overlapped_server *state = (overlapped_server *)a;
    if (state->idle.thread)
        CloseHandle(state->idle.thread);
    free(state->idle.sockets);
}

static int open_accepts(acceptex_server *a)
{
    return acceptex_pool_open(&a->accepts, a->s, 1, &accept_hooks, a);
}

/* The one thread's wait, for the accept events and, being alertable, for
 * every connection's completion routines: this is where connections are
 * served. */
static int serve(acceptex_server *a)
{
    return acceptex_serve_events(a, TRUE);
}

static int run(server *s)
{
    static const acceptex_model lifecycle = {open_accepts, NULL, serve, drain, close_idle};
    the_state.base.s = s;
    return acceptex_run(&the_state.base, &lifecycle);
}

static const server_model model = {
    {.name = "overlapped",
     .summary = "one thread: AcceptEx pool and overlapped I/O with completion routines",
     .has_accept_pool = 1,
     .default_accept_pool = 16,
     .max_accept_pool = ACCEPTEX_MAX_EVENT_POOL},
    run,
    NULL,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

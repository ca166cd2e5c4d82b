/* The I/O completion port model.
 *
 * Every socket is associated with one completion port. Sockets are accepted
 * by a pool of outstanding AcceptEx calls and read and written with overlapped
 * WSARecv / WSASend; a small pool of worker threads waits on the port and
 * finishes whatever operation completed, on whichever connection. No thread
 * belongs to a connection, so a few threads serve thousands of clients.
 *
 * Each operation is an OVERLAPPED inside an io_op that says what it was and
 * whose it is: the port hands that pointer back, so a worker needs nothing
 * else to find its context.
 *
 * Every operation completes through the port, even one that succeeds at
 * once. FILE_SKIP_COMPLETION_PORT_ON_SUCCESS would save that packet, but the
 * thread that started the operation would then have to finish it itself, in a
 * loop, under the connection's lock: a second path through every handler for
 * a small gain, so it is left off. */
#include "server.h"

#include <mswsock.h>
#include <stdlib.h>
#include <string.h>

/* AcceptEx wants room for each address plus 16 bytes. */
#define ACCEPT_ADDRESS_LENGTH (sizeof(struct sockaddr_in6) + 16)
/* Completion key of the packets that tell a worker to exit. */
#define QUIT_KEY ((ULONG_PTR)1)
/* A stop gives up on the outstanding operations once none has come back for
 * this long (not a fixed total: thousands of completions take Wine more than
 * a second, and they are not stuck while they keep coming)... */
#define STOP_STALL_MS 1000
/* ...and cancels again, at this interval, those a cancel may have missed. */
#define CANCEL_RETRY_MS 20

typedef enum op_kind { OP_ACCEPT, OP_RECV, OP_SEND } op_kind;

typedef struct connection connection;

typedef struct io_op {
    OVERLAPPED overlapped;
    op_kind kind;
    connection *owner; /* NULL for accepts */
} io_op;

typedef struct accept_op {
    io_op op;
    SOCKET socket; /* created in advance: AcceptEx connects it */
    /* AcceptEx writes both addresses here. An echo server never reads them,
     * so there is no need for GetAcceptExSockaddrs. */
    unsigned char addresses[2 * ACCEPT_ADDRESS_LENGTH];
} accept_op;

typedef struct iocp_server {
    server *s;
    HANDLE port;
    LPFN_ACCEPTEX accept_ex;
    /* Guards what follows, the listener handle and the connection list. */
    CRITICAL_SECTION lock;
    int stopping;
    connection *connections;
    int live_connections;
    int live_accepts;
    HANDLE drained; /* set once stopping and nothing is live any more */
} iocp_server;

struct connection {
    iocp_server *owner;
    /* Completions of one connection may run on two workers at once: the
     * receive on one, the send on another. */
    CRITICAL_SECTION lock;
    SOCKET socket;     /* open until the last hold is released */
    echo_buffer buffer;
    io_op recv_op, send_op;
    int recv_pending, send_pending;
    /* Holds on the context: one per operation whose completion has not
     * arrived yet, and one for start_connection while it sets the connection
     * going. Whoever releases the last one closes the socket and frees the
     * context, so that happens exactly once. */
    int holds;
    int peer_finished; /* the client shut down its sending side */
    int had_input;     /* a byte has arrived (see server_count_io_error) */
    int ending;        /* no new operation; closed once the holds are gone */
    closing how;       /* how it is closed, once ending */
    int closed;        /* the socket is closed: only completions may remain */
    connection *previous, *next;
};

/* ---- Shared state ------------------------------------------------------ */

/* Called with the server lock held. */
static void signal_if_drained(iocp_server *iocp)
{
    if (iocp->stopping && iocp->live_connections == 0 && iocp->live_accepts == 0)
        SetEvent(iocp->drained);
}

/* ---- Connections --------------------------------------------------------- */

static void destroy_connection(connection *c)
{
    iocp_server *iocp = c->owner;
    EnterCriticalSection(&iocp->lock);
    if (c->previous)
        c->previous->next = c->next;
    else
        iocp->connections = c->next;
    if (c->next)
        c->next->previous = c->previous;
    iocp->live_connections--;
    signal_if_drained(iocp);
    LeaveCriticalSection(&iocp->lock);

    server_connection_closed(iocp->s);
    DeleteCriticalSection(&c->lock);
    echo_buffer_free(&c->buffer);
    free(c);
}

/* Starts no more operations on the connection and cancels those outstanding;
 * called with its lock held. The socket stays open until the last completion
 * has arrived (see release): in Wine 8 a send that Wine is partway through
 * when its socket is closed goes back to waiting on a socket that is gone,
 * and never completes, while a cancel on an open handle can be repeated
 * until it takes (the stop does, see drain). */
static void end_connection(connection *c, closing how)
{
    if (c->ending)
        return; /* already on its way out: the first reason stands */
    c->ending = 1;
    c->how = how;
    if (c->recv_pending || c->send_pending)
        CancelIoEx((HANDLE)c->socket, NULL);
}

static void fail_connection(connection *c, int error, error_kind kind)
{
    server_count_io_error(c->owner->s, error, kind, c->had_input);
    end_connection(c, CLOSE_FAILED);
}

/* Closes the socket, once. A connection ended by the stop gets a FIN only if
 * everything it received was echoed; otherwise a reset, since a FIN would
 * pass the cut-off echo off as complete. */
static void close_socket(connection *c)
{
    if (c->closed)
        return;
    closing how = c->how == CLOSE_GRACEFULLY && !echo_buffer_is_empty(&c->buffer) ? CLOSE_ABORTIVELY : c->how;
    server_close(c->socket, how);
    c->closed = 1;
}

/* Drops one hold, with the connection's lock held. Returns 1 when it was the
 * last: the socket is then closed (if the stop has not closed it already),
 * and the caller frees the context with destroy_connection once it has left
 * the lock. No hold left means ending: keep_going leaves a live connection
 * with an operation outstanding. */
static int release(connection *c)
{
    if (--c->holds > 0)
        return 0;
    close_socket(c);
    return 1;
}

static void post_recv(connection *c)
{
    WSABUF span;
    DWORD flags = 0;
    unsigned char *where;
    span.len = (ULONG)echo_buffer_write_span(&c->buffer, &where);
    span.buf = (char *)where;
    memset(&c->recv_op.overlapped, 0, sizeof c->recv_op.overlapped);
    /* Even when WSARecv succeeds at once its completion is still queued to
     * the port, so success and pending are handled the same way. */
    if (WSARecv(c->socket, &span, 1, NULL, &flags, &c->recv_op.overlapped, NULL) != 0 &&
        WSAGetLastError() != WSA_IO_PENDING) {
        fail_connection(c, WSAGetLastError(), ERROR_RECV);
        return;
    }
    c->recv_pending = 1;
    c->holds++;
}

static void post_send(connection *c)
{
    WSABUF span;
    unsigned char *where;
    span.len = (ULONG)echo_buffer_read_span(&c->buffer, &where);
    span.buf = (char *)where;
    memset(&c->send_op.overlapped, 0, sizeof c->send_op.overlapped);
    if (WSASend(c->socket, &span, 1, NULL, 0, &c->send_op.overlapped, NULL) != 0 &&
        WSAGetLastError() != WSA_IO_PENDING) {
        fail_connection(c, WSAGetLastError(), ERROR_SEND);
        return;
    }
    c->send_pending = 1;
    c->holds++;
}

/* Ends a connection for the stop, with its lock held. One with a send in
 * flight is cancelled and closed after its last completion (see release):
 * Wine 8 can lose a send it is partway through if the socket is closed under
 * it. One with only a receive outstanding has nothing to echo and is closed
 * at once, with a FIN: Windows cancels the receive on close, Wine 8 completes
 * it when it destroys the socket object, and its completion then frees the
 * context. That spares thousands of idle connections a cancel each (a
 * wineserver round trip that also walks the process's whole list of pending
 * I/O), and the retries that a cancel may need. */
static void end_for_stop(connection *c)
{
    if (c->ending)
        return;
    if (c->send_pending) {
        end_connection(c, CLOSE_GRACEFULLY); /* or a reset: see close_socket */
        return;
    }
    c->ending = 1;
    c->how = CLOSE_GRACEFULLY;
    close_socket(c);
}

/* Starts whatever the connection's state allows, with its lock held. At most
 * one receive (only while the buffer has room: a full buffer leaves the
 * client's window to close) and one send (only while echo is pending). The
 * spans they are given are part of the ring and must stay untouched until
 * their completion arrives, which is why the ring is never rewound and the
 * context is never freed while an operation is outstanding.
 *
 * Once the server is stopping it starts nothing more and ends the
 * connection: under a client that streams without pause there would
 * otherwise always be a new operation outstanding. */
static void keep_going(connection *c)
{
    if (!c->ending && server_stopping(c->owner->s))
        end_for_stop(c);
    if (!c->ending && !c->send_pending && !echo_buffer_is_empty(&c->buffer))
        post_send(c);
    if (!c->ending && !c->recv_pending && !c->peer_finished && !echo_buffer_is_full(&c->buffer))
        post_recv(c);
    if (!c->ending && c->peer_finished && !c->send_pending && echo_buffer_is_empty(&c->buffer))
        end_connection(c, CLOSE_GRACEFULLY); /* everything echoed: end with a FIN */
}

static int wsa_error_of(connection *c, io_op *op)
{
    DWORD bytes, flags;
    if (WSAGetOverlappedResult(c->socket, &op->overlapped, &bytes, FALSE, &flags))
        return 0;
    return WSAGetLastError();
}

static void on_io_completed(connection *c, io_op *op, BOOL ok, DWORD bytes)
{
    server *s = c->owner->s;
    int last;
    EnterCriticalSection(&c->lock);
    if (op->kind == OP_RECV)
        c->recv_pending = 0;
    else
        c->send_pending = 0;

    if (!ok) {
        /* Once the connection is ending, failures are our own cancellations. */
        if (!c->ending)
            fail_connection(c, wsa_error_of(c, op), op->kind == OP_RECV ? ERROR_RECV : ERROR_SEND);
    } else if (op->kind == OP_RECV && bytes == 0) {
        c->peer_finished = 1;
    } else if (op->kind == OP_RECV) {
        /* Kept even when ending: release then knows the echo was cut off. */
        c->had_input = 1;
        echo_buffer_commit(&c->buffer, bytes);
        stats_received(&s->stats, bytes);
    } else {
        /* A send may complete only part of its span: the rest goes next time. */
        echo_buffer_consume(&c->buffer, bytes);
        stats_sent(&s->stats, bytes);
    }
    keep_going(c);
    last = release(c); /* this operation's hold */
    LeaveCriticalSection(&c->lock);
    if (last)
        destroy_connection(c);
}

static void start_connection(iocp_server *iocp, SOCKET client)
{
    connection *c;
    int last;
    if (!server_admit(iocp->s, client))
        return;
    c = calloc(1, sizeof *c);
    if (!c || echo_buffer_init(&c->buffer, iocp->s->options.buffer_size) != 0 ||
        CreateIoCompletionPort((HANDLE)client, iocp->port, 0, 0) == NULL) {
        stats_error(&iocp->s->stats, ERROR_RESOURCE);
        if (c)
            echo_buffer_free(&c->buffer);
        free(c);
        closesocket(client);
        server_connection_closed(iocp->s);
        return;
    }
    c->owner = iocp;
    c->socket = client;
    c->recv_op.kind = OP_RECV;
    c->recv_op.owner = c;
    c->send_op.kind = OP_SEND;
    c->send_op.owner = c;
    c->holds = 1; /* ours, until keep_going has set it going */
    InitializeCriticalSection(&c->lock);

    EnterCriticalSection(&iocp->lock);
    if (iocp->stopping) {
        /* The stop has already ended the others: this one ends at once. */
        c->ending = 1;
        c->how = CLOSE_GRACEFULLY;
    }
    c->next = iocp->connections;
    if (c->next)
        c->next->previous = c;
    iocp->connections = c;
    iocp->live_connections++;
    LeaveCriticalSection(&iocp->lock);

    EnterCriticalSection(&c->lock);
    keep_going(c);
    last = release(c);
    LeaveCriticalSection(&c->lock);
    if (last)
        destroy_connection(c);
}

/* ---- Accepting ----------------------------------------------------------- */

static void retire_accept(iocp_server *iocp, accept_op *a)
{
    if (a->socket != INVALID_SOCKET)
        closesocket(a->socket);
    free(a);
    EnterCriticalSection(&iocp->lock);
    iocp->live_accepts--;
    signal_if_drained(iocp);
    LeaveCriticalSection(&iocp->lock);
}

/* Arms an accept again with a fresh socket. Returns 0 when it cannot (the
 * server is stopping, or AcceptEx failed other than for a client that reset
 * while it waited in the backlog); the caller then retires it. */
static int post_accept(iocp_server *iocp, accept_op *a)
{
    server *s = iocp->s;
    for (;;) {
        DWORD unused;
        int stopping, error = 0;
        a->socket = WSASocketW(s->family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
        if (a->socket == INVALID_SOCKET) {
            stats_error(&s->stats, ERROR_RESOURCE);
            return 0;
        }
        memset(&a->op.overlapped, 0, sizeof a->op.overlapped);
        /* Under the lock: a stop closes the listener under it too, so AcceptEx
         * never sees a closed (or, worse, reused) listener handle. */
        EnterCriticalSection(&iocp->lock);
        stopping = iocp->stopping;
        /* No receive data: an idle client is accepted at once, not when it
         * first sends (it might never send at all). Like WSARecv, an AcceptEx
         * that succeeds at once still queues its completion. */
        if (!stopping && !iocp->accept_ex(s->listener, a->socket, a->addresses, 0, ACCEPT_ADDRESS_LENGTH,
                                          ACCEPT_ADDRESS_LENGTH, &unused, &a->op.overlapped))
            error = WSAGetLastError();
        LeaveCriticalSection(&iocp->lock);
        if (!stopping && (error == 0 || error == ERROR_IO_PENDING))
            return 1;
        closesocket(a->socket);
        a->socket = INVALID_SOCKET;
        if (stopping)
            return 0;
        if (!server_count_accept_failure(s, error)) {
            server_log_error(s, error, "AcceptEx failed; one accept fewer in the pool");
            return 0;
        }
    }
}

static void on_accept_completed(iocp_server *iocp, accept_op *a, BOOL ok)
{
    SOCKET client = a->socket;
    int stopping, error = 0;
    DWORD unused, flags;
    a->socket = INVALID_SOCKET;
    EnterCriticalSection(&iocp->lock);
    stopping = iocp->stopping;
    /* The failure's Winsock error, for the counting rule; under the lock,
     * where the listener is certain to be open. */
    if (!ok && !stopping && !WSAGetOverlappedResult(iocp->s->listener, &a->op.overlapped, &unused, FALSE, &flags))
        error = WSAGetLastError();
    /* Gives the accepted socket the listener's properties; without it
     * shutdown() and getpeername() fail on it with WSAENOTCONN. */
    if (ok && !stopping &&
        setsockopt(client, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&iocp->s->listener,
                   sizeof iocp->s->listener) != 0) {
        ok = FALSE;
        error = WSAGetLastError();
    }
    LeaveCriticalSection(&iocp->lock);
    if (stopping) {
        closesocket(client);
        retire_accept(iocp, a);
        return;
    }
    if (ok) {
        start_connection(iocp, client);
    } else {
        server_count_accept_failure(iocp->s, error);
        closesocket(client);
    }
    if (!post_accept(iocp, a))
        retire_accept(iocp, a);
}

/* ---- Workers ------------------------------------------------------------- */

static unsigned __stdcall worker(void *arg)
{
    iocp_server *iocp = arg;
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *overlapped = NULL;
        BOOL ok = GetQueuedCompletionStatus(iocp->port, &bytes, &key, &overlapped, INFINITE);
        if (overlapped == NULL)
            break; /* our QUIT_KEY packet, or the port itself failed */
        io_op *op = CONTAINING_RECORD(overlapped, io_op, overlapped);
        if (op->kind == OP_ACCEPT)
            on_accept_completed(iocp, (accept_op *)op, ok);
        else
            on_io_completed(op->owner, op, ok, bytes);
    }
    return 0;
}

/* ---- Life cycle ---------------------------------------------------------- */

static int set_up(iocp_server *iocp)
{
    server *s = iocp->s;
    GUID accept_ex_id = WSAID_ACCEPTEX;
    DWORD length;
    iocp->drained = CreateEventW(NULL, TRUE, FALSE, NULL);
    iocp->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (!iocp->drained || !iocp->port) {
        server_log_error(s, (int)GetLastError(), "cannot create the completion port");
        return -1;
    }
    /* AcceptEx is a Microsoft extension reached through the provider of the
     * socket, not a plain export. */
    if (WSAIoctl(s->listener, SIO_GET_EXTENSION_FUNCTION_POINTER, &accept_ex_id, sizeof accept_ex_id,
                 &iocp->accept_ex, sizeof iocp->accept_ex, &length, NULL, NULL) != 0) {
        server_log_error(s, WSAGetLastError(), "cannot find AcceptEx");
        return -1;
    }
    /* Accepts complete on the listener, so it belongs to the port as well. */
    if (CreateIoCompletionPort((HANDLE)s->listener, iocp->port, 0, 0) == NULL) {
        server_log_error(s, (int)GetLastError(), "cannot associate the listener with the port");
        return -1;
    }
    return 0;
}

static int fill_accept_pool(iocp_server *iocp)
{
    int armed = 0;
    for (int i = 0; i < iocp->s->options.accept_pool; i++) {
        accept_op *a = calloc(1, sizeof *a);
        if (!a) {
            stats_error(&iocp->s->stats, ERROR_RESOURCE);
            break;
        }
        a->op.kind = OP_ACCEPT;
        EnterCriticalSection(&iocp->lock);
        iocp->live_accepts++;
        LeaveCriticalSection(&iocp->lock);
        if (post_accept(iocp, a))
            armed++;
        else
            retire_accept(iocp, a);
    }
    return armed;
}

/* Stops accepting and ends every connection; the outstanding operations then
 * complete on the workers, which free what they belonged to. Closing the
 * listener ends its AcceptEx calls (in Wine too). */
static void stop_everything(iocp_server *iocp)
{
    EnterCriticalSection(&iocp->lock);
    iocp->stopping = 1;
    closesocket(iocp->s->listener);
    iocp->s->listener = INVALID_SOCKET;
    for (connection *c = iocp->connections; c; c = c->next) {
        EnterCriticalSection(&c->lock);
        end_for_stop(c);
        LeaveCriticalSection(&c->lock);
    }
    signal_if_drained(iocp);
    LeaveCriticalSection(&iocp->lock);
}

/* Cancels again the operations of connections still open: a cancel misses an
 * operation that Wine is completing at that very moment and then re-queues.
 * Closed ones cannot be cancelled any more; their completions come from
 * Wine destroying the socket. */
static void cancel_outstanding(iocp_server *iocp)
{
    EnterCriticalSection(&iocp->lock);
    for (connection *c = iocp->connections; c; c = c->next) {
        EnterCriticalSection(&c->lock);
        if (!c->closed && (c->recv_pending || c->send_pending))
            CancelIoEx((HANDLE)c->socket, NULL);
        LeaveCriticalSection(&c->lock);
    }
    LeaveCriticalSection(&iocp->lock);
}

static int live_count(iocp_server *iocp)
{
    EnterCriticalSection(&iocp->lock);
    int live = iocp->live_connections + iocp->live_accepts;
    LeaveCriticalSection(&iocp->lock);
    return live;
}

/* Waits until every connection and accept is gone, or none has gone for
 * STOP_STALL_MS. */
static int drain(iocp_server *iocp)
{
    DWORD last_progress = GetTickCount();
    int live = live_count(iocp);
    while (WaitForSingleObject(iocp->drained, CANCEL_RETRY_MS) != WAIT_OBJECT_0) {
        int now = live_count(iocp);
        if (now < live) {
            live = now;
            last_progress = GetTickCount();
        } else if (GetTickCount() - last_progress >= STOP_STALL_MS) {
            return -1;
        }
        cancel_outstanding(iocp);
    }
    return 0;
}

static int run(server *s)
{
    iocp_server iocp;
    int workers = server_worker_count(s), started = 0, rc = 0;
    HANDLE *threads = calloc((size_t)workers, sizeof *threads);
    memset(&iocp, 0, sizeof iocp);
    iocp.s = s;
    InitializeCriticalSection(&iocp.lock);
    if (!threads) {
        server_log(s, "out of memory");
        rc = 1;
    } else if (set_up(&iocp) != 0) {
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < workers; i++)
        if ((threads[started] = server_start_thread(s, worker, &iocp, 0)) != NULL)
            started++;
    if (rc == 0 && started == 0) {
        server_log(s, "cannot start any worker thread");
        rc = 1;
    }
    if (rc == 0 && fill_accept_pool(&iocp) == 0) {
        server_log(s, "cannot post any AcceptEx");
        rc = 1;
    }
    if (rc == 0)
        WaitForSingleObject(s->stop_event, INFINITE);

    if (iocp.drained) {
        stop_everything(&iocp);
        if (started > 0 && drain(&iocp) != 0) {
            EnterCriticalSection(&iocp.lock);
            server_log(s, "%d connections and %d accepts still had I/O outstanding, none completed for %d ms; left "
                       "to the process exit", iocp.live_connections, iocp.live_accepts, STOP_STALL_MS);
            LeaveCriticalSection(&iocp.lock);
            rc = 1;
        }
    }
    /* Only now, with every context freed, may the workers go. */
    for (int i = 0; i < started; i++)
        PostQueuedCompletionStatus(iocp.port, 0, QUIT_KEY, NULL);
    for (int i = 0; i < started; i++) {
        WaitForSingleObject(threads[i], INFINITE);
        CloseHandle(threads[i]);
    }
    if (iocp.port)
        CloseHandle(iocp.port);
    if (iocp.drained)
        CloseHandle(iocp.drained);
    DeleteCriticalSection(&iocp.lock);
    free(threads);
    return rc;
}

static const server_model model = {
    {.name = "iocp",
     .summary = "an I/O completion port, a worker pool and a pool of AcceptEx",
     .has_thread_pool = 1,
     .has_accept_pool = 1,
     .default_accept_pool = 32},
    run,
    NULL, /* run() waits on stop_event itself */
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

/* The Registered I/O model (RIO, Windows 8 and later).
 *
 * Each connection's echo buffer is registered once (RIORegisterBuffer), so
 * a receive or a send names a slice of it instead of having the system lock
 * the pages per call; each socket has a request queue, and every request
 * completes into one completion queue. The queue is notified through an I/O
 * completion port (RIONotify arms one notification at a time): the worker
 * that takes it dequeues up to DEQUEUE_BATCH results in one call, handles
 * them, and arms the next notification. Accepts come from the shared
 * AcceptEx pool on the same port, into sockets made with
 * WSA_FLAG_REGISTERED_IO.
 *
 * One request at a time per connection, as in the other completion models
 * (core/completion.h says why): receive into the whole buffer, send it back
 * until all is out, receive again.
 *
 * RIO has no cancel: a request ends when it completes or its socket closes.
 * So at the stop, a connection with only a receive outstanding is closed at
 * once with a FIN (the receive then completes with an error), and one with a
 * send outstanding is closed after that send completes (a reset if its echo
 * was cut): the socket is still closed only after its last completion.
 *
 * Wine 8 has no RIO (dlls/ws2_32/socket.c knows neither
 * SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER nor WSAID_MULTIPLE_RIO): the
 * server then says so in one line and exits with SERVER_EXIT_UNSUPPORTED
 * before its ready line. */
#include "acceptex.h"

#include <stdlib.h>
#include <string.h>

/* ---- RIO declarations -----------------------------------------------------
 * mingw-w64's headers (10.0) lack them, and MSVC's declare them only for
 * _WIN32_WINNT >= 0x0602: our own names, with Windows' documented layout. */

#define WSB_SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER 0xC8000024u
#define WSB_WSA_FLAG_REGISTERED_IO 0x100
#define WSB_RIO_CORRUPT_CQ 0xFFFFFFFFu
#define WSB_RIO_IOCP_COMPLETION 2
static const GUID wsb_rio_id = {0x8509e081, 0x96dd, 0x4005, {0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f}};

typedef struct wsb_rio_buffer_id *rio_buffer_id;
typedef struct wsb_rio_cq *rio_cq;
typedef struct wsb_rio_rq *rio_rq;
#define RIO_NO_BUFFER ((rio_buffer_id) ~(ULONG_PTR)0)

typedef struct rio_buf {
    rio_buffer_id buffer;
    ULONG offset;
    ULONG length;
} rio_buf;

typedef struct rio_result {
    LONG status;
    ULONG bytes;
    ULONGLONG socket_context;
    ULONGLONG request_context;
} rio_result;

typedef struct rio_notification {
    int type;
    union {
        struct {
            HANDLE event;
            BOOL notify_reset;
        } event;
        struct {
            HANDLE port;
            PVOID key;
            PVOID overlapped;
        } iocp;
    } u;
} rio_notification;

typedef void(WINAPI *rio_unused_fn)(void);
typedef struct rio_table {
    DWORD size;
    BOOL(WINAPI *receive)(rio_rq, rio_buf *, ULONG, DWORD, PVOID);
    rio_unused_fn receive_ex;
    BOOL(WINAPI *send)(rio_rq, rio_buf *, ULONG, DWORD, PVOID);
    rio_unused_fn send_ex;
    void(WINAPI *close_cq)(rio_cq);
    rio_cq(WINAPI *create_cq)(DWORD, rio_notification *);
    rio_rq(WINAPI *create_rq)(SOCKET, ULONG, ULONG, ULONG, ULONG, rio_cq, rio_cq, PVOID);
    ULONG(WINAPI *dequeue)(rio_cq, rio_result *, ULONG);
    void(WINAPI *deregister_buffer)(rio_buffer_id);
    INT(WINAPI *notify)(rio_cq);
    rio_buffer_id(WINAPI *register_buffer)(PCHAR, DWORD);
    rio_unused_fn resize_cq;
    rio_unused_fn resize_rq;
} rio_table;

/* ---- The server ------------------------------------------------------------ */

/* Completion keys: what a packet belongs to (PORT_QUIT_KEY, lifecycle.h,
 * tells a worker to return). */
#define ACCEPT_KEY ((ULONG_PTR)1)
#define RIO_KEY ((ULONG_PTR)2)
/* Results taken per RIODequeueCompletion. */
#define DEQUEUE_BATCH 64
/* The completion queue holds one entry per connection (one request at a
 * time each), so it caps the connections; beyond it a client is refused as
 * a `resource` error. */
#define MAX_RIO_CONNECTIONS 65536

typedef enum rio_op { RIO_NONE, RIO_RECV, RIO_SEND } rio_op;

typedef struct rio_server rio_server;

typedef struct rio_conn {
    rio_server *owner;
    CRITICAL_SECTION lock; /* the stop takes it too; a request queue wants one caller at a time */
    SOCKET socket;         /* INVALID_SOCKET once closed: only a completion may remain */
    rio_rq queue;          /* freed with the socket */
    /* Registered once and owned until the context is freed: the system
     * reads and writes it directly for every request, so it must stay put
     * (and registered) until the last request's completion has come. */
    rio_buffer_id buffer_id;
    char *buffer;
    ULONG received, sent; /* the echo: buffer[sent, received) is still to go */
    rio_op pending;
    int peer_finished, had_input, ending;
    closing how;
    live_link link; /* in the server's live list */
} rio_conn;

struct rio_server {
    acceptex_server base; /* first: the run's functions get it */
    rio_cq queue;
    OVERLAPPED queue_notified; /* what the port hands back for the queue */
    CRITICAL_SECTION lock;     /* guards what follows */
    int stopping;
    int live; /* contexts, and those being made: each takes a completion queue entry */
    live_link *connections;
};

static rio_table rio;

static int check_platform(server *s)
{
    DWORD bytes;
    GUID id = wsb_rio_id;
    memset(&rio, 0, sizeof rio);
    rio.size = sizeof rio;
    if (WSAIoctl(s->listener, WSB_SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &rio, sizeof rio, &bytes,
                 NULL, NULL) != 0 ||
        !rio.receive || !rio.send || !rio.create_cq || !rio.create_rq || !rio.dequeue || !rio.notify ||
        !rio.register_buffer || !rio.deregister_buffer || !rio.close_cq) {
        server_log(s, "Registered I/O (RIO) is not available on this platform");
        return SERVER_EXIT_UNSUPPORTED;
    }
    return 0;
}

/* ---- Connections ------------------------------------------------------------ */

/* Closes the socket, once, by the one closing rule (lifecycle.h); closing
 * it also frees its request queue. */
static void close_socket(rio_conn *c)
{
    connection_close(&c->socket, c->how, c->sent < c->received);
}

/* Frees a context whose socket is closed and whose last request has
 * completed: the one place that happens. */
static void destroy(rio_conn *c)
{
    rio_server *r = c->owner;
    EnterCriticalSection(&r->lock);
    live_list_unlink(&r->connections, &c->link);
    r->live--;
    LeaveCriticalSection(&r->lock);
    if (c->buffer_id != RIO_NO_BUFFER)
        rio.deregister_buffer(c->buffer_id);
    server_connection_closed(r->base.s);
    DeleteCriticalSection(&c->lock);
    free(c->buffer);
    free(c);
}

/* With c's lock held: a stop (or failure) ends it; a socket with a send
 * outstanding is closed after that send's completion (see step). */
static void end_connection(rio_conn *c, closing how)
{
    if (c->ending)
        return;
    c->ending = 1;
    c->how = how;
    if (c->pending != RIO_SEND)
        close_socket(c); /* a receive outstanding completes with an error */
}

static void issue(rio_conn *c, rio_op op)
{
    rio_buf slice;
    BOOL ok;
    slice.buffer = c->buffer_id;
    c->pending = op;
    if (op == RIO_RECV) {
        c->received = c->sent = 0;
        slice.offset = 0;
        slice.length = (ULONG)c->owner->base.s->options.buffer_size;
        ok = rio.receive(c->queue, &slice, 1, 0, c);
    } else {
        slice.offset = c->sent;
        slice.length = c->received - c->sent;
        ok = rio.send(c->queue, &slice, 1, 0, c);
    }
    if (!ok) {
        c->pending = RIO_NONE;
        server_count_io_error(c->owner->base.s, WSAGetLastError(), op == RIO_RECV ? ERROR_RECV : ERROR_SEND,
                              c->had_input);
        end_connection(c, CLOSE_FAILED);
    }
}

/* With c's lock held: the echo out first, then a receive; a FIN once the
 * client half-closed and all is echoed. Returns 1 when c is done with (the
 * caller destroys it after leaving the lock). */
static int step(rio_conn *c)
{
    if (!c->ending && server_stopping(c->owner->base.s))
        end_connection(c, CLOSE_GRACEFULLY); /* or a reset: see close_socket */
    if (!c->ending && c->pending == RIO_NONE) {
        if (c->sent < c->received)
            issue(c, RIO_SEND);
        else if (!c->peer_finished)
            issue(c, RIO_RECV);
        else
            end_connection(c, CLOSE_GRACEFULLY);
    }
    if (c->ending && c->pending == RIO_NONE) {
        close_socket(c);
        return 1;
    }
    return 0;
}

static void on_result(rio_conn *c, const rio_result *result)
{
    server *s = c->owner->base.s;
    EnterCriticalSection(&c->lock);
    rio_op op = c->pending;
    c->pending = RIO_NONE;
    if (result->status != 0) {
        if (!c->ending) { /* once ending, failures are the stop's own doing */
            server_count_io_error(s, (int)result->status, op == RIO_RECV ? ERROR_RECV : ERROR_SEND, c->had_input);
            end_connection(c, CLOSE_FAILED);
        }
    } else if (op == RIO_RECV && result->bytes == 0) {
        c->peer_finished = 1;
    } else if (op == RIO_RECV) {
        c->had_input = 1;
        c->received = result->bytes;
        stats_received(&s->stats, result->bytes);
    } else {
        c->sent += result->bytes;
        stats_sent(&s->stats, result->bytes);
    }
    int done = step(c);
    LeaveCriticalSection(&c->lock);
    if (done)
        destroy(c);
}

static rio_conn *new_connection(rio_server *r, SOCKET client)
{
    size_t size = r->base.s->options.buffer_size;
    rio_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->owner = r;
    c->socket = client;
    c->buffer_id = RIO_NO_BUFFER;
    c->buffer = malloc(size);
    if (c->buffer)
        c->buffer_id = rio.register_buffer(c->buffer, (DWORD)size);
    if (c->buffer_id != RIO_NO_BUFFER)
        c->queue = rio.create_rq(client, 1, 1, 1, 1, r->queue, r->queue, c);
    if (!c->queue) {
        if (c->buffer_id != RIO_NO_BUFFER)
            rio.deregister_buffer(c->buffer_id);
        free(c->buffer);
        free(c);
        return NULL;
    }
    InitializeCriticalSection(&c->lock);
    return c;
}

static void accepted(void *context, SOCKET client)
{
    rio_server *r = context;
    rio_conn *c = NULL;
    EnterCriticalSection(&r->lock);
    int room = r->live < MAX_RIO_CONNECTIONS;
    if (room)
        r->live++; /* counted before the queue is made: the queue's room is taken */
    LeaveCriticalSection(&r->lock);
    if (room)
        c = new_connection(r, client);
    if (!c) {
        stats_error(&r->base.s->stats, ERROR_RESOURCE);
        server_drop(r->base.s, client);
        if (room) {
            EnterCriticalSection(&r->lock);
            r->live--;
            LeaveCriticalSection(&r->lock);
        }
        return;
    }
    EnterCriticalSection(&r->lock);
    if (r->stopping) {
        c->ending = 1;
        c->how = CLOSE_GRACEFULLY;
    }
    live_list_push(&r->connections, &c->link, c);
    LeaveCriticalSection(&r->lock);
    EnterCriticalSection(&c->lock);
    int done = step(c);
    LeaveCriticalSection(&c->lock);
    if (done)
        destroy(c);
}

static const acceptex_hooks accept_hooks = {accepted, NULL, NULL};

/* ---- Workers ---------------------------------------------------------------- */

/* Only one worker holds the queue's notification at a time, so only one
 * dequeues: RIODequeueCompletion wants one caller at a time per queue. */
static void drain_queue(rio_server *r)
{
    rio_result results[DEQUEUE_BATCH];
    ULONG taken = rio.dequeue(r->queue, results, DEQUEUE_BATCH);
    if (taken == WSB_RIO_CORRUPT_CQ) {
        server_log(r->base.s, "the RIO completion queue is corrupt");
        server_request_stop(r->base.s);
        return;
    }
    for (ULONG i = 0; i < taken; i++)
        on_result((rio_conn *)(ULONG_PTR)results[i].request_context, &results[i]);
    rio.notify(r->queue); /* the next notification */
}

static unsigned __stdcall worker(void *arg)
{
    rio_server *r = arg;
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *overlapped = NULL;
        BOOL ok = GetQueuedCompletionStatus(r->base.port, &bytes, &key, &overlapped, INFINITE);
        if (overlapped == NULL)
            return 0; /* a quit packet, or the port itself failed */
        if (key == RIO_KEY)
            drain_queue(r);
        else
            acceptex_completed((acceptex_op *)overlapped, ok);
    }
}

/* ---- Life cycle ------------------------------------------------------------- */

static int outstanding(void *context, int *connections, int *accepts)
{
    rio_server *r = context;
    EnterCriticalSection(&r->lock);
    *connections = r->live;
    LeaveCriticalSection(&r->lock);
    *accepts = acceptex_pool_outstanding(&r->base.accepts);
    return *connections + *accepts;
}

/* RIO has nothing to cancel: the stop closed what could be closed, and the
 * sends still out end by themselves (completed, or failed by the peer). */
static int wait_only(void *context)
{
    (void)context;
    Sleep(CANCEL_RETRY_MS);
    return 0;
}

/* With the listener closed: ends every connection (see end_connection: a
 * socket with a send outstanding is closed after that send's completion),
 * then waits for them and the accepts. */
static int drain(acceptex_server *a)
{
    static const drain_hooks hooks = {outstanding, wait_only};
    rio_server *r = (rio_server *)a;
    EnterCriticalSection(&r->lock);
    r->stopping = 1;
    for (live_link *l = r->connections; l; l = l->next) {
        rio_conn *c = l->item;
        EnterCriticalSection(&c->lock);
        end_connection(c, CLOSE_GRACEFULLY);
        LeaveCriticalSection(&c->lock);
    }
    LeaveCriticalSection(&r->lock);
    return lifecycle_drain(a->s, &hooks, r);
}

static int open_queue(acceptex_server *a)
{
    rio_server *r = (rio_server *)a;
    server *s = a->s;
    rio_notification notification;
    InitializeCriticalSection(&r->lock); /* first: drain takes it whatever fails below */
    a->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (!a->port) {
        server_log_error(s, (int)GetLastError(), "cannot create the completion port");
        return -1;
    }
    memset(&notification, 0, sizeof notification);
    notification.type = WSB_RIO_IOCP_COMPLETION;
    notification.u.iocp.port = a->port;
    notification.u.iocp.key = (PVOID)RIO_KEY;
    notification.u.iocp.overlapped = &r->queue_notified;
    r->queue = rio.create_cq(MAX_RIO_CONNECTIONS, &notification);
    if (!r->queue) {
        server_log_error(s, WSAGetLastError(), "cannot create the RIO completion queue");
        return -1;
    }
    if (acceptex_pool_open(&a->accepts, s, 0, &accept_hooks, r) != 0)
        return -1;
    a->accepts.socket_flags |= WSB_WSA_FLAG_REGISTERED_IO;
    if (CreateIoCompletionPort((HANDLE)s->listener, a->port, ACCEPT_KEY, 0) == NULL) {
        server_log_error(s, (int)GetLastError(), "cannot associate the listener with the port");
        return -1;
    }
    rio.notify(r->queue);
    return 0;
}

static void close_queue(acceptex_server *a)
{
    rio_server *r = (rio_server *)a;
    if (r->queue)
        rio.close_cq(r->queue);
    DeleteCriticalSection(&r->lock);
}

static int run(server *s)
{
    static const acceptex_model lifecycle = {open_queue, worker, NULL, drain, close_queue};
    static rio_server r;
    r.base.s = s;
    return acceptex_run(&r.base, &lifecycle);
}

static const server_model model = {
    {.name = "rio",
     .summary = "Registered I/O: registered buffers, one completion queue notified through a completion port",
     .has_thread_pool = 1,
     .workers_per_processor = 2,
     .has_accept_pool = 1,
     .default_accept_pool = 32},
    run,
    NULL, /* run() waits on stop_event itself */
};

int main(int argc, char **argv)
{
    return server_main_checked(argc, argv, &model, check_platform);
}

/* The I/O completion port model.
 *
 * Every socket is associated with one completion port. Sockets are accepted
 * by the shared AcceptEx pool (core/acceptex.c) and served by the shared
 * completion engine (core/completion.c: one overlapped operation at a time
 * per connection); a pool of worker threads waits on the port and finishes
 * whatever operation completed, on whichever connection. No thread belongs
 * to a connection, so a few threads serve thousands of clients.
 *
 * Two workers per processor by default (--threads 0), as Microsoft's
 * iocpserver sample has. Issue 9 measured why under Wine: every
 * GetQueuedCompletionStatus and every WSARecv/WSASend is a blocking round
 * trip to the wineserver, so with one worker per processor a processor sat
 * idle while its worker waited for the wineserver (ours kept 1.40 cores busy
 * against the sample's 1.65). On Windows the port's concurrency value (the
 * processors) still lets only that many run at once.
 *
 * Options (issue 9's IOCP tunings, compared by suites as variants):
 * --batch N takes up to N completions per GetQueuedCompletionStatusEx, one
 * call where there would be N; --skip-on-success sets
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS on every connection, so a call that
 * succeeds at once queues no packet and is finished by the thread that made
 * it (core/completion.c's step). Wine implements both (read in its source:
 * GetQueuedCompletionStatusEx is ntdll's NtRemoveIoCompletionEx; the mode is
 * stored by the wineserver's set_fd_completion_mode, server/fd.c, and
 * async_set_result, server/async.c, then queues no packet for an operation
 * that did not pend; the tests pass with both under Wine 8.0). The listener is left
 * without skip-on-success: the pool would gain one packet per accepted
 * client at most. */
#include "acceptex.h"
#include "completion.h"

#include <stdlib.h>
#include <string.h>

/* Completion keys: what a packet belongs to (PORT_QUIT_KEY, lifecycle.h,
 * tells a worker to return). */
#define ACCEPT_KEY ((ULONG_PTR)1)
#define CONNECTION_KEY ((ULONG_PTR)2)

static int attach(completion_conn *c)
{
    completion_server *iocp = c->set->context;
    if (CreateIoCompletionPort((HANDLE)c->socket, iocp->base.port, CONNECTION_KEY, 0) == NULL)
        return -1;
    /* Checked per connection, as Microsoft advises: a layered provider may
     * refuse it, and then every call still completes through the port. */
    if (iocp->base.s->options.skip_on_success &&
        !SetFileCompletionNotificationModes((HANDLE)c->socket, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS))
        return -1;
    return 0;
}

static const completion_hooks connection_hooks = {attach, NULL, NULL, NULL};

static void accepted(void *context, SOCKET client)
{
    completion_server *iocp = context;
    completion_open(&iocp->connections, client, NULL);
}

static const acceptex_hooks accept_hooks = {accepted, NULL, NULL};

/* Hands one dequeued packet to whatever it belongs to. */
static void dispatch(ULONG_PTR key, OVERLAPPED *overlapped, int ok, DWORD bytes)
{
    if (key == ACCEPT_KEY)
        acceptex_completed((acceptex_op *)overlapped, ok);
    else
        completion_done((completion_conn *)overlapped, ok, bytes);
}

/* One completion per call: GetQueuedCompletionStatus. */
static void serve_one_at_a_time(HANDLE port)
{
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *overlapped = NULL;
        BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &overlapped, INFINITE);
        if (overlapped == NULL)
            return; /* a quit packet, or the port itself failed */
        dispatch(key, overlapped, ok, bytes);
    }
}

/* Up to --batch completions per call: GetQueuedCompletionStatusEx. It
 * reports each entry's status only in the OVERLAPPED (Internal), so success
 * is read there. */
static void serve_in_batches(acceptex_server *a)
{
    OVERLAPPED_ENTRY *entries = calloc((size_t)a->s->options.batch, sizeof *entries);
    if (!entries) {
        stats_error(&a->s->stats, ERROR_RESOURCE);
        serve_one_at_a_time(a->port); /* the worker still serves, one at a time */
        return;
    }
    for (;;) {
        ULONG taken = 0;
        int quits = 0;
        if (!GetQueuedCompletionStatusEx(a->port, entries, (ULONG)a->s->options.batch, &taken, INFINITE, FALSE))
            break; /* the port itself failed */
        for (ULONG i = 0; i < taken; i++) {
            OVERLAPPED *overlapped = entries[i].lpOverlapped;
            if (overlapped == NULL) {
                quits++; /* taken with others: those are finished first */
                continue;
            }
            dispatch(entries[i].lpCompletionKey, overlapped, overlapped->Internal == 0,
                     entries[i].dwNumberOfBytesTransferred);
        }
        if (quits == 0)
            continue;
        /* One quit packet per worker: those taken for the others go back. */
        while (--quits > 0)
            port_post_quit(a->port);
        break;
    }
    free(entries);
}

static unsigned __stdcall worker(void *arg)
{
    acceptex_server *a = arg;
    if (a->s->options.batch > 0)
        serve_in_batches(a);
    else
        serve_one_at_a_time(a->port);
    return 0;
}

static int open_port(acceptex_server *a)
{
    completion_server *iocp = (completion_server *)a;
    server *s = a->s;
    a->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (!a->port) {
        server_log_error(s, (int)GetLastError(), "cannot create the completion port");
        return -1;
    }
    if (completion_server_open(iocp, &connection_hooks, &accept_hooks, 0) != 0)
        return -1;
    iocp->connections.skip_inline_success = s->options.skip_on_success;
    /* Accepts complete on the listener, so it belongs to the port as well. */
    if (CreateIoCompletionPort((HANDLE)s->listener, a->port, ACCEPT_KEY, 0) == NULL) {
        server_log_error(s, (int)GetLastError(), "cannot associate the listener with the port");
        return -1;
    }
    return 0;
}

static int run(server *s)
{
    static const acceptex_model lifecycle = {open_port, worker, NULL, completion_server_drain, completion_server_close};
    static completion_server iocp;
    iocp.base.s = s;
    return acceptex_run(&iocp.base, &lifecycle);
}

static const server_model model = {
    {.name = "iocp",
     .summary = "an I/O completion port, a worker pool and a pool of AcceptEx",
     .has_thread_pool = 1,
     .workers_per_processor = 2,
     .has_accept_pool = 1,
     .default_accept_pool = 32,
     .has_completion_tuning = 1},
    run,
    NULL, /* run() waits on stop_event itself */
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

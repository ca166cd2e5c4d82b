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

/* Completion keys: what a packet belongs to. */
#define ACCEPT_KEY ((ULONG_PTR)1)
#define CONNECTION_KEY ((ULONG_PTR)2)
/* The packets that tell a worker to exit carry no OVERLAPPED. */
#define QUIT_KEY ((ULONG_PTR)3)

typedef struct iocp_server {
    server *s;
    HANDLE port;
    acceptex_pool accepts;
    completion_set connections;
} iocp_server;

static int attach(completion_conn *c)
{
    iocp_server *iocp = c->set->context;
    if (CreateIoCompletionPort((HANDLE)c->socket, iocp->port, CONNECTION_KEY, 0) == NULL)
        return -1;
    /* Checked per connection, as Microsoft advises: a layered provider may
     * refuse it, and then every call still completes through the port. */
    if (iocp->s->options.skip_on_success &&
        !SetFileCompletionNotificationModes((HANDLE)c->socket, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS))
        return -1;
    return 0;
}

static const completion_hooks connection_hooks = {attach, NULL, NULL, NULL};

static void accepted(void *context, SOCKET client)
{
    iocp_server *iocp = context;
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
static void serve_one_at_a_time(iocp_server *iocp)
{
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *overlapped = NULL;
        BOOL ok = GetQueuedCompletionStatus(iocp->port, &bytes, &key, &overlapped, INFINITE);
        if (overlapped == NULL)
            return; /* our QUIT_KEY packet, or the port itself failed */
        dispatch(key, overlapped, ok, bytes);
    }
}

/* Up to --batch completions per call: GetQueuedCompletionStatusEx. It
 * reports each entry's status only in the OVERLAPPED (Internal), so success
 * is read there. */
static void serve_in_batches(iocp_server *iocp)
{
    OVERLAPPED_ENTRY *entries = calloc((size_t)iocp->s->options.batch, sizeof *entries);
    if (!entries) {
        stats_error(&iocp->s->stats, ERROR_RESOURCE);
        serve_one_at_a_time(iocp); /* the worker still serves, one at a time */
        return;
    }
    for (;;) {
        ULONG taken = 0;
        int quits = 0;
        if (!GetQueuedCompletionStatusEx(iocp->port, entries, (ULONG)iocp->s->options.batch, &taken, INFINITE, FALSE))
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
            PostQueuedCompletionStatus(iocp->port, 0, QUIT_KEY, NULL);
        break;
    }
    free(entries);
}

static unsigned __stdcall worker(void *arg)
{
    iocp_server *iocp = arg;
    if (iocp->s->options.batch > 0)
        serve_in_batches(iocp);
    else
        serve_one_at_a_time(iocp);
    return 0;
}

static int accepts_left(void *arg)
{
    return acceptex_pool_outstanding(arg);
}

static int set_up(iocp_server *iocp)
{
    server *s = iocp->s;
    iocp->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (!iocp->port) {
        server_log_error(s, (int)GetLastError(), "cannot create the completion port");
        return -1;
    }
    if (completion_set_init(&iocp->connections, s, &connection_hooks, iocp) != 0 ||
        acceptex_pool_open(&iocp->accepts, s, 0, &accept_hooks, iocp) != 0)
        return -1;
    iocp->connections.skip_inline_success = s->options.skip_on_success;
    /* Accepts complete on the listener, so it belongs to the port as well. */
    if (CreateIoCompletionPort((HANDLE)s->listener, iocp->port, ACCEPT_KEY, 0) == NULL) {
        server_log_error(s, (int)GetLastError(), "cannot associate the listener with the port");
        return -1;
    }
    return 0;
}

static int run(server *s)
{
    iocp_server iocp;
    int workers = server_worker_count(s), started = 0, rc = 0, stopped = 0;
    HANDLE *threads = calloc((size_t)workers, sizeof *threads);
    memset(&iocp, 0, sizeof iocp);
    iocp.s = s;
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
    if (rc == 0 && acceptex_pool_arm(&iocp.accepts) == 0) {
        server_log(s, "cannot post any AcceptEx");
        rc = 1;
    }
    if (rc == 0)
        WaitForSingleObject(s->stop_event, INFINITE);

    if (iocp.accepts.ops && iocp.connections.drained) {
        acceptex_pool_stop(&iocp.accepts);
        if (started > 0 && completion_stop(&iocp.connections, accepts_left, &iocp.accepts) != 0)
            rc = 1; /* the contexts the system may still write into are kept */
        else
            stopped = 1;
    }
    /* Only now, with every context freed, may the workers go. */
    for (int i = 0; i < started; i++)
        PostQueuedCompletionStatus(iocp.port, 0, QUIT_KEY, NULL);
    for (int i = 0; i < started; i++) {
        WaitForSingleObject(threads[i], INFINITE);
        CloseHandle(threads[i]);
    }
    if (stopped || started == 0) { /* else the system may still write into them */
        acceptex_pool_close(&iocp.accepts);
        completion_set_free(&iocp.connections);
    }
    if (iocp.port)
        CloseHandle(iocp.port);
    free(threads);
    return rc;
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

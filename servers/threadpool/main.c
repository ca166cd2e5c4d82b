/* The thread-pool I/O model: CreateThreadpoolIo / StartThreadpoolIo.
 *
 * The Windows thread pool owns the threads and the completion port: each
 * socket gets a thread-pool I/O object, and the pool calls back on one of its
 * own threads when an operation on that socket completes. The model only
 * says, before each overlapped call, that a completion is coming
 * (StartThreadpoolIo), and takes that back when the call fails at once
 * (CancelThreadpoolIo): otherwise the pool would wait for a completion that
 * never arrives. Accepts come from the shared AcceptEx pool on the
 * listener's own I/O object; connections are served by the shared completion
 * engine (core/completion.c, one operation at a time per connection).
 *
 * Wine 8 implements thread-pool I/O (ntdll's TpAllocIoCompletion and
 * friends in dlls/ntdll/threadpool.c: the pool binds the handle to its own
 * completion port and runs the callbacks on its worker threads).
 *
 * peak_threads counts only the threads the server starts itself (main and
 * the stdin watcher): the pool's are the runtime's. */
#include "acceptex.h"
#include "completion.h"

#include <stdlib.h>
#include <string.h>

typedef struct threadpool_server {
    completion_server base; /* first: the run's functions get it */
    PTP_IO listener_io;
} threadpool_server;

/* ---- Connections ------------------------------------------------------- */

static void CALLBACK on_connection_io(PTP_CALLBACK_INSTANCE instance, PVOID context, PVOID overlapped, ULONG result,
                                      ULONG_PTR bytes, PTP_IO io)
{
    (void)instance;
    (void)overlapped; /* the connection's one OVERLAPPED */
    (void)io;
    completion_done(context, result == NO_ERROR, (DWORD)bytes);
}

static int attach(completion_conn *c)
{
    PTP_IO io = CreateThreadpoolIo((HANDLE)c->socket, on_connection_io, c, NULL);
    if (!io)
        return -1;
    c->model_data = io;
    return 0;
}

static void starting(completion_conn *c)
{
    StartThreadpoolIo(c->model_data);
}

static void not_started(completion_conn *c)
{
    CancelThreadpoolIo(c->model_data);
}

/* Called on the pool's thread, inside the last callback: closing the I/O
 * object there is allowed (the pool frees it once the callback returns), and
 * nothing is outstanding on it any more. */
static void detach(completion_conn *c)
{
    CloseThreadpoolIo(c->model_data);
}

static const completion_hooks connection_hooks = {attach, starting, not_started, detach};

/* ---- Accepting --------------------------------------------------------- */

static void accepted(void *context, SOCKET client)
{
    threadpool_server *tp = context;
    completion_open(&tp->base.connections, client, NULL);
}

static void accept_starting(void *context, acceptex_op *op)
{
    threadpool_server *tp = context;
    (void)op;
    StartThreadpoolIo(tp->listener_io);
}

static void accept_not_started(void *context, acceptex_op *op)
{
    threadpool_server *tp = context;
    (void)op;
    CancelThreadpoolIo(tp->listener_io);
}

static const acceptex_hooks accept_hooks = {accepted, accept_starting, accept_not_started};

static void CALLBACK on_accept_io(PTP_CALLBACK_INSTANCE instance, PVOID context, PVOID overlapped, ULONG result,
                                  ULONG_PTR bytes, PTP_IO io)
{
    (void)instance;
    (void)context;
    (void)bytes;
    (void)io;
    acceptex_completed(overlapped, result == NO_ERROR);
}

/* ---- Life cycle -------------------------------------------------------- */

static int open_pool_io(acceptex_server *a)
{
    threadpool_server *tp = (threadpool_server *)a;
    if (completion_server_open(&tp->base, &connection_hooks, &accept_hooks, 0) != 0)
        return -1;
    tp->listener_io = CreateThreadpoolIo((HANDLE)a->s->listener, on_accept_io, tp, NULL);
    if (!tp->listener_io) {
        server_log_error(a->s, (int)GetLastError(), "cannot create the listener's thread-pool I/O");
        return -1;
    }
    return 0;
}

static void close_pool_io(acceptex_server *a)
{
    threadpool_server *tp = (threadpool_server *)a;
    if (tp->listener_io) {
        /* Every accept has completed; its callback may still be returning. */
        WaitForThreadpoolIoCallbacks(tp->listener_io, FALSE);
        CloseThreadpoolIo(tp->listener_io);
    }
    completion_server_close(a);
}

/* The pool's own threads serve: this one only waits for the stop. */
static int run(server *s)
{
    static const acceptex_model lifecycle = {open_pool_io, NULL, NULL, completion_server_drain, close_pool_io};
    static threadpool_server tp;
    tp.base.base.s = s;
    return acceptex_run(&tp.base.base, &lifecycle);
}

static const server_model model = {
    {.name = "threadpool",
     .summary = "thread-pool I/O (CreateThreadpoolIo) and a pool of AcceptEx; the system's pool owns the threads",
     .has_accept_pool = 1,
     .default_accept_pool = 32},
    run,
    NULL, /* run() waits on stop_event itself */
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

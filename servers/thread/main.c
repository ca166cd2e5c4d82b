/* Thread per client: the simplest Winsock server model.
 *
 * One thread accepts; every admitted connection gets a thread of its own that
 * does plain blocking I/O: receive up to --buffer bytes, send all of them back,
 * receive again. Because nothing is received before the previous chunk has
 * been sent in full, the unsent echo of a connection never exceeds --buffer,
 * and a client that stops reading simply blocks its own thread in send()
 * while TCP flow control pushes back on it.
 *
 * The price is a thread, with its stack and kernel objects, per connection.
 *
 * Stopping: a connection thread looks at the stop between two calls (under a
 * client that streams without pause its recv and send never block, so there
 * is nothing to interrupt); a thread blocked in recv() or send() has to be
 * interrupted from outside, so every live connection is kept in a locked
 * registry and the stop cancels the blocking calls on all of them. A
 * connection thread, once done, moves its context to a list of finished
 * connections, where the accept thread joins the thread and frees the
 * context; once a stop has come, it closes its connection and parks instead,
 * and the process exit ends it (see park()). */
#include "lifecycle.h"

#include <limits.h>
#include <stdlib.h>

/* Enough for the few hundred bytes a connection thread keeps on its stack;
 * the default reservation (1 MiB) for each of thousands of threads would
 * waste address space and page tables. */
enum { CONNECTION_STACK_RESERVE = 64 * 1024 };

/* The stop cancels blocking calls again at this interval, to catch a thread
 * that was between two calls when the previous round went by; wake() retries
 * the accept thread's cancel at the same interval. */
enum { INTERRUPT_RETRY_MS = 10 };
/* The accept thread is never busy for long between two looks at the stop;
 * wake() cancels its accept() until it has stopped, within this sanity bound. */
enum { ACCEPT_STOP_BOUND_MS = 10000 };

typedef struct connection {
    server *s;
    SOCKET socket;         /* closed by the connection's own thread only */
    HANDLE thread;         /* joined once finished, unless it parked at a stop */
    unsigned char *buffer; /* s->options.buffer_size bytes, just after this struct */
    int interrupted;       /* the stop cancelled a call of its thread (registry lock) */
    live_link link;        /* in the registry's live list, then its finished list */
} connection;

/* What the accept thread, the connection threads and wake() share. */
typedef struct registry {
    SRWLOCK lock;          /* static initialiser: usable by wake() at any time */
    live_link *live;       /* threads still serving their client */
    live_link *finished;   /* threads done with their client, not yet joined */
    int accepting_stopped; /* the accept loop has ended and closed the listener */
} registry;

static registry connections = {SRWLOCK_INIT, NULL, NULL, 0};

/* How a connection thread's echo loop ended. */
typedef enum echo_end {
    ECHO_PEER_FINISHED, /* the client shut down its side; everything was echoed */
    ECHO_STOPPED,       /* the stop came while everything received was echoed */
    ECHO_CUT,           /* the stop cancelled a send: the echo is cut off */
    ECHO_FAILED         /* the connection failed (counted in the stats) */
} echo_end;

/* Sends every byte of data, however many partial sends that takes.
 * Returns 0, or the Winsock error that ended the connection. */
static int send_all(server *s, SOCKET socket, const unsigned char *data, int length)
{
    while (length > 0) {
        int sent = send(socket, (const char *)data, length, 0);
        if (sent == SOCKET_ERROR)
            return WSAGetLastError();
        stats_sent(&s->stats, (size_t)sent);
        data += sent;
        length -= sent;
    }
    return 0;
}

/* A failed call during a stop is the stop's cancellation, not the
 * connection's fault; any other failure is counted (by the core's rule:
 * had_input says whether a byte ever arrived). */
static echo_end failed(server *s, int error, error_kind kind, echo_end at_stop, int had_input)
{
    if (server_stopping(s))
        return at_stop;
    server_count_io_error(s, error, kind, had_input);
    return ECHO_FAILED;
}

/* Echoes until the client finishes sending, the stop comes or the
 * connection fails. */
static echo_end echo_until_done(server *s, SOCKET socket, unsigned char *buffer)
{
    /* One recv never asks for more than fits in an int. */
    int chunk = s->options.buffer_size > INT_MAX ? INT_MAX : (int)s->options.buffer_size;
    int had_input = 0;
    while (!server_stopping(s)) {
        int received = recv(socket, (char *)buffer, chunk, 0);
        if (received == 0)
            return ECHO_PEER_FINISHED;
        if (received == SOCKET_ERROR)
            return failed(s, WSAGetLastError(), ERROR_RECV, ECHO_STOPPED, had_input);
        stats_received(&s->stats, (size_t)received);
        had_input = 1;
        /* Echo exactly the bytes that arrived, not the buffer size. */
        int error = send_all(s, socket, buffer, received);
        if (error)
            return failed(s, error, ERROR_SEND, ECHO_CUT, had_input);
    }
    return ECHO_STOPPED;
}

/* The one closing rule (lifecycle.h): a FIN when everything received was
 * echoed (the client finished, or the stop found nothing pending), a reset
 * when the stop cut a send off; a plain close after a failure. */
static closing closing_for(echo_end end)
{
    return closing_with_echo(end == ECHO_FAILED ? CLOSE_FAILED : CLOSE_GRACEFULLY, end == ECHO_CUT);
}

/* Takes a connection whose thread is done with its client out of the
 * registry, before its socket is closed: the stop must never cancel I/O on a
 * handle that is gone (or already reused). Returns 1 when its thread is to
 * park rather than end (a stop has come; see park()), and then leaves its
 * context off every list: it is never joined nor freed. */
static int leave_registry(connection *c)
{
    AcquireSRWLockExclusive(&connections.lock);
    live_list_unlink(&connections.live, &c->link);
    int parks = server_stopping(c->s);
    if (!parks)
        live_list_push(&connections.finished, &c->link, c);
    ReleaseSRWLockExclusive(&connections.lock);
    return parks;
}

/* What a connection thread does once it has closed its connection during a
 * stop: nothing, until the process exit ends it. Ending thousands of threads
 * one by one is what made this model slow to stop under Wine: each exit costs
 * two wineserver round trips and the loader lock, Wine 8 frees each exiting
 * thread's stack from the next one to exit, and each join is one more round
 * trip on the thread that joins (servers/MEASUREMENTS.md, "`thread` at
 * thousands of connections").
 * A parked thread holds no socket, lock or I/O, and the process exit ends
 * all of them at once, on Windows as under Wine. A non-alertable infinite
 * Sleep costs Wine no wineserver request. */
static void park(void)
{
    for (;;)
        Sleep(INFINITE);
}

static unsigned __stdcall serve_connection(void *arg)
{
    connection *c = arg;
    server *s = c->s;
    echo_end end = echo_until_done(s, c->socket, c->buffer);
    int parks = leave_registry(c);
    server_close(c->socket, closing_for(end));
    server_connection_closed(s);
    if (parks)
        park();
    return 0;
}

/* Joins the threads of finished connections and frees their contexts. Runs
 * on the accept thread only, the one that sets c->thread. */
static void reap_finished(void)
{
    AcquireSRWLockExclusive(&connections.lock);
    live_link *done = connections.finished;
    connections.finished = NULL;
    ReleaseSRWLockExclusive(&connections.lock);
    while (done) {
        connection *c = done->item;
        done = done->next;
        /* The thread has left the registry; it is at most closing its socket. */
        WaitForSingleObject(c->thread, INFINITE);
        CloseHandle(c->thread);
        free(c);
    }
}

/* Gives an accepted socket a registered context and a thread, or refuses it. */
static void start_connection(server *s, SOCKET client)
{
    if (!server_admit(s, client))
        return;

    /* The context and its buffer in one allocation, freed in one place. */
    connection *c = malloc(sizeof *c + s->options.buffer_size);
    if (!c) {
        stats_error(&s->stats, ERROR_RESOURCE);
        server_drop(s, client);
        return;
    }
    c->s = s;
    c->socket = client;
    c->thread = NULL;
    c->buffer = (unsigned char *)(c + 1);
    c->interrupted = 0;

    /* Registered before the thread starts, so that a stop always finds it. */
    AcquireSRWLockExclusive(&connections.lock);
    live_list_push(&connections.live, &c->link, c);
    ReleaseSRWLockExclusive(&connections.lock);

    c->thread = server_start_thread(s, serve_connection, c, CONNECTION_STACK_RESERVE);
    if (c->thread)
        return;
    /* Out of threads (already counted as a resource error): refuse this
     * client and keep serving the others. Said once: at the limit every new
     * client fails the same way, and the stats line has the count. Only the
     * accept thread gets here, so the flag needs no lock. */
    static int limit_reported;
    if (!limit_reported) {
        limit_reported = 1;
        server_log_error(s, (int)GetLastError(),
                         "cannot start a thread for a new connection; refusing such clients (counted as resource "
                         "errors) and serving the others");
    }
    AcquireSRWLockExclusive(&connections.lock);
    live_list_unlink(&connections.live, &c->link);
    ReleaseSRWLockExclusive(&connections.lock);
    server_drop(s, client);
    free(c);
}

/* Accepts with a plain blocking accept() until a stop is requested. The
 * accepted sockets inherit the listener's blocking mode, just what their
 * threads want. */
static void accept_until_stopped(server *s)
{
    int last_error = 0; /* said once per run of the same failure, not every 10 ms */
    while (!server_stopping(s)) {
        SOCKET client = accept(s->listener, NULL, NULL);
        if (client != INVALID_SOCKET) {
            last_error = 0;
            start_connection(s, client);
            reap_finished();
            continue;
        }
        int error = WSAGetLastError();
        if (server_stopping(s))
            break; /* cancelled by wake() */
        if (server_count_accept_failure(s, error))
            continue; /* the client gave up while waiting in the backlog */
        if (error != last_error)
            server_log_error(s, error, "accept failed (counted in the stats while it lasts)");
        last_error = error;
        /* Out of sockets or memory (under Wine: the wineserver out of file
         * descriptors, which it needs about four of per connection and
         * thread): back off instead of spinning. */
        Sleep(10);
    }
    /* The listener goes now, under the lock, so that wake() never cancels
     * I/O on a closed handle; clients still in the backlog get a reset
     * rather than a connection nobody would serve. */
    AcquireSRWLockExclusive(&connections.lock);
    closesocket(s->listener);
    s->listener = INVALID_SOCKET;
    connections.accepting_stopped = 1;
    ReleaseSRWLockExclusive(&connections.lock);
}

/* Interrupts the blocking accept(). CancelIoEx interrupts it on Windows and
 * Wine alike, but only if accept() has already started: the accept thread
 * may be between its check of stop_event and the call, so the cancel is
 * repeated until the loop is seen to have ended. (WSAEventSelect and a wait
 * on both events would avoid the retry, but Wine 8 now and then fails to
 * signal FD_ACCEPT again under load, stalling every new client.) */
static void wake(server *s)
{
    for (DWORD waited = 0; waited < ACCEPT_STOP_BOUND_MS; waited += INTERRUPT_RETRY_MS) {
        AcquireSRWLockExclusive(&connections.lock);
        int stopped = connections.accepting_stopped;
        if (!stopped)
            CancelIoEx((HANDLE)s->listener, NULL);
        ReleaseSRWLockExclusive(&connections.lock);
        if (stopped)
            return;
        Sleep(INTERRUPT_RETRY_MS);
    }
}

/* One round of interrupting the connection threads still in the registry.
 * Closing a socket under a thread is not enough: Wine leaves a blocked send()
 * hanging on a closed socket. CancelIoEx interrupts both recv and send, on
 * Windows and Wine alike, and leaves the socket itself (and its handle value)
 * to the thread that owns it.
 *
 * A thread whose call was cancelled wakes and sees the stop. A cancel that
 * found nothing (ERROR_NOT_FOUND) met a thread between two calls, which may
 * then block in the next one, or a call Wine was completing at that moment,
 * which may then go back to waiting: those are cancelled again next round.
 * Only those: with thousands of threads, cancelling all of them every round
 * would hold the registry lock that every finishing thread needs.
 * Returns how many calls it interrupted. */
static int interrupt_live_connections(void)
{
    int interrupted = 0;
    AcquireSRWLockExclusive(&connections.lock);
    for (live_link *l = connections.live; l; l = l->next) {
        connection *c = l->item;
        if (!c->interrupted) {
            c->interrupted = CancelIoEx((HANDLE)c->socket, NULL) != 0;
            interrupted += c->interrupted;
        }
    }
    ReleaseSRWLockExclusive(&connections.lock);
    return interrupted;
}

/* The stats count the connections still open: a thread counts its own out
 * once it has closed its socket. */
static int still_open(void *context, int *open, int *accepts)
{
    server *s = context;
    *open = (int)counter_get(&s->stats.connections_active);
    *accepts = 0; /* the accept loop has ended before the drain */
    return *open;
}

static int wait_and_interrupt(void *context)
{
    (void)context;
    Sleep(INTERRUPT_RETRY_MS);
    return interrupt_live_connections();
}

/* Interrupts the connection threads until every connection is closed (one
 * round, then again each INTERRUPT_RETRY_MS), then joins the threads that
 * had finished before the stop: those that finish after it park. Returns -1
 * when connections stop closing before all have (their threads and
 * contexts are then left alone: they may still use them). */
static int close_every_connection(server *s)
{
    static const drain_hooks hooks = {still_open, wait_and_interrupt};
    interrupt_live_connections();
    if (lifecycle_drain(s, &hooks, s) != 0)
        return -1;
    reap_finished();
    return 0;
}

static int run(server *s)
{
    accept_until_stopped(s);
    return close_every_connection(s) == 0 ? 0 : 1;
}

static const server_model model = {
    {.name = "thread", .summary = "one thread per client, blocking recv and send"},
    run,
    wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

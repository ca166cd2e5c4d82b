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
 * Stopping: a thread blocked in recv() or send() has to be interrupted from
 * outside, so every live connection is kept in a locked registry and the stop
 * cancels the blocking calls on all of them. A connection thread, once done,
 * moves its context to a list of finished connections, where the accept
 * thread joins the thread and frees the context. */
#include "server.h"

#include <limits.h>
#include <stdlib.h>

/* Enough for the few hundred bytes a connection thread keeps on its stack;
 * the default reservation (1 MiB) for each of thousands of threads would
 * waste address space and page tables. */
enum { CONNECTION_STACK_RESERVE = 64 * 1024 };

/* The stop cancels blocking calls again at this interval, to catch a thread
 * that was between two calls when the previous round went by... */
enum { CANCEL_RETRY_MS = 50 };
/* ...and gives up on the threads after this long. */
enum { STOP_WAIT_MS = 10000 };

typedef struct connection {
    server *s;
    SOCKET socket;           /* closed by the connection's own thread only */
    HANDLE thread;           /* joined by the accept thread once finished */
    unsigned char *buffer;   /* s->options.buffer_size bytes, just after this struct */
    struct connection *prev, *next;
} connection;

/* What the accept thread, the connection threads and wake() share. */
typedef struct registry {
    SRWLOCK lock;            /* static initialiser: usable by wake() at any time */
    connection *live;        /* threads still serving their client */
    connection *finished;    /* threads done with their client, not yet joined */
    int accepting_stopped;   /* the accept loop has ended and closed the listener */
} registry;

static registry connections = {SRWLOCK_INIT, NULL, NULL, 0};

static void list_push(connection **list, connection *c)
{
    c->prev = NULL;
    c->next = *list;
    if (*list)
        (*list)->prev = c;
    *list = c;
}

static void list_remove(connection **list, connection *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *list = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

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

/* Echoes until the client finishes sending (returns 0) or the connection
 * fails (returns the Winsock error, and in *failed_in which call failed).
 * *had_input says whether a byte ever arrived. */
static int echo_until_done(server *s, SOCKET socket, unsigned char *buffer, error_kind *failed_in, int *had_input)
{
    /* One recv never asks for more than fits in an int. */
    int chunk = s->options.buffer_size > INT_MAX ? INT_MAX : (int)s->options.buffer_size;
    for (;;) {
        int received = recv(socket, (char *)buffer, chunk, 0);
        if (received == 0)
            return 0;
        if (received == SOCKET_ERROR) {
            *failed_in = ERROR_RECV;
            return WSAGetLastError();
        }
        stats_received(&s->stats, (size_t)received);
        *had_input = 1;
        /* Echo exactly the bytes that arrived, not the buffer size. */
        int error = send_all(s, socket, buffer, received);
        if (error) {
            *failed_in = ERROR_SEND;
            return error;
        }
    }
}

static unsigned __stdcall serve_connection(void *arg)
{
    connection *c = arg;
    server *s = c->s;
    error_kind failed_in = ERROR_RECV;
    int had_input = 0;
    int error = echo_until_done(s, c->socket, c->buffer, &failed_in, &had_input);

    /* Out of the registry before the socket is closed: the stop must never
     * cancel I/O on a handle that is gone (or already reused). */
    AcquireSRWLockExclusive(&connections.lock);
    list_remove(&connections.live, c);
    list_push(&connections.finished, c);
    ReleaseSRWLockExclusive(&connections.lock);

    if (error == 0) {
        /* The client shut down its side and everything it sent has been
         * echoed (send_all returns before the next recv): goodbye with a
         * FIN, not a reset. */
        server_close_gracefully(c->socket);
    } else {
        /* A call cancelled by the stop is not the connection's fault. */
        if (!server_stopping(s))
            server_count_io_error(s, error, failed_in, had_input);
        closesocket(c->socket);
    }
    server_connection_closed(s);
    return 0;
}

/* Joins the threads of finished connections and frees their contexts. Runs
 * on the accept thread only, the one that sets c->thread. */
static void reap_finished(void)
{
    AcquireSRWLockExclusive(&connections.lock);
    connection *done = connections.finished;
    connections.finished = NULL;
    ReleaseSRWLockExclusive(&connections.lock);
    while (done) {
        connection *next = done->next;
        /* The thread has left the registry; it is at most closing its socket. */
        WaitForSingleObject(done->thread, INFINITE);
        CloseHandle(done->thread);
        free(done);
        done = next;
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
        closesocket(client);
        server_connection_closed(s);
        return;
    }
    c->s = s;
    c->socket = client;
    c->thread = NULL;
    c->buffer = (unsigned char *)(c + 1);

    /* Registered before the thread starts, so that a stop always finds it. */
    AcquireSRWLockExclusive(&connections.lock);
    list_push(&connections.live, c);
    ReleaseSRWLockExclusive(&connections.lock);

    c->thread = server_start_thread(s, serve_connection, c, CONNECTION_STACK_RESERVE);
    if (c->thread)
        return;
    /* Out of threads (already counted as a resource error): refuse this
     * client and keep serving the others. */
    server_log_error(s, (int)GetLastError(), "cannot start a thread for a new connection");
    AcquireSRWLockExclusive(&connections.lock);
    list_remove(&connections.live, c);
    ReleaseSRWLockExclusive(&connections.lock);
    closesocket(client);
    server_connection_closed(s);
    free(c);
}

/* Accepts with a plain blocking accept() until a stop is requested. The
 * accepted sockets inherit the listener's blocking mode, just what their
 * threads want. */
static void accept_until_stopped(server *s)
{
    while (!server_stopping(s)) {
        SOCKET client = accept(s->listener, NULL, NULL);
        if (client != INVALID_SOCKET) {
            start_connection(s, client);
            reap_finished();
            continue;
        }
        int error = WSAGetLastError();
        if (server_stopping(s))
            break; /* cancelled by wake() */
        if (server_count_accept_failure(s, error))
            continue; /* the client gave up while waiting in the backlog */
        server_log_error(s, error, "accept failed");
        /* Out of sockets or memory: back off instead of spinning. */
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
    for (DWORD waited = 0; waited < STOP_WAIT_MS; waited += CANCEL_RETRY_MS) {
        AcquireSRWLockExclusive(&connections.lock);
        int stopped = connections.accepting_stopped;
        if (!stopped)
            CancelIoEx((HANDLE)s->listener, NULL);
        ReleaseSRWLockExclusive(&connections.lock);
        if (stopped)
            return;
        Sleep(CANCEL_RETRY_MS);
    }
}

/* Interrupts every connection thread and waits until all have left the
 * registry. Closing a socket under a thread is not enough: Wine leaves a
 * blocked send() hanging on a closed socket. CancelIoEx interrupts both recv
 * and send, on Windows and Wine alike, and leaves the socket itself (and its
 * handle value) to the thread that owns it. Repeated, like in wake(), for a
 * thread that was between two calls. */
static int cancel_live_connections(void)
{
    for (DWORD waited = 0; waited < STOP_WAIT_MS; waited += CANCEL_RETRY_MS) {
        AcquireSRWLockExclusive(&connections.lock);
        int all_finished = connections.live == NULL;
        for (connection *c = connections.live; c; c = c->next)
            CancelIoEx((HANDLE)c->socket, NULL);
        ReleaseSRWLockExclusive(&connections.lock);
        if (all_finished)
            return 0;
        Sleep(CANCEL_RETRY_MS);
    }
    return -1;
}

static int run(server *s)
{
    accept_until_stopped(s);
    if (cancel_live_connections() != 0) {
        /* Their contexts stay: those threads may still use them. */
        server_log(s, "some connection threads did not finish; leaving them behind");
        return 1;
    }
    reap_finished();
    return 0;
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

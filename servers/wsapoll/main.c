/* wsapoll: one thread, one WSAPoll() over every socket.
 *
 * WSAPoll is Windows' poll(): the server keeps a single array of WSAPOLLFD
 * entries and a parallel array of connection contexts, asks the system which
 * sockets are ready, and does one step of non-blocking work on each of them.
 * Entry 0 is a wake-up socket (a stop request makes it readable), entry 1 the
 * listener, and every further entry one connection.
 *
 * Readiness is level-triggered: an entry reports again on every call for as
 * long as its condition holds. So each connection only asks for what it can
 * act on now - POLLRDNORM while its echo buffer has room, POLLWRNORM while it
 * has echo to send - or the loop would spin on sockets it cannot serve.
 *
 * POLLHUP cannot be masked that way: it is reported on every call once the
 * client has half-closed (under Wine, once its input has been read). A client
 * that half-closes and then does not read its echo keeps waking the loop
 * until it does: a cost of the model, not worked around here. */
#include "server.h"

#include <stdlib.h>

enum { WAKEUP_ENTRY, LISTENER_ENTRY, FIRST_CONNECTION_ENTRY };
enum { INITIAL_ENTRIES = 64, ACCEPTS_PER_TURN = 64 };

typedef struct connection {
    SOCKET socket;
    echo_buffer echo;  /* received and not yet echoed */
    int input_ended;   /* recv returned 0: the client will send nothing more */
} connection;

typedef struct poll_state {
    server *s;
    wakeup wakeup;
    WSAPOLLFD *entries;       /* what WSAPoll watches */
    connection **connections; /* connections[i] belongs to entries[i]; NULL for the first two */
    ULONG count;
    ULONG capacity;
} poll_state;

/* Static, not on run()'s stack: wake() runs on another thread and may still
 * be reaching for the wake-up socket while run() returns. */
static poll_state state;

/* Windows' WSAPoll rejects any other bits in events (POLLIN and POLLOUT are
 * combinations that include POLLRDBAND / POLLWRBAND). POLLHUP and POLLERR
 * need not be asked for: they are always reported. */
static SHORT wanted_events(const connection *c)
{
    int events = 0;
    if (!c->input_ended && !echo_buffer_is_full(&c->echo))
        events |= POLLRDNORM;
    if (!echo_buffer_is_empty(&c->echo))
        events |= POLLWRNORM;
    return (SHORT)events;
}

static int add_entry(poll_state *p, SOCKET socket, SHORT events, connection *c)
{
    if (p->count == p->capacity) {
        ULONG capacity = p->capacity ? p->capacity * 2 : INITIAL_ENTRIES;
        WSAPOLLFD *entries = realloc(p->entries, capacity * sizeof *entries);
        if (!entries)
            return -1;
        p->entries = entries;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        connection **connections = realloc(p->connections, capacity * sizeof *connections);
        if (!connections)
            return -1;
        p->connections = connections;
        p->capacity = capacity;
    }
    p->entries[p->count].fd = socket;
    p->entries[p->count].events = events;
    p->entries[p->count].revents = 0;
    p->connections[p->count] = c;
    p->count++;
    return 0;
}

/* The last entry moves into the hole: removal stays O(1) and the array dense. */
static void remove_entry(poll_state *p, ULONG i)
{
    p->count--;
    p->entries[i] = p->entries[p->count];
    p->connections[i] = p->connections[p->count];
}

static void close_connection(poll_state *p, ULONG i, closing how)
{
    connection *c = p->connections[i];
    server_close(c->socket, how);
    echo_buffer_free(&c->echo);
    free(c);
    remove_entry(p, i);
    server_connection_closed(p->s);
}

/* One recv into the free space of the ring. Returns -1 when the connection failed. */
static int receive(poll_state *p, connection *c)
{
    io_result result = server_receive(p->s, c->socket, &c->echo);
    if (result == IO_PEER_FINISHED)
        c->input_ended = 1;
    return result == IO_FAILED ? -1 : 0;
}

/* Sends pending echo until it is all gone or the socket's send buffer is
 * full (the rest waits for POLLWRNORM). Returns -1 when the connection failed. */
static int flush(poll_state *p, connection *c)
{
    return server_send_pending(p->s, c->socket, &c->echo) == IO_FAILED ? -1 : 0;
}

static int pending_socket_error(SOCKET socket)
{
    int error = 0, length = sizeof error;
    getsockopt(socket, SOL_SOCKET, SO_ERROR, (char *)&error, &length);
    return error;
}

static void serve(poll_state *p, ULONG i)
{
    connection *c = p->connections[i];
    SHORT revents = p->entries[i].revents;
    if (revents & POLLNVAL) {
        stats_error(&p->s->stats, ERROR_RECV);
        close_connection(p, i, CLOSE_FAILED);
        return;
    }
    if (revents & POLLERR) {
        int error = pending_socket_error(c->socket);
        if (error != 0) {
            server_count_io_error(p->s, error, ERROR_RECV);
            close_connection(p, i, CLOSE_FAILED);
            return;
        }
        /* No error recorded (Wine after a reset): the recv or send below
         * fails with the real one. */
    }
    /* POLLHUP says the peer finished or reset, but bytes it sent before may
     * still wait to be read: recv tells which, and returns 0 only once they
     * have all been taken. */
    if ((revents & (POLLRDNORM | POLLHUP | POLLERR)) && !c->input_ended && !echo_buffer_is_full(&c->echo) &&
        receive(p, c) != 0) {
        close_connection(p, i, CLOSE_FAILED);
        return;
    }
    /* Sent at once rather than on the next POLLWRNORM: usually the socket
     * can take it, which saves a trip through WSAPoll. */
    if (flush(p, c) != 0) {
        close_connection(p, i, CLOSE_FAILED);
        return;
    }
    if (c->input_ended && echo_buffer_is_empty(&c->echo)) {
        close_connection(p, i, CLOSE_GRACEFULLY);
        return;
    }
    p->entries[i].events = wanted_events(c);
}

static void open_connection(poll_state *p, SOCKET client)
{
    u_long nonblocking = 1;
    connection *c = malloc(sizeof *c);
    if (c) {
        c->socket = client;
        c->input_ended = 0;
        if (echo_buffer_init(&c->echo, p->s->options.buffer_size) == 0 &&
            ioctlsocket(client, FIONBIO, &nonblocking) == 0 && add_entry(p, client, POLLRDNORM, c) == 0)
            return;
        echo_buffer_free(&c->echo);
        free(c);
    }
    closesocket(client);
    stats_error(&p->s->stats, ERROR_RESOURCE);
    server_connection_closed(p->s);
}

/* The listener is non-blocking, so accept stops when the backlog is empty;
 * the bound keeps a flood of connects from starving open connections. */
static void accept_clients(poll_state *p)
{
    for (int i = 0; i < ACCEPTS_PER_TURN; ++i) {
        SOCKET client = accept(p->s->listener, NULL, NULL);
        if (client == INVALID_SOCKET) {
            int error = WSAGetLastError();
            if (error != WSAEWOULDBLOCK)
                server_count_io_error(p->s, error, ERROR_ACCEPT);
            return;
        }
        if (server_admit(p->s, client))
            open_connection(p, client);
    }
}

static void close_all(poll_state *p)
{
    while (p->count > FIRST_CONNECTION_ENTRY) {
        ULONG last = p->count - 1;
        const connection *c = p->connections[last];
        close_connection(p, last, echo_buffer_is_empty(&c->echo) ? CLOSE_GRACEFULLY : CLOSE_ABORTIVELY);
    }
}

static int serve_until_stopped(poll_state *p)
{
    while (!server_stopping(p->s)) {
        if (WSAPoll(p->entries, p->count, -1) == SOCKET_ERROR) {
            server_log_error(p->s, WSAGetLastError(), "WSAPoll failed");
            return 1;
        }
        if (p->entries[WAKEUP_ENTRY].revents)
            wakeup_drain(&p->wakeup);
        /* Backwards, so that the last entry, moved into the hole a closed
         * connection leaves, has already been served in this round. */
        for (ULONG i = p->count; i-- > FIRST_CONNECTION_ENTRY;) {
            if (p->entries[i].revents)
                serve(p, i);
        }
        /* After the connections: new entries get appended with no revents. */
        if (p->entries[LISTENER_ENTRY].revents && !server_stopping(p->s))
            accept_clients(p);
    }
    return 0;
}

static int run(server *s)
{
    poll_state *p = &state;
    u_long nonblocking = 1;
    int rc = 1;
    p->s = s;
    if (wakeup_open(s, &p->wakeup) != 0)
        return 1;
    /* Non-blocking: a client that resets between WSAPoll and accept must
     * not leave the whole server blocked in accept. */
    if (ioctlsocket(s->listener, FIONBIO, &nonblocking) != 0) {
        server_log_error(s, WSAGetLastError(), "cannot make the listener non-blocking");
    } else if (add_entry(p, p->wakeup.socket, POLLRDNORM, NULL) != 0 ||
               add_entry(p, s->listener, POLLRDNORM, NULL) != 0) {
        server_log(s, "out of memory for the poll array");
    } else {
        /* Published only now that the wake-up socket exists; a stop requested
         * earlier is seen by the server_stopping() check in the loop. */
        InterlockedExchangePointer(&s->model_state, p);
        rc = serve_until_stopped(p);
        InterlockedExchangePointer(&s->model_state, NULL);
        close_all(p);
    }
    free(p->entries);
    free(p->connections);
    p->entries = NULL;
    p->connections = NULL;
    p->count = p->capacity = 0;
    wakeup_close(&p->wakeup);
    return rc;
}

static void wake(server *s)
{
    poll_state *p = InterlockedCompareExchangePointer(&s->model_state, NULL, NULL);
    if (p)
        wakeup_signal(&p->wakeup);
}

static const server_model model = {
    {.name = "wsapoll", .summary = "one thread, WSAPoll over one pollfd array"},
    run,
    wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

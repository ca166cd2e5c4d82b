/* select(): non-blocking sockets served by a loop around select().
 *
 * A Winsock fd_set holds at most FD_SETSIZE sockets, so connections are
 * served in groups: a group is a thread with its own connections, its own
 * select() loop and its own wake-up socket. The first group runs on run()'s
 * thread and also holds the listener; it accepts every connection and hands
 * each one to the first group with room, starting a new group when all are
 * full. A hand-off goes through the group's locked inbox, and a wake-up
 * datagram makes the receiving group's select() return to take it.
 *
 * Back-pressure comes from the interest sets: a connection is watched for
 * reading only while its echo buffer has room and for writing only while
 * output is pending, so a client that never reads fills its buffer once and
 * is then simply not read any more. */

/* Winsock sizes fd_set by FD_SETSIZE (64 by default), so it must be set
 * before the first include of winsock2.h. */
#ifndef FD_SETSIZE
#define FD_SETSIZE 1024
#endif
#include "server.h"

#include <stdlib.h>

/* Every group's read set also holds its wake-up socket and, in the first
 * group, the listener: what is left of an fd_set is for connections. */
enum { GROUP_CAPACITY = FD_SETSIZE - 2 };

typedef struct connection {
    SOCKET socket;
    echo_buffer echo;
    int peer_done;               /* the client has shut down its sending side */
    struct connection *next_in_inbox;
} connection;

typedef struct group {
    server *s;
    wakeup wake;
    SOCKET listener;             /* INVALID_SOCKET except in the first group */
    HANDLE thread;               /* NULL for the first group: it runs on run()'s thread */
    connection *connections[GROUP_CAPACITY];
    int count;                   /* entries used in connections[] */
    /* Under the model lock: */
    int assigned;                /* connections served plus those in the inbox */
    connection *inbox;           /* handed over, not yet taken */
    struct group *next;
    /* The sets are big (8 KiB each on 64-bit): here rather than on a stack. */
    fd_set readable, writable;
} group;

typedef struct select_model {
    SRWLOCK lock;                /* static initialiser: wake() may come before run() */
    group *groups;               /* the first group, then the others in start order */
    int failed;                  /* a group's select() failed: run() returns 1 */
} select_model;

static select_model state = {SRWLOCK_INIT, NULL, 0};

static void close_connection(server *s, connection *c, closing how)
{
    server_close(c->socket, how);
    echo_buffer_free(&c->echo);
    free(c);
    server_connection_closed(s);
}

/* Sends as much pending echo as the socket takes now. Returns 0, or -1 after
 * the connection failed. */
static int flush(server *s, connection *c)
{
    return server_send_pending(s, c->socket, &c->echo) == IO_FAILED ? -1 : 0;
}

/* One recv into the echo buffer; one per readiness keeps a busy client from
 * starving the rest of its group. Returns 0, or -1 after the connection failed. */
static int receive(server *s, connection *c)
{
    io_result result = server_receive(s, c->socket, &c->echo);
    if (result == IO_PEER_FINISHED)
        c->peer_done = 1;
    return result == IO_FAILED ? -1 : 0;
}

/* Does what select() said a connection is ready for. Returns 1 when the
 * connection is finished and has been closed, 0 when it lives on. */
static int serve(server *s, connection *c, int can_read, int can_write)
{
    if (can_read && receive(s, c) != 0) {
        close_connection(s, c, CLOSE_FAILED);
        return 1;
    }
    /* Sending right after a receive saves a trip through select() in the
     * common case where the socket has room. */
    if ((can_write || can_read) && flush(s, c) != 0) {
        close_connection(s, c, CLOSE_FAILED);
        return 1;
    }
    if (c->peer_done && echo_buffer_is_empty(&c->echo)) {
        /* Half-close: everything the client sent is echoed; FIN, not RST. */
        close_connection(s, c, CLOSE_GRACEFULLY);
        return 1;
    }
    return 0;
}

static void forget(group *g, int index)
{
    /* Order does not matter: the last entry fills the hole. */
    g->connections[index] = g->connections[--g->count];
    AcquireSRWLockExclusive(&state.lock);
    g->assigned--;
    ReleaseSRWLockExclusive(&state.lock);
}

static void take_inbox(group *g)
{
    AcquireSRWLockExclusive(&state.lock);
    connection *c = g->inbox;
    g->inbox = NULL;
    ReleaseSRWLockExclusive(&state.lock);
    for (; c; c = c->next_in_inbox)
        g->connections[g->count++] = c; /* room was reserved by `assigned` */
}

static unsigned __stdcall serve_group(void *arg);

/* A new empty group with a thread of its own, linked after `last`; or, with
 * no `last`, the first group, served on run()'s thread. NULL when it cannot
 * be had. Runs under the model lock, so that wake() either signals the new
 * group or has already set the stop_event that the group checks first. */
static group *start_group(server *s, group *last, SOCKET listener)
{
    group *g = calloc(1, sizeof *g);
    if (!g) {
        stats_error(&s->stats, ERROR_RESOURCE);
        return NULL;
    }
    g->s = s;
    g->listener = listener;
    if (wakeup_open(s, &g->wake) != 0) {
        stats_error(&s->stats, ERROR_RESOURCE);
        free(g);
        return NULL;
    }
    if (last) {
        g->thread = server_start_thread(s, serve_group, g, 0);
        if (!g->thread) {
            wakeup_close(&g->wake);
            free(g);
            return NULL;
        }
        last->next = g;
    }
    return g;
}

/* Gives an admitted connection to the first group with room. Returns 0, or
 * -1 when no group can take it. Runs on the first group's thread only. */
static int hand_over(server *s, connection *c)
{
    group *g, *last = NULL;
    AcquireSRWLockExclusive(&state.lock);
    for (g = state.groups; g && g->assigned >= GROUP_CAPACITY; g = g->next)
        last = g;
    if (!g)
        g = start_group(s, last, INVALID_SOCKET);
    if (g) {
        g->assigned++;
        c->next_in_inbox = g->inbox;
        g->inbox = c;
        /* The first group is the caller: it empties its inbox on its own. */
        if (g != state.groups)
            wakeup_signal(&g->wake);
    }
    ReleaseSRWLockExclusive(&state.lock);
    return g ? 0 : -1;
}

static void adopt(server *s, SOCKET client)
{
    u_long nonblocking = 1;
    if (!server_admit(s, client))
        return;
    connection *c = malloc(sizeof *c);
    if (!c || echo_buffer_init(&c->echo, s->options.buffer_size) != 0) {
        stats_error(&s->stats, ERROR_RESOURCE);
        free(c);
        closesocket(client);
        server_connection_closed(s);
        return;
    }
    c->socket = client;
    c->peer_done = 0;
    ioctlsocket(client, FIONBIO, &nonblocking);
    if (hand_over(s, c) != 0) {
        server_log(s, "no group can take a new connection; refusing it");
        close_connection(s, c, CLOSE_FAILED);
    }
}

/* Takes every connection waiting in the backlog, until WSAEWOULDBLOCK. */
static void accept_pending(server *s, SOCKET listener)
{
    for (;;) {
        SOCKET client = accept(listener, NULL, NULL);
        if (client != INVALID_SOCKET) {
            adopt(s, client);
            continue;
        }
        int error = WSAGetLastError();
        if (error == WSAEWOULDBLOCK)
            return;
        if (error == WSAECONNRESET)
            continue; /* the client gave up while waiting in the backlog */
        server_log_error(s, error, "accept failed");
        stats_error(&s->stats, ERROR_ACCEPT);
        /* Out of sockets or memory: back off instead of spinning on a
         * listener that stays readable. */
        Sleep(10);
        return;
    }
}

/* The interest sets: read only with room in the buffer (and a client still
 * sending), write only with output pending. The wake-up socket and the
 * listener are always in, so the read set is never empty. */
static void build_sets(group *g)
{
    FD_ZERO(&g->readable);
    FD_ZERO(&g->writable);
    FD_SET(g->wake.socket, &g->readable);
    if (g->listener != INVALID_SOCKET)
        FD_SET(g->listener, &g->readable);
    for (int i = 0; i < g->count; i++) {
        connection *c = g->connections[i];
        if (!c->peer_done && !echo_buffer_is_full(&c->echo))
            FD_SET(c->socket, &g->readable);
        if (!echo_buffer_is_empty(&c->echo))
            FD_SET(c->socket, &g->writable);
    }
}

/* Serves the group's connections until a stop is requested. */
static unsigned __stdcall serve_group(void *arg)
{
    group *g = arg;
    server *s = g->s;
    while (!server_stopping(s)) {
        build_sets(g);
        /* No timeout: a stop or a hand-off arrives as a wake-up datagram. */
        if (select(0, &g->readable, &g->writable, NULL, NULL) == SOCKET_ERROR) {
            server_log_error(s, WSAGetLastError(), "select failed");
            AcquireSRWLockExclusive(&state.lock);
            state.failed = 1;
            ReleaseSRWLockExclusive(&state.lock);
            server_request_stop(s);
            break;
        }
        if (FD_ISSET(g->wake.socket, &g->readable))
            wakeup_drain(&g->wake);
        if (g->listener != INVALID_SOCKET && FD_ISSET(g->listener, &g->readable))
            accept_pending(s, g->listener);
        /* Backwards, so that forget() only moves an entry already served. */
        for (int i = g->count - 1; i >= 0; i--) {
            connection *c = g->connections[i];
            if (serve(s, c, FD_ISSET(c->socket, &g->readable), FD_ISSET(c->socket, &g->writable)))
                forget(g, i);
        }
        take_inbox(g);
    }
    return 0;
}

static void wake(server *s)
{
    (void)s;
    AcquireSRWLockExclusive(&state.lock);
    for (group *g = state.groups; g; g = g->next)
        wakeup_signal(&g->wake);
    ReleaseSRWLockExclusive(&state.lock);
}

/* Once every group has stopped, nothing moves any more: the connections,
 * including any still waiting in an inbox, are closed here without racing
 * a hand-off. Idle ones get a FIN; busy ones are cut short with an RST. */
static void close_group(server *s, group *g)
{
    take_inbox(g);
    for (int i = 0; i < g->count; i++)
        close_connection(s, g->connections[i],
                         echo_buffer_is_empty(&g->connections[i]->echo) ? CLOSE_GRACEFULLY : CLOSE_ABORTIVELY);
    wakeup_close(&g->wake);
    free(g);
}

static int run(server *s)
{
    u_long nonblocking = 1;
    /* Non-blocking, so that a client that resets while in the backlog cannot
     * leave accept() blocked after select() said the listener was ready. */
    ioctlsocket(s->listener, FIONBIO, &nonblocking);
    AcquireSRWLockExclusive(&state.lock);
    state.groups = start_group(s, NULL, s->listener);
    ReleaseSRWLockExclusive(&state.lock);
    if (!state.groups) {
        server_log(s, "cannot start serving");
        return 1;
    }
    serve_group(state.groups);

    /* Only the first group adds groups, so the list is final now. */
    for (group *g = state.groups->next; g; g = g->next) {
        WaitForSingleObject(g->thread, INFINITE);
        CloseHandle(g->thread);
    }
    /* The thread that requested the stop may still be inside wake(): it
     * must find an empty list, not freed groups. */
    AcquireSRWLockExclusive(&state.lock);
    group *stopped = state.groups;
    state.groups = NULL;
    ReleaseSRWLockExclusive(&state.lock);
    while (stopped) {
        group *next = stopped->next;
        close_group(s, stopped);
        stopped = next;
    }
    return state.failed;
}

static const server_model model = {
    {.name = "select", .summary = "non-blocking sockets, select() over groups of FD_SETSIZE"},
    run,
    wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

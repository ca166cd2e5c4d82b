/* eventselect: WSAEventSelect + WSAWaitForMultipleEvents, groups of 63.
 *
 * A backend of the readiness engine (servers/core/readiness.h). Each socket
 * gets an event object that Winsock signals when FD_ACCEPT, FD_READ,
 * FD_WRITE or FD_CLOSE occurs; WSAEnumNetworkEvents then says which, and
 * resets the event. One wait takes at most WSA_MAXIMUM_WAIT_EVENTS (64)
 * handles, so each loop - a thread with its own wait - watches a group: its
 * wake event (a stop or a hand-over sets it) and up to 63 sockets, the
 * listener among them in the first group. More connections, more groups.
 *
 * Notifications are re-enabled like WSAAsyncSelect's (Wine implements
 * both on the same per-socket "reported events" in the wineserver: FD_READ
 * again after any recv, FD_WRITE only after a send that failed with
 * WSAEWOULDBLOCK, FD_ACCEPT after an accept; FD_CLOSE once), which is how
 * the engine's step reads and writes.
 *
 * The wait reports the lowest signalled index of the array it is given, so
 * a busy socket early in the array could starve the later ones. Each wait
 * therefore starts just after the entry served last: the handles are kept
 * twice in a row, and the wait is given the window of `count` handles that
 * begins there - fair rotation without an extra call per wait. */
#include "readiness.h"

#include <stdlib.h>

enum { WAKE_ENTRY = 0, MAX_ENTRIES = WSA_MAXIMUM_WAIT_EVENTS };

typedef struct group {
    WSAEVENT handles[2 * MAX_ENTRIES]; /* entries 0..count-1, then the same again */
    connection *owners[MAX_ENTRIES];   /* NULL for the wake event and the listener */
    int count;
    int start; /* where the next wait's window begins */
} group;

static void mirror(group *g)
{
    for (int i = 0; i < g->count; i++)
        g->handles[g->count + i] = g->handles[i];
    g->start = 0;
}

static void close_group(loop *l)
{
    group *g = loop_state(l);
    if (loop_listener(l) != INVALID_SOCKET)
        WSAEventSelect(loop_listener(l), NULL, 0);
    CloseHandle(g->handles[WAKE_ENTRY]);
    /* The connections were unwatched before this: what is left is the listener's event. */
    for (int i = 1; i < g->count; i++)
        WSACloseEvent(g->handles[i]);
    free(g);
}

static int add_entry(loop *l, group *g, SOCKET socket, long events, connection *owner)
{
    WSAEVENT event = WSACreateEvent();
    if (event == WSA_INVALID_EVENT) {
        server_log_error(loop_server(l), WSAGetLastError(), "cannot create an event");
        return -1;
    }
    /* WSAEventSelect makes the socket non-blocking too. */
    if (WSAEventSelect(socket, event, events) != 0) {
        server_log_error(loop_server(l), WSAGetLastError(), "WSAEventSelect failed");
        WSACloseEvent(event);
        return -1;
    }
    g->handles[g->count] = event;
    g->owners[g->count] = owner;
    if (owner)
        owner->slot = g->count;
    g->count++;
    mirror(g);
    return 0;
}

static int open_group(loop *l)
{
    group *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    /* Auto-reset: the wait that reports it also resets it, no call more. */
    g->handles[WAKE_ENTRY] = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!g->handles[WAKE_ENTRY]) {
        server_log_error(loop_server(l), (int)GetLastError(), "cannot create the wake event");
        free(g);
        return -1;
    }
    g->count = 1;
    loop_set_state(l, g);
    if (loop_listener(l) != INVALID_SOCKET && add_entry(l, g, loop_listener(l), FD_ACCEPT, NULL) != 0) {
        g->count = 1;
        close_group(l);
        return -1;
    }
    mirror(g);
    return 0;
}

/* Replaces the listener's FD_ACCEPT registration the socket inherited. */
static int watch(loop *l, connection *c)
{
    return add_entry(l, loop_state(l), c->socket, FD_READ | FD_WRITE | FD_CLOSE, c);
}

/* The socket is closed next, which ends its registration; its event goes,
 * and the last entry moves into the hole. */
static void unwatch(loop *l, connection *c)
{
    group *g = loop_state(l);
    int i = c->slot, last = --g->count;
    WSACloseEvent(g->handles[i]);
    g->handles[i] = g->handles[last];
    g->owners[i] = g->owners[last];
    if (g->owners[i])
        g->owners[i]->slot = i;
    mirror(g);
}

static int readiness_of(long network_events)
{
    int events = 0;
    if (network_events & FD_READ)
        events |= READY_READ;
    if (network_events & FD_WRITE)
        events |= READY_WRITE;
    if (network_events & FD_CLOSE)
        events |= READY_CLOSE;
    return events;
}

/* One signalled entry per wait. The errors WSAEnumNetworkEvents reports are
 * not acted on: recv and send report a real reset themselves. */
static int wait_ready(loop *l, DWORD timeout_ms)
{
    group *g = loop_state(l);
    WSANETWORKEVENTS happened;
    DWORD rc = WSAWaitForMultipleEvents((DWORD)g->count, &g->handles[g->start], FALSE, timeout_ms, FALSE);
    if (rc == WSA_WAIT_TIMEOUT)
        return 0;
    if (rc == WSA_WAIT_FAILED || rc >= WSA_WAIT_EVENT_0 + (DWORD)g->count) {
        server_log_error(loop_server(l), WSAGetLastError(), "WSAWaitForMultipleEvents failed");
        return -1;
    }
    int i = (g->start + (int)(rc - WSA_WAIT_EVENT_0)) % g->count;
    g->start = (i + 1) % g->count;
    if (i == WAKE_ENTRY)
        return 0;
    connection *c = g->owners[i];
    SOCKET socket = c ? c->socket : loop_listener(l);
    /* Says what happened since the last call and resets the event. Should it
     * fail, the event is reset by hand and recv and send find out the rest. */
    if (WSAEnumNetworkEvents(socket, g->handles[i], &happened) != 0) {
        WSAResetEvent(g->handles[i]);
        happened.lNetworkEvents = FD_READ | FD_WRITE | FD_CLOSE;
    }
    if (!c)
        loop_listener_ready(l);
    else if (happened.lNetworkEvents)
        loop_ready(l, c, readiness_of(happened.lNetworkEvents));
    return 0;
}

static void wake_loop(loop *l)
{
    SetEvent(((group *)loop_state(l))->handles[WAKE_ENTRY]);
}

static const readiness_backend backend = {
    .sockets_per_loop = MAX_ENTRIES - 1, /* the wake event takes one */
    .accept_sweep_ms = 250,
    .open = open_group,
    .close = close_group,
    .watch = watch,
    .unwatch = unwatch,
    .wait = wait_ready,
    .wake = wake_loop,
};

static int run(server *s)
{
    return readiness_run(s, &backend);
}

static const server_model model = {
    {.name = "eventselect", .summary = "WSAEventSelect, WSAWaitForMultipleEvents over groups of 63 sockets"},
    run,
    readiness_wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

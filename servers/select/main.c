/* select: non-blocking sockets, select() over groups of FD_SETSIZE sockets.
 *
 * A backend of the readiness engine (servers/core/readiness.h). A Winsock
 * fd_set holds at most FD_SETSIZE sockets, so each loop - a thread with its
 * own select() - watches one group: its wake-up socket (a loopback datagram
 * socket that a stop or a hand-over makes readable), the listener in the
 * first group, and its connections.
 *
 * select() keeps nothing between calls: the sets are built from every
 * connection's interest before each call - read only with room in the echo
 * buffer, write only after a send would block - and what comes back is the
 * list of ready sockets, found in the engine's table by their handle. That
 * rebuild is the model's O(n) cost per wait. */

/* Winsock sizes fd_set by FD_SETSIZE (64 by default), so it must be set
 * before the first include of winsock2.h. A group is one set: 256, not the
 * 1,024 it once was, because under Wine a select() costs O(sockets in it x
 * sockets waited on in the whole wineserver) - smaller groups make each
 * wake-up cheaper for more threads (servers/MEASUREMENTS.md gives the
 * figures). */
#ifndef FD_SETSIZE
#define FD_SETSIZE 256
#endif
#include "readiness.h"

#include <stdlib.h>

typedef struct group {
    wakeup wake;
    /* The sets are big (8 KiB each on 64-bit): here rather than on a stack. */
    fd_set readable, writable;
} group;

/* Each socket goes in once, so the duplicate check that FD_SET makes (a
 * scan of the set per socket) is not needed: the fd_set layout is public. */
static void set_add(fd_set *set, SOCKET socket)
{
    set->fd_array[set->fd_count++] = socket;
}

static int open_group(loop *l)
{
    group *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    if (wakeup_open(loop_server(l), &g->wake) != 0) {
        free(g);
        return -1;
    }
    loop_set_state(l, g);
    return 0;
}

static void close_group(loop *l)
{
    group *g = loop_state(l);
    wakeup_close(&g->wake);
    free(g);
}

/* Nothing to register: the sets are built for each wait. */
static int watch(loop *l, connection *c)
{
    (void)l;
    (void)c;
    return 0;
}

static void unwatch(loop *l, connection *c)
{
    (void)l;
    (void)c;
}

static void build_sets(loop *l, group *g)
{
    FD_ZERO(&g->readable);
    FD_ZERO(&g->writable);
    set_add(&g->readable, g->wake.socket);
    if (loop_listener(l) != INVALID_SOCKET)
        set_add(&g->readable, loop_listener(l));
    for (int i = 0; i < loop_connection_count(l); i++) {
        connection *c = loop_connection(l, i);
        int want = connection_interest(c);
        if (want & WANT_READ)
            set_add(&g->readable, c->socket);
        if (want & WANT_WRITE)
            set_add(&g->writable, c->socket);
    }
}

static int wait_ready(loop *l, DWORD timeout_ms)
{
    group *g = loop_state(l);
    struct timeval timeout = {(long)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000};
    build_sets(l, g);
    if (select(0, &g->readable, &g->writable, NULL, timeout_ms == INFINITE ? NULL : &timeout) == SOCKET_ERROR) {
        server_log_error(loop_server(l), WSAGetLastError(), "select failed");
        return -1;
    }
    for (u_int i = 0; i < g->readable.fd_count; i++) {
        SOCKET ready = g->readable.fd_array[i];
        connection *c;
        if (ready == g->wake.socket)
            wakeup_drain(&g->wake);
        else if (ready == loop_listener(l))
            loop_listener_ready(l);
        else if ((c = loop_find(l, ready)) != NULL)
            loop_ready(l, c, READY_READ);
    }
    for (u_int i = 0; i < g->writable.fd_count; i++) {
        connection *c = loop_find(l, g->writable.fd_array[i]);
        if (c)
            loop_ready(l, c, READY_WRITE);
    }
    return 0;
}

static void wake_loop(loop *l)
{
    wakeup_signal(&((group *)loop_state(l))->wake);
}

static const readiness_backend backend = {
    .sockets_per_loop = FD_SETSIZE - 1, /* the wake-up socket takes one */
    .accept_sweep_ms = 0,
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
    {.name = "select", .summary = "non-blocking sockets, select() over groups of FD_SETSIZE"},
    run,
    readiness_wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

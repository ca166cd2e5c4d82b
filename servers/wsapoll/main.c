/* wsapoll: WSAPoll() over pollfd arrays of up to SOCKETS_PER_LOOP sockets.
 *
 * A backend of the readiness engine (servers/core/readiness.h). WSAPoll is
 * Windows' poll(): an array of WSAPOLLFD entries - a wake-up socket (a
 * loopback datagram socket a stop makes readable), the listener in the first
 * loop's array, then one entry per connection. A connection's entry is its
 * `slot`; removing one moves the last entry into the hole, so the array
 * stays dense.
 *
 * WSAPoll itself has no limit on the array, but under Wine one call costs
 * O(entries x sockets of the process) in ws2_32 (each entry is looked up in
 * a flat list of every socket) and O(entries x sockets waited on anywhere)
 * in the wineserver, so one array over 9,000 connections took 80-150 ms per
 * call. Arrays of SOCKETS_PER_LOOP, each with its own thread, keep the
 * entries per call bounded; see servers/core/DESIGN.md for what remains.
 *
 * Readiness is level-triggered: an entry reports on every call for as long
 * as its condition holds, so before each call every entry asks only for
 * what its connection can act on now (POLLRDNORM with room in the echo
 * buffer, POLLWRNORM after a send would block), or the loop would spin.
 *
 * POLLHUP cannot be masked that way: it is reported on every call once the
 * client has half-closed (under Wine, once its input has been read). A client
 * that half-closes and then does not read its echo keeps waking the loop
 * until it does: a cost of the model, not worked around here. */
#include "readiness.h"

#include <stdlib.h>

enum { WAKEUP_ENTRY, LISTENER_ENTRY };
enum { INITIAL_ENTRIES = 64, SOCKETS_PER_LOOP = 256 };

typedef struct poll_set {
    wakeup wake;
    ULONG first_connection; /* after the wake-up and, in the first loop, the listener */
    WSAPOLLFD *entries;     /* what WSAPoll watches */
    connection **owners;    /* owners[i] is entries[i]'s connection; NULL for the first two */
    ULONG count, capacity;
} poll_set;

static int add_entry(poll_set *p, SOCKET socket, connection *owner)
{
    if (p->count == p->capacity) {
        ULONG capacity = p->capacity ? p->capacity * 2 : INITIAL_ENTRIES;
        WSAPOLLFD *entries = realloc(p->entries, capacity * sizeof *entries);
        if (!entries)
            return -1;
        p->entries = entries;
        connection **owners = realloc(p->owners, capacity * sizeof(connection *));
        if (!owners)
            return -1;
        p->owners = owners;
        p->capacity = capacity;
    }
    p->entries[p->count].fd = socket;
    p->entries[p->count].events = POLLRDNORM;
    p->entries[p->count].revents = 0;
    p->owners[p->count] = owner;
    if (owner)
        owner->slot = (int)p->count;
    p->count++;
    return 0;
}

static void close_set(loop *l)
{
    poll_set *p = loop_state(l);
    wakeup_close(&p->wake);
    free(p->entries);
    free(p->owners);
    free(p);
}

static int open_set(loop *l)
{
    poll_set *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    loop_set_state(l, p);
    if (wakeup_open(loop_server(l), &p->wake) != 0) {
        free(p);
        return -1;
    }
    /* Only the first loop has a listener entry: WSAPoll would report an
     * INVALID_SOCKET entry as POLLNVAL on every call. */
    if (add_entry(p, p->wake.socket, NULL) != 0 ||
        (loop_listener(l) != INVALID_SOCKET && add_entry(p, loop_listener(l), NULL) != 0)) {
        close_set(l);
        return -1;
    }
    p->first_connection = p->count;
    return 0;
}

static int watch(loop *l, connection *c)
{
    return add_entry(loop_state(l), c->socket, c);
}

static void unwatch(loop *l, connection *c)
{
    poll_set *p = loop_state(l);
    ULONG i = (ULONG)c->slot, last = --p->count;
    p->entries[i] = p->entries[last];
    p->owners[i] = p->owners[last];
    p->owners[i]->slot = (int)i;
}

/* Windows' WSAPoll rejects any other bits in events (POLLIN and POLLOUT are
 * combinations that include POLLRDBAND / POLLWRBAND). POLLHUP and POLLERR
 * need not be asked for: they are always reported. */
static SHORT wanted_events(const connection *c)
{
    int want = connection_interest(c), events = 0;
    if (want & WANT_READ)
        events |= POLLRDNORM;
    if (want & WANT_WRITE)
        events |= POLLWRNORM;
    return (SHORT)events;
}

/* POLLHUP, POLLERR and POLLNVAL all mean: read on, and recv says what
 * happened (end of input, or the error that is then counted). */
static int readiness_of(SHORT revents)
{
    int events = 0;
    if (revents & POLLRDNORM)
        events |= READY_READ;
    if (revents & POLLWRNORM)
        events |= READY_WRITE;
    if (revents & (POLLHUP | POLLERR | POLLNVAL))
        events |= READY_CLOSE;
    return events;
}

static int wait_ready(loop *l, DWORD timeout_ms)
{
    poll_set *p = loop_state(l);
    for (ULONG i = p->first_connection; i < p->count; i++)
        p->entries[i].events = wanted_events(p->owners[i]);
    if (WSAPoll(p->entries, p->count, timeout_ms == INFINITE ? -1 : (int)timeout_ms) == SOCKET_ERROR) {
        server_log_error(loop_server(l), WSAGetLastError(), "WSAPoll failed");
        return -1;
    }
    if (p->entries[WAKEUP_ENTRY].revents)
        wakeup_drain(&p->wake);
    if (p->first_connection > LISTENER_ENTRY && p->entries[LISTENER_ENTRY].revents)
        loop_listener_ready(l);
    for (ULONG i = p->first_connection; i < p->count; i++) {
        if (p->entries[i].revents)
            loop_ready(l, p->owners[i], readiness_of(p->entries[i].revents));
    }
    return 0;
}

static void wake_loop(loop *l)
{
    wakeup_signal(&((poll_set *)loop_state(l))->wake);
}

static const readiness_backend backend = {
    .sockets_per_loop = SOCKETS_PER_LOOP - 1, /* the wake-up socket takes one */
    .accept_sweep_ms = 0,
    .open = open_set,
    .close = close_set,
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
    {.name = "wsapoll", .summary = "non-blocking sockets, WSAPoll over pollfd arrays of 256"},
    run,
    readiness_wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

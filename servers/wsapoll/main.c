/* wsapoll: one thread, one WSAPoll() over one pollfd array.
 *
 * A backend of the readiness engine (servers/core/readiness.h). WSAPoll is
 * Windows' poll(): one array of WSAPOLLFD entries - a wake-up socket (a
 * loopback datagram socket a stop makes readable), the listener, then one
 * entry per connection - with no limit on its size, so one loop serves
 * everything. A connection's entry is its `slot`; removing one moves the
 * last entry into the hole, so the array stays dense.
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

enum { WAKEUP_ENTRY, LISTENER_ENTRY, FIRST_CONNECTION_ENTRY };
enum { INITIAL_ENTRIES = 64 };

typedef struct poll_set {
    wakeup wake;
    WSAPOLLFD *entries;       /* what WSAPoll watches */
    connection **owners;      /* owners[i] is entries[i]'s connection; NULL for the first two */
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
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        connection **owners = realloc(p->owners, capacity * sizeof *owners);
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
    /* The listener's entry is there in every loop (only one is ever made,
     * and it has the listener): the indexes stay fixed. */
    if (add_entry(p, p->wake.socket, NULL) != 0 || add_entry(p, loop_listener(l), NULL) != 0) {
        close_set(l);
        return -1;
    }
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
    (void)timeout_ms; /* no accept sweep: INFINITE */
    for (ULONG i = FIRST_CONNECTION_ENTRY; i < p->count; i++)
        p->entries[i].events = wanted_events(p->owners[i]);
    if (WSAPoll(p->entries, p->count, -1) == SOCKET_ERROR) {
        server_log_error(loop_server(l), WSAGetLastError(), "WSAPoll failed");
        return -1;
    }
    if (p->entries[WAKEUP_ENTRY].revents)
        wakeup_drain(&p->wake);
    if (p->entries[LISTENER_ENTRY].revents)
        loop_listener_ready(l);
    for (ULONG i = FIRST_CONNECTION_ENTRY; i < p->count; i++) {
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
    .sockets_per_loop = 0, /* one array, no limit */
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
    {.name = "wsapoll", .summary = "one thread, WSAPoll over one pollfd array"},
    run,
    readiness_wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

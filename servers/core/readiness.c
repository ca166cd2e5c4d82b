#include "readiness.h"
#include "lifecycle.h"

#include <stdint.h>
#include <stdlib.h>

/* Connections accepted per readiness of the listener: a connect storm is
 * taken in bounded batches, and the loop returns to its connections in
 * between (an unbounded loop until WSAEWOULDBLOCK starved them). */
enum { ACCEPTS_PER_READINESS = 64 };
/* After accept failed other than by a reset (out of sockets or memory):
 * the listener stays ready, so back off rather than spin on it. */
enum { ACCEPT_BACKOFF_MS = 10 };
enum { INITIAL_TABLE_SIZE = 64 };
/* Every this often the first loop probes every loop's service delay (see
 * probe_loops); a delay past SLOW_SERVICE_MS (stats.h) is logged once. */
enum { PROBE_INTERVAL_MS = 1000 };

typedef struct engine engine;

struct loop {
    engine *e;
    void *state;     /* the backend's */
    SOCKET listener; /* INVALID_SOCKET except in the first loop */
    HANDLE thread;   /* NULL for the first loop: it runs on run()'s thread */
    /* The connection table, touched by the loop's own thread only: a dense
     * array to walk, and an open-addressing hash (never more than half
     * full, linear probing) from socket to connection. */
    connection **connections;
    int count, capacity;
    connection **slots;
    size_t slot_count; /* a power of two */
    /* Reported by the last wait, served by dispatch(). */
    connection *ready;
    int listener_ready;
    /* Under the engine's lock: */
    int assigned;      /* connections served plus those in the inbox */
    connection *inbox; /* handed over by the first loop, not yet taken */
    loop *next;
    /* Tick count at which the first loop woke this one to probe it; 0: no
     * probe outstanding. Set by the first loop, cleared by this one. */
    counter_t probe_sent_ms;
    /* 1 once the loop has served a readiness since its last probe: only such
     * a loop is probed (see probe_loops). */
    counter_t served;
};

struct engine {
    SRWLOCK lock; /* static initialiser: wake may come before run */
    server *s;
    const readiness_backend *b;
    loop *loops; /* the first loop, then the others in start order */
    int failed;  /* a wait failed: run() returns 1 */
    int refusal_logged, accept_failure_logged;
    counter_t slow_logged; /* the slow-service warning has been given */
};

/* One server per process; wake() reaches it from the stopping thread. */
static engine the_engine = {SRWLOCK_INIT, NULL, NULL, NULL, 0, 0, 0, 0};

server *loop_server(const loop *l)
{
    return l->e->s;
}
SOCKET loop_listener(const loop *l)
{
    return l->listener;
}
void *loop_state(const loop *l)
{
    return l->state;
}
void loop_set_state(loop *l, void *state)
{
    l->state = state;
}
int loop_connection_count(const loop *l)
{
    return l->count;
}
connection *loop_connection(const loop *l, int index)
{
    return l->connections[index];
}

/* ---- The connection table -------------------------------------------------- */

static size_t home_slot(const loop *l, SOCKET socket)
{
    /* Handles are multiples of 4: a multiplicative hash spreads them out. */
    uint64_t h = (uint64_t)socket * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (l->slot_count - 1);
}

connection *loop_find(const loop *l, SOCKET socket)
{
    if (!l->slots)
        return NULL;
    for (size_t i = home_slot(l, socket); l->slots[i]; i = (i + 1) & (l->slot_count - 1)) {
        if (l->slots[i]->socket == socket)
            return l->slots[i];
    }
    return NULL;
}

static void hash_place(loop *l, connection *c)
{
    size_t i = home_slot(l, c->socket);
    while (l->slots[i])
        i = (i + 1) & (l->slot_count - 1);
    l->slots[i] = c;
}

/* Both the array and the hash at twice the size; keeps what it has on failure. */
static int table_grow(loop *l)
{
    int capacity = l->capacity ? l->capacity * 2 : INITIAL_TABLE_SIZE;
    connection **connections = realloc(l->connections, (size_t)capacity * sizeof(connection *));
    if (!connections)
        return -1;
    l->connections = connections;
    connection **slots = calloc((size_t)capacity * 2, sizeof(connection *));
    if (!slots)
        return -1;
    free(l->slots);
    l->slots = slots;
    l->slot_count = (size_t)capacity * 2;
    l->capacity = capacity;
    for (int i = 0; i < l->count; i++)
        hash_place(l, l->connections[i]);
    return 0;
}

static int table_add(loop *l, connection *c)
{
    if (l->count == l->capacity && table_grow(l) != 0)
        return -1;
    c->index = l->count;
    l->connections[l->count++] = c;
    hash_place(l, c);
    return 0;
}

/* Deletion without tombstones: entries after the hole that probed past it
 * move back into it, so every lookup still finds them before a free slot. */
static void hash_remove(loop *l, const connection *c)
{
    size_t mask = l->slot_count - 1, hole = home_slot(l, c->socket);
    while (l->slots[hole] != c)
        hole = (hole + 1) & mask;
    l->slots[hole] = NULL;
    for (size_t i = (hole + 1) & mask; l->slots[i]; i = (i + 1) & mask) {
        size_t home = home_slot(l, l->slots[i]->socket);
        /* It may move unless its home lies (cyclically) after the hole. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            l->slots[hole] = l->slots[i];
            l->slots[i] = NULL;
            hole = i;
        }
    }
}

static void table_remove(loop *l, connection *c)
{
    hash_remove(l, c);
    /* The last entry fills the hole: the array stays dense. */
    l->connections[c->index] = l->connections[--l->count];
    l->connections[c->index]->index = c->index;
}

/* ---- Connections ----------------------------------------------------------- */

static void release(server *s, connection *c, closing how)
{
    server_close(c->socket, how);
    echo_buffer_free(&c->echo);
    free(c);
    server_connection_closed(s);
}

static void forget(loop *l)
{
    AcquireSRWLockExclusive(&l->e->lock);
    l->assigned--;
    ReleaseSRWLockExclusive(&l->e->lock);
}

static void close_connection(loop *l, connection *c, closing how)
{
    l->e->b->unwatch(l, c);
    table_remove(l, c);
    forget(l);
    release(l->e->s, c, how);
}

/* How a connection ends when the server stops, by the one closing rule
 * (lifecycle.h): an idle one with a FIN, one whose echo is cut off with an
 * RST. */
static closing closing_at_stop(const connection *c)
{
    return closing_with_echo(CLOSE_GRACEFULLY, !echo_buffer_is_empty(&c->echo));
}

typedef enum io_result {
    IO_DONE,          /* receive: bytes arrived; send: the echo is all sent */
    IO_WOULD_BLOCK,   /* WSAEWOULDBLOCK: wait for the next readiness */
    IO_PEER_FINISHED, /* receive: the client shut down its sending side */
    IO_FAILED         /* counted in the stats: close the connection */
} io_result;

/* One recv into the free space of the echo buffer (the caller checks there
 * is some). */
static io_result receive(server *s, connection *c)
{
    unsigned char *room;
    /* --buffer is at most 64 MiB, so a span always fits in an int. */
    int length = (int)echo_buffer_write_span(&c->echo, &room);
    int received = recv(c->socket, (char *)room, length, 0);
    if (received > 0) {
        echo_buffer_commit(&c->echo, (size_t)received);
        stats_received(&s->stats, (size_t)received);
        c->had_input = 1;
        return IO_DONE;
    }
    if (received == 0)
        return IO_PEER_FINISHED;
    int error = WSAGetLastError();
    if (error == WSAEWOULDBLOCK)
        return IO_WOULD_BLOCK;
    server_count_io_error(s, error, ERROR_RECV, c->had_input);
    return IO_FAILED;
}

/* Sends pending echo until it is all sent or the socket takes no more. */
static io_result send_pending(server *s, connection *c)
{
    unsigned char *pending;
    int length;
    while ((length = (int)echo_buffer_read_span(&c->echo, &pending)) > 0) {
        int sent = send(c->socket, (const char *)pending, length, 0);
        if (sent == SOCKET_ERROR) {
            int error = WSAGetLastError();
            if (error == WSAEWOULDBLOCK)
                return IO_WOULD_BLOCK;
            server_count_io_error(s, error, ERROR_SEND, c->had_input);
            return IO_FAILED;
        }
        echo_buffer_consume(&c->echo, (size_t)sent);
        stats_sent(&s->stats, (size_t)sent);
    }
    return IO_DONE;
}

static int can_read(const connection *c)
{
    return c->read_wanted && !c->input_ended && !echo_buffer_is_full(&c->echo);
}

int connection_interest(const connection *c)
{
    int want = 0;
    if (!c->input_ended && !echo_buffer_is_full(&c->echo))
        want |= WANT_READ;
    if (c->write_blocked)
        want |= WANT_WRITE;
    return want;
}

/* The step, the same for every readiness model: one recv per readiness (a
 * busy client cannot starve the others, and in the notification models each
 * recv re-enables the notification, so reading in a loop would only queue
 * notices for bytes already taken); then send until the echo is gone or
 * send would block (only that failure promises a new write readiness); then,
 * once the client has finished and its echo is out, close with a FIN.
 *
 * The loop runs again only when a full buffer skipped the recv and the send
 * made room, or after READY_CLOSE, when no further readiness is promised and
 * the rest of the input is read until recv returns 0. A readiness is only a
 * hint (a notice may be stale, or meant for an earlier socket with the same
 * handle): what recv and send return is the truth. */
static void serve(loop *l, connection *c, int events)
{
    server *s = l->e->s;
    if (events & (READY_READ | READY_CLOSE))
        c->read_wanted = 1;
    if (events & READY_CLOSE)
        c->peer_closed = 1;
    if (events & (READY_WRITE | READY_CLOSE))
        c->write_blocked = 0;
    do {
        if (can_read(c)) {
            c->read_wanted = c->peer_closed;
            io_result received = receive(s, c);
            if (received == IO_FAILED) {
                close_connection(l, c, CLOSE_FAILED);
                return;
            }
            if (received == IO_PEER_FINISHED)
                c->input_ended = 1;
            else if (received == IO_WOULD_BLOCK)
                c->read_wanted = 0;
        }
        if (!c->write_blocked) {
            io_result sent = send_pending(s, c);
            if (sent == IO_FAILED) {
                close_connection(l, c, CLOSE_FAILED);
                return;
            }
            c->write_blocked = sent == IO_WOULD_BLOCK;
        }
        if (c->input_ended && echo_buffer_is_empty(&c->echo)) {
            close_connection(l, c, CLOSE_GRACEFULLY);
            return;
        }
    } while (can_read(c));
}

void loop_ready(loop *l, connection *c, int events)
{
    if (!c->ready) {
        c->next = l->ready;
        l->ready = c;
    }
    c->ready |= (unsigned char)events;
}

void loop_listener_ready(loop *l)
{
    l->listener_ready = 1;
}

/* Starts serving a connection on its loop's thread. */
static void adopt(loop *l, connection *c)
{
    if (table_add(l, c) != 0) {
        stats_error(&l->e->s->stats, ERROR_RESOURCE);
        forget(l);
        release(l->e->s, c, CLOSE_FAILED);
        return;
    }
    if (l->e->b->watch(l, c) != 0) {
        stats_error(&l->e->s->stats, ERROR_RESOURCE);
        table_remove(l, c);
        forget(l);
        release(l->e->s, c, CLOSE_FAILED);
        return;
    }
    /* Bytes may have come with the connection: try at once. */
    serve(l, c, READY_READ);
}

static void take_inbox(loop *l)
{
    AcquireSRWLockExclusive(&l->e->lock);
    connection *c = l->inbox;
    l->inbox = NULL;
    ReleaseSRWLockExclusive(&l->e->lock);
    while (c) {
        connection *next = c->next;
        adopt(l, c);
        c = next;
    }
}

/* Served in a second pass: serving may close a connection, and the backend's
 * own arrays must not change while it walks them. */
static void dispatch(loop *l);

/* ---- Service delay --------------------------------------------------------
 *
 * How long a readiness waits before its loop serves it grows with the sockets
 * per wait under Wine (each wait costs O(sockets in it x sockets waited on in
 * the whole wineserver), see servers/core/DESIGN.md), and no single message
 * shows it. So the first loop samples it: once a second it wakes every loop
 * (itself included) that has served something since its last probe, through
 * the backend's own wake-up, exactly as a ready socket would, and each loop
 * records how long that took to come back from its wait. A probe that lands
 * while a loop is setting up a wait waits for the whole set-up, as a client's
 * readiness does. A loop with only idle connections is not woken: its next
 * wait would cost as much as any (the wake-up is what is expensive), and no
 * client is waiting on it. The cost is at most one wake-up per busy loop per
 * second, nothing per message. */

static void probe_loops(engine *e)
{
    int64_t now = (int64_t)GetTickCount64();
    AcquireSRWLockExclusive(&e->lock);
    for (loop *l = e->loops; l; l = l->next) {
        if (counter_get(&l->served) && counter_swap_if(&l->probe_sent_ms, 0, now)) {
            counter_swap_if(&l->served, 1, 0);
            e->b->wake(l);
        }
    }
    ReleaseSRWLockExclusive(&e->lock);
}

static void record_probe(loop *l)
{
    int64_t sent = counter_get(&l->probe_sent_ms);
    if (sent == 0 || !counter_swap_if(&l->probe_sent_ms, sent, 0))
        return;
    int64_t delay = (int64_t)GetTickCount64() - sent;
    server *s = l->e->s;
    stats_service_delay(&s->stats, delay);
    if (delay > SLOW_SERVICE_MS && counter_swap_if(&l->e->slow_logged, 0, 1))
        server_log(s,
                   "a readiness waited %lld ms for its loop (over %d ms): too many connections for this "
                   "model here; see worst_service_delay_ms in the stats",
                   (long long)delay, SLOW_SERVICE_MS);
}

/* ---- Loops ----------------------------------------------------------------- */

/* Milliseconds until `deadline`, 0 if it has passed. */
static DWORD until(ULONGLONG deadline, ULONGLONG now)
{
    return now >= deadline ? 0 : (DWORD)(deadline - now);
}

static void loop_run(loop *l)
{
    engine *e = l->e;
    const readiness_backend *b = e->b;
    int sweeps = b->accept_sweep_ms && l->listener != INVALID_SOCKET;
    int probes = l == e->loops;
    /* The tick count is read from memory the system keeps, not asked for
     * with a system call: cheap enough once per wait. */
    ULONGLONG now = GetTickCount64();
    ULONGLONG next_sweep = sweeps ? now + b->accept_sweep_ms : 0;
    ULONGLONG next_probe = now + PROBE_INTERVAL_MS;
    while (!server_stopping(e->s)) {
        DWORD timeout = INFINITE;
        if (l != e->loops)
            take_inbox(l);
        now = GetTickCount64();
        if (probes && now >= next_probe) {
            probe_loops(e);
            next_probe = now + PROBE_INTERVAL_MS;
        }
        if (probes)
            timeout = until(next_probe, now);
        if (sweeps && until(next_sweep, now) < timeout)
            timeout = until(next_sweep, now);
        if (b->wait(l, timeout) != 0) {
            AcquireSRWLockExclusive(&e->lock);
            e->failed = 1;
            ReleaseSRWLockExclusive(&e->lock);
            server_request_stop(e->s);
            break;
        }
        record_probe(l);
        dispatch(l);
        if (sweeps && GetTickCount64() >= next_sweep) {
            loop_listener_ready(l);
            dispatch(l);
            next_sweep = GetTickCount64() + b->accept_sweep_ms;
        }
    }
}

static unsigned __stdcall loop_thread(void *arg)
{
    loop_run(arg);
    return 0;
}

/* A new loop linked after `last`, with a thread of its own; or, with no
 * `last`, the first loop, run on run()'s thread. NULL when it cannot be had.
 * Runs under the engine's lock, so that wake() either wakes the new loop or
 * has already set the stop flag that the loop checks first. */
static loop *start_loop(engine *e, loop *last, SOCKET listener)
{
    loop *l = calloc(1, sizeof *l);
    if (!l) {
        stats_error(&e->s->stats, ERROR_RESOURCE);
        return NULL;
    }
    l->e = e;
    l->listener = listener;
    if (e->b->open(l) != 0) {
        stats_error(&e->s->stats, ERROR_RESOURCE);
        free(l);
        return NULL;
    }
    if (last) {
        l->thread = server_start_thread(e->s, loop_thread, l, 0);
        if (!l->thread) {
            e->b->close(l);
            free(l);
            return NULL;
        }
        last->next = l;
    }
    return l;
}

static int has_room(const engine *e, const loop *l)
{
    int sockets = e->b->sockets_per_loop;
    return sockets == 0 || l->assigned < sockets - (l->listener != INVALID_SOCKET);
}

/* Gives an admitted connection to the first loop with room, starting a new
 * loop when all are full. Runs on the first loop's thread only. */
static void place(engine *e, connection *c)
{
    loop *first = e->loops, *target, *last = NULL;
    AcquireSRWLockExclusive(&e->lock);
    for (target = first; target && !has_room(e, target); target = target->next)
        last = target;
    if (!target)
        target = start_loop(e, last, INVALID_SOCKET);
    if (target) {
        target->assigned++;
        if (target != first) {
            c->next = target->inbox;
            target->inbox = c;
            e->b->wake(target);
        }
    }
    ReleaseSRWLockExclusive(&e->lock);
    if (!target) {
        if (!e->refusal_logged++)
            server_log(e->s, "no loop can take a new connection; refusing it (and any later ones)");
        release(e->s, c, CLOSE_FAILED);
    } else if (target == first) {
        adopt(first, c);
    }
}

static void admit(engine *e, SOCKET client)
{
    u_long nonblocking = 1;
    if (!server_admit(e->s, client))
        return;
    connection *c = calloc(1, sizeof *c);
    if (!c || echo_buffer_init(&c->echo, e->s->options.buffer_size) != 0 ||
        ioctlsocket(client, FIONBIO, &nonblocking) != 0) {
        stats_error(&e->s->stats, ERROR_RESOURCE);
        if (c)
            echo_buffer_free(&c->echo);
        free(c);
        server_drop(e->s, client);
        return;
    }
    c->socket = client;
    place(e, c);
}

/* A failure is counted by the rule of server_count_accept_failure: a client
 * gone from the backlog counts nowhere and the batch goes on. */
static void accept_batch(loop *l)
{
    engine *e = l->e;
    for (int i = 0; i < ACCEPTS_PER_READINESS && !server_stopping(e->s); i++) {
        SOCKET client = accept(l->listener, NULL, NULL);
        if (client != INVALID_SOCKET) {
            admit(e, client);
            continue;
        }
        int error = WSAGetLastError();
        if (error == WSAEWOULDBLOCK)
            return;
        if (server_count_accept_failure(e->s, error))
            continue;
        if (!e->accept_failure_logged++)
            server_log_error(e->s, error, "accept failed (counted in the stats; not logged again)");
        Sleep(ACCEPT_BACKOFF_MS);
        return;
    }
}

static void dispatch(loop *l)
{
    connection *c = l->ready;
    l->ready = NULL;
    if (c && !counter_get(&l->served))
        counter_swap_if(&l->served, 0, 1);
    while (c) {
        connection *next = c->next;
        int events = c->ready;
        c->ready = 0;
        serve(l, c, events);
        c = next;
    }
    /* After the connections, so that a new one is not served twice. */
    if (l->listener_ready) {
        l->listener_ready = 0;
        accept_batch(l);
    }
}

/* Once every loop has stopped nothing moves any more: the connections,
 * including any still in an inbox, are closed without racing a hand-over. */
static void close_loop(loop *l)
{
    /* Never watched nor served: their echo is empty, a FIN ends them. */
    for (connection *c = l->inbox, *next; c; c = next) {
        next = c->next;
        release(l->e->s, c, CLOSE_GRACEFULLY);
    }
    l->inbox = NULL;
    while (l->count > 0)
        close_connection(l, l->connections[l->count - 1], closing_at_stop(l->connections[l->count - 1]));
    l->e->b->close(l);
    free(l->connections);
    free(l->slots);
    free(l);
}

int readiness_run(server *s, const readiness_backend *b)
{
    engine *e = &the_engine;
    u_long nonblocking = 1;
    e->s = s;
    e->b = b;
    /* Non-blocking: a client that resets between the readiness and accept
     * must not leave the loop blocked in accept. */
    if (ioctlsocket(s->listener, FIONBIO, &nonblocking) != 0) {
        server_log_error(s, WSAGetLastError(), "cannot make the listener non-blocking");
        return 1;
    }
    AcquireSRWLockExclusive(&e->lock);
    e->loops = start_loop(e, NULL, s->listener);
    ReleaseSRWLockExclusive(&e->lock);
    if (!e->loops) {
        server_log(s, "cannot start serving");
        return 1;
    }
    loop_run(e->loops);

    /* Only the first loop adds loops, so the list is final now. */
    for (loop *l = e->loops->next; l; l = l->next) {
        WaitForSingleObject(l->thread, INFINITE);
        CloseHandle(l->thread);
    }
    /* The stopping thread may still be inside wake(): it must find an empty
     * list, not freed loops. */
    AcquireSRWLockExclusive(&e->lock);
    loop *stopped = e->loops;
    e->loops = NULL;
    ReleaseSRWLockExclusive(&e->lock);
    while (stopped) {
        loop *next = stopped->next;
        close_loop(stopped);
        stopped = next;
    }
    return e->failed;
}

void readiness_wake(server *s)
{
    (void)s;
    AcquireSRWLockExclusive(&the_engine.lock);
    for (loop *l = the_engine.loops; l; l = l->next)
        the_engine.b->wake(l);
    ReleaseSRWLockExclusive(&the_engine.lock);
}

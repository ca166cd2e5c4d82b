/* The overlapped model: one thread, overlapped I/O with completion routines.
 *
 * New connections arrive through a pool of AcceptEx calls kept outstanding at
 * once, each signalling its own event. Connections themselves use WSARecv and
 * WSASend with completion routines: Windows queues each routine as an APC to
 * the thread that started the operation, and runs it while that thread waits
 * alertably. So one alertable WaitForMultipleObjectsEx watches the stop event
 * and the accept events (at most 64 handles) and, at the same time, serves any
 * number of connections, which need no handle in the wait at all. */
#include "server.h"

#include <mswsock.h>
#include <stdlib.h>
#include <string.h>

/* One event per AcceptEx, plus the stop event, in one wait of at most 64. */
#define MAX_ACCEPT_POOL (WSA_MAXIMUM_WAIT_EVENTS - 1)
/* AcceptEx wants room for each address plus 16 bytes. */
#define ACCEPT_ADDRESS_SIZE (sizeof(struct sockaddr_storage) + 16)
#define STOP_TIMEOUT_MS 10000

typedef struct connection {
    /* Both OVERLAPPEDs carry the connection in hEvent, which Winsock leaves
     * to the caller when a completion routine is given. */
    WSAOVERLAPPED receiving;
    WSAOVERLAPPED sending;
    server *s;
    SOCKET socket;        /* INVALID_SOCKET once closed: the connection is finished */
    echo_buffer buffer;
    int receive_pending;  /* at most one WSARecv and one WSASend outstanding */
    int send_pending;
    int peer_finished;    /* the client shut down its sending side */
    int had_input;        /* a byte has arrived (see server_count_io_error) */
    struct connection *previous, *next;
} connection;

typedef struct accept_slot {
    WSAOVERLAPPED overlapped; /* hEvent: signalled when this AcceptEx completes */
    SOCKET socket;            /* the socket it accepts into; INVALID_SOCKET when idle */
    char addresses[2 * ACCEPT_ADDRESS_SIZE];
} accept_slot;

typedef struct overlapped_server {
    server *s;
    LPFN_ACCEPTEX accept_ex;
    accept_slot slots[MAX_ACCEPT_POOL];
    int slot_count;
    int idle_slots;           /* AcceptEx could not be posted: retried later */
    connection *connections;  /* every context not yet freed, for the stop */
} overlapped_server;

/* The completion routines get no argument of their own; there is only one
 * server per process and everything runs on the one thread. */
static overlapped_server *the_state;

/* ---- Connections ---------------------------------------------------------- */

static void CALLBACK on_received(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags);
static void CALLBACK on_sent(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags);

/* Closes at once (a reset, an error, the stop). Outstanding operations then
 * complete with an error, and the context lives until they have. Closing
 * alone should cancel them, but under Wine a send stalled on a client that
 * does not read stays pending after closesocket: cancel explicitly first. */
static void abort_connection(connection *c)
{
    CancelIoEx((HANDLE)c->socket, NULL);
    closesocket(c->socket);
    c->socket = INVALID_SOCKET;
}

static void fail_connection(connection *c, int error, error_kind kind)
{
    server_count_io_error(c->s, error, kind, c->had_input);
    abort_connection(c);
}

static void start_receive(connection *c)
{
    WSABUF span;
    DWORD flags = 0;
    unsigned char *where;
    if (c->receive_pending || c->peer_finished)
        return;
    /* A full buffer means no receive at all: the client's TCP window closes
     * until our sends make room again (on_sent restarts the receive). */
    span.len = (ULONG)echo_buffer_write_span(&c->buffer, &where);
    span.buf = (char *)where;
    if (span.len == 0)
        return;
    /* Even when WSARecv succeeds at once, the routine is still queued and is
     * where the result is handled: never handle it here too. */
    if (WSARecv(c->socket, &span, 1, NULL, &flags, &c->receiving, on_received) == 0 ||
        WSAGetLastError() == WSA_IO_PENDING)
        c->receive_pending = 1;
    else
        fail_connection(c, WSAGetLastError(), ERROR_RECV);
}

static void start_send(connection *c)
{
    WSABUF span;
    unsigned char *where;
    if (c->send_pending)
        return;
    span.len = (ULONG)echo_buffer_read_span(&c->buffer, &where);
    span.buf = (char *)where;
    if (span.len == 0)
        return;
    if (WSASend(c->socket, &span, 1, NULL, 0, &c->sending, on_sent) == 0 || WSAGetLastError() == WSA_IO_PENDING)
        c->send_pending = 1;
    else
        fail_connection(c, WSAGetLastError(), ERROR_SEND);
}

static void free_connection(connection *c)
{
    overlapped_server *state = the_state;
    if (c->previous)
        c->previous->next = c->next;
    else
        state->connections = c->next;
    if (c->next)
        c->next->previous = c->previous;
    echo_buffer_free(&c->buffer);
    server_connection_closed(c->s);
    free(c);
}

/* Everything after an event on a connection: keep one send going while there
 * is echo to send and one receive while there is room, finish the half-close,
 * and free the context once it is closed and the system holds none of its
 * buffers any more. Frees c: the caller must not touch it afterwards. */
static void advance(connection *c)
{
    if (c->socket != INVALID_SOCKET)
        start_send(c);
    if (c->socket != INVALID_SOCKET)
        start_receive(c);
    if (c->socket != INVALID_SOCKET && c->peer_finished && !c->send_pending && echo_buffer_is_empty(&c->buffer)) {
        server_close_gracefully(c->socket);
        c->socket = INVALID_SOCKET;
    }
    if (c->socket == INVALID_SOCKET && !c->receive_pending && !c->send_pending)
        free_connection(c);
}

static void CALLBACK on_received(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags)
{
    connection *c = overlapped->hEvent;
    (void)flags;
    c->receive_pending = 0;
    if (error != 0) {
        /* After our own close this is just the cancellation arriving. */
        if (c->socket != INVALID_SOCKET)
            fail_connection(c, (int)error, ERROR_RECV);
    } else if (bytes == 0) {
        c->peer_finished = 1;
    } else {
        c->had_input = 1;
        echo_buffer_commit(&c->buffer, bytes);
        stats_received(&c->s->stats, bytes);
    }
    advance(c);
}

static void CALLBACK on_sent(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags)
{
    connection *c = overlapped->hEvent;
    (void)flags;
    c->send_pending = 0;
    if (error != 0) {
        if (c->socket != INVALID_SOCKET)
            fail_connection(c, (int)error, ERROR_SEND);
    } else {
        /* Only now may the sent bytes be overwritten: until the completion,
         * the system was still reading them from the buffer. */
        echo_buffer_consume(&c->buffer, bytes);
        stats_sent(&c->s->stats, bytes);
    }
    advance(c);
}

static void open_connection(overlapped_server *state, SOCKET socket)
{
    connection *c = calloc(1, sizeof *c);
    if (!c || echo_buffer_init(&c->buffer, state->s->options.buffer_size) != 0) {
        free(c);
        stats_error(&state->s->stats, ERROR_RESOURCE);
        closesocket(socket);
        server_connection_closed(state->s);
        return;
    }
    c->s = state->s;
    c->socket = socket;
    c->receiving.hEvent = c;
    c->sending.hEvent = c;
    c->next = state->connections;
    if (c->next)
        c->next->previous = c;
    state->connections = c;
    advance(c);
}

/* ---- The accept pool ------------------------------------------------------ */

static int load_accept_ex(overlapped_server *state)
{
    GUID guid = WSAID_ACCEPTEX;
    DWORD bytes;
    /* Through the provider rather than mswsock's export: the pointer that is
     * certain to match the listener's provider, the same way on MSVC. */
    if (WSAIoctl(state->s->listener, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, &state->accept_ex,
                 sizeof state->accept_ex, &bytes, NULL, NULL) != 0) {
        server_log_error(state->s, WSAGetLastError(), "cannot get AcceptEx");
        return -1;
    }
    return 0;
}

static void post_accept(overlapped_server *state, accept_slot *slot)
{
    server *s = state->s;
    HANDLE event = slot->overlapped.hEvent;
    DWORD bytes;
    slot->socket = WSASocketW(s->family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (slot->socket == INVALID_SOCKET) {
        stats_error(&s->stats, ERROR_RESOURCE);
        state->idle_slots++;
        return;
    }
    memset(&slot->overlapped, 0, sizeof slot->overlapped);
    slot->overlapped.hEvent = event;
    WSAResetEvent(event);
    /* No receive data: a client that connects and says nothing is accepted
     * at once instead of holding this slot until it speaks. */
    if (!state->accept_ex(s->listener, slot->socket, slot->addresses, 0, ACCEPT_ADDRESS_SIZE, ACCEPT_ADDRESS_SIZE,
                          &bytes, &slot->overlapped) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
        server_count_accept_failure(s, WSAGetLastError());
        closesocket(slot->socket);
        slot->socket = INVALID_SOCKET;
        state->idle_slots++;
    }
}

/* Takes the connection a completed AcceptEx produced and puts the slot back
 * to work, so the pool stays full. */
static void finish_accept(overlapped_server *state, accept_slot *slot, int ok)
{
    server *s = state->s;
    SOCKET accepted = slot->socket;
    slot->socket = INVALID_SOCKET;
    if (!ok) {
        server_count_accept_failure(s, WSAGetLastError());
        closesocket(accepted);
    } else {
        /* Until this, the accepted socket lacks the listener's properties and
         * getpeername, shutdown and the like fail on it. */
        setsockopt(accepted, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&s->listener,
                   sizeof s->listener);
        if (server_admit(s, accepted))
            open_connection(state, accepted);
    }
    post_accept(state, slot);
}

/* Looks at every slot rather than only the event the wait reported: the wait
 * names one handle, several AcceptEx may have completed, and a newly posted
 * one may complete at once. */
static void collect_accepts(overlapped_server *state)
{
    DWORD bytes, flags;
    for (int i = 0; i < state->slot_count && !server_stopping(state->s); i++) {
        accept_slot *slot = &state->slots[i];
        while (slot->socket != INVALID_SOCKET && !server_stopping(state->s)) {
            int ok = WSAGetOverlappedResult(state->s->listener, &slot->overlapped, &bytes, FALSE, &flags);
            if (!ok && WSAGetLastError() == WSA_IO_INCOMPLETE)
                break;
            finish_accept(state, slot, ok);
        }
    }
}

static void retry_idle_slots(overlapped_server *state)
{
    state->idle_slots = 0;
    for (int i = 0; i < state->slot_count; i++)
        if (state->slots[i].socket == INVALID_SOCKET)
            post_accept(state, &state->slots[i]);
}

/* ---- Run and stop --------------------------------------------------------- */

static DWORD time_left(DWORD deadline)
{
    int left = (int)(deadline - GetTickCount());
    return left > 0 ? (DWORD)left : 0;
}

/* Waits, bounded, until the system gives back what it still holds: the
 * accept slots' buffers and every connection's buffers. Returns 0 when it
 * has, -1 when something is still outstanding and nothing may be freed. */
static int shut_down(overlapped_server *state)
{
    server *s = state->s;
    DWORD deadline = GetTickCount() + STOP_TIMEOUT_MS;
    int outstanding = 0;
    /* Each outstanding AcceptEx then completes with an error and sets its event. */
    CancelIoEx((HANDLE)s->listener, NULL);
    closesocket(s->listener);
    s->listener = INVALID_SOCKET;
    for (int i = 0; i < state->slot_count; i++) {
        accept_slot *slot = &state->slots[i];
        if (slot->socket == INVALID_SOCKET)
            continue;
        if (WaitForSingleObject(slot->overlapped.hEvent, time_left(deadline)) != WAIT_OBJECT_0)
            outstanding = 1;
        closesocket(slot->socket);
    }
    for (connection *c = state->connections, *next; c; c = next) {
        next = c->next;
        if (c->socket != INVALID_SOCKET)
            abort_connection(c);
        if (!c->receive_pending && !c->send_pending)
            free_connection(c);
    }
    /* The cancelled operations' routines free the contexts as they run. */
    while (state->connections && time_left(deadline) > 0)
        SleepEx(time_left(deadline) < 100 ? time_left(deadline) : 100, TRUE);
    if (outstanding || state->connections) {
        server_log(s, "some I/O did not end after %d ms; its memory is left to the system", STOP_TIMEOUT_MS);
        return -1;
    }
    for (int i = 0; i < state->slot_count; i++)
        WSACloseEvent(state->slots[i].overlapped.hEvent);
    return 0;
}

static int run(server *s)
{
    overlapped_server *state = calloc(1, sizeof *state);
    HANDLE handles[1 + MAX_ACCEPT_POOL];
    int rc = 0;
    if (!state) {
        server_log(s, "out of memory");
        return 1;
    }
    state->s = s;
    the_state = state;
    if (load_accept_ex(state) != 0) {
        free(state);
        return 1;
    }
    state->slot_count = s->options.accept_pool; /* at most MAX_ACCEPT_POOL: options_parse enforces it */
    handles[0] = s->stop_event;
    for (int i = 0; i < state->slot_count; i++) {
        state->slots[i].socket = INVALID_SOCKET;
        state->slots[i].overlapped.hEvent = handles[1 + i] = WSACreateEvent();
        if (handles[1 + i] == WSA_INVALID_EVENT) {
            server_log_error(s, WSAGetLastError(), "cannot create an accept event");
            state->slot_count = i;
            if (shut_down(state) == 0)
                free(state);
            return 1;
        }
    }
    retry_idle_slots(state);
    while (!server_stopping(s)) {
        /* Alertable: besides returning for the events, the wait runs every
         * queued completion routine, which is where connections are served. */
        DWORD woke = WaitForMultipleObjectsEx((DWORD)(1 + state->slot_count), handles, FALSE,
                                              state->idle_slots ? 1000 : INFINITE, TRUE);
        if (woke == WAIT_FAILED) {
            server_log_error(s, (int)GetLastError(), "the wait failed");
            rc = 1;
            break;
        }
        collect_accepts(state);
        if (state->idle_slots && woke == WAIT_TIMEOUT)
            retry_idle_slots(state);
    }
    if (shut_down(state) == 0) {
        free(state);
        the_state = NULL;
    }
    return rc;
}

static const server_model model = {
    {.name = "overlapped",
     .summary = "one thread: AcceptEx pool and overlapped I/O with completion routines",
     .has_accept_pool = 1,
     .default_accept_pool = 16,
     .max_accept_pool = MAX_ACCEPT_POOL},
    run,
    NULL,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

/* asyncselect: WSAAsyncSelect on a message-only window, one thread.
 *
 * Winsock turns socket readiness into window messages: the listener posts
 * FD_ACCEPT, each connection FD_READ, FD_WRITE and FD_CLOSE, and one thread
 * running an ordinary GetMessage loop serves them all. The window is
 * message-only (parent HWND_MESSAGE): never shown, no desktop needed.
 *
 * The rule that shapes this file: a notification is posted once, and posted
 * again only after the matching call has been made - FD_READ after a recv,
 * FD_WRITE after a send that failed with WSAEWOULDBLOCK, FD_ACCEPT after an
 * accept. A connection whose echo buffer is full skips the recv, so no
 * further FD_READ will come: once sending frees room, the server must call
 * recv itself, which either reads or re-enables FD_READ by failing with
 * WSAEWOULDBLOCK.
 *
 * Messages carry only the socket handle, so connections are found in a hash
 * table. A message may also outlive its socket (posted before the socket was
 * closed, or even addressed to a new socket that reuses the handle): each
 * message is therefore only a hint to try recv and send again, and what those
 * calls return is the truth. */
#define _WINSOCK_DEPRECATED_NO_WARNINGS /* MSVC deprecates WSAAsyncSelect: it is the subject here */
#include "server.h"

#include <stdint.h>
#include <stdlib.h>

enum {
    WM_SOCKET_EVENT = WM_APP + 1, /* from WSAAsyncSelect: wParam the socket, lParam the event */
    WM_STOP_SERVER                /* from wake() */
};
enum { ACCEPTS_PER_MESSAGE = 64, INITIAL_TABLE_SLOTS = 64 };
/* A safety net for a lost FD_ACCEPT (see run()): the backlog is checked
 * this often even when no message announced a client. */
enum { ACCEPT_SWEEP_TIMER = 1, ACCEPT_SWEEP_MS = 250 };

typedef struct connection {
    SOCKET socket;
    echo_buffer echo;    /* received and not yet echoed */
    int read_wanted;     /* readable and no recv made for it yet */
    int peer_closed;     /* FD_CLOSE came: read on without waiting for FD_READ */
    int write_blocked;   /* send failed with WSAEWOULDBLOCK: wait for FD_WRITE */
    int input_ended;     /* recv returned 0: the client will send nothing more */
} connection;

/* Open addressing with linear probing: lookups stay O(1) with thousands of
 * connections. Never more than half full, so probe runs stay short. */
typedef struct connection_table {
    connection **slots; /* NULL: free */
    size_t capacity;    /* a power of two */
    size_t count;
} connection_table;

typedef struct async_state {
    server *s;
    HWND window;
    connection_table connections;
} async_state;

/* One server per process; the window procedure has no other way to it, and
 * wake() may still look at it from another thread as run() returns. */
static async_state state;
static const wchar_t window_class[] = L"winsock-bench asyncselect";

static size_t home_slot(const connection_table *t, SOCKET socket)
{
    /* Handles are multiples of 4: a multiplicative hash spreads them out. */
    uint64_t h = (uint64_t)socket * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (t->capacity - 1);
}

static connection *table_find(const connection_table *t, SOCKET socket)
{
    for (size_t i = home_slot(t, socket); t->slots[i]; i = (i + 1) & (t->capacity - 1)) {
        if (t->slots[i]->socket == socket)
            return t->slots[i];
    }
    return NULL;
}

static void table_place(connection_table *t, connection *c)
{
    size_t i = home_slot(t, c->socket);
    while (t->slots[i])
        i = (i + 1) & (t->capacity - 1);
    t->slots[i] = c;
    t->count++;
}

static int table_init(connection_table *t, size_t capacity)
{
    t->slots = calloc(capacity, sizeof *t->slots); /* NOLINT(bugprone-sizeof-expression): of pointers */
    t->capacity = t->slots ? capacity : 0;
    t->count = 0;
    return t->slots ? 0 : -1;
}

static int table_insert(connection_table *t, connection *c)
{
    if ((t->count + 1) * 2 > t->capacity) {
        connection_table bigger;
        if (table_init(&bigger, t->capacity * 2) != 0)
            return -1;
        for (size_t i = 0; i < t->capacity; ++i) {
            if (t->slots[i])
                table_place(&bigger, t->slots[i]);
        }
        free(t->slots);
        *t = bigger;
    }
    table_place(t, c);
    return 0;
}

/* Deletion without tombstones: entries after the hole that probed past it
 * move back into it, so every lookup still finds them before a free slot. */
static void table_remove(connection_table *t, SOCKET socket)
{
    size_t mask = t->capacity - 1, hole = home_slot(t, socket);
    while (t->slots[hole]->socket != socket)
        hole = (hole + 1) & mask;
    t->slots[hole] = NULL;
    t->count--;
    for (size_t i = (hole + 1) & mask; t->slots[i]; i = (i + 1) & mask) {
        size_t home = home_slot(t, t->slots[i]->socket);
        /* It may move unless its home lies (cyclically) after the hole. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = t->slots[i];
            t->slots[i] = NULL;
            hole = i;
        }
    }
}

static void release_connection(async_state *a, connection *c, closing how)
{
    server_close(c->socket, how);
    echo_buffer_free(&c->echo);
    free(c);
    server_connection_closed(a->s);
}

static void close_connection(async_state *a, connection *c, closing how)
{
    table_remove(&a->connections, c->socket);
    release_connection(a, c, how);
}

/* One recv into the free space of the ring. Returns -1 when the connection failed. */
static int receive(async_state *a, connection *c)
{
    switch (server_receive(a->s, c->socket, &c->echo)) {
    case IO_PEER_FINISHED:
        c->input_ended = 1;
        return 0;
    case IO_WOULD_BLOCK:
        c->read_wanted = 0; /* FD_READ is enabled again and will announce the next bytes */
        return 0;
    case IO_FAILED:
        return -1;
    default:
        return 0;
    }
}

/* Sends pending echo until it is all gone or send fails with WSAEWOULDBLOCK:
 * only that failure promises an FD_WRITE, so stopping after a partial send
 * could leave the rest waiting for a message that never comes. Returns -1
 * when the connection failed. */
static int flush(async_state *a, connection *c)
{
    if (c->write_blocked)
        return 0;
    switch (server_send_pending(a->s, c->socket, &c->echo)) {
    case IO_WOULD_BLOCK:
        c->write_blocked = 1; /* FD_WRITE will say when the socket takes more */
        return 0;
    case IO_FAILED:
        return -1;
    default:
        return 0;
    }
}

static int can_read(const connection *c)
{
    return c->read_wanted && !c->input_ended && !echo_buffer_is_full(&c->echo);
}

/* One recv per FD_READ: each recv re-enables FD_READ, and Winsock posts a new
 * one at once while bytes remain, so reading in a loop would flood the queue
 * with messages for bytes already taken. The loop below runs a second time
 * only when the buffer was full and the flush made room: the recv skipped
 * then is made now, or FD_READ would never be re-enabled. */
static void serve(async_state *a, connection *c)
{
    do {
        if (can_read(c)) {
            /* After FD_CLOSE no further FD_READ is promised: the rest of the
             * input is read on until recv returns 0. */
            c->read_wanted = c->peer_closed;
            if (receive(a, c) != 0) {
                close_connection(a, c, CLOSE_FAILED);
                return;
            }
        }
        if (flush(a, c) != 0) {
            close_connection(a, c, CLOSE_FAILED);
            return;
        }
        if (c->input_ended && echo_buffer_is_empty(&c->echo)) {
            close_connection(a, c, CLOSE_GRACEFULLY);
            return;
        }
    } while (can_read(c));
}

static void open_connection(async_state *a, SOCKET client)
{
    connection *c = calloc(1, sizeof *c);
    if (c) {
        c->socket = client;
        c->read_wanted = 1; /* bytes may have come with the connection */
        if (echo_buffer_init(&c->echo, a->s->options.buffer_size) == 0 &&
            table_insert(&a->connections, c) == 0) {
            /* The accepted socket inherited the listener's FD_ACCEPT
             * registration; this replaces it with the connection's events. */
            if (WSAAsyncSelect(client, a->window, WM_SOCKET_EVENT, FD_READ | FD_WRITE | FD_CLOSE) == 0) {
                serve(a, c);
                return;
            }
            table_remove(&a->connections, client);
        }
        echo_buffer_free(&c->echo);
        free(c);
    }
    closesocket(client);
    stats_error(&a->s->stats, ERROR_RESOURCE);
    server_connection_closed(a->s);
}

/* Each accept re-enables FD_ACCEPT, so connections left in the backlog after
 * this bounded batch get a new message and wait behind other sockets. */
static void accept_clients(async_state *a)
{
    for (int i = 0; i < ACCEPTS_PER_MESSAGE && !server_stopping(a->s); ++i) {
        SOCKET client = accept(a->s->listener, NULL, NULL);
        if (client == INVALID_SOCKET) {
            int error = WSAGetLastError();
            if (error != WSAEWOULDBLOCK)
                server_count_io_error(a->s, error, ERROR_ACCEPT);
            return;
        }
        if (server_admit(a->s, client))
            open_connection(a, client);
    }
}

static void on_socket_event(async_state *a, SOCKET socket, WORD event)
{
    if (socket == a->s->listener) {
        accept_clients(a);
        return;
    }
    connection *c = table_find(&a->connections, socket);
    if (!c)
        return; /* closed after the message was posted */
    /* The error in the message is not acted on: the message may be stale,
     * and recv or send report a real reset themselves. FD_CLOSE may arrive
     * with bytes still unread, and after a reset only a call finds out. */
    if (event == FD_READ || event == FD_CLOSE)
        c->read_wanted = 1;
    if (event == FD_CLOSE)
        c->peer_closed = 1;
    if (event == FD_WRITE || event == FD_CLOSE)
        c->write_blocked = 0;
    serve(a, c);
}

static LRESULT CALLBACK window_procedure(HWND window, UINT message, WPARAM wparam, LPARAM lparam)
{
    switch (message) {
    case WM_SOCKET_EVENT:
        on_socket_event(&state, (SOCKET)wparam, WSAGETSELECTEVENT(lparam));
        return 0;
    case WM_TIMER:
        if (wparam == ACCEPT_SWEEP_TIMER)
            accept_clients(&state);
        return 0;
    case WM_STOP_SERVER:
        return 0; /* it only had to end the wait in GetMessage */
    default:
        return DefWindowProcW(window, message, wparam, lparam);
    }
}

static void close_all(async_state *a)
{
    connection_table *t = &a->connections;
    for (size_t i = 0; i < t->capacity; ++i) {
        connection *c = t->slots[i];
        if (c)
            release_connection(a, c, echo_buffer_is_empty(&c->echo) ? CLOSE_GRACEFULLY : CLOSE_ABORTIVELY);
    }
    free(t->slots);
    t->slots = NULL;
    t->capacity = t->count = 0;
}

/* The stop event is checked before each message, not left to a message of
 * its own: posted messages are served in order, so under load a stop would
 * wait behind every socket message queued before it (and WM_QUIT, posted by
 * PostQuitMessage, even until the queue is empty, which may be never). */
static int pump_messages(server *s)
{
    MSG message;
    BOOL got = 1;
    while (!server_stopping(s) && (got = GetMessageW(&message, NULL, 0, 0)) > 0)
        DispatchMessageW(&message);
    if (got < 0) {
        server_log_error(s, (int)GetLastError(), "GetMessage failed");
        return 1;
    }
    return 0;
}

static int run(server *s)
{
    async_state *a = &state;
    HINSTANCE instance = GetModuleHandleW(NULL);
    WNDCLASSEXW description = {0};
    int rc = 1;
    a->s = s;
    description.cbSize = sizeof description;
    description.lpfnWndProc = window_procedure;
    description.hInstance = instance;
    description.lpszClassName = window_class;
    if (!RegisterClassExW(&description)) {
        server_log_error(s, (int)GetLastError(), "cannot register the window class");
        return 1;
    }
    a->window = CreateWindowExW(0, window_class, L"", 0, 0, 0, 0, 0, HWND_MESSAGE, NULL, instance, NULL);
    if (!a->window) {
        server_log_error(s, (int)GetLastError(), "cannot create the message window");
    } else if (table_init(&a->connections, INITIAL_TABLE_SLOTS) != 0) {
        server_log(s, "out of memory for the connection table");
    } else if (WSAAsyncSelect(s->listener, a->window, WM_SOCKET_EVENT, FD_ACCEPT) != 0) {
        server_log_error(s, WSAGetLastError(), "WSAAsyncSelect on the listener failed");
    } else {
        /* Wine 8 now and then fails to post FD_ACCEPT again after accept()
         * re-enabled it (seen in about 1 of 8 runs of the max-connections
         * test): a client would then wait in the backlog for ever. A timer
         * that sweeps the backlog bounds that wait; on Windows it only costs
         * four accept calls a second that find nothing. */
        SetTimer(a->window, ACCEPT_SWEEP_TIMER, ACCEPT_SWEEP_MS, NULL);
        /* Published for wake() before the loop's first stop check: a stop
         * requested earlier is seen there, a later one posts WM_STOP_SERVER. */
        InterlockedExchangePointer(&s->model_state, a->window);
        rc = pump_messages(s);
        InterlockedExchangePointer(&s->model_state, NULL);
        WSAAsyncSelect(s->listener, a->window, 0, 0); /* no more FD_ACCEPT */
    }
    if (a->connections.slots)
        close_all(a);
    if (a->window)
        DestroyWindow(a->window);
    a->window = NULL;
    UnregisterClassW(window_class, instance);
    return rc;
}

/* Runs on the thread that requests the stop. Should the post fail because
 * the queue holds Windows' maximum of 10,000 messages, GetMessage is not
 * waiting anyway: the loop sees the stop event before its next message. */
static void wake(server *s)
{
    HWND window = InterlockedCompareExchangePointer(&s->model_state, NULL, NULL);
    if (window)
        PostMessageW(window, WM_STOP_SERVER, 0, 0);
}

static const server_model model = {
    {.name = "asyncselect", .summary = "one thread, WSAAsyncSelect on a message-only window"},
    run,
    wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

/* asyncselect: WSAAsyncSelect on a message-only window, one thread.
 *
 * A backend of the readiness engine (servers/core/readiness.h). Winsock
 * turns socket readiness into window messages: the listener posts FD_ACCEPT,
 * each connection FD_READ, FD_WRITE and FD_CLOSE, and one thread running an
 * ordinary GetMessage loop serves them all. The window is message-only
 * (parent HWND_MESSAGE): never shown, no desktop needed. Nothing limits the
 * sockets one window serves, so there is one loop.
 *
 * A notification is posted once, and posted again only after the matching
 * call has been made - FD_READ after a recv, FD_WRITE after a send that
 * failed with WSAEWOULDBLOCK, FD_ACCEPT after an accept - which is just how
 * the engine's step reads and writes. Messages carry only the socket handle,
 * so the connection is found in the engine's table by it; a message may
 * outlive its socket (or name a new socket that reuses the handle), and the
 * engine treats every readiness as a hint that recv and send then check. */
#define _WINSOCK_DEPRECATED_NO_WARNINGS /* MSVC deprecates WSAAsyncSelect: it is the subject here */
#include "readiness.h"

enum {
    WM_SOCKET_EVENT = WM_APP + 1, /* from WSAAsyncSelect: wParam the socket, lParam the event */
    WM_WAKE_UP                    /* from wake_loop(): only ends the wait in GetMessage */
};
enum { ACCEPT_SWEEP_TIMER = 1, ACCEPT_SWEEP_MS = 250 };

/* The window procedure has no other way to its loop. */
static loop *the_loop;
static const wchar_t window_class[] = L"winsock-bench asyncselect";

static int readiness_of(WORD event)
{
    switch (event) {
    case FD_READ:
        return READY_READ;
    case FD_WRITE:
        return READY_WRITE;
    case FD_CLOSE:
        return READY_CLOSE;
    default:
        return 0;
    }
}

/* The error a message carries is not acted on: the message may be stale,
 * and recv or send report a real reset themselves. */
static void on_socket_event(loop *l, SOCKET socket, WORD event)
{
    if (socket == loop_listener(l)) {
        loop_listener_ready(l);
        return;
    }
    connection *c = loop_find(l, socket);
    if (c)
        loop_ready(l, c, readiness_of(event));
}

static LRESULT CALLBACK window_procedure(HWND window, UINT message, WPARAM wparam, LPARAM lparam)
{
    switch (message) {
    case WM_SOCKET_EVENT:
        on_socket_event(the_loop, (SOCKET)wparam, WSAGETSELECTEVENT(lparam));
        return 0;
    case WM_TIMER:   /* the engine sweeps the backlog when the wait returns */
    case WM_WAKE_UP: /* the engine checks the stop flag when the wait returns */
        return 0;
    default:
        return DefWindowProcW(window, message, wparam, lparam);
    }
}

static void close_window(loop *l)
{
    HWND window = loop_state(l);
    if (window) {
        WSAAsyncSelect(loop_listener(l), window, 0, 0); /* no more FD_ACCEPT */
        DestroyWindow(window);
    }
    UnregisterClassW(window_class, GetModuleHandleW(NULL));
    the_loop = NULL;
}

static int open_window(loop *l)
{
    server *s = loop_server(l);
    HINSTANCE instance = GetModuleHandleW(NULL);
    WNDCLASSEXW description = {0};
    description.cbSize = sizeof description;
    description.lpfnWndProc = window_procedure;
    description.hInstance = instance;
    description.lpszClassName = window_class;
    if (!RegisterClassExW(&description)) {
        server_log_error(s, (int)GetLastError(), "cannot register the window class");
        return -1;
    }
    HWND window = CreateWindowExW(0, window_class, L"", 0, 0, 0, 0, 0, HWND_MESSAGE, NULL, instance, NULL);
    loop_set_state(l, window);
    the_loop = l;
    if (!window) {
        server_log_error(s, (int)GetLastError(), "cannot create the message window");
        close_window(l);
        return -1;
    }
    if (WSAAsyncSelect(loop_listener(l), window, WM_SOCKET_EVENT, FD_ACCEPT) != 0) {
        server_log_error(s, WSAGetLastError(), "WSAAsyncSelect on the listener failed");
        close_window(l);
        return -1;
    }
    /* Ends a GetMessage now and then, so that the engine's backlog sweep
     * runs even when no message comes. */
    SetTimer(window, ACCEPT_SWEEP_TIMER, ACCEPT_SWEEP_MS, NULL);
    return 0;
}

/* Replaces the FD_ACCEPT registration the socket inherited from the listener. */
static int watch(loop *l, connection *c)
{
    return WSAAsyncSelect(c->socket, loop_state(l), WM_SOCKET_EVENT, FD_READ | FD_WRITE | FD_CLOSE) == 0 ? 0 : -1;
}

/* Nothing: closesocket ends the registration, and a message still queued
 * for the socket finds no connection. */
static void unwatch(loop *l, connection *c)
{
    (void)l;
    (void)c;
}

/* One message per wait. GetMessage takes no timeout: the sweep timer's
 * WM_TIMER bounds the wait instead. */
static int wait_ready(loop *l, DWORD timeout_ms)
{
    MSG message;
    (void)timeout_ms;
    BOOL got = GetMessageW(&message, NULL, 0, 0);
    if (got < 0) {
        server_log_error(loop_server(l), (int)GetLastError(), "GetMessage failed");
        return -1;
    }
    if (got > 0)
        DispatchMessageW(&message);
    return 0;
}

/* Should the post fail because the queue holds Windows' maximum of 10,000
 * messages, GetMessage is not waiting anyway: the loop sees the stop flag
 * after its next message. */
static void wake_loop(loop *l)
{
    PostMessageW(loop_state(l), WM_WAKE_UP, 0, 0);
}

static const readiness_backend backend = {
    .sockets_per_loop = 0, /* one window, no limit */
    .accept_sweep_ms = ACCEPT_SWEEP_MS,
    .open = open_window,
    .close = close_window,
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
    {.name = "asyncselect", .summary = "one thread, WSAAsyncSelect on a message-only window"},
    run,
    readiness_wake,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

#include "lifecycle.h"

#include <stdlib.h>

void live_list_push(live_link **list, live_link *link, void *item)
{
    link->item = item;
    link->previous = NULL;
    link->next = *list;
    if (*list)
        (*list)->previous = link;
    *list = link;
}

void live_list_unlink(live_link **list, live_link *link)
{
    if (link->previous)
        link->previous->next = link->next;
    else
        *list = link->next;
    if (link->next)
        link->next->previous = link->previous;
    link->previous = link->next = NULL;
}

void connection_close(SOCKET *socket, closing how, int echo_pending)
{
    if (*socket == INVALID_SOCKET)
        return;
    server_close(*socket, closing_with_echo(how, echo_pending));
    *socket = INVALID_SOCKET;
}

int lifecycle_drain(server *s, const drain_hooks *hooks, void *context)
{
    DWORD last_progress = GetTickCount();
    int fewest = -1, interrupted = 0;
    for (;;) {
        int connections = 0, accepts = 0;
        int now = hooks->outstanding(context, &connections, &accepts);
        if (now == 0)
            return 0;
        if (fewest < 0 || now < fewest || interrupted > 0) {
            if (fewest < 0 || now < fewest)
                fewest = now;
            last_progress = GetTickCount();
        } else if (GetTickCount() - last_progress >= STOP_STALL_MS) {
            server_log(s,
                       "%d connections and %d accepts still had I/O outstanding, none completed for %d ms; "
                       "left to the process exit",
                       connections, accepts, STOP_STALL_MS);
            return -1;
        }
        interrupted = hooks->wait(context);
    }
}

int port_workers_start(port_workers *w, server *s, HANDLE port, unsigned(__stdcall *body)(void *), void *arg)
{
    int count = server_worker_count(s);
    memset(w, 0, sizeof *w);
    w->port = port;
    w->threads = calloc((size_t)count, sizeof *w->threads);
    if (!w->threads) {
        server_log(s, "out of memory");
        return -1;
    }
    /* A thread that cannot start is counted (server_start_thread); the
     * others serve on. */
    for (int i = 0; i < count; i++)
        if ((w->threads[w->started] = server_start_thread(s, body, arg, 0)) != NULL)
            w->started++;
    if (w->started == 0) {
        server_log(s, "cannot start any worker thread");
        return -1;
    }
    return 0;
}

void port_post_quit(HANDLE port)
{
    PostQueuedCompletionStatus(port, 0, PORT_QUIT_KEY, NULL);
}

void port_workers_stop(port_workers *w)
{
    for (int i = 0; i < w->started; i++)
        port_post_quit(w->port);
    for (int i = 0; i < w->started; i++) {
        WaitForSingleObject(w->threads[i], INFINITE);
        CloseHandle(w->threads[i]);
    }
    free(w->threads);
    w->threads = NULL;
    w->started = 0;
}

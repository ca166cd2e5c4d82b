#include "acceptex.h"

#include <stdlib.h>
#include <string.h>

int acceptex_pool_open(acceptex_pool *p, server *s, int with_events, const acceptex_hooks *hooks, void *context)
{
    GUID accept_ex_id = WSAID_ACCEPTEX;
    DWORD length;
    memset(p, 0, sizeof *p);
    p->s = s;
    p->hooks = hooks;
    p->context = context;
    InitializeCriticalSection(&p->lock);
    /* AcceptEx is a Microsoft extension reached through the provider of the
     * socket, not a plain export: the pointer certain to match the listener's
     * provider, the same way on MSVC. */
    if (WSAIoctl(s->listener, SIO_GET_EXTENSION_FUNCTION_POINTER, &accept_ex_id, sizeof accept_ex_id, &p->accept_ex,
                 sizeof p->accept_ex, &length, NULL, NULL) != 0) {
        server_log_error(s, WSAGetLastError(), "cannot find AcceptEx");
        return -1;
    }
    int count = s->options.accept_pool;
    p->ops = calloc((size_t)count, sizeof *p->ops);
    p->events = with_events ? calloc((size_t)count, sizeof *p->events) : NULL;
    if (!p->ops || (with_events && !p->events)) {
        server_log(s, "out of memory");
        return -1;
    }
    p->count = count;
    p->socket_flags = WSA_FLAG_OVERLAPPED;
    for (int i = 0; i < p->count; i++) {
        acceptex_op *op = &p->ops[i];
        op->pool = p;
        op->socket = INVALID_SOCKET;
        if (!with_events)
            continue;
        /* Auto-reset: the wait that reports it also resets it, so no extra
         * call per accept. */
        p->events[i] = CreateEventW(NULL, FALSE, FALSE, NULL);
        if (!p->events[i]) {
            server_log_error(s, (int)GetLastError(), "cannot create an accept event");
            return -1;
        }
        op->overlapped.hEvent = p->events[i]; /* kept by every post */
    }
    return 0;
}

/* Arms one op with a fresh socket, with the pool's lock held. Returns 1 when
 * its AcceptEx is outstanding, 0 when it is out of service (stopping, out of
 * sockets, or AcceptEx failed other than for a client gone from the backlog). */
static int post(acceptex_pool *p, acceptex_op *op)
{
    server *s = p->s;
    while (!p->stopping) {
        DWORD unused;
        int error = 0;
        op->socket = WSASocketW(s->family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, p->socket_flags);
        if (op->socket == INVALID_SOCKET) {
            stats_error(&s->stats, ERROR_RESOURCE);
            return 0;
        }
        overlapped_prepare(&op->overlapped); /* an event model polls it */
        if (p->hooks->starting)
            p->hooks->starting(p->context, op);
        /* No receive data: an idle client is accepted at once, not when it
         * first sends (it might never send at all). An AcceptEx that succeeds
         * at once still completes the usual way (port, callback or event). */
        if (!p->accept_ex(s->listener, op->socket, op->addresses, 0, ACCEPTEX_ADDRESS_LENGTH, ACCEPTEX_ADDRESS_LENGTH,
                          &unused, &op->overlapped))
            error = WSAGetLastError();
        if (error == 0 || error == ERROR_IO_PENDING) {
            op->pending = 1;
            p->outstanding++;
            return 1;
        }
        if (p->hooks->not_started)
            p->hooks->not_started(p->context, op);
        closesocket(op->socket);
        op->socket = INVALID_SOCKET;
        if (!server_count_accept_failure(s, error)) {
            server_log_error(s, error, "AcceptEx failed; one accept fewer in the pool");
            return 0;
        }
    }
    return 0;
}

int acceptex_pool_arm(acceptex_pool *p)
{
    EnterCriticalSection(&p->lock);
    for (int i = 0; i < p->count; i++)
        if (!p->ops[i].pending)
            post(p, &p->ops[i]);
    int outstanding = p->outstanding;
    LeaveCriticalSection(&p->lock);
    return outstanding;
}

/* The op stays counted as outstanding until it is armed again or out of
 * service, hand-over included: the stop must not free what a completion
 * being handled still uses. */
void acceptex_completed(acceptex_op *op, int ok)
{
    acceptex_pool *p = op->pool;
    server *s = p->s;
    SOCKET client = op->socket;
    int error = 0, stopping;
    DWORD unused, flags;
    op->socket = INVALID_SOCKET;
    EnterCriticalSection(&p->lock);
    stopping = p->stopping;
    /* The failure's Winsock error, for the counting rule; under the lock,
     * where the listener is certain to be open. */
    if (!stopping && !ok && !WSAGetOverlappedResult(s->listener, &op->overlapped, &unused, FALSE, &flags))
        error = WSAGetLastError();
    /* Gives the accepted socket the listener's properties; without it
     * shutdown() and getpeername() fail on it with WSAENOTCONN. */
    if (!stopping && ok &&
        setsockopt(client, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&s->listener, sizeof s->listener) != 0) {
        ok = 0;
        error = WSAGetLastError();
    }
    LeaveCriticalSection(&p->lock);
    if (stopping) {
        closesocket(client); /* accepted just before the stop, or cancelled by it */
    } else if (!ok) {
        server_count_accept_failure(s, error);
        closesocket(client);
    } else if (server_admit(s, client)) {
        p->hooks->accepted(p->context, client);
    }
    EnterCriticalSection(&p->lock);
    op->pending = 0;
    p->outstanding--;
    post(p, op); /* nothing when stopping */
    LeaveCriticalSection(&p->lock);
}

void acceptex_pool_poll(acceptex_pool *p)
{
    for (int i = 0; i < p->count; i++) {
        acceptex_op *op = &p->ops[i];
        /* A re-armed op may complete at once: take it again. */
        while (op->pending && overlapped_finished(&op->overlapped))
            acceptex_completed(op, op->overlapped.Internal == 0);
    }
}

void acceptex_pool_stop(acceptex_pool *p)
{
    if (!p->s)
        return; /* never opened */
    EnterCriticalSection(&p->lock);
    p->stopping = 1;
    if (p->s->listener != INVALID_SOCKET)
        closesocket(p->s->listener);
    p->s->listener = INVALID_SOCKET;
    LeaveCriticalSection(&p->lock);
}

int acceptex_pool_outstanding(acceptex_pool *p)
{
    if (!p->s)
        return 0; /* never opened */
    EnterCriticalSection(&p->lock);
    int outstanding = p->outstanding;
    LeaveCriticalSection(&p->lock);
    return outstanding;
}

int acceptex_pool_left(acceptex_pool *p)
{
    if (p->events)
        acceptex_pool_poll(p);
    return acceptex_pool_outstanding(p);
}

void acceptex_pool_close(acceptex_pool *p)
{
    if (!p->s)
        return; /* never opened */
    for (int i = 0; p->events && i < p->count; i++)
        if (p->events[i])
            CloseHandle(p->events[i]);
    free(p->events);
    free(p->ops);
    DeleteCriticalSection(&p->lock);
}

/* ---- The run of an AcceptEx model --------------------------------------- */

static int serve_until_stopped(acceptex_server *a, const acceptex_model *m)
{
    if (m->worker && port_workers_start(&a->workers, a->s, a->port, m->worker, a) != 0)
        return 1;
    if (acceptex_pool_arm(&a->accepts) == 0) {
        server_log(a->s, "cannot post any AcceptEx");
        return 1;
    }
    if (m->serve)
        return m->serve(a);
    WaitForSingleObject(a->s->stop_event, INFINITE);
    return 0;
}

int acceptex_run(acceptex_server *a, const acceptex_model *m)
{
    int rc = m->open(a) == 0 ? serve_until_stopped(a, m) : 1;
    /* Closing the listener ends the pool's AcceptEx calls. */
    acceptex_pool_stop(&a->accepts);
    int drained = m->drain(a) == 0;
    /* Only now, with every connection gone, may the workers go: until then
     * a completion may still come for them to finish. */
    port_workers_stop(&a->workers);
    if (!drained)
        return 1; /* the system may still write into what is left: the process exit takes it */
    if (m->close)
        m->close(a);
    acceptex_pool_close(&a->accepts);
    if (a->port)
        CloseHandle(a->port);
    return rc;
}

int acceptex_serve_events(acceptex_server *a, BOOL alertable)
{
    server *s = a->s;
    acceptex_pool *p = &a->accepts;
    HANDLE handles[1 + ACCEPTEX_MAX_EVENT_POOL];
    DWORD waited = (DWORD)(1 + p->count);
    handles[0] = s->stop_event;
    memcpy(handles + 1, p->events, (size_t)p->count * sizeof *handles);
    while (!server_stopping(s)) {
        int idle = acceptex_pool_outstanding(p) < p->count;
        DWORD woke = WaitForMultipleObjectsEx(waited, handles, FALSE, idle ? 1000 : INFINITE, alertable);
        if (woke == WAIT_FAILED) {
            server_log_error(s, (int)GetLastError(), "the wait failed");
            return 1;
        }
        /* Every op, not only the event the wait named: several AcceptEx may
         * have completed (and with auto-reset events, only the named one was
         * reset). */
        acceptex_pool_poll(p);
        if (idle && woke == WAIT_TIMEOUT)
            acceptex_pool_arm(p);
    }
    return 0;
}

/* The overlapped-events model: overlapped I/O with event-object notification.
 *
 * Each connection has one event object; its one overlapped operation at a
 * time (the shared completion engine, core/completion.c) signals it when it
 * completes. A thread can wait on at most WSA_MAXIMUM_WAIT_EVENTS (64)
 * handles, so connections live in groups of up to 63, each served by its own
 * thread waiting in WSAWaitForMultipleEvents on the group's events plus a
 * wake event: as many threads as the connections need, and no cap. The main
 * thread waits on the stop event and the events of the shared AcceptEx pool,
 * and hands each new connection to the first group with room.
 *
 * Auto-reset events: the wait that reports one also resets it, so no
 * WSAResetEvent per message. A wait names only the first signalled handle,
 * so after any wake-up the group looks at every member's OVERLAPPED (user
 * mode, no system call) and finishes each completed operation: a busy member
 * at a low index cannot starve the others. A member finished that way leaves
 * its event signalled; the next wait then returns at once and finds nothing
 * new, which costs one wait, not a lost wake-up.
 *
 * Everything a connection does happens on its group's thread (opening it,
 * its operations, their completions, freeing it); only the stop's sweep
 * reaches in from the main thread, under the connection's lock. So a
 * group's arrays need no lock of their own; only its inbox does. */
#include "acceptex.h"
#include "completion.h"

#include <stdlib.h>
#include <string.h>

/* Connections per group: one handle of the wait is the wake event. */
#define GROUP_SIZE (WSA_MAXIMUM_WAIT_EVENTS - 1)
/* A group thread's stack: it only runs the step. */
#define GROUP_STACK (256 * 1024)

typedef struct events_server events_server;

typedef struct group {
    events_server *owner;
    HANDLE thread;
    HANDLE wake;           /* auto-reset: new connections in the inbox, or quit */
    CRITICAL_SECTION lock; /* guards inbox, assigned and quit */
    SOCKET inbox[GROUP_SIZE];
    int inbox_count;
    int assigned; /* members plus the inbox: never more than GROUP_SIZE */
    int quit;
    /* The group thread's own: handles[0] is wake, handles[1 + i] members[i]'s event. */
    completion_conn *members[GROUP_SIZE];
    HANDLE handles[1 + GROUP_SIZE];
    int count;
    struct group *next;
} group;

struct events_server {
    completion_server base; /* first: the run's functions get it */
    group *groups;          /* the main thread's */
};

/* ---- A group's members ------------------------------------------------- */

static int attach(completion_conn *c)
{
    group *g = c->model_data;
    HANDLE event = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!event)
        return -1;
    c->overlapped.hEvent = event; /* kept by every operation (see completion.c's start) */
    g->members[g->count] = c;
    g->handles[1 + g->count] = event;
    g->count++;
    return 0;
}

static void detach(completion_conn *c)
{
    group *g = c->model_data;
    for (int i = 0; i < g->count; i++) {
        if (g->members[i] != c)
            continue;
        CloseHandle(g->handles[1 + i]);
        g->count--;
        g->members[i] = g->members[g->count];
        g->handles[1 + i] = g->handles[1 + g->count];
        break;
    }
    EnterCriticalSection(&g->lock);
    g->assigned--;
    LeaveCriticalSection(&g->lock);
}

static const completion_hooks connection_hooks = {attach, NULL, NULL, detach};

/* Finishes every member whose operation has completed. A member freed by
 * its completion is replaced at its index by the last one, which is then
 * looked at in its turn. */
static void finish_completed(group *g)
{
    for (int i = 0; i < g->count;) {
        completion_conn *c = g->members[i];
        if (!completion_has_completed(c)) {
            i++;
            continue;
        }
        /* Internal and InternalHigh are the status and byte count the
         * system wrote when the operation completed. */
        completion_done(c, c->overlapped.Internal == 0, (DWORD)c->overlapped.InternalHigh);
        if (i < g->count && g->members[i] == c)
            i++;
    }
}

/* Opens what the main thread handed over; returns whether to quit. */
static int take_inbox(group *g)
{
    SOCKET taken[GROUP_SIZE];
    EnterCriticalSection(&g->lock);
    int n = g->inbox_count, quit = g->quit;
    memcpy(taken, g->inbox, (size_t)n * sizeof *taken);
    g->inbox_count = 0;
    LeaveCriticalSection(&g->lock);
    for (int i = 0; i < n; i++) {
        if (completion_open(&g->owner->base.connections, taken[i], g) == 0)
            continue;
        EnterCriticalSection(&g->lock); /* it never became a member: its place is free again */
        g->assigned--;
        LeaveCriticalSection(&g->lock);
    }
    return quit;
}

static unsigned __stdcall serve_group(void *arg)
{
    group *g = arg;
    for (;;) {
        DWORD woke = WSAWaitForMultipleEvents((DWORD)(1 + g->count), g->handles, FALSE, WSA_INFINITE, FALSE);
        if (woke == WSA_WAIT_FAILED) {
            server_log_error(g->owner->base.base.s, WSAGetLastError(), "a group's wait failed");
            server_request_stop(g->owner->base.base.s);
            Sleep(10); /* the stop's sweep ends the members; their completions come here */
        }
        if (woke == WSA_WAIT_EVENT_0 && take_inbox(g))
            return 0; /* quit: only once every connection is gone */
        finish_completed(g);
    }
}

/* ---- Groups (the main thread's) ----------------------------------------- */

/* A new group, or NULL (counted as a `resource` error) when it lacks
 * memory, an event or a thread. */
static group *start_group(events_server *es)
{
    group *g = calloc(1, sizeof *g);
    if (!g) {
        stats_error(&es->base.base.s->stats, ERROR_RESOURCE);
        return NULL;
    }
    g->owner = es;
    g->wake = CreateEventW(NULL, FALSE, FALSE, NULL);
    InitializeCriticalSection(&g->lock);
    g->handles[0] = g->wake;
    if (!g->wake)
        stats_error(&es->base.base.s->stats, ERROR_RESOURCE);
    else
        g->thread = server_start_thread(es->base.base.s, serve_group, g, GROUP_STACK); /* counts its own failure */
    if (!g->thread) {
        if (g->wake)
            CloseHandle(g->wake);
        DeleteCriticalSection(&g->lock);
        free(g);
        return NULL;
    }
    g->next = es->groups;
    es->groups = g;
    return g;
}

/* Puts a socket into g's inbox if g has room. */
static int hand_to(group *g, SOCKET client)
{
    EnterCriticalSection(&g->lock);
    int room = g->assigned < GROUP_SIZE;
    if (room) {
        g->assigned++;
        g->inbox[g->inbox_count++] = client;
    }
    LeaveCriticalSection(&g->lock);
    if (room)
        SetEvent(g->wake);
    return room;
}

static void accepted(void *context, SOCKET client)
{
    events_server *es = context;
    for (group *g = es->groups; g; g = g->next)
        if (hand_to(g, client))
            return;
    group *fresh = start_group(es);
    if (fresh && hand_to(fresh, client))
        return;
    server_drop(es->base.base.s, client); /* no group for it: start_group counted why */
}

static const acceptex_hooks accept_hooks = {accepted, NULL, NULL};

static void end_groups(events_server *es)
{
    for (group *g = es->groups, *next; g; g = next) {
        next = g->next;
        EnterCriticalSection(&g->lock);
        g->quit = 1;
        LeaveCriticalSection(&g->lock);
        SetEvent(g->wake);
        WaitForSingleObject(g->thread, INFINITE);
        CloseHandle(g->thread);
        CloseHandle(g->wake);
        DeleteCriticalSection(&g->lock);
        free(g);
    }
    es->groups = NULL;
}

/* ---- Life cycle -------------------------------------------------------- */

static int open_events(acceptex_server *a)
{
    return completion_server_open((completion_server *)a, &connection_hooks, &accept_hooks, 1);
}

/* This thread waits for the accepts, which signal their events here; the
 * groups serve the connections. */
static int accept_until_stopped(acceptex_server *a)
{
    return acceptex_serve_events(a, FALSE);
}

/* Once every connection is gone the groups have nothing left to wait for. */
static void close_groups(acceptex_server *a)
{
    end_groups((events_server *)a);
    completion_server_close(a);
}

static int run(server *s)
{
    static const acceptex_model lifecycle = {open_events, NULL, accept_until_stopped, completion_server_drain,
                                             close_groups};
    static events_server es;
    es.base.base.s = s;
    return acceptex_run(&es.base.base, &lifecycle);
}

static const server_model model = {
    {.name = "overlapped-events",
     .summary = "overlapped I/O with event notification: groups of 63 connections per thread, a pool of AcceptEx",
     .has_accept_pool = 1,
     .default_accept_pool = 16,
     .max_accept_pool = ACCEPTEX_MAX_EVENT_POOL},
    run,
    NULL, /* run() waits on stop_event itself */
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &model);
}

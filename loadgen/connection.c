/* One connection of an event loop (see connection.h). Portable: sockets
 * via net.h; what it counts and what it decides is the owner's, told
 * through the context's events. */
#include "connection.h"

#include <stdlib.h>

#include "pattern.h"
#include "platform.h"

#define MAX_READS_PER_EVENT 16

static const connection_events *events(const connection *c)
{
    return &c->context->events;
}

static bool is_churn(const connection *c)
{
    return c->context->workload == WORKLOAD_CHURN;
}

static uint64_t stream_bytes_issued(const connection *c)
{
    return c->issued * c->context->size;
}

bool connection_init(connection *c, const connection_context *context, uint64_t id, uint64_t quota, bool idle,
                     size_t pending_capacity)
{
    *c = (connection){.context = context,
                      .socket = NET_INVALID_SOCKET,
                      .id = id,
                      .state = CONN_FREE,
                      .idle = idle,
                      .quota = quota,
                      .pending_capacity = pending_capacity};
    c->pending = malloc(pending_capacity * sizeof *c->pending);
    return c->pending != NULL;
}

void connection_release(connection *c)
{
    free(c->pending);
    c->pending = NULL;
}

void connection_close(connection *c, connection_state next)
{
    if (c->state == CONN_CONNECTING || c->state == CONN_OPEN || c->state == CONN_CLOSING)
        net_close(c->context->loop, c->socket);
    c->state = next;
    c->pending_count = 0;
    c->watching_write = false;
    events(c)->closed(events(c)->owner, c);
}

/* A connection that failed is closed after its owner counted it; a churn
 * slot becomes free for the next operation (which the owner starts from
 * its periodic check, so a failing server cannot make it spin). */
static void fail(connection *c, error_kind kind, uint64_t now)
{
    events(c)->failed(events(c)->owner, c, kind, now);
    connection_close(c, is_churn(c) ? CONN_FREE : CONN_DEAD);
}

static void connect_failed(connection *c, connect_stage stage, net_status status, uint64_t now)
{
    events(c)->connect_failed(events(c)->owner, c, stage, status, now);
    fail(c, ERROR_CONNECT_FAILED, now);
}

/* Notes a message as issued; false when out of memory. */
static bool push_pending(connection *c, uint64_t intended_ns, uint64_t actual_ns)
{
    if (c->pending_count == c->pending_capacity) {
        /* Only the open-loop rate workload can outgrow its first ring. */
        size_t capacity = c->pending_capacity * 2;
        send_time *ring = malloc(capacity * sizeof *ring);
        if (!ring)
            return false;
        for (size_t i = 0; i < c->pending_count; i++)
            ring[i] = c->pending[(c->pending_head + i) % c->pending_capacity];
        free(c->pending);
        c->pending = ring;
        c->pending_head = 0;
        c->pending_capacity = capacity;
    }
    c->pending[(c->pending_head + c->pending_count) % c->pending_capacity] = (send_time){intended_ns, actual_ns};
    c->pending_count++;
    c->issued++;
    return true;
}

/* Sends what the kernel takes now of the issued bytes; watches for
 * writability only while some are left. */
static void flush(connection *c, uint64_t now)
{
    const connection_context *x = c->context;
    while (c->sent < stream_bytes_issued(c)) {
        uint64_t left = stream_bytes_issued(c) - c->sent;
        size_t chunk = (size_t)(left < IO_BUFFER_BYTES ? left : IO_BUFFER_BYTES);
        pattern_fill(x->seed, c->id, c->sent, x->send_buffer, chunk);
        size_t done = 0;
        net_status status = net_send(c->socket, x->send_buffer, chunk, &done);
        if (status == NET_WOULD_BLOCK)
            break;
        if (status != NET_OK) {
            fail(c, ERROR_RESET, now);
            return;
        }
        c->sent += done;
        if (done < chunk)
            break;
    }
    bool want_write = c->sent < stream_bytes_issued(c);
    if (want_write != c->watching_write) {
        net_watch(x->loop, c->socket, c, true, want_write);
        c->watching_write = want_write;
    }
}

void connection_refill(connection *c, uint64_t now)
{
    bool stopping = !events(c)->may_issue(events(c)->owner);
    while (!stopping && c->state == CONN_OPEN && c->issued - c->completed < c->context->depth && c->issued < c->quota) {
        if (!push_pending(c, now, now))
            return;
    }
    if (c->state == CONN_OPEN)
        flush(c, now);
}

void connection_schedule_first(connection *c, uint64_t due_ns)
{
    c->next_due_ns = due_ns;
}

uint64_t connection_issue_due(connection *c, uint64_t now, const rate_schedule *schedule, uint64_t start_ns)
{
    if (c->state != CONN_OPEN || c->idle)
        return UINT64_MAX;
    uint64_t before = c->issued;
    while (c->next_due_ns <= now && c->issued < c->quota && push_pending(c, c->next_due_ns, now))
        c->next_due_ns = start_ns + rate_schedule_due_ns(schedule, c->id, c->issued);
    if (c->issued != before)
        flush(c, now);
    return c->state == CONN_OPEN && c->issued < c->quota ? c->next_due_ns : UINT64_MAX;
}

/* A message whose last byte came in at `now`. */
static void complete_message(connection *c, uint64_t now)
{
    send_time sent = c->pending[c->pending_head];
    c->pending_head = (c->pending_head + 1) % c->pending_capacity;
    c->pending_count--;
    c->completed++;
    events(c)->message_done(events(c)->owner, c, sent, now);
    if (is_churn(c)) {
        connection_close(c, CONN_FREE);
        events(c)->operation_done(events(c)->owner, c, now);
    }
}

/* Echoed bytes: checked against the stream at their offset, then every
 * message they complete is timed. A closed loop then tops up once for all
 * of them: one send for a read's worth of replies, not one per message. */
static void take_bytes(connection *c, const unsigned char *data, size_t length, uint64_t now)
{
    /* An idle connection sends nothing, so any byte it receives fails here. */
    uint64_t first_bad;
    if (!verifier_take(&c->echo, c->sent, data, length, &first_bad)) {
        fail(c, ERROR_MISMATCH, now);
        return;
    }
    uint64_t echoed = verifier_messages_done(&c->echo), completed_before = c->completed;
    if (echoed == completed_before)
        return;
    /* Read afresh, once: the event batch's time can be stale by the time
     * this read arrives, and the next messages are timed from here. */
    uint64_t arrived = platform_now_ns();
    while (c->state == CONN_OPEN && c->completed < echoed)
        complete_message(c, arrived);
    if (!is_churn(c) && c->context->workload != WORKLOAD_RATE)
        connection_refill(c, arrived);
}

/* Reads what is there, up to MAX_READS_PER_EVENT buffers so that one busy
 * connection cannot starve the others of the loop. */
static void on_readable(connection *c, uint64_t now)
{
    unsigned char *buffer = c->context->receive_buffer;
    for (int reads = 0; reads < MAX_READS_PER_EVENT && c->state == CONN_OPEN; reads++) {
        size_t done = 0;
        net_status status = net_recv(c->socket, buffer, IO_BUFFER_BYTES, &done);
        if (status == NET_WOULD_BLOCK)
            return;
        if (status != NET_OK) {
            fail(c, status == NET_CLOSED ? ERROR_EARLY_CLOSE : ERROR_RESET, now);
            return;
        }
        take_bytes(c, buffer, done, now);
        if (done < IO_BUFFER_BYTES)
            return;
    }
}

/* After our half-close only the server's FIN is awaited; whatever else
 * comes is no longer measured. */
static void on_readable_closing(connection *c)
{
    for (;;) {
        size_t done = 0;
        net_status status = net_recv(c->socket, c->context->receive_buffer, IO_BUFFER_BYTES, &done);
        if (status == NET_WOULD_BLOCK)
            return;
        if (status != NET_OK) {
            connection_close(c, CONN_DEAD);
            return;
        }
    }
}

/* Churn: an operation sends its one message as soon as it is connected. */
static void issue_operation_message(connection *c, uint64_t now)
{
    if (!push_pending(c, now, now)) {
        events(c)->out_of_memory(events(c)->owner, c);
        return;
    }
    flush(c, now);
}

static void on_connected(connection *c, uint64_t now)
{
    net_status status = net_connect_result(c->socket);
    if (status == NET_WOULD_BLOCK)
        return;
    if (status != NET_OK) {
        connect_failed(c, CONNECT_AT_RESULT, status, now);
        return;
    }
    c->state = CONN_OPEN;
    c->watching_write = false;
    net_watch(c->context->loop, c->socket, c, true, false);
    events(c)->connected(events(c)->owner, c, now);
    if (is_churn(c))
        issue_operation_message(c, now);
}

void connection_on_event(connection *c, const net_event *event, uint64_t now)
{
    if (c->state == CONN_CONNECTING && event->writable) {
        on_connected(c, now);
        return;
    }
    if (c->state == CONN_CLOSING && event->readable)
        on_readable_closing(c);
    if (c->state == CONN_OPEN && event->readable)
        on_readable(c, now);
    if (c->state == CONN_OPEN && event->writable)
        flush(c, now);
}

bool connection_start_connect(connection *c, uint64_t now)
{
    const connection_context *x = c->context;
    c->sent = c->issued = c->completed = 0;
    verifier_start(&c->echo, x->seed, c->id, x->size, x->verify);
    c->pending_count = c->pending_head = 0;
    c->connect_started_ns = now;
    net_status status = net_connect(x->loop, x->server, c, &c->socket);
    if (status == NET_OK) {
        c->state = CONN_CONNECTING;
        return true;
    }
    connect_failed(c, CONNECT_AT_START, status, now);
    return false;
}

void connection_start_operation(connection *c, uint64_t id, uint64_t now)
{
    c->id = id;
    c->quota = 1;
    connection_start_connect(c, now);
}

void connection_give_up_connect(connection *c, uint64_t now)
{
    if (c->state == CONN_CONNECTING)
        connect_failed(c, CONNECT_TIMED_OUT, NET_FAILED, now);
}

void connection_check_timeouts(connection *c, uint64_t now, uint64_t connect_timeout_ns, uint64_t reply_timeout_ns)
{
    if (c->state == CONN_CONNECTING && now - c->connect_started_ns > connect_timeout_ns)
        connection_give_up_connect(c, now);
    else if (c->state == CONN_OPEN && c->pending_count > 0 &&
             now - c->pending[c->pending_head].actual_ns > reply_timeout_ns)
        fail(c, ERROR_TIMEOUT, now);
}

void connection_half_close(connection *c)
{
    if (c->state != CONN_OPEN)
        return;
    net_shutdown_send(c->socket);
    net_watch(c->context->loop, c->socket, c, true, false);
    c->state = CONN_CLOSING;
}

/* One connection of an event loop: its byte streams (what was issued,
 * sent and echoed back, by offset), the timing of its messages, and how
 * it ends. Portable: sockets via net.h. */
#include <stdio.h>
#include <stdlib.h>

#include "connection.h"
#include "pattern.h"

#define MAX_READS_PER_EVENT 16

static bool in_window(const worker *w, uint64_t now)
{
    return now >= w->shared->measure_start_ns && (!w->shared->end_ns || now <= w->shared->end_ns);
}

static void count_error(worker *w, error_kind kind, uint64_t now)
{
    w->errors[kind]++;
    if (in_window(w, now))
        w->second_errors++;
    atomic_fetch_add_explicit(&w->progress_errors, 1, memory_order_relaxed);
}

void connection_close(connection *c, connection_state next)
{
    if (c->state == CONN_CONNECTING || c->state == CONN_OPEN || c->state == CONN_CLOSING)
        net_close(c->owner->loop, c->socket);
    c->state = next;
    c->owner->recount = true;
    c->pending_count = 0;
    c->watching_write = false;
}

/* A connection that failed is closed and counted; a churn slot is freed for
 * the next operation (started by the periodic check, so a failing server
 * cannot make us spin). */
void connection_fail(connection *c, error_kind kind, uint64_t now)
{
    count_error(c->owner, kind, now);
    connection_close(c, is_churn(c->owner) ? CONN_FREE : CONN_DEAD);
}

/* Churn stops at once when nothing has ever connected: each of its
 * operations would fail the same way, and the run must end within the
 * connect timeout. The other workloads have tried all their connections
 * by then and end by themselves. */
void connection_connect_failed(connection *c, const char *reason, bool server_absent, uint64_t now)
{
    worker *w = c->owner;
    bool unreachable = server_absent && !atomic_load_explicit(&w->shared->ever_connected, memory_order_relaxed);
    if (unreachable && !w->first_connect_failure)
        w->first_connect_failure = reason;
    connection_fail(c, ERROR_CONNECT_FAILED, now);
    if (unreachable && is_churn(w))
        shared_set_fatal(w->shared, "the server cannot be reached");
}

/* Whether a failed connect says that nobody serves the address. */
static bool means_server_absent(net_status status)
{
    return status != NET_NO_PORTS && status != NET_NO_RESOURCES;
}

bool connection_push_pending(connection *c, uint64_t intended_ns, uint64_t actual_ns)
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
void connection_flush(connection *c, uint64_t now)
{
    worker *w = c->owner;
    uint64_t size = opts(w)->size;
    while (c->sent < c->issued * size) {
        size_t chunk = (size_t)(c->issued * size - c->sent < IO_BUFFER_BYTES ? c->issued * size - c->sent : IO_BUFFER_BYTES);
        pattern_fill(opts(w)->seed, c->id, c->sent, w->send_buffer, chunk);
        size_t done = 0;
        net_status status = net_send(c->socket, w->send_buffer, chunk, &done);
        if (status == NET_WOULD_BLOCK)
            break;
        if (status != NET_OK) {
            connection_fail(c, ERROR_RESET, now);
            return;
        }
        c->sent += done;
        if (done < chunk)
            break;
    }
    bool want_write = c->sent < c->issued * size;
    if (want_write != c->watching_write) {
        net_watch(w->loop, c->socket, c, true, want_write);
        c->watching_write = want_write;
    }
}

static void issue(connection *c, uint64_t intended_ns, uint64_t now)
{
    if (!connection_push_pending(c, intended_ns, now)) {
        shared_set_fatal(c->owner->shared, "out of memory for outstanding messages");
        return;
    }
    connection_flush(c, now);
}

/* Closed loop: keep `depth` messages outstanding until the quota is met. */
void connection_refill(connection *c, uint64_t now)
{
    const loadgen_options *o = opts(c->owner);
    uint64_t depth = o->workload == WORKLOAD_PIPELINE ? o->depth : 1;
    bool stopping = c->owner->draining || atomic_load_explicit(&c->owner->shared->stop, memory_order_relaxed);
    while (!stopping && c->state == CONN_OPEN && c->issued - c->completed < depth && c->issued < c->quota) {
        if (!connection_push_pending(c, now, now))
            return;
    }
    if (c->state == CONN_OPEN)
        connection_flush(c, now);
}

/* A message whose last byte came in at `now`. */
static void complete_message(connection *c, uint64_t now)
{
    worker *w = c->owner;
    send_time sent = c->pending[c->pending_head];
    c->pending_head = (c->pending_head + 1) % c->pending_capacity;
    c->pending_count--;
    c->completed++;
    w->last_completion_ns = now;
    if (c->completed == c->quota)
        w->recount = true;
    atomic_fetch_add_explicit(&w->progress_messages, 1, memory_order_relaxed);
    if (in_window(w, now)) {
        histogram_record(w->latency, now - sent.intended_ns);
        histogram_record(w->second_latency, now - sent.intended_ns);
        if (w->latency_uncorrected)
            histogram_record(w->latency_uncorrected, now - sent.actual_ns);
        w->messages++;
        w->bytes += opts(w)->size;
        w->second_messages++;
    }
    if (is_churn(w)) {
        if (in_window(w, now))
            w->operations++;
        connection_close(c, CONN_FREE);
        connection_start_churn_operation(c, now);
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
        connection_fail(c, ERROR_MISMATCH, now);
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
    if (!is_churn(c->owner) && !is_rate(c->owner))
        connection_refill(c, arrived);
}

/* Reads what is there, up to MAX_READS_PER_EVENT buffers so that one busy
 * connection cannot starve the others of the loop. */
void connection_on_readable(connection *c, uint64_t now)
{
    worker *w = c->owner;
    for (int reads = 0; reads < MAX_READS_PER_EVENT && c->state == CONN_OPEN; reads++) {
        size_t done = 0;
        net_status status = net_recv(c->socket, w->receive_buffer, IO_BUFFER_BYTES, &done);
        if (status == NET_WOULD_BLOCK)
            return;
        if (status != NET_OK) {
            connection_fail(c, status == NET_CLOSED ? ERROR_EARLY_CLOSE : ERROR_RESET, now);
            return;
        }
        take_bytes(c, w->receive_buffer, done, now);
        if (done < IO_BUFFER_BYTES)
            return;
    }
}

/* After our half-close only the server's FIN is awaited; whatever else
 * comes is no longer measured. */
void connection_on_readable_closing(connection *c)
{
    for (;;) {
        size_t done = 0;
        net_status status = net_recv(c->socket, c->owner->receive_buffer, IO_BUFFER_BYTES, &done);
        if (status == NET_WOULD_BLOCK)
            return;
        if (status != NET_OK) {
            connection_close(c, CONN_DEAD);
            return;
        }
    }
}

void connection_on_connected(connection *c, uint64_t now)
{
    worker *w = c->owner;
    net_status status = net_connect_result(c->socket);
    if (status == NET_WOULD_BLOCK)
        return;
    if (status != NET_OK) {
        if (is_churn(w) && status == NET_REFUSED)
            shared_set_fatal(w->shared, "the server refused a connection: it is gone");
        connection_connect_failed(c, net_status_text(status), means_server_absent(status), now);
        return;
    }
    c->state = CONN_OPEN;
    if (!atomic_load_explicit(&w->shared->ever_connected, memory_order_relaxed))
        atomic_store_explicit(&w->shared->ever_connected, true, memory_order_relaxed);
    c->watching_write = false;
    net_watch(w->loop, c->socket, c, true, false);
    if (is_churn(w)) {
        if (in_window(w, now))
            histogram_record(w->connect_latency, now - c->connect_started_ns);
        issue(c, now, now);
    }
}

bool connection_start_connect(connection *c, uint64_t now)
{
    worker *w = c->owner;
    const loadgen_options *o = opts(w);
    c->sent = c->issued = c->completed = 0;
    verifier_start(&c->echo, o->seed, c->id, o->size, o->verify);
    c->pending_count = c->pending_head = 0;
    c->connect_started_ns = now;
    net_status status = net_connect(w->loop, &w->shared->server, c, &c->socket);
    if (status == NET_OK) {
        c->state = CONN_CONNECTING;
        return true;
    }
    if (status == NET_NO_PORTS || status == NET_NO_RESOURCES || status == NET_REFUSED) {
        char message[200];
        snprintf(message, sizeof message, "cannot open more connections: %s", net_status_text(status));
        shared_set_fatal(w->shared, message);
    }
    connection_connect_failed(c, net_status_text(status), means_server_absent(status), now);
    return false;
}

void connection_start_churn_operation(connection *c, uint64_t now)
{
    worker *w = c->owner;
    bool stopping = w->draining || atomic_load_explicit(&w->shared->stop, memory_order_relaxed) ||
                    (w->shared->end_ns && now >= w->shared->end_ns);
    if (stopping || w->churn_left == 0)
        return;
    if (w->churn_left != NO_QUOTA)
        w->churn_left--;
    c->id = w->churn_next_id;
    c->quota = 1;
    w->churn_next_id += w->shared->threads;
    connection_start_connect(c, now);
}

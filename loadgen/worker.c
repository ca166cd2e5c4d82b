/* One event loop: connects its connections, then drives the workload on
 * them until the run's end, verifying every echoed byte as it arrives
 * (connection.c) and timing every message. Portable: sockets via net.h. */
#include <stdlib.h>

#include "connection.h"

#define MAX_WAIT_US 50000 /* so stop requests and timeouts are seen soon */
#define CHECK_INTERVAL_NS 100000000ull /* timeouts and idle churn slots */
#define NS_PER_S 1000000000ull
#define END_GRACE_NS 2000000000ull /* at most, for the replies in flight at the end */

/* The index-th of `parts` near-equal shares of `total`. */
static uint64_t share(uint64_t total, uint64_t parts, uint64_t index)
{
    return total / parts + (index < total % parts ? 1 : 0);
}

/* Hands each readiness event to its connection, by the state it is in. */
static void dispatch(const net_event *events, int count, uint64_t now)
{
    for (int i = 0; i < count; i++) {
        connection *c = events[i].owner;
        if (c->state == CONN_CONNECTING && events[i].writable) {
            connection_on_connected(c, now);
            continue;
        }
        if (c->state == CONN_CLOSING && events[i].readable)
            connection_on_readable_closing(c);
        if (c->state == CONN_OPEN && events[i].readable)
            connection_on_readable(c, now);
        if (c->state == CONN_OPEN && events[i].writable)
            connection_flush(c, now);
    }
}

static int wait_and_dispatch(worker *w, uint64_t timeout_us)
{
    net_event events[256];
    int count = net_wait(w->loop, events, 256, timeout_us);
    if (count > 0)
        dispatch(events, count, platform_now_ns());
    return count;
}

/* Opens the loop's connections before the clock starts (not for churn,
 * whose connections are the workload), bounded by --connect-timeout. */
static void connect_all(worker *w)
{
    uint64_t now = platform_now_ns();
    uint64_t deadline = now + (uint64_t)(opts(w)->connect_timeout_s * 1e9);
    size_t connecting = 0;
    for (size_t i = 0; i < w->connection_count && !atomic_load(&w->shared->stop); i++)
        connecting += connection_start_connect(&w->connections[i], now);
    while (connecting > 0 && (now = platform_now_ns()) < deadline && !atomic_load(&w->shared->stop)) {
        uint64_t left_us = (deadline - now) / 1000 + 1;
        if (wait_and_dispatch(w, left_us < MAX_WAIT_US ? left_us : MAX_WAIT_US) < 0)
            break;
        connecting = 0;
        for (size_t i = 0; i < w->connection_count; i++)
            connecting += w->connections[i].state == CONN_CONNECTING;
    }
    for (size_t i = 0; i < w->connection_count; i++)
        if (w->connections[i].state == CONN_CONNECTING)
            connection_connect_failed(&w->connections[i], "timed out", true, now);
}

/* Hands the finished seconds of the time series to the shared series. */
static void roll_seconds(worker *w, uint64_t now, bool final)
{
    const run_shared *s = w->shared;
    if (s->end_ns && now > s->end_ns)
        now = s->end_ns;
    if (now <= s->measure_start_ns)
        return;
    size_t current = (size_t)((now - s->measure_start_ns) / NS_PER_S);
    size_t last = final ? (size_t)((now - s->measure_start_ns - 1) / NS_PER_S) + 1 : current;
    while (w->second < last) {
        if (!timeseries_add(w->shared->series, w->second, w->second_messages, w->second_errors, w->second_latency))
            shared_set_fatal(w->shared, "out of memory for the time series");
        histogram_reset(w->second_latency);
        w->second_messages = w->second_errors = 0;
        w->second++;
    }
}

/* Timeouts, and churn slots left free by a failure. */
static void periodic_check(worker *w, uint64_t now)
{
    const loadgen_options *o = opts(w);
    uint64_t connect_timeout = (uint64_t)(o->connect_timeout_s * 1e9);
    uint64_t reply_timeout = (uint64_t)(o->reply_timeout_s * 1e9);
    for (size_t i = 0; i < w->connection_count; i++) {
        connection *c = &w->connections[i];
        if (c->state == CONN_CONNECTING && now - c->connect_started_ns > connect_timeout)
            connection_connect_failed(c, "timed out", true, now);
        else if (c->state == CONN_OPEN && c->pending_count > 0 &&
                 now - c->pending[c->pending_head].actual_ns > reply_timeout)
            connection_fail(c, ERROR_TIMEOUT, now);
        if (is_churn(w) && c->state == CONN_FREE)
            connection_start_churn_operation(c, now);
    }
}

/* Open loop: issues every message whose intended time has come; returns
 * when the next one is due. */
static uint64_t issue_due_messages(worker *w, uint64_t now)
{
    uint64_t next_due = UINT64_MAX;
    for (size_t i = 0; i < w->connection_count; i++) {
        connection *c = &w->connections[i];
        if (c->state != CONN_OPEN || c->idle)
            continue;
        uint64_t before = c->issued;
        while (c->next_due_ns <= now && c->issued < c->quota && connection_push_pending(c, c->next_due_ns, now))
            c->next_due_ns = w->shared->start_ns + rate_schedule_due_ns(&w->schedule, c->id, c->issued);
        if (c->issued != before)
            connection_flush(c, now);
        if (c->state == CONN_OPEN && c->issued < c->quota && c->next_due_ns < next_due)
            next_due = c->next_due_ns;
    }
    return next_due;
}

/* Connections (churn: operations) that still have work to do. */
static size_t work_left(const worker *w)
{
    size_t left = is_churn(w) && w->churn_left > 0;
    for (size_t i = 0; i < w->connection_count; i++) {
        const connection *c = &w->connections[i];
        if (is_churn(w))
            left += c->state == CONN_CONNECTING || c->state == CONN_OPEN;
        else
            left += c->state == CONN_OPEN && !c->idle && c->completed < c->quota;
    }
    return left;
}

static void start_workload(worker *w, uint64_t start)
{
    for (size_t i = 0; i < w->connection_count; i++) {
        connection *c = &w->connections[i];
        if (is_churn(w))
            connection_start_churn_operation(c, start);
        else if (is_rate(w))
            c->next_due_ns = start + rate_schedule_due_ns(&w->schedule, c->id, 0);
        else if (!c->idle)
            connection_refill(c, start);
    }
}

static uint64_t wait_budget_us(const worker *w, uint64_t now, uint64_t next_due)
{
    uint64_t until = w->shared->end_ns && w->shared->end_ns < next_due ? w->shared->end_ns : next_due;
    if (until <= now)
        return 0;
    uint64_t us = (until - now + 999) / 1000;
    return us < MAX_WAIT_US ? us : MAX_WAIT_US;
}

static void run_loop(worker *w)
{
    uint64_t now = w->shared->start_ns, next_check = now + CHECK_INTERVAL_NS;
    start_workload(w, now);
    for (;;) {
        now = platform_now_ns();
        if (atomic_load_explicit(&w->shared->stop, memory_order_relaxed) || (w->shared->end_ns && now >= w->shared->end_ns))
            break;
        roll_seconds(w, now, false);
        if (w->recount) {
            w->recount = false;
            if (work_left(w) == 0)
                break;
        }
        if (now >= next_check) {
            periodic_check(w, now);
            next_check = now + CHECK_INTERVAL_NS;
            if (work_left(w) == 0)
                break;
        }
        uint64_t next_due = is_rate(w) ? issue_due_messages(w, now) : UINT64_MAX;
        if (wait_and_dispatch(w, wait_budget_us(w, now, next_due)) < 0) {
            shared_set_fatal(w->shared, "the event loop failed");
            break;
        }
    }
}

static bool any_in_state(const worker *w, connection_state state, bool with_bytes_in_flight)
{
    for (size_t i = 0; i < w->connection_count; i++) {
        const connection *c = &w->connections[i];
        if (c->state == state && (!with_bytes_in_flight || c->echo.received < c->issued * opts(w)->size))
            return true;
    }
    return false;
}

/* Runs the loop until no connection is in `state` (with bytes in flight,
 * if asked) or the deadline passes. */
static void wait_while(worker *w, connection_state state, bool with_bytes_in_flight, uint64_t deadline)
{
    uint64_t now;
    while ((now = platform_now_ns()) < deadline && any_in_state(w, state, with_bytes_in_flight)) {
        uint64_t left_us = (deadline - now) / 1000 + 1;
        if (wait_and_dispatch(w, left_us < MAX_WAIT_US ? left_us : MAX_WAIT_US) < 0)
            return;
    }
}

/* The end of a clean run, politely: no new messages, the replies in flight
 * are awaited (unmeasured), then every connection is half-closed and the
 * server's FIN awaited, so the server finishes each connection cleanly
 * instead of meeting a reset. Bounded by END_GRACE_NS. After a fatal error
 * the connections are simply closed. */
static void finish_connections(worker *w)
{
    uint64_t reply_timeout = (uint64_t)(opts(w)->reply_timeout_s * 1e9);
    uint64_t deadline = platform_now_ns() + (reply_timeout < END_GRACE_NS ? reply_timeout : END_GRACE_NS);
    w->draining = true;
    if (atomic_load(&w->shared->stop))
        return;
    for (size_t i = 0; i < w->connection_count; i++)
        if (w->connections[i].state == CONN_CONNECTING)
            connection_close(&w->connections[i], CONN_DEAD);
    wait_while(w, CONN_OPEN, true, deadline);
    for (size_t i = 0; i < w->connection_count; i++) {
        connection *c = &w->connections[i];
        if (c->state == CONN_OPEN) {
            net_shutdown_send(c->socket);
            net_watch(w->loop, c->socket, c, true, false);
            c->state = CONN_CLOSING;
        }
    }
    wait_while(w, CONN_CLOSING, false, deadline);
}

void worker_main(void *arg)
{
    worker *w = arg;
    if (!is_churn(w))
        connect_all(w);
    atomic_fetch_add(&w->shared->ready_loops, 1);
    while (!atomic_load(&w->shared->go) && !atomic_load(&w->shared->stop))
        platform_sleep_ms(1);
    if (atomic_load(&w->shared->go))
        run_loop(w);
    w->stopped_ns = platform_now_ns();
    roll_seconds(w, w->stopped_ns, true);
    finish_connections(w);
    for (size_t i = 0; i < w->connection_count; i++)
        connection_close(&w->connections[i], CONN_DEAD);
    atomic_store(&w->finished, true);
}

/* The loop's share of the connections: global connection i belongs to loop
 * i % threads and carries stream id i; idle connections follow the active
 * ones. Churn slots take ids index, index + threads, ... per operation. */
static bool plan_connections(worker *w)
{
    const loadgen_options *o = opts(w);
    unsigned threads = w->shared->threads;
    size_t active = is_churn(w) ? (size_t)share(o->concurrency, threads, w->index) : (size_t)share(o->connections, threads, w->index);
    size_t idle = o->workload == WORKLOAD_IDLE ? (size_t)share(o->idle, threads, w->index) : 0;
    w->connection_count = active + idle;
    w->connections = calloc(w->connection_count ? w->connection_count : 1, sizeof *w->connections);
    if (!w->connections)
        return false;
    for (size_t k = 0; k < w->connection_count; k++) {
        connection *c = &w->connections[k];
        uint64_t global = w->index + (uint64_t)k * threads;
        c->owner = w;
        c->state = CONN_FREE;
        c->idle = k >= active;
        c->id = c->idle ? o->connections + w->index + (uint64_t)(k - active) * threads : global;
        c->quota = c->idle ? 0 : o->messages ? share(o->messages, o->connections, global) : NO_QUOTA;
        c->pending_capacity = o->workload == WORKLOAD_PIPELINE ? o->depth : is_rate(w) ? 16 : 1;
        c->pending = malloc(c->pending_capacity * sizeof *c->pending);
        if (!c->pending)
            return false;
    }
    w->schedule = rate_schedule_make(o->rate, o->connections);
    w->churn_next_id = w->index;
    w->churn_left = !is_churn(w) ? 0 : o->messages ? share(o->messages, threads, w->index) : NO_QUOTA;
    return true;
}

bool worker_prepare(worker *w)
{
    const loadgen_options *o = opts(w);
    w->loop = net_loop_create();
    w->send_buffer = malloc(IO_BUFFER_BYTES);
    w->receive_buffer = malloc(IO_BUFFER_BYTES);
    w->latency = histogram_create();
    w->second_latency = histogram_create();
    if (o->workload == WORKLOAD_RATE)
        w->latency_uncorrected = histogram_create();
    if (o->workload == WORKLOAD_CHURN)
        w->connect_latency = histogram_create();
    if (!w->loop || !w->send_buffer || !w->receive_buffer || !w->latency || !w->second_latency ||
        (is_rate(w) && !w->latency_uncorrected) || (is_churn(w) && !w->connect_latency))
        return false;
    return plan_connections(w);
}

void worker_release(worker *w)
{
    if (w->connections)
        for (size_t i = 0; i < w->connection_count; i++)
            free(w->connections[i].pending);
    free(w->connections);
    net_loop_destroy(w->loop);
    free(w->send_buffer);
    free(w->receive_buffer);
    histogram_destroy(w->latency);
    histogram_destroy(w->latency_uncorrected);
    histogram_destroy(w->connect_latency);
    histogram_destroy(w->second_latency);
}

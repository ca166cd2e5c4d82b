/* One event loop: connects its connections, then drives the workload on
 * them until the run's end, and keeps the figures of all they do. The
 * connections (connection.c) verify every echoed byte and tell this loop,
 * through the events below, what to count and what went wrong; this loop
 * decides what stops the run. Portable: sockets via net.h. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_WAIT_US 50000              /* so stop requests and timeouts are seen soon */
#define CHECK_INTERVAL_NS 100000000ull /* timeouts and idle churn slots */
#define NS_PER_S 1000000000ull
#define END_GRACE_NS 2000000000ull /* at most, for the replies in flight at the end */

static const loadgen_options *opts(const worker *w)
{
    return w->run->options;
}
static bool is_churn(const worker *w)
{
    return opts(w)->workload == WORKLOAD_CHURN;
}
static bool is_rate(const worker *w)
{
    return opts(w)->workload == WORKLOAD_RATE;
}

/* The index-th of `parts` near-equal shares of `total`. */
static uint64_t share(uint64_t total, uint64_t parts, uint64_t index)
{
    return total / parts + (index < total % parts ? 1 : 0);
}

static bool in_window(const worker *w, uint64_t now)
{
    return now >= w->run->measure_start_ns && (!w->run->end_ns || now <= w->run->end_ns);
}

/* ---- What the connections tell the loop ---- */

static void start_churn_operation(worker *w, connection *c, uint64_t now);

static bool on_may_issue(void *owner)
{
    worker *w = owner;
    return !w->draining && !run_stopped(w->run);
}

static void on_connected(void *owner, connection *c, uint64_t now)
{
    worker *w = owner;
    if (!atomic_load_explicit(&w->run->ever_connected, memory_order_relaxed))
        atomic_store_explicit(&w->run->ever_connected, true, memory_order_relaxed);
    if (is_churn(w) && in_window(w, now))
        histogram_record(w->connect_latency, now - c->connect_started_ns);
}

static void on_message_done(void *owner, connection *c, send_time sent, uint64_t now)
{
    worker *w = owner;
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
        w->measured_echoes[c - w->connections]++;
        w->bytes += opts(w)->size;
        w->second_messages++;
    }
}

static void on_operation_done(void *owner, connection *c, uint64_t now)
{
    worker *w = owner;
    if (in_window(w, now))
        w->operations++;
    start_churn_operation(w, c, now);
}

/* Whether a failed connect says that nobody serves the address. Running
 * out of local ports or descriptors says nothing about the server. */
static bool means_server_absent(connect_stage stage, net_status status)
{
    return stage == CONNECT_TIMED_OUT || (status != NET_NO_PORTS && status != NET_NO_RESOURCES);
}

/* A failed connect's reason is kept when it says the server is not there
 * and no connection has ever opened, so that a server that cannot be
 * reached at all is told as one line (see engine.h). Churn then stops at
 * once: each of its operations would fail the same way, and the run must
 * end within the connect timeout. The other workloads have tried all their
 * connections by then and end by themselves. */
static void on_connect_failed(void *owner, connection *c, connect_stage stage, net_status status, uint64_t now)
{
    worker *w = owner;
    (void)c, (void)now;
    const char *reason = stage == CONNECT_TIMED_OUT ? "timed out" : net_status_text(status);
    if (stage == CONNECT_AT_START && (status == NET_NO_PORTS || status == NET_NO_RESOURCES || status == NET_REFUSED)) {
        char message[200];
        snprintf(message, sizeof message, "cannot open more connections: %s", reason);
        run_stop(w->run, message);
    }
    if (stage == CONNECT_AT_RESULT && is_churn(w) && status == NET_REFUSED)
        run_stop(w->run, "the server refused a connection: it is gone");
    bool unreachable =
        means_server_absent(stage, status) && !atomic_load_explicit(&w->run->ever_connected, memory_order_relaxed);
    if (unreachable && !w->first_connect_failure)
        w->first_connect_failure = reason;
    if (unreachable && is_churn(w))
        run_stop(w->run, "the server cannot be reached");
}

static void on_failed(void *owner, connection *c, error_kind kind, uint64_t now)
{
    worker *w = owner;
    (void)c;
    w->errors[kind]++;
    if (in_window(w, now))
        w->second_errors++;
    atomic_fetch_add_explicit(&w->progress_errors, 1, memory_order_relaxed);
}

static void on_closed(void *owner, connection *c)
{
    worker *w = owner;
    (void)c;
    w->recount = true;
}

static void on_out_of_memory(void *owner, connection *c)
{
    worker *w = owner;
    (void)c;
    run_stop(w->run, "out of memory for outstanding messages");
}

/* ---- The loop ---- */

/* The next churn operation of this loop, in slot `c`, unless the run is
 * winding down or the loop's operations are all done. */
static void start_churn_operation(worker *w, connection *c, uint64_t now)
{
    bool stopping = w->draining || run_stopped(w->run) || (w->run->end_ns && now >= w->run->end_ns);
    if (stopping || w->churn_left == 0)
        return;
    if (w->churn_left != NO_QUOTA)
        w->churn_left--;
    uint64_t id = w->churn_next_id;
    w->churn_next_id += w->run->threads;
    connection_start_operation(c, id, now);
}

static int wait_and_dispatch(worker *w, uint64_t timeout_us)
{
    net_event events[256];
    int count = net_wait(w->context.loop, events, 256, timeout_us);
    if (count > 0) {
        uint64_t now = platform_now_ns();
        for (int i = 0; i < count; i++)
            connection_on_event(events[i].owner, &events[i], now);
    }
    return count;
}

static size_t count_in_state(const worker *w, connection_state state)
{
    size_t count = 0;
    for (size_t i = 0; i < w->connection_count; i++)
        count += w->connections[i].state == state;
    return count;
}

/* Opens the loop's connections before the clock starts (not for churn,
 * whose connections are the workload), bounded by --connect-timeout. */
static void connect_all(worker *w)
{
    uint64_t now = platform_now_ns();
    uint64_t deadline = now + (uint64_t)(opts(w)->connect_timeout_s * 1e9);
    size_t connecting = 0;
    for (size_t i = 0; i < w->connection_count && !run_stopped(w->run); i++)
        connecting += connection_start_connect(&w->connections[i], now);
    while (connecting > 0 && (now = platform_now_ns()) < deadline && !run_stopped(w->run)) {
        uint64_t left_us = (deadline - now) / 1000 + 1;
        if (wait_and_dispatch(w, left_us < MAX_WAIT_US ? left_us : MAX_WAIT_US) < 0)
            break;
        connecting = count_in_state(w, CONN_CONNECTING);
    }
    for (size_t i = 0; i < w->connection_count; i++)
        connection_give_up_connect(&w->connections[i], now);
}

/* Hands the finished seconds of the time series to the shared series. */
static void roll_seconds(worker *w, uint64_t now, bool final)
{
    const run_shared *s = w->run;
    if (s->end_ns && now > s->end_ns)
        now = s->end_ns;
    if (now <= s->measure_start_ns)
        return;
    size_t current = (size_t)((now - s->measure_start_ns) / NS_PER_S);
    size_t last = final ? (size_t)((now - s->measure_start_ns - 1) / NS_PER_S) + 1 : current;
    while (w->second < last) {
        if (!timeseries_add(w->run->series, w->second, w->second_messages, w->second_errors, w->second_latency))
            run_stop(w->run, "out of memory for the time series");
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
        connection_check_timeouts(c, now, connect_timeout, reply_timeout);
        if (is_churn(w) && c->state == CONN_FREE)
            start_churn_operation(w, c, now);
    }
}

/* Open loop: issues every message whose intended time has come; returns
 * when the next one is due. */
static uint64_t issue_due_messages(worker *w, uint64_t now)
{
    uint64_t next_due = UINT64_MAX;
    for (size_t i = 0; i < w->connection_count; i++) {
        uint64_t due = connection_issue_due(&w->connections[i], now, &w->schedule, w->run->start_ns);
        next_due = due < next_due ? due : next_due;
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
            start_churn_operation(w, c, start);
        else if (is_rate(w))
            connection_schedule_first(c, start + rate_schedule_due_ns(&w->schedule, c->id, 0));
        else if (!c->idle)
            connection_refill(c, start);
    }
}

static uint64_t wait_budget_us(const worker *w, uint64_t now, uint64_t next_due)
{
    uint64_t until = w->run->end_ns && w->run->end_ns < next_due ? w->run->end_ns : next_due;
    if (until <= now)
        return 0;
    uint64_t us = (until - now + 999) / 1000;
    return us < MAX_WAIT_US ? us : MAX_WAIT_US;
}

static void run_loop(worker *w)
{
    uint64_t now = w->run->start_ns, next_check = now + CHECK_INTERVAL_NS;
    start_workload(w, now);
    for (;;) {
        now = platform_now_ns();
        if (run_stopped(w->run) || (w->run->end_ns && now >= w->run->end_ns))
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
            run_stop(w->run, "the event loop failed");
            break;
        }
    }
}

static bool any_in_state(const worker *w, connection_state state, bool awaiting_echo)
{
    for (size_t i = 0; i < w->connection_count; i++) {
        const connection *c = &w->connections[i];
        if (c->state == state && (!awaiting_echo || connection_awaits_echo(c)))
            return true;
    }
    return false;
}

/* Runs the loop until no connection is in `state` (awaiting echoed bytes,
 * if asked) or the deadline passes. */
static void wait_while(worker *w, connection_state state, bool awaiting_echo, uint64_t deadline)
{
    uint64_t now;
    while ((now = platform_now_ns()) < deadline && any_in_state(w, state, awaiting_echo)) {
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
    if (run_stopped(w->run))
        return;
    for (size_t i = 0; i < w->connection_count; i++)
        if (w->connections[i].state == CONN_CONNECTING)
            connection_close(&w->connections[i], CONN_DEAD);
    wait_while(w, CONN_OPEN, true, deadline);
    for (size_t i = 0; i < w->connection_count; i++)
        connection_half_close(&w->connections[i]);
    wait_while(w, CONN_CLOSING, false, deadline);
}

void worker_main(void *arg)
{
    worker *w = arg;
    if (!is_churn(w))
        connect_all(w);
    atomic_fetch_add(&w->run->ready_loops, 1);
    while (!atomic_load(&w->run->go) && !run_stopped(w->run))
        platform_sleep_ms(1);
    bool started = atomic_load(&w->run->go);
    if (started)
        run_loop(w);
    w->stopped_ns = platform_now_ns();
    if (started) /* a run stopped before its clock started has no seconds to report */
        roll_seconds(w, w->stopped_ns, true);
    finish_connections(w);
    for (size_t i = 0; i < w->connection_count; i++)
        connection_close(&w->connections[i], CONN_DEAD);
    atomic_store(&w->finished, true);
}

/* ---- Preparation ---- */

static void set_up_context(worker *w)
{
    const loadgen_options *o = opts(w);
    connection_context *x = &w->context;
    x->workload = o->workload;
    x->size = o->size;
    x->depth = o->workload == WORKLOAD_PIPELINE ? o->depth : 1;
    x->seed = o->seed;
    x->verify = o->verify;
    x->server = &w->run->server;
    x->events = (connection_events){
        .owner = w,
        .may_issue = on_may_issue,
        .connected = on_connected,
        .message_done = on_message_done,
        .operation_done = on_operation_done,
        .connect_failed = on_connect_failed,
        .failed = on_failed,
        .closed = on_closed,
        .out_of_memory = on_out_of_memory,
    };
}

/* The loop's share of the connections: global connection i belongs to loop
 * i % threads and carries stream id i; idle connections follow the active
 * ones. Churn slots take ids index, index + threads, ... per operation. */
static bool plan_connections(worker *w)
{
    const loadgen_options *o = opts(w);
    unsigned threads = w->run->threads;
    size_t active = (size_t)share(is_churn(w) ? o->concurrency : o->connections, threads, w->index);
    size_t idle = o->workload == WORKLOAD_IDLE ? (size_t)share(o->idle, threads, w->index) : 0;
    size_t pending_capacity = o->workload == WORKLOAD_PIPELINE ? o->depth : is_rate(w) ? 16 : 1;
    w->connection_count = active + idle;
    w->connections = calloc(w->connection_count ? w->connection_count : 1, sizeof *w->connections);
    w->measured_echoes = calloc(w->connection_count ? w->connection_count : 1, sizeof *w->measured_echoes);
    if (!w->connections || !w->measured_echoes)
        return false;
    for (size_t k = 0; k < w->connection_count; k++) {
        uint64_t global = w->index + (uint64_t)k * threads;
        bool is_idle = k >= active;
        uint64_t id = is_idle ? o->connections + w->index + (uint64_t)(k - active) * threads : global;
        uint64_t quota = is_idle ? 0 : o->messages ? share(o->messages, o->connections, global) : NO_QUOTA;
        if (!connection_init(&w->connections[k], &w->context, id, quota, is_idle, pending_capacity))
            return false;
    }
    w->schedule = rate_schedule_make(o->rate, o->connections);
    w->churn_next_id = w->index;
    w->churn_left = !is_churn(w) ? 0 : o->messages ? share(o->messages, threads, w->index) : NO_QUOTA;
    return true;
}

bool worker_prepare(worker *w, run_shared *run, unsigned index)
{
    w->run = run;
    w->index = index;
    set_up_context(w);
    const loadgen_options *o = opts(w);
    w->context.loop = net_loop_create();
    w->context.send_buffer = malloc(IO_BUFFER_BYTES);
    w->context.receive_buffer = malloc(IO_BUFFER_BYTES);
    w->latency = histogram_create();
    w->second_latency = histogram_create();
    if (o->workload == WORKLOAD_RATE)
        w->latency_uncorrected = histogram_create();
    if (o->workload == WORKLOAD_CHURN)
        w->connect_latency = histogram_create();
    if (!w->context.loop || !w->context.send_buffer || !w->context.receive_buffer || !w->latency ||
        !w->second_latency || (is_rate(w) && !w->latency_uncorrected) || (is_churn(w) && !w->connect_latency))
        return false;
    return plan_connections(w);
}

void worker_release(worker *w)
{
    if (w->connections)
        for (size_t i = 0; i < w->connection_count; i++)
            connection_release(&w->connections[i]);
    free(w->connections);
    free(w->measured_echoes);
    net_loop_destroy(w->context.loop);
    free(w->context.send_buffer);
    free(w->context.receive_buffer);
    histogram_destroy(w->latency);
    histogram_destroy(w->latency_uncorrected);
    histogram_destroy(w->connect_latency);
    histogram_destroy(w->second_latency);
}

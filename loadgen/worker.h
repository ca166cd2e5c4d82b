/* One event loop of the engine and the state it shares with the engine's
 * main thread. Internal to engine.c and worker.c. */
#ifndef WSB_LOADGEN_WORKER_H
#define WSB_LOADGEN_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "platform.h"
#include "rate_schedule.h"
#include "verifier.h"

/* What every loop reads; written by the main thread before `go` is set. */
typedef struct run_shared {
    const loadgen_options *options;
    net_address server;
    unsigned threads;
    timeseries *series;
    uint64_t start_ns, measure_start_ns;
    uint64_t end_ns; /* 0: run until the message quota is done */
    atomic_bool go, stop;
    atomic_bool ever_connected; /* some connection has opened */
    atomic_uint ready_loops;
    platform_mutex *fatal_lock;
    char fatal[256];
} run_shared;

typedef struct send_time {
    uint64_t intended_ns, actual_ns;
} send_time;

/* CLOSING: half-closed by us at the end of the run, awaiting the server's FIN. */
typedef enum { CONN_FREE, CONN_CONNECTING, CONN_OPEN, CONN_CLOSING, CONN_DEAD } connection_state;

typedef struct worker worker;

typedef struct connection {
    worker *owner;
    net_socket socket;
    uint64_t id; /* selects its byte stream in the pattern */
    connection_state state;
    bool idle, watching_write;
    uint64_t sent;                       /* stream offset: bytes sent so far */
    echo_verifier echo;                  /* what came back: echo.received bytes, checked */
    uint64_t issued, completed, quota;   /* messages; quota UINT64_MAX: no limit */
    send_time *pending;                  /* ring of issued, unanswered messages */
    size_t pending_head, pending_count, pending_capacity;
    uint64_t next_due_ns;                /* rate: when the next message is due */
    uint64_t connect_started_ns;
} connection;

struct worker {
    run_shared *shared;
    unsigned index;
    platform_thread *thread;
    net_loop *loop;
    connection *connections;
    size_t connection_count;
    size_t unfinished;                  /* active connections with work left (churn: slots busy) */
    uint64_t churn_left, churn_next_id;
    rate_schedule schedule;             /* rate */
    unsigned char *send_buffer, *receive_buffer;
    histogram *latency, *latency_uncorrected, *connect_latency;
    uint64_t messages, bytes, operations, errors[ERROR_KINDS];
    const char *first_connect_failure;  /* static text; kept until any connection opens */
    /* Current second of the time series. */
    histogram *second_latency;
    uint64_t second_messages, second_errors;
    size_t second;
    uint64_t stopped_ns, last_completion_ns;
    bool recount;  /* a connection finished or died: is any work left? */
    bool draining; /* the run is over: no new messages or operations */
    bool failed_to_start;
    atomic_uint_fast64_t progress_messages, progress_errors;
    atomic_bool finished;
};

bool worker_prepare(worker *w);  /* allocations and connection plan */
void worker_main(void *w);       /* the thread body */
void worker_release(worker *w);
void shared_set_fatal(run_shared *shared, const char *message);

#endif

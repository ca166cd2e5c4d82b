/* One event loop of the engine (worker.c): it owns its connections, drives
 * the workload on them, and owns the counters of everything they do
 * (connection.c tells it through connection_events). It decides which
 * failures stop the whole run (run_stop). The engine (engine.c) prepares
 * it, runs worker_main on a thread of its own, and reads its counters once
 * it has finished; only the progress counters are read while it runs. */
#ifndef WSB_LOADGEN_WORKER_H
#define WSB_LOADGEN_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "connection.h"
#include "histogram.h"
#include "platform.h"
#include "rate_schedule.h"
#include "run.h"

typedef struct worker {
    run_shared *run;
    unsigned index;
    platform_thread *thread;
    connection_context context; /* what its connections share: loop, buffers, events */
    connection *connections;
    size_t connection_count;
    uint64_t *measured_echoes; /* per connection, same index: messages echoed in the measured window */
    uint64_t churn_left, churn_next_id;
    rate_schedule schedule; /* rate */
    histogram *latency, *latency_uncorrected, *connect_latency;
    uint64_t messages, bytes, operations, errors[ERROR_KINDS];
    const char *first_connect_failure; /* static text; kept until any connection opens */
    /* Current second of the time series. */
    histogram *second_latency;
    uint64_t second_messages, second_errors;
    size_t second;
    uint64_t stopped_ns, last_completion_ns;
    bool recount;  /* a connection finished or closed: is any work left? */
    bool draining; /* the run is over: no new messages or operations */
    atomic_uint_fast64_t progress_messages, progress_errors;
    atomic_bool finished;
} worker;

/* Allocations and the connection plan, for loop `index` of the run. */
bool worker_prepare(worker *w, run_shared *run, unsigned index);
void worker_main(void *w); /* the thread body */
void worker_release(worker *w);

#endif

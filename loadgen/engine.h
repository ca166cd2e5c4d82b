/* Runs one load-generation session: starts --threads event loops, each
 * owning its connections, waits for them to finish, and merges their
 * figures into run_results. Portable: sockets through net.h, threads and
 * clock through platform.h. */
#ifndef WSB_LOADGEN_ENGINE_H
#define WSB_LOADGEN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "errors.h"
#include "histogram.h"
#include "net.h"
#include "options.h"
#include "timeseries.h"

/* How the echoes of the measured window spread over the connections that
 * had messages to send: not --idle ones, nor any that --messages left
 * without one. A server that serves one client at a time shows here. */
typedef struct connection_tally {
    uint64_t connections;
    uint64_t served;                     /* of them, those that got at least one echo */
    uint64_t min_messages, max_messages; /* the fewest and most echoes one of them got */
} connection_tally;

typedef struct run_results {
    histogram *latency;             /* per message; rate: from the intended send time */
    histogram *latency_uncorrected; /* rate: from the actual send time */
    histogram *connect_latency;     /* churn */
    uint64_t messages, bytes;       /* completed inside the measured window */
    uint64_t operations;            /* churn: connect-send-receive-close cycles */
    double duration_s;              /* the measured window as it really was */
    uint64_t started_unix_ns;       /* wall clock when the loops were let go (0: never) */
    uint64_t errors[ERROR_KINDS];
    uint64_t error_total;
    bool unreachable;      /* no connect ever succeeded: fatal says why */
    bool ended_early;      /* stopped before its planned end */
    char fatal[512];       /* why the run was stopped, if it was */
    second_sample *series; /* owned copy */
    size_t series_length;
    double cpu_user_s, cpu_system_s;
    /* Not kept for churn, whose connections come and go. */
    connection_tally per_connection;
} run_results;

/* false only when the run could not start at all (reason in results->fatal).
 * A server that cannot be reached is a run in which no connect succeeded
 * and one was refused or timed out: results->unreachable, with one line in
 * `fatal`. No connection is made beforehand to find out, so the server
 * counts exactly the run's own connections. */
bool engine_run(const loadgen_options *options, const net_address *server, run_results *results);
void run_results_free(run_results *results);

#endif

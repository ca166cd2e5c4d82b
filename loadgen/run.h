/* The state of one run that its event loops (worker.c) and the engine's
 * main thread (engine.c) share. The engine creates it and writes its
 * configuration and clock before setting `go`; the loops read it, and may
 * stop the run for everyone (run_stop). Whoever stops it first gives the
 * reason the run reports; later reasons are dropped. */
#ifndef WSB_LOADGEN_RUN_H
#define WSB_LOADGEN_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net.h"
#include "options.h"
#include "platform.h"
#include "timeseries.h"

typedef struct run_shared {
    const loadgen_options *options;
    net_address server;
    unsigned threads;
    timeseries *series;
    uint64_t start_ns, measure_start_ns;
    uint64_t start_unix_ns; /* start_ns on the wall clock, to line up several load generators */
    uint64_t end_ns;        /* 0: run until the message quota is done */
    atomic_bool go, stop;
    atomic_bool ever_connected; /* some connection has opened */
    atomic_uint ready_loops;
    platform_mutex *fatal_lock;
    char fatal[256];
} run_shared;

/* Stops every loop; `reason` is kept if it is the first. */
void run_stop(run_shared *run, const char *reason);
bool run_stopped(run_shared *run);

#endif

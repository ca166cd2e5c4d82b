/* The 1-second time series of a run. Each event loop hands in its figures
 * for every second it has lived through; a second's p99 needs the latencies
 * of all loops, so its histogram is merged here, and freed as soon as every
 * loop has contributed (or at export), keeping memory small on long runs. */
#ifndef WSB_LOADGEN_TIMESERIES_H
#define WSB_LOADGEN_TIMESERIES_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

typedef struct second_sample {
    uint64_t messages;
    uint64_t errors;
    uint64_t p99_ns;
} second_sample;

typedef struct timeseries timeseries;

timeseries *timeseries_create(unsigned contributors);
void timeseries_destroy(timeseries *series);
/* One contributor's figures for `second` (thread-safe). false: out of memory. */
bool timeseries_add(timeseries *series, size_t second, uint64_t messages, uint64_t errors, const histogram *latencies);
/* The seconds so far, every one finalized; valid until the next call. */
const second_sample *timeseries_samples(timeseries *series, size_t *count);

#endif

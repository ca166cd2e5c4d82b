/* The open-loop schedule of the rate workload: R messages per second in
 * total, spread evenly over C connections. The whole flow is one sequence
 * of messages m = 0, 1, 2, ... due at m / R seconds after the start;
 * connection k sends messages k, k + C, k + 2C, ..., so its n-th message
 * (n from 0) is message k + n * C. Each due time is computed from its
 * index, never by adding intervals up, so rounding cannot accumulate into
 * drift however long the run. Pure and portable C11. */
#ifndef WSB_LOADGEN_RATE_SCHEDULE_H
#define WSB_LOADGEN_RATE_SCHEDULE_H

#include <stdint.h>

typedef struct rate_schedule {
    double rate; /* messages per second, all connections together */
    uint64_t connections;
} rate_schedule;

rate_schedule rate_schedule_make(double rate, uint64_t connections);

/* When connection `connection` (0 .. connections-1) sends its n-th message,
 * in nanoseconds after the start (rounded down). */
uint64_t rate_schedule_due_ns(const rate_schedule *s, uint64_t connection, uint64_t n);

#endif

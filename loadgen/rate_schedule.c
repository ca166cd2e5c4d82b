/* See rate_schedule.h. */
#include "rate_schedule.h"

rate_schedule rate_schedule_make(double rate, uint64_t connections)
{
    rate_schedule s = {rate, connections ? connections : 1};
    return s;
}

uint64_t rate_schedule_due_ns(const rate_schedule *s, uint64_t connection, uint64_t n)
{
    /* One multiplication and one division in double: the product is exact
     * up to 2^53 (9e6 messages at 1e9 ns each), beyond that off by far less
     * than a nanosecond per second of schedule, and never accumulated. */
    double message = (double)connection + (double)n * (double)s->connections;
    double due = message * 1e9 / s->rate;
    return due < 1.8e19 ? (uint64_t)due : UINT64_MAX; /* never: 570 years */
}

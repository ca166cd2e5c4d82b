/* See timeseries.h. */
#include <stdbool.h>
#include <stdlib.h>

#include "platform.h"
#include "timeseries.h"

typedef struct slot {
    second_sample sample;
    histogram *latencies; /* NULL once finalized */
    unsigned contributions;
} slot;

struct timeseries {
    platform_mutex *lock;
    unsigned contributors;
    slot *slots;
    size_t count, capacity;
    second_sample *exported;
};

timeseries *timeseries_create(unsigned contributors)
{
    timeseries *series = calloc(1, sizeof *series);
    if (!series)
        return NULL;
    series->contributors = contributors;
    series->lock = platform_mutex_create();
    if (!series->lock) {
        free(series);
        return NULL;
    }
    return series;
}

static void finalize(slot *s)
{
    if (!s->latencies)
        return;
    s->sample.p99_ns = histogram_percentile(s->latencies, 99.0);
    histogram_destroy(s->latencies);
    s->latencies = NULL;
}

void timeseries_destroy(timeseries *series)
{
    if (!series)
        return;
    for (size_t i = 0; i < series->count; i++)
        histogram_destroy(series->slots[i].latencies);
    free(series->slots);
    free(series->exported);
    platform_mutex_destroy(series->lock);
    free(series);
}

static bool grow_to(timeseries *series, size_t count)
{
    if (count > series->capacity) {
        size_t capacity = series->capacity ? series->capacity * 2 : 64;
        while (capacity < count)
            capacity *= 2;
        slot *slots = realloc(series->slots, capacity * sizeof *slots);
        if (!slots)
            return false;
        series->slots = slots;
        series->capacity = capacity;
    }
    for (; series->count < count; series->count++)
        series->slots[series->count] = (slot){{0, 0, 0}, NULL, 0};
    return true;
}

bool timeseries_add(timeseries *series, size_t second, uint64_t messages, uint64_t errors, const histogram *latencies)
{
    bool ok = true;
    platform_mutex_lock(series->lock);
    if (!grow_to(series, second + 1)) {
        ok = false;
    } else {
        slot *s = &series->slots[second];
        s->sample.messages += messages;
        s->sample.errors += errors;
        if (histogram_count(latencies) > 0) {
            if (!s->latencies && s->contributions < series->contributors)
                s->latencies = histogram_create();
            if (s->latencies)
                histogram_merge(s->latencies, latencies);
        }
        if (++s->contributions >= series->contributors)
            finalize(s);
    }
    platform_mutex_unlock(series->lock);
    return ok;
}

const second_sample *timeseries_samples(timeseries *series, size_t *count)
{
    platform_mutex_lock(series->lock);
    free(series->exported);
    series->exported = calloc(series->count + 1, sizeof *series->exported);
    *count = series->exported ? series->count : 0;
    for (size_t i = 0; i < *count; i++) {
        finalize(&series->slots[i]);
        series->exported[i] = series->slots[i].sample;
    }
    platform_mutex_unlock(series->lock);
    return series->exported;
}

/* A latency histogram of our own, HDR-style log-linear: values in
 * nanoseconds, every power of two split into HISTOGRAM_SUB_BUCKETS linear
 * buckets, so any value up to HISTOGRAM_MAX_NS is kept within 1/128 (< 1%)
 * of its true value and values below 128 ns exactly. Recording is O(1) and
 * allocation-free; histograms of different threads merge by adding counts.
 * Values above HISTOGRAM_MAX_NS land in a saturated bucket (counted, and
 * reported as the maximum trackable value). Portable C11. */
#ifndef WSB_HISTOGRAM_H
#define WSB_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define HISTOGRAM_SUB_BITS 7
#define HISTOGRAM_SUB_BUCKETS (1u << HISTOGRAM_SUB_BITS) /* 128 */
#define HISTOGRAM_MAX_NS ((uint64_t)1 << 37)             /* ~137 s */

typedef struct histogram histogram;

histogram *histogram_create(void); /* NULL when out of memory */
void histogram_destroy(histogram *h);
void histogram_reset(histogram *h);
void histogram_record(histogram *h, uint64_t value_ns);
void histogram_merge(histogram *into, const histogram *from);

uint64_t histogram_count(const histogram *h);     /* values recorded, saturated included */
uint64_t histogram_saturated(const histogram *h); /* values above HISTOGRAM_MAX_NS */
uint64_t histogram_min(const histogram *h);       /* exact; 0 when empty */
uint64_t histogram_max(const histogram *h);       /* exact; 0 when empty */
double histogram_mean(const histogram *h);        /* exact (from the recorded values); 0 when empty */
double histogram_stddev(const histogram *h);      /* population standard deviation; 0 when empty */
/* The value at or below which `percent` (0..100) of the values lie: the
 * highest value equivalent to the bucket that holds that rank, capped at
 * histogram_max(). 0 when empty. */
uint64_t histogram_percentile(const histogram *h, double percent);

/* For export and merging elsewhere: the non-empty buckets, in order.
 * Calls visit(low_ns, high_ns, count, arg) for each; high is inclusive. */
void histogram_for_each(const histogram *h, void (*visit)(uint64_t low_ns, uint64_t high_ns, uint64_t count, void *arg),
                        void *arg);

#endif

/* Log-linear latency histogram (see histogram.h).
 *
 * Bucket layout. A value v below 2^(SUB_BITS+1) = 256 has its own bucket
 * (index v). Above that, let shift = msb(v) - SUB_BITS: the bucket is
 * v >> shift (always in 128..255) offset by shift * 128, so
 *
 *     index(v) = shift * 128 + (v >> shift)
 *
 * Each power of two [2^k, 2^(k+1)) thus gets 128 buckets of width 2^(k-7),
 * and a bucket's width is at most 1/128 of its lowest value. The last
 * tracked value, HISTOGRAM_MAX_NS = 2^37, is the first bucket of the group
 * it opens, so that group holds only that one bucket.
 *
 * Statistics. min and max are kept exactly. The sum is kept exactly in 128
 * bits (two uint64_t), so the mean is exact up to the final division. The
 * spread is kept with Welford's running mean and sum of squared deviations
 * (long double), which does not cancel the way sum-of-squares minus
 * square-of-sum does; and it runs on the values minus the first value
 * recorded (exact integers), so a small spread far from zero (2 ns around
 * 10^15 ns) is not lost to the rounding of a large running mean. Two
 * histograms merge with Chan et al.'s pairwise formula. */
#include "histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_ARM64))
#include <intrin.h>
#pragma intrinsic(_BitScanReverse64)
#endif

#define MAX_SHIFT (37 - HISTOGRAM_SUB_BITS) /* shift of HISTOGRAM_MAX_NS */
/* Buckets 0..255 are exact (shift 0), shifts 1..MAX_SHIFT-1 have 128 each,
 * and shift MAX_SHIFT holds HISTOGRAM_MAX_NS alone: 3969 buckets, 31 KiB. */
#define BUCKETS ((size_t)MAX_SHIFT * HISTOGRAM_SUB_BUCKETS + HISTOGRAM_SUB_BUCKETS + 1)

/* The layout above assumes HISTOGRAM_MAX_NS = 2^37; fail the build if the
 * header changes one without the other. */
/* NOLINTNEXTLINE(misc-redundant-expression): equal on purpose */
typedef char histogram_max_is_2_pow_37[(HISTOGRAM_MAX_NS == ((uint64_t)1 << 37)) ? 1 : -1];

struct histogram {
    uint64_t counts[BUCKETS];
    uint64_t count;     /* every value, saturated included */
    uint64_t saturated; /* values above HISTOGRAM_MAX_NS */
    uint64_t min, max;
    uint64_t sum_low, sum_high; /* exact 128-bit sum of the values */
    uint64_t origin;            /* the first value recorded */
    long double mean;           /* Welford's running mean, less origin... */
    long double m2;             /* ...and sum of squared deviations from it */
};

/* Index of the highest set bit of v (v != 0). */
static unsigned highest_bit(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (unsigned)__builtin_clzll(v);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_ARM64))
    unsigned long index;
    _BitScanReverse64(&index, v);
    return (unsigned)index;
#else
    unsigned bit = 0;
    while (v >>= 1)
        bit++;
    return bit;
#endif
}

/* Bucket of a tracked value (value <= HISTOGRAM_MAX_NS). */
static size_t bucket_of(uint64_t value)
{
    unsigned shift = 0;
    if (value >= 2 * HISTOGRAM_SUB_BUCKETS)
        shift = highest_bit(value) - HISTOGRAM_SUB_BITS;
    return (size_t)shift * HISTOGRAM_SUB_BUCKETS + (size_t)(value >> shift);
}

/* The inverse of bucket_of: the range of values a bucket stands for. */
static void bucket_range(size_t index, uint64_t *low, uint64_t *high)
{
    if (index < 2 * HISTOGRAM_SUB_BUCKETS) {
        *low = *high = index;
        return;
    }
    unsigned shift = (unsigned)(index / HISTOGRAM_SUB_BUCKETS) - 1;
    uint64_t mantissa = index - (size_t)shift * HISTOGRAM_SUB_BUCKETS; /* 128..255 */
    *low = mantissa << shift;
    *high = *low + (((uint64_t)1 << shift) - 1);
    if (*high > HISTOGRAM_MAX_NS) /* the last bucket holds HISTOGRAM_MAX_NS only */
        *high = HISTOGRAM_MAX_NS;
}

histogram *histogram_create(void)
{
    histogram *h = malloc(sizeof *h);
    if (h)
        histogram_reset(h);
    return h;
}

void histogram_destroy(histogram *h)
{
    free(h);
}

void histogram_reset(histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX; /* so the first value always lowers it */
    h->mean = 0;
    h->m2 = 0;
}

static void add_to_sum(histogram *h, uint64_t low, uint64_t high)
{
    uint64_t before = h->sum_low;
    h->sum_low += low;
    h->sum_high += high + (h->sum_low < before); /* carry */
}

/* a - b, exactly when it fits the long double's mantissa. */
static long double difference(uint64_t a, uint64_t b)
{
    return a >= b ? (long double)(a - b) : -(long double)(b - a);
}

void histogram_record(histogram *h, uint64_t value_ns)
{
    if (value_ns <= HISTOGRAM_MAX_NS)
        h->counts[bucket_of(value_ns)]++;
    else
        h->saturated++;
    if (h->count++ == 0)
        h->origin = value_ns;
    if (value_ns < h->min)
        h->min = value_ns;
    if (value_ns > h->max)
        h->max = value_ns;
    add_to_sum(h, value_ns, 0);
    long double shifted = difference(value_ns, h->origin);
    long double delta = shifted - h->mean;
    h->mean += delta / (long double)h->count;
    h->m2 += delta * (shifted - h->mean);
}

void histogram_merge(histogram *into, const histogram *from)
{
    if (from->count == 0)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->saturated += from->saturated;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    add_to_sum(into, from->sum_low, from->sum_high);
    if (into->count == 0) {
        into->origin = from->origin;
        into->mean = from->mean;
        into->m2 = from->m2;
        into->count = from->count;
        return;
    }

    /* Chan et al.: combine two (count, mean, M2) summaries, from's mean
     * first moved to into's origin. */
    long double n_a = (long double)into->count, n_b = (long double)from->count;
    long double n = n_a + n_b;
    long double delta = from->mean + difference(from->origin, into->origin) - into->mean;
    into->mean += delta * (n_b / n);
    into->m2 += from->m2 + delta * delta * (n_a * n_b / n);
    into->count += from->count;
}

uint64_t histogram_count(const histogram *h)
{
    return h->count;
}

uint64_t histogram_saturated(const histogram *h)
{
    return h->saturated;
}

uint64_t histogram_min(const histogram *h)
{
    return h->count ? h->min : 0;
}

uint64_t histogram_max(const histogram *h)
{
    return h->max; /* 0 when empty, as reset left it */
}

double histogram_mean(const histogram *h)
{
    if (h->count == 0)
        return 0;
    long double sum = ldexpl((long double)h->sum_high, 64) + (long double)h->sum_low;
    return (double)(sum / (long double)h->count);
}

double histogram_stddev(const histogram *h)
{
    if (h->count == 0 || h->m2 <= 0) /* rounding can leave m2 a hair below 0 */
        return 0;
    return (double)sqrtl(h->m2 / (long double)h->count);
}

/* rank = ceil(percent/100 * count), at least 1. Multiplying before dividing
 * and forgiving a rounding error of a few ulps keeps e.g. 99.9% of 10000 at
 * rank 9990 rather than 9991. */
static uint64_t rank_of(uint64_t count, double percent)
{
    if (!(percent > 0)) /* also NaN */
        return 1;
    if (percent >= 100)
        return count;
    long double exact = (long double)percent * (long double)count / 100.0L;
    long double whole = floorl(exact);
    uint64_t rank = (uint64_t)whole;
    if (exact - whole > exact * 1e-15L)
        rank++;
    if (rank < 1)
        rank = 1;
    return rank > count ? count : rank;
}

uint64_t histogram_percentile(const histogram *h, double percent)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = rank_of(h->count, percent), seen = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t low, high;
            bucket_range(i, &low, &high);
            (void)low;
            if (high > h->max)
                high = h->max;
            return high < h->min ? h->min : high;
        }
    }
    /* The rank lies among the saturated values: the header promises they
     * are reported as the maximum trackable value. */
    return HISTOGRAM_MAX_NS;
}

void histogram_for_each(const histogram *h, void (*visit)(uint64_t low_ns, uint64_t high_ns, uint64_t count, void *arg),
                        void *arg)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        if (h->counts[i] == 0)
            continue;
        uint64_t low, high;
        bucket_range(i, &low, &high);
        visit(low, high, h->counts[i], arg);
    }
    if (h->saturated)
        visit(HISTOGRAM_MAX_NS + 1, UINT64_MAX, h->saturated, arg);
}

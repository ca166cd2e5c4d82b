/* Unit tests of the latency histogram (loadgen/histogram.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "histogram.h"

/* ---- helpers ---- */

typedef struct bucket {
    uint64_t low, high, count;
} bucket;

typedef struct bucket_list {
    bucket items[8192];
    size_t n;
} bucket_list;

static void collect(uint64_t low, uint64_t high, uint64_t count, void *arg)
{
    bucket_list *list = arg;
    assert_true(list->n < sizeof list->items / sizeof list->items[0]);
    list->items[list->n++] = (bucket){low, high, count};
}

static bucket_list *buckets_of(const histogram *h)
{
    bucket_list *list = calloc(1, sizeof *list);
    assert_non_null(list);
    histogram_for_each(h, collect, list);
    return list;
}

/* The one bucket a lone value lands in. */
static bucket bucket_of_value(uint64_t value)
{
    histogram *h = histogram_create();
    assert_non_null(h);
    histogram_record(h, value);
    bucket_list *list = buckets_of(h);
    assert_int_equal(list->n, 1);
    bucket b = list->items[0];
    assert_int_equal(b.count, 1);
    free(list);
    histogram_destroy(h);
    return b;
}

/* The bucket width the layout promises, computed independently of the
 * implementation: 1 below 256, else 2^(floor(log2 v) - 7). */
static uint64_t width_of(uint64_t v)
{
    int bits = 0;
    for (uint64_t x = v; x > 1; x >>= 1)
        bits++;
    return v < 256 ? 1 : (uint64_t)1 << (bits - 7);
}

static uint64_t highest_equivalent(uint64_t v)
{
    uint64_t w = width_of(v);
    return v / w * w + w - 1;
}

static void assert_near(double actual, double expected, double tolerance)
{
    if (fabs(actual - expected) > tolerance)
        fail_msg("%.17g differs from %.17g by more than %g", actual, expected, tolerance);
}

/* A small deterministic generator for "random" data. */
static uint64_t next_random(uint64_t *state)
{
    *state = *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return *state >> 11;
}

/* Values spread over every order of magnitude, a few saturated. */
static uint64_t spread_value(uint64_t *state)
{
    uint64_t r = next_random(state);
    unsigned bits = (unsigned)(r % 40); /* up to 2^40: past HISTOGRAM_MAX_NS */
    return next_random(state) & (((uint64_t)1 << bits) - 1);
}

/* ---- tests ---- */

static void test_empty(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    assert_int_equal(histogram_count(h), 0);
    assert_int_equal(histogram_saturated(h), 0);
    assert_int_equal(histogram_min(h), 0);
    assert_int_equal(histogram_max(h), 0);
    assert_true(histogram_mean(h) == 0);
    assert_true(histogram_stddev(h) == 0);
    assert_int_equal(histogram_percentile(h, 0), 0);
    assert_int_equal(histogram_percentile(h, 50), 0);
    assert_int_equal(histogram_percentile(h, 100), 0);
    bucket_list *list = buckets_of(h);
    assert_int_equal(list->n, 0);
    free(list);
    histogram_destroy(h);
}

static void test_single_values(void **state)
{
    (void)state;
    const uint64_t values[] = {0, 1, 127, 128, 1000, 123456789, HISTOGRAM_MAX_NS - 1, HISTOGRAM_MAX_NS};
    histogram *h = histogram_create();
    assert_non_null(h);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint64_t v = values[i];
        histogram_reset(h);
        histogram_record(h, v);
        assert_int_equal(histogram_count(h), 1);
        assert_int_equal(histogram_saturated(h), 0);
        assert_int_equal(histogram_min(h), v);
        assert_int_equal(histogram_max(h), v);
        assert_true(histogram_mean(h) == (double)v);
        assert_true(histogram_stddev(h) == 0);
        /* One value: every percentile is that value (the bucket's top is capped at max). */
        assert_int_equal(histogram_percentile(h, 0), v);
        assert_int_equal(histogram_percentile(h, 50), v);
        assert_int_equal(histogram_percentile(h, 100), v);
    }
    histogram_destroy(h);
}

static void test_reset_empties(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    histogram_record(h, 5);
    histogram_record(h, HISTOGRAM_MAX_NS * 2);
    histogram_reset(h);
    assert_int_equal(histogram_count(h), 0);
    assert_int_equal(histogram_saturated(h), 0);
    assert_int_equal(histogram_min(h), 0);
    assert_int_equal(histogram_max(h), 0);
    assert_true(histogram_mean(h) == 0);
    assert_int_equal(histogram_percentile(h, 99), 0);
    histogram_record(h, 42);
    assert_int_equal(histogram_min(h), 42);
    assert_int_equal(histogram_percentile(h, 99), 42);
    histogram_destroy(h);
}

static void test_small_values_exact(void **state)
{
    (void)state;
    /* Below 256 every value has a bucket of its own (128 is exact by the
     * header; 128..255 are exact as well in this layout). */
    for (uint64_t v = 0; v < 256; v++) {
        bucket b = bucket_of_value(v);
        assert_int_equal(b.low, v);
        assert_int_equal(b.high, v);
    }
    /* All of 0..127 in one histogram: 128 buckets, in order, one each. */
    histogram *h = histogram_create();
    assert_non_null(h);
    for (uint64_t v = 0; v < 128; v++)
        histogram_record(h, v);
    bucket_list *list = buckets_of(h);
    assert_int_equal(list->n, 128);
    for (size_t i = 0; i < 128; i++) {
        assert_int_equal(list->items[i].low, i);
        assert_int_equal(list->items[i].high, i);
        assert_int_equal(list->items[i].count, 1);
    }
    free(list);
    histogram_destroy(h);
}

static void expect_bucket(uint64_t v, uint64_t low, uint64_t high)
{
    bucket b = bucket_of_value(v);
    if (b.low != low || b.high != high)
        fail_msg("value %llu: bucket [%llu, %llu], expected [%llu, %llu]", (unsigned long long)v,
                 (unsigned long long)b.low, (unsigned long long)b.high, (unsigned long long)low,
                 (unsigned long long)high);
}

static void test_bucket_boundaries(void **state)
{
    (void)state;
    expect_bucket(127, 127, 127);
    expect_bucket(128, 128, 128);
    expect_bucket(255, 255, 255);
    expect_bucket(256, 256, 257);
    expect_bucket(257, 256, 257);
    expect_bucket(258, 258, 259);
    expect_bucket(511, 510, 511);
    expect_bucket(512, 512, 515);
    expect_bucket(1023, 1020, 1023);
    expect_bucket(1024, 1024, 1031);
    expect_bucket(1025, 1024, 1031);
    /* Each power of two opens a bucket; the value below it closes one. */
    for (int k = 8; k <= 37; k++) {
        uint64_t p = (uint64_t)1 << k;
        uint64_t below = (uint64_t)1 << (k - 8); /* width just under 2^k */
        uint64_t above = (uint64_t)1 << (k - 7); /* width from 2^k on */
        expect_bucket(p - 1, p - below, p - 1);
        if (k < 37) {
            expect_bucket(p, p, p + above - 1);
            expect_bucket(p + 1, p, p + above - 1);
        }
    }
    /* The last trackable value sits alone at the top. */
    expect_bucket(HISTOGRAM_MAX_NS, HISTOGRAM_MAX_NS, HISTOGRAM_MAX_NS);
    expect_bucket(HISTOGRAM_MAX_NS + 1, HISTOGRAM_MAX_NS + 1, UINT64_MAX);
}

static void test_relative_error_sweep(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    unsigned checked = 0;
    for (uint64_t v = 1; v < HISTOGRAM_MAX_NS; v += v / 997 + 1, checked++) {
        /* A larger second value keeps the cap at max out of the way, so the
         * median is v's own bucket top. */
        histogram_reset(h);
        histogram_record(h, v);
        histogram_record(h, HISTOGRAM_MAX_NS);
        uint64_t reported = histogram_percentile(h, 50);
        assert_true(reported >= v);
        assert_int_equal(reported, highest_equivalent(v));
        assert_true((double)(reported - v) / (double)v < 1.0 / 128);
        if (v < 256)
            assert_int_equal(reported, v);
    }
    assert_true(checked > 15000);
    histogram_destroy(h);
}

static void test_percentiles_of_1_to_10000(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    for (uint64_t v = 1; v <= 10000; v++)
        histogram_record(h, v);
    assert_int_equal(histogram_count(h), 10000);
    assert_int_equal(histogram_min(h), 1);
    assert_int_equal(histogram_max(h), 10000);

    /* Known answers: the top of the bucket holding value ceil(p% * 10000). */
    assert_int_equal(histogram_percentile(h, 0), 1);
    assert_int_equal(histogram_percentile(h, 1), 100);      /* exact below 256 */
    assert_int_equal(histogram_percentile(h, 10), 1003);    /* [1000, 1003] */
    assert_int_equal(histogram_percentile(h, 25), 2511);    /* [2496, 2511] */
    assert_int_equal(histogram_percentile(h, 50), 5023);    /* [4992, 5023] */
    assert_int_equal(histogram_percentile(h, 90), 9023);    /* [8960, 9023] */
    assert_int_equal(histogram_percentile(h, 99), 9919);    /* [9856, 9919] */
    assert_int_equal(histogram_percentile(h, 99.9), 10000); /* [9984, 10047] capped at max */
    assert_int_equal(histogram_percentile(h, 100), 10000);

    /* Every hundredth of a percent: within 1/128 above the true answer. */
    for (int hundredths = 1; hundredths <= 10000; hundredths++) {
        double p = hundredths / 100.0;
        uint64_t truth = (uint64_t)hundredths; /* ceil(p / 100 * 10000) */
        uint64_t expected = highest_equivalent(truth);
        if (expected > 10000)
            expected = 10000;
        assert_int_equal(histogram_percentile(h, p), expected);
        assert_true((double)(expected - truth) / (double)truth < 1.0 / 128);
    }

    assert_near(histogram_mean(h), 5000.5, 1e-9);
    assert_near(histogram_stddev(h), sqrt((10000.0 * 10000.0 - 1) / 12), 1e-9);
    histogram_destroy(h);
}

static void assert_same_histogram(const histogram *a, const histogram *b)
{
    assert_int_equal(histogram_count(a), histogram_count(b));
    assert_int_equal(histogram_saturated(a), histogram_saturated(b));
    assert_int_equal(histogram_min(a), histogram_min(b));
    assert_int_equal(histogram_max(a), histogram_max(b));
    assert_near(histogram_mean(a), histogram_mean(b), 1e-12 * fabs(histogram_mean(b)));
    assert_near(histogram_stddev(a), histogram_stddev(b), 1e-9 * histogram_stddev(b) + 1e-9);
    for (int p = 0; p <= 1000; p++)
        assert_int_equal(histogram_percentile(a, p / 10.0), histogram_percentile(b, p / 10.0));
    bucket_list *la = buckets_of(a), *lb = buckets_of(b);
    assert_int_equal(la->n, lb->n);
    for (size_t i = 0; i < la->n; i++) {
        assert_int_equal(la->items[i].low, lb->items[i].low);
        assert_int_equal(la->items[i].high, lb->items[i].high);
        assert_int_equal(la->items[i].count, lb->items[i].count);
    }
    free(la);
    free(lb);
}

static void test_merge_equals_recording_all(void **state)
{
    (void)state;
    histogram *all = histogram_create(), *parts[3], *merged = histogram_create();
    assert_non_null(all);
    assert_non_null(merged);
    for (int i = 0; i < 3; i++) {
        parts[i] = histogram_create();
        assert_non_null(parts[i]);
    }
    uint64_t random_state = 12345;
    for (int i = 0; i < 30000; i++) {
        uint64_t v = spread_value(&random_state);
        histogram_record(all, v);
        histogram_record(parts[i % 3], v);
    }
    assert_true(histogram_saturated(all) > 0);

    /* Merging into an empty histogram, then the others in. */
    for (int i = 0; i < 3; i++)
        histogram_merge(merged, parts[i]);
    assert_same_histogram(merged, all);

    /* An empty histogram merges as a no-op, either way round. */
    histogram *empty = histogram_create();
    assert_non_null(empty);
    histogram_merge(merged, empty);
    assert_same_histogram(merged, all);
    histogram_merge(empty, all);
    assert_same_histogram(empty, all);

    histogram_destroy(empty);
    for (int i = 0; i < 3; i++)
        histogram_destroy(parts[i]);
    histogram_destroy(merged);
    histogram_destroy(all);
}

static void test_saturation(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    for (uint64_t v = 1; v <= 10; v++)
        histogram_record(h, v);
    histogram_record(h, HISTOGRAM_MAX_NS); /* the last trackable value: not saturated */
    assert_int_equal(histogram_saturated(h), 0);
    histogram_record(h, HISTOGRAM_MAX_NS + 1);
    histogram_record(h, (uint64_t)1 << 40);
    histogram_record(h, UINT64_MAX);
    assert_int_equal(histogram_count(h), 14);
    assert_int_equal(histogram_saturated(h), 3);
    assert_int_equal(histogram_min(h), 1);
    assert_int_equal(histogram_max(h), UINT64_MAX); /* max stays exact */

    assert_int_equal(histogram_percentile(h, 50), 7);
    assert_int_equal(histogram_percentile(h, 11 * 100.0 / 14), HISTOGRAM_MAX_NS);
    /* Ranks among the saturated values report the maximum trackable value. */
    assert_int_equal(histogram_percentile(h, 12 * 100.0 / 14), HISTOGRAM_MAX_NS);
    assert_int_equal(histogram_percentile(h, 100), HISTOGRAM_MAX_NS);

    bucket_list *list = buckets_of(h);
    assert_int_equal(list->n, 12);
    bucket last = list->items[list->n - 1];
    assert_int_equal(last.low, HISTOGRAM_MAX_NS + 1);
    assert_int_equal(last.high, UINT64_MAX);
    assert_int_equal(last.count, 3);
    free(list);

    /* The mean stays exact when the sum passes 2^64. */
    histogram_reset(h);
    histogram_record(h, UINT64_MAX);
    histogram_record(h, UINT64_MAX);
    histogram_record(h, UINT64_MAX - 2);
    assert_true(histogram_mean(h) == ldexp(1, 64)); /* 2^64 - 5/3, rounded */
    assert_int_equal(histogram_saturated(h), 3);
    histogram_destroy(h);
}

static void test_mean_and_stddev_exact(void **state)
{
    (void)state;
    /* The textbook set: mean 5, population standard deviation 2. */
    const uint64_t data[] = {2, 4, 4, 4, 5, 5, 7, 9};
    histogram *h = histogram_create();
    assert_non_null(h);
    for (size_t i = 0; i < 8; i++)
        histogram_record(h, data[i]);
    assert_near(histogram_mean(h), 5, 0);
    assert_near(histogram_stddev(h), 2, 1e-12);

    /* The same spread far from zero: a naive sum of squares would cancel. */
    const uint64_t base = UINT64_C(1000000000000000); /* 10^15 */
    histogram_reset(h);
    for (size_t i = 0; i < 8; i++)
        histogram_record(h, base + data[i]);
    assert_near(histogram_mean(h), 1e15 + 5, 0);
    assert_near(histogram_stddev(h), 2, 1e-12);

    /* Constant data: no spread at all. */
    histogram_reset(h);
    for (int i = 0; i < 1000; i++)
        histogram_record(h, 777777);
    assert_near(histogram_mean(h), 777777, 0);
    assert_near(histogram_stddev(h), 0, 1e-9);

    /* Merged halves give the same figures (pairwise update). */
    histogram *a = histogram_create(), *b = histogram_create();
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < 8; i++)
        histogram_record(i < 3 ? a : b, base + data[i]);
    histogram_merge(a, b);
    assert_near(histogram_mean(a), 1e15 + 5, 0);
    assert_near(histogram_stddev(a), 2, 1e-12);
    histogram_destroy(a);
    histogram_destroy(b);
    histogram_destroy(h);
}

static void test_for_each_ordered_and_complete(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    uint64_t random_state = 99;
    for (int i = 0; i < 100000; i++)
        histogram_record(h, spread_value(&random_state));
    bucket_list *list = buckets_of(h);
    assert_true(list->n > 1000);
    uint64_t total = 0;
    for (size_t i = 0; i < list->n; i++) {
        const bucket *b = &list->items[i];
        assert_true(b->low <= b->high);
        assert_true(b->count > 0);
        if (i > 0)
            assert_true(b->low > list->items[i - 1].high);
        if (b->low <= HISTOGRAM_MAX_NS) /* each bucket spans the promised width */
            assert_int_equal(b->high, b->low == HISTOGRAM_MAX_NS ? b->low : highest_equivalent(b->low));
        total += b->count;
    }
    assert_int_equal(total, histogram_count(h));
    assert_int_equal(list->items[list->n - 1].count, histogram_saturated(h));
    free(list);
    histogram_destroy(h);
}

static void test_percentile_arguments_out_of_range(void **state)
{
    (void)state;
    histogram *h = histogram_create();
    assert_non_null(h);
    for (uint64_t v = 1; v <= 100; v++)
        histogram_record(h, v);
    assert_int_equal(histogram_percentile(h, -5), 1);
    assert_int_equal(histogram_percentile(h, 150), 100);
    assert_int_equal(histogram_percentile(h, NAN), 1);
    assert_int_equal(histogram_percentile(h, 0.5), 1); /* rank ceil(0.5) = 1 */
    assert_int_equal(histogram_percentile(h, 1.01), 2);
    histogram_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single_values),
        cmocka_unit_test(test_reset_empties),
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_bucket_boundaries),
        cmocka_unit_test(test_relative_error_sweep),
        cmocka_unit_test(test_percentiles_of_1_to_10000),
        cmocka_unit_test(test_merge_equals_recording_all),
        cmocka_unit_test(test_saturation),
        cmocka_unit_test(test_mean_and_stddev_exact),
        cmocka_unit_test(test_for_each_ordered_and_complete),
        cmocka_unit_test(test_percentile_arguments_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

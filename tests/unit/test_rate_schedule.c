/* Unit tests of the open-loop schedule (loadgen/rate_schedule.c): R
 * messages/s spread evenly over C connections, each due time computed
 * from its index so that nothing drifts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "rate_schedule.h"

#define NS_PER_S 1000000000ull

/* How many of one connection's messages are due before t_ns. */
static uint64_t due_before(const rate_schedule *s, uint64_t connection, uint64_t t_ns)
{
    uint64_t n = 0;
    while (rate_schedule_due_ns(s, connection, n) < t_ns)
        n++;
    return n;
}

static uint64_t issued_in_total(double rate, uint64_t connections, double seconds)
{
    rate_schedule s = rate_schedule_make(rate, connections);
    uint64_t total = 0;
    for (uint64_t k = 0; k < connections; k++)
        total += due_before(&s, k, (uint64_t)(seconds * 1e9));
    return total;
}

/* The first message of connection k is message k of the whole flow. */
static void test_first_due_times_are_staggered(void **state)
{
    (void)state;
    rate_schedule s = rate_schedule_make(1000, 4);
    for (uint64_t k = 0; k < 4; k++)
        assert_int_equal(rate_schedule_due_ns(&s, k, 0), k * 1000000);
    s = rate_schedule_make(3, 2);
    assert_int_equal(rate_schedule_due_ns(&s, 0, 0), 0);
    assert_int_equal(rate_schedule_due_ns(&s, 1, 0), 333333333); /* 1/3 s, rounded down */
}

/* Each connection sends every C/R seconds (to the nanosecond, rounding). */
static void test_per_connection_interval(void **state)
{
    (void)state;
    const double rates[] = {1000, 3000, 7, 0.5, 123456.789};
    const uint64_t connection_counts[] = {1, 3, 7, 64};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++)
        for (size_t c = 0; c < sizeof connection_counts / sizeof connection_counts[0]; c++) {
            uint64_t connections = connection_counts[c];
            rate_schedule s = rate_schedule_make(rates[r], connections);
            double interval = (double)connections * 1e9 / rates[r];
            for (uint64_t k = 0; k < connections; k += 2)
                for (uint64_t n = 0; n < 50; n++) {
                    uint64_t gap = rate_schedule_due_ns(&s, k, n + 1) - rate_schedule_due_ns(&s, k, n);
                    assert_true(fabs((double)gap - interval) <= 1.0);
                }
        }
}

/* Over T seconds, R * T messages in total, whatever the connection count. */
static void test_total_over_a_duration(void **state)
{
    (void)state;
    assert_int_equal(issued_in_total(1000, 1, 10), 10000);
    assert_int_equal(issued_in_total(1000, 7, 10), 10000);
    assert_int_equal(issued_in_total(3, 2, 100), 300);
    assert_int_equal(issued_in_total(0.5, 1, 10), 5);
    assert_int_equal(issued_in_total(50000, 16, 2), 100000);
    /* A rate that does not divide a second: R * T rounded, within one. */
    uint64_t odd = issued_in_total(333.3, 5, 10);
    assert_true(odd >= 3332 && odd <= 3334);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* All connections' due times together form the even flow: the m-th of
 * them is m / R, so the total rate has no bursts. */
static void test_flow_is_even_across_connections(void **state)
{
    (void)state;
    enum { CONNECTIONS = 7, PER_CONNECTION = 300, TOTAL = CONNECTIONS * PER_CONNECTION };
    const double rate = 3000;
    rate_schedule s = rate_schedule_make(rate, CONNECTIONS);
    uint64_t *due = malloc(TOTAL * sizeof *due);
    assert_non_null(due);
    for (uint64_t k = 0; k < CONNECTIONS; k++)
        for (uint64_t n = 0; n < PER_CONNECTION; n++)
            due[k * PER_CONNECTION + n] = rate_schedule_due_ns(&s, k, n);
    qsort(due, TOTAL, sizeof *due, compare_u64);
    for (uint64_t m = 0; m < TOTAL; m++)
        assert_true(fabs((double)due[m] - (double)m * 1e9 / rate) < 1.0);
    for (uint64_t m = 1; m < TOTAL; m++)
        assert_true(fabs((double)(due[m] - due[m - 1]) - 1e9 / rate) <= 1.0);
    free(due);
}

/* 1/3 s is no whole number of nanoseconds: adding a rounded interval up
 * would lose a nanosecond a message; computed from the index, the
 * millionth second's message is due exactly at its second. */
static void test_no_drift_over_a_long_run(void **state)
{
    (void)state;
    rate_schedule s = rate_schedule_make(3, 1);
    assert_int_equal(rate_schedule_due_ns(&s, 0, 3 * 1000000), 1000000 * NS_PER_S);
    s = rate_schedule_make(30000, 10); /* 1/3 ms between connections' messages */
    assert_int_equal(rate_schedule_due_ns(&s, 0, 3000 * 100000), 100000 * NS_PER_S);
    /* A year at 1 kmsg/s over 3 connections: still within a microsecond. */
    s = rate_schedule_make(1000, 3);
    uint64_t n = 365ull * 86400 * 1000 / 3;
    double expected = (double)(n * 3) * 1e6;
    assert_true(fabs((double)rate_schedule_due_ns(&s, 0, n) - expected) < 1000.0);
}

/* Due times only grow, and a schedule beyond the clock's range saturates
 * instead of wrapping round to an early time. */
static void test_monotonic_and_saturating(void **state)
{
    (void)state;
    rate_schedule s = rate_schedule_make(0.001, 1);
    uint64_t previous = 0;
    for (uint64_t n = 1; n < 1000; n++) {
        uint64_t due = rate_schedule_due_ns(&s, 0, n);
        assert_true(due > previous);
        previous = due;
    }
    assert_int_equal(rate_schedule_due_ns(&s, 0, UINT64_C(1) << 40), UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_due_times_are_staggered), cmocka_unit_test(test_per_connection_interval),
        cmocka_unit_test(test_total_over_a_duration),         cmocka_unit_test(test_flow_is_even_across_connections),
        cmocka_unit_test(test_no_drift_over_a_long_run),      cmocka_unit_test(test_monotonic_and_saturating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

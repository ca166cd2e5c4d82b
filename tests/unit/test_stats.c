/* Unit tests of the server counters and the stats JSON line (servers/core/stats.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "stats.h"

static void test_init_zeroes_everything(void **state)
{
    (void)state;
    server_stats s;
    memset(&s, 0x7f, sizeof s);
    stats_init(&s);
    assert_int_equal(counter_get(&s.connections_accepted), 0);
    assert_int_equal(counter_get(&s.connections_refused), 0);
    assert_int_equal(counter_get(&s.connections_active), 0);
    assert_int_equal(counter_get(&s.peak_connections), 0);
    assert_int_equal(counter_get(&s.bytes_received), 0);
    assert_int_equal(counter_get(&s.bytes_sent), 0);
    for (int k = 0; k < ERROR_KIND_COUNT; k++)
        assert_int_equal(counter_get(&s.errors[k]), 0);
    assert_int_equal(counter_get(&s.threads_active), 0);
    assert_int_equal(counter_get(&s.peak_threads), 0);
    assert_int_equal(counter_get(&s.worst_service_delay_ms), -1); /* not measured */
}

static void test_unlimited_admits_everyone(void **state)
{
    (void)state;
    server_stats s;
    stats_init(&s);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(stats_connection_opened(&s, 0), 1);
    assert_int_equal(counter_get(&s.connections_accepted), 5000);
    assert_int_equal(counter_get(&s.connections_active), 5000);
    assert_int_equal(counter_get(&s.peak_connections), 5000);
    assert_int_equal(counter_get(&s.connections_refused), 0);
}

static void test_max_connections_refuses_and_readmits(void **state)
{
    (void)state;
    server_stats s;
    stats_init(&s);
    assert_int_equal(stats_connection_opened(&s, 3), 1);
    assert_int_equal(stats_connection_opened(&s, 3), 1);
    assert_int_equal(stats_connection_opened(&s, 3), 1);
    /* The fourth and fifth at once are refused and do not stay counted as active. */
    assert_int_equal(stats_connection_opened(&s, 3), 0);
    assert_int_equal(stats_connection_opened(&s, 3), 0);
    assert_int_equal(counter_get(&s.connections_accepted), 3);
    assert_int_equal(counter_get(&s.connections_refused), 2);
    assert_int_equal(counter_get(&s.connections_active), 3);
    assert_int_equal(counter_get(&s.peak_connections), 3);

    /* Once one leaves, the next is admitted again. */
    stats_connection_closed(&s);
    assert_int_equal(counter_get(&s.connections_active), 2);
    assert_int_equal(stats_connection_opened(&s, 3), 1);
    assert_int_equal(stats_connection_opened(&s, 3), 0);
    assert_int_equal(counter_get(&s.connections_accepted), 4);
    assert_int_equal(counter_get(&s.connections_refused), 3);
    assert_int_equal(counter_get(&s.peak_connections), 3);
}

static void test_max_connections_of_one(void **state)
{
    (void)state;
    server_stats s;
    stats_init(&s);
    for (int round = 0; round < 10; round++) {
        assert_int_equal(stats_connection_opened(&s, 1), 1);
        assert_int_equal(stats_connection_opened(&s, 1), 0);
        stats_connection_closed(&s);
    }
    assert_int_equal(counter_get(&s.connections_accepted), 10);
    assert_int_equal(counter_get(&s.connections_refused), 10);
    assert_int_equal(counter_get(&s.connections_active), 0);
    assert_int_equal(counter_get(&s.peak_connections), 1);
}

static void test_peak_connections_is_the_high_water_mark(void **state)
{
    (void)state;
    server_stats s;
    stats_init(&s);
    for (int i = 0; i < 7; i++)
        stats_connection_opened(&s, 0);
    for (int i = 0; i < 5; i++)
        stats_connection_closed(&s);
    for (int i = 0; i < 4; i++)
        stats_connection_opened(&s, 0);
    assert_int_equal(counter_get(&s.connections_active), 6);
    assert_int_equal(counter_get(&s.peak_connections), 7);
    for (int i = 0; i < 2; i++)
        stats_connection_opened(&s, 0);
    assert_int_equal(counter_get(&s.peak_connections), 8);
    assert_int_equal(counter_get(&s.connections_accepted), 13);
}

static void test_thread_peak(void **state)
{
    (void)state;
    server_stats s;
    stats_init(&s);
    stats_thread_started(&s);
    stats_thread_started(&s);
    stats_thread_started(&s);
    stats_thread_exited(&s);
    stats_thread_exited(&s);
    stats_thread_started(&s);
    assert_int_equal(counter_get(&s.threads_active), 2);
    assert_int_equal(counter_get(&s.peak_threads), 3);
    stats_thread_started(&s);
    stats_thread_started(&s);
    assert_int_equal(counter_get(&s.peak_threads), 4);
}

static void test_bytes_and_errors(void **state)
{
    (void)state;
    server_stats s;
    stats_init(&s);
    stats_received(&s, 10);
    stats_received(&s, (size_t)5000000000u);
    stats_sent(&s, 7);
    stats_error(&s, ERROR_RESET);
    stats_error(&s, ERROR_RESET);
    stats_error(&s, ERROR_ACCEPT);
    assert_int_equal(counter_get(&s.bytes_received), 5000000010LL);
    assert_int_equal(counter_get(&s.bytes_sent), 7);
    assert_int_equal(counter_get(&s.errors[ERROR_RESET]), 2);
    assert_int_equal(counter_get(&s.errors[ERROR_ACCEPT]), 1);
    assert_int_equal(counter_get(&s.errors[ERROR_RECV]), 0);
}

static void test_error_kind_names(void **state)
{
    (void)state;
    assert_string_equal(error_kind_name(ERROR_ACCEPT), "accept");
    assert_string_equal(error_kind_name(ERROR_RECV), "recv");
    assert_string_equal(error_kind_name(ERROR_SEND), "send");
    assert_string_equal(error_kind_name(ERROR_RESET), "reset");
    assert_string_equal(error_kind_name(ERROR_RESOURCE), "resource");
    assert_string_equal(error_kind_name(ERROR_KIND_COUNT), "unknown");
}

/* A server with known figures, and the exact line it must produce. */
static void known_stats(server_stats *s, process_figures *p)
{
    stats_init(s);
    for (int i = 0; i < 12; i++)
        stats_connection_opened(s, 10);
    for (int i = 0; i < 12 - 2; i++)
        stats_connection_closed(s);
    stats_received(s, 123456789);
    stats_sent(s, 123456780);
    stats_error(s, ERROR_RECV);
    stats_error(s, ERROR_SEND);
    stats_error(s, ERROR_SEND);
    stats_error(s, ERROR_RESET);
    stats_error(s, ERROR_RESET);
    stats_error(s, ERROR_RESET);
    stats_error(s, ERROR_RESOURCE);
    for (int i = 0; i < 5; i++)
        stats_thread_started(s);
    stats_thread_exited(s);
    p->cpu_user_s = 1.5;
    p->cpu_kernel_s = 0.25;
    p->peak_working_set_bytes = 52428800;
    p->run_time_s = 12.3456789;
    p->stop_requested = 1;
    p->stop_s = 0.0421;
}

static const char known_line[] =
    "{\"event\":\"stats\",\"model\":\"iocp\",\"connections_accepted\":10,\"connections_refused\":2,"
    "\"peak_connections\":10,\"bytes_received\":123456789,\"bytes_sent\":123456780,"
    "\"errors\":{\"accept\":0,\"recv\":1,\"send\":2,\"reset\":3,\"resource\":1},"
    "\"cpu_user_s\":1.500000,\"cpu_kernel_s\":0.250000,\"peak_working_set_bytes\":52428800,"
    "\"peak_threads\":5,\"stop_s\":0.042100,\"run_time_s\":12.345679}";

static void test_json_exact(void **state)
{
    (void)state;
    server_stats s;
    process_figures p;
    char line[1024];
    known_stats(&s, &p);
    int length = stats_format_json(line, sizeof line, "iocp", &s, &p);
    assert_int_equal(length, (int)strlen(known_line));
    assert_string_equal(line, known_line);
}

static void test_json_of_a_fresh_server(void **state)
{
    (void)state;
    server_stats s;
    process_figures p = {0};
    char line[1024];
    stats_init(&s);
    int length = stats_format_json(line, sizeof line, "select", &s, &p);
    const char *expected =
        "{\"event\":\"stats\",\"model\":\"select\",\"connections_accepted\":0,\"connections_refused\":0,"
        "\"peak_connections\":0,\"bytes_received\":0,\"bytes_sent\":0,"
        "\"errors\":{\"accept\":0,\"recv\":0,\"send\":0,\"reset\":0,\"resource\":0},"
        "\"cpu_user_s\":0.000000,\"cpu_kernel_s\":0.000000,\"peak_working_set_bytes\":0,"
        "\"peak_threads\":0,\"run_time_s\":0.000000}";
    assert_int_equal(length, (int)strlen(expected));
    assert_string_equal(line, expected);
}

/* A model that measures its service delay reports the worst one, after
 * peak_threads, and the threshold it holds it against; one that does not
 * leaves both out (see the fresh server). */
static void test_json_keeps_the_worst_service_delay(void **state)
{
    (void)state;
    server_stats s;
    process_figures p = {0};
    char line[1024];
    stats_init(&s);
    stats_service_delay(&s, 12);
    stats_service_delay(&s, 1500);
    stats_service_delay(&s, 3);
    assert_true(stats_format_json(line, sizeof line, "select", &s, &p) > 0);
    assert_non_null(
        strstr(line, "\"peak_threads\":0,\"worst_service_delay_ms\":1500,\"slow_service_ms\":1000,\"run_time_s\""));
}

/* --spin-us: the stats line says it was on (after peak_threads or stop_s),
 * so a calibrated run cannot pass for a plain one; a receive then takes at
 * least that long. */
static void test_json_reports_the_spin_and_a_receive_spins(void **state)
{
    (void)state;
    server_stats s;
    process_figures p = {0};
    char line[1024];
    stats_init(&s);
    s.spin_us = 2000;
    struct timespec before, after;
    timespec_get(&before, TIME_UTC);
    stats_received(&s, 64);
    timespec_get(&after, TIME_UTC);
    double spent_s = (double)(after.tv_sec - before.tv_sec) + (double)(after.tv_nsec - before.tv_nsec) / 1e9;
    assert_true(spent_s >= 0.0019); /* a lower bound only: a busy machine makes it longer, never shorter */
    assert_true(stats_format_json(line, sizeof line, "select", &s, &p) > 0);
    assert_non_null(strstr(line, "\"peak_threads\":0,\"spin_us\":2000,\"run_time_s\""));
}

/* Every size too small by even one byte (the terminating NUL included) gives
 * -1, never the length of a truncated line; the first size that fits gives
 * the whole line. */
static void test_json_too_small_is_an_error(void **state)
{
    (void)state;
    server_stats s;
    process_figures p;
    char line[1024];
    const size_t needed = sizeof known_line; /* the text and its NUL */
    known_stats(&s, &p);
    for (size_t size = 0; size < needed; size++) {
        memset(line, '#', sizeof line);
        assert_int_equal(stats_format_json(line, size, "iocp", &s, &p), -1);
        assert_true(line[size] == '#'); /* nothing written past the size given */
    }
    memset(line, '#', sizeof line);
    assert_int_equal(stats_format_json(line, needed, "iocp", &s, &p), (int)needed - 1);
    assert_string_equal(line, known_line);
}

/* The largest figures still fit the 1,024 bytes the servers use. */
static void test_json_of_huge_figures_fits(void **state)
{
    (void)state;
    server_stats s;
    process_figures p;
    char line[1024];
    stats_init(&s);
    counter_add(&s.connections_accepted, INT64_MAX);
    counter_add(&s.connections_refused, INT64_MAX);
    counter_add(&s.peak_connections, INT64_MAX);
    counter_add(&s.bytes_received, INT64_MAX);
    counter_add(&s.bytes_sent, INT64_MAX);
    for (int k = 0; k < ERROR_KIND_COUNT; k++)
        counter_add(&s.errors[k], INT64_MAX);
    counter_add(&s.peak_threads, INT64_MAX);
    p.cpu_user_s = 1e9;
    p.cpu_kernel_s = 1e9;
    p.peak_working_set_bytes = UINT64_MAX;
    p.run_time_s = 1e9;
    int length = stats_format_json(line, sizeof line, "overlapped", &s, &p);
    assert_true(length > 0);
    assert_int_equal((size_t)length, strlen(line));
    assert_non_null(strstr(line, "\"bytes_sent\":9223372036854775807,"));
    assert_non_null(strstr(line, "\"peak_working_set_bytes\":18446744073709551615,"));
    assert_non_null(strstr(line, "\"run_time_s\":1000000000.000000}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_zeroes_everything),
        cmocka_unit_test(test_unlimited_admits_everyone),
        cmocka_unit_test(test_max_connections_refuses_and_readmits),
        cmocka_unit_test(test_max_connections_of_one),
        cmocka_unit_test(test_peak_connections_is_the_high_water_mark),
        cmocka_unit_test(test_thread_peak),
        cmocka_unit_test(test_bytes_and_errors),
        cmocka_unit_test(test_error_kind_names),
        cmocka_unit_test(test_json_exact),
        cmocka_unit_test(test_json_reports_the_spin_and_a_receive_spins),
        cmocka_unit_test(test_json_of_a_fresh_server),
        cmocka_unit_test(test_json_keeps_the_worst_service_delay),
        cmocka_unit_test(test_json_too_small_is_an_error),
        cmocka_unit_test(test_json_of_huge_figures_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

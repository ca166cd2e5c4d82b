/* Unit tests of the load generator's command line (loadgen/options.c):
 * every option, its range and its errors, and the rules that tie options
 * to workloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "options.h"
#include "scratch_file.h"
#include "wsb_version.h"

typedef struct parsed {
    options_result result;
    loadgen_options options;
    char error[256];
} parsed;

/* Parses a NULL-terminated argument list, with a program name in front. */
static parsed parse_list(const char *const *args)
{
    parsed p;
    char *argv[64];
    int argc = 0;
    argv[argc++] = "loadgen";
    while (*args && argc < 63)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    memset(&p, 0, sizeof p);
    strcpy(p.error, "(untouched)");
    p.result = options_parse(argc, argv, &p.options, p.error, sizeof p.error);
    return p;
}

#define PARSE(...) parse_list((const char *const[]){__VA_ARGS__, NULL})

/* A bad command line: OPTIONS_BAD with one line that contains `words`. */
static void assert_bad(parsed p, const char *words)
{
    assert_int_equal(p.result, OPTIONS_BAD);
    if (!strstr(p.error, words))
        fail_msg("error \"%s\" does not contain \"%s\"", p.error, words);
    assert_null(strchr(p.error, '\n'));
}

static void test_defaults(void **state)
{
    (void)state;
    parsed p = PARSE("--port", "7007");
    assert_int_equal(p.result, OPTIONS_OK);
    const loadgen_options *o = &p.options;
    assert_string_equal(o->host, "127.0.0.1");
    assert_int_equal(o->port, 7007);
    assert_int_equal(o->workload, WORKLOAD_PINGPONG);
    assert_int_equal(o->connections, 1);
    assert_int_equal(o->size, 64);
    assert_true(o->duration_s == 10 && o->warmup_s == 0);
    assert_int_equal(o->messages, 0);
    assert_int_equal(o->depth, 16);
    assert_int_equal(o->concurrency, 1);
    assert_int_equal(o->idle, 1000);
    assert_int_equal(o->threads, 1);
    assert_int_equal(o->seed, 1);
    assert_true(o->verify);
    assert_null(o->json_path);
    assert_null(o->csv_path);
    assert_true(o->connect_timeout_s == 5 && o->reply_timeout_s == 10);
    assert_string_equal(p.error, "(untouched)");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--help").result, OPTIONS_HELP);
    assert_int_equal(PARSE("-h").result, OPTIONS_HELP);
    assert_int_equal(PARSE("--port", "7", "--help").result, OPTIONS_HELP);
    /* The help names every option. */
    char text[4096] = {0};
    FILE *to = scratch_file();
    assert_non_null(to);
    options_print_help(to);
    rewind(to);
    size_t length = fread(text, 1, sizeof text - 1, to);
    fclose(to);
    assert_true(length > 0);
    const char *names[] = {
        "--host",    "--port",     "--workload",        "--connections", "--size",        "--duration",
        "--warmup",  "--messages", "--depth",           "--rate",        "--concurrency", "--idle",
        "--threads", "--seed",     "--no-verify",       "--json",        "--csv",         "--connect-timeout",
        "--timeout", "--barrier",  "--barrier-timeout", "--help"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(text, names[i]))
            fail_msg("--help does not mention %s", names[i]);
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--version").result, OPTIONS_VERSION);
    assert_int_equal(PARSE("--port", "7", "--version").result, OPTIONS_VERSION);
    char text[256] = {0};
    FILE *to = scratch_file();
    assert_non_null(to);
    options_print_version(to);
    rewind(to);
    assert_non_null(fgets(text, sizeof text, to));
    fclose(to);
    char expected[128];
    snprintf(expected, sizeof expected, "loadgen winsock-bench %s %s\n", WSB_VERSION, WSB_COMMIT);
    assert_string_equal(text, expected);
}

static void test_barrier(void **state)
{
    (void)state;
    parsed p = PARSE("--port", "7");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_false(p.options.barrier);
    assert_true(p.options.verify); /* flags set only their own field */
    assert_true(p.options.barrier_timeout_s == 60);
    p = PARSE("--port", "7", "--barrier");
    assert_true(p.result == OPTIONS_OK && p.options.barrier && p.options.verify);
    assert_bad(PARSE("--port", "7", "--barrier=1"), "--barrier takes no value");
    assert_bad(PARSE("--port", "7", "--barrier-timeout", "3"), "--barrier-timeout applies to --barrier runs only");
}

static void test_every_option_is_stored(void **state)
{
    (void)state;
    parsed p = PARSE("--host", "::1", "--port", "65535", "--workload", "pipeline", "--connections", "12", "--size",
                     "1000", "--duration", "2.5", "--warmup", "0.5", "--depth", "4", "--threads", "3", "--seed",
                     "18446744073709551615", "--no-verify", "--json", "-", "--csv", "out.csv", "--connect-timeout",
                     "0.25", "--timeout", "7", "--barrier", "--barrier-timeout", "2.5");
    assert_int_equal(p.result, OPTIONS_OK);
    const loadgen_options *o = &p.options;
    assert_true(o->barrier && o->barrier_timeout_s == 2.5);
    assert_string_equal(o->host, "::1");
    assert_int_equal(o->port, 65535);
    assert_int_equal(o->workload, WORKLOAD_PIPELINE);
    assert_int_equal(o->connections, 12);
    assert_int_equal(o->size, 1000);
    assert_true(o->duration_s == 2.5 && o->warmup_s == 0.5);
    assert_int_equal(o->depth, 4);
    assert_int_equal(o->threads, 3);
    assert_true(o->seed == UINT64_MAX);
    assert_false(o->verify);
    assert_string_equal(o->json_path, "-");
    assert_string_equal(o->csv_path, "out.csv");
    assert_true(o->connect_timeout_s == 0.25 && o->reply_timeout_s == 7);

    p = PARSE("--port", "1", "--workload", "rate", "--rate", "2500.5", "--connections", "4");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_true(p.options.workload == WORKLOAD_RATE && p.options.rate == 2500.5);

    p = PARSE("--port", "1", "--workload", "churn", "--concurrency", "8", "--messages", "300", "--threads", "2");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_true(p.options.workload == WORKLOAD_CHURN && p.options.concurrency == 8 && p.options.messages == 300);
    assert_true(p.options.duration_s == 0); /* a message-count run has no duration */

    p = PARSE("--port", "1", "--workload", "idle", "--idle", "0", "--connections", "2");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_true(p.options.workload == WORKLOAD_IDLE && p.options.idle == 0);
}

static void test_equals_form(void **state)
{
    (void)state;
    parsed p = PARSE("--port=7007", "--size=3", "--workload=pipeline", "--json=r.json");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_int_equal(p.options.port, 7007);
    assert_int_equal(p.options.size, 3);
    assert_int_equal(p.options.workload, WORKLOAD_PIPELINE);
    assert_string_equal(p.options.json_path, "r.json");
    /* A value that itself contains '=' */
    p = PARSE("--port", "1", "--csv=a=b.csv");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_string_equal(p.options.csv_path, "a=b.csv");
}

/* 2^53 + 1 has no double: a message count that large must still be exact. */
static void test_large_counts_are_exact(void **state)
{
    (void)state;
    parsed p = PARSE("--port", "1", "--messages", "9007199254740993");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_true(p.options.messages == UINT64_C(9007199254740993));
}

static void test_bad_numbers(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "x"), "--port x: is not a number");
    assert_bad(PARSE("--port", ""), "--port : is not a number");
    assert_bad(PARSE("--port", "7", "--size", "12abc"), "--size 12abc: is not a number");
    assert_bad(PARSE("--port", "7", "--duration", "nan"), "is not a number");
    assert_bad(PARSE("--port", "7", "--duration", "inf"), "is not a number");
    assert_bad(PARSE("--port", "7", "--rate", "1e999", "--workload", "rate"), "is not a number");
    assert_bad(PARSE("--port", "7", "--connections", "1.5"), "--connections 1.5: must be a whole number");
    /* Whole numbers in other spellings would be read differently as integers. */
    assert_bad(PARSE("--port", "7", "--messages", "1e3"), "--messages 1e3: must be a whole number");
    assert_bad(PARSE("--port", "7", "--messages", "0x10"), "--messages 0x10: must be a whole number");
    assert_bad(PARSE("--port", "7", "--seed", "+5"), "--seed +5: must be a whole number");
    assert_bad(PARSE("--port", " 7"), "must be a whole number");
}

static void test_out_of_range(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "0"), "--port 0: is out of range");
    assert_bad(PARSE("--port", "65536"), "--port 65536: is out of range");
    assert_bad(PARSE("--port", "-1"), "is out of range");
    assert_bad(PARSE("--port", "7", "--connections", "0"), "--connections 0: is out of range");
    assert_bad(PARSE("--port", "7", "--connections", "1000001"), "is out of range");
    assert_bad(PARSE("--port", "7", "--size", "0"), "--size 0: is out of range");
    assert_bad(PARSE("--port", "7", "--size", "67108865"), "is out of range");
    assert_bad(PARSE("--port", "7", "--duration", "0"), "--duration 0: is out of range");
    assert_bad(PARSE("--port", "7", "--duration", "-1"), "is out of range");
    assert_bad(PARSE("--port", "7", "--warmup", "-0.1"), "--warmup -0.1: is out of range");
    assert_bad(PARSE("--port", "7", "--messages", "0"), "--messages 0: is out of range");
    assert_bad(PARSE("--port", "7", "--workload", "pipeline", "--depth", "0"), "--depth 0: is out of range");
    assert_bad(PARSE("--port", "7", "--workload", "pipeline", "--depth", "65537"), "is out of range");
    assert_bad(PARSE("--port", "7", "--workload", "rate", "--rate", "0"), "--rate 0: is out of range");
    assert_bad(PARSE("--port", "7", "--workload", "churn", "--concurrency", "0"), "--concurrency 0: is out of range");
    assert_bad(PARSE("--port", "7", "--workload", "idle", "--idle", "1000001"), "is out of range");
    assert_bad(PARSE("--port", "7", "--threads", "0"), "--threads 0: is out of range");
    assert_bad(PARSE("--port", "7", "--threads", "257"), "is out of range");
    assert_bad(PARSE("--port", "7", "--seed", "18446744073709551616"), "--seed 18446744073709551616: is out of range");
    assert_bad(PARSE("--port", "7", "--connect-timeout", "0"), "--connect-timeout 0: is out of range");
    assert_bad(PARSE("--port", "7", "--timeout", "3601"), "--timeout 3601: is out of range");
    /* The error states the range, so that the next try is the right one. */
    assert_bad(PARSE("--port", "7", "--size", "0"), "--size 0: is out of range (--size takes 1 to 67108864)");
    assert_bad(PARSE("--port", "7", "--duration", "0"), "(--duration takes 0.001 to 10000000)");
    assert_bad(PARSE("--port", "7", "--seed", "-1"), "(--seed takes 0 to 18446744073709551615)");
    assert_bad(PARSE("--port", "7", "--messages", "0"), "(--messages takes 1 to 1e+18)");
    /* The edges themselves are in range. */
    assert_int_equal(PARSE("--port", "1", "--size", "67108864", "--threads", "1").result, OPTIONS_OK);
    assert_int_equal(PARSE("--port", "1", "--duration", "0.001", "--timeout", "3600").result, OPTIONS_OK);
}

static void test_strings(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "7", "--host", ""), "--host : must not be empty");
    assert_bad(PARSE("--port", "7", "--json", ""), "--json : must not be empty");
    char long_host[300];
    memset(long_host, 'h', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = '\0';
    assert_bad(PARSE("--port", "7", "--host", long_host), "is too long");
    assert_bad(PARSE("--port", "7", "--workload", "nope"), "--workload nope: must be pingpong, pipeline");
    assert_bad(PARSE("--port", "7", "--workload", "PINGPONG"), "must be pingpong");
}

static void test_unknown_and_missing(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "7", "--no-such-option"), "unknown option --no-such-option");
    assert_bad(PARSE("--port", "7", "-p"), "unknown option -p");
    assert_bad(PARSE("--port", "7", "stray"), "unknown option stray");
    assert_bad(PARSE("--port", "7", "--por"), "unknown option --por");
    assert_bad(PARSE("--port=7", "--sizes=3"), "unknown option --sizes");
    assert_bad(PARSE("--port", "7", "--size"), "--size needs a value");
    assert_bad(PARSE("--port"), "--port needs a value");
    assert_bad(PARSE("--port", "7", "--no-verify=1"), "--no-verify takes no value");
    assert_bad(PARSE("--workload", "pingpong"), "--port is required");
}

static void test_duration_or_messages(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "7", "--messages", "5", "--duration", "1"),
               "--messages and --duration exclude each other");
    assert_bad(PARSE("--port", "7", "--messages", "5", "--warmup", "1"), "--warmup applies to --duration runs only");
    parsed p = PARSE("--port", "7", "--warmup", "2");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_true(p.options.duration_s == 10 && p.options.warmup_s == 2);
}

static void test_workload_rules(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "7", "--workload", "rate"), "--workload rate needs --rate");
    assert_bad(PARSE("--port", "7", "--rate", "10"), "--rate applies to --workload rate only");
    assert_bad(PARSE("--port", "7", "--workload", "pipeline", "--rate", "10"),
               "--rate applies to --workload rate only");
    assert_bad(PARSE("--port", "7", "--depth", "4"), "--depth applies to --workload pipeline only");
    assert_bad(PARSE("--port", "7", "--workload", "rate", "--rate", "5", "--depth", "4"), "--depth applies");
    assert_bad(PARSE("--port", "7", "--concurrency", "4"), "--concurrency applies to --workload churn only");
    assert_bad(PARSE("--port", "7", "--workload", "idle", "--concurrency", "4"), "--concurrency applies");
    assert_bad(PARSE("--port", "7", "--idle", "10"), "--idle applies to --workload idle only");
    assert_bad(PARSE("--port", "7", "--workload", "churn", "--idle", "10"), "--idle applies");
    assert_bad(PARSE("--port", "7", "--workload", "churn", "--connections", "4"),
               "--connections does not apply to --workload churn");
    /* The workload may come after its options. */
    assert_int_equal(PARSE("--port", "7", "--depth", "4", "--workload", "pipeline").result, OPTIONS_OK);
    assert_int_equal(PARSE("--port", "7", "--rate", "9", "--workload", "rate").result, OPTIONS_OK);
}

static void test_threads_need_work(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "7", "--threads", "2"), "--threads must not exceed the connections");
    assert_int_equal(PARSE("--port", "7", "--threads", "2", "--connections", "2").result, OPTIONS_OK);
    assert_bad(PARSE("--port", "7", "--workload", "churn", "--threads", "3", "--concurrency", "2"), "--threads");
    assert_int_equal(PARSE("--port", "7", "--workload", "churn", "--threads", "2", "--concurrency", "2").result,
                     OPTIONS_OK);
    /* Idle connections are not active ones: they do not count. */
    assert_bad(PARSE("--port", "7", "--workload", "idle", "--idle", "100", "--threads", "2"), "--threads");
}

/* The last of a repeated option wins, as with most command lines. */
static void test_repeated_option(void **state)
{
    (void)state;
    parsed p = PARSE("--port", "7", "--size", "10", "--size", "20");
    assert_int_equal(p.result, OPTIONS_OK);
    assert_int_equal(p.options.size, 20);
}

static void test_workload_names(void **state)
{
    (void)state;
    assert_string_equal(workload_name(WORKLOAD_PINGPONG), "pingpong");
    assert_string_equal(workload_name(WORKLOAD_PIPELINE), "pipeline");
    assert_string_equal(workload_name(WORKLOAD_RATE), "rate");
    assert_string_equal(workload_name(WORKLOAD_CHURN), "churn");
    assert_string_equal(workload_name(WORKLOAD_IDLE), "idle");
}

/* Found by fuzzing (tests/fuzz): a value or name holding a line break made
 * the error two lines. What was typed is quoted with '?' for each line
 * break. */
static void test_error_stays_one_line(void **state)
{
    (void)state;
    assert_bad(PARSE("--port", "7\n8"), "--port 7?8: is not a number");
    assert_bad(PARSE("--port", "7", "--bogus\r\nX"), "unknown option --bogus??X");
    assert_bad(PARSE("--port", "7", "--workload", "\vping\f"), "--workload ?ping?: must be");
    assert_null(strchr(PARSE("\n").error, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_every_option_is_stored),
        cmocka_unit_test(test_equals_form),
        cmocka_unit_test(test_large_counts_are_exact),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_unknown_and_missing),
        cmocka_unit_test(test_duration_or_messages),
        cmocka_unit_test(test_workload_rules),
        cmocka_unit_test(test_threads_need_work),
        cmocka_unit_test(test_repeated_option),
        cmocka_unit_test(test_workload_names),
        cmocka_unit_test(test_error_stays_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

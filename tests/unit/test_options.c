/* Unit tests of the shared command-line options (servers/core/options.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "scratch_file.h"
#include "wsb_version.h"

/* Three kinds of model: no pools, a thread pool, a thread pool and AcceptEx. */
static const model_info plain_model = {.name = "plain", .summary = "A model without pools."};
static const model_info pool_model = {.name = "pool", .summary = "A model with worker threads.", .has_thread_pool = 1};
static const model_info accept_model = {.name = "accepting",
                                        .summary = "A model with an AcceptEx pool.",
                                        .has_thread_pool = 1,
                                        .has_accept_pool = 1,
                                        .default_accept_pool = 16};
static const model_info tuned_model = {.name = "tuned",
                                       .summary = "A model with completion-port tunings.",
                                       .has_thread_pool = 1,
                                       .has_accept_pool = 1,
                                       .default_accept_pool = 32,
                                       .has_completion_tuning = 1};
static const model_info capped_model = {.name = "capped",
                                        .summary = "A model whose AcceptEx pool has a ceiling.",
                                        .has_accept_pool = 1,
                                        .default_accept_pool = 16,
                                        .max_accept_pool = 63};

typedef struct parsed {
    options_result result;
    server_options options;
    char error[256];
} parsed;

/* Parses a NULL-terminated argument list, with a program name in front. */
static parsed parse(const model_info *model, const char *const *args)
{
    parsed p;
    char *argv[32];
    int argc = 0;
    argv[argc++] = "prog";
    while (*args && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    memset(&p, 0, sizeof p);
    strcpy(p.error, "(untouched)");
    p.result = options_parse(&p.options, model, argc, argv, p.error, sizeof p.error);
    return p;
}

static parsed parse1(const model_info *model, const char *arg)
{
    const char *args[2] = {arg, NULL};
    return parse(model, args);
}

static parsed parse2(const model_info *model, const char *arg, const char *value)
{
    const char *args[3] = {arg, value, NULL};
    return parse(model, args);
}

static void assert_default_options(const server_options *o, int accept_pool)
{
    assert_int_equal(o->port, 0);
    assert_string_equal(o->bind, "127.0.0.1");
    assert_int_equal(o->threads, 0);
    assert_int_equal(o->buffer_size, OPTIONS_DEFAULT_BUFFER);
    assert_int_equal(o->backlog, 0);
    assert_int_equal(o->max_connections, 0);
    assert_int_equal(o->accept_pool, accept_pool);
    assert_int_equal(o->stdin_stop, 1);
}

static void test_defaults(void **state)
{
    (void)state;
    server_options o;
    memset(&o, 0x5a, sizeof o); /* every field must be set, not left over */
    options_defaults(&o, &plain_model);
    assert_default_options(&o, 0);
    options_defaults(&o, &accept_model);
    assert_default_options(&o, 16);

    const char *none[] = {NULL};
    parsed p = parse(&accept_model, none);
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_default_options(&p.options, 16);
    assert_string_equal(p.error, "(untouched)");
}

/* Each numeric option, the field it sets, and its accepted range. */
typedef struct numeric_case {
    const char *name;
    long long min, max;
    size_t offset;
    int is_size;
} numeric_case;

static const numeric_case numeric_cases[] = {
    {"--port", 0, 65535, offsetof(server_options, port), 0},
    {"--threads", 0, 1024, offsetof(server_options, threads), 0},
    {"--buffer", 1, OPTIONS_MAX_BUFFER, offsetof(server_options, buffer_size), 1},
    {"--backlog", 0, 1000000, offsetof(server_options, backlog), 0},
    {"--max-connections", 0, 10000000, offsetof(server_options, max_connections), 0},
    {"--accept-pool", 1, 1024, offsetof(server_options, accept_pool), 0},
};
enum { NUMERIC_CASES = sizeof numeric_cases / sizeof *numeric_cases };

static long long field_value(const server_options *o, const numeric_case *c)
{
    const char *field = (const char *)o + c->offset;
    if (c->is_size)
        return (long long)*(const size_t *)field;
    return *(const int *)field;
}

/* Both spellings must give the same result. */
static void check_number(const numeric_case *c, const char *text, long long expected)
{
    char joined[128];
    snprintf(joined, sizeof joined, "%s=%s", c->name, text);
    parsed separate = parse2(&accept_model, c->name, text);
    parsed equals = parse1(&accept_model, joined);
    assert_int_equal(separate.result, OPTIONS_RUN);
    assert_int_equal(equals.result, OPTIONS_RUN);
    assert_int_equal(field_value(&separate.options, c), expected);
    assert_int_equal(field_value(&equals.options, c), expected);
}

static void check_number_error(const model_info *model, const numeric_case *c, const char *text)
{
    char joined[128], expected[256], shown[64];
    snprintf(joined, sizeof joined, "%s=%s", c->name, text);
    snprintf(shown, sizeof shown, "%s", text);
    for (char *at = shown; *at; at++) /* the error stays one line */
        if (*at == '\n')
            *at = '?';
    snprintf(expected, sizeof expected, "%s: %s takes a whole number from %lld to %lld (got '%s')", model->name,
             c->name, c->min, c->max, shown);
    parsed separate = parse2(model, c->name, text);
    parsed equals = parse1(model, joined);
    assert_int_equal(separate.result, OPTIONS_ERROR);
    assert_string_equal(separate.error, expected);
    assert_int_equal(equals.result, OPTIONS_ERROR);
    assert_string_equal(equals.error, expected);
}

static void test_numeric_options_both_forms(void **state)
{
    (void)state;
    for (int k = 0; k < NUMERIC_CASES; k++) {
        const numeric_case *c = &numeric_cases[k];
        char text[32];
        check_number(c, "7", 7);
        snprintf(text, sizeof text, "%lld", c->min);
        check_number(c, text, c->min);
        snprintf(text, sizeof text, "%lld", c->max);
        check_number(c, text, c->max);
        check_number(c, "0012", 12); /* leading zeros are still decimal */
    }
}

static void test_every_field_at_once(void **state)
{
    (void)state;
    const char *args[] = {"--port",
                          "8080",
                          "--bind=::1",
                          "--threads=3",
                          "--buffer",
                          "65536",
                          "--backlog=50",
                          "--max-connections",
                          "2000",
                          "--accept-pool=32",
                          "--no-stdin-stop",
                          NULL};
    parsed p = parse(&accept_model, args);
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.port, 8080);
    assert_string_equal(p.options.bind, "::1");
    assert_int_equal(p.options.threads, 3);
    assert_int_equal(p.options.buffer_size, 65536);
    assert_int_equal(p.options.backlog, 50);
    assert_int_equal(p.options.max_connections, 2000);
    assert_int_equal(p.options.accept_pool, 32);
    assert_int_equal(p.options.stdin_stop, 0);
}

static void test_later_option_wins(void **state)
{
    (void)state;
    const char *args[] = {"--port", "1", "--port=2", "--bind", "a", "--bind=b", NULL};
    parsed p = parse(&plain_model, args);
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.port, 2);
    assert_string_equal(p.options.bind, "b");
}

static void test_range_errors(void **state)
{
    (void)state;
    for (int k = 0; k < NUMERIC_CASES; k++) {
        const numeric_case *c = &numeric_cases[k];
        char text[32];
        snprintf(text, sizeof text, "%lld", c->min - 1);
        check_number_error(&accept_model, c, text);
        snprintf(text, sizeof text, "%lld", c->max + 1);
        check_number_error(&accept_model, c, text);
    }
    /* The exact line the servers print for the ctest bad-option case. */
    parsed p = parse2(&plain_model, "--port", "70000");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: --port takes a whole number from 0 to 65535 (got '70000')");
}

static void test_garbage_numbers(void **state)
{
    (void)state;
    static const char *const garbage[] = {"",
                                          "abc",
                                          "12abc",
                                          "1.5",
                                          "0x10",
                                          "1e3",
                                          " 1",
                                          "1 ",
                                          "+1",
                                          "\t1",
                                          "\n1",
                                          "--",
                                          "-",
                                          "99999999999999999999",
                                          "-99999999999999999999",
                                          "\xef\xbc\x98" /* a full-width digit 8 */};
    for (size_t g = 0; g < sizeof garbage / sizeof *garbage; g++)
        for (int k = 0; k < NUMERIC_CASES; k++)
            check_number_error(&accept_model, &numeric_cases[k], garbage[g]);
}

static void test_bind(void **state)
{
    (void)state;
    parsed p = parse2(&plain_model, "--bind", "localhost");
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_string_equal(p.options.bind, "localhost");
    p = parse1(&plain_model, "--bind=fe80::1%lo");
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_string_equal(p.options.bind, "fe80::1%lo");

    p = parse1(&plain_model, "--bind=");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: --bind needs an address (got '')");
    p = parse2(&plain_model, "--bind", "");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: --bind needs an address (got '')");

    /* The longest address that fits, and one byte more. */
    char longest[sizeof p.options.bind + 1];
    memset(longest, 'a', sizeof longest);
    longest[sizeof p.options.bind - 1] = '\0';
    p = parse2(&plain_model, "--bind", longest);
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_string_equal(p.options.bind, longest);
    longest[sizeof p.options.bind - 1] = 'a';
    longest[sizeof p.options.bind] = '\0';
    p = parse2(&plain_model, "--bind", longest);
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_non_null(strstr(p.error, "plain: --bind needs an address (got 'aaa"));
}

static void test_no_stdin_stop(void **state)
{
    (void)state;
    parsed p = parse1(&plain_model, "--no-stdin-stop");
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.stdin_stop, 0);
    /* A flag takes no value, and the next argument is not swallowed as one. */
    p = parse2(&plain_model, "--no-stdin-stop", "5");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: unknown option '5' (see --help)");
    p = parse1(&plain_model, "--no-stdin-stop=1");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_non_null(strstr(p.error, "--no-stdin-stop"));
}

static void test_unknown_options(void **state)
{
    (void)state;
    static const char *const unknown[] = {"--bogus", "--port8080", "-p", "port", "--PORT", "---port", "-", ""};
    for (size_t u = 0; u < sizeof unknown / sizeof *unknown; u++) {
        char expected[256];
        snprintf(expected, sizeof expected, "pool: unknown option '%s' (see --help)", unknown[u]);
        parsed p = parse2(&pool_model, unknown[u], "1");
        assert_int_equal(p.result, OPTIONS_ERROR);
        assert_string_equal(p.error, expected);
    }
    parsed p = parse1(&pool_model, "--bogus=3");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "pool: unknown option '--bogus' (see --help)");
}

/* --threads and --accept-pool only exist for models that have those pools. */
static void test_options_a_model_does_not_take(void **state)
{
    (void)state;
    parsed p = parse2(&plain_model, "--threads", "4");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: unknown option '--threads' (see --help)");
    p = parse1(&plain_model, "--threads=4");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: unknown option '--threads' (see --help)");
    p = parse2(&pool_model, "--accept-pool", "4");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "pool: unknown option '--accept-pool' (see --help)");
    p = parse2(&pool_model, "--threads", "4");
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.threads, 4);
}

static void test_missing_value(void **state)
{
    (void)state;
    static const char *const names[] = {
        "--port", "--bind", "--threads", "--buffer", "--backlog", "--max-connections", "--accept-pool"};
    for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
        char expected[128];
        snprintf(expected, sizeof expected, "accepting: option %s needs a value", names[n]);
        parsed p = parse1(&accept_model, names[n]);
        assert_int_equal(p.result, OPTIONS_ERROR);
        assert_string_equal(p.error, expected);
    }
    /* The next option is taken as the value, and rejected as a number. */
    parsed p = parse2(&plain_model, "--port", "--buffer");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: --port takes a whole number from 0 to 65535 (got '--buffer')");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(parse1(&plain_model, "--help").result, OPTIONS_HELP);
    assert_int_equal(parse1(&plain_model, "-h").result, OPTIONS_HELP);
    const char *after_good[] = {"--port", "5", "--help", NULL};
    assert_int_equal(parse(&plain_model, after_good).result, OPTIONS_HELP);
    /* Options are read in order: help before a bad option wins, after it does not. */
    const char *before_bad[] = {"--help", "--port", "70000", NULL};
    assert_int_equal(parse(&plain_model, before_bad).result, OPTIONS_HELP);
    const char *after_bad[] = {"--port", "70000", "--help", NULL};
    assert_int_equal(parse(&plain_model, after_bad).result, OPTIONS_ERROR);
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(parse1(&plain_model, "--version").result, OPTIONS_VERSION);
    const char *after_good[] = {"--port", "5", "--version", NULL};
    assert_int_equal(parse(&plain_model, after_good).result, OPTIONS_VERSION);
    assert_int_equal(parse1(&plain_model, "--version=1").result, OPTIONS_ERROR);
    /* One line: the model's name, the project, the version file's version, the commit. */
    char text[256] = {0};
    FILE *f = scratch_file();
    assert_non_null(f);
    options_print_version(f, &plain_model);
    rewind(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    char expected[128];
    snprintf(expected, sizeof expected, "plain winsock-bench %s %s\n", WSB_VERSION, WSB_COMMIT);
    assert_string_equal(text, expected);
    assert_true(strlen(WSB_COMMIT) > 0);
}

static void test_error_is_bounded(void **state)
{
    (void)state;
    char error[16];
    server_options o;
    char *argv[] = {"prog", "--a-very-long-unknown-option-name", NULL};
    memset(error, 'x', sizeof error);
    assert_int_equal(options_parse(&o, &plain_model, 2, argv, error, sizeof error), OPTIONS_ERROR);
    assert_int_equal(strlen(error), sizeof error - 1);
    assert_memory_equal(error, "plain: unknown ", sizeof error - 1);
}

/* The usage text, captured through a temporary file. */
static char *usage_of(const model_info *model)
{
    FILE *f = scratch_file();
    assert_non_null(f);
    options_usage(f, model);
    long size = ftell(f);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)size, f), size);
    fclose(f);
    return text;
}

static int starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

static void test_accept_pool_ceiling_of_a_model(void **state)
{
    (void)state;
    parsed at_ceiling = parse2(&capped_model, "--accept-pool", "63");
    assert_int_equal(at_ceiling.result, OPTIONS_RUN);
    assert_int_equal(at_ceiling.options.accept_pool, 63);
    parsed over = parse2(&capped_model, "--accept-pool", "64");
    assert_int_equal(over.result, OPTIONS_ERROR);
    assert_string_equal(over.error, "capped: --accept-pool takes at most 63 here (got '64')");
    /* Without a ceiling of its own a model takes the option's whole range. */
    parsed uncapped = parse2(&accept_model, "--accept-pool", "1024");
    assert_int_equal(uncapped.result, OPTIONS_RUN);
    assert_int_equal(uncapped.options.accept_pool, 1024);
}

/* --spin-us N, the calibration aid: every model takes it, off by default,
 * 0 to OPTIONS_MAX_SPIN_US. */
static void test_spin_us(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    assert_int_equal(parse(&plain_model, none).options.spin_us, 0);
    assert_int_equal(parse2(&plain_model, "--spin-us", "25").options.spin_us, 25);
    assert_int_equal(parse1(&tuned_model, "--spin-us=1000000").options.spin_us, OPTIONS_MAX_SPIN_US);
    static const char *const bad[] = {"-1", "1000001", "5us", ""};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        char expected[128];
        snprintf(expected, sizeof expected, "plain: --spin-us takes a whole number from 0 to %d (got '%s')",
                 OPTIONS_MAX_SPIN_US, bad[b]);
        parsed p = parse2(&plain_model, "--spin-us", bad[b]);
        assert_int_equal(p.result, OPTIONS_ERROR);
        assert_string_equal(p.error, expected);
    }
}

/* --batch N and --skip-on-success: only for a model with completion-port
 * tunings (iocp); off by default. */
static void test_completion_tunings(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    parsed p = parse(&tuned_model, none);
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.batch, 0);
    assert_int_equal(p.options.skip_on_success, 0);

    static const int batches[] = {1, 16, OPTIONS_MAX_BATCH};
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        char value[16], joined[32];
        snprintf(value, sizeof value, "%d", batches[b]);
        snprintf(joined, sizeof joined, "--batch=%d", batches[b]);
        assert_int_equal(parse2(&tuned_model, "--batch", value).options.batch, batches[b]);
        assert_int_equal(parse1(&tuned_model, joined).options.batch, batches[b]);
    }
    static const char *const bad[] = {"0", "1025", "-1", "eight", "8x", ""};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        char expected[128];
        snprintf(expected, sizeof expected, "tuned: --batch takes a whole number from 1 to %d (got '%s')",
                 OPTIONS_MAX_BATCH, bad[b]);
        p = parse2(&tuned_model, "--batch", bad[b]);
        assert_int_equal(p.result, OPTIONS_ERROR);
        assert_string_equal(p.error, expected);
    }
    p = parse1(&tuned_model, "--batch");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "tuned: option --batch needs a value");

    p = parse1(&tuned_model, "--skip-on-success");
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.skip_on_success, 1);
    assert_int_equal(p.options.batch, 0);
    const char *both[] = {"--skip-on-success", "--batch", "64", NULL};
    p = parse(&tuned_model, both);
    assert_int_equal(p.result, OPTIONS_RUN);
    assert_int_equal(p.options.skip_on_success, 1);
    assert_int_equal(p.options.batch, 64);
    /* A flag takes no value. */
    p = parse1(&tuned_model, "--skip-on-success=1");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "tuned: unknown option '--skip-on-success' (see --help)");
}

static void test_completion_tunings_only_where_taken(void **state)
{
    (void)state;
    parsed p = parse2(&accept_model, "--batch", "8");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "accepting: unknown option '--batch' (see --help)");
    p = parse1(&accept_model, "--skip-on-success");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "accepting: unknown option '--skip-on-success' (see --help)");

    char *tuned = usage_of(&tuned_model), *accepting = usage_of(&accept_model);
    assert_non_null(strstr(tuned, "--batch N"));
    assert_non_null(strstr(tuned, "--skip-on-success"));
    assert_null(strstr(accepting, "--batch"));
    assert_null(strstr(accepting, "--skip-on-success"));
    free(tuned);
    free(accepting);
}

static void test_usage(void **state)
{
    (void)state;
    char *plain = usage_of(&plain_model), *accepting = usage_of(&accept_model);
    assert_true(starts_with(plain, "usage: plain [options]\nA model without pools.\n\n"));
    assert_non_null(strstr(plain, "--port N"));
    assert_non_null(strstr(plain, "--no-stdin-stop"));
    assert_non_null(strstr(plain, "(default 16384)"));
    assert_null(strstr(plain, "--threads"));
    assert_null(strstr(plain, "--accept-pool"));
    assert_true(starts_with(accepting, "usage: accepting [options]\nA model with an AcceptEx pool.\n\n"));
    assert_non_null(strstr(accepting, "--threads N"));
    assert_non_null(strstr(accepting, "AcceptEx calls kept outstanding (default 16)"));
    free(plain);
    free(accepting);
}

/* Found by fuzzing (tests/fuzz): a name or value holding a line break made
 * the error two lines. What was typed is quoted with '?' for each line
 * break. */
static void test_error_stays_one_line(void **state)
{
    (void)state;
    parsed p = parse1(&plain_model, "\n");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: unknown option '?' (see --help)");
    p = parse2(&plain_model, "--port", "1\r\n2");
    assert_int_equal(p.result, OPTIONS_ERROR);
    assert_string_equal(p.error, "plain: --port takes a whole number from 0 to 65535 (got '1??2')");
    p = parse2(&plain_model, "--port", "\v\f");
    assert_string_equal(p.error,
                        "plain: --port takes a whole number from 0 to 65535 (got '?\?')"); /* \? : no trigraph */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_numeric_options_both_forms),
        cmocka_unit_test(test_every_field_at_once),
        cmocka_unit_test(test_later_option_wins),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_garbage_numbers),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_no_stdin_stop),
        cmocka_unit_test(test_unknown_options),
        cmocka_unit_test(test_options_a_model_does_not_take),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_error_is_bounded),
        cmocka_unit_test(test_accept_pool_ceiling_of_a_model),
        cmocka_unit_test(test_completion_tunings),
        cmocka_unit_test(test_completion_tunings_only_where_taken),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_spin_us),
        cmocka_unit_test(test_error_stays_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

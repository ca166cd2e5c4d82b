/* loadgen: drives an RFC 862 echo server with one of five workloads and
 * reports throughput, latency and errors. Exit codes: 0 a clean run, 1 the
 * run saw errors (results are still written), 2 a bad option or a server
 * that cannot be reached (no connect of the run ever succeeded). */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "net.h"
#include "options.h"
#include "platform.h"
#include "report.h"

enum { EXIT_CLEAN = 0, EXIT_RUN_ERRORS = 1, EXIT_UNUSABLE = 2 };
enum { DESCRIPTOR_MARGIN = 16 }; /* stdio, the --json/--csv files, and room to spare */

static FILE *open_output(const char *path)
{
    if (!path)
        return NULL;
    return strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
}

static void close_output(FILE *file)
{
    if (file && file != stdout)
        fclose(file);
    else if (file)
        fflush(file);
}

/* The exit code of a run that started. */
static int run_exit_code(const run_results *results)
{
    if (results->unreachable)
        return EXIT_UNUSABLE;
    return results->error_total || results->fatal[0] ? EXIT_RUN_ERRORS : EXIT_CLEAN;
}

int main(int argc, char **argv)
{
    loadgen_options options;
    char error[300];
    switch (options_parse(argc, argv, &options, error, sizeof error)) {
    case OPTIONS_HELP:
        options_print_help(stdout);
        return EXIT_CLEAN;
    case OPTIONS_VERSION:
        options_print_version(stdout);
        return EXIT_CLEAN;
    case OPTIONS_BAD:
        fprintf(stderr, "loadgen: %s\n", error);
        return EXIT_UNUSABLE;
    case OPTIONS_OK:
        break;
    }
    /* Checked before connecting: a run past the fd limit would fail its connects one by one and
     * report the first failure, not the limit. Beyond the sockets: stdio, the outputs, and each
     * thread's event loop and wake-up descriptors. */
    unsigned long descriptors = options_sockets_held(&options) + 4ul * options.threads + DESCRIPTOR_MARGIN;
    if (!platform_reserve_descriptors(descriptors, error, sizeof error)) {
        fprintf(stderr, "loadgen: %s\n", error);
        return EXIT_UNUSABLE;
    }
    net_address server;
    if (!net_init() || !net_resolve(options.host, options.port, &server, error, sizeof error)) {
        fprintf(stderr, "loadgen: %s\n", error);
        return EXIT_UNUSABLE;
    }
    /* Opened before the run, so a bad path does not cost a whole run. */
    FILE *json = open_output(options.json_path), *csv = open_output(options.csv_path);
    if ((options.json_path && !json) || (options.csv_path && !csv)) {
        fprintf(stderr, "loadgen: cannot write %s\n",
                options.json_path && !json ? options.json_path : options.csv_path);
        return EXIT_UNUSABLE;
    }
    run_results results;
    bool ran = engine_run(&options, &server, &results);
    int code = ran ? run_exit_code(&results) : EXIT_RUN_ERRORS;
    /* An unreachable server is one line, as a bad option is; the JSON still
     * says what happened, for a harness that reads it. */
    if (ran && !results.unreachable)
        report_summary(stderr, &options, &results);
    else
        fprintf(stderr, "loadgen: %s\n", results.fatal);
    if (ran && json)
        report_json(json, &options, &results, code);
    if (ran && csv)
        report_csv(csv, &results);
    close_output(json);
    close_output(csv);
    run_results_free(&results);
    return code;
}

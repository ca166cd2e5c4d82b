/* loadgen: drives an RFC 862 echo server with one of five workloads and
 * reports throughput, latency and errors. Exit codes: 0 a clean run, 1 the
 * run saw errors (results are still written), 2 a bad option or a server
 * that cannot be reached. */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "net.h"
#include "options.h"
#include "platform.h"
#include "report.h"

enum { EXIT_CLEAN = 0, EXIT_RUN_ERRORS = 1, EXIT_UNUSABLE = 2 };

/* One connection before anything else, so an unreachable server is one
 * clear line within the connect timeout rather than a run full of errors. */
static bool probe_server(const loadgen_options *o, const net_address *server, char *error, size_t size)
{
    net_loop *loop = net_loop_create();
    net_socket socket = NET_INVALID_SOCKET;
    int marker = 0;
    net_status status = loop ? net_connect(loop, server, &marker, &socket) : NET_NO_RESOURCES;
    uint64_t deadline = platform_now_ns() + (uint64_t)(o->connect_timeout_s * 1e9);
    bool connected = false;
    while (status == NET_OK && !connected) {
        uint64_t now = platform_now_ns();
        if (now >= deadline) {
            status = NET_WOULD_BLOCK; /* reported as a timeout below */
            break;
        }
        net_event event;
        int ready = net_wait(loop, &event, 1, (deadline - now) / 1000 + 1);
        if (ready < 0)
            status = NET_FAILED;
        else if (ready > 0 && (status = net_connect_result(socket)) == NET_OK)
            connected = true;
        else if (status == NET_WOULD_BLOCK)
            status = NET_OK; /* spurious wake-up: keep waiting */
    }
    if (socket != NET_INVALID_SOCKET)
        net_close(loop, socket);
    net_loop_destroy(loop);
    if (!connected)
        snprintf(error, size, "cannot connect to %s port %d: %s", o->host, o->port,
                 status == NET_WOULD_BLOCK ? "timed out" : net_status_text(status));
    return connected;
}

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

int main(int argc, char **argv)
{
    loadgen_options options;
    char error[300];
    switch (options_parse(argc, argv, &options, error, sizeof error)) {
    case OPTIONS_HELP:
        options_print_help(stdout);
        return EXIT_CLEAN;
    case OPTIONS_BAD:
        fprintf(stderr, "loadgen: %s\n", error);
        return EXIT_UNUSABLE;
    case OPTIONS_OK:
        break;
    }
    net_address server;
    if (!net_init() || !net_resolve(options.host, options.port, &server, error, sizeof error) ||
        !probe_server(&options, &server, error, sizeof error)) {
        fprintf(stderr, "loadgen: %s\n", error);
        return EXIT_UNUSABLE;
    }
    /* Opened before the run, so a bad path does not cost a whole run. */
    FILE *json = open_output(options.json_path), *csv = open_output(options.csv_path);
    if ((options.json_path && !json) || (options.csv_path && !csv)) {
        fprintf(stderr, "loadgen: cannot write %s\n", options.json_path && !json ? options.json_path : options.csv_path);
        return EXIT_UNUSABLE;
    }
    run_results results;
    bool ran = engine_run(&options, &server, &results);
    int code = ran && !results.error_total && !results.fatal[0] ? EXIT_CLEAN : EXIT_RUN_ERRORS;
    if (ran) {
        report_summary(stderr, &options, &results);
        if (json)
            report_json(json, &options, &results, code);
        if (csv)
            report_csv(csv, &results);
    } else {
        fprintf(stderr, "loadgen: %s\n", results.fatal);
    }
    close_output(json);
    close_output(csv);
    run_results_free(&results);
    return code;
}

/* The load generator's command line: one validated configuration.
 * Portable C11 (no sockets here), so it is shared by every backend. */
#ifndef WSB_LOADGEN_OPTIONS_H
#define WSB_LOADGEN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { WORKLOAD_PINGPONG, WORKLOAD_PIPELINE, WORKLOAD_RATE, WORKLOAD_CHURN, WORKLOAD_IDLE } workload_kind;

typedef struct loadgen_options {
    char host[256];
    int port;
    workload_kind workload;
    unsigned connections;
    uint32_t size;
    double duration_s;    /* measured time (time mode) */
    double warmup_s;      /* run before measuring, excluded from results */
    uint64_t messages;    /* total messages (or churn operations); 0: time mode */
    unsigned depth;       /* messages outstanding per connection (pipeline) */
    double rate;          /* messages per second in total (rate) */
    unsigned concurrency; /* churn operations in flight */
    unsigned idle;        /* idle connections held open (idle) */
    unsigned threads;
    uint64_t seed;
    bool verify;
    const char *json_path; /* NULL: none; "-": stdout */
    const char *csv_path;
    double connect_timeout_s;
    double reply_timeout_s;
    /* Several load generators started together (one per client host): each
     * opens its connections, says so on stdout and waits for a line on stdin
     * before its clock starts, at most barrier_timeout_s. */
    bool barrier;
    double barrier_timeout_s;
} loadgen_options;

typedef enum { OPTIONS_OK, OPTIONS_HELP, OPTIONS_VERSION, OPTIONS_BAD } options_result;

/* Parses argv into *out. On OPTIONS_BAD, `error` holds one line (no newline). */
options_result options_parse(int argc, char **argv, loadgen_options *out, char *error, size_t error_size);
void options_print_help(FILE *to);
/* "loadgen winsock-bench <version> <commit>": what --version prints. */
void options_print_version(FILE *to);
const char *workload_name(workload_kind kind);
/* Sockets the run holds open at once: connections, plus idle ones, or churn's concurrency. */
unsigned long options_sockets_held(const loadgen_options *o);

#endif

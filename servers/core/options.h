/* Command-line options shared by every echo server (the server contract in
 * servers/CONTRACT.md). Portable C: unit-tested natively with cmocka. */
#ifndef WSB_OPTIONS_H
#define WSB_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

/* What a model is and which of the shared options it takes. */
typedef struct model_info {
    const char *name;          /* executable and "model" in the JSON lines */
    const char *summary;       /* one line for --help */
    int has_thread_pool;       /* accepts --threads */
    int workers_per_processor; /* workers --threads 0 means, per processor (0 counts as 1) */
    int has_accept_pool;       /* accepts --accept-pool (outstanding AcceptEx) */
    int default_accept_pool;
    int max_accept_pool;       /* 0: the option's own limit */
    int has_completion_tuning; /* accepts --batch and --skip-on-success (iocp) */
} model_info;

typedef struct server_options {
    int port;            /* 0: the system picks a free port */
    char bind[256];      /* address or host name to listen on */
    int threads;         /* 0: one per processor */
    size_t buffer_size;  /* bytes of unsent echo a connection may hold */
    int backlog;         /* 0: the system maximum (SOMAXCONN) */
    int max_connections; /* 0: unlimited */
    int accept_pool;     /* outstanding AcceptEx calls */
    int stdin_stop;      /* stop when standard input reaches end-of-file */
    int batch;           /* completions per GetQueuedCompletionStatusEx; 0: GetQueuedCompletionStatus */
    int skip_on_success; /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS on every connection */
    int spin_us;         /* calibration: busy-wait this long for each receive; 0: off */
} server_options;

typedef enum options_result {
    OPTIONS_RUN,     /* parsed: serve */
    OPTIONS_HELP,    /* --help was asked for: print usage, exit 0 */
    OPTIONS_VERSION, /* --version was asked for: print options_version_line, exit 0 */
    OPTIONS_ERROR    /* error holds a one-line reason: exit 2 */
} options_result;

enum {
    OPTIONS_DEFAULT_BUFFER = 16384,
    OPTIONS_MAX_BUFFER = 64 << 20,
    OPTIONS_MAX_BATCH = 1024,
    OPTIONS_MAX_SPIN_US = 1000000
};

void options_defaults(server_options *o, const model_info *model);
options_result options_parse(server_options *o, const model_info *model, int argc, char **argv, char *error,
                             size_t error_size);
void options_usage(FILE *out, const model_info *model);
/* "<model> winsock-bench <version> <commit>": what --version prints. */
void options_print_version(FILE *out, const model_info *model);

#endif

/* libFuzzer target: the servers' option parser (servers/core/options.c) on
 * any command line, for a model with every pool and option and one with none. A
 * parse either fails with one error line or gives options inside the
 * documented ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_args.h"
#include "options.h"

static const model_info plain = {.name = "plain", .summary = "no pools"};
static const model_info pooled = {.name = "pooled",
                                  .summary = "every pool",
                                  .has_thread_pool = 1,
                                  .has_accept_pool = 1,
                                  .default_accept_pool = 16,
                                  .max_accept_pool = 63,
                                  .has_completion_tuning = 1};

static void check_options(const server_options *o, const model_info *m)
{
    if (o->port < 0 || o->port > 65535 || o->threads < 0 || o->threads > 1024 || o->backlog < 0 ||
        o->max_connections < 0 || o->buffer_size < 1 || o->buffer_size > OPTIONS_MAX_BUFFER)
        abort();
    if (fuzz_length(o->bind, sizeof o->bind) == 0 || fuzz_length(o->bind, sizeof o->bind) == sizeof o->bind)
        abort();
    if (!m->has_thread_pool && o->threads != 0)
        abort();
    if (m->has_completion_tuning ? o->batch < 0 || o->batch > OPTIONS_MAX_BATCH : o->batch != 0 || o->skip_on_success)
        abort();
    if (m->has_accept_pool ? o->accept_pool < 1 || o->accept_pool > m->max_accept_pool : o->accept_pool != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const model_info *models[] = {&plain, &pooled};
    fuzz_args args;
    fuzz_args_make(&args, "server", data, size);
    for (size_t k = 0; k < 2; k++) {
        server_options o;
        char error[160];
        memset(error, 0x7f, sizeof error);
        switch (options_parse(&o, models[k], args.argc, args.argv, error, sizeof error)) {
        case OPTIONS_RUN:
            check_options(&o, models[k]);
            break;
        case OPTIONS_ERROR:
            fuzz_check_error_line(error, sizeof error);
            break;
        case OPTIONS_HELP:
        case OPTIONS_VERSION:
            break;
        }
    }
    fuzz_args_free(&args);
    return 0;
}

/* libFuzzer target: loadgen's option parser (loadgen/options.c) on any
 * command line. A parse either fails with one error line or gives a
 * configuration that engine_run can take as it is: every value in its
 * range and the workload rules kept. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_args.h"
#include "options.h"

static void check_options(const loadgen_options *o)
{
    size_t host = fuzz_length(o->host, sizeof o->host);
    if (host == 0 || host == sizeof o->host || o->port < 1 || o->port > 65535)
        abort();
    if ((unsigned)o->workload > WORKLOAD_IDLE || o->connections < 1 || o->size < 1 || o->depth < 1 || o->threads < 1)
        abort();
    if ((o->messages > 0) == (o->duration_s > 0) || !isfinite(o->duration_s) || o->warmup_s < 0)
        abort();
    if (o->workload == WORKLOAD_RATE && !(o->rate >= 0.001 && o->rate <= 1e9))
        abort();
    if (o->threads > (o->workload == WORKLOAD_CHURN ? o->concurrency : o->connections))
        abort();
    if (!(o->connect_timeout_s > 0) || !(o->reply_timeout_s > 0))
        abort();
    if ((o->json_path && !o->json_path[0]) || (o->csv_path && !o->csv_path[0]))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_args args;
    fuzz_args_make(&args, "loadgen", data, size);
    loadgen_options o;
    char error[300];
    memset(error, 0x7f, sizeof error);
    switch (options_parse(args.argc, args.argv, &o, error, sizeof error)) {
    case OPTIONS_OK:
        check_options(&o);
        break;
    case OPTIONS_BAD:
        fuzz_check_error_line(error, sizeof error);
        break;
    case OPTIONS_HELP:
    case OPTIONS_VERSION:
        break;
    }
    fuzz_args_free(&args);
    return 0;
}

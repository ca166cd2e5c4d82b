/* Command-line parsing for loadgen (see options.h). Each option is one row
 * of a table: its name, where its value goes and the range it must fall in,
 * so validation is the same for every option and the error line names it. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "wsb_version.h"

typedef enum { VALUE_UINT, VALUE_U64, VALUE_DOUBLE, VALUE_STRING, VALUE_FLAG, VALUE_WORKLOAD } value_kind;

typedef struct option_row {
    const char *name;
    value_kind kind;
    size_t field;    /* offsetof into loadgen_options */
    double min, max; /* a flag (a bool field) is set to min != 0 */
} option_row;

#define FIELD(name) offsetof(loadgen_options, name)
static const option_row option_table[] = {
    {"--host", VALUE_STRING, FIELD(host), 0, 0},
    {"--port", VALUE_UINT, FIELD(port), 1, 65535},
    {"--workload", VALUE_WORKLOAD, FIELD(workload), 0, 0},
    {"--connections", VALUE_UINT, FIELD(connections), 1, 1000000},
    {"--size", VALUE_UINT, FIELD(size), 1, 64 * 1024 * 1024},
    {"--duration", VALUE_DOUBLE, FIELD(duration_s), 0.001, 1e7},
    {"--warmup", VALUE_DOUBLE, FIELD(warmup_s), 0, 1e7},
    {"--messages", VALUE_U64, FIELD(messages), 1, 1e18},
    {"--depth", VALUE_UINT, FIELD(depth), 1, 65536},
    {"--rate", VALUE_DOUBLE, FIELD(rate), 0.001, 1e9},
    {"--concurrency", VALUE_UINT, FIELD(concurrency), 1, 1000000},
    {"--idle", VALUE_UINT, FIELD(idle), 0, 1000000},
    {"--threads", VALUE_UINT, FIELD(threads), 1, 256},
    {"--seed", VALUE_U64, FIELD(seed), 0, 18446744073709551615.0},
    {"--no-verify", VALUE_FLAG, FIELD(verify), 0, 0},
    {"--barrier", VALUE_FLAG, FIELD(barrier), 1, 1},
    {"--barrier-timeout", VALUE_DOUBLE, FIELD(barrier_timeout_s), 0.001, 3600},
    {"--json", VALUE_STRING, FIELD(json_path), 0, 0},
    {"--csv", VALUE_STRING, FIELD(csv_path), 0, 0},
    {"--connect-timeout", VALUE_DOUBLE, FIELD(connect_timeout_s), 0.001, 3600},
    {"--timeout", VALUE_DOUBLE, FIELD(reply_timeout_s), 0.001, 3600},
};

#define OPTION_COUNT (sizeof option_table / sizeof option_table[0])

/* Options that only one workload uses: given to another, they would be
 * ignored silently, and the run would not be the one asked for. */
typedef struct workload_option {
    size_t field;
    workload_kind workload;
} workload_option;
static const workload_option workload_options[] = {
    {FIELD(depth), WORKLOAD_PIPELINE},
    {FIELD(rate), WORKLOAD_RATE},
    {FIELD(concurrency), WORKLOAD_CHURN},
    {FIELD(idle), WORKLOAD_IDLE},
};

static const char *const workload_names[] = {"pingpong", "pipeline", "rate", "churn", "idle"};

const char *workload_name(workload_kind kind)
{
    return workload_names[kind];
}

unsigned long options_sockets_held(const loadgen_options *o)
{
    if (o->workload == WORKLOAD_CHURN)
        return o->concurrency;
    return (unsigned long)o->connections + (o->workload == WORKLOAD_IDLE ? o->idle : 0);
}

void options_print_version(FILE *to)
{
    fprintf(to, "loadgen %s\n", WSB_VERSION_LINE);
}

void options_print_help(FILE *to)
{
    fputs("usage: loadgen --port N [options]\n"
          "Drives an RFC 862 TCP echo server and measures it; every echoed byte is verified.\n"
          "  --host ADDR            server address, IPv4 or IPv6 (default 127.0.0.1)\n"
          "  --port N               server port (required)\n"
          "  --workload W           pingpong|pipeline|rate|churn|idle (default pingpong)\n"
          "  --connections C        active connections (default 1)\n"
          "  --size BYTES           message size (default 64)\n"
          "  --duration SECONDS     measured time (default 10) ...\n"
          "  --warmup SECONDS       ... after a warm-up excluded from results (default 0)\n"
          "  --messages N           or: stop after N messages in total (churn: N operations)\n"
          "  --depth D              pipeline: messages outstanding per connection (default 16)\n"
          "  --rate R               rate: messages per second in total, open loop (required)\n"
          "  --concurrency N        churn: operations in flight (default 1)\n"
          "  --idle N               idle: idle connections held open (default 1000)\n"
          "  --threads N            event loops, each owning its connections (default 1)\n"
          "  --seed S               payload pattern seed (default 1)\n"
          "  --no-verify            do not check echoed bytes\n"
          "  --json FILE|-          write the results as one JSON document\n"
          "  --csv FILE             write the 1-second time series as CSV\n"
          "  --connect-timeout S    connect timeout in seconds (default 5)\n"
          "  --timeout S            per-reply timeout in seconds (default 10)\n"
          "  --barrier              once connected, print {\"event\":\"connected\",...} and start only\n"
          "                         when a line arrives on stdin (several loadgens started together)\n"
          "  --barrier-timeout S    how long --barrier waits for that line (default 60)\n"
          "  --help                 this text\n"
          "  --version              the version and git commit\n"
          "Exit: 0 clean run, 1 errors during the run (mismatch, reset, ...), 2 bad option or unreachable server.\n",
          to);
}

/* The error line, which may quote what was typed: a line break in it
 * becomes '?', so the error stays one line. */
static options_result bad(char *error, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
    for (char *c = error; *c; c++)
        if (strchr("\n\r\v\f", *c))
            *c = '?';
    return OPTIONS_BAD;
}

static void set_defaults(loadgen_options *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->host, "127.0.0.1");
    o->workload = WORKLOAD_PINGPONG;
    o->connections = 1;
    o->size = 64;
    o->depth = 16;
    o->concurrency = 1;
    o->idle = 1000;
    o->threads = 1;
    o->seed = 1;
    o->verify = true;
    o->connect_timeout_s = 5;
    o->reply_timeout_s = 10;
    o->barrier_timeout_s = 60;
}

static const option_row *find_row(const char *name, size_t name_length)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strlen(option_table[i].name) == name_length && !strncmp(option_table[i].name, name, name_length))
            return &option_table[i];
    return NULL;
}

static const option_row *row_of_field(size_t field)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (option_table[i].field == field)
            return &option_table[i];
    return NULL;
}

/* Whole numbers are plain decimal digits: strtod alone would let "1e3" or
 * "0x10" through as numbers that the integer conversion then reads
 * differently. */
static bool decimal_digits_only(const char *text)
{
    for (; *text; text++)
        if (*text < '0' || *text > '9')
            return false;
    return true;
}

static const char OUT_OF_RANGE[] = "is out of range";

/* A range's end as typed: whole numbers in full (2^64-1 too, which a double
 * cannot print exactly), others as %g. */
static const char *limit_text(double limit, char *text, size_t size)
{
    if (limit >= 18446744073709551615.0)
        snprintf(text, size, "18446744073709551615");
    else if (limit == floor(limit) && limit < 1e15)
        snprintf(text, size, "%.0f", limit);
    else
        snprintf(text, size, "%g", limit);
    return text;
}

/* Stores one option's value; NULL on success, else what is wrong with it. */
static const char *store_value(const option_row *row, const char *text, loadgen_options *o)
{
    char *field = (char *)o + row->field;
    char *end = NULL;
    if (row->kind == VALUE_STRING) {
        if (!*text)
            return "must not be empty";
        if (row->field == FIELD(host)) {
            if (strlen(text) >= sizeof o->host)
                return "is too long";
            strcpy(o->host, text);
        } else {
            *(const char **)field = text;
        }
        return NULL;
    }
    if (row->kind == VALUE_WORKLOAD) {
        for (int k = 0; k < (int)(sizeof workload_names / sizeof workload_names[0]); k++)
            if (!strcmp(text, workload_names[k])) {
                o->workload = (workload_kind)k;
                return NULL;
            }
        return "must be pingpong, pipeline, rate, churn or idle";
    }
    errno = 0;
    double value = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(value))
        return "is not a number";
    if (value < row->min || value > row->max)
        return OUT_OF_RANGE;
    if (row->kind != VALUE_DOUBLE && (value != floor(value) || !decimal_digits_only(text)))
        return "must be a whole number in decimal digits";
    if (row->kind == VALUE_DOUBLE) {
        *(double *)field = value;
    } else if (row->kind == VALUE_U64) {
        errno = 0;
        uint64_t whole = strtoull(text, NULL, 10); /* exact beyond 2^53, where doubles are not */
        if (errno)
            return OUT_OF_RANGE;
        *(uint64_t *)field = whole;
    } else if (row->field == FIELD(port)) {
        *(int *)field = (int)value;
    } else if (row->field == FIELD(size)) {
        *(uint32_t *)field = (uint32_t)value;
    } else {
        *(unsigned *)field = (unsigned)value;
    }
    return NULL;
}

/* Combinations that each option alone cannot catch; given[i] tells
 * whether option_table[i] was on the command line. */
static options_result check_combination(const loadgen_options *o, const bool *given, char *error, size_t size)
{
    bool rate_given = given[row_of_field(FIELD(rate)) - option_table];
    if (!o->port)
        return bad(error, size, "--port is required");
    if (o->messages && o->duration_s > 0)
        return bad(error, size, "--messages and --duration exclude each other");
    if (o->messages && o->warmup_s > 0)
        return bad(error, size, "--warmup applies to --duration runs only");
    if (o->workload == WORKLOAD_RATE && !rate_given)
        return bad(error, size, "--workload rate needs --rate");
    for (size_t i = 0; i < sizeof workload_options / sizeof workload_options[0]; i++) {
        const option_row *row = row_of_field(workload_options[i].field);
        if (given[row - option_table] && o->workload != workload_options[i].workload)
            return bad(error, size, "%s applies to --workload %s only", row->name,
                       workload_name(workload_options[i].workload));
    }
    if (o->workload == WORKLOAD_CHURN && given[row_of_field(FIELD(connections)) - option_table])
        return bad(error, size, "--connections does not apply to --workload churn (it has --concurrency)");
    if (given[row_of_field(FIELD(barrier_timeout_s)) - option_table] && !o->barrier)
        return bad(error, size, "--barrier-timeout applies to --barrier runs only");
    if (o->threads > (o->workload == WORKLOAD_CHURN ? o->concurrency : o->connections))
        return bad(error, size, "--threads must not exceed the connections (churn: --concurrency)");
    return OPTIONS_OK;
}

options_result options_parse(int argc, char **argv, loadgen_options *out, char *error, size_t error_size)
{
    bool given[OPTION_COUNT] = {false};
    set_defaults(out);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
            return OPTIONS_HELP;
        if (!strcmp(arg, "--version"))
            return OPTIONS_VERSION;
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        const option_row *row = find_row(arg, name_length);
        if (!row)
            return bad(error, error_size, "unknown option %.*s (see --help)", (int)name_length, arg);
        if (row->kind == VALUE_FLAG) {
            if (equals)
                return bad(error, error_size, "%s takes no value", row->name);
            *(bool *)((char *)out + row->field) = row->min != 0;
            given[row - option_table] = true;
            continue;
        }
        const char *value = equals ? equals + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            return bad(error, error_size, "%s needs a value", row->name);
        const char *problem = store_value(row, value, out);
        if (problem == OUT_OF_RANGE) { /* the range, so that the next try is the right one */
            char low[32], high[32];
            return bad(error, error_size, "%s %.80s: %s (%s takes %s to %s)", row->name, value, problem, row->name,
                       limit_text(row->min, low, sizeof low), limit_text(row->max, high, sizeof high));
        }
        if (problem)
            return bad(error, error_size, "%s %.80s: %s", row->name, value, problem); /* the reason must fit */
        given[row - option_table] = true;
    }
    if (!out->messages && out->duration_s == 0)
        out->duration_s = 10;
    return check_combination(out, given, error, error_size);
}

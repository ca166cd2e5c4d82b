#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wsb_version.h"

void options_defaults(server_options *o, const model_info *model)
{
    memset(o, 0, sizeof *o);
    strcpy(o->bind, "127.0.0.1");
    o->buffer_size = OPTIONS_DEFAULT_BUFFER;
    o->accept_pool = model->default_accept_pool;
    o->stdin_stop = 1;
}

void options_usage(FILE *out, const model_info *m)
{
    fprintf(out, "usage: %s [options]\n%s\n\n", m->name, m->summary);
    fprintf(out,
            "An RFC 862 TCP echo server: every byte received is sent back, in order.\n"
            "Prints {\"event\":\"ready\",...} on stdout once listening, and {\"event\":\"stats\",...}\n"
            "when it stops: at end-of-file on standard input, or on Ctrl-C / Ctrl-Break.\n\n"
            "options:\n"
            "  --port N             TCP port to listen on; 0 picks a free one (default 0)\n"
            "  --bind ADDR          address to listen on, IPv4 or IPv6 (default 127.0.0.1)\n");
    if (m->has_thread_pool)
        fprintf(out, "  --threads N          worker threads; 0 means one per processor (default 0)\n");
    if (m->has_accept_pool)
        fprintf(out, "  --accept-pool N      AcceptEx calls kept outstanding (default %d)\n", m->default_accept_pool);
    if (m->has_completion_tuning)
        fprintf(out,
                "  --batch N            take up to N completions per GetQueuedCompletionStatusEx\n"
                "                       (default: one per GetQueuedCompletionStatus)\n"
                "  --skip-on-success    no completion packet for a call that succeeds at once\n"
                "                       (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS): finished inline\n");
    fprintf(out,
            "  --buffer BYTES       unsent echo a connection may hold before the server stops\n"
            "                       reading it (default %d)\n"
            "  --backlog N          listen backlog; 0 means the system maximum (default 0)\n"
            "  --max-connections N  refuse clients beyond N at once; 0 means no limit (default 0)\n"
            "  --no-stdin-stop      ignore standard input; only Ctrl-C stops the server\n"
            "  --help               print this help and exit\n"
            "  --version            print the version and git commit, and exit\n"
            "calibration (to inject a known slowdown, e.g. to measure what a benchmark gate catches):\n"
            "  --spin-us N          busy-wait N microseconds for each receive (a message in\n"
            "                       ping-pong) before echoing it (default 0: off)\n",
            OPTIONS_DEFAULT_BUFFER);
}

void options_print_version(FILE *out, const model_info *m)
{
    fprintf(out, "%s %s\n", m->name, WSB_VERSION_LINE);
}

/* Parses a whole decimal number in [min, max]; anything else is an error. */
static int parse_number(const char *text, long long min, long long max, long long *value)
{
    char *end;
    /* strtoll would skip any leading white space (tab, newline...) and take a sign. */
    if (text[0] == '\0' || isspace((unsigned char)text[0]) || text[0] == '+')
        return -1;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

typedef struct numeric_option {
    const char *name;
    long long min, max;
} numeric_option;

static const numeric_option numeric_options[] = {
    {"--port", 0, 65535},
    {"--threads", 0, 1024},
    {"--buffer", 1, OPTIONS_MAX_BUFFER},
    {"--backlog", 0, 1000000},
    {"--max-connections", 0, 10000000},
    {"--accept-pool", 1, 1024},
    {"--batch", 1, OPTIONS_MAX_BATCH},
    {"--spin-us", 0, OPTIONS_MAX_SPIN_US},
};

static void store_numeric(server_options *o, const char *name, long long v)
{
    if (!strcmp(name, "--port"))
        o->port = (int)v;
    else if (!strcmp(name, "--threads"))
        o->threads = (int)v;
    else if (!strcmp(name, "--buffer"))
        o->buffer_size = (size_t)v;
    else if (!strcmp(name, "--backlog"))
        o->backlog = (int)v;
    else if (!strcmp(name, "--max-connections"))
        o->max_connections = (int)v;
    else if (!strcmp(name, "--accept-pool"))
        o->accept_pool = (int)v;
    else if (!strcmp(name, "--batch"))
        o->batch = (int)v;
    else if (!strcmp(name, "--spin-us"))
        o->spin_us = (int)v;
}

static int model_takes(const model_info *m, const char *name)
{
    if (!strcmp(name, "--threads"))
        return m->has_thread_pool;
    if (!strcmp(name, "--accept-pool"))
        return m->has_accept_pool;
    if (!strcmp(name, "--batch") || !strcmp(name, "--skip-on-success"))
        return m->has_completion_tuning;
    return 1;
}

static options_result parse(server_options *o, const model_info *m, int argc, char **argv, char *error,
                            size_t error_size)
{
    options_defaults(o, m);
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *arg = argv[i], *value = NULL;
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        if (name_length >= sizeof name)
            name_length = sizeof name - 1;
        memcpy(name, arg, name_length);
        name[name_length] = '\0';

        if (!strcmp(name, "--help") || !strcmp(name, "-h"))
            return OPTIONS_HELP;
        if (!strcmp(name, "--version") && !equals)
            return OPTIONS_VERSION;
        if (!strcmp(name, "--no-stdin-stop") && !equals) {
            o->stdin_stop = 0;
            continue;
        }
        if (!strcmp(name, "--skip-on-success") && !equals && model_takes(m, name)) {
            o->skip_on_success = 1;
            continue;
        }
        if (strcmp(name, "--bind") != 0) {
            const numeric_option *known = NULL;
            for (size_t k = 0; k < sizeof numeric_options / sizeof *numeric_options; k++)
                if (!strcmp(name, numeric_options[k].name))
                    known = &numeric_options[k];
            if (!known || !model_takes(m, name)) {
                snprintf(error, error_size, "%s: unknown option '%s' (see --help)", m->name, name);
                return OPTIONS_ERROR;
            }
        }
        if (equals)
            value = equals + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(error, error_size, "%s: option %s needs a value", m->name, name);
            return OPTIONS_ERROR;
        }
        if (!strcmp(name, "--bind")) {
            if (value[0] == '\0' || strlen(value) >= sizeof o->bind) {
                snprintf(error, error_size, "%s: --bind needs an address (got '%s')", m->name, value);
                return OPTIONS_ERROR;
            }
            strcpy(o->bind, value);
            continue;
        }
        for (size_t k = 0; k < sizeof numeric_options / sizeof *numeric_options; k++) {
            const numeric_option *n = &numeric_options[k];
            long long v;
            if (strcmp(name, n->name) != 0)
                continue;
            if (parse_number(value, n->min, n->max, &v) != 0) {
                snprintf(error, error_size, "%s: %s takes a whole number from %lld to %lld (got '%s')", m->name, name,
                         n->min, n->max, value);
                return OPTIONS_ERROR;
            }
            if (!strcmp(name, "--accept-pool") && m->max_accept_pool > 0 && v > m->max_accept_pool) {
                snprintf(error, error_size, "%s: --accept-pool takes at most %d here (got '%s')", m->name,
                         m->max_accept_pool, value);
                return OPTIONS_ERROR;
            }
            store_numeric(o, name, v);
        }
    }
    return OPTIONS_RUN;
}

/* The error quotes what was typed, which may hold a line break: each
 * becomes '?', so the error stays one line. */
static void keep_one_line(char *text)
{
    for (; *text; text++)
        if (strchr("\n\r\v\f", *text))
            *text = '?';
}

options_result options_parse(server_options *o, const model_info *m, int argc, char **argv, char *error,
                             size_t error_size)
{
    options_result result = parse(o, m, argc, argv, error, error_size);
    if (result == OPTIONS_ERROR)
        keep_one_line(error);
    return result;
}

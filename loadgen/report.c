/* See report.h. The JSON is always valid: no NaN or Inf ever reaches it
 * (a figure that cannot be computed is written as 0 or null). */
#include "report.h"

#include <math.h>

#include "platform.h"

const char *const error_kind_names[ERROR_KINDS] = {"mismatch", "early_close", "reset", "connect_failed", "timeout"};

static double finite(double value)
{
    return isfinite(value) ? value : 0.0;
}

static double per_second(double amount, double seconds)
{
    return seconds > 0 ? amount / seconds : 0.0;
}

static void json_string(FILE *to, const char *text)
{
    fputc('"', to);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(to, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(to, "\\u%04x", *p);
        else
            fputc(*p, to);
    }
    fputc('"', to);
}

static void json_string_or_null(FILE *to, const char *text)
{
    if (text && *text)
        json_string(to, text);
    else
        fputs("null", to);
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void json_latency(FILE *to, const char *name, const histogram *h)
{
    fprintf(to,
            ",\n  \"%s\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"p99_99\": %.3f, "
            "\"max\": %.3f, \"mean\": %.3f, \"stddev\": %.3f, \"count\": %llu}",
            name, us(histogram_percentile(h, 50)), us(histogram_percentile(h, 90)), us(histogram_percentile(h, 99)),
            us(histogram_percentile(h, 99.9)), us(histogram_percentile(h, 99.99)), us(histogram_max(h)),
            finite(histogram_mean(h) / 1000.0), finite(histogram_stddev(h) / 1000.0),
            (unsigned long long)histogram_count(h));
}

static void json_config(FILE *to, const loadgen_options *o)
{
    fputs(",\n  \"config\": {\"host\": ", to);
    json_string(to, o->host);
    fprintf(to, ", \"port\": %d, \"workload\": \"%s\", \"connections\": %u, \"size\": %u, ", o->port,
            workload_name(o->workload), o->connections, o->size);
    if (o->messages)
        fprintf(to, "\"duration_s\": null, \"warmup_s\": 0, \"messages\": %llu, ", (unsigned long long)o->messages);
    else
        fprintf(to, "\"duration_s\": %g, \"warmup_s\": %g, \"messages\": null, ", o->duration_s, o->warmup_s);
    fprintf(to, "\"depth\": %u, ", o->depth);
    if (o->workload == WORKLOAD_RATE)
        fprintf(to, "\"rate\": %g, ", o->rate);
    else
        fputs("\"rate\": null, ", to);
    fprintf(to, "\"concurrency\": %u, \"idle\": %u, \"threads\": %u, \"seed\": %llu, \"verify\": %s, ", o->concurrency,
            o->idle, o->threads, (unsigned long long)o->seed, o->verify ? "true" : "false");
    fprintf(to, "\"barrier\": %s, \"json\": ", o->barrier ? "true" : "false");
    json_string_or_null(to, o->json_path);
    fputs(", \"csv\": ", to);
    json_string_or_null(to, o->csv_path);
    fprintf(to, ", \"connect_timeout_s\": %g, \"timeout_s\": %g}", o->connect_timeout_s, o->reply_timeout_s);
}

static void json_environment(FILE *to)
{
    platform_info info;
    platform_describe(&info);
    fputs(",\n  \"environment\": {\"os\": ", to);
    json_string(to, info.os);
    fputs(", \"cpu_model\": ", to);
    json_string(to, info.cpu_model);
    fprintf(to, ", \"cpu_count\": %u, \"host_name\": ", info.cpu_count);
    json_string(to, info.host_name);
    fputc('}', to);
}

typedef struct bucket_writer {
    FILE *to;
    bool first;
} bucket_writer;

static void write_bucket(uint64_t low, uint64_t high, uint64_t count, void *arg)
{
    bucket_writer *writer = arg;
    fprintf(writer->to, "%s[%llu, %llu, %llu]", writer->first ? "" : ", ", (unsigned long long)low,
            (unsigned long long)high, (unsigned long long)count);
    writer->first = false;
}

static void json_series(FILE *to, const run_results *r)
{
    fputs(",\n  \"time_series\": [", to);
    for (size_t i = 0; i < r->series_length; i++)
        fprintf(to, "%s\n    {\"second\": %zu, \"messages\": %llu, \"p99_us\": %.3f, \"errors\": %llu}", i ? "," : "",
                i, (unsigned long long)r->series[i].messages, us(r->series[i].p99_ns),
                (unsigned long long)r->series[i].errors);
    fputs(r->series_length ? "\n  ]" : "]", to);
}

static void json_workload_figures(FILE *to, const loadgen_options *o, const run_results *r)
{
    if (o->workload == WORKLOAD_RATE) {
        json_latency(to, "latency_uncorrected_us", r->latency_uncorrected);
        fprintf(to, ",\n  \"requested_rate\": %.3f, \"achieved_rate\": %.3f", o->rate,
                per_second((double)r->messages, r->duration_s));
    }
    if (o->workload == WORKLOAD_CHURN) {
        json_latency(to, "connect_latency_us", r->connect_latency);
        fprintf(to, ",\n  \"connections\": %llu, \"connections_per_s\": %.3f", (unsigned long long)r->operations,
                per_second((double)r->operations, r->duration_s));
    }
}

/* null for churn: its connections each carry one message and go. */
static void json_per_connection(FILE *to, const loadgen_options *o, const run_results *r)
{
    const connection_tally *t = &r->per_connection;
    if (o->workload == WORKLOAD_CHURN) {
        fputs(",\n  \"per_connection\": null", to);
        return;
    }
    fprintf(to,
            ",\n  \"per_connection\": {\"connections\": %llu, \"served\": %llu, \"min_messages\": %llu, "
            "\"max_messages\": %llu}",
            (unsigned long long)t->connections, (unsigned long long)t->served, (unsigned long long)t->min_messages,
            (unsigned long long)t->max_messages);
}

void report_json(FILE *to, const loadgen_options *o, const run_results *r, int exit_code)
{
    fputs("{\n  \"schema\": \"winsock-bench/loadgen/1\"", to);
    json_config(to, o);
    json_environment(to);
    fprintf(to, ",\n  \"totals\": {\"messages\": %llu, \"bytes\": %llu, \"duration_s\": %.6f}",
            (unsigned long long)r->messages, (unsigned long long)r->bytes, finite(r->duration_s));
    if (r->started_unix_ns)
        fprintf(to, ",\n  \"started_at_unix_ns\": %llu", (unsigned long long)r->started_unix_ns);
    else
        fputs(",\n  \"started_at_unix_ns\": null", to);
    fprintf(to, ",\n  \"messages_per_s\": %.3f, \"bytes_per_s\": %.3f", per_second((double)r->messages, r->duration_s),
            per_second((double)r->bytes, r->duration_s));
    json_latency(to, "latency_us", r->latency);
    json_workload_figures(to, o, r);
    json_per_connection(to, o, r);
    fputs(",\n  \"histogram\": [", to);
    bucket_writer writer = {to, true};
    histogram_for_each(r->latency, write_bucket, &writer);
    fputc(']', to);
    json_series(to, r);
    fprintf(to, ",\n  \"client_cpu_s\": {\"user\": %.6f, \"system\": %.6f}", r->cpu_user_s, r->cpu_system_s);
    fputs(",\n  \"errors\": {", to);
    for (int k = 0; k < ERROR_KINDS; k++)
        fprintf(to, "%s\"%s\": %llu", k ? ", " : "", error_kind_names[k], (unsigned long long)r->errors[k]);
    fprintf(to, "},\n  \"ended_early\": %s, \"fatal\": ", r->ended_early ? "true" : "false");
    json_string_or_null(to, r->fatal);
    fprintf(to, ", \"exit_code\": %d\n}\n", exit_code);
}

void report_csv(FILE *to, const run_results *r)
{
    fputs("second,messages,p99_us,errors\n", to);
    for (size_t i = 0; i < r->series_length; i++)
        fprintf(to, "%zu,%llu,%.3f,%llu\n", i, (unsigned long long)r->series[i].messages, us(r->series[i].p99_ns),
                (unsigned long long)r->series[i].errors);
}

void report_summary(FILE *to, const loadgen_options *o, const run_results *r)
{
    const histogram *h = r->latency;
    fprintf(to, "loadgen: %s, %u connection(s), %u B messages, %.2f s measured: %llu messages\n",
            workload_name(o->workload), o->workload == WORKLOAD_CHURN ? o->concurrency : o->connections, o->size,
            r->duration_s, (unsigned long long)r->messages);
    fprintf(to, "  %.0f msg/s, %.2f MB/s\n", per_second((double)r->messages, r->duration_s),
            per_second((double)r->bytes, r->duration_s) / 1e6);
    fprintf(to, "  latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(histogram_percentile(h, 50)),
            us(histogram_percentile(h, 99)), us(histogram_percentile(h, 99.9)), us(histogram_max(h)));
    if (o->workload == WORKLOAD_RATE)
        fprintf(to, "  rate: %.1f msg/s achieved of %.1f requested; uncorrected p99 %.1f us\n",
                per_second((double)r->messages, r->duration_s), o->rate,
                us(histogram_percentile(r->latency_uncorrected, 99)));
    if (o->workload == WORKLOAD_CHURN)
        fprintf(to, "  churn: %.0f connections/s; connect us: p50 %.1f  p99 %.1f\n",
                per_second((double)r->operations, r->duration_s), us(histogram_percentile(r->connect_latency, 50)),
                us(histogram_percentile(r->connect_latency, 99)));
    /* Totals alone would make a server that serves some connections look like a slow one. */
    const connection_tally *t = &r->per_connection;
    if (o->workload != WORKLOAD_CHURN && t->served < t->connections)
        fprintf(to, "  %llu of %llu connections got no echo in the measured window\n",
                (unsigned long long)(t->connections - t->served), (unsigned long long)t->connections);
    fputs("  errors:", to);
    for (int k = 0; k < ERROR_KINDS; k++)
        if (r->errors[k])
            fprintf(to, " %s %llu", error_kind_names[k], (unsigned long long)r->errors[k]);
    fputs(r->error_total ? "\n" : " none\n", to);
    if (r->fatal[0])
        fprintf(to, "  stopped: %s\n", r->fatal);
    else if (r->ended_early)
        fputs("  the run ended early: every connection failed\n", to);
}

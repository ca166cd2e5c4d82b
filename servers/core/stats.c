#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L /* clock_gettime, which -std=c11 hides */
#endif
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

static const char *const error_names[ERROR_KIND_COUNT] = {"accept", "recv", "send", "reset", "resource"};

const char *error_kind_name(error_kind kind)
{
    return kind < ERROR_KIND_COUNT ? error_names[kind] : "unknown";
}

void stats_init(server_stats *s)
{
    memset(s, 0, sizeof *s);
    counter_add(&s->worst_service_delay_ms, -1);
}

/* A monotonic clock in nanoseconds: the one each platform has. */
static int64_t monotonic_ns(void)
{
#ifdef _WIN32
    static LARGE_INTEGER frequency;
    LARGE_INTEGER now;
    if (frequency.QuadPart == 0)
        QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&now);
    return (int64_t)((double)now.QuadPart * 1e9 / (double)frequency.QuadPart);
#else
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
#endif
}

void stats_spin(int microseconds)
{
    int64_t until = monotonic_ns() + (int64_t)microseconds * 1000;
    while (monotonic_ns() < until) {
    }
}

void stats_service_delay(server_stats *s, int64_t delay_ms)
{
    counter_raise_to(&s->worst_service_delay_ms, delay_ms);
}

int stats_connection_opened(server_stats *s, int max_connections)
{
    int64_t active = counter_add(&s->connections_active, 1);
    if (max_connections > 0 && active > max_connections) {
        counter_add(&s->connections_active, -1);
        counter_add(&s->connections_refused, 1);
        return 0;
    }
    counter_add(&s->connections_accepted, 1);
    counter_raise_to(&s->peak_connections, active);
    return 1;
}

void stats_connection_closed(server_stats *s)
{
    counter_add(&s->connections_active, -1);
}

void stats_thread_started(server_stats *s)
{
    counter_raise_to(&s->peak_threads, counter_add(&s->threads_active, 1));
}

void stats_thread_exited(server_stats *s)
{
    counter_add(&s->threads_active, -1);
}

/* Appends to a bounded string; remembers overflow instead of truncating silently. */
typedef struct json_out {
    char *at;
    size_t left;
    int overflow;
} json_out;

static void put(json_out *j, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(j->at, j->left, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= j->left) {
        j->overflow = 1;
        j->left = 0;
        return;
    }
    j->at += n;
    j->left -= (size_t)n;
}

int stats_format_json(char *out, size_t size, const char *model, server_stats *s, const process_figures *p)
{
    json_out j = {out, size, 0};
    if (size == 0)
        return -1;
    put(&j, "{\"event\":\"stats\",\"model\":\"%s\"", model);
    put(&j, ",\"connections_accepted\":%lld", (long long)counter_get(&s->connections_accepted));
    put(&j, ",\"connections_refused\":%lld", (long long)counter_get(&s->connections_refused));
    put(&j, ",\"peak_connections\":%lld", (long long)counter_get(&s->peak_connections));
    put(&j, ",\"bytes_received\":%lld", (long long)counter_get(&s->bytes_received));
    put(&j, ",\"bytes_sent\":%lld", (long long)counter_get(&s->bytes_sent));
    put(&j, ",\"errors\":{");
    for (int k = 0; k < ERROR_KIND_COUNT; k++)
        put(&j, "%s\"%s\":%lld", k ? "," : "", error_names[k], (long long)counter_get(&s->errors[k]));
    put(&j, "},\"cpu_user_s\":%.6f,\"cpu_kernel_s\":%.6f", p->cpu_user_s, p->cpu_kernel_s);
    put(&j, ",\"peak_working_set_bytes\":%llu", (unsigned long long)p->peak_working_set_bytes);
    put(&j, ",\"peak_threads\":%lld", (long long)counter_get(&s->peak_threads));
    int64_t delay = counter_get(&s->worst_service_delay_ms);
    if (delay >= 0)
        put(&j, ",\"worst_service_delay_ms\":%lld,\"slow_service_ms\":%d", (long long)delay, SLOW_SERVICE_MS);
    if (p->stop_requested)
        put(&j, ",\"stop_s\":%.6f", p->stop_s);
    if (s->spin_us > 0)
        put(&j, ",\"spin_us\":%d", s->spin_us);
    put(&j, ",\"run_time_s\":%.6f}", p->run_time_s);
    return j.overflow ? -1 : (int)(j.at - out);
}

/* What a server counts while it runs, and the final {"event":"stats"} line.
 * The counters are updated from any thread; the JSON is built from a plain
 * snapshot so it can be unit-tested without a running server. */
#ifndef WSB_STATS_H
#define WSB_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "counter.h"

typedef enum error_kind {
    ERROR_ACCEPT,   /* accept/AcceptEx failed */
    ERROR_RECV,     /* a receive failed other than by reset */
    ERROR_SEND,     /* a send failed other than by reset */
    ERROR_RESET,    /* the peer reset the connection (WSAECONNRESET, ...) */
    ERROR_RESOURCE, /* no memory, thread or handle for a new connection */
    ERROR_KIND_COUNT
} error_kind;

const char *error_kind_name(error_kind kind);

/* A readiness that waited longer than this for its loop means the model is
 * past its scale: the engine logs it once, and the stats line carries the
 * threshold beside worst_service_delay_ms, so the harness flags a cell by the
 * very limit the server used instead of keeping a copy of it. */
enum { SLOW_SERVICE_MS = 1000 };

typedef struct server_stats {
    counter_t connections_accepted;
    counter_t connections_refused; /* over --max-connections */
    counter_t connections_active;
    counter_t peak_connections;
    counter_t bytes_received;
    counter_t bytes_sent;
    counter_t errors[ERROR_KIND_COUNT];
    counter_t threads_active; /* threads the server itself runs, main included */
    counter_t peak_threads;
    /* The longest a readiness waited for its loop, in ms, sampled by the
     * readiness engine's probes (servers/core/readiness.c); -1 in models
     * that do not measure it, and then left out of the stats line. */
    counter_t worst_service_delay_ms;
    /* --spin-us: busy-wait per receive, a calibration aid (0: off). Set
     * once before any connection, then only read. */
    int spin_us;
} server_stats;

/* Figures read from the process when it stops, besides the counters. */
typedef struct process_figures {
    double cpu_user_s;
    double cpu_kernel_s;
    uint64_t peak_working_set_bytes;
    double run_time_s;
    int stop_requested; /* 0: the run ended without a stop (stop_s left out) */
    double stop_s;      /* from the stop request to the stats line */
} process_figures;

void stats_init(server_stats *s);

/* Admits a new connection unless max_connections (0: no limit) are open;
 * returns 1 when admitted, 0 when refused (and counted as refused). */
int stats_connection_opened(server_stats *s, int max_connections);
void stats_connection_closed(server_stats *s);
void stats_thread_started(server_stats *s);
void stats_thread_exited(server_stats *s);
/* Records one measured service delay (keeps the worst). */
void stats_service_delay(server_stats *s, int64_t delay_ms);
static inline void stats_error(server_stats *s, error_kind kind)
{
    counter_add(&s->errors[kind], 1);
}
/* Spins (does not sleep) for about `microseconds`: a known cost per
 * message, on the CPU, as a slower server would spend it. */
void stats_spin(int microseconds);
static inline void stats_received(server_stats *s, size_t n)
{
    counter_add(&s->bytes_received, (int64_t)n);
    if (s->spin_us > 0)
        stats_spin(s->spin_us);
}
static inline void stats_sent(server_stats *s, size_t n)
{
    counter_add(&s->bytes_sent, (int64_t)n);
}

/* Writes the one-line stats JSON (no newline) into out; returns its length,
 * or -1 when out is too small. */
int stats_format_json(char *out, size_t size, const char *model, server_stats *s, const process_figures *p);

#endif

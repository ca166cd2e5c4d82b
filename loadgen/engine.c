/* The engine's main thread: plans the event loops, starts them together
 * once their connections are open, shows progress, and merges their
 * figures when they have all stopped. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "worker.h"

#define PROGRESS_MIN_RUN_S 3.0

static bool all_finished(worker *workers, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        if (!atomic_load(&workers[i].finished))
            return false;
    return true;
}

static void sum_progress(worker *workers, unsigned count, uint64_t *messages, uint64_t *errors)
{
    *messages = *errors = 0;
    for (unsigned i = 0; i < count; i++) {
        *messages += atomic_load_explicit(&workers[i].progress_messages, memory_order_relaxed);
        *errors += atomic_load_explicit(&workers[i].progress_errors, memory_order_relaxed);
    }
}

/* Waits for the loops to stop, printing one progress line a second when a
 * person is watching a run long enough to want one. */
static void monitor(run_shared *shared, worker *workers, bool show_progress)
{
    uint64_t last_messages = 0, errors = 0, next_line = shared->start_ns + 1000000000ull;
    bool printed = false;
    while (!all_finished(workers, shared->threads)) {
        platform_sleep_ms(20);
        uint64_t now = platform_now_ns();
        if (!show_progress || now < next_line)
            continue;
        uint64_t messages;
        sum_progress(workers, shared->threads, &messages, &errors);
        fprintf(stderr, "\r[%4.0f s] %10.0f msg/s  errors %llu   ", (double)(now - shared->start_ns) / 1e9,
                (double)(messages - last_messages), (unsigned long long)errors);
        last_messages = messages;
        next_line += 1000000000ull;
        printed = true;
    }
    if (printed)
        fputc('\n', stderr);
}

/* Adds the loop's connections that had messages to send to the tally:
 * idle ones, and any that --messages left without one, have a quota of 0. */
static void tally_connections(const worker *w, connection_tally *tally)
{
    for (size_t k = 0; k < w->connection_count; k++) {
        if (w->connections[k].quota == 0)
            continue;
        uint64_t echoes = w->measured_echoes[k];
        if (tally->connections == 0 || echoes < tally->min_messages)
            tally->min_messages = echoes;
        if (echoes > tally->max_messages)
            tally->max_messages = echoes;
        tally->connections++;
        tally->served += echoes > 0;
    }
}

static void merge_results(const run_shared *shared, worker *workers, run_results *r)
{
    uint64_t stopped = 0, last_completion = 0;
    const char *connect_failure = NULL;
    for (unsigned i = 0; i < shared->threads; i++) {
        worker *w = &workers[i];
        if (!connect_failure)
            connect_failure = w->first_connect_failure;
        histogram_merge(r->latency, w->latency);
        if (r->latency_uncorrected)
            histogram_merge(r->latency_uncorrected, w->latency_uncorrected);
        if (r->connect_latency)
            histogram_merge(r->connect_latency, w->connect_latency);
        r->messages += w->messages;
        r->bytes += w->bytes;
        r->operations += w->operations;
        if (shared->options->workload != WORKLOAD_CHURN)
            tally_connections(w, &r->per_connection);
        for (int k = 0; k < ERROR_KINDS; k++)
            r->errors[k] += w->errors[k];
        stopped = w->stopped_ns > stopped ? w->stopped_ns : stopped;
        last_completion = w->last_completion_ns > last_completion ? w->last_completion_ns : last_completion;
    }
    for (int k = 0; k < ERROR_KINDS; k++)
        r->error_total += r->errors[k];
    uint64_t window_end = shared->end_ns ? (stopped < shared->end_ns ? stopped : shared->end_ns)
                                         : (last_completion ? last_completion : stopped);
    r->ended_early = shared->end_ns ? stopped < shared->end_ns : atomic_load(&shared->stop);
    bool started = atomic_load(&shared->go);
    r->duration_s = started && window_end > shared->measure_start_ns
        ? (double)(window_end - shared->measure_start_ns) / 1e9
        : 0; /* stopped before the clock started (e.g. --barrier never released) */
    r->started_unix_ns = started ? shared->start_unix_ns : 0;
    r->unreachable = !atomic_load(&shared->ever_connected) && connect_failure;
    if (r->unreachable)
        snprintf(r->fatal, sizeof r->fatal, "cannot connect to %s port %d: %s", shared->options->host,
                 shared->options->port, connect_failure);
    else
        snprintf(r->fatal, sizeof r->fatal, "%s", shared->fatal);
    size_t count = 0;
    const second_sample *samples = timeseries_samples(shared->series, &count);
    r->series = calloc(count + 1, sizeof *r->series);
    if (r->series && samples) {
        memcpy(r->series, samples, count * sizeof *samples);
        r->series_length = count;
    }
    platform_cpu_times(&r->cpu_user_s, &r->cpu_system_s);
}

static bool create_result_histograms(const loadgen_options *o, run_results *r)
{
    r->latency = histogram_create();
    if (o->workload == WORKLOAD_RATE)
        r->latency_uncorrected = histogram_create();
    if (o->workload == WORKLOAD_CHURN)
        r->connect_latency = histogram_create();
    return r->latency && (o->workload != WORKLOAD_RATE || r->latency_uncorrected) &&
        (o->workload != WORKLOAD_CHURN || r->connect_latency);
}

/* --barrier: what the thread waiting for the release line found. */
enum { RELEASE_WAITING, RELEASE_LINE, RELEASE_EOF };
static atomic_int release_state;

/* Blocks in a read of standard input, which cannot be given a timeout
 * portably: so it has a thread of its own, and the engine waits on its
 * result with one. If the wait times out, the thread is left blocked and
 * ends with the process. */
static void read_release_line(void *unused)
{
    (void)unused;
    char line[256];
    atomic_store(&release_state, fgets(line, sizeof line, stdin) ? RELEASE_LINE : RELEASE_EOF);
}

/* Says the connections are open, then waits for the line that releases
 * every load generator of the run at once. false (the run stopped, with
 * the reason) when the line does not come. */
static bool wait_for_release(run_shared *shared)
{
    const loadgen_options *o = shared->options;
    printf("{\"event\":\"connected\",\"connections\":%u,\"idle\":%u,\"threads\":%u}\n",
           o->workload == WORKLOAD_CHURN ? o->concurrency : o->connections, o->workload == WORKLOAD_IDLE ? o->idle : 0u,
           o->threads);
    fflush(stdout);
    atomic_store(&release_state, RELEASE_WAITING);
    platform_thread *reader = platform_thread_start(read_release_line, NULL);
    if (!reader) {
        run_stop(shared, "--barrier: cannot start the thread that reads standard input");
        return false;
    }
    uint64_t deadline = platform_now_ns() + (uint64_t)(o->barrier_timeout_s * 1e9);
    while (atomic_load(&release_state) == RELEASE_WAITING && platform_now_ns() < deadline && !run_stopped(shared))
        platform_sleep_ms(1);
    int state = atomic_load(&release_state);
    if (state == RELEASE_LINE) {
        platform_thread_join(reader);
        return true;
    }
    if (state == RELEASE_EOF)
        platform_thread_join(reader);
    run_stop(shared,
             state == RELEASE_EOF ? "--barrier: standard input closed before the start line"
                                  : "--barrier: no start line on standard input in time");
    return false;
}

/* Starts the loops, lets them open their connections, then sets the clock
 * running for all of them at once. */
static bool start_loops(run_shared *shared, worker *workers)
{
    for (unsigned i = 0; i < shared->threads; i++)
        if (!worker_prepare(&workers[i], shared, i))
            return false;
    unsigned started = 0;
    for (; started < shared->threads; started++) {
        workers[started].thread = platform_thread_start(worker_main, &workers[started]);
        if (!workers[started].thread)
            break;
    }
    if (started < shared->threads) {
        run_stop(shared, "cannot start a thread");
        for (unsigned i = started; i < shared->threads; i++)
            atomic_store(&workers[i].finished, true);
        return true; /* the started ones stop at once; their figures still merge */
    }
    while (atomic_load(&shared->ready_loops) < shared->threads)
        platform_sleep_ms(1);
    const loadgen_options *o = shared->options;
    if (o->barrier && !run_stopped(shared) && !wait_for_release(shared))
        return true; /* stopped: the loops close their connections and end */
    shared->start_ns = platform_now_ns();
    shared->start_unix_ns = platform_wall_ns();
    shared->measure_start_ns = shared->start_ns + (o->messages ? 0 : (uint64_t)(o->warmup_s * 1e9));
    shared->end_ns = o->messages ? 0 : shared->measure_start_ns + (uint64_t)(o->duration_s * 1e9);
    atomic_store(&shared->go, true); /* publishes the times above */
    return true;
}

bool engine_run(const loadgen_options *o, const net_address *server, run_results *r)
{
    memset(r, 0, sizeof *r);
    run_shared shared;
    memset(&shared, 0, sizeof shared);
    shared.options = o;
    shared.server = *server;
    shared.threads = o->threads;
    shared.series = timeseries_create(o->threads);
    shared.fatal_lock = platform_mutex_create();
    worker *workers = calloc(o->threads, sizeof *workers);
    bool ok = shared.series && shared.fatal_lock && workers && create_result_histograms(o, r) &&
        start_loops(&shared, workers);
    if (ok) {
        double planned = o->messages ? 1e9 : o->warmup_s + o->duration_s;
        monitor(&shared, workers, platform_stderr_is_terminal() && planned > PROGRESS_MIN_RUN_S);
        for (unsigned i = 0; i < o->threads; i++)
            if (workers[i].thread)
                platform_thread_join(workers[i].thread);
        merge_results(&shared, workers, r);
    } else {
        snprintf(r->fatal, sizeof r->fatal, "out of memory");
    }
    for (unsigned i = 0; workers && i < o->threads; i++)
        worker_release(&workers[i]);
    free(workers);
    timeseries_destroy(shared.series);
    platform_mutex_destroy(shared.fatal_lock);
    return ok;
}

void run_results_free(run_results *r)
{
    histogram_destroy(r->latency);
    histogram_destroy(r->latency_uncorrected);
    histogram_destroy(r->connect_latency);
    free(r->series);
    memset(r, 0, sizeof *r);
}

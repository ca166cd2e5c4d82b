/* The shared core of the Winsock echo servers.
 *
 * A model supplies a server_model (its name, which options it takes, run()
 * and wake()); server_main() does everything that is the same for all:
 * options, Winsock start-up, the listening socket, the ready line, the stop
 * signals (end-of-file on stdin, Ctrl-C / Ctrl-Break), thread accounting and
 * the final stats line. What is left in each model's main.c is the part that
 * differs: how it waits for sockets and moves bytes. (readiness.h holds what
 * the readiness models share; lifecycle.h, acceptex.h and completion.h what
 * the others share.) */
#ifndef WSB_SERVER_H
#define WSB_SERVER_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include "echo_buffer.h"
#include "options.h"
#include "stats.h"

typedef struct server server;

typedef struct server_model {
    model_info info;
    /* Serves until a stop is requested, then closes every connection and
     * returns 0, or 1 after a fatal error (already reported with server_log). */
    int (*run)(server *s);
    /* Called on the thread that requests the stop, after stop_event is set,
     * to wake run() from whatever it blocks in. May be NULL if run() waits
     * on stop_event itself. */
    void (*wake)(server *s);
} server_model;

/* The exit code of a model this platform cannot run: the harness records it
 * as "unsupported on this platform", not as a failure. */
#define SERVER_EXIT_UNSUPPORTED 3

struct server {
    const server_model *model;
    server_options options;
    server_stats stats;
    SOCKET listener; /* bound and listening before run() is called */
    int family;      /* AF_INET or AF_INET6 */
    int processors;
    /* A stop is requested once: the flag is what loops check (an atomic load,
     * no system call, so a check per message costs nothing), the event is
     * for models that block on it (set after the flag). */
    counter_t stop_requested;
    counter_t stop_requested_us; /* microseconds since start; read for stop_s */
    HANDLE stop_event;           /* manual-reset; signalled once a stop is requested */
    void *model_state;           /* for the model's own use (e.g. from wake()) */
};

int server_main(int argc, char **argv, const server_model *model);
/* The same for a model that the platform may lack: check_platform is called
 * once the listener is open, before the ready line, and returns 0, or
 * SERVER_EXIT_UNSUPPORTED after saying in one line on stderr what this
 * platform lacks (e.g. Registered I/O under Wine); that is then the exit code. */
int server_main_checked(int argc, char **argv, const server_model *model, int (*check_platform)(server *s));

static inline int server_stopping(server *s)
{
    return counter_get(&s->stop_requested) != 0;
}
void server_request_stop(server *s);

/* Worker threads sized by --threads: the number itself, or the processors
 * times the model's workers_per_processor. */
int server_worker_count(const server *s);

/* One line on stderr, prefixed with the model's name. */
void server_log(const server *s, const char *format, ...);
/* The same, ending with the text of a Winsock / Win32 error code. */
void server_log_error(const server *s, int error, const char *format, ...);

/* For every accepted socket: admission against --max-connections (a refused
 * socket is closed here and 0 returned) and TCP_NODELAY. */
int server_admit(server *s, SOCKET client);
/* A connection that was served is gone: the inverse of admission's count. */
void server_connection_closed(server *s);
/* The inverse of server_admit, for an admitted socket that could not be set
 * going (no memory, thread, event or queue room): closes it and counts it
 * out. What was lacking counts itself where it was found (a `resource`
 * error; server_start_thread counts its own). */
void server_drop(server *s, SOCKET client);

/* The counting rules for errors, the same in every model, so that the
 * `errors` figures compare across models (servers/CONTRACT.md, "Counting
 * errors"). A failed receive or send is a `reset` when the peer reset, else
 * `kind` (recv or send) - except that a client that resets before its first
 * byte arrived is no error at all: it sent nothing and lost nothing. The
 * exception is what makes one rule possible: a client that connects and
 * resets at once (often while still in the backlog) reaches the models in
 * different ways. Windows may fail accept or AcceptEx with WSAECONNRESET;
 * Wine 8 fails AcceptEx with WSAENOTCONN, and its accept() hands the
 * connection over, a first non-blocking recv then reporting a reset or a
 * clean end of input depending on whether the wineserver's own poll took
 * the error first; Linux's accept hands it over and recv reports the reset.
 * had_input: the connection has received at least one byte. */
void server_count_io_error(server *s, int wsa_error, error_kind kind, int had_input);
int server_is_reset(int wsa_error);

/* The same rules for a failed accept or AcceptEx: a client gone from the
 * backlog (a reset, or Wine's WSAENOTCONN) is no error; out of sockets or
 * memory is `resource`; anything else `accept`. Returns 1 when the client
 * was gone: the caller goes on accepting. */
int server_count_accept_failure(server *s, int wsa_error);

/* Starts a thread that is counted in peak_threads; stack_reserve 0 means the
 * default. Returns NULL (and counts a resource error) when it cannot. */
HANDLE server_start_thread(server *s, unsigned(__stdcall *body)(void *), void *arg, unsigned stack_reserve);

/* How a connection ends: gracefully (FIN after the whole echo), abortively
 * (RST: its echo is cut off by a stop, and a FIN would pass a partial echo
 * off as complete) or after it failed. Graceful and failed are both a plain
 * close; the names say why the connection ended. */
typedef enum closing { CLOSE_GRACEFULLY, CLOSE_ABORTIVELY, CLOSE_FAILED } closing;
void server_close(SOCKET socket, closing how);

/* A loopback datagram socket that other threads can make readable: lets a
 * thread blocked in select() or WSAPoll() be woken for a stop or new work. */
typedef struct wakeup {
    SOCKET socket;
    struct sockaddr_in address;
} wakeup;
int wakeup_open(server *s, wakeup *w);
void wakeup_signal(wakeup *w);
void wakeup_drain(wakeup *w);
void wakeup_close(wakeup *w);

#endif

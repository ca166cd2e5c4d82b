/* reference-epoll: the Linux-native echo server, the calibration point of the
 * benchmark. Same contract, options, ready line and stats line as the ten
 * Winsock servers, but no Wine: it shows what the same workload costs on the
 * host itself.
 *
 * One thread, non-blocking sockets, one epoll set holding the listener,
 * standard input, a signalfd and every connection.
 *
 * Level-triggered, on purpose: a connection's interest set says exactly what
 * it can make use of (EPOLLIN only while its echo buffer has room, EPOLLOUT
 * only while echo is pending), so the kernel keeps reporting a ready socket
 * until we act on it. One recv per event is then enough and no connection can
 * starve the others; edge-triggered would force every handler to drain until
 * EAGAIN and to remember the readiness it did not consume. */
#define _GNU_SOURCE /* accept4, SOCK_NONBLOCK, SOCK_CLOEXEC */

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "echo_buffer.h"
#include "options.h"
#include "stats.h"

static const model_info reference_model = {
    .name = "reference-epoll",
    .summary = "Linux epoll, non-blocking sockets, one thread: the same workload without Wine."};

typedef struct connection {
    int fd;
    uint32_t interest;              /* the events registered with epoll right now */
    int peer_finished;              /* the client shut down its sending side */
    int had_input;                  /* a byte has arrived (see count_io_error) */
    echo_buffer echo;               /* received and not yet sent back */
    struct connection *prev, *next; /* every open connection, to close them at the stop */
} connection;

typedef struct server {
    server_options options;
    server_stats stats;
    int epoll;
    int listener;
    int family;
    int signals;         /* signalfd for SIGINT and SIGTERM */
    int listener_paused; /* out of descriptors: accepting waits a moment */
    int stopping;
    struct timespec stop_requested; /* when stopping was set, for stop_s */
    connection *connections;
} server;

/* epoll hands back one pointer per event: a connection's own, or one of these. */
static char listener_mark, stdin_mark, signals_mark;

enum { MAX_EVENTS = 256, MAX_ACCEPTS_PER_EVENT = 64, PAUSED_LISTENER_RETRY_MS = 100 };

static void log_errno(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", reference_model.name, what, strerror(errno));
}

static int watch(server *s, int fd, uint32_t events, void *mark)
{
    struct epoll_event e = {0};
    e.events = events;
    e.data.ptr = mark;
    return epoll_ctl(s->epoll, EPOLL_CTL_ADD, fd, &e);
}

static int is_reset(int error)
{
    return error == ECONNRESET || error == ECONNABORTED || error == ENETRESET || error == EPIPE;
}

/* The Winsock servers' counting rule (servers/core/server.h): a reset is
 * `reset`, except before the client's first byte, when it is no error. */
static void count_io_error(server *s, const connection *c, int error, error_kind kind)
{
    if (!is_reset(error))
        stats_error(&s->stats, kind);
    else if (c->had_input)
        stats_error(&s->stats, ERROR_RESET);
}

/* Graceful: our FIN follows the last echoed byte. While serving, that happens
 * only after recv returned 0, so nothing unread is left that would make the
 * kernel answer with an RST instead. Otherwise (an error, or a busy connection
 * at the stop) the connection is aborted with an RST at once. */
static void close_connection(server *s, connection *c, int graceful)
{
    if (graceful) {
        shutdown(c->fd, SHUT_WR);
    } else {
        struct linger abort_now = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
    }
    close(c->fd); /* also removes it from the epoll set */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->connections = c->next;
    if (c->next)
        c->next->prev = c->prev;
    echo_buffer_free(&c->echo);
    free(c);
    stats_connection_closed(&s->stats);
}

static void add_connection(server *s, int fd)
{
    if (!stats_connection_opened(&s->stats, s->options.max_connections)) {
        close(fd);
        return;
    }
    /* Echo traffic is request/response: with Nagle's algorithm a small echo
     * would wait for the ACK of the previous one, which the client delays, so
     * every round trip would stall for tens of milliseconds. */
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);

    connection *c = calloc(1, sizeof *c);
    if (!c || echo_buffer_init(&c->echo, s->options.buffer_size) != 0) {
        free(c);
        close(fd);
        stats_error(&s->stats, ERROR_RESOURCE);
        stats_connection_closed(&s->stats);
        return;
    }
    c->fd = fd;
    c->interest = EPOLLIN; /* a new connection has nothing to send yet */
    c->next = s->connections;
    if (c->next)
        c->next->prev = c;
    s->connections = c;
    if (watch(s, fd, c->interest, c) != 0) {
        stats_error(&s->stats, ERROR_RESOURCE);
        close_connection(s, c, 0);
    }
}

static void set_listener_paused(server *s, int paused)
{
    struct epoll_event e = {0};
    e.events = paused ? 0 : EPOLLIN;
    e.data.ptr = &listener_mark;
    if (epoll_ctl(s->epoll, EPOLL_CTL_MOD, s->listener, &e) == 0)
        s->listener_paused = paused;
}

/* A bounded batch per event: level-triggered, the listener is reported again
 * if clients are still waiting, and the connections already open get their turn. */
static void accept_clients(server *s)
{
    for (int i = 0; i < MAX_ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(s->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            add_connection(s, fd);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR || errno == ECONNABORTED)
            continue; /* that client gave up in the backlog; others may be there */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The client stays in the backlog, and a level-triggered listener
             * would report it again at once: spinning at full CPU. Stop
             * watching the listener and retry shortly instead. */
            stats_error(&s->stats, ERROR_RESOURCE);
            set_listener_paused(s, 1);
            return;
        }
        stats_error(&s->stats, ERROR_ACCEPT);
        return;
    }
}

/* One receive into the free space of the ring; returns -1 if the connection died. */
static int receive(server *s, connection *c)
{
    unsigned char *space;
    size_t room = echo_buffer_write_span(&c->echo, &space);
    ssize_t got = recv(c->fd, space, room, 0);
    if (got > 0) {
        c->had_input = 1;
        echo_buffer_commit(&c->echo, (size_t)got);
        stats_received(&s->stats, (size_t)got);
    } else if (got == 0) {
        c->peer_finished = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        count_io_error(s, c, errno, ERROR_RECV);
        return -1;
    }
    return 0;
}

/* Sends what is pending until the socket is full or the ring is empty (at most
 * two spans when the data wraps); returns -1 if the connection died. */
static int flush(server *s, connection *c)
{
    while (!echo_buffer_is_empty(&c->echo)) {
        unsigned char *pending;
        size_t length = echo_buffer_read_span(&c->echo, &pending);
        ssize_t sent = send(c->fd, pending, length, 0);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            count_io_error(s, c, errno, ERROR_SEND);
            return -1;
        }
        echo_buffer_consume(&c->echo, (size_t)sent);
        stats_sent(&s->stats, (size_t)sent);
    }
    return 0;
}

static void on_connection_event(server *s, connection *c, uint32_t events)
{
    int can_read = !c->peer_finished && !echo_buffer_is_full(&c->echo);
    /* EPOLLERR and EPOLLHUP come unasked: the recv or send below reports them. */
    if (can_read && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && receive(s, c) != 0) {
        close_connection(s, c, 0);
        return;
    }
    /* Sending right after a receive, without waiting for EPOLLOUT, saves a
     * trip through epoll_wait: a socket is almost always writable. */
    if (flush(s, c) != 0) {
        close_connection(s, c, 0);
        return;
    }
    if (c->peer_finished && echo_buffer_is_empty(&c->echo)) {
        close_connection(s, c, 1);
        return;
    }
    /* Read interest only while there is room: a full buffer stops reading, the
     * client's TCP window closes, and memory stays bounded. Write interest only
     * while echo is pending, or a level-triggered epoll would report the
     * (nearly always) writable socket forever. */
    uint32_t wanted = 0;
    if (!c->peer_finished && !echo_buffer_is_full(&c->echo))
        wanted |= EPOLLIN;
    if (!echo_buffer_is_empty(&c->echo))
        wanted |= EPOLLOUT;
    if (wanted != c->interest) {
        struct epoll_event e = {0};
        e.events = wanted;
        e.data.ptr = c;
        if (epoll_ctl(s->epoll, EPOLL_CTL_MOD, c->fd, &e) != 0) {
            stats_error(&s->stats, ERROR_RESOURCE);
            close_connection(s, c, 0);
            return;
        }
        c->interest = wanted;
    }
}

static void request_stop(server *s)
{
    if (!s->stopping)
        clock_gettime(CLOCK_MONOTONIC, &s->stop_requested);
    s->stopping = 1;
}

/* The orchestrator stops a server by closing its standard input; what it
 * writes there, if anything, is ignored. One read per event cannot block. */
static void on_stdin(server *s)
{
    char sink[256];
    ssize_t got = read(STDIN_FILENO, sink, sizeof sink);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
        request_stop(s);
}

static void on_signal(server *s)
{
    struct signalfd_siginfo info;
    if (read(s->signals, &info, sizeof info) == (ssize_t)sizeof info)
        request_stop(s);
}

static int serve(server *s)
{
    struct epoll_event events[MAX_EVENTS];
    int rc = 0;
    while (!s->stopping) {
        int n = epoll_wait(s->epoll, events, MAX_EVENTS, s->listener_paused ? PAUSED_LISTENER_RETRY_MS : -1);
        if (n < 0 && errno != EINTR) {
            log_errno("epoll_wait");
            rc = 1;
            break;
        }
        if (s->listener_paused)
            set_listener_paused(s, 0);
        for (int i = 0; i < n; i++) {
            void *mark = events[i].data.ptr;
            if (mark == &listener_mark)
                accept_clients(s);
            else if (mark == &stdin_mark)
                on_stdin(s);
            else if (mark == &signals_mark)
                on_signal(s);
            else
                on_connection_event(s, mark, events[i].events);
        }
    }
    /* Idle connections get a FIN, busy ones an RST: nobody waits on a slow reader. */
    while (s->connections)
        close_connection(s, s->connections, echo_buffer_is_empty(&s->connections->echo));
    return rc;
}

/* Resolves --bind and listens on the first address that works. */
static int open_listener(server *s)
{
    struct addrinfo hints = {0}, *found = NULL;
    char port[16];
    int last_error = EADDRNOTAVAIL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%d", s->options.port);
    int rc = getaddrinfo(s->options.bind, port, &hints, &found);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot resolve --bind %s: %s\n", reference_model.name, s->options.bind, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *a = found; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_error = errno;
            continue;
        }
        /* A restarted server may reuse a port whose old connections linger in
         * TIME_WAIT; Linux still refuses a second listener on it. */
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        /* 0 means the system maximum: the kernel clamps any larger backlog to
         * net.core.somaxconn. */
        int backlog = s->options.backlog > 0 ? s->options.backlog : INT_MAX;
        struct sockaddr_storage bound;
        socklen_t length = sizeof bound;
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0 &&
            getsockname(fd, (struct sockaddr *)&bound, &length) == 0) {
            /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): getsockname filled `bound` */
            s->options.port = ntohs(a->ai_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                             : ((struct sockaddr_in *)&bound)->sin_port);
            s->listener = fd;
            s->family = a->ai_family;
            freeaddrinfo(found);
            return 0;
        }
        last_error = errno;
        close(fd);
    }
    freeaddrinfo(found);
    fprintf(stderr, "%s: cannot listen on %s port %d: %s\n", reference_model.name, s->options.bind, s->options.port,
            strerror(last_error));
    return -1;
}

/* The epoll set, the stop signals and standard input. */
static int open_event_sources(server *s)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    /* Blocked, so they queue up for the signalfd instead of killing us. */
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);
    s->signals = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    s->epoll = epoll_create1(EPOLL_CLOEXEC);
    if (s->signals < 0 || s->epoll < 0 || watch(s, s->signals, EPOLLIN, &signals_mark) != 0 ||
        watch(s, s->listener, EPOLLIN, &listener_mark) != 0) {
        log_errno("cannot set up epoll");
        return -1;
    }
    /* epoll refuses regular files and /dev/null (EPERM); a closed stdin gives
     * EBADF, or EEXIST once the listener has taken descriptor 0. Such an input
     * is at end-of-file at once, so the server stops at once. */
    if (s->options.stdin_stop && watch(s, STDIN_FILENO, EPOLLIN, &stdin_mark) != 0)
        request_stop(s);
    return 0;
}

/* 2,000 concurrent clients need more descriptors than the usual soft limit
 * of 1,024; the hard limit is ours to take. */
static void raise_descriptor_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

static double seconds_between(const struct timespec *from, const struct timespec *to)
{
    return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void print_ready(const server *s)
{
    printf("{\"event\":\"ready\",\"model\":\"%s\",\"port\":%d,\"pid\":%ld,\"bind\":\"%s\",\"family\":\"%s\","
           "\"buffer\":%zu,\"threads\":0,\"accept_pool\":0,\"max_connections\":%d}\n",
           reference_model.name, s->options.port, (long)getpid(), s->options.bind,
           s->family == AF_INET6 ? "ipv6" : "ipv4", s->options.buffer_size, s->options.max_connections);
    fflush(stdout);
}

/* Peak resident set in bytes. ru_maxrss alone would be wrong: Linux carries
 * it across execve, so a server started by a large parent (a Python harness)
 * would report the parent's peak. VmHWM belongs to this program's own
 * address space; ru_maxrss is only the fallback when /proc is missing. */
static uint64_t peak_resident_bytes(const struct rusage *usage)
{
    unsigned long long kib = 0;
    char line[256];
    FILE *status = fopen("/proc/self/status", "r");
    if (status) {
        while (fgets(line, sizeof line, status))
            /* NOLINTNEXTLINE(cert-err34-c): the kernel's own number */
            if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
                break;
        fclose(status);
    }
    if (kib == 0)
        kib = (unsigned long long)usage->ru_maxrss; /* Linux reports KiB */
    return (uint64_t)kib * 1024;
}

static void print_stats(server *s, const struct timespec *started)
{
    process_figures p = {0};
    struct rusage usage;
    struct timespec now;
    char line[1024];
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
        p.cpu_user_s = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6;
        p.cpu_kernel_s = (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
        p.peak_working_set_bytes = peak_resident_bytes(&usage);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    p.run_time_s = seconds_between(started, &now);
    p.stop_requested = s->stopping;
    if (p.stop_requested)
        p.stop_s = seconds_between(&s->stop_requested, &now);
    if (stats_format_json(line, sizeof line, reference_model.name, &s->stats, &p) > 0) {
        printf("%s\n", line);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    static server s;
    struct timespec started;
    char error[256];

    clock_gettime(CLOCK_MONOTONIC, &started);
    stats_init(&s.stats);
    stats_thread_started(&s.stats); /* the one and only thread */
    switch (options_parse(&s.options, &reference_model, argc, argv, error, sizeof error)) {
    case OPTIONS_HELP:
        options_usage(stdout, &reference_model);
        return 0;
    case OPTIONS_VERSION:
        options_print_version(stdout, &reference_model);
        return 0;
    case OPTIONS_ERROR:
        fprintf(stderr, "%s\n", error);
        return 2;
    case OPTIONS_RUN:
        break;
    }
    s.stats.spin_us = s.options.spin_us;
    /* A send to a client that has gone away must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    if (open_listener(&s) != 0 || open_event_sources(&s) != 0)
        return 1;
    print_ready(&s);
    int rc = serve(&s);
    close(s.listener);
    print_stats(&s, &started);
    return rc;
}

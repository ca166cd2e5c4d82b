#include "server.h"

#include <process.h>
#include <psapi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The console control handler has no context argument. */
static server *the_server;
static LARGE_INTEGER started_at;

void server_log(const server *s, const char *format, ...)
{
    va_list args;
    fprintf(stderr, "%s: ", s->model->info.name);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    fflush(stderr);
}

void server_log_error(const server *s, int error, const char *format, ...)
{
    char text[256] = "";
    va_list args;
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, (DWORD)error, 0, text, sizeof text,
                   NULL);
    for (char *end = text + strlen(text); end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == '.');)
        *--end = '\0';
    fprintf(stderr, "%s: ", s->model->info.name);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, ": error %d%s%s\n", error, text[0] ? ", " : "", text);
    fflush(stderr);
}

static double seconds_since_start(void);

void server_request_stop(server *s)
{
    /* Only the first request sets the event and wakes the model. */
    if (!counter_swap_if(&s->stop_requested, 0, 1))
        return;
    counter_swap_if(&s->stop_requested_us, 0, (int64_t)(seconds_since_start() * 1e6) + 1);
    SetEvent(s->stop_event);
    if (s->model->wake)
        s->model->wake(s);
}

static BOOL WINAPI on_console_signal(DWORD signal)
{
    if (signal != CTRL_C_EVENT && signal != CTRL_BREAK_EVENT)
        return FALSE;
    server_request_stop(the_server);
    return TRUE;
}

/* Blocks on standard input and requests the stop at end-of-file or error:
 * the orchestrator stops a server by closing the pipe, which works the same
 * under Wine and on Windows (a signal does not). Input itself is ignored. */
static unsigned __stdcall watch_stdin(void *arg)
{
    server *s = arg;
    HANDLE input = GetStdHandle(STD_INPUT_HANDLE);
    char sink[256];
    DWORD got;
    while (input != NULL && input != INVALID_HANDLE_VALUE && ReadFile(input, sink, sizeof sink, &got, NULL) && got > 0)
        ;
    server_request_stop(s);
    return 0;
}

typedef struct thread_start {
    server *s;
    unsigned(__stdcall *body)(void *);
    void *arg;
} thread_start;

static unsigned __stdcall counted_thread(void *p)
{
    thread_start start = *(thread_start *)p;
    free(p);
    unsigned rc = start.body(start.arg);
    stats_thread_exited(&start.s->stats);
    return rc;
}

HANDLE server_start_thread(server *s, unsigned(__stdcall *body)(void *), void *arg, unsigned stack_reserve)
{
    thread_start *start = malloc(sizeof *start);
    if (!start) {
        stats_error(&s->stats, ERROR_RESOURCE);
        return NULL;
    }
    start->s = s;
    start->body = body;
    start->arg = arg;
    /* Counted before it runs so a peak is never missed between start and exit. */
    stats_thread_started(&s->stats);
    uintptr_t h = _beginthreadex(NULL, stack_reserve, counted_thread, start,
                                 stack_reserve ? STACK_SIZE_PARAM_IS_A_RESERVATION : 0, NULL);
    if (h == 0) {
        stats_thread_exited(&s->stats);
        stats_error(&s->stats, ERROR_RESOURCE);
        free(start);
        return NULL;
    }
    return (HANDLE)h;
}

int server_worker_count(const server *s)
{
    int per_processor = s->model->info.workers_per_processor > 0 ? s->model->info.workers_per_processor : 1;
    return s->options.threads > 0 ? s->options.threads : per_processor * s->processors;
}

int server_admit(server *s, SOCKET client)
{
    if (!stats_connection_opened(&s->stats, s->options.max_connections)) {
        closesocket(client);
        return 0;
    }
    /* Echo traffic is request/response: with Nagle's algorithm a small echo
     * waits for the ACK of the previous one, which the client delays (up to
     * 200 ms on Windows), so every round trip would stall. */
    BOOL on = TRUE;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on);
    return 1;
}

void server_connection_closed(server *s)
{
    stats_connection_closed(&s->stats);
}

void server_drop(server *s, SOCKET client)
{
    closesocket(client);
    server_connection_closed(s);
}

int server_is_reset(int wsa_error)
{
    return wsa_error == WSAECONNRESET || wsa_error == WSAECONNABORTED || wsa_error == WSAENETRESET ||
        wsa_error == WSAESHUTDOWN || wsa_error == ERROR_NETNAME_DELETED;
}

void server_count_io_error(server *s, int wsa_error, error_kind kind, int had_input)
{
    if (!server_is_reset(wsa_error))
        stats_error(&s->stats, kind);
    else if (had_input)
        stats_error(&s->stats, ERROR_RESET);
}

int server_count_accept_failure(server *s, int wsa_error)
{
    if (server_is_reset(wsa_error) || wsa_error == WSAENOTCONN)
        return 1;
    stats_error(&s->stats, wsa_error == WSAEMFILE || wsa_error == WSAENOBUFS ? ERROR_RESOURCE : ERROR_ACCEPT);
    return 0;
}

void server_close(SOCKET socket, closing how)
{
    /* A plain close is already graceful: queued echo goes out, then the FIN
     * (a reset only if unread input is left, which is an echo cut off). No
     * shutdown(SD_SEND) first: that would be one more wineserver round trip
     * per connection, 0.6-0.9 s of a stop with 9,000 held under Wine 8. */
    if (how == CLOSE_ABORTIVELY) {
        struct linger reset = {1, 0};
        setsockopt(socket, SOL_SOCKET, SO_LINGER, (const char *)&reset, sizeof reset);
    }
    closesocket(socket);
}

int wakeup_open(server *s, wakeup *w)
{
    int length = sizeof w->address;
    u_long nonblocking = 1;
    w->socket = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    if (w->socket == INVALID_SOCKET) {
        server_log_error(s, WSAGetLastError(), "cannot create the wake-up socket");
        return -1;
    }
    memset(&w->address, 0, sizeof w->address);
    w->address.sin_family = AF_INET;
    w->address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(w->socket, (struct sockaddr *)&w->address, sizeof w->address) != 0 ||
        getsockname(w->socket, (struct sockaddr *)&w->address, &length) != 0 ||
        ioctlsocket(w->socket, FIONBIO, &nonblocking) != 0) {
        server_log_error(s, WSAGetLastError(), "cannot set up the wake-up socket");
        closesocket(w->socket);
        w->socket = INVALID_SOCKET;
        return -1;
    }
    return 0;
}

void wakeup_signal(wakeup *w)
{
    char byte = 0;
    sendto(w->socket, &byte, 1, 0, (struct sockaddr *)&w->address, sizeof w->address);
}

void wakeup_drain(wakeup *w)
{
    char sink[64];
    while (recv(w->socket, sink, sizeof sink, 0) > 0)
        ;
}

void wakeup_close(wakeup *w)
{
    if (w->socket != INVALID_SOCKET)
        closesocket(w->socket);
    w->socket = INVALID_SOCKET;
}

/* Resolves --bind and listens on it; the first address that works wins. */
static int open_listener(server *s)
{
    struct addrinfo hints = {0}, *found = NULL;
    char port[16];
    int last_error = 0;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%d", s->options.port);
    int rc = getaddrinfo(s->options.bind, port, &hints, &found);
    if (rc != 0) {
        server_log_error(s, rc, "cannot resolve --bind %s", s->options.bind);
        return -1;
    }
    for (struct addrinfo *a = found; a; a = a->ai_next) {
        /* WSASocket with WSA_FLAG_OVERLAPPED: the AcceptEx models need it, and
         * sockets accepted from this listener inherit it. */
        SOCKET l = WSASocketW(a->ai_family, a->ai_socktype, a->ai_protocol, NULL, 0, WSA_FLAG_OVERLAPPED);
        if (l == INVALID_SOCKET) {
            last_error = WSAGetLastError();
            continue;
        }
        /* No other process may bind the same port while we serve it. */
        BOOL exclusive = TRUE;
        setsockopt(l, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&exclusive, sizeof exclusive);
        if (bind(l, a->ai_addr, (int)a->ai_addrlen) == 0 &&
            listen(l, s->options.backlog > 0 ? s->options.backlog : SOMAXCONN) == 0) {
            struct sockaddr_storage bound;
            int length = sizeof bound;
            getsockname(l, (struct sockaddr *)&bound, &length);
            s->options.port = ntohs(a->ai_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                             : ((struct sockaddr_in *)&bound)->sin_port);
            s->listener = l;
            s->family = a->ai_family;
            freeaddrinfo(found);
            return 0;
        }
        last_error = WSAGetLastError();
        closesocket(l);
    }
    freeaddrinfo(found);
    server_log_error(s, last_error, "cannot listen on %s port %d", s->options.bind, s->options.port);
    return -1;
}

static double seconds_since_start(void)
{
    LARGE_INTEGER now, frequency;
    QueryPerformanceCounter(&now);
    QueryPerformanceFrequency(&frequency);
    return (double)(now.QuadPart - started_at.QuadPart) / (double)frequency.QuadPart;
}

static double filetime_seconds(FILETIME t)
{
    ULARGE_INTEGER v;
    v.LowPart = t.dwLowDateTime;
    v.HighPart = t.dwHighDateTime;
    return (double)v.QuadPart / 1e7; /* 100 ns units */
}

static void print_stats(server *s)
{
    process_figures p = {0};
    FILETIME created, exited, kernel, user;
    PROCESS_MEMORY_COUNTERS memory = {0};
    char line[1024];
    if (GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) {
        p.cpu_user_s = filetime_seconds(user);
        p.cpu_kernel_s = filetime_seconds(kernel);
    }
    memory.cb = sizeof memory;
    if (GetProcessMemoryInfo(GetCurrentProcess(), &memory, sizeof memory))
        p.peak_working_set_bytes = memory.PeakWorkingSetSize;
    p.run_time_s = seconds_since_start();
    /* The stop's own time, up to this line: what the process exit adds
     * after it is the platform's (thousands of sockets or threads to end). */
    int64_t stop_us = counter_get(&s->stop_requested_us);
    p.stop_requested = stop_us > 0;
    if (p.stop_requested)
        p.stop_s = p.run_time_s - (double)(stop_us - 1) / 1e6;
    if (stats_format_json(line, sizeof line, s->model->info.name, &s->stats, &p) > 0) {
        printf("%s\n", line);
        fflush(stdout);
    }
}

static void print_ready(server *s)
{
    printf("{\"event\":\"ready\",\"model\":\"%s\",\"port\":%d,\"pid\":%lu,\"bind\":\"%s\",\"family\":\"%s\","
           "\"buffer\":%zu,\"threads\":%d,\"accept_pool\":%d,\"max_connections\":%d",
           s->model->info.name, s->options.port, (unsigned long)GetCurrentProcessId(), s->options.bind,
           s->family == AF_INET6 ? "ipv6" : "ipv4", s->options.buffer_size,
           s->model->info.has_thread_pool ? server_worker_count(s) : 0,
           s->model->info.has_accept_pool ? s->options.accept_pool : 0, s->options.max_connections);
    if (s->model->info.has_completion_tuning)
        printf(",\"batch\":%d,\"skip_on_success\":%s", s->options.batch, s->options.skip_on_success ? "true" : "false");
    printf("}\n");
    fflush(stdout);
}

int server_main(int argc, char **argv, const server_model *model)
{
    return server_main_checked(argc, argv, model, NULL);
}

int server_main_checked(int argc, char **argv, const server_model *model, int (*check_platform)(server *s))
{
    static server s;
    char error[256];
    WSADATA wsa;
    SYSTEM_INFO system;

    QueryPerformanceCounter(&started_at);
    s.model = model;
    s.listener = INVALID_SOCKET;
    stats_init(&s.stats);
    stats_thread_started(&s.stats); /* the main thread */
    switch (options_parse(&s.options, &model->info, argc, argv, error, sizeof error)) {
    case OPTIONS_HELP:
        options_usage(stdout, &model->info);
        return 0;
    case OPTIONS_VERSION:
        options_print_version(stdout, &model->info);
        return 0;
    case OPTIONS_ERROR:
        fprintf(stderr, "%s\n", error);
        return 2;
    case OPTIONS_RUN:
        break;
    }
    s.stats.spin_us = s.options.spin_us;
    GetSystemInfo(&system);
    s.processors = (int)system.dwNumberOfProcessors;
    int rc = WSAStartup(MAKEWORD(2, 2), &wsa);
    if (rc != 0) {
        server_log_error(&s, rc, "WSAStartup failed");
        return 1;
    }
    s.stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!s.stop_event || open_listener(&s) != 0) {
        WSACleanup();
        return 1;
    }
    the_server = &s;
    SetConsoleCtrlHandler(on_console_signal, TRUE);
    if (s.options.stdin_stop) {
        HANDLE watcher = server_start_thread(&s, watch_stdin, &s, 64 * 1024);
        if (!watcher) {
            server_log(&s, "cannot start the standard-input watcher");
            return 1;
        }
        CloseHandle(watcher);
    }
    if (check_platform && (rc = check_platform(&s)) != 0) {
        closesocket(s.listener);
        WSACleanup();
        return rc;
    }
    print_ready(&s);
    rc = model->run(&s);
    if (s.listener != INVALID_SOCKET)
        closesocket(s.listener);
    print_stats(&s);
    /* No WSACleanup: the process ends here, and the system releases Winsock
     * with it. Wine 8's WSACleanup makes one wineserver round trip for every
     * slot its socket table ever had, closed or not: 16,384 after 9,000
     * connections, 0.65 s of the stop on this machine. */
    return rc;
}

/* net.h on Winsock 2, with one WSAPoll() array per loop.
 *
 * Why WSAPoll and not an I/O completion port: net.h is a readiness
 * interface (the loop says a socket is ready, the owner then calls
 * send/recv itself), and WSAPoll is exactly that, level-triggered like the
 * epoll backend. IOCP reports completed operations instead; to present it
 * as readiness we would keep a zero-byte read posted per socket and
 * emulate writability, i.e. write a second event model on top of the
 * first, with buffers that must stay put until completions arrive. The
 * price of WSAPoll is a pass over the whole array per wait. Windows affords
 * that for a few thousand sockets; under Wine 8, whose wineserver does the
 * polling, it takes milliseconds there and grows faster than the count, so
 * large idle runs are best spread over --threads.
 *
 * Windows before 10 version 2004 does not report a refused connect to
 * WSAPoll at all: such a connect ends at --connect-timeout instead.
 *
 * Sockets are found in the array through a small open-addressing table
 * (socket -> array index), so watching and closing stay O(1) however many
 * sockets the loop holds. */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <mmsystem.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

enum { INITIAL_CAPACITY = 64 };

typedef struct index_entry {
    SOCKET socket; /* INVALID_SOCKET: a free slot */
    size_t index;  /* into the loop's poll array */
} index_entry;

struct net_loop {
    WSAPOLLFD *polled; /* what WSAPoll watches, packed */
    void **owners;     /* owners[i] belongs to polled[i] */
    size_t count, capacity;
    index_entry *index; /* 2 * capacity slots, a power of two */
    size_t next_report; /* where the next scan starts, so no socket is starved */
};

bool net_init(void)
{
    WSADATA data;
    if (WSAStartup(MAKEWORD(2, 2), &data) != 0)
        return false;
    /* Windows' timer tick is 15.6 ms by default, and WSAPoll's timeout
     * is rounded up to it: a 1 ms wait would be a 15.6 ms one, and the
     * rate workload would send in bursts. 1 ms for this process. */
    timeBeginPeriod(1);
    return true;
}

static net_status status_of(int error)
{
    switch (error) {
    case 0:
        return NET_OK;
    case WSAEWOULDBLOCK:
    case WSAEINPROGRESS:
    case WSAEALREADY:
        return NET_WOULD_BLOCK;
    /* WSAESHUTDOWN: EPIPE's counterpart, as in the epoll backend. */
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAENETRESET:
    case WSAESHUTDOWN:
        return NET_RESET;
    case WSAECONNREFUSED:
        return NET_REFUSED;
    case WSAEADDRNOTAVAIL:
        return NET_NO_PORTS;
    case WSAEMFILE:
    case WSAENOBUFS:
    case WSA_NOT_ENOUGH_MEMORY:
        return NET_NO_RESOURCES;
    default:
        return NET_FAILED;
    }
}

/* Windows reports an exhausted ephemeral port range as WSAENOBUFS (or
 * WSAEADDRINUSE) from connect(), where socket() would mean memory. */
static net_status connect_status_of(int error)
{
    return error == WSAENOBUFS || error == WSAEADDRINUSE ? NET_NO_PORTS : status_of(error);
}

const char *net_status_text(net_status status)
{
    static const char *const texts[] = {
        "ok",
        "would block",
        "closed by the peer",
        "connection reset",
        "connection refused",
        ("ephemeral ports exhausted (WSAEADDRNOTAVAIL/WSAENOBUFS): lower the connection count or widen the dynamic "
         "port range (netsh int ipv4 set dynamicport tcp; under Wine, net.ipv4.ip_local_port_range)"),
        "out of sockets or memory",
        "socket error"};
    return texts[status];
}

/* gai_strerror is not thread-safe on Windows and its text ends in a line
 * break; the few failures a user can meet are named here. */
static const char *resolve_failure_text(int failure)
{
    switch (failure) {
    case WSAHOST_NOT_FOUND:
        return "unknown host";
    case WSATRY_AGAIN:
        return "temporary failure of name resolution";
    case WSANO_DATA:
        return "no address of a usable family";
    default:
        return "name resolution failed";
    }
}

bool net_resolve(const char *host, int port, net_address *out, char *error, size_t error_size)
{
    struct addrinfo hints, *found = NULL;
    char service[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%d", port);
    int failure = getaddrinfo(host, service, &hints, &found);
    if (failure != 0) {
        snprintf(error, error_size, "cannot resolve %s: %s (Winsock error %d)", host, resolve_failure_text(failure),
                 failure);
        return false;
    }
    if (found->ai_addrlen > sizeof out->storage) {
        freeaddrinfo(found);
        snprintf(error, error_size, "cannot resolve %s: address too long", host);
        return false;
    }
    memcpy(out->storage, found->ai_addr, found->ai_addrlen);
    out->length = (unsigned)found->ai_addrlen;
    freeaddrinfo(found);
    return true;
}

/* ---- the socket -> index table ------------------------------------- */

static size_t index_mask(const net_loop *loop)
{
    return 2 * loop->capacity - 1;
}

/* Socket values are handles, multiples of 4: Fibonacci hashing spreads them. */
static size_t home_slot(const net_loop *loop, SOCKET socket)
{
    return (size_t)(((unsigned long long)socket * 0x9E3779B97F4A7C15ull) >> 32) & index_mask(loop);
}

static index_entry *index_find(const net_loop *loop, SOCKET socket)
{
    size_t mask = index_mask(loop);
    for (size_t slot = home_slot(loop, socket);; slot = (slot + 1) & mask) {
        if (loop->index[slot].socket == socket)
            return &loop->index[slot];
        if (loop->index[slot].socket == INVALID_SOCKET)
            return NULL;
    }
}

static void index_insert(net_loop *loop, SOCKET socket, size_t position)
{
    size_t mask = index_mask(loop), slot = home_slot(loop, socket);
    /* reserve() empties every slot before any insert; clang's analyzer
     * stops following that loop and suspects an unset one. */
    /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
    while (loop->index[slot].socket != INVALID_SOCKET)
        slot = (slot + 1) & mask;
    loop->index[slot].socket = socket;
    loop->index[slot].index = position;
}

/* Linear probing without tombstones: the entries after the hole that
 * could live in it move back, so every lookup still ends at a free slot. */
static void index_remove(net_loop *loop, index_entry *entry)
{
    size_t mask = index_mask(loop), hole = (size_t)(entry - loop->index);
    for (size_t next = (hole + 1) & mask; loop->index[next].socket != INVALID_SOCKET; next = (next + 1) & mask) {
        size_t home = home_slot(loop, loop->index[next].socket);
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            loop->index[hole] = loop->index[next];
            hole = next;
        }
    }
    loop->index[hole].socket = INVALID_SOCKET;
}

/* ---- the loop ------------------------------------------------------ */

/* Grows every array to `capacity` and rebuilds the table at its new size. */
static bool reserve(net_loop *loop, size_t capacity)
{
    WSAPOLLFD *polled = realloc(loop->polled, capacity * sizeof *polled);
    if (polled)
        loop->polled = polled;
    void **owners = realloc(loop->owners, capacity * sizeof *owners);
    if (owners)
        loop->owners = owners;
    index_entry *index = malloc(2 * capacity * sizeof *index);
    if (!polled || !owners || !index) {
        free(index);
        return false;
    }
    free(loop->index);
    loop->index = index;
    loop->capacity = capacity;
    for (size_t slot = 0; slot < 2 * capacity; slot++)
        index[slot].socket = INVALID_SOCKET;
    for (size_t i = 0; i < loop->count; i++)
        index_insert(loop, loop->polled[i].fd, i);
    return true;
}

net_loop *net_loop_create(void)
{
    net_loop *loop = calloc(1, sizeof *loop);
    if (loop && !reserve(loop, INITIAL_CAPACITY)) {
        net_loop_destroy(loop);
        return NULL;
    }
    return loop;
}

void net_loop_destroy(net_loop *loop)
{
    if (!loop)
        return;
    free(loop->polled);
    free(loop->owners);
    free(loop->index);
    free(loop);
}

/* Only these bits: Windows' WSAPoll fails with WSAEINVAL on others (POLLIN
 * and POLLOUT include the band bits). POLLHUP and POLLERR need no asking. */
static SHORT wanted_events(bool readable, bool writable)
{
    return (SHORT)((readable ? POLLRDNORM : 0) | (writable ? POLLWRNORM : 0));
}

static net_status add_socket(net_loop *loop, SOCKET socket, void *owner, SHORT events)
{
    if (loop->count == loop->capacity && !reserve(loop, 2 * loop->capacity))
        return NET_NO_RESOURCES;
    size_t position = loop->count++;
    loop->polled[position].fd = socket;
    loop->polled[position].events = events;
    loop->polled[position].revents = 0;
    loop->owners[position] = owner;
    index_insert(loop, socket, position);
    return NET_OK;
}

/* The last entry fills the hole, so the array stays packed. */
static void remove_socket(net_loop *loop, index_entry *entry)
{
    size_t position = entry->index, last = --loop->count;
    index_remove(loop, entry);
    if (position != last) {
        loop->polled[position] = loop->polled[last];
        loop->owners[position] = loop->owners[last];
        index_find(loop, loop->polled[position].fd)->index = position;
    }
}

static net_status open_socket(int family, SOCKET *out)
{
    SOCKET s = socket(family, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        return status_of(WSAGetLastError());
    u_long nonblocking = 1;
    /* Each message must leave at once: Nagle would add latency to small ones. */
    BOOL no_delay = TRUE;
    if (ioctlsocket(s, FIONBIO, &nonblocking) != 0 ||
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&no_delay, sizeof no_delay) != 0) {
        net_status status = status_of(WSAGetLastError());
        closesocket(s);
        return status;
    }
    *out = s;
    return NET_OK;
}

net_status net_connect(net_loop *loop, const net_address *to, void *owner, net_socket *out)
{
    const struct sockaddr *address = (const struct sockaddr *)to->storage;
    SOCKET s = INVALID_SOCKET;
    net_status status = open_socket(address->sa_family, &s);
    if (status != NET_OK)
        return status;
    if (connect(s, address, (int)to->length) != 0) {
        int error = WSAGetLastError();
        if (error != WSAEWOULDBLOCK)
            status = connect_status_of(error);
    }
    if (status == NET_OK)
        status = add_socket(loop, s, owner, wanted_events(false, true));
    if (status != NET_OK) {
        closesocket(s);
        return status;
    }
    *out = (net_socket)s;
    return NET_OK;
}

net_status net_connect_result(net_socket socket)
{
    int error = 0, length = sizeof error;
    if (getsockopt((SOCKET)socket, SOL_SOCKET, SO_ERROR, (char *)&error, &length) != 0)
        return status_of(WSAGetLastError());
    return connect_status_of(error);
}

net_status net_watch(net_loop *loop, net_socket socket, void *owner, bool readable, bool writable)
{
    index_entry *entry = index_find(loop, (SOCKET)socket);
    if (!entry)
        return NET_FAILED;
    loop->polled[entry->index].events = wanted_events(readable, writable);
    loop->owners[entry->index] = owner;
    return NET_OK;
}

/* Nothing to poll (WSAPoll would fail with WSAEINVAL): just let the time pass. */
static int wait_without_sockets(DWORD timeout_ms)
{
    if (timeout_ms > 0)
        Sleep(timeout_ms);
    else
        SwitchToThread();
    return 0;
}

/* A hang-up or error counts as readable and writable too, whatever was
 * asked: the owner's recv() or SO_ERROR then tells what happened. Under
 * Wine 8 a half-close or reset can come as POLLHUP or POLLERR alone,
 * without POLLRDNORM, so this is what makes such sockets reach their owner. */
static net_event event_of(SHORT revents, void *owner)
{
    net_event event;
    bool broken = (revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
    event.owner = owner;
    event.readable = (revents & POLLRDNORM) || broken;
    event.writable = (revents & POLLWRNORM) || broken;
    event.failed = (revents & (POLLERR | POLLNVAL)) != 0;
    return event;
}

/* Collects up to `capacity` of the `ready` entries, starting where the
 * last collection stopped: readiness is level-triggered, so entries left
 * out now are reported next time, and none waits behind the others. */
static int collect(net_loop *loop, int ready, net_event *events, int capacity)
{
    int found = 0;
    size_t position = loop->next_report < loop->count ? loop->next_report : 0;
    for (size_t scanned = 0; scanned < loop->count && found < ready && found < capacity; scanned++) {
        if (loop->polled[position].revents != 0)
            events[found++] = event_of(loop->polled[position].revents, loop->owners[position]);
        position = position + 1 < loop->count ? position + 1 : 0;
    }
    loop->next_report = position;
    return found;
}

/* WSAPoll counts in milliseconds. A wait is cut down to whole milliseconds
 * rather than rounded up, and a wait shorter than one becomes a poll plus a
 * yield of the processor: the caller comes back for the rest, so the open-
 * loop rate workload sends each message within a fraction of a millisecond
 * of its intended time instead of up to a millisecond late, for the price
 * of spinning (politely) through the last sub-millisecond. */
int net_wait(net_loop *loop, net_event *events, int capacity, uint64_t timeout_us)
{
    uint64_t whole_ms = timeout_us / 1000;
    DWORD timeout_ms = whole_ms > (uint64_t)INT_MAX ? (DWORD)INT_MAX : (DWORD)whole_ms;
    if (loop->count == 0)
        return wait_without_sockets(timeout_ms);
    ULONG entries = loop->count > ULONG_MAX ? ULONG_MAX : (ULONG)loop->count;
    int ready = WSAPoll(loop->polled, entries, (INT)timeout_ms);
    if (ready < 0)
        return WSAGetLastError() == WSAEINTR ? 0 : -1;
    if (ready == 0) {
        if (timeout_ms == 0 && timeout_us > 0)
            SwitchToThread();
        return 0;
    }
    return collect(loop, ready, events, capacity);
}

net_status net_send(net_socket socket, const void *data, size_t length, size_t *done)
{
    int chunk = length > INT_MAX ? INT_MAX : (int)length;
    int sent = send((SOCKET)socket, (const char *)data, chunk, 0);
    if (sent == SOCKET_ERROR)
        return status_of(WSAGetLastError());
    *done = (size_t)sent;
    return NET_OK;
}

net_status net_recv(net_socket socket, void *data, size_t length, size_t *done)
{
    int chunk = length > INT_MAX ? INT_MAX : (int)length;
    int received = recv((SOCKET)socket, (char *)data, chunk, 0);
    if (received == SOCKET_ERROR)
        return status_of(WSAGetLastError());
    if (received == 0)
        return NET_CLOSED;
    *done = (size_t)received;
    return NET_OK;
}

void net_shutdown_send(net_socket socket)
{
    shutdown((SOCKET)socket, SD_SEND);
}

void net_close(net_loop *loop, net_socket socket)
{
    index_entry *entry = index_find(loop, (SOCKET)socket);
    if (entry)
        remove_socket(loop, entry);
    closesocket((SOCKET)socket);
}

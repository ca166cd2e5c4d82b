/* net.h on Linux: epoll, level-triggered, one epoll set per loop. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct net_loop {
    int epoll_fd;
    struct epoll_event buffer[256];
};

bool net_init(void)
{
    /* A peer that resets while we write must give EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    return true;
}

static net_status status_of(int error)
{
    switch (error) {
    case 0:
        return NET_OK;
    case EAGAIN:
    case EINPROGRESS:
        return NET_WOULD_BLOCK;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return NET_RESET;
    case ECONNREFUSED:
        return NET_REFUSED;
    case EADDRNOTAVAIL:
        return NET_NO_PORTS;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return NET_NO_RESOURCES;
    default:
        return NET_FAILED;
    }
}

const char *net_status_text(net_status status)
{
    static const char *const texts[] = {
        "ok",
        "would block",
        "closed by the peer",
        "connection reset",
        "connection refused",
        "ephemeral ports exhausted (EADDRNOTAVAIL): lower the connection count or widen net.ipv4.ip_local_port_range",
        "out of descriptors or memory (raise ulimit -n?)",
        "socket error"};
    return texts[status];
}

bool net_resolve(const char *host, int port, net_address *out, char *error, size_t error_size)
{
    struct addrinfo hints = {0}, *found = NULL;
    char service[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%d", port);
    int failure = getaddrinfo(host, service, &hints, &found);
    if (failure != 0) {
        snprintf(error, error_size, "cannot resolve %s: %s", host, gai_strerror(failure));
        return false;
    }
    memcpy(out->storage, found->ai_addr, found->ai_addrlen);
    out->length = (unsigned)found->ai_addrlen;
    freeaddrinfo(found);
    return true;
}

net_loop *net_loop_create(void)
{
    net_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0) {
        free(loop);
        return NULL;
    }
    return loop;
}

void net_loop_destroy(net_loop *loop)
{
    if (!loop)
        return;
    close(loop->epoll_fd);
    free(loop);
}

static net_status watch(net_loop *loop, int fd, void *owner, bool readable, bool writable, int operation)
{
    struct epoll_event event = {0};
    event.events = (readable ? EPOLLIN | EPOLLRDHUP : 0) | (writable ? EPOLLOUT : 0);
    event.data.ptr = owner;
    return epoll_ctl(loop->epoll_fd, operation, fd, &event) == 0 ? NET_OK : status_of(errno);
}

net_status net_connect(net_loop *loop, const net_address *to, void *owner, net_socket *out)
{
    const struct sockaddr *address = (const struct sockaddr *)to->storage;
    int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return status_of(errno);
    /* Each message must leave at once: Nagle would add latency to small ones. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    net_status status = NET_OK;
    if (connect(fd, address, to->length) != 0 && errno != EINPROGRESS)
        status = status_of(errno);
    if (status == NET_OK)
        status = watch(loop, fd, owner, false, true, EPOLL_CTL_ADD);
    if (status != NET_OK) {
        close(fd);
        return status;
    }
    *out = fd;
    return NET_OK;
}

net_status net_connect_result(net_socket socket)
{
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt((int)socket, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        return status_of(errno);
    return status_of(error);
}

net_status net_watch(net_loop *loop, net_socket socket, void *owner, bool readable, bool writable)
{
    return watch(loop, (int)socket, owner, readable, writable, EPOLL_CTL_MOD);
}

/* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; older kernels get
 * epoll_wait, rounded up to the next millisecond. */
static int wait_for_events(net_loop *loop, int capacity, uint64_t timeout_us)
{
    static atomic_bool no_pwait2;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec timeout = {(time_t)(timeout_us / 1000000), (long)(timeout_us % 1000000) * 1000};
        int count = epoll_pwait2(loop->epoll_fd, loop->buffer, capacity, &timeout, NULL);
        if (count >= 0 || errno != ENOSYS)
            return count;
        atomic_store(&no_pwait2, true);
    }
    return epoll_wait(loop->epoll_fd, loop->buffer, capacity, (int)((timeout_us + 999) / 1000));
}

int net_wait(net_loop *loop, net_event *events, int capacity, uint64_t timeout_us)
{
    if (capacity > (int)(sizeof loop->buffer / sizeof loop->buffer[0]))
        capacity = (int)(sizeof loop->buffer / sizeof loop->buffer[0]);
    int count = wait_for_events(loop, capacity, timeout_us);
    if (count < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < count; i++) {
        uint32_t flags = loop->buffer[i].events;
        events[i].owner = loop->buffer[i].data.ptr;
        /* A hang-up or error is reported as readable too, so the owner's
         * recv() finds out exactly what happened. */
        events[i].readable = flags & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
        events[i].writable = flags & (EPOLLOUT | EPOLLHUP | EPOLLERR);
        events[i].failed = flags & EPOLLERR;
    }
    return count;
}

net_status net_send(net_socket socket, const void *data, size_t length, size_t *done)
{
    ssize_t sent = send((int)socket, data, length, MSG_NOSIGNAL);
    if (sent < 0)
        return status_of(errno);
    *done = (size_t)sent;
    return NET_OK;
}

net_status net_recv(net_socket socket, void *data, size_t length, size_t *done)
{
    ssize_t received = recv((int)socket, data, length, 0);
    if (received < 0)
        return status_of(errno);
    if (received == 0)
        return NET_CLOSED;
    *done = (size_t)received;
    return NET_OK;
}

void net_shutdown_send(net_socket socket)
{
    shutdown((int)socket, SHUT_WR);
}

void net_close(net_loop *loop, net_socket socket)
{
    /* Closing removes the descriptor from the epoll set; DEL first keeps
     * that true even if the descriptor was duplicated. */
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, (int)socket, NULL);
    close((int)socket);
}

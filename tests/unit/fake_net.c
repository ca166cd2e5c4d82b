/* See fake_net.h: net.h's calls answered from the script in `fake`. */
#include "fake_net.h"

#include <string.h>

#include "platform.h"

#define FAKE_SOCKET ((net_socket)42)

fake_net fake;

void fake_net_reset(void)
{
    memset(&fake, 0, sizeof fake);
    fake.now_ns = 1000000000ull;
    fake.connect_status = NET_OK;
    fake.connect_result = NET_OK;
    fake.send_room = SIZE_MAX;
    fake.send_status = NET_OK;
    fake.read_chunk = SIZE_MAX;
    fake.end_status = NET_WOULD_BLOCK;
}

void fake_net_queue(const unsigned char *data, size_t length)
{
    if (length > FAKE_WIRE_BYTES - fake.incoming_length)
        length = FAKE_WIRE_BYTES - fake.incoming_length;
    memcpy(fake.incoming + fake.incoming_length, data, length);
    fake.incoming_length += length;
}

uint64_t platform_now_ns(void)
{
    return fake.now_ns;
}

const char *net_status_text(net_status status)
{
    static const char *const texts[] = {"ok",
                                        "would block",
                                        "closed by peer",
                                        "connection reset",
                                        "connection refused",
                                        "no local ports left",
                                        "out of resources",
                                        "failed"};
    return (unsigned)status < sizeof texts / sizeof *texts ? texts[status] : "?";
}

net_status net_connect(net_loop *loop, const net_address *to, void *owner, net_socket *out)
{
    (void)loop, (void)to, (void)owner;
    fake.connects++;
    if (fake.connect_status != NET_OK)
        return fake.connect_status;
    *out = FAKE_SOCKET;
    fake.watching_read = false;
    fake.watching_write = true;
    return NET_OK;
}

net_status net_connect_result(net_socket socket)
{
    (void)socket;
    return fake.connect_result;
}

net_status net_watch(net_loop *loop, net_socket socket, void *owner, bool readable, bool writable)
{
    (void)loop, (void)socket, (void)owner;
    fake.watching_read = readable;
    fake.watching_write = writable;
    return NET_OK;
}

net_status net_send(net_socket socket, const void *data, size_t length, size_t *done)
{
    (void)socket;
    if (fake.send_status != NET_OK)
        return fake.send_status;
    size_t take = length < fake.send_room ? length : fake.send_room;
    if (take > FAKE_WIRE_BYTES - fake.sent_length)
        take = FAKE_WIRE_BYTES - fake.sent_length;
    if (take == 0)
        return NET_WOULD_BLOCK;
    memcpy(fake.sent + fake.sent_length, data, take);
    fake.sent_length += take;
    if (fake.send_room != SIZE_MAX)
        fake.send_room -= take;
    *done = take;
    return NET_OK;
}

net_status net_recv(net_socket socket, void *data, size_t length, size_t *done)
{
    (void)socket;
    size_t available = fake.incoming_length - fake.incoming_read;
    if (available == 0)
        return fake.end_status;
    size_t take = available < length ? available : length;
    take = take < fake.read_chunk ? take : fake.read_chunk;
    memcpy(data, fake.incoming + fake.incoming_read, take);
    fake.incoming_read += take;
    *done = take;
    return NET_OK;
}

void net_shutdown_send(net_socket socket)
{
    (void)socket;
    fake.shutdowns++;
}

void net_close(net_loop *loop, net_socket socket)
{
    (void)loop, (void)socket;
    fake.closes++;
    fake.watching_read = fake.watching_write = false;
}

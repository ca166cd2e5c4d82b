/* A scripted net.h backend for unit tests of loadgen's connection state
 * machine (fake_net.c): one socket at a time, no kernel. The test sets what
 * connect, send and recv will answer; the fake records what the connection
 * did (the bytes it sent, what it watched, whether it closed). It also
 * provides platform_now_ns(), a clock the test sets. */
#ifndef WSB_TESTS_FAKE_NET_H
#define WSB_TESTS_FAKE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define FAKE_WIRE_BYTES (1u << 20)

typedef struct fake_net {
    uint64_t now_ns;           /* what platform_now_ns() returns */
    net_status connect_status; /* net_connect's answer */
    net_status connect_result; /* net_connect_result's answer */
    /* send: takes at most send_room bytes in all (SIZE_MAX: no limit), then
     * would block; send_status other than NET_OK fails every send. */
    size_t send_room;
    net_status send_status;
    unsigned char sent[FAKE_WIRE_BYTES]; /* every byte sent, in order */
    size_t sent_length;
    /* recv: the queued bytes, at most read_chunk per call; once they are
     * all read, recv answers end_status (NET_WOULD_BLOCK: more may come). */
    unsigned char incoming[FAKE_WIRE_BYTES];
    size_t incoming_length, incoming_read, read_chunk;
    net_status end_status;
    /* What the connection asked for. */
    bool watching_read, watching_write;
    unsigned connects, closes, shutdowns;
} fake_net;

extern fake_net fake;

/* A socket that connects, sends and receives without limit. */
void fake_net_reset(void);
/* Queues `length` bytes for recv. */
void fake_net_queue(const unsigned char *data, size_t length);

#endif

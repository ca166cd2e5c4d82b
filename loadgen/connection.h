/* One connection of an event loop: its byte stream (what was issued, sent
 * and echoed back, by offset), the timing of its messages, and how it ends.
 *
 * Ownership: connection.c alone changes a connection. The loop that owns it
 * (worker.c) reads its fields, calls the functions below, and is told
 * through connection_events of everything that it counts or decides on:
 * messages done, errors, connects that failed. A connection counts nothing
 * and never stops the run; it knows net.h, the verifier and the pattern
 * only, so it is tested alone over a fake net.h (tests/unit/test_connection.c).
 *
 * Each connection owns its offsets in its byte stream: `issued` messages
 * are size * issued bytes, of which `sent` have left and `echo.received`
 * came back (verifier.c checks them). */
#ifndef WSB_LOADGEN_CONNECTION_H
#define WSB_LOADGEN_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "net.h"
#include "options.h"
#include "rate_schedule.h"
#include "verifier.h"

#define IO_BUFFER_BYTES 65536
#define NO_QUOTA UINT64_MAX

typedef struct send_time {
    uint64_t intended_ns, actual_ns;
} send_time;

/* CLOSING: half-closed by us at the end of the run, awaiting the server's FIN.
 * FREE: never used, or a churn slot between operations. DEAD: done for good. */
typedef enum { CONN_FREE, CONN_CONNECTING, CONN_OPEN, CONN_CLOSING, CONN_DEAD } connection_state;

/* Where a connect failed: net_connect itself (no socket: local resources,
 * or an immediate refusal), its outcome once the socket was ready, or no
 * outcome within the connect timeout. */
typedef enum { CONNECT_AT_START, CONNECT_AT_RESULT, CONNECT_TIMED_OUT } connect_stage;

typedef struct connection connection;

/* What a connection tells its owner, from inside the call that caused it.
 * Every hook is required; `owner` is passed back to each. */
typedef struct connection_events {
    void *owner;
    /* The owner's go-ahead for new messages: false once the run winds down. */
    bool (*may_issue)(void *owner);
    /* The connect succeeded: the connection is CONN_OPEN. */
    void (*connected)(void *owner, connection *c, uint64_t now);
    /* The last echoed byte of a message came in at `now`; c->completed
     * already counts it. */
    void (*message_done)(void *owner, connection *c, send_time sent, uint64_t now);
    /* Churn: the operation's one message is done and the slot is CONN_FREE. */
    void (*operation_done)(void *owner, connection *c, uint64_t now);
    /* How a connect failed; `failed` (ERROR_CONNECT_FAILED) follows. */
    void (*connect_failed)(void *owner, connection *c, connect_stage stage, net_status status, uint64_t now);
    /* The connection failed; it is closed right after (churn: CONN_FREE,
     * to be reused, else CONN_DEAD). */
    void (*failed)(void *owner, connection *c, error_kind kind, uint64_t now);
    /* The connection closed, for whatever reason: the owner's work may be done. */
    void (*closed)(void *owner, connection *c);
    /* A message could not be noted for want of memory. */
    void (*out_of_memory)(void *owner, connection *c);
} connection_events;

/* What all the connections of one loop share; the owner sets it up and
 * keeps it alive, connections only read it. */
typedef struct connection_context {
    workload_kind workload;
    uint32_t size;
    unsigned depth; /* messages outstanding: pipeline's --depth, else 1 */
    uint64_t seed;
    bool verify;
    const net_address *server;
    net_loop *loop;
    unsigned char *send_buffer, *receive_buffer; /* IO_BUFFER_BYTES each: the loop's scratch */
    connection_events events;
} connection_context;

struct connection {
    const connection_context *context;
    net_socket socket;
    uint64_t id; /* selects its byte stream in the pattern */
    connection_state state;
    bool idle, watching_write;
    uint64_t sent;                     /* stream offset: bytes sent so far */
    echo_verifier echo;                /* what came back: echo.received bytes, checked */
    uint64_t issued, completed, quota; /* messages; quota NO_QUOTA: no limit */
    send_time *pending;                /* ring of issued, unanswered messages */
    size_t pending_head, pending_count, pending_capacity;
    uint64_t next_due_ns; /* rate: when the next message is due */
    uint64_t connect_started_ns;
};

/* A CONN_FREE connection on stream `id`; false when out of memory.
 * `pending_capacity` messages fit before the ring grows. */
bool connection_init(connection *c, const connection_context *context, uint64_t id, uint64_t quota, bool idle,
                     size_t pending_capacity);
void connection_release(connection *c);

/* Starts a connect on the connection's stream; false if it failed at once
 * (told as connect_failed and failed). */
bool connection_start_connect(connection *c, uint64_t now);
/* Churn: a whole operation (connect, one message, close) on stream `id`. */
void connection_start_operation(connection *c, uint64_t id, uint64_t now);

/* A readiness event of the connection's socket. */
void connection_on_event(connection *c, const net_event *event, uint64_t now);

/* Closed loop: tops the messages outstanding up to the depth and sends. */
void connection_refill(connection *c, uint64_t now);
/* Open loop (rate): the first message is due at `due_ns`; then issues every
 * message whose time has come and returns when the next one is due
 * (UINT64_MAX: none). */
void connection_schedule_first(connection *c, uint64_t due_ns);
uint64_t connection_issue_due(connection *c, uint64_t now, const rate_schedule *schedule, uint64_t start_ns);

/* A connect that lasted too long, or a reply outstanding too long, fails
 * (ERROR_CONNECT_FAILED "timed out", ERROR_TIMEOUT). */
void connection_check_timeouts(connection *c, uint64_t now, uint64_t connect_timeout_ns, uint64_t reply_timeout_ns);
/* A connect still under way fails as timed out. */
void connection_give_up_connect(connection *c, uint64_t now);

/* The end of a clean run: no more sending; the server's FIN is awaited
 * (CONN_OPEN becomes CONN_CLOSING). */
void connection_half_close(connection *c);
/* Closes the socket, if any, and leaves the connection in `next`. */
void connection_close(connection *c, connection_state next);

/* Issued bytes that have not come back yet. */
static inline bool connection_awaits_echo(const connection *c)
{
    return c->echo.received < c->issued * c->context->size;
}

#endif

/* Unit tests of loadgen's connection state machine (loadgen/connection.c)
 * over a scripted fake of net.h (fake_net.c): connects that succeed, fail
 * or time out; sends and echoes split at every offset; would-block, reset,
 * early close, reply timeout, corruption; the closed loop's depth, churn's
 * one-message operations, the rate schedule and the polite end. The fake's
 * record of what was sent, and the events the connection reported, are
 * checked against what each case must do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "connection.h"
#include "fake_net.h"
#include "pattern.h"

#define SEED UINT64_C(0xC0FFEE)
#define STREAM 5
#define SIZE 64
#define MS 1000000ull

/* Everything the connection told its owner. */
typedef struct recorder {
    bool may_issue;
    unsigned connected, messages, operations, closed, out_of_memory, connect_failures;
    unsigned errors[ERROR_KINDS];
    connect_stage stage;
    net_status status;
    send_time last_sent;
    uint64_t last_done_ns;
    connection_state state_at_operation_done;
} recorder;

static recorder seen;
static unsigned char send_buffer[IO_BUFFER_BYTES], receive_buffer[IO_BUFFER_BYTES];
static net_address server;
static connection_context context;

static bool may_issue(void *owner)
{
    (void)owner;
    return seen.may_issue;
}

static void connected(void *owner, connection *c, uint64_t now)
{
    (void)owner, (void)now;
    assert_int_equal(c->state, CONN_OPEN);
    seen.connected++;
}

static void message_done(void *owner, connection *c, send_time sent, uint64_t now)
{
    (void)owner, (void)c;
    seen.messages++;
    seen.last_sent = sent;
    seen.last_done_ns = now;
}

static void operation_done(void *owner, connection *c, uint64_t now)
{
    (void)owner, (void)now;
    seen.operations++;
    seen.state_at_operation_done = c->state;
}

static void connect_failed(void *owner, connection *c, connect_stage stage, net_status status, uint64_t now)
{
    (void)owner, (void)c, (void)now;
    seen.connect_failures++;
    seen.stage = stage;
    seen.status = status;
}

static void failed(void *owner, connection *c, error_kind kind, uint64_t now)
{
    (void)owner, (void)c, (void)now;
    seen.errors[kind]++;
}

static void closed(void *owner, connection *c)
{
    (void)owner, (void)c;
    seen.closed++;
}

static void out_of_memory(void *owner, connection *c)
{
    (void)owner, (void)c;
    seen.out_of_memory++;
}

static void set_up(workload_kind workload, unsigned depth)
{
    fake_net_reset();
    memset(&seen, 0, sizeof seen);
    seen.may_issue = true;
    context = (connection_context){.workload = workload,
                                   .size = SIZE,
                                   .depth = depth,
                                   .seed = SEED,
                                   .verify = true,
                                   .server = &server,
                                   .loop = NULL,
                                   .send_buffer = send_buffer,
                                   .receive_buffer = receive_buffer,
                                   .events = {.owner = &seen,
                                              .may_issue = may_issue,
                                              .connected = connected,
                                              .message_done = message_done,
                                              .operation_done = operation_done,
                                              .connect_failed = connect_failed,
                                              .failed = failed,
                                              .closed = closed,
                                              .out_of_memory = out_of_memory}};
}

static unsigned error_total(void)
{
    unsigned total = 0;
    for (int k = 0; k < ERROR_KINDS; k++)
        total += seen.errors[k];
    return total;
}

static void readiness(connection *c, bool readable, bool writable)
{
    net_event event = {.owner = c, .readable = readable, .writable = writable};
    connection_on_event(c, &event, fake.now_ns);
}

/* A connection on STREAM, connected and open. */
static void open_connection(connection *c, uint64_t quota, size_t pending_capacity)
{
    assert_true(connection_init(c, &context, STREAM, quota, false, pending_capacity));
    assert_true(connection_start_connect(c, fake.now_ns));
    assert_int_equal(c->state, CONN_CONNECTING);
    readiness(c, false, true);
    assert_int_equal(c->state, CONN_OPEN);
}

/* The server echoes `length` bytes of the stream from `offset`. */
static void echo(uint64_t offset, size_t length)
{
    unsigned char bytes[4 * SIZE];
    assert_true(length <= sizeof bytes);
    pattern_fill(SEED, STREAM, offset, bytes, length);
    fake_net_queue(bytes, length);
}

/* What was sent is exactly the stream's first `length` bytes. */
static void assert_sent_stream(size_t length)
{
    unsigned char expected[4 * SIZE];
    assert_int_equal(fake.sent_length, length);
    pattern_fill(SEED, STREAM, 0, expected, length);
    assert_memory_equal(fake.sent, expected, length);
}

static void test_connect_opens_and_watches_reads(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    assert_int_equal(seen.connected, 1);
    assert_true(fake.watching_read);
    assert_false(fake.watching_write);
    assert_int_equal(error_total(), 0);
    connection_release(&c);
}

/* A connect still in progress when the socket turns writable (Winsock may
 * say so early) is left alone until it has an outcome. */
static void test_connect_without_outcome_waits(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    assert_true(connection_init(&c, &context, STREAM, NO_QUOTA, false, 1));
    assert_true(connection_start_connect(&c, fake.now_ns));
    fake.connect_result = NET_WOULD_BLOCK;
    readiness(&c, false, true);
    assert_int_equal(c.state, CONN_CONNECTING);
    assert_int_equal(seen.connected + seen.connect_failures, 0);
    connection_release(&c);
}

static void test_refused_connect_fails_and_churn_slot_is_freed(void **state)
{
    (void)state;
    const workload_kind workloads[] = {WORKLOAD_PINGPONG, WORKLOAD_CHURN};
    for (size_t i = 0; i < 2; i++) {
        set_up(workloads[i], 1);
        connection c;
        assert_true(connection_init(&c, &context, STREAM, NO_QUOTA, false, 1));
        assert_true(connection_start_connect(&c, fake.now_ns));
        fake.connect_result = NET_REFUSED;
        readiness(&c, false, true);
        assert_int_equal(seen.connect_failures, 1);
        assert_int_equal(seen.stage, CONNECT_AT_RESULT);
        assert_int_equal(seen.status, NET_REFUSED);
        assert_int_equal(seen.errors[ERROR_CONNECT_FAILED], 1);
        assert_int_equal(error_total(), 1);
        assert_int_equal(fake.closes, 1);
        assert_int_equal(c.state, workloads[i] == WORKLOAD_CHURN ? CONN_FREE : CONN_DEAD);
        connection_release(&c);
    }
}

static void test_connect_failing_at_once_has_no_socket_to_close(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    fake.connect_status = NET_NO_PORTS;
    connection c;
    assert_true(connection_init(&c, &context, STREAM, NO_QUOTA, false, 1));
    assert_false(connection_start_connect(&c, fake.now_ns));
    assert_int_equal(seen.stage, CONNECT_AT_START);
    assert_int_equal(seen.status, NET_NO_PORTS);
    assert_int_equal(seen.errors[ERROR_CONNECT_FAILED], 1);
    assert_int_equal(fake.closes, 0);
    assert_int_equal(c.state, CONN_DEAD);
    connection_release(&c);
}

static void test_connect_times_out_after_the_limit_only(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    assert_true(connection_init(&c, &context, STREAM, NO_QUOTA, false, 1));
    uint64_t start = fake.now_ns;
    assert_true(connection_start_connect(&c, start));
    connection_check_timeouts(&c, start + 5 * MS, 5 * MS, 10 * MS);
    assert_int_equal(c.state, CONN_CONNECTING);
    connection_check_timeouts(&c, start + 5 * MS + 1, 5 * MS, 10 * MS);
    assert_int_equal(seen.stage, CONNECT_TIMED_OUT);
    assert_int_equal(seen.errors[ERROR_CONNECT_FAILED], 1);
    assert_int_equal(c.state, CONN_DEAD);
    assert_int_equal(fake.closes, 1);
    connection_give_up_connect(&c, start + 6 * MS); /* no longer connecting: nothing more */
    assert_int_equal(error_total(), 1);
    connection_release(&c);
}

/* One message's echo in two reads, split at every offset: it completes
 * exactly when its last byte is in, timed from its send, and the closed
 * loop then sends the next one. */
static void test_echo_split_at_every_offset(void **state)
{
    (void)state;
    for (size_t split = 0; split <= SIZE; split++) {
        set_up(WORKLOAD_PINGPONG, 1);
        connection c;
        uint64_t sent_at = fake.now_ns;
        open_connection(&c, 2, 1);
        connection_refill(&c, sent_at);
        assert_sent_stream(SIZE);
        fake.now_ns += 3 * MS;
        echo(0, split);
        readiness(&c, true, false);
        assert_int_equal(seen.messages, split == SIZE);
        echo(split, SIZE - split);
        readiness(&c, true, false);
        assert_int_equal(seen.messages, 1);
        assert_int_equal(seen.last_sent.intended_ns, sent_at);
        assert_int_equal(seen.last_done_ns, fake.now_ns);
        assert_sent_stream(2 * SIZE);
        assert_int_equal(c.echo.received, SIZE);
        assert_int_equal(error_total(), 0);
        connection_release(&c);
    }
}

static void test_echo_one_byte_per_read(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    fake.read_chunk = 1;
    connection c;
    open_connection(&c, 1, 1);
    connection_refill(&c, fake.now_ns);
    echo(0, SIZE);
    for (unsigned events = 0; seen.messages == 0 && events < 2 * SIZE; events++)
        readiness(&c, true, false);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(c.completed, 1);
    assert_sent_stream(SIZE); /* the quota of one is met: nothing more sent */
    connection_release(&c);
}

/* The kernel takes `accepted` bytes, then would block: the rest goes when
 * the socket turns writable, and writability is watched only meanwhile. */
static void test_send_split_at_every_offset(void **state)
{
    (void)state;
    for (size_t accepted = 0; accepted < SIZE; accepted++) {
        set_up(WORKLOAD_PINGPONG, 1);
        connection c;
        open_connection(&c, NO_QUOTA, 1);
        fake.send_room = accepted;
        connection_refill(&c, fake.now_ns);
        assert_int_equal(fake.sent_length, accepted);
        assert_int_equal(c.sent, accepted);
        assert_true(fake.watching_write);
        readiness(&c, false, true); /* still no room */
        assert_int_equal(c.sent, accepted);
        fake.send_room = SIZE_MAX;
        readiness(&c, false, true);
        assert_sent_stream(SIZE);
        assert_false(fake.watching_write);
        assert_true(fake.watching_read);
        assert_int_equal(error_total(), 0);
        connection_release(&c);
    }
}

static void test_send_failure_is_a_reset(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    fake.send_room = 0;
    connection_refill(&c, fake.now_ns);
    fake.send_status = NET_RESET;
    readiness(&c, false, true);
    assert_int_equal(seen.errors[ERROR_RESET], 1);
    assert_int_equal(c.state, CONN_DEAD);
    assert_int_equal(fake.closes, 1);
    assert_int_equal(seen.closed, 1);
    connection_release(&c);
}

static void test_read_that_would_block_changes_nothing(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    connection_refill(&c, fake.now_ns);
    readiness(&c, true, false);
    assert_int_equal(c.state, CONN_OPEN);
    assert_int_equal(c.echo.received, 0);
    assert_int_equal(seen.messages + error_total(), 0);
    connection_release(&c);
}

/* The peer resets or closes, before or in the middle of an echo. */
static void test_reset_and_early_close_at_every_offset(void **state)
{
    (void)state;
    const net_status endings[] = {NET_RESET, NET_CLOSED};
    const error_kind kinds[] = {ERROR_RESET, ERROR_EARLY_CLOSE};
    for (size_t e = 0; e < 2; e++) {
        for (size_t echoed = 0; echoed < SIZE; echoed++) {
            set_up(WORKLOAD_PINGPONG, 1);
            connection c;
            open_connection(&c, NO_QUOTA, 1);
            connection_refill(&c, fake.now_ns);
            echo(0, echoed);
            fake.end_status = endings[e];
            readiness(&c, true, false);
            if (echoed > 0) { /* a short read ends the event: the ending comes with the next */
                assert_int_equal(c.state, CONN_OPEN);
                readiness(&c, true, false);
            }
            assert_int_equal(seen.errors[kinds[e]], 1);
            assert_int_equal(error_total(), 1);
            assert_int_equal(seen.messages, 0);
            assert_int_equal(c.echo.received, echoed);
            assert_int_equal(c.state, CONN_DEAD);
            assert_int_equal(fake.closes, 1);
            connection_release(&c);
        }
    }
}

static void test_reply_timeout(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    uint64_t sent_at = fake.now_ns;
    connection_refill(&c, sent_at);
    connection_check_timeouts(&c, sent_at + 10 * MS, 5 * MS, 10 * MS);
    assert_int_equal(c.state, CONN_OPEN);
    connection_check_timeouts(&c, sent_at + 10 * MS + 1, 5 * MS, 10 * MS);
    assert_int_equal(seen.errors[ERROR_TIMEOUT], 1);
    assert_int_equal(error_total(), 1);
    assert_int_equal(c.state, CONN_DEAD);
    connection_release(&c);
}

static void test_no_reply_timeout_without_outstanding_message(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    connection_check_timeouts(&c, fake.now_ns + 3600 * 1000 * MS, 5 * MS, 10 * MS);
    assert_int_equal(c.state, CONN_OPEN);
    assert_int_equal(error_total(), 0);
    connection_release(&c);
}

/* A wrong byte anywhere in the echo is a mismatch, and completes nothing. */
static void test_corrupted_echo_at_every_offset(void **state)
{
    (void)state;
    for (size_t bad = 0; bad < SIZE; bad++) {
        set_up(WORKLOAD_PINGPONG, 1);
        connection c;
        open_connection(&c, NO_QUOTA, 1);
        connection_refill(&c, fake.now_ns);
        unsigned char bytes[SIZE];
        pattern_fill(SEED, STREAM, 0, bytes, SIZE);
        bytes[bad] ^= 0x01;
        fake_net_queue(bytes, SIZE);
        readiness(&c, true, false);
        assert_int_equal(seen.errors[ERROR_MISMATCH], 1);
        assert_int_equal(seen.messages, 0);
        assert_int_equal(c.state, CONN_DEAD);
        connection_release(&c);
    }
}

/* Bytes that were never sent cannot be an echo, nor can any byte reaching
 * an idle connection. */
static void test_bytes_never_sent_are_a_mismatch(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    connection_refill(&c, fake.now_ns);
    echo(0, SIZE + 1);
    readiness(&c, true, false);
    assert_int_equal(seen.errors[ERROR_MISMATCH], 1);
    assert_int_equal(seen.messages, 0);
    connection_release(&c);

    set_up(WORKLOAD_IDLE, 1);
    assert_true(connection_init(&c, &context, STREAM, 0, true, 1));
    assert_true(connection_start_connect(&c, fake.now_ns));
    readiness(&c, false, true);
    echo(0, 1);
    readiness(&c, true, false);
    assert_int_equal(seen.errors[ERROR_MISMATCH], 1);
    connection_release(&c);
}

/* The closed loop keeps `depth` messages outstanding and stops at its quota. */
static void test_pipeline_keeps_its_depth_until_the_quota(void **state)
{
    (void)state;
    set_up(WORKLOAD_PIPELINE, 3);
    connection c;
    open_connection(&c, 4, 3);
    connection_refill(&c, fake.now_ns);
    assert_int_equal(c.issued, 3);
    assert_sent_stream(3 * SIZE);
    echo(0, SIZE + SIZE / 2); /* one message and a half */
    readiness(&c, true, false);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(c.issued, 4); /* the quota */
    assert_sent_stream(4 * SIZE);
    echo(SIZE + SIZE / 2, 3 * SIZE - SIZE / 2);
    readiness(&c, true, false);
    assert_int_equal(seen.messages, 4);
    assert_int_equal(c.issued, 4);
    assert_int_equal(c.pending_count, 0);
    assert_false(connection_awaits_echo(&c));
    connection_release(&c);
}

static void test_no_new_message_once_the_owner_winds_down(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    connection_refill(&c, fake.now_ns);
    seen.may_issue = false;
    echo(0, SIZE);
    readiness(&c, true, false);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(c.issued, 1);
    assert_sent_stream(SIZE);
    connection_release(&c);
}

/* Churn: connect, one message as soon as connected, close; the slot is
 * free when the owner hears of the operation's end. */
static void test_churn_operation(void **state)
{
    (void)state;
    set_up(WORKLOAD_CHURN, 1);
    connection c;
    assert_true(connection_init(&c, &context, 0, 1, false, 1));
    connection_start_operation(&c, STREAM, fake.now_ns);
    assert_int_equal(c.id, STREAM);
    assert_int_equal(c.quota, 1);
    readiness(&c, false, true);
    assert_sent_stream(SIZE);
    echo(0, SIZE);
    readiness(&c, true, false);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(seen.operations, 1);
    assert_int_equal(seen.state_at_operation_done, CONN_FREE);
    assert_int_equal(fake.closes, 1);
    assert_int_equal(error_total(), 0);
    connection_release(&c);
}

/* Rate: messages go when due, timed from when they were due. */
static void test_rate_issues_what_is_due(void **state)
{
    (void)state;
    set_up(WORKLOAD_RATE, 1);
    /* 1000 messages/s over one connection: stream STREAM's n-th message is
     * message STREAM + n of the flow, due at (STREAM + n) ms. */
    rate_schedule schedule = rate_schedule_make(1000, 1);
    connection c;
    uint64_t start = fake.now_ns, first_due = start + STREAM * MS;
    open_connection(&c, NO_QUOTA, 2);
    connection_schedule_first(&c, start + rate_schedule_due_ns(&schedule, STREAM, 0));
    assert_int_equal(connection_issue_due(&c, first_due - 1, &schedule, start), first_due);
    assert_int_equal(c.issued, 0);
    uint64_t now = first_due + 2 * MS + MS / 2;
    uint64_t next = connection_issue_due(&c, now, &schedule, start);
    assert_int_equal(c.issued, 3); /* due at +0, +1 and +2 ms; the ring grew from 2 */
    assert_int_equal(next, first_due + 3 * MS);
    assert_sent_stream(3 * SIZE);
    fake.now_ns = now + MS;
    echo(0, SIZE);
    readiness(&c, true, false);
    assert_int_equal(seen.last_sent.intended_ns, first_due);
    assert_int_equal(seen.last_sent.actual_ns, now);
    assert_int_equal(c.issued, 3); /* the open loop does not refill on replies */
    connection_release(&c);
}

/* The polite end: half-close, what still comes is read and dropped, the
 * server's FIN closes the connection without an error. */
static void test_half_close_awaits_the_fin(void **state)
{
    (void)state;
    set_up(WORKLOAD_PINGPONG, 1);
    connection c;
    open_connection(&c, NO_QUOTA, 1);
    connection_half_close(&c);
    assert_int_equal(c.state, CONN_CLOSING);
    assert_int_equal(fake.shutdowns, 1);
    assert_true(fake.watching_read);
    assert_false(fake.watching_write);
    echo(0, SIZE);
    readiness(&c, true, false);
    assert_int_equal(c.state, CONN_CLOSING);
    fake.end_status = NET_CLOSED;
    readiness(&c, true, false);
    assert_int_equal(c.state, CONN_DEAD);
    assert_int_equal(fake.closes, 1);
    assert_int_equal(error_total(), 0);
    assert_int_equal(seen.messages, 0);
    connection_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_opens_and_watches_reads),
        cmocka_unit_test(test_connect_without_outcome_waits),
        cmocka_unit_test(test_refused_connect_fails_and_churn_slot_is_freed),
        cmocka_unit_test(test_connect_failing_at_once_has_no_socket_to_close),
        cmocka_unit_test(test_connect_times_out_after_the_limit_only),
        cmocka_unit_test(test_echo_split_at_every_offset),
        cmocka_unit_test(test_echo_one_byte_per_read),
        cmocka_unit_test(test_send_split_at_every_offset),
        cmocka_unit_test(test_send_failure_is_a_reset),
        cmocka_unit_test(test_read_that_would_block_changes_nothing),
        cmocka_unit_test(test_reset_and_early_close_at_every_offset),
        cmocka_unit_test(test_reply_timeout),
        cmocka_unit_test(test_no_reply_timeout_without_outstanding_message),
        cmocka_unit_test(test_corrupted_echo_at_every_offset),
        cmocka_unit_test(test_bytes_never_sent_are_a_mismatch),
        cmocka_unit_test(test_pipeline_keeps_its_depth_until_the_quota),
        cmocka_unit_test(test_no_new_message_once_the_owner_winds_down),
        cmocka_unit_test(test_churn_operation),
        cmocka_unit_test(test_rate_issues_what_is_due),
        cmocka_unit_test(test_half_close_awaits_the_fin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

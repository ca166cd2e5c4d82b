/* Unit tests of the per-connection echo ring (servers/core/echo_buffer.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_buffer.h"

/* Puts a ring in a given state: the oldest unsent byte at offset head, length
 * bytes unsent. From offset 0, the head is walked forward with the public
 * operations, as a connection's traffic would move it. */
static void place(echo_buffer *b, size_t head, size_t length)
{
    unsigned char *where;
    b->head = 0;
    b->length = 0;
    while (head > 0) {
        size_t step = echo_buffer_write_span(b, &where);
        if (step > head)
            step = head;
        echo_buffer_commit(b, step);
        echo_buffer_consume(b, step);
        head -= step;
    }
    echo_buffer_commit(b, length);
}

/* Whether the slot at offset holds a byte received and not yet sent. */
static int is_unsent(const echo_buffer *b, size_t offset)
{
    return (offset + b->capacity - b->head) % b->capacity < b->length;
}

static int overlaps(const unsigned char *a, size_t a_length, const unsigned char *b, size_t b_length)
{
    return a_length > 0 && b_length > 0 && a < b + b_length && b < a + a_length;
}

static void test_init_and_free(void **state)
{
    (void)state;
    echo_buffer b;
    unsigned char *where;
    assert_int_equal(echo_buffer_init(&b, 0), -1);
    assert_int_equal(echo_buffer_init(&b, 8), 0);
    assert_non_null(b.data);
    assert_int_equal(b.capacity, 8);
    assert_true(echo_buffer_is_empty(&b));
    assert_false(echo_buffer_is_full(&b));
    assert_int_equal(echo_buffer_write_span(&b, &where), 8);
    assert_ptr_equal(where, b.data);
    assert_int_equal(echo_buffer_read_span(&b, &where), 0);
    echo_buffer_free(&b);
    assert_null(b.data);
    assert_int_equal(b.capacity, 0);
    assert_int_equal(b.length, 0);
    echo_buffer_free(&b); /* freeing twice is harmless */
}

static void test_full_and_empty(void **state)
{
    (void)state;
    echo_buffer b;
    unsigned char *where;
    assert_int_equal(echo_buffer_init(&b, 5), 0);
    echo_buffer_commit(&b, 5);
    assert_true(echo_buffer_is_full(&b));
    assert_false(echo_buffer_is_empty(&b));
    assert_int_equal(echo_buffer_write_span(&b, &where), 0); /* full: nothing more may be received */
    assert_int_equal(echo_buffer_read_span(&b, &where), 5);
    assert_ptr_equal(where, b.data);
    echo_buffer_consume(&b, 5);
    assert_true(echo_buffer_is_empty(&b));
    assert_false(echo_buffer_is_full(&b));
    assert_int_equal(echo_buffer_read_span(&b, &where), 0);

    /* Full again with the data wrapped around the end. */
    place(&b, 3, 5);
    assert_true(echo_buffer_is_full(&b));
    assert_int_equal(echo_buffer_write_span(&b, &where), 0);
    assert_int_equal(echo_buffer_read_span(&b, &where), 2);
    assert_ptr_equal(where, b.data + 3);
    echo_buffer_free(&b);
}

static void test_commit_consume_arithmetic(void **state)
{
    (void)state;
    echo_buffer b;
    unsigned char *where;
    assert_int_equal(echo_buffer_init(&b, 10), 0);
    echo_buffer_commit(&b, 3);
    echo_buffer_commit(&b, 4);
    assert_int_equal(b.length, 7);
    assert_int_equal(echo_buffer_write_span(&b, &where), 3);
    assert_ptr_equal(where, b.data + 7);
    echo_buffer_consume(&b, 6);
    assert_int_equal(b.head, 6);
    assert_int_equal(b.length, 1);
    /* The tail is at the end: free space runs to the end, then wraps. */
    assert_int_equal(echo_buffer_write_span(&b, &where), 3);
    assert_ptr_equal(where, b.data + 7);
    echo_buffer_commit(&b, 3);
    assert_int_equal(echo_buffer_write_span(&b, &where), 6);
    assert_ptr_equal(where, b.data);
    echo_buffer_commit(&b, 6);
    assert_true(echo_buffer_is_full(&b));
    assert_int_equal(echo_buffer_read_span(&b, &where), 4);
    assert_ptr_equal(where, b.data + 6);
    /* Consuming up to the end wraps the head to offset 0. */
    echo_buffer_consume(&b, 4);
    assert_int_equal(b.head, 0);
    assert_int_equal(b.length, 6);
    assert_int_equal(echo_buffer_read_span(&b, &where), 6);
    assert_ptr_equal(where, b.data);
    /* Zero-byte commits and consumes change nothing. */
    echo_buffer_commit(&b, 0);
    echo_buffer_consume(&b, 0);
    assert_int_equal(b.head, 0);
    assert_int_equal(b.length, 6);
    /* Emptying does not rewind: a receive may still be landing at the tail. */
    echo_buffer_consume(&b, 6);
    assert_int_equal(b.head, 6);
    assert_int_equal(echo_buffer_write_span(&b, &where), 4);
    assert_ptr_equal(where, b.data + 6);
    echo_buffer_free(&b);
}

/* For every head position and every fill level of small rings: each span is
 * the longest contiguous run of the right kind of slot (unsent for the read
 * span, free for the write span), the two never overlap, and the spans found
 * after consuming or committing the first cover the rest exactly. */
static void test_spans_at_every_wrap_position(void **state)
{
    (void)state;
    static const size_t capacities[] = {1, 2, 3, 4, 7, 8, 16};
    for (size_t c = 0; c < sizeof capacities / sizeof *capacities; c++) {
        size_t capacity = capacities[c];
        echo_buffer b;
        assert_int_equal(echo_buffer_init(&b, capacity), 0);
        for (size_t head = 0; head < capacity; head++) {
            for (size_t length = 0; length <= capacity; length++) {
                unsigned char *read_at, *write_at;
                place(&b, head, length);
                assert_int_equal(b.head, head);
                size_t read_length = echo_buffer_read_span(&b, &read_at);
                size_t write_length = echo_buffer_write_span(&b, &write_at);
                size_t tail = (head + length) % capacity;
                size_t expected_read = length < capacity - head ? length : capacity - head;
                size_t expected_write = capacity - length < capacity - tail ? capacity - length : capacity - tail;

                assert_ptr_equal(read_at, b.data + head);
                assert_int_equal(read_length, expected_read);
                if (write_length > 0)
                    assert_ptr_equal(write_at, b.data + tail);
                assert_int_equal(write_length, expected_write);
                assert_true(read_at + read_length <= b.data + capacity);
                assert_true(write_at + write_length <= b.data + capacity);
                assert_false(overlaps(read_at, read_length, write_at, write_length));
                assert_int_equal(read_length > 0, length > 0);
                assert_int_equal(write_length > 0, length < capacity);
                for (size_t i = 0; i < read_length; i++)
                    assert_true(is_unsent(&b, (size_t)(read_at - b.data) + i));
                for (size_t i = 0; i < write_length; i++)
                    assert_false(is_unsent(&b, (size_t)(write_at - b.data) + i));

                /* What is left after the first read span is the second, from offset 0. */
                echo_buffer_consume(&b, read_length);
                size_t second_read = echo_buffer_read_span(&b, &read_at);
                assert_int_equal(read_length + second_read, length);
                if (second_read > 0)
                    assert_ptr_equal(read_at, b.data);

                /* Likewise for the free space. */
                place(&b, head, length);
                echo_buffer_commit(&b, write_length);
                size_t second_write = echo_buffer_write_span(&b, &write_at);
                assert_int_equal(write_length + second_write, capacity - length);
                if (second_write > 0)
                    assert_ptr_equal(write_at, b.data);
            }
        }
        echo_buffer_free(&b);
    }
}

/* A deliberately simple reference: a linear array, compacted when it runs out. */
typedef struct reference_queue {
    unsigned char bytes[1 << 16];
    size_t start, end;
} reference_queue;

static void reference_push(reference_queue *q, const unsigned char *data, size_t n)
{
    if (q->end + n > sizeof q->bytes) {
        memmove(q->bytes, q->bytes + q->start, q->end - q->start);
        q->end -= q->start;
        q->start = 0;
    }
    assert_true(q->end + n <= sizeof q->bytes);
    memcpy(q->bytes + q->end, data, n);
    q->end += n;
}

static uint64_t random_state;

static uint64_t next_random(void) /* xorshift64: reproducible on every platform */
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

static size_t random_below(size_t limit) /* 0 .. limit-1; 0 when limit is 0 */
{
    return limit ? (size_t)(next_random() % limit) : 0;
}

/* Random partial receives and sends, as a server does them, against the
 * reference queue: the bytes come out in order, nothing lost or repeated,
 * and the ring's state always agrees with the queue. */
static void run_model_check(size_t capacity, uint64_t seed, int operations)
{
    static reference_queue q;
    static unsigned char chunk[1 << 16];
    echo_buffer b;
    unsigned char next_byte = 0;
    size_t total_in = 0, total_out = 0;
    memset(&q, 0, sizeof q);
    random_state = seed;
    assert_int_equal(echo_buffer_init(&b, capacity), 0);

    for (int op = 0; op < operations; op++) {
        unsigned char *write_at, *read_at;
        size_t room = echo_buffer_write_span(&b, &write_at);
        size_t pending = echo_buffer_read_span(&b, &read_at);
        assert_false(overlaps(read_at, pending, write_at, room));
        assert_int_equal(b.length, q.end - q.start);
        assert_int_equal(echo_buffer_is_empty(&b), q.end == q.start);
        assert_int_equal(echo_buffer_is_full(&b), q.end - q.start == capacity);
        assert_int_equal(room > 0, !echo_buffer_is_full(&b));
        assert_int_equal(pending > 0, !echo_buffer_is_empty(&b));

        if (next_random() % 2) {
            /* A receive: any amount up to the span, sometimes all of it, sometimes nothing. */
            size_t n = next_random() % 4 == 0 ? room : random_below(room + 1);
            for (size_t i = 0; i < n; i++)
                write_at[i] = (unsigned char)(next_byte + i * 7); /* every value, including 0 */
            memcpy(chunk, write_at, n);
            next_byte = (unsigned char)(next_byte + n * 7);
            echo_buffer_commit(&b, n);
            reference_push(&q, chunk, n);
            total_in += n;
        } else {
            /* A send: a partial one takes only the first n bytes of the span. */
            size_t n = next_random() % 4 == 0 ? pending : random_below(pending + 1);
            assert_true(n <= q.end - q.start);
            assert_memory_equal(read_at, q.bytes + q.start, n);
            echo_buffer_consume(&b, n);
            q.start += n;
            total_out += n;
        }
    }
    /* Drain what is left: it is exactly the reference's remainder. */
    for (int guard = 0; guard < 3 && !echo_buffer_is_empty(&b); guard++) {
        unsigned char *read_at;
        size_t n = echo_buffer_read_span(&b, &read_at);
        assert_memory_equal(read_at, q.bytes + q.start, n);
        echo_buffer_consume(&b, n);
        q.start += n;
        total_out += n;
    }
    assert_true(echo_buffer_is_empty(&b));
    assert_int_equal(q.start, q.end);
    assert_int_equal(total_in, total_out);
    assert_true(total_in > (size_t)operations / 20); /* the run really moved data */
    echo_buffer_free(&b);
}

static void test_randomized_against_reference_queue(void **state)
{
    (void)state;
    static const size_t capacities[] = {1, 2, 3, 5, 16, 17, 1000, 4096, 16384};
    for (size_t c = 0; c < sizeof capacities / sizeof *capacities; c++)
        for (uint64_t seed = 1; seed <= 4; seed++)
            run_model_check(capacities[c], seed * 0x9e3779b97f4a7c15u, 50000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_free),
        cmocka_unit_test(test_full_and_empty),
        cmocka_unit_test(test_commit_consume_arithmetic),
        cmocka_unit_test(test_spans_at_every_wrap_position),
        cmocka_unit_test(test_randomized_against_reference_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

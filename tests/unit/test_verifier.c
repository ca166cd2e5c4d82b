/* Unit tests of the echo verifier (loadgen/verifier.c): echoed bytes arrive
 * in reads split anywhere, and every one of them is checked at its stream
 * offset; whole messages are counted once their last byte is in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pattern.h"
#include "verifier.h"

#define SEED UINT64_C(0xEC40)
#define STREAM 7
#define MAX_BYTES 4096

/* The bytes a connection sends: `length` bytes of its stream from `offset`. */
static void stream_bytes(uint64_t offset, unsigned char *out, size_t length)
{
    pattern_fill(SEED, STREAM, offset, out, length);
}

static echo_verifier fresh(uint32_t message_size, bool check_bytes)
{
    echo_verifier v;
    memset(&v, 0x5a, sizeof v); /* verifier_start must set every field */
    verifier_start(&v, SEED, STREAM, message_size, check_bytes);
    return v;
}

static void test_start_is_empty(void **state)
{
    (void)state;
    echo_verifier v = fresh(64, true);
    assert_int_equal(v.received, 0);
    assert_int_equal(verifier_messages_done(&v), 0);
    uint64_t bad = 12345;
    assert_true(verifier_take(&v, 0, (const unsigned char *)"", 0, &bad));
    assert_int_equal(v.received, 0);
    assert_int_equal(bad, 12345); /* untouched on success */
}

/* One message of `size` bytes at stream offset `start` (after `start`
 * bytes already echoed), delivered in two reads split at every offset. */
static void check_split_everywhere(uint32_t size, uint64_t start)
{
    unsigned char message[MAX_BYTES];
    stream_bytes(start, message, size);
    for (uint32_t split = 0; split <= size; split++) {
        echo_verifier v = fresh(size, true);
        v.received = start; /* as if the earlier messages had been echoed */
        uint64_t sent = start + size, bad = 0;
        assert_true(verifier_take(&v, sent, message, split, &bad));
        assert_int_equal(v.received, start + split);
        assert_int_equal(verifier_messages_done(&v), start / size + (split == size));
        assert_true(verifier_take(&v, sent, message + split, size - split, &bad));
        assert_int_equal(v.received, start + size);
        assert_int_equal(verifier_messages_done(&v), start / size + 1);
    }
}

static void test_two_pieces_split_at_every_offset(void **state)
{
    (void)state;
    const uint32_t sizes[] = {1, 3, 8, 13, 64, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_split_everywhere(sizes[i], 0);
        check_split_everywhere(sizes[i], 5 * (uint64_t)sizes[i]); /* a later message, mid-word */
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    const uint32_t size = 100;
    const unsigned messages = 5;
    unsigned char stream[500];
    stream_bytes(0, stream, sizeof stream);
    echo_verifier v = fresh(size, true);
    uint64_t bad = 0;
    for (size_t i = 0; i < sizeof stream; i++) {
        assert_true(verifier_take(&v, sizeof stream, &stream[i], 1, &bad));
        assert_int_equal(v.received, i + 1);
        assert_int_equal(verifier_messages_done(&v), (i + 1) / size);
    }
    assert_int_equal(verifier_messages_done(&v), messages);
}

/* A flipped byte at offset `at` of `length` echoed bytes, delivered whole
 * or split just before, at and after the flip: caught exactly there. */
static void check_flip(size_t length, size_t at)
{
    unsigned char echo[MAX_BYTES];
    stream_bytes(0, echo, length);
    echo[at] ^= 0x01;
    echo_verifier v = fresh(64, true);
    uint64_t bad = UINT64_MAX;
    assert_false(verifier_take(&v, length, echo, length, &bad));
    assert_int_equal(bad, at);
    assert_int_equal(v.received, 0); /* nothing of a bad read is accepted */

    const size_t splits[] = {at, at + 1, at > 0 ? at - 1 : 0};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        size_t split = splits[s];
        v = fresh(64, true);
        bool first_ok = verifier_take(&v, length, echo, split, &bad);
        if (split <= at) {
            assert_true(first_ok);
            assert_false(verifier_take(&v, length, echo + split, length - split, &bad));
            assert_int_equal(v.received, split);
        } else {
            assert_false(first_ok);
        }
        assert_int_equal(bad, at); /* a stream offset, whatever the read */
    }
}

static void test_flipped_byte_caught_at_its_offset(void **state)
{
    (void)state;
    const size_t length = 300;
    for (size_t at = 0; at < length; at++)
        check_flip(length, at);
}

static void test_every_bit_of_a_byte_matters(void **state)
{
    (void)state;
    unsigned char echo[64];
    stream_bytes(0, echo, sizeof echo);
    for (int bit = 0; bit < 8; bit++) {
        echo[37] ^= (unsigned char)(1u << bit);
        echo_verifier v = fresh(64, true);
        uint64_t bad = 0;
        assert_false(verifier_take(&v, sizeof echo, echo, sizeof echo, &bad));
        assert_int_equal(bad, 37);
        echo[37] ^= (unsigned char)(1u << bit);
    }
}

static void test_another_stream_is_a_mismatch(void **state)
{
    (void)state;
    unsigned char other[64];
    pattern_fill(SEED, STREAM + 1, 0, other, sizeof other);
    echo_verifier v = fresh(64, true);
    uint64_t bad = UINT64_MAX;
    assert_false(verifier_take(&v, sizeof other, other, sizeof other, &bad));
    assert_true(bad < 8); /* unrelated streams differ within a few bytes */
}

/* A byte that was never sent cannot be an echo, even if it happens to be
 * the right pattern byte, and even with --no-verify. */
static void test_bytes_beyond_sent_are_rejected(void **state)
{
    (void)state;
    unsigned char echo[100];
    stream_bytes(0, echo, sizeof echo);
    for (int check = 0; check < 2; check++) {
        echo_verifier v = fresh(10, check);
        uint64_t bad = 0;
        assert_true(verifier_take(&v, 60, echo, 50, &bad));
        assert_false(verifier_take(&v, 60, echo + 50, 11, &bad));
        assert_int_equal(bad, 60);
        assert_int_equal(v.received, 50);
        assert_true(verifier_take(&v, 60, echo + 50, 10, &bad));
        assert_int_equal(verifier_messages_done(&v), 6);
    }
    /* Nothing sent (an idle connection): any byte at all is wrong. */
    echo_verifier idle = fresh(10, true);
    uint64_t bad = UINT64_MAX;
    assert_false(verifier_take(&idle, 0, echo, 1, &bad));
    assert_int_equal(bad, 0);
}

/* With a wrong byte before the end of what was sent and bytes beyond it,
 * the wrong byte comes first. */
static void test_earliest_problem_is_reported(void **state)
{
    (void)state;
    unsigned char echo[40];
    stream_bytes(0, echo, sizeof echo);
    echo[5] ^= 0xFF;
    echo_verifier v = fresh(10, true);
    uint64_t bad = 0;
    assert_false(verifier_take(&v, 20, echo, sizeof echo, &bad));
    assert_int_equal(bad, 5);
}

static void test_no_verify_counts_without_comparing(void **state)
{
    (void)state;
    unsigned char garbage[128];
    memset(garbage, 0xAB, sizeof garbage);
    echo_verifier v = fresh(64, false);
    uint64_t bad = 0;
    assert_true(verifier_take(&v, 128, garbage, 70, &bad));
    assert_int_equal(verifier_messages_done(&v), 1);
    assert_true(verifier_take(&v, 128, garbage + 70, 58, &bad));
    assert_int_equal(verifier_messages_done(&v), 2);
    assert_int_equal(v.received, 128);
}

/* Restarting (a churn slot's next operation) begins a new stream. */
static void test_restart_begins_a_new_stream(void **state)
{
    (void)state;
    unsigned char first[16], second[16];
    pattern_fill(SEED, 1, 0, first, sizeof first);
    pattern_fill(SEED, 2, 0, second, sizeof second);
    echo_verifier v;
    verifier_start(&v, SEED, 1, 16, true);
    uint64_t bad = 0;
    assert_true(verifier_take(&v, 16, first, 16, &bad));
    verifier_start(&v, SEED, 2, 16, true);
    assert_int_equal(v.received, 0);
    assert_false(verifier_take(&v, 16, first, 16, &bad));
    assert_true(verifier_take(&v, 16, second, 16, &bad));
    assert_int_equal(verifier_messages_done(&v), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_is_empty),
        cmocka_unit_test(test_two_pieces_split_at_every_offset),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_flipped_byte_caught_at_its_offset),
        cmocka_unit_test(test_every_bit_of_a_byte_matters),
        cmocka_unit_test(test_another_stream_is_a_mismatch),
        cmocka_unit_test(test_bytes_beyond_sent_are_rejected),
        cmocka_unit_test(test_earliest_problem_is_reported),
        cmocka_unit_test(test_no_verify_counts_without_comparing),
        cmocka_unit_test(test_restart_begins_a_new_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

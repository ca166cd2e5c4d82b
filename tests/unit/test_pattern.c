/* Unit tests of the payload pattern (loadgen/pattern.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pattern.h"

#define SEED UINT64_C(0x5EED)

static void test_deterministic(void **state)
{
    (void)state;
    unsigned char a[1000], b[1000];
    pattern_fill(SEED, 3, 0, a, sizeof a);
    pattern_fill(SEED, 3, 0, b, sizeof b);
    assert_memory_equal(a, b, sizeof a);
    /* Pinned bytes (computed independently from the splitmix64 definition):
     * the stream must be the same on every build and host, whatever its
     * byte order, or two builds would reject each other's payloads. */
    const unsigned char pinned[16] = {0x21, 0x8D, 0x75, 0x3B, 0x1A, 0x77, 0x39, 0xFA,
                                      0xB7, 0x82, 0x94, 0x42, 0xDB, 0x17, 0x3B, 0xFB};
    assert_memory_equal(a, pinned, sizeof pinned);
    assert_int_equal(pattern_check(SEED, 3, 0, a, sizeof a), sizeof a);
}

/* How many of n bytes agree: streams that are unrelated agree about n/256. */
static size_t agreeing(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += a[i] == b[i];
    return same;
}

static void test_streams_differ(void **state)
{
    (void)state;
    enum { N = 4096 };
    static unsigned char base[N], other[N];
    pattern_fill(SEED, 0, 0, base, N);
    const struct {
        uint64_t seed, connection;
    } others[] = {{SEED, 1}, {SEED, 2}, {SEED, 1000000}, {SEED + 1, 0}, {0, 0}, {SEED ^ 1, 1}, {1, SEED}};
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
        pattern_fill(others[k].seed, others[k].connection, 0, other, N);
        assert_true(agreeing(base, other, N) < 64); /* expect ~16 */
        assert_true(pattern_check(SEED, 0, 0, other, N) < 16);
    }
    /* Nor is a stream a shifted copy of another connection's. */
    pattern_fill(SEED, 1, 8, other, N);
    assert_true(agreeing(base, other, N) < 64);
    /* Nor does a stream repeat itself a word later. */
    pattern_fill(SEED, 0, 8, other, N);
    assert_true(agreeing(base, other, N) < 64);
}

static void test_fill_at_offset_is_a_slice(void **state)
{
    (void)state;
    enum { LONG = 512 };
    unsigned char whole[LONG], part[LONG + 1];
    const size_t lengths[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200, LONG - 65};
    pattern_fill(SEED, 7, 0, whole, LONG);
    for (size_t offset = 0; offset <= 64; offset++) {
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            size_t n = lengths[k];
            memset(part, 0xAA, sizeof part);
            pattern_fill(SEED, 7, offset, part, n);
            if (n > 0)
                assert_memory_equal(part, whole + offset, n);
            assert_int_equal(part[n], 0xAA); /* nothing written past the end */
            assert_int_equal(pattern_check(SEED, 7, offset, whole + offset, n), n);
        }
    }
    /* Offsets far past 4 GiB too: a long run must not wrap to the start. */
    const uint64_t far = UINT64_C(0x8000000000000003);
    pattern_fill(SEED, 7, far, whole, LONG - 64);
    for (size_t offset = 0; offset <= 64; offset++) {
        pattern_fill(SEED, 7, far + offset, part, 64);
        assert_memory_equal(part, whole + offset, 64);
    }
}

static void test_check_finds_every_flipped_byte(void **state)
{
    (void)state;
    enum { N = 200 };
    unsigned char data[N];
    for (size_t offset = 0; offset < 16; offset++) {
        pattern_fill(SEED, 9, offset, data, N);
        assert_int_equal(pattern_check(SEED, 9, offset, data, N), N);
        for (size_t i = 0; i < N; i++) {
            for (unsigned flip = 1; flip < 256; flip <<= 1) { /* each bit of the byte */
                data[i] ^= (unsigned char)flip;
                assert_int_equal(pattern_check(SEED, 9, offset, data, N), i);
                data[i] ^= (unsigned char)flip;
            }
        }
        /* Two bad bytes: the first is reported. */
        data[50] ^= 0xFF;
        data[150] ^= 0xFF;
        assert_int_equal(pattern_check(SEED, 9, offset, data, N), 50);
    }
}

/* A stream received in two reads split at every point: each piece checks
 * against its own offset, and a flipped byte is found in whichever piece
 * holds it, at its index within that piece. */
static void test_check_split_reads(void **state)
{
    (void)state;
    enum { N = 150, START = 5 };
    unsigned char data[N];
    pattern_fill(SEED, 11, START, data, N);
    for (size_t split = 0; split <= N; split++) {
        assert_int_equal(pattern_check(SEED, 11, START, data, split), split);
        assert_int_equal(pattern_check(SEED, 11, START + split, data + split, N - split), N - split);
        for (size_t bad = 0; bad < N; bad++) {
            data[bad] ^= 0x10;
            if (bad < split) {
                assert_int_equal(pattern_check(SEED, 11, START, data, split), bad);
                assert_int_equal(pattern_check(SEED, 11, START + split, data + split, N - split), N - split);
            } else {
                assert_int_equal(pattern_check(SEED, 11, START, data, split), split);
                assert_int_equal(pattern_check(SEED, 11, START + split, data + split, N - split), bad - split);
            }
            data[bad] ^= 0x10;
        }
    }
    /* A piece checked at the wrong offset fails at once (almost surely). */
    assert_true(pattern_check(SEED, 11, START + 1, data, N) < 8);
}

static void test_every_byte_value_occurs(void **state)
{
    (void)state;
    enum { N = 4096 };
    static unsigned char data[N];
    for (uint64_t connection = 0; connection < 64; connection++) {
        for (uint64_t seed = 0; seed < 4; seed++) {
            int seen[256] = {0};
            pattern_fill(seed, connection, 0, data, N);
            for (size_t i = 0; i < N; i++)
                seen[data[i]] = 1;
            for (int v = 0; v < 256; v++)
                if (!seen[v])
                    fail_msg("byte 0x%02x missing from the first %d bytes of seed %llu connection %llu", v, N,
                             (unsigned long long)seed, (unsigned long long)connection);
        }
    }
}

static void test_empty_buffers(void **state)
{
    (void)state;
    unsigned char byte = 0x5A;
    pattern_fill(SEED, 1, 3, &byte, 0);
    assert_int_equal(byte, 0x5A);
    assert_int_equal(pattern_check(SEED, 1, 3, &byte, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_fill_at_offset_is_a_slice),
        cmocka_unit_test(test_check_finds_every_flipped_byte),
        cmocka_unit_test(test_check_split_reads),
        cmocka_unit_test(test_every_byte_value_occurs),
        cmocka_unit_test(test_empty_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

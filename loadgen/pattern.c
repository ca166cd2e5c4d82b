/* Payload pattern (see pattern.h).
 *
 * The stream of a connection is a sequence of 64-bit words: word k is the
 * splitmix64 output for state key + (k + 1) * GAMMA, where the key mixes the
 * seed and the connection number, and byte i of the stream is byte i % 8 of
 * word i / 8, least significant first (fixed, so the stream is the same on
 * every host whatever its byte order). splitmix64 passes BigCrush, so every
 * byte value turns up within a few KiB and streams of different connections
 * or seeds look unrelated. One word costs two multiplies, so filling and
 * checking run at several bytes per cycle. */
#include "pattern.h"

#define GAMMA UINT64_C(0x9E3779B97F4A7C15) /* 2^64 / golden ratio, splitmix64's step */

/* splitmix64's finaliser (Stafford's variant 13). */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The base state of one connection's stream. Mixing twice keeps (seed, c)
 * and (seed', c') from landing on overlapping stretches of one sequence,
 * which a plain sum such as seed + c * GAMMA would do. */
static uint64_t stream_key(uint64_t seed, uint64_t connection)
{
    return mix64(mix64(seed ^ UINT64_C(0x6A09E667F3BCC908)) + connection * GAMMA);
}

static uint64_t word_at(uint64_t key, uint64_t word_index)
{
    return mix64(key + (word_index + 1) * GAMMA);
}

/* Byte-at-a-time stores and loads in a fixed order: portable, and GCC,
 * Clang and MSVC turn them into single 8-byte moves on little-endian hosts. */
static void store_le64(unsigned char *p, uint64_t w)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(w >> (8 * i));
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

void pattern_fill(uint64_t seed, uint64_t connection, uint64_t offset, unsigned char *out, size_t length)
{
    uint64_t key = stream_key(seed, connection);
    uint64_t word_index = offset / 8;
    size_t done = 0;

    /* A start inside a word: the tail bytes of that word. */
    unsigned skip = (unsigned)(offset % 8);
    if (skip != 0 && length > 0) {
        uint64_t w = word_at(key, word_index++) >> (8 * skip);
        for (; skip < 8 && done < length; skip++, done++, w >>= 8)
            out[done] = (unsigned char)w;
    }
    for (; length - done >= 8; done += 8)
        store_le64(out + done, word_at(key, word_index++));
    if (done < length) {
        uint64_t w = word_at(key, word_index);
        for (; done < length; done++, w >>= 8)
            out[done] = (unsigned char)w;
    }
}

/* The first byte where data[0..n) (n <= 8) differs from the low bytes of w,
 * or n when none does. */
static size_t first_difference(const unsigned char *data, size_t n, uint64_t w)
{
    size_t i = 0;
    for (; i < n && data[i] == (unsigned char)w; i++)
        w >>= 8;
    return i;
}

size_t pattern_check(uint64_t seed, uint64_t connection, uint64_t offset, const unsigned char *data, size_t length)
{
    uint64_t key = stream_key(seed, connection);
    uint64_t word_index = offset / 8;
    size_t done = 0;

    unsigned skip = (unsigned)(offset % 8);
    if (skip != 0 && length > 0) {
        size_t n = 8 - skip < length ? 8 - skip : length;
        size_t same = first_difference(data, n, word_at(key, word_index++) >> (8 * skip));
        if (same < n)
            return same;
        done = n;
    }
    /* Whole words compared at once; the slow byte scan only on a mismatch. */
    for (; length - done >= 8; done += 8) {
        uint64_t expected = word_at(key, word_index++);
        if (load_le64(data + done) != expected)
            return done + first_difference(data + done, 8, expected);
    }
    if (done < length)
        done += first_difference(data + done, length - done, word_at(key, word_index));
    return done;
}

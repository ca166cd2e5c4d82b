/* Payload bytes that can be checked without keeping a copy: byte i of the
 * stream of connection c is a pure function of (seed, c, i), so the bytes
 * echoed back are verified as they arrive, however the reads are split.
 * Portable C11. */
#ifndef WSB_PATTERN_H
#define WSB_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Fills out[0..length) with the bytes at stream offsets [offset, offset+length)
 * of connection `connection` under `seed`. Every byte value 0x00..0xFF occurs. */
void pattern_fill(uint64_t seed, uint64_t connection, uint64_t offset, unsigned char *out, size_t length);

/* Checks received bytes against the stream at `offset`. Returns the index of
 * the first byte that differs, or `length` when all match. */
size_t pattern_check(uint64_t seed, uint64_t connection, uint64_t offset, const unsigned char *data, size_t length);

#endif

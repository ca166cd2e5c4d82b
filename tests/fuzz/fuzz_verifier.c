/* libFuzzer target: loadgen's echo verifier (loadgen/verifier.c). The echo
 * of one stream arrives in reads split at random points, some bytes of it
 * corrupted, some reads running past what was sent; the verifier must take
 * exactly the reads that are a true echo and point at the first bad byte
 * of the others.
 *
 * Input: byte 0 the message size (1..256), byte 1 whether bytes are
 * compared (--no-verify otherwise); then steps of four bytes: how many more
 * bytes were sent, how long the read is, a corruption switch and its
 * position in the read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "verifier.h"

#define SEED UINT64_C(0x5EED)
#define STREAM 3
#define MAX_READ 512

static void require(bool condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t message_size = (uint32_t)data[0] + 1;
    bool check_bytes = data[1] & 1;
    echo_verifier v;
    verifier_start(&v, SEED, STREAM, message_size, check_bytes);
    uint64_t sent = 0;
    unsigned char read[MAX_READ];
    for (size_t i = 2; i + 3 < size; i += 4) {
        sent += data[i];
        size_t length = (size_t)data[i + 1] * 2 % MAX_READ;
        bool corrupt = data[i + 2] & 1;
        size_t position = length ? data[i + 3] * 2 % length : 0;
        pattern_fill(SEED, STREAM, v.received, read, length);
        if (corrupt && length)
            read[position] ^= (unsigned char)(1 + data[i + 2] / 2 % 255);

        /* What must be found wrong: the first byte past what was sent, and,
         * when bytes are compared, an earlier corrupted one. */
        uint64_t outstanding = sent - v.received;
        uint64_t bad = length > outstanding ? outstanding : UINT64_MAX;
        if (check_bytes && corrupt && length && position < bad)
            bad = position;
        uint64_t received_before = v.received, first_bad = UINT64_MAX;
        bool taken = verifier_take(&v, sent, read, length, &first_bad);
        require(taken == (bad == UINT64_MAX));
        if (taken) {
            require(v.received == received_before + length);
        } else {
            require(first_bad == received_before + bad && v.received == received_before);
        }
        require(verifier_messages_done(&v) == v.received / message_size);
    }
    return 0;
}

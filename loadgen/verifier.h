/* The echo check of one connection's byte stream: echoed bytes arrive in
 * reads of any size, are checked against the payload pattern at their
 * stream offset, and whole messages are counted once their last byte is in.
 * Pure and portable C11 (no sockets, no clock), so it is unit-tested alone. */
#ifndef WSB_LOADGEN_VERIFIER_H
#define WSB_LOADGEN_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct echo_verifier {
    uint64_t seed, stream; /* which pattern stream the echo must match */
    uint32_t message_size;
    bool check_bytes;  /* false (--no-verify): offsets only, no byte compared */
    uint64_t received; /* stream bytes echoed back and accepted so far */
} echo_verifier;

/* A fresh stream: nothing received yet. */
void verifier_start(echo_verifier *v, uint64_t seed, uint64_t stream, uint32_t message_size, bool check_bytes);

/* Takes the next `length` echoed bytes, `sent` being how many bytes of the
 * stream have been sent so far. true: they are the echo, and are accepted.
 * false: *first_bad is the stream offset of the first byte that is not (a
 * wrong value, or a byte that was never sent), and nothing is accepted. */
bool verifier_take(echo_verifier *v, uint64_t sent, const unsigned char *data, size_t length, uint64_t *first_bad);

/* Messages whose every byte has been echoed back. */
uint64_t verifier_messages_done(const echo_verifier *v);

#endif

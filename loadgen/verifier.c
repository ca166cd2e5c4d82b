/* See verifier.h. */
#include "verifier.h"

#include "pattern.h"

void verifier_start(echo_verifier *v, uint64_t seed, uint64_t stream, uint32_t message_size, bool check_bytes)
{
    v->seed = seed;
    v->stream = stream;
    v->message_size = message_size;
    v->check_bytes = check_bytes;
    v->received = 0;
}

bool verifier_take(echo_verifier *v, uint64_t sent, const unsigned char *data, size_t length, uint64_t *first_bad)
{
    /* Bytes beyond what was sent cannot be an echo, even with --no-verify:
     * only the ones up to `sent` are compared, the rest are wrong as such. */
    uint64_t outstanding = sent > v->received ? sent - v->received : 0;
    size_t echoable = length < outstanding ? length : (size_t)outstanding;
    size_t good = v->check_bytes ? pattern_check(v->seed, v->stream, v->received, data, echoable) : echoable;
    if (good < length) {
        *first_bad = v->received + good;
        return false;
    }
    v->received += length;
    return true;
}

uint64_t verifier_messages_done(const echo_verifier *v)
{
    return v->message_size ? v->received / v->message_size : 0;
}

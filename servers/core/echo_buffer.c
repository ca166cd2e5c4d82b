#include "echo_buffer.h"

#include <assert.h>
#include <stdlib.h>

int echo_buffer_init(echo_buffer *b, size_t capacity)
{
    b->data = capacity ? malloc(capacity) : NULL;
    b->capacity = b->data ? capacity : 0;
    b->head = 0;
    b->length = 0;
    return b->data ? 0 : -1;
}

void echo_buffer_free(echo_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->capacity = b->head = b->length = 0;
}

size_t echo_buffer_write_span(const echo_buffer *b, unsigned char **where)
{
    size_t tail = (b->head + b->length) % (b->capacity ? b->capacity : 1);
    size_t room = b->capacity - b->length;
    size_t until_wrap = b->capacity - tail;
    *where = b->data + tail;
    return room < until_wrap ? room : until_wrap;
}

void echo_buffer_commit(echo_buffer *b, size_t received)
{
    assert(received <= b->capacity - b->length);
    b->length += received;
}

size_t echo_buffer_read_span(const echo_buffer *b, unsigned char **where)
{
    size_t until_wrap = b->capacity - b->head;
    *where = b->data + b->head;
    return b->length < until_wrap ? b->length : until_wrap;
}

void echo_buffer_consume(echo_buffer *b, size_t sent)
{
    assert(sent <= b->length);
    b->length -= sent;
    /* No rewind to offset 0 when the ring empties: an overlapped receive may
     * still be writing at the old tail, and it must land where it was asked. */
    b->head = (b->head + sent) % b->capacity;
}

/* libFuzzer target: the servers' echo ring (servers/core/echo_buffer.c)
 * under random sequences of receives and sends, checked step by step
 * against a model that is obviously right: a plain FIFO of the bytes
 * received and not yet sent.
 *
 * Input: byte 0 picks the capacity (1..256); then each pair of bytes is one
 * operation: the first's low bit says receive (write span, commit) or send
 * (read span, consume), the second how many bytes of the span to use. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "echo_buffer.h"

#define MAX_CAPACITY 256

typedef struct fifo {
    unsigned char bytes[MAX_CAPACITY];
    size_t head, length;
} fifo;

static void require(int condition)
{
    if (!condition)
        abort();
}

static int overlap(const unsigned char *a, size_t a_length, const unsigned char *b, size_t b_length)
{
    return a_length > 0 && b_length > 0 && a < b + b_length && b < a + a_length;
}

/* The ring's spans: inside its storage, never overlapping each other, as
 * long as the room and the unsent bytes allow. */
static void check_spans(const echo_buffer *b, const fifo *model)
{
    unsigned char *write_at, *read_at;
    size_t room = echo_buffer_write_span(b, &write_at);
    size_t unsent = echo_buffer_read_span(b, &read_at);
    require(b->length == model->length);
    require((room > 0) == (model->length < b->capacity) && room <= b->capacity - model->length);
    require((unsent > 0) == (model->length > 0) && unsent <= model->length);
    require(write_at >= b->data && write_at + room <= b->data + b->capacity);
    require(read_at >= b->data && read_at + unsent <= b->data + b->capacity);
    require(!overlap(write_at, room, read_at, unsent));
    require(echo_buffer_is_full(b) == (model->length == b->capacity));
    require(echo_buffer_is_empty(b) == (model->length == 0));
}

static void receive(echo_buffer *b, fifo *model, size_t wanted, unsigned char *next_byte)
{
    unsigned char *at;
    size_t room = echo_buffer_write_span(b, &at);
    size_t n = wanted < room ? wanted : room;
    for (size_t i = 0; i < n; i++) {
        at[i] = *next_byte;
        model->bytes[(model->head + model->length + i) % b->capacity] = (*next_byte)++;
    }
    echo_buffer_commit(b, n);
    model->length += n;
}

/* What the read span offers is exactly the oldest unsent bytes, in order. */
static void send(echo_buffer *b, fifo *model, size_t wanted)
{
    unsigned char *at;
    size_t unsent = echo_buffer_read_span(b, &at);
    for (size_t i = 0; i < unsent; i++)
        require(at[i] == model->bytes[(model->head + i) % b->capacity]);
    size_t n = wanted < unsent ? wanted : unsent;
    echo_buffer_consume(b, n);
    model->head = (model->head + n) % b->capacity;
    model->length -= n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    echo_buffer b;
    size_t capacity = (size_t)data[0] + 1;
    require(echo_buffer_init(&b, capacity) == 0 && b.capacity == capacity);
    fifo model = {.head = 0, .length = 0};
    unsigned char next_byte = 0;
    check_spans(&b, &model);
    for (size_t i = 1; i + 1 < size; i += 2) {
        if (data[i] & 1)
            receive(&b, &model, data[i + 1], &next_byte);
        else
            send(&b, &model, data[i + 1]);
        check_spans(&b, &model);
    }
    echo_buffer_free(&b);
    return 0;
}

/* A connection's echo buffer: a fixed-size ring. Bytes received go in at the
 * tail and leave from the head once sent, so the unsent echo of a connection
 * can never exceed its capacity (--buffer). When it is full the server stops
 * reading that connection and TCP flow control pushes back on the client.
 *
 * Spans are contiguous regions, suitable for a single recv/send or an
 * overlapped WSARecv/WSASend. A write span and a read span never overlap, so
 * one receive and one send may be outstanding on the same buffer at once. */
#ifndef WSB_ECHO_BUFFER_H
#define WSB_ECHO_BUFFER_H

#include <stddef.h>

typedef struct echo_buffer {
    unsigned char *data;
    size_t capacity;
    size_t head;   /* offset of the oldest unsent byte */
    size_t length; /* bytes received and not yet sent */
} echo_buffer;

/* Returns 0 on success, -1 when the memory cannot be had. */
int echo_buffer_init(echo_buffer *b, size_t capacity);
void echo_buffer_free(echo_buffer *b);

/* Free contiguous space after the tail: where the next receive may write. */
size_t echo_buffer_write_span(const echo_buffer *b, unsigned char **where);
void echo_buffer_commit(echo_buffer *b, size_t received);

/* Contiguous unsent bytes from the head: what the next send may take. */
size_t echo_buffer_read_span(const echo_buffer *b, unsigned char **where);
void echo_buffer_consume(echo_buffer *b, size_t sent);

static inline int echo_buffer_is_full(const echo_buffer *b)
{
    return b->length == b->capacity;
}
static inline int echo_buffer_is_empty(const echo_buffer *b)
{
    return b->length == 0;
}

#endif

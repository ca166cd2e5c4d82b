/* Fuzz input as a command line: the bytes split at NUL into argv[1..],
 * argv[0] being the program's name. Shared by the two option-parser
 * targets. Also the invariant both parsers owe their callers: an error is
 * one non-empty line that fits its buffer. */
#ifndef WSB_FUZZ_ARGS_H
#define WSB_FUZZ_ARGS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_ARGS 64

typedef struct fuzz_args {
    int argc;
    char *argv[FUZZ_MAX_ARGS + 1];
    char *text; /* one copy of the input, NUL-terminated pieces */
} fuzz_args;

static inline void fuzz_args_make(fuzz_args *a, const char *program, const uint8_t *data, size_t size)
{
    a->text = malloc(size + 1);
    if (!a->text)
        abort();
    memcpy(a->text, data, size);
    a->text[size] = '\0';
    a->argc = 0;
    a->argv[a->argc++] = (char *)program;
    for (char *piece = a->text; piece <= a->text + size && a->argc < FUZZ_MAX_ARGS; piece += strlen(piece) + 1)
        a->argv[a->argc++] = piece;
    a->argv[a->argc] = NULL;
}

static inline void fuzz_args_free(fuzz_args *a)
{
    free(a->text);
}

/* The length of `text`, or `max` when no NUL comes within max bytes. */
static inline size_t fuzz_length(const char *text, size_t max)
{
    size_t length = 0;
    while (length < max && text[length])
        length++;
    return length;
}

/* An error line: not empty, terminated inside its buffer, no line break. */
static inline void fuzz_check_error_line(const char *error, size_t size)
{
    size_t length = fuzz_length(error, size);
    if (length == 0 || length == size || strchr(error, '\n') || strchr(error, '\r'))
        abort();
}

#endif

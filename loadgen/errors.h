/* The kinds of error a run counts, each reported under its own name. */
#ifndef WSB_LOADGEN_ERRORS_H
#define WSB_LOADGEN_ERRORS_H

typedef enum {
    ERROR_MISMATCH,
    ERROR_EARLY_CLOSE,
    ERROR_RESET,
    ERROR_CONNECT_FAILED,
    ERROR_TIMEOUT,
    ERROR_KINDS
} error_kind;
extern const char *const error_kind_names[ERROR_KINDS]; /* as in the JSON and the summary (report.c) */

#endif

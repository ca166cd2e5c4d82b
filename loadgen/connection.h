/* A connection's part of the event loop (connection.c), called by the
 * loop (worker.c) when its socket is ready or its time has come. Each
 * connection owns its offsets in its byte stream: `issued` messages are
 * size * issued bytes, of which `sent` have left and `echo.received` came
 * back (verifier.c checks them). */
#ifndef WSB_LOADGEN_CONNECTION_H
#define WSB_LOADGEN_CONNECTION_H

#include "worker.h"

#define IO_BUFFER_BYTES 65536
#define NO_QUOTA UINT64_MAX

static inline const loadgen_options *opts(const worker *w) { return w->shared->options; }
static inline bool is_churn(const worker *w) { return opts(w)->workload == WORKLOAD_CHURN; }
static inline bool is_rate(const worker *w) { return opts(w)->workload == WORKLOAD_RATE; }

void connection_close(connection *c, connection_state next);
/* Counts the error and closes; a churn slot becomes free for the next operation. */
void connection_fail(connection *c, error_kind kind, uint64_t now);
/* A connect failed (`reason`: a static text such as "timed out"): counted.
 * When it says the server is not there (refused, timed out, no route) and
 * no connection has ever opened, the reason is kept, so that a server that
 * cannot be reached at all is told as one line (see engine.h). Running out
 * of local ports or descriptors says nothing about the server. */
void connection_connect_failed(connection *c, const char *reason, bool server_absent, uint64_t now);
/* Starts a connect (churn: a whole operation on a fresh stream id). */
bool connection_start_connect(connection *c, uint64_t now);
void connection_start_churn_operation(connection *c, uint64_t now);
/* Notes a message as issued; false when out of memory. */
bool connection_push_pending(connection *c, uint64_t intended_ns, uint64_t actual_ns);
/* Sends what the kernel takes now of the issued bytes. */
void connection_flush(connection *c, uint64_t now);
/* Closed loop: tops the messages outstanding up to the depth. */
void connection_refill(connection *c, uint64_t now);

void connection_on_connected(connection *c, uint64_t now);
void connection_on_readable(connection *c, uint64_t now);
void connection_on_readable_closing(connection *c);

#endif

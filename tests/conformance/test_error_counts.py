"""The same scripted faults, counted the same way by every model, so that the
servers' `errors` figures can be compared across models. The rules
(servers/CONTRACT.md, "Counting errors"): a client that resets while waiting
in the backlog is no error (the server never had it); a client that resets
in the middle of its stream is one `reset`; a client that half-closes is no
error at all.

The mid-stream reset is scripted so that every model must see it: the
client writes until the server holds echo it cannot send, then resets, so
the server's next send fails. (A reset on a connection with nothing pending
may reach a non-blocking recv under Wine 8 as a clean end of input - the
wineserver's own poll takes the error first - so it is not scripted here.)"""
import time

from client import (connect, echo, echo_once_admitted, echo_then_half_close, held_by_server, random_payload,
                    reset, write_until_stalled)

BACKLOG_RESETS = 6
MID_STREAM_RESETS = 2
HALF_CLOSES = 3
# The wineserver learns of a reset from its own poll loop, a little after
# the client's RST, and the server counts it only then. So the faults run
# with --max-connections 1, where a new client is served only while the
# server holds no other connection: once a probe is served, the server has
# closed every faulty client before it, after counting what it saw. A
# closed connection is uncounted at the stop, so the stop waits for that.
ADMISSION = ("--max-connections", "1")
DEALT_WITH_DEADLINE_S = 10.0
# The writing that stalls the server: a correct one stalls the writer after
# its --buffer and the kernels' queues, 2.9-6.5 MiB here most of the time,
# once 16 MiB (the server's receive queue grows by itself, up to Linux's
# tcp_rmem maximum, 32 MiB here).
STALL_PAYLOAD = random_payload(64 * 1024) * 1024
STALL_QUIET_S = 0.5
STALL_DEADLINE_S = 60.0


def served(port, attempt):
    """attempt(port) for a client the server serves: one it refuses (the
    previous client's slot not yet freed) is tried again, until
    DEALT_WITH_DEADLINE_S."""
    deadline = time.monotonic() + DEALT_WITH_DEADLINE_S
    while True:
        try:
            return attempt(port)
        except ConnectionError as refused:
            if time.monotonic() > deadline:
                raise AssertionError(f"no client served within {DEALT_WITH_DEADLINE_S:g} s: {refused!r}") from None
        time.sleep(0.05)


def wait_until_dealt_with(port):
    """Until the server holds no faulty client any more (a probe is served,
    ADMISSION), then until the probe itself has ended (the server's FIN)."""
    probe = random_payload(64)
    assert served(port, lambda p: echo_then_half_close_served(p, probe)) == probe


def echo_then_half_close_served(port, payload):
    """echo_then_half_close, a refusal (nothing at all came back) raised as ConnectionError."""
    got = echo_then_half_close(port, payload)
    if not got:
        raise ConnectionError("closed without a byte: refused")
    return got


def reset_in_backlog(port):
    """Connects and resets at once. The kernel completes the handshake without
    the server, so the RST normally arrives before the server accepts (and in
    any case before it has read anything)."""
    reset(connect(port))


def started_stream(port):
    """A client whose first 1024 bytes came back: the server serves it."""
    sock = connect(port, buffers=64 * 1024)
    try:
        assert echo(sock, b"x" * 1024) == b"x" * 1024
    except BaseException:
        sock.close()
        raise
    return sock


def reset_mid_stream(port):
    """Reads the start of its echo (the server is serving it), then writes
    without reading until the server holds echo it cannot send (polled: what
    it holds, read from the kernels' queues, is not zero), and resets: the
    server's next send then fails."""
    sock = served(port, started_stream)
    written = write_until_stalled(sock, STALL_PAYLOAD, STALL_QUIET_S, deadline_s=STALL_DEADLINE_S)
    if not wait_until_holding_echo(sock, written):  # the queues cannot be read here: the stall must do
        assert written < len(STALL_PAYLOAD), f"the server kept reading: {written} bytes taken without an echo read"
    reset(sock)


def wait_until_holding_echo(sock, written):
    """Polls until the server holds echo of sock's it cannot send; False
    where that cannot be read (no /proc/net/tcp)."""
    deadline = time.monotonic() + STALL_DEADLINE_S
    while (held := held_by_server(sock, written)) == 0:
        assert time.monotonic() < deadline, f"the server held no echo {STALL_DEADLINE_S:g} s after the stall"
        time.sleep(0.05)
    return held is not None


def half_close(port):
    payload = random_payload(200_000)
    assert served(port, lambda p: echo_then_half_close_served(p, payload)) == payload


def test_scripted_faults_are_counted_by_the_rule(start_server):
    server = start_server(*ADMISSION)
    port = server.port
    faults = [reset_in_backlog] * BACKLOG_RESETS + [reset_mid_stream] * MID_STREAM_RESETS + [half_close] * HALF_CLOSES
    for fault in faults:
        fault(port)
        wait_until_dealt_with(port)
    # The server still serves.
    assert echo_once_admitted(port, b"still serving", deadline_s=DEALT_WITH_DEADLINE_S) == b"still serving"
    server.allow_errors("reset")
    stats = server.stop()
    assert stats["errors"] == {"accept": 0, "recv": 0, "send": 0,
                               "reset": MID_STREAM_RESETS, "resource": 0}, \
        server.stderr_tail()


def test_half_close_alone_counts_nothing(echo_server):
    for _ in range(HALF_CLOSES):
        half_close(echo_server.port)
    stats = echo_server.stop()
    assert all(count == 0 for count in stats["errors"].values()), stats["errors"]

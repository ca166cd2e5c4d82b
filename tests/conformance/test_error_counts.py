"""The same scripted faults, counted the same way by every model, so that the
servers' `errors` figures can be compared across models. The rules
(servers/README.md, "Counting errors"): a client that resets while waiting
in the backlog is no error (the server never had it); a client that resets
in the middle of its stream is one `reset`; a client that half-closes is no
error at all.

The mid-stream reset is scripted so that every model must see it: the
client writes until the server holds echo it cannot send, then resets, so
the server's next send fails. (A reset on a connection with nothing pending
may reach a non-blocking recv under Wine 8 as a clean end of input - the
wineserver's own poll takes the error first - so it is not scripted here.)"""
import time

from client import connect, echo, echo_then_half_close, random_payload, recv_exact, reset

BACKLOG_RESETS = 6
MID_STREAM_RESETS = 2
HALF_CLOSES = 3
# The wineserver learns of a reset from its own poll loop, a little after the
# client's RST: the server gets this long to act on every fault before the
# stop (closing the remaining connections at stop counts nothing).
SETTLE_S = 1.0
# Bounds of the writing that stalls the server.
STALL_LIMIT_BYTES = 64 << 20
STALL_QUIET_S = 0.5
STALL_DEADLINE_S = 60.0


def reset_in_backlog(port):
    """Connects and resets at once. The kernel completes the handshake without
    the server, so the RST normally arrives before the server accepts (and in
    any case before it has read anything)."""
    reset(connect(port))


def write_until_stalled(sock):
    """Writes without reading until the socket takes nothing for a while: the
    server's echo buffer is then full (it stopped reading) and its echo has
    nowhere to go. Bounded in bytes and time; returns the bytes written."""
    chunk = random_payload(64 * 1024)
    written, quiet_since = 0, None
    deadline = time.monotonic() + STALL_DEADLINE_S
    sock.setblocking(False)
    while written < STALL_LIMIT_BYTES and time.monotonic() < deadline:
        try:
            written += sock.send(chunk)
            quiet_since = None
        except BlockingIOError:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= STALL_QUIET_S:
                return written
            time.sleep(0.02)
    raise AssertionError(f"the server kept reading: {written} bytes taken without an echo read")


def reset_mid_stream(port):
    """Reads the start of its echo (the server is serving it), then stalls the
    server and resets."""
    sock = connect(port, buffers=64 * 1024)
    sock.sendall(b"x" * 1024)
    assert recv_exact(sock, 1024) == b"x" * 1024
    write_until_stalled(sock)
    reset(sock)


def half_close(port):
    payload = random_payload(200_000)
    assert echo_then_half_close(port, payload) == payload


def test_scripted_faults_are_counted_by_the_rule(echo_server):
    port = echo_server.port
    for _ in range(BACKLOG_RESETS):
        reset_in_backlog(port)
    for _ in range(MID_STREAM_RESETS):
        reset_mid_stream(port)
    for _ in range(HALF_CLOSES):
        half_close(port)
    # The server still serves, and (accepting in order) has taken every
    # faulty client before this one.
    with connect(port) as sock:
        assert echo(sock, b"still serving") == b"still serving"
    time.sleep(SETTLE_S)
    echo_server.allow_errors("reset")
    stats = echo_server.stop()
    assert stats["errors"] == {"accept": 0, "recv": 0, "send": 0,
                               "reset": MID_STREAM_RESETS, "resource": 0}, \
        echo_server.stderr_tail()


def test_half_close_alone_counts_nothing(echo_server):
    for _ in range(HALF_CLOSES):
        half_close(echo_server.port)
    stats = echo_server.stop()
    assert all(count == 0 for count in stats["errors"].values()), stats["errors"]

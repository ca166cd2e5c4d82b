"""RFC 862 conformance of every echo server, and the server contract of
servers/CONTRACT.md: options, ready and stats lines, back-pressure, half-close,
resets, idle and many concurrent clients, both ways of stopping."""
import random
import subprocess
import time

import pytest

from client import (ManyClients, StreamingClients, connect, echo, echo_once_admitted, echo_then_half_close,
                    held_by_server, random_payload, reset, write_until_stalled)
from harness import models
from harness.servers import server_command
from lacking import ipv6_loopback_available

MiB = 1 << 20


def run_server_once(model, *args):
    return subprocess.run(server_command(model) + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60, text=True)


# Options only some models take: --help lists one exactly when the model's
# model.json declares it (the registry and the code agree).
MODEL_OPTIONS = ("threads", "accept_pool")


def test_help_exits_zero_with_usage(model):
    result = run_server_once(model, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: {model}" in result.stdout
    assert "--max-connections" in result.stdout
    declared = models.options(model)
    for option in set(MODEL_OPTIONS) | set(declared):
        flag = "--" + option.replace("_", "-")
        assert (flag in result.stdout) == (option in declared), f"{model}: {flag} vs model.json {declared}"


@pytest.mark.parametrize("args", [["--port", "70000"], ["--buffer", "0"], ["--backlog", "x"],
                                  ["--no-such-option"], ["--port"]])
def test_bad_option_exits_2_with_one_line(model, args):
    result = run_server_once(model, *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and model in lines[0], result.stderr
    assert result.stdout == ""


def test_unusable_bind_address_fails_with_a_reason(model):
    result = run_server_once(model, "--bind", "no-such-host.invalid", "--port", "0")
    assert result.returncode == 1, (result.returncode, result.stdout)
    assert "--bind" in result.stderr


def test_ready_line(model, echo_server):
    ready = echo_server.ready
    assert ready["model"] == model
    assert 0 < ready["port"] < 65536
    assert isinstance(ready["pid"], int) and ready["family"] == "ipv4"


@pytest.mark.parametrize("size", [1, 1024, 64 * 1024, MiB], ids=["1B", "1KiB", "64KiB", "1MiB"])
def test_echo_message_sizes(echo_server, size):
    payload = random_payload(size)
    with connect(echo_server.port) as sock:
        assert echo(sock, payload) == payload
    stats = echo_server.stop()
    assert stats["bytes_received"] == size and stats["bytes_sent"] == size
    assert stats["connections_accepted"] == 1


def test_every_byte_value_in_order(echo_server):
    payload = bytes(range(256)) * 64
    with connect(echo_server.port) as sock:
        assert echo(sock, payload) == payload


# The back-pressure test's --buffer: small beside the kernels' queues, and
# not the default, so a server that ignores the option is caught too.
BACKPRESSURE_BUFFER = 4096
# How long the writer must be held up before the server counts as stalled.
STALL_QUIET_S = 2.0


def test_backpressure_client_writes_16mib_before_reading(start_server):
    """The server must stop reading while its echo buffer is full: a client
    that only writes is stalled by TCP flow control once the kernels'
    queues and --buffer are full. Where the queues can be read (Linux), what
    the server holds itself once the writer is held up - what was written,
    less the four queues of the connection - must be at most --buffer:
    exactly --buffer for the reference and every Winsock model under Wine,
    while the stall itself came after 2.9-6.5 MiB, the kernels' queues
    growing by themselves (the server's receive queue up to tcp_rmem's
    maximum, so even all 16 MiB may fit on a fast run: the held bytes are
    checked then too). Elsewhere the stall before 16 MiB is all that is
    checked. Then everything comes back, in order."""
    server = start_server("--buffer", str(BACKPRESSURE_BUFFER))
    payload = random_payload(16 * MiB)
    sock = connect(server.port, buffers=64 * 1024)
    try:
        stalled_at = write_until_stalled(sock, payload, STALL_QUIET_S, deadline_s=120)
        held = held_by_server(sock, stalled_at)
        print(f"writer stalled after {stalled_at / MiB:.2f} MiB; the server held {held} bytes")
        if held is None:
            assert stalled_at < len(payload), "the server took all 16 MiB without the client reading"
        assert held is None or held <= BACKPRESSURE_BUFFER, (
            f"the server held {held} bytes of a client that reads nothing, with --buffer {BACKPRESSURE_BUFFER}")
        assert echo(sock, payload[stalled_at:], unechoed=stalled_at) == payload
    finally:
        sock.close()


def test_hundreds_of_concurrent_clients_each_get_their_own_stream(echo_server):
    rng = random.Random(862)
    clients = ManyClients(echo_server.port, 300).connect_all()
    try:
        for _round in range(2):
            payloads = [random_payload(rng.randint(1, 32 * 1024)) for _ in range(300)]
            assert clients.echo_all(payloads) == payloads
    finally:
        clients.close()


def test_half_close_returns_everything_then_fin(echo_server):
    payload = random_payload(3 * MiB)
    # A reset instead of a FIN would raise ConnectionResetError here.
    assert echo_then_half_close(echo_server.port, payload) == payload


def test_reset_mid_stream_then_next_client_is_served(echo_server):
    victim = connect(echo_server.port)
    victim.sendall(random_payload(256 * 1024 - 1))
    time.sleep(0.2)
    reset(victim)
    payload = random_payload(100_000)
    with connect(echo_server.port) as sock:
        assert echo(sock, payload) == payload
    echo_server.allow_errors("reset")
    stats = echo_server.stop()
    assert stats["connections_accepted"] == 2
    assert echo_server.alive() is False and echo_server.process.returncode == 0


def test_idle_client_does_not_block_others(echo_server):
    idle = connect(echo_server.port)
    try:
        for _ in range(20):
            payload = random_payload(4096)
            with connect(echo_server.port) as sock:
                assert echo(sock, payload) == payload
        late = random_payload(100)
        assert echo(idle, late) == late
    finally:
        idle.close()


def test_1200_concurrent_connections_held_then_served(echo_server):
    """More than the 1,024 a select() set once held: select and wsapoll spread over several groups."""
    count = 1200
    rng = random.Random(1200)
    clients = ManyClients(echo_server.port, count).connect_all()
    try:
        payloads = [random_payload(rng.randint(64, 2048)) for _ in range(count)]
        assert clients.echo_all(payloads) == payloads
    finally:
        clients.close()
    stats = echo_server.stop()
    assert stats["connections_accepted"] == count
    assert stats["peak_connections"] == count


def test_max_connections_refuses_the_extra_client(start_server):
    server = start_server("--max-connections", "2")
    first, second = connect(server.port), connect(server.port)
    for sock in (first, second):
        assert echo(sock, b"kept") == b"kept"
    extra = connect(server.port)
    extra.settimeout(30)
    try:
        assert extra.recv(1) == b""
    except ConnectionResetError:
        pass
    extra.close()
    first.close()
    # Once a slot frees up a new client is served again.
    assert echo_once_admitted(server.port, b"again", deadline_s=30) == b"again"
    second.close()
    stats = server.stop()
    assert stats["connections_refused"] >= 1
    assert stats["peak_connections"] == 2


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this host has no ::1")
def test_ipv6_loopback(start_server):
    server = start_server("--bind", "::1")
    assert server.ready["family"] == "ipv6"
    payload = random_payload(50_000)
    with connect(server.port, host="::1") as sock:
        assert echo(sock, payload) == payload


def test_small_buffer_still_echoes_exactly(start_server):
    server = start_server("--buffer", "7")
    payload = random_payload(300_000)
    with connect(server.port) as sock:
        assert echo(sock, payload) == payload


def test_ctrl_c_stops_with_stats(model, start_server):
    server = start_server()
    with connect(server.port) as sock:
        assert echo(sock, b"before ctrl-c") == b"before ctrl-c"
    stats = server.stop(how="interrupt")
    assert stats["bytes_received"] == stats["bytes_sent"] == len(b"before ctrl-c")


def test_stop_with_clients_still_connected(start_server):
    server = start_server()
    clients = [connect(server.port) for _ in range(10)]
    for sock in clients:
        assert echo(sock, b"x" * 10) == b"x" * 10
    stats = server.stop()
    assert stats["connections_accepted"] == 10
    for sock in clients:
        sock.close()


# The contract: a stop ends the server within 2 s, whatever its clients are
# doing; the stats line's stop_s is the server's own part, up to that line.
# What follows it to the process's exit is the platform's (Wine ending the
# process): measured here from closing stdin (or the interrupt) to the exit,
# less stop_s, at most 0.032 s in 78 stops under load (every model and
# variant, both ways, load average up to 7 from other work on 2 cores).
# EXIT_MARGIN_S allows for a scheduler that is slow to run Wine's exit on
# such a machine, and is still a quarter of the contract.
STOP_LIMIT_S = 2.0
EXIT_MARGIN_S = 0.5
STREAMING_CLIENTS = 50


@pytest.mark.parametrize("how", ["stdin", "interrupt"])
def test_stop_under_load_ends_every_connection_exit_0_with_stats(model, start_server, how):
    """50 clients stream 8 KiB messages (8 in flight each) when the stop
    comes: the server exits 0 in time with its stats line, every connection
    is ended (a FIN, or a reset where the echo was cut), every byte that came
    back was right, and no failure is counted for what the stop cut."""
    server = start_server()
    clients = StreamingClients(server.port, STREAMING_CLIENTS, size=8192).start()
    try:
        clients.wait_until_each_echoed(64 * 1024)
        started = time.monotonic()
        stats = server.stop(how=how)
        took = time.monotonic() - started
        all_ended = clients.wait_until_all_ended(10)
        assert clients.failure is None, clients.failure
    finally:
        clients.close()
    server.allow_echo_cut_by_stop()
    assert 0 <= stats["stop_s"] <= STOP_LIMIT_S, f"{model} took {stats['stop_s']:.2f} s to stop under load"
    assert stats["stop_s"] <= took <= stats["stop_s"] + EXIT_MARGIN_S, (
        f"{model} exited {took - stats['stop_s']:.2f} s after its stats line (stop_s {stats['stop_s']:.2f} s)")
    assert all_ended, f"connections left open after the stop: {clients.summary()}"
    assert set(clients.summary()) <= {"fin", "reset", "BrokenPipeError"}, clients.summary()
    assert stats["connections_accepted"] == STREAMING_CLIENTS
    assert clients.echoed_total() <= stats["bytes_sent"] <= stats["bytes_received"]

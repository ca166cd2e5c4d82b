"""The load generator (loadgen/) against the Linux reference echo server,
against deliberately broken servers, and against one Winsock server under
Wine. Every run is bounded (short durations or message counts, subprocess
timeouts); nothing asserts on speed, only on correctness and sanity."""
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.servers import EchoServer, server_command
from lacking import ipv6_loopback_available

ROOT = Path(__file__).resolve().parents[2]

RUN_TIMEOUT = 60
# What a timed run may add on its wall clock to its planned warm-up and
# window: starting, connecting (200 idle connections at most here),
# draining the replies in flight, writing its JSON. Measured at most
# 0.04 s against the reference and 0.11 s against the Winsock servers
# under Wine; 1 s leaves room for a loaded machine and stays below the
# 2 s a drain may take at most (END_GRACE_NS, loadgen/worker.c), so a
# loadgen that runs past its window, or drains until its grace against a
# server that has answered everything, fails.
RUN_OVERHEAD_LIMIT_S = 1.0
ERROR_KINDS = {"mismatch", "early_close", "reset", "connect_failed", "timeout"}


def loadgen_path():
    """WSB_LOADGEN, else the native preset's build, else any build/*/loadgen."""
    if os.environ.get("WSB_LOADGEN"):
        return Path(os.environ["WSB_LOADGEN"])
    candidates = [ROOT / "build" / "native" / "loadgen" / "loadgen"]
    candidates += sorted(ROOT.glob("build/*/loadgen/loadgen"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if path.is_file():
            return path
    pytest.fail("loadgen is not built (cmake --preset native && cmake --build --preset native)")


def run_loadgen(*args, timeout=RUN_TIMEOUT):
    """The finished process, with .elapsed_s: its wall clock, start to exit."""
    started = time.monotonic()
    result = subprocess.run([str(loadgen_path())] + [str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    result.elapsed_s = time.monotonic() - started
    return result


def check_timed_run(result, doc, warmup_s, duration_s):
    """A timed run that was not ended early measured exactly its planned
    window (the engine ends the window at the plan, never later), and the
    whole process took no longer than warm-up, window and the overhead."""
    assert doc["ended_early"] is False
    assert doc["totals"]["duration_s"] == pytest.approx(duration_s, abs=2e-6), doc["totals"]
    planned = warmup_s + duration_s
    assert result.elapsed_s <= planned + RUN_OVERHEAD_LIMIT_S, (
        f"loadgen took {result.elapsed_s:.2f} s for a {planned:g} s run (allowed: {RUN_OVERHEAD_LIMIT_S:g} s more)")


def reject_constant(name):
    raise ValueError(f"not JSON: {name}")


def load_results(path):
    """The JSON document, refusing NaN/Infinity (which Python would accept)."""
    with open(path) as f:
        return json.load(f, parse_constant=reject_constant)


def check_sane(doc, workload):
    assert doc["schema"] == "winsock-bench/loadgen/1"
    assert doc["config"]["workload"] == workload
    assert set(doc["errors"]) == ERROR_KINDS
    env = doc["environment"]
    assert env["cpu_count"] >= 1 and env["os"] and env["host_name"]
    totals = doc["totals"]
    assert totals["messages"] > 0 and totals["duration_s"] > 0
    assert totals["bytes"] == totals["messages"] * doc["config"]["size"]
    assert doc["messages_per_s"] > 0 and doc["bytes_per_s"] > 0
    lat = doc["latency_us"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["p99_99"] <= lat["max"]
    assert lat["count"] == totals["messages"]
    assert sum(bucket[2] for bucket in doc["histogram"]) == totals["messages"]
    assert all(low <= high for low, high, _ in doc["histogram"])
    assert sum(s["messages"] for s in doc["time_series"]) == totals["messages"]
    assert doc["client_cpu_s"]["user"] >= 0 and doc["client_cpu_s"]["system"] >= 0


WORKLOADS = {
    "pingpong": ["--connections", 4],
    "pipeline": ["--connections", 2, "--depth", 16, "--size", 1000],
    "rate": ["--connections", 4, "--rate", 2000],
    "churn": ["--concurrency", 4],
    "idle": ["--connections", 2, "--idle", 200],
}


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("threads", [1, 2])
def test_workload_runs_clean(reference, tmp_path, workload, threads):
    out, csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = run_loadgen("--port", reference.port, "--workload", workload, *WORKLOADS[workload],
                         "--threads", threads, "--duration", 1.5, "--warmup", 0.3, "--json", out, "--csv", csv)
    assert result.returncode == 0, result.stderr
    doc = load_results(out)
    check_sane(doc, workload)
    assert not any(doc["errors"].values()), doc["errors"]
    assert doc["ended_early"] is False and doc["fatal"] is None and doc["exit_code"] == 0
    check_timed_run(result, doc, warmup_s=0.3, duration_s=1.5)
    rows = csv.read_text().splitlines()
    assert rows[0] == "second,messages,p99_us,errors" and len(rows) == 1 + len(doc["time_series"])
    if workload == "rate":
        assert doc["requested_rate"] == 2000 and doc["achieved_rate"] > 0
        assert doc["latency_uncorrected_us"]["count"] == doc["totals"]["messages"]
    if workload == "churn":
        assert doc["connections"] == doc["totals"]["messages"] and doc["connections_per_s"] > 0
        assert doc["connect_latency_us"]["count"] > 0
    assert "msg/s" in result.stderr and "errors: none" in result.stderr
    check_every_connection_served(doc, result.stderr)


def check_every_connection_served(doc, stderr):
    """A server that answers every connection: each one that sends (not the
    idle ones) got echoes in the window; churn has no such figure."""
    if doc["config"]["workload"] == "churn":
        assert doc["per_connection"] is None
        return
    per = doc["per_connection"]
    connections = doc["config"]["connections"]
    assert per["connections"] == per["served"] == connections, per
    assert 1 <= per["min_messages"] <= per["max_messages"] <= doc["totals"]["messages"], per
    assert per["min_messages"] * connections <= doc["totals"]["messages"] <= per["max_messages"] * connections, per
    assert "got no echo" not in stderr


def test_message_count_is_exact(reference, tmp_path):
    out = tmp_path / "r.json"
    result = run_loadgen("--port", reference.port, "--messages", 1001, "--connections", 3, "--size", 3000,
                         "--json", out)
    assert result.returncode == 0, result.stderr
    doc = load_results(out)
    check_sane(doc, "pingpong")
    assert doc["totals"]["messages"] == 1001 and doc["totals"]["bytes"] == 1001 * 3000


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this host has no ::1")
def test_json_to_stdout_and_ipv6(tmp_path):
    server = EchoServer("reference-epoll", ["--bind", "::1"])
    try:
        server.start()
        result = run_loadgen("--host", "::1", "--port", server.port, "--messages", 200, "--json", "-")
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout, parse_constant=reject_constant)
        assert doc["totals"]["messages"] == 200 and doc["config"]["host"] == "::1"
    finally:
        server.kill()


class CorruptingEchoServer:
    """Echoes faithfully, except that it flips one byte at stream offset
    `at` of every connection."""

    def __init__(self, at=100):
        self.at = at
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        offset = 0
        with conn:
            while True:
                try:
                    data = bytearray(conn.recv(65536))
                except OSError:
                    return
                if not data:
                    return
                if offset <= self.at < offset + len(data):
                    data[self.at - offset] ^= 0x01
                offset += len(data)
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self):
        self.stopping = True
        self.listener.close()


@pytest.fixture
def corrupting_server():
    server = CorruptingEchoServer()
    yield server
    server.close()


class OneConnectionEchoServer:
    """Accepts every connection but echoes on the first one only, as a server
    that serves one client at a time does while that client stays: the
    others' bytes are read and dropped, and each is closed at its client's
    end. With `echo_for_s`, it stops echoing that long after it started."""

    def __init__(self, echo_for_s=None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.echo_until = time.monotonic() + echo_for_s if echo_for_s is not None else None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        echoing = True
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, echoing), daemon=True).start()
            echoing = False

    def _serve(self, conn, echoing):
        with conn:
            try:
                while data := conn.recv(65536):
                    if echoing and (self.echo_until is None or time.monotonic() < self.echo_until):
                        conn.sendall(data)
            except OSError:
                return

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_a_server_that_echoes_on_one_connection_shows_as_one_served(tmp_path, threads):
    """Totals alone would make it look like a slow server: the document says
    1 of 4 connections got echoes, and the summary names the other 3. The
    others wait within the reply timeout, so the run counts no error."""
    server = OneConnectionEchoServer()
    out = tmp_path / "r.json"
    try:
        result = run_loadgen("--port", server.port, "--connections", 4, "--threads", threads, "--duration", 1,
                             "--warmup", 0.2, "--json", out)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    doc = load_results(out)
    per = doc["per_connection"]
    assert per["connections"] == 4 and per["served"] == 1 and per["min_messages"] == 0, per
    assert per["max_messages"] == doc["totals"]["messages"] > 0, per
    assert "3 of 4 connections got no echo in the measured window" in result.stderr


def test_echoes_in_the_warm_up_only_serve_no_connection(tmp_path):
    """Only the measured window counts: a connection echoed during the
    warm-up, then never again, was not served."""
    server = OneConnectionEchoServer(echo_for_s=0.3)
    out = tmp_path / "r.json"
    try:
        result = run_loadgen("--port", server.port, "--connections", 2, "--duration", 0.5, "--warmup", 0.8,
                             "--json", out)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    doc = load_results(out)
    assert doc["totals"]["messages"] == 0
    assert doc["per_connection"] == {"connections": 2, "served": 0, "min_messages": 0, "max_messages": 0}
    assert "2 of 2 connections got no echo in the measured window" in result.stderr


def test_connections_that_messages_leaves_without_one_are_not_counted(reference, tmp_path):
    """--messages 2 over 4 connections gives two of them nothing to send:
    they are not connections that went unserved."""
    out = tmp_path / "r.json"
    result = run_loadgen("--port", reference.port, "--connections", 4, "--messages", 2, "--json", out)
    assert result.returncode == 0, result.stderr
    per = load_results(out)["per_connection"]
    assert per == {"connections": 2, "served": 2, "min_messages": 1, "max_messages": 1}, per
    assert "got no echo" not in result.stderr


def test_corrupted_byte_is_a_mismatch(corrupting_server, tmp_path):
    out = tmp_path / "r.json"
    result = run_loadgen("--port", corrupting_server.port, "--duration", 1, "--json", out)
    assert result.returncode == 1, result.stderr
    doc = load_results(out)
    assert doc["errors"]["mismatch"] == 1 and doc["exit_code"] == 1
    assert "mismatch 1" in result.stderr


def test_corruption_goes_unseen_with_no_verify(corrupting_server, tmp_path):
    result = run_loadgen("--port", corrupting_server.port, "--messages", 50, "--no-verify")
    assert result.returncode == 0, result.stderr


def test_silent_server_is_a_timeout(tmp_path):
    """A server that accepts and reads but never answers: the reply timeout
    ends the run, with the JSON written."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def swallow():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=swallow, daemon=True).start()
    out = tmp_path / "r.json"
    try:
        result = run_loadgen("--port", listener.getsockname()[1], "--connections", 2, "--duration", 20,
                             "--timeout", 0.5, "--json", out, timeout=15)
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert result.returncode == 1, result.stderr
    doc = load_results(out)
    assert doc["errors"]["timeout"] == 2 and doc["ended_early"] is True


EXHAUSTION_SCRIPT = """
set -e
ip link set lo up
echo "40000 40009" > /proc/sys/net/ipv4/ip_local_port_range
"$1" --port 7007 --no-stdin-stop >/dev/null &
server=$!
trap 'kill $server' EXIT
sleep 0.5
set +e
"$2" --port 7007 --workload churn --concurrency 30 --duration 10 --json "$3"
echo "exit=$?"
"""


def test_ephemeral_port_exhaustion_is_a_clear_error(tmp_path):
    """In a private network namespace with 10 ephemeral ports, 30 concurrent
    churn operations must stop the run with a clear error, not stall."""
    try:
        server = server_command("reference-epoll")[0]
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user/network namespaces here (unshare -rn)")
    out = tmp_path / "r.json"
    result = subprocess.run(["unshare", "-rn", "sh", "-c", EXHAUSTION_SCRIPT, "sh", server, str(loadgen_path()), str(out)],
                            capture_output=True, text=True, timeout=30)
    assert "exit=1" in result.stdout, result.stdout + result.stderr
    assert "EADDRNOTAVAIL" in result.stderr
    doc = load_results(out)
    assert doc["errors"]["connect_failed"] >= 1 and "EADDRNOTAVAIL" in doc["fatal"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UNREACHABLE_ARGS = {
    "pingpong": ["--connections", 3],
    "churn": ["--workload", "churn", "--concurrency", 3, "--threads", 3],
    "idle": ["--workload", "idle", "--connections", 2, "--idle", 20, "--threads", 2],
}


def assert_one_line_unreachable(result, reason):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("loadgen: cannot connect"), result.stderr
    assert reason in lines[0], result.stderr


@pytest.mark.parametrize("workload", sorted(UNREACHABLE_ARGS))
def test_unreachable_server_exits_2_within_connect_timeout(tmp_path, workload):
    """Nobody listens: every connect is refused, none ever succeeds. The JSON
    is still written, saying why."""
    out = tmp_path / "r.json"
    started = time.monotonic()
    result = run_loadgen("--port", free_port(), *UNREACHABLE_ARGS[workload], "--connect-timeout", 2, "--duration", 30,
                         "--json", out, timeout=20)
    assert time.monotonic() - started < 15  # far below --duration: the run did not go on
    assert_one_line_unreachable(result, "refused")
    doc = load_results(out)
    assert doc["exit_code"] == 2 and doc["fatal"].startswith("cannot connect")
    assert doc["errors"]["connect_failed"] >= 1 and doc["totals"]["messages"] == 0


@pytest.fixture
def full_backlog():
    """A listener whose accept queue is full: further connects get no answer
    at all and time out (Linux drops their SYNs), as with a firewalled host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = []
    for _ in range(8):
        client = socket.socket()
        client.settimeout(0.5)
        try:
            client.connect(("127.0.0.1", port))
        except OSError:
            client.close()
            break
        held.append(client)
    else:
        pytest.skip("the accept queue never filled up: connects cannot be made to time out here")
    yield port
    for client in held:
        client.close()
    listener.close()


@pytest.mark.parametrize("workload", ["pingpong", "churn"])
def test_silent_address_exits_2_after_connect_timeout(full_backlog, workload):
    result = run_loadgen("--port", full_backlog, *UNREACHABLE_ARGS[workload], "--connect-timeout", 0.5,
                         "--duration", 30, timeout=20)
    assert_one_line_unreachable(result, "timed out")


def test_server_counts_exactly_the_run_connections(reference, tmp_path):
    """No probe or spare connection: the server accepts --connections
    connections for a pingpong run, so per-connection figures are right."""
    result = run_loadgen("--port", reference.port, "--connections", 5, "--messages", 500)
    assert result.returncode == 0, result.stderr
    stats = reference.stop()
    assert stats["connections_accepted"] == 5, stats
    assert stats["bytes_received"] == stats["bytes_sent"] == 500 * 64


@pytest.mark.parametrize("workload", ["pingpong", "churn"])
def test_server_killed_mid_run_ends_the_run_with_errors(tmp_path, workload):
    try:
        server = EchoServer("reference-epoll").start()
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    out = tmp_path / "r.json"
    args = ["--connections", 4] if workload == "pingpong" else ["--concurrency", 4]
    run = None
    try:
        run = subprocess.Popen([str(loadgen_path()), "--port", str(server.port), "--workload", workload, *map(str, args),
                                "--duration", "30", "--timeout", "3", "--json", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        server.kill()
        _, stderr = run.communicate(timeout=20)
    finally:
        server.kill()
        if run and run.poll() is None:
            run.kill()
    assert run.returncode == 1, stderr
    doc = load_results(out)
    assert sum(doc["errors"].values()) > 0 and doc["ended_early"] is True
    assert doc["totals"]["duration_s"] < 25


@pytest.mark.parametrize("args", [
    [], ["--port", "0"], ["--port", "7", "--workload", "nope"], ["--port", "7", "--no-such-option"],
    ["--port", "7", "--size"], ["--port", "7", "--connections", "0"], ["--port", "7", "--duration", "-1"],
    ["--port", "7", "--messages", "5", "--duration", "1"], ["--port", "7", "--workload", "rate"],
    ["--port", "7", "--rate", "10"], ["--port", "7", "--threads", "2"], ["--port", "7", "--depth", "x"],
    ["--port", "7", "--no-verify=1"],
])
def test_bad_option_exits_2_with_one_line(args):
    result = run_loadgen(*args, timeout=10)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("loadgen: "), result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args, needed", [(["--connections", 25000], 25020),
                                          (["--workload", "idle", "--connections", 10, "--idle", 500], 530),
                                          (["--workload", "churn", "--concurrency", 300], 320)])
def test_the_fd_limit_is_named_with_the_number_needed_before_any_connect(args, needed):
    """Past the fd limit (hard limit 64 here, so it cannot be raised) loadgen says so at once, naming
    RLIMIT_NOFILE and the count needed, instead of failing its connects. The port is never used."""
    command = " ".join([str(loadgen_path()), "--port", str(free_port()), "--duration", "0.2"] + [str(a) for a in args])
    result = subprocess.run(["sh", "-c", f"ulimit -n 64 && exec {command}"], capture_output=True, text=True,
                            timeout=10, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert f"needs about {needed} file descriptors, but the fd limit (RLIMIT_NOFILE) is 64" in result.stderr
    assert f"ulimit -n {needed}" in result.stderr


def test_a_soft_fd_limit_below_the_hard_one_is_raised(reference):
    """The soft limit is only a default: loadgen raises it up to the hard limit and runs."""
    command = f"{loadgen_path()} --port {reference.port} --connections 200 --duration 0.2"
    result = subprocess.run(["sh", "-c", f"ulimit -Sn 64 && ulimit -Hn 1024 && exec {command}"], capture_output=True,
                            text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, expected", [(["--size", "0"], "--size 0: is out of range (--size takes 1 to 67108864)"),
                                            (["--threads", "300"], "(--threads takes 1 to 256)")])
def test_range_errors_state_the_range(args, expected):
    result = run_loadgen("--port", "7", *args, timeout=10)
    assert result.returncode == 2 and expected in result.stderr


def test_help_exits_0():
    result = run_loadgen("--help", timeout=10)
    assert result.returncode == 0
    assert "usage: loadgen" in result.stdout and "--workload" in result.stdout


def test_pingpong_against_iocp_under_wine(tmp_path):
    try:
        server_command("iocp")
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    server = EchoServer("iocp")
    try:
        server.start()
        out = tmp_path / "r.json"
        result = run_loadgen("--port", server.port, "--connections", 2, "--messages", 2000, "--json", out)
        assert result.returncode == 0, result.stderr
        doc = load_results(out)
        check_sane(doc, "pingpong")
        assert doc["totals"]["messages"] == 2000 and not any(doc["errors"].values())
        stats = server.stop()
        assert stats["bytes_received"] == stats["bytes_sent"] == 2000 * 64
    finally:
        server.kill()

"""The Windows build of the load generator (loadgen.exe: net_winsock.c,
platform_win32.c) run under Wine against the native Linux reference server:
every workload, the command line, an unreachable server, and a server that
dies mid-run (whose close Wine 8 may report as POLLHUP alone). Every run is
bounded by a subprocess timeout; nothing asserts on speed."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from test_loadgen import RUN_TIMEOUT, ROOT, check_sane, free_port, load_results, reject_constant
from harness.platforms.wine import WINE_RUN
from harness.servers import EchoServer, server_command

ESTABLISHED_TIMEOUT = 30.0


def loadgen_exe():
    """WSB_LOADGEN_EXE, else the mingw preset's build. Missing is a failure:
    scripts/build.sh builds the mingw preset, so it is there when tests run."""
    path = Path(os.environ.get("WSB_LOADGEN_EXE", ROOT / "build" / "mingw" / "loadgen" / "loadgen.exe"))
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the mingw preset "
                    "(cmake --preset mingw && cmake --build --preset mingw), or set WSB_LOADGEN_EXE")
    return path


def run_exe(*args, timeout=RUN_TIMEOUT):
    return subprocess.run([str(WINE_RUN), str(loadgen_exe())] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def parse_stdout_json(result):
    return json.loads(result.stdout, parse_constant=reject_constant)


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


# Small counts: every Winsock call under Wine goes through the wineserver.
# The idle run holds a few hundred sockets in one WSAPoll array.
WORKLOADS = {
    "pingpong": ["--connections", 4],
    "pingpong-2-loops": ["--workload", "pingpong", "--connections", 4, "--threads", 2],
    "pipeline": ["--connections", 2, "--depth", 16, "--size", 1000],
    "rate": ["--connections", 4, "--rate", 2000],
    "churn": ["--concurrency", 4],
    "idle": ["--connections", 2, "--idle", 400],
}


def workload_args(name):
    args = WORKLOADS[name]
    return args if "--workload" in args else ["--workload", name] + args


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_runs_clean_under_wine(reference, name):
    result = run_exe("--port", reference.port, *workload_args(name), "--duration", 1, "--warmup", 0.2,
                     "--json", "-")
    assert result.returncode == 0, result.stderr
    doc = parse_stdout_json(result)
    workload = doc["config"]["workload"]
    check_sane(doc, workload)
    assert not any(doc["errors"].values()), doc["errors"]
    assert doc["ended_early"] is False and doc["fatal"] is None and doc["exit_code"] == 0
    assert "(Wine " in doc["environment"]["os"], doc["environment"]
    if workload == "rate":
        assert doc["requested_rate"] == 2000 and doc["achieved_rate"] > 0
        assert doc["latency_uncorrected_us"]["count"] == doc["totals"]["messages"]
    if workload == "churn":
        assert doc["connections"] == doc["totals"]["messages"] and doc["connect_latency_us"]["count"] > 0
    if workload == "idle":
        assert doc["config"]["idle"] == 400


def test_json_and_csv_files_through_wine_paths(reference, tmp_path):
    """Linux absolute paths reach the files through Wine's Z: drive."""
    out, csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = run_exe("--port", reference.port, "--messages", 500, "--connections", 2, "--size", 3000,
                     "--json", out, "--csv", csv)
    assert result.returncode == 0, result.stderr
    doc = load_results(out)
    check_sane(doc, "pingpong")
    assert doc["totals"]["messages"] == 500 and doc["totals"]["bytes"] == 500 * 3000
    rows = csv.read_text().splitlines()
    assert rows[0] == "second,messages,p99_us,errors" and len(rows) == 1 + len(doc["time_series"])


def test_help_exits_0():
    result = run_exe("--help", timeout=30)
    assert result.returncode == 0, result.stderr
    assert "usage: loadgen" in result.stdout and "--workload" in result.stdout


@pytest.mark.parametrize("args", [["--port", "70000"], ["--port", "7", "--workload", "nope"]])
def test_bad_option_exits_2_with_one_line(args):
    result = run_exe(*args, timeout=30)
    assert result.returncode == 2, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("loadgen: "), result.stderr


def test_unreachable_server_exits_2_with_one_line():
    """Refused at once (the connect timeout is only the bound)."""
    result = run_exe("--port", free_port(), "--connect-timeout", 2, "--duration", 5, timeout=30)
    assert result.returncode == 2, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and "cannot connect" in lines[0] and "refused" in lines[0], result.stderr


def established_to(port):
    """Established TCP connections whose local end is `port` (the server's side), from /proc."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def wait_for_established(port, wanted, run):
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT
    while time.monotonic() < deadline and run.poll() is None:
        if established_to(port) >= wanted:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("name", ["pingpong", "idle"])
def test_server_dying_mid_run_reaches_every_connection(tmp_path, name):
    """The server's FIN must reach each connection as an early close or a
    reset, not as silence until the reply timeout: under Wine 8 WSAPoll may
    report it as POLLHUP with no POLLRDNORM, and idle connections only ever
    wait for readability."""
    try:
        server_command("reference-epoll")
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    active, idle = 2, (50 if name == "idle" else 0)
    args = ["--connections", active] + (["--idle", idle] if idle else [])
    server = EchoServer("reference-epoll").start()
    out = tmp_path / "r.json"
    run = None
    try:
        run = subprocess.Popen([str(WINE_RUN), str(loadgen_exe()), "--port", str(server.port), "--workload", name,
                                *map(str, args), "--duration", "20", "--timeout", "5", "--json", str(out)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        connected = wait_for_established(server.port, active + idle, run)
        server.kill()
        _, stderr = run.communicate(timeout=RUN_TIMEOUT)
    finally:
        server.kill()
        if run and run.poll() is None:
            run.kill()
    assert connected, f"loadgen never opened its connections: {stderr}"
    assert run.returncode == 1, stderr
    doc = load_results(out)
    errors = doc["errors"]
    assert errors["timeout"] == 0, errors
    assert errors["early_close"] + errors["reset"] == active + idle, errors
    assert doc["ended_early"] is True

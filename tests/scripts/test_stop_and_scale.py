"""scripts/measure/stop_and_scale.py at a small size: two models (the native
reference and one Winsock readiness model under Wine), 100 idle
connections, a few echoes. Checks the shape of what it prints and writes
and that every figure is there; no figure is judged (speed goals are not
unit tests). Its --help, --version and bad options are checked with every
script's in test_script_options.py."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.loadgen import LoadgenNotFound, find_loadgen
from harness import platforms

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "measure" / "stop_and_scale.py"
MODELS = ("reference-epoll", "select")
IDLE = 100
ECHOES = 3
STREAMING = 5


def built_or_skip():
    missing = [m for m in MODELS if not platforms.current().server_executable(m).is_file()]
    try:
        find_loadgen()
    except LoadgenNotFound:
        missing.append("loadgen")
    if missing:
        pytest.skip(f"not built: {', '.join(missing)} (scripts/build.sh)")


def run_script(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    built_or_skip()
    out = tmp_path_factory.mktemp("stop-and-scale") / "figures.json"
    done = run_script("--servers", ",".join(MODELS), "--idle", str(IDLE), "--echoes", str(ECHOES),
                      "--streaming", str(STREAMING), "--stream-seconds", "1", "--json", str(out))
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def table_rows(stdout, title_start):
    """The rows of the table whose title starts so: the lines after its
    header, up to the blank line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows.append(line.split())
    return lines[start + 1].split(), rows


def test_the_stop_table_has_a_row_per_model_with_time_exit_code_and_stats(small_run):
    stdout, _ = small_run
    header, rows = table_rows(stdout, "Stop under load")
    assert header[:6] == ["model", "stop_s", "to_stats_s", "exit", "stats", "echoed"]
    assert [row[0] for row in rows] == list(MODELS)
    for row in rows:
        assert 0 <= float(row[2]) <= float(row[1]) and row[3] == "0" and row[4] == "yes", row


def test_the_idle_table_has_a_row_per_model_and_count_with_the_echo_figures(small_run):
    stdout, _ = small_run
    header, rows = table_rows(stdout, "Active 4 KiB echo")
    assert header[:10] == ["model", "N", "held", "p50_ms", "max_ms", "worst_delay_ms", "stop_s", "to_stats_s", "exit",
                           "peak_conn"]
    assert [(row[0], row[1]) for row in rows] == [(m, str(IDLE)) for m in MODELS]
    for row in rows:
        assert row[2] == str(IDLE), row                     # every idle connection accepted
        assert 0 <= float(row[3]) <= float(row[4]), row     # median <= max
        assert 0 <= float(row[7]) <= float(row[6]) and row[8] == "0", row
        assert int(row[9]) >= IDLE + 1, row                 # the idle ones and the active one


def test_the_json_holds_the_same_figures(small_run):
    _, figures = small_run
    assert figures["schema"] == "winsock-bench/stop-and-scale/1"
    assert figures["version"].startswith("stop_and_scale.py winsock-bench ")
    assert [r["model"] for r in figures["stop_under_load"]] == list(MODELS)
    for record in figures["stop_under_load"]:
        assert record["clients"] == STREAMING and record["stopped_by"] == "stdin"
        assert record["exit_code"] == 0 and record["stats_line"] is True
        assert 0 <= record["server_stop_s"] <= record["stop_s"], record
        assert record["messages_before_stop"] > 0, record
    for record in figures["idle_echo"]:
        assert record["idle"] == record["held"] == IDLE and record["backlog"] == 0
        assert record["echoes"] == ECHOES and record["failure"] is None, record
        assert record["echo_p50_ms"] <= record["echo_max_ms"]
        assert record["exit_code"] == 0 and record["stats_line"] is True
    # The readiness engine measures its service delay; the native reference does not.
    by_model = {r["model"]: r for r in figures["idle_echo"]}
    assert by_model["reference-epoll"]["worst_service_delay_ms"] is None
    assert "worst_service_delay_ms" in by_model["select"]  # a number once a probe has come back


def test_a_model_capped_by_its_max_connections_says_so():
    from importlib import util
    spec = util.spec_from_file_location("stop_and_scale", SCRIPT)
    script = util.module_from_spec(spec)
    spec.loader.exec_module(script)
    held, why = script.capped_idle("thread", 9000, uncapped=False)
    assert held < 9000 and "max_connections" in why and "thread" in why
    assert script.capped_idle("thread", 9000, uncapped=True) == (9000, None)
    assert script.capped_idle("iocp", 9000, uncapped=False) == (9000, None)


def test_a_missing_build_folder_is_refused_in_one_line():
    done = run_script("--servers", "select", "--servers-dir", "/nonexistent/servers", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--servers-dir" in done.stderr, done.stderr

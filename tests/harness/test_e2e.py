"""End to end, as a user runs it: the smoke suite on two real servers (iocp
under Wine, the native reference) with the real load generator, then the
report, then a comparison of the run with a copy made slower in one cell;
and a one-point run that checks the wineserver's CPU is counted. About two
minutes; it asserts on results being there and well-formed, never on speed."""
import base64
from collections import Counter
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
from harness import stats
from harness.analysis.cells import load_cells
from harness.loadgen import LoadgenNotFound, find_loadgen
from harness.servers import server_command
from harness.store import record_path

SERVERS = ["iocp", "reference-epoll"]
RUN_TIMEOUT = 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def require_built(servers):
    try:
        find_loadgen()
        for server in servers:
            server_command(server)
    except (LoadgenNotFound, FileNotFoundError) as missing:
        pytest.fail(f"{missing} (scripts/build.sh builds everything)")


def read_records(run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return manifest, [(item, json.loads(record_path(run_dir, item).read_text())) for item in manifest["plan"]]


def harness(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run shared by the tests below."""
    require_built(SERVERS)
    run_dir = tmp_path_factory.mktemp("e2e") / "smoke"
    done = harness("run", "--suite", "smoke", "--servers", ",".join(SERVERS), "--out", run_dir, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"python3 -m harness report {run_dir}" in done.stderr
    return run_dir


def test_smoke_run_records_every_plan_item_ok(smoke_run):
    manifest = json.loads((smoke_run / "manifest.json").read_text())
    assert manifest["suite"] == "smoke" and manifest["servers"] == SERVERS and manifest["finished_at"]
    assert manifest["platform"]["wine"] and manifest["platform"]["cpu_count"] >= 1
    workloads = {point["workload"] for point in manifest["points"]}
    assert workloads == {"pingpong", "pipeline", "rate", "churn", "idle"}
    repetitions = manifest["repetitions"]
    per_cell = Counter((item["point"], item["server"]) for item in manifest["plan"])
    assert len(per_cell) == len(manifest["points"]) * len(SERVERS)
    assert all(repetitions["min"] <= count <= repetitions["max"] for count in per_cell.values())
    assert repetitions["stopped_by"] in ("settled", "max", "budget")
    for item, record in read_records(smoke_run)[1]:
        assert record["status"] == "ok", f"{item}: {record['failure']}"
        assert record["loadgen"]["totals"]["messages"] > 0
        machine = record["machine"]
        assert machine["other_cpu_cores"] >= 0 and isinstance(machine["busy"], bool)
        assert len(machine["loadavg_before"]) == 3 and "governor" in machine
        assert (record["wineserver_cpu_s"] is None) == (item["server"] == "reference-epoll")
        assert record["server_stats"]["model"] == item["server"]
        assert record["server_stats"]["bytes_received"] == record["server_stats"]["bytes_sent"]


def test_report_embeds_non_empty_png_charts(smoke_run):
    done = harness("report", smoke_run)
    assert done.returncode == 0, done.stderr
    html_path, md_path = (Path(line) for line in done.stdout.split())
    assert html_path == smoke_run / "report.html" and md_path == smoke_run / "report.md"
    page = html_path.read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert images, "report.html embeds no chart"
    for encoded in images:
        data = base64.b64decode(encoded)
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    for server in SERVERS:
        assert server in page
    assert md_path.read_text().strip()


def judged_cell(run_dir):
    """The pingpong or pipeline cell compare can judge best: 6 repetitions or more
    (a 95% interval of each median), a load generator that did not saturate, and
    of those the narrowest intervals (this machine is shared: some cells are very noisy)."""
    cells = [cell for cell in load_cells(run_dir)[1] if cell.workload in ("pingpong", "pipeline")
             and not cell.lower_bound and cell.throughput and cell.throughput.n >= stats.min_reps_for_interval()]
    assert cells, "no cell with 6 repetitions (the smoke suite runs 6 at least)"
    best = min(cells, key=lambda cell: max(estimate.high / estimate.low for estimate in (cell.throughput, cell.p99_us)))
    return best.point_id, best.server


def test_compare_flags_a_slowdown_of_one_cell_and_nothing_else(smoke_run, tmp_path):
    # a copy of the run in which one cell is 10x slower, far beyond the noise between repetitions
    point, server = judged_cell(smoke_run)
    slower = tmp_path / "slower"
    shutil.copytree(smoke_run, slower)
    for path in (slower / "points" / point).glob(f"{server}.current.r*.json"):
        record = json.loads(path.read_text())
        record["loadgen"]["messages_per_s"] /= 10
        record["loadgen"]["latency_us"]["p99"] *= 10
        path.write_text(json.dumps(record))
    done = harness("compare", smoke_run, slower)
    assert done.returncode == 1, done.stdout + done.stderr
    flagged = [line.split()[:3] for line in done.stdout.splitlines() if line.endswith("REGRESSION")]
    assert flagged == [[point, server, "throughput"], [point, server, "p99"]], done.stdout


WINE_CPU_SUITE = """description = "the wineserver's CPU is counted"
reps = 1
servers = ["select", "reference-epoll"]
[[point]]
id = "pingpong-c4"
workload = "pingpong"
connections = 4
duration = 0.5
warmup = 0.1
"""


def test_the_wineserver_cpu_is_counted_for_a_winsock_server_and_not_for_the_native_one(tmp_path):
    require_built(["select", "reference-epoll"])
    suite = tmp_path / "wine-cpu.toml"
    suite.write_text(WINE_CPU_SUITE)
    done = harness("run", "--suite", suite, "--out", tmp_path / "run", timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    by_server = {item["server"]: record for item, record in read_records(tmp_path / "run")[1]}
    assert by_server["select"]["wineserver_cpu_s"] > 0  # under Wine, select() is the wineserver's work
    assert by_server["reference-epoll"]["wineserver_cpu_s"] is None


def test_a_reader_that_stops_early_gets_no_traceback():
    # `python3 -m harness list | head -1`: the read end closes before the harness writes
    process = subprocess.Popen([sys.executable, "-m", "harness", "list"], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr

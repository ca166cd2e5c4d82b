"""The run package: plan order (seeded, interleaved rounds), atomic records,
resume, servers that crash, hang before their ready line or never stop,
adaptive repetitions and load generator auto-scaling. The servers here are
small Python stand-ins (fake_servers/) given to the run through an explicit
registry; the load generator is the real one, except where the figures must
be chosen (fake_servers/loadgen.py)."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
from harness import loadgen, models, report, store, suites
from harness.analysis.cells import load_cells, unsupported_servers
from harness import run as runner
from harness.run import autoscale, noise, placement
from harness.run.plan import make_plan

FAKES = Path(__file__).resolve().parent / "fake_servers"
FAKE_COMMANDS = {
    "echo": [FAKES / "echo.py"],
    "echo2": [FAKES / "echo.py"],
    "crash": [FAKES / "crash.py"],
    "never-ready": [FAKES / "never_ready.py"],
    "never-stops": [FAKES / "echo.py", "--ignore-stop"],
    "stdin-deaf": [FAKES / "echo.py", "--ignore-stdin"],
    "unsupported": [FAKES / "unsupported.py"],
}


class FakeServers:
    """Stand-ins for the real servers: each name runs a Python script."""
    names = list(FAKE_COMMANDS)

    def skip_reason(self, server):
        return None

    def command(self, server, variant):
        return [sys.executable] + [str(part) for part in FAKE_COMMANDS[server]]

    def needs_wine(self, server):
        return False

    def platform(self, server):
        return "native"


def fake_suite(servers, points, reps=1, timeouts="server_start = 5\nserver_stop = 5\nloadgen_margin = 20"):
    text = (f'description = "runner test"\nreps = {reps}\nservers = {json.dumps(servers)}\n'
            f"[timeouts]\n{timeouts}\n[defaults]\nduration = 0.3\n" + points)
    return suites.parse_suite(text, Path("runner-test.toml"), FakeServers.names)


TWO_POINTS = ('[[point]]\nid = "pp-c{connections}"\nworkload = "pingpong"\nconnections = [1, 2]\n')


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """These runs count their records, and the adaptive rounds retake a
    repetition taken on a busy machine (run/rounds.py): whatever else runs on
    the test machine must not add one. test_rounds.py tests the retake."""
    monkeypatch.setattr(noise, "BUSY_OTHER_CORES", float("inf"))


@pytest.fixture(autouse=True)
def loadgen_built():
    try:
        loadgen.find_loadgen()
    except loadgen.LoadgenNotFound as missing:
        pytest.fail(str(missing))


def run_fake(suite, out, **options):
    stream = io.StringIO()
    code, run_dir = runner.new_run(suite, suite.servers, out=out, registry=FakeServers(), stream=stream,
                                   variants=[runner.Variant("current", FAKES, FAKES, "0" * 40, False)], **options)
    return code, run_dir, stream.getvalue()


def records(run_dir):
    return {path.relative_to(run_dir / "points").as_posix(): json.loads(path.read_text())
            for path in sorted((run_dir / "points").glob("*/*.json"))}


# --- the plan ----------------------------------------------------------------

def cells_of(servers, point_ids):
    points = [suites.Point(id=i, workload="pingpong", loadgen_args={"duration": 1}) for i in point_ids]
    return [(p, s) for p in points for s in servers]


def test_same_seed_same_order_other_seed_other_order():
    cells = cells_of(["a", "b", "c"], ["p1", "p2", "p3", "p4"])
    first = make_plan(cells, ["current"], 3, seed=7)
    assert first == make_plan(cells, ["current"], 3, seed=7)
    assert first != make_plan(cells, ["current"], 3, seed=8)


def test_each_round_visits_every_cell_once_before_the_next_round():
    cells = cells_of(["a", "b", "c"], ["p1", "p2", "p3", "p4"])
    plan = make_plan(cells, ["base", "current"], 3, seed=1)
    every = {(p.id, s, v) for p, s in cells for v in ("base", "current")}
    size = len(every)
    assert len(plan) == 3 * size
    for rep in range(3):
        round_items = plan[rep * size:(rep + 1) * size]
        assert {item["rep"] for item in round_items} == {rep}
        assert {(i["point"], i["server"], i["variant"]) for i in round_items} == every
    # shuffled: the rounds do not all repeat one fixed order
    orders = [[(i["point"], i["server"], i["variant"]) for i in plan[r * size:(r + 1) * size]] for r in range(3)]
    assert len({tuple(order) for order in orders}) > 1


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "points" / "p" / "x.current.r0.json"
    store.write_json_atomic(target, {"a": 1})
    store.write_json_atomic(target, {"b": [1, 2]})
    assert json.loads(target.read_text()) == {"b": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["x.current.r0.json"]


# --- runs with stand-in servers ------------------------------------------------

def test_a_run_writes_the_manifest_and_one_ok_record_per_plan_item(tmp_path):
    suite = fake_suite(["echo", "echo2"], TWO_POINTS, reps=2)
    code, run_dir, log = run_fake(suite, tmp_path / "run", seed=5)
    assert code == 0, log
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["schema"] == "winsock-bench/run/1" and manifest["seed"] == 5 and manifest["reps"] == 2
    assert manifest["suite_text"] == suite.text and manifest["finished_at"] is not None
    assert manifest["variants"]["current"]["commit"] == "0" * 40
    usable = sorted(os.sched_getaffinity(0))  # the default placement: server on the first CPUs, load on the last
    assert manifest["placement"] == {"mode": "colocated", "server_cpus": usable[:-1], "wineserver_cpus": usable[:-1],
                                     "loadgen_cpus": usable[-1:]}
    assert [p["id"] for p in manifest["points"]] == ["pp-c1", "pp-c2"]
    assert manifest["points"][0]["sweep"] == {"name": "pingpong-connections", "param": "connections", "value": 1}
    assert len(manifest["plan"]) == 8 and manifest["platform"]["cpu_count"] == os.cpu_count()
    found = records(run_dir)
    assert sorted(found) == sorted(f"{i['point']}/{i['server']}.current.r{i['rep']}.json" for i in manifest["plan"])
    for record in found.values():
        assert record["status"] == "ok" and record["failure"] is None, record["failure"]
        assert record["loadgen"]["schema"] == "winsock-bench/loadgen/1" and record["loadgen_exit"] == 0
        assert record["loadgen"]["config"]["connections"] == record["point"]["loadgen_args"]["connections"]
    for record in found.values():  # read back from the running processes, not copied from the request
        placed = record["placement"]
        assert placed["held"] and placed["mode"] == "colocated", placed
        assert placed["server_cpus"] == usable[:-1] and placed["loadgen_cpus"] == usable[-1:]
        assert placed["wineserver_cpus"] is None and placed["at_end"]["server_cpus"] == usable[:-1]
        assert record["server_ready"]["event"] == "ready" and record["server_stats"]["event"] == "stats"
        assert record["server_stats"]["bytes_sent"] == record["server_stats"]["bytes_received"] > 0
        assert record["server_stopped_by"] == "stdin"
        assert record["wineserver_cpu_s"] is None  # no Wine here
        assert record["machine"]["other_cpu_cores"] >= 0 and record["machine"]["waited_s"] is None
    assert "[1/8]" in log and "[8/8]" in log and "8 runs: 8 ok, 0 failed" in log
    assert f"python3 -m harness report {run_dir}" in log


def test_wait_idle_is_recorded_in_the_manifest_and_each_record(tmp_path):
    suite = fake_suite(["echo"], '[[point]]\nid = "p"\nworkload = "pingpong"\n')
    code, run_dir, log = run_fake(suite, tmp_path / "run", wait_idle_s=1.0)
    assert code == 0, log
    assert json.loads((run_dir / "manifest.json").read_text())["wait_idle_s"] == 1.0
    (record,) = records(run_dir).values()
    assert 0 <= record["machine"]["waited_s"] <= 3  # one look (1 s) and at most 1 s more of waiting


def test_crashing_hanging_and_unstoppable_servers_fail_their_items_and_the_rest_runs(tmp_path):
    suite = fake_suite(["crash", "echo", "never-ready", "never-stops", "stdin-deaf"],
                       '[[point]]\nid = "p"\nworkload = "pingpong"\n',
                       timeouts="server_start = 2\nserver_stop = 1\nloadgen_margin = 20")
    code, run_dir, log = run_fake(suite, tmp_path / "run")
    assert code == 1
    found = {record["server"]: record for record in records(run_dir).values()}
    assert sorted(found) == ["crash", "echo", "never-ready", "never-stops", "stdin-deaf"]
    assert found["echo"]["status"] == "ok"

    crash = found["crash"]
    assert crash["status"] == "failed" and "before its ready line" in crash["failure"]
    assert "address already in use (fake)" in crash["server_stderr"]
    never_ready = found["never-ready"]
    assert never_ready["status"] == "failed" and "no ready line within 2 s" in never_ready["failure"]
    assert "stuck before listening" in never_ready["server_stderr"]
    never_stops = found["never-stops"]
    assert never_stops["status"] == "failed" and "killed" in never_stops["failure"]
    assert never_stops["server_stopped_by"] == "kill" and never_stops["loadgen_exit"] == 0
    deaf = found["stdin-deaf"]  # the SIGINT fallback stops it, but it broke the contract
    assert deaf["status"] == "failed" and "SIGINT stopped it" in deaf["failure"]
    assert deaf["server_stopped_by"] == "sigint" and deaf["server_stats"]["event"] == "stats"
    for record in found.values():
        assert "\n" not in (record["failure"] or "")
    assert "5 runs: 1 ok, 4 failed" in log and log.count("FAILED") == 4
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["finished_at"] is not None


def test_a_model_the_platform_lacks_is_recorded_unsupported_not_failed(tmp_path):
    suite = fake_suite(["echo", "unsupported"], TWO_POINTS, reps=2)
    code, run_dir, log = run_fake(suite, tmp_path / "run")
    assert code == 0, log
    found = records(run_dir)
    unsupported = [r for r in found.values() if r["server"] == "unsupported"]
    assert len(unsupported) == 4 and len(found) == 8
    for record in unsupported:
        assert record["status"] == "unsupported"
        assert record["failure"] == "unsupported: Registered I/O (RIO) is not available on this platform (fake)"
        assert record["loadgen"] is None and record["loadgen_argv"] is None and record["server_stats"] is None
    assert all(r["status"] == "ok" for r in found.values() if r["server"] == "echo")
    assert "8 runs: 4 ok, 0 failed, 4 unsupported on this platform" in log
    assert "UNSUPPORTED unsupported: unsupported: Registered I/O" in log and "FAILED" not in log
    # found at its first start and said once: the fake server's start log shows it started once
    assert log.count("cannot run on this platform") == 1 and "failed:" not in log, log
    assert sum(r["elapsed_s"] == 0.0 for r in unsupported) == 3

    run, cells = load_cells(run_dir)
    assert sorted({cell.server for cell in cells}) == ["echo"]  # no cell, so in no statistic
    assert all(cell.failed_reps == 0 for cell in cells)
    assert unsupported_servers(run) == {
        "unsupported": "unsupported: Registered I/O (RIO) is not available on this platform (fake)"}
    text = "\n".join(str(block) for block in report.failure_blocks(run))
    assert "Unsupported on this platform" in text and "unsupported (unsupported: Registered I/O" in text
    assert "No failures: every record succeeded." in text


def test_resume_runs_exactly_the_missing_records(tmp_path):
    suite = fake_suite(["echo"], TWO_POINTS, reps=2)
    code, run_dir, _ = run_fake(suite, tmp_path / "run")
    assert code == 0
    before = records(run_dir)
    removed = sorted(before)[1:3]
    for name in removed:
        (run_dir / "points" / name).unlink()
    kept_stamps = {name: (run_dir / "points" / name).stat().st_mtime_ns for name in before if name not in removed}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["finished_at"] = None  # as an interrupted run leaves it
    store.write_json_atomic(run_dir / "manifest.json", manifest)

    stream = io.StringIO()
    code, _ = runner.resume_run(run_dir, registry=FakeServers(), stream=stream)
    assert code == 0, stream.getvalue()
    assert "2 of 4 runs have no record" in stream.getvalue()
    after = records(run_dir)
    assert sorted(after) == sorted(before)
    assert all((run_dir / "points" / name).stat().st_mtime_ns == stamp for name, stamp in kept_stamps.items())
    assert all(after[name]["status"] == "ok" for name in removed)
    resumed = json.loads((run_dir / "manifest.json").read_text())
    assert resumed["plan"] == manifest["plan"] and resumed["finished_at"] and len(resumed["resumed_at"]) == 1

    code, _ = runner.resume_run(run_dir, registry=FakeServers(), stream=io.StringIO())
    assert code == 0 and records(run_dir).keys() == before.keys()


def test_extend_adds_whole_shuffled_rounds_and_keeps_the_first(tmp_path):
    suite = fake_suite(["echo", "echo2"], TWO_POINTS, reps=2)
    code, run_dir, _ = run_fake(suite, tmp_path / "run")
    assert code == 0
    before = records(run_dir)
    stamps = {name: (run_dir / "points" / name).stat().st_mtime_ns for name in before}
    first_plan = json.loads((run_dir / "manifest.json").read_text())["plan"]

    stream = io.StringIO()
    code, _ = runner.extend_run(run_dir, 5, registry=FakeServers(), stream=stream)
    assert code == 0, stream.getvalue()
    assert "from 2 to 5 rounds" in stream.getvalue() and "12 of 20 runs have no record" in stream.getvalue()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["plan"][:8] == first_plan and manifest["reps"] == 5 and manifest["finished_at"]
    cells = {(item["point"], item["server"]) for item in first_plan}
    added = manifest["plan"][8:]
    assert [item["rep"] for item in added] == [2] * 4 + [3] * 4 + [4] * 4
    assert all({(i["point"], i["server"]) for i in added if i["rep"] == rep} == cells for rep in (2, 3, 4))
    assert len({tuple((i["point"], i["server"]) for i in added if i["rep"] == rep) for rep in (2, 3, 4)}) > 1
    after = records(run_dir)
    assert len(after) == 20 and all(record["status"] == "ok" for record in after.values())
    assert all((run_dir / "points" / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    _, cells_now = load_cells(run_dir)
    assert {cell.ok_reps for cell in cells_now} == {5}


def test_extend_refuses_a_run_with_adaptive_rounds(tmp_path):
    suite = fake_suite(["echo"], TWO_POINTS, reps=2)
    code, run_dir, _ = run_fake(suite, tmp_path / "run")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["repetitions"] = {**manifest["repetitions"], "max": 4, "adaptive": True}
    store.write_json_atomic(run_dir / "manifest.json", manifest)
    with pytest.raises(runner.RunError, match="only a run of a fixed number of rounds"):
        runner.extend_run(run_dir, 5, registry=FakeServers(), stream=io.StringIO())


def test_a_run_refuses_a_folder_that_has_results(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text("{}")
    with pytest.raises(runner.RunError, match="not empty"):
        run_fake(fake_suite(["echo"], TWO_POINTS), tmp_path / "run")


def test_resume_of_something_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(runner.RunError, match="not a run folder"):
        runner.resume_run(tmp_path, registry=FakeServers(), stream=io.StringIO())


def test_loadgen_argv_uses_the_point_options():
    point = suites.Point(id="r", workload="rate", loadgen_args={"rate": 2500.0, "connections": 4, "duration": 0.5})
    argv = loadgen.loadgen_argv("/bin/loadgen", point, 4242)
    assert argv == ["/bin/loadgen", "--host", "127.0.0.1", "--port", "4242", "--workload", "rate",
                    "--rate", "2500", "--connections", "4", "--duration", "0.5", "--json", "-"]


def test_loadgen_failures_are_one_line():
    assert loadgen.describe_failure(0, {"schema": "x"}, None, "") is None
    assert loadgen.describe_failure(1, {"errors": {"reset": 3, "timeout": 0}}, None, "") == \
        "loadgen counted errors: reset 3"
    assert loadgen.describe_failure(2, None, "wrote no JSON", "loadgen: cannot connect\n") == \
        "loadgen exited with code 2: loadgen: cannot connect"


# --- the command line ---------------------------------------------------------

def harness(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args, expected", [
    ([], "usage:"),
    (["run"], "--suite NAME"),
    (["run", "--suite", "nosuchsuite"], "no suite 'nosuchsuite'"),
    (["run", "--suite", "smoke", "--servers", "iocp,bogus"], "unknown server(s) bogus"),
    (["run", "--suite", "smoke", "--reps", "0"], "--reps"),
    (["run", "--resume", "/nonexistent", "--seed", "3"], "--resume takes no other option"),
    (["run", "--resume", "/nonexistent", "--wait-idle"], "(the run folder has them): --wait-idle"),
    (["run", "--suite", "smoke", "--wait-idle", "0"], "argument --wait-idle: 0 is not in"),
    (["run", "--resume", "/nonexistent/run"], "not a run folder"),
    (["report", "/nonexistent/run"], "not a run folder"),
    (["compare", "a"], "required: NEW"),
    (["compare", "a", "b", "--threshold", "-5"], "--threshold"),
    (["ab"], "--base"),
    (["ab", "--base", "no-such-revision-h3b"], "not a commit"),
    (["bogus"], "invalid choice"),
])
def test_usage_errors_exit_2_with_a_reason(args, expected):
    done = harness(*args)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr, done.stderr


@pytest.mark.parametrize("command", ["list", "run", "report", "compare", "ab"])
def test_every_command_has_help(command):
    done = harness(command, "--help")
    assert done.returncode == 0 and "usage: python3 -m harness " + command in done.stdout


def test_list_shows_servers_workloads_and_suites():
    done = harness("list")
    assert done.returncode == 0, done.stderr
    for name in ("iocp", "reference-epoll", "pingpong", "churn", "smoke", "default", "full"):
        assert name in done.stdout


def test_dry_run_prints_the_plan_size_and_runs_nothing():
    done = harness("run", "--suite", "full", "--dry-run")
    assert done.returncode == 0, done.stderr
    # Every model this machine runs (a new model adds its cells), minus thread's skipped ones.
    full = suites.load_suite("full", models.all_models())
    cells, skipped = full.cells(models.models_for_platform())
    assert len(cells) + len(skipped) == len(full.points) * len(models.models_for_platform())
    assert f" x 5 reps = {5 * len(cells)} runs" in done.stdout and ", about " in done.stdout
    assert "skipped thread pingpong-c10000" in done.stdout


def test_dry_run_of_an_adaptive_suite_states_its_budget():
    done = harness("run", "--suite", "default", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "x 6 reps" in done.stdout and "up to 20 reps and a budget of 19m00s" in done.stdout


def test_records_keep_number_lists_on_one_line_and_strings_untouched():
    data = {"histogram": [[9472, 9535, 1], [9536, 9599, 3]], "text": "connections = [1, 8]\n", "empty": [],
            "nested": {"mixed": [1, "a"], "floats": [0.5, 1e-07]}}
    text = store.readable_json(data)
    assert json.loads(text) == data
    assert "[9472,9535,1]" in text and '"connections = [1, 8]\\n"' in text


# --- adaptive repetitions (stand-in servers and a stand-in load generator) ------

FAKE_LOADGEN = FAKES / "loadgen.py"
ADAPTIVE_POINTS = ('[[point]]\nid = "quiet"\nworkload = "pingpong"\nconnections = 1\n'
                   '[[point]]\nid = "noisy"\nworkload = "pingpong"\nconnections = 2\n')


@pytest.fixture
def fake_loadgen(tmp_path, monkeypatch):
    """The stand-in load generator: "noisy" (2 connections) varies +-50% run to
    run, "quiet" (1 connection) never varies. Returns its settings to amend."""
    settings = {"state": str(tmp_path / "loadgen-runs"), "spread": {"2": 0.5}, "log": str(tmp_path / "loadgen.log")}
    monkeypatch.setenv("WSB_LOADGEN", str(FAKE_LOADGEN))
    monkeypatch.setenv("WSB_FAKE_LOADGEN", json.dumps(settings))
    return settings


def adaptive_suite(max_reps=8, budget_s=600, points=ADAPTIVE_POINTS):
    text = (f'description = "adaptive"\nservers = ["echo"]\n[repetitions]\nmin = 5\nmax = {max_reps}\n'
            f"target = 0.05\nbudget_s = {budget_s}\n"
            '[timeouts]\nserver_start = 5\nserver_stop = 5\nloadgen_margin = 20\n[defaults]\nduration = 0.3\n'
            + points)
    return suites.parse_suite(text, Path("adaptive-test.toml"), FakeServers.names)


def reps_per_point(run_dir):
    found = records(run_dir)
    return {point: sorted(r["rep"] for r in found.values() if r["point"]["id"] == point) for point in ("quiet", "noisy")}


def test_a_noisy_cell_gets_more_rounds_than_a_quiet_one_up_to_the_maximum(tmp_path, fake_loadgen):
    code, run_dir, log = run_fake(adaptive_suite(max_reps=8), tmp_path / "run")
    assert code == 0, log
    # quiet: 5 rounds, then the 6th gives an interval (of width 0): settled
    assert reps_per_point(run_dir) == {"quiet": list(range(6)), "noisy": list(range(8))}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["reps"] == 5 and manifest["repetitions"]["stopped_by"] == "max"
    assert manifest["repetitions"]["rounds"] == 8 and len(manifest["plan"]) == 14
    assert "round 6: 2 cell(s) not settled" in log and "not within +-5%" in log and "round 7: 1 cell(s) not settled" in log


def test_the_budget_stops_the_rounds_after_the_minimum(tmp_path, fake_loadgen):
    code, run_dir, log = run_fake(adaptive_suite(budget_s=0.001), tmp_path / "run")
    assert code == 0, log
    assert reps_per_point(run_dir) == {"quiet": list(range(5)), "noisy": list(range(5))}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["repetitions"]["stopped_by"] == "budget" and len(manifest["plan"]) == 10
    assert "time budget of 0s spent: no more rounds" in log


def test_the_budget_cuts_a_round_short_and_resume_does_not_run_the_rest(tmp_path, fake_loadgen, monkeypatch):
    monkeypatch.setattr(autoscale, "item_seconds", lambda record: 1.0)  # every item "takes" 1 s
    code, run_dir, log = run_fake(adaptive_suite(budget_s=10.5), tmp_path / "run")
    assert code == 0, log
    # 10 items (5 rounds x 2 cells) took 10 s < 10.5: round 6 starts, its first item spends the budget
    assert len(records(run_dir)) == 11
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert len(manifest["plan"]) == 11 and manifest["repetitions"]["stopped_by"] == "budget"
    stream = io.StringIO()
    code, _ = runner.resume_run(run_dir, registry=FakeServers(), stream=stream)
    assert code == 0 and "0 of 11 runs have no record" in stream.getvalue() and len(records(run_dir)) == 11


def test_settled_cells_stop_the_rounds_and_a_fixed_count_never_adapts(tmp_path, fake_loadgen):
    quiet_only = '[[point]]\nid = "quiet"\nworkload = "pingpong"\nconnections = 1\n'
    code, run_dir, log = run_fake(adaptive_suite(points=quiet_only), tmp_path / "adaptive")
    assert code == 0, log
    assert json.loads((run_dir / "manifest.json").read_text())["repetitions"]["stopped_by"] == "settled"
    assert len(records(run_dir)) == 6
    code, run_dir, log = run_fake(adaptive_suite(), tmp_path / "fixed", reps=2)
    assert code == 0, log
    assert reps_per_point(run_dir) == {"quiet": [0, 1], "noisy": [0, 1]}
    assert json.loads((run_dir / "manifest.json").read_text())["repetitions"]["adaptive"] is False


class InterruptedServers(FakeServers):
    """Ctrl-C at the n-th command asked for (the first is the check that every server is built)."""

    def __init__(self, at):
        self.calls, self.at = 0, at

    def command(self, server, variant):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().command(server, variant)


def test_resume_after_an_interruption_continues_the_rounds(tmp_path, fake_loadgen):
    suite = adaptive_suite(max_reps=8)
    stream = io.StringIO()
    code, run_dir = runner.new_run(suite, suite.servers, out=tmp_path / "run", registry=InterruptedServers(13),
                                   stream=stream, variants=[runner.Variant("current", FAKES, FAKES, "0" * 40, False)])
    assert code == 130, stream.getvalue()
    interrupted = json.loads((run_dir / "manifest.json").read_text())
    assert interrupted["repetitions"]["rounds"] == 6 and interrupted["finished_at"] is None
    assert len(records(run_dir)) == 11  # the 5 rounds of 2 cells, and one item of round 6

    stream = io.StringIO()
    code, _ = runner.resume_run(run_dir, registry=FakeServers(), stream=stream)
    assert code == 0, stream.getvalue()
    assert "1 of 12 runs have no record" in stream.getvalue()
    assert reps_per_point(run_dir) == {"quiet": list(range(6)), "noisy": list(range(8))}
    resumed = json.loads((run_dir / "manifest.json").read_text())
    assert resumed["repetitions"]["stopped_by"] == "max" and resumed["plan"][:12] == interrupted["plan"]


# --- loadgen auto-scaling ------------------------------------------------------

def loadgen_log(settings):
    return [tuple(map(int, line.split())) for line in Path(settings["log"]).read_text().splitlines()]


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(autoscale, "available_cores", lambda pin: 2)


def test_a_saturated_loadgen_is_rerun_with_more_threads_and_later_reps_start_there(tmp_path, fake_loadgen,
                                                                                   monkeypatch, two_cores):
    fake_loadgen["cpu_share"] = {"1": 0.97, "2": 0.5}
    monkeypatch.setenv("WSB_FAKE_LOADGEN", json.dumps(fake_loadgen))
    suite = adaptive_suite(points='[[point]]\nid = "noisy"\nworkload = "pingpong"\nconnections = 2\n')
    code, run_dir, log = run_fake(suite, tmp_path / "run", reps=3)
    assert code == 0, log
    found = {record["rep"]: record for record in records(run_dir).values()}
    assert found[0]["loadgen_autoscale"] == {
        "threads": 2, "saturated": False,
        "attempts": [{"threads": 1, "cpu_share": 0.97, "elapsed_s": found[0]["loadgen_autoscale"]["attempts"][0]["elapsed_s"]},
                     {"threads": 2, "cpu_share": 0.5, "elapsed_s": found[0]["elapsed_s"]}]}
    assert found[0]["loadgen"]["config"]["threads"] == 2
    argv = found[0]["loadgen_argv"]
    assert argv[argv.index("--threads") + 1] == "2"
    assert found[0]["point"]["loadgen_args"] == {"duration": 0.3, "connections": 2}  # the point is unchanged
    for rep in (1, 2):  # started at 2 threads: nothing to re-run
        assert found[rep]["loadgen_autoscale"] is None and found[rep]["loadgen"]["config"]["threads"] == 2
    assert loadgen_log(fake_loadgen) == [(2, 1), (2, 2), (2, 2), (2, 2)]
    assert "loadgen saturated its threads: re-ran with 2" in log


def test_a_loadgen_that_saturates_every_thread_it_may_have_is_recorded_as_saturated(tmp_path, fake_loadgen,
                                                                                    monkeypatch, two_cores):
    fake_loadgen["cpu_share"] = {"1": 0.97, "2": 0.95}
    monkeypatch.setenv("WSB_FAKE_LOADGEN", json.dumps(fake_loadgen))
    code, run_dir, log = run_fake(adaptive_suite(), tmp_path / "run", reps=1)
    assert code == 0, log
    found = {record["point"]["id"]: record["loadgen_autoscale"] for record in records(run_dir).values()}
    # two connections: re-run with two threads, still saturated
    assert found["noisy"]["saturated"] is True and [a["threads"] for a in found["noisy"]["attempts"]] == [1, 2]
    # one connection cannot be spread over two threads: nothing to re-run, but it says so
    assert found["quiet"]["saturated"] is True and [a["threads"] for a in found["quiet"]["attempts"]] == [1]
    assert "still saturated" in log


def test_a_loadgen_well_below_a_core_is_left_alone(tmp_path, fake_loadgen, two_cores):
    code, run_dir, log = run_fake(adaptive_suite(), tmp_path / "run", reps=1)
    assert code == 0, log
    assert all(record["loadgen_autoscale"] is None for record in records(run_dir).values())
    assert sorted(loadgen_log(fake_loadgen)) == [(1, 1), (2, 1)]


def test_the_thread_count_is_capped_by_cores_and_connections():
    pinned = placement.Placement("colocated", (0,), (0,), (1,), (0, 1))
    many = suites.Point(id="p", workload="pingpong", loadgen_args={"connections": 64})
    churn = suites.Point(id="c", workload="churn", loadgen_args={"concurrency": 3})
    assert autoscale.thread_cap(many, pinned) == 1  # pinned to one CPU
    assert autoscale.thread_cap(many, None) == min(64, len(os.sched_getaffinity(0)))
    assert autoscale.thread_cap(churn, None) == min(3, len(os.sched_getaffinity(0)))


def test_a_resumed_run_keeps_the_raised_thread_count(tmp_path, fake_loadgen, monkeypatch, two_cores):
    fake_loadgen["cpu_share"] = {"1": 0.97, "2": 0.5}
    monkeypatch.setenv("WSB_FAKE_LOADGEN", json.dumps(fake_loadgen))
    suite = adaptive_suite(points='[[point]]\nid = "noisy"\nworkload = "pingpong"\nconnections = 2\n')
    code, run_dir = runner.new_run(suite, suite.servers, out=tmp_path / "run", reps=3, registry=InterruptedServers(3),
                                   stream=io.StringIO(),
                                   variants=[runner.Variant("current", FAKES, FAKES, "0" * 40, False)])
    assert code == 130 and len(records(run_dir)) == 1
    code, _ = runner.resume_run(run_dir, registry=FakeServers(), stream=io.StringIO())
    assert code == 0 and len(records(run_dir)) == 3
    assert loadgen_log(fake_loadgen) == [(2, 1), (2, 2), (2, 2), (2, 2)]


# --- command-line overrides and the progress line ------------------------------

def test_points_duration_and_warmup_override_the_suite_and_are_recorded(tmp_path):
    suite = fake_suite(["echo"], TWO_POINTS + '[[point]]\nid = "other"\nworkload = "pingpong"\n')
    chosen = suites.with_overrides(suite, duration=0.2, warmup=0.05, points="pp-*")
    assert [p.id for p in chosen.points] == ["pp-c1", "pp-c2"]
    assert all(p.loadgen_args["duration"] == 0.2 and p.loadgen_args["warmup"] == 0.05 for p in chosen.points)
    assert [p.id for p in suite.points] == ["pp-c1", "pp-c2", "other"]  # the suite itself is left alone
    assert [p.id for p in suites.with_overrides(suite, points="other, pp-c2").points] == ["pp-c2", "other"]
    code, run_dir, log = run_fake(chosen, tmp_path / "run", overrides={"duration": 0.2, "points": "pp-*"})
    assert code == 0, log
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["overrides"] == {"duration": 0.2, "points": "pp-*"}
    for record in records(run_dir).values():
        assert record["loadgen"]["config"]["duration_s"] == pytest.approx(0.2)
    from harness import report
    assert report.reproduce_command(manifest).endswith("--duration 0.2 --points 'pp-*'")


def test_a_points_pattern_that_matches_nothing_is_a_usage_error():
    done = harness("run", "--suite", "smoke", "--points", "nosuch-*", "--dry-run")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--points nosuch-*: no point of suite smoke matches" in done.stderr


@pytest.mark.parametrize("option, value, expected", [("--duration", "0", "0.001..86400"),
                                                     ("--warmup", "-1", "0..3600"),
                                                     ("--duration", "soon", "not a number of seconds")])
def test_bad_durations_are_refused_with_the_range(option, value, expected):
    done = harness("run", "--suite", "smoke", option, value, "--dry-run")
    assert done.returncode == 2 and expected in done.stderr


def test_resume_refuses_the_overrides():
    done = harness("run", "--resume", "/nonexistent", "--duration", "1")
    assert done.returncode == 2 and "(the run folder has them): --duration" in done.stderr


def test_a_dry_run_with_overrides_plans_only_the_chosen_points():
    done = harness("run", "--suite", "smoke", "--points", "pingpong-*", "--duration", "0.1", "--dry-run")
    whole = harness("run", "--suite", "smoke", "--dry-run")
    assert done.returncode == 0 and whole.returncode == 0
    assert done.stdout.split(" cells")[0] != whole.stdout.split(" cells")[0]


def test_the_progress_line_shows_the_cells_last_figures_elapsed_and_eta():
    from harness.run.progress import Progress, format_rate
    now = [100.0]
    stream = io.StringIO()
    progress = Progress([10.0, 10.0, 10.0], stream, clock=lambda: now[0])
    progress.start(0, "pp-c1 echo r0", ("pp-c1", "echo", "current"))
    now[0] += 65
    progress.finish(0, 12.0, None, ("pp-c1", "echo", "current"), (123456.0, 456.0))
    progress.start(1, "pp-c2 echo r0", ("pp-c2", "echo", "current"))
    progress.start(2, "pp-c1 echo r1", ("pp-c1", "echo", "current"))
    first, other, again = stream.getvalue().splitlines()
    assert "last rep" not in first and first.endswith("elapsed 0s, ETA 30s")
    assert "last rep" not in other and "elapsed 1m05s" in other
    assert "last rep: 123k msg/s, p99 456 µs" in again and "ETA 12s" in again  # 10 s left, 1.2x slower
    assert [format_rate(v) for v in (999.4, 999_999, 1_000_000, 25_000_000_000)] == ["999", "1M", "1M", "25G"]

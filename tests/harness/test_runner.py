"""The runner: plan order (seeded, interleaved rounds), atomic records,
resume, and servers that crash, hang before their ready line or never stop.
The servers here are small Python stand-ins (fake_servers/) given to the
runner through an explicit registry; the load generator is the real one."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
from harness import loadgen, runner, suites

FAKES = Path(__file__).resolve().parent / "fake_servers"
FAKE_COMMANDS = {
    "echo": [FAKES / "echo.py"],
    "echo2": [FAKES / "echo.py"],
    "crash": [FAKES / "crash.py"],
    "never-ready": [FAKES / "never_ready.py"],
    "never-stops": [FAKES / "echo.py", "--ignore-stop"],
    "stdin-deaf": [FAKES / "echo.py", "--ignore-stdin"],
}


class FakeServers:
    """Stand-ins for the real servers: each name runs a Python script."""
    names = list(FAKE_COMMANDS)

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
    first = runner.make_plan(cells, ["current"], 3, seed=7)
    assert first == runner.make_plan(cells, ["current"], 3, seed=7)
    assert first != runner.make_plan(cells, ["current"], 3, seed=8)


def test_each_round_visits_every_cell_once_before_the_next_round():
    cells = cells_of(["a", "b", "c"], ["p1", "p2", "p3", "p4"])
    plan = runner.make_plan(cells, ["base", "current"], 3, seed=1)
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
    runner.write_json_atomic(target, {"a": 1})
    runner.write_json_atomic(target, {"b": [1, 2]})
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
    assert manifest["pin"] is None and manifest["variants"]["current"]["commit"] == "0" * 40
    assert [p["id"] for p in manifest["points"]] == ["pp-c1", "pp-c2"]
    assert manifest["points"][0]["sweep"] == {"name": "pingpong-connections", "param": "connections", "value": 1}
    assert len(manifest["plan"]) == 8 and manifest["platform"]["cpu_count"] == os.cpu_count()
    found = records(run_dir)
    assert sorted(found) == sorted(f"{i['point']}/{i['server']}.current.r{i['rep']}.json" for i in manifest["plan"])
    for record in found.values():
        assert record["status"] == "ok" and record["failure"] is None, record["failure"]
        assert record["loadgen"]["schema"] == "winsock-bench/loadgen/1" and record["loadgen_exit"] == 0
        assert record["loadgen"]["config"]["connections"] == record["point"]["loadgen_args"]["connections"]
        assert record["server_ready"]["event"] == "ready" and record["server_stats"]["event"] == "stats"
        assert record["server_stats"]["bytes_sent"] == record["server_stats"]["bytes_received"] > 0
        assert record["server_stopped_by"] == "stdin"
    assert "[1/8]" in log and "[8/8]" in log and "8 runs: 8 ok, 0 failed" in log
    assert f"python3 -m harness report {run_dir}" in log


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
    runner.write_json_atomic(run_dir / "manifest.json", manifest)

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
    assert "runs, about" in done.stdout and "skipped thread pingpong-c10000" in done.stdout


def test_records_keep_number_lists_on_one_line_and_strings_untouched():
    data = {"histogram": [[9472, 9535, 1], [9536, 9599, 3]], "text": "connections = [1, 8]\n", "empty": [],
            "nested": {"mixed": [1, "a"], "floats": [0.5, 1e-07]}}
    text = runner.readable_json(data)
    assert json.loads(text) == data
    assert "[9472,9535,1]" in text and '"connections = [1, 8]\\n"' in text

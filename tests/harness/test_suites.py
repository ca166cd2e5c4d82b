"""Suites: parsing, sweep expansion, per-model connection limits, and the
validation errors a user sees (each naming the file, the point and the
problem). Also: the shipped suites validate and fit their time budgets."""
from pathlib import Path

import pytest

from harness import loadgen, models, suites

ALL_MODELS = models.all_models()

# The longest each shipped suite may take (issue 8: default 20 minutes on 2 cores, smoke 2).
BUDGET_S = {"smoke": 120, "default": 20 * 60}

MINIMAL = """
description = "test suite"
reps = 2
servers = ["iocp", "select"]
[defaults]
duration = 1.0
warmup = 0.25
"""


def parse(text, name="example.toml"):
    return suites.parse_suite(text, Path("/tmp") / name, ALL_MODELS)


def error_of(text, name="example.toml"):
    with pytest.raises(suites.SuiteError) as raised:
        parse(text, name)
    message = str(raised.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_a_plain_point_takes_the_defaults_and_its_own_options():
    suite = parse(MINIMAL + '[[point]]\nid = "p"\nworkload = "pipeline"\nconnections = 4\ndepth = 32\n')
    assert suite.name == "example" and suite.reps == 2 and suite.servers == ["iocp", "select"]
    (point,) = suite.points
    assert point.id == "p" and point.workload == "pipeline" and point.sweep is None
    assert point.loadgen_args == {"duration": 1.0, "warmup": 0.25, "connections": 4, "depth": 32}


def test_a_list_expands_into_one_point_per_value_with_sweep_metadata():
    suite = parse(MINIMAL + '[[point]]\nid = "pp-c{connections}"\nworkload = "pingpong"\nduration = 1\n'
                            'connections = [1, 16, 256]\n')
    assert [p.id for p in suite.points] == ["pp-c1", "pp-c16", "pp-c256"]
    assert [p.loadgen_args["connections"] for p in suite.points] == [1, 16, 256]
    assert all(p.sweep["name"] == "pingpong-connections" and p.sweep["param"] == "connections"
               for p in suite.points)
    assert [p.sweep["value"] for p in suite.points] == [1, 16, 256]
    assert all(p.loadgen_args["duration"] == 1.0 for p in suite.points)


def test_a_sweep_id_without_placeholder_gets_the_value_appended_and_a_named_sweep():
    suite = parse(MINIMAL + '[[point]]\nid = "knee"\nsweep = "my-knee"\nworkload = "rate"\n'
                            'rate = [1000, 2500.5]\n')
    assert [p.id for p in suite.points] == ["knee-1000", "knee-2500.5"]
    assert {p.sweep["name"] for p in suite.points} == {"my-knee"}


def test_defaults_that_do_not_apply_to_a_workload_are_left_out():
    suite = parse(MINIMAL.replace("warmup = 0.25", "warmup = 0.25\ndepth = 8")
                  + '[[point]]\nid = "a"\nworkload = "pipeline"\n[[point]]\nid = "b"\nworkload = "churn"\n')
    by_id = {p.id: p for p in suite.points}
    assert by_id["a"].loadgen_args["depth"] == 8
    assert "depth" not in by_id["b"].loadgen_args


def test_held_connections_per_workload():
    suite = parse(MINIMAL + '[[point]]\nid = "i"\nworkload = "idle"\nconnections = 4\nidle = 100\n'
                            '[[point]]\nid = "c"\nworkload = "churn"\nconcurrency = 8\n'
                            '[[point]]\nid = "d"\nworkload = "idle"\n'
                            '[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = 64\n')
    held = {p.id: p.held_connections() for p in suite.points}
    assert held == {"i": 104, "c": 8, "d": 1001, "p": 64}


def test_a_model_limit_skips_bigger_points_and_says_why():
    suite = parse(MINIMAL.replace('servers = ["iocp", "select"]', 'servers = ["iocp", "thread"]')
                  + '[max_connections]\nthread = 100\n'
                  + '[[point]]\nid = "c{connections}"\nworkload = "pingpong"\nconnections = [10, 100, 1000]\n')
    cells, skipped = suite.cells(["iocp", "thread"])
    assert sorted((p.id, s) for p, s in cells) == [("c10", "iocp"), ("c10", "thread"), ("c100", "iocp"),
                                                   ("c100", "thread"), ("c1000", "iocp")]
    assert [(s["point"], s["server"]) for s in skipped] == [("c1000", "thread")]
    assert "1000" in skipped[0]["reason"] and "100" in skipped[0]["reason"]
    assert "the suite limits thread to 100" in skipped[0]["reason"]


def test_a_model_s_own_limit_applies_unless_the_suite_overrides_it():
    limit = models.max_connections("thread")
    assert limit is not None, "thread-per-client states the connections it can hold in its model.json"
    text = (MINIMAL.replace('servers = ["iocp", "select"]', 'servers = ["iocp", "thread"]')
            + f'[[point]]\nid = "c{{connections}}"\nworkload = "pingpong"\nconnections = [{limit}, {limit + 1}]\n')
    _, skipped = parse(text).cells(["iocp", "thread"])
    assert [(s["point"], s["server"]) for s in skipped] == [(f"c{limit + 1}", "thread")]
    assert "servers/thread/model.json" in skipped[0]["reason"]
    assert parse(text).connection_limits(["iocp", "thread"]) == {"thread": limit}
    raised = parse(text + f"[max_connections]\nthread = {limit + 1}\n")
    assert raised.cells(["iocp", "thread"])[1] == []
    assert raised.connection_limits(["iocp", "thread"]) == {"thread": limit + 1}


def test_a_suite_without_servers_runs_the_default_servers():
    text = 'description = "x"\nreps = 1\n[[point]]\nid = "p"\nworkload = "pingpong"\nduration = 1\n'
    assert suites.parse_suite(text, Path("/tmp/x.toml"), ALL_MODELS, ["iocp", "thread"]).servers == ["iocp", "thread"]
    assert suites.parse_suite(text, Path("/tmp/x.toml"), ALL_MODELS).servers == ALL_MODELS


def test_a_point_may_name_a_subset_of_servers_and_server_args():
    suite = parse(MINIMAL + '[[point]]\nid = "t1"\nworkload = "pingpong"\nservers = ["iocp"]\n'
                            'server_args = ["--threads", "1"]\n')
    cells, _ = suite.cells(["iocp", "select"])
    assert [(p.id, s) for p, s in cells] == [("t1", "iocp")]
    assert cells[0][0].server_args == ("--threads", "1")


def test_manifest_round_trip_keeps_a_point():
    suite = parse(MINIMAL + '[[point]]\nid = "r{rate}"\nworkload = "rate"\nrate = [500]\ntimeout = 9\n')
    point = suite.points[0]
    assert suites.Point.from_manifest(point.to_manifest()) == point


@pytest.mark.parametrize("body, expected", [
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nservers = ["iocp", "nosuch"]\n',
     "point 'p': 'servers': unknown server(s) nosuch"),
    ('[[point]]\nid = "p"\nworkload = "pingpongg"\n', "point 'p': unknown workload 'pingpongg'"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconection = 4\n', "point 'p': unknown option 'conection'"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = "16"\n',
     "point 'p': connections must be a whole number, not '16'"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = 1.5\n', "connections must be a whole number"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = 0\n', "connections = 0 is out of range"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nduration = true\n', "duration must be a number"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\n[[point]]\nid = "p"\nworkload = "churn"\n',
     "point 'p': duplicate id"),
    ('[[point]]\nid = "c1"\nworkload = "pingpong"\n[[point]]\nid = "c{connections}"\nworkload = "pingpong"\nduration = 1\n'
     'connections = [1, 2]\n', "point 'c1': duplicate id"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = [1, 2]\nsize = [64, 128]\n',
     "sweeps one option at a time"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = []\n', "connections is an empty list"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\ndepth = 4\n', "depth does not apply to workload pingpong"),
    ('[[point]]\nid = "p"\nworkload = "rate"\n', "workload rate needs a rate"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nconnections = 2\nthreads = 4\n', "threads (4) must not exceed"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nmessages = 100\ntimeout = 5\nduration = 1\n',
     "messages excludes duration"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nmessages = 100\n', "needs a 'timeout'"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\nserver_args = ["--port", "1"]\n', "must not set --port"),
    ('[[point]]\nid = "a b"\nworkload = "pingpong"\n', "names a folder"),
    ('[[point]]\nid = "p{size}"\nworkload = "pingpong"\n', "only a sweep's id"),
    ('[max_connections]\nnosuch = 5\n[[point]]\nid = "p"\nworkload = "pingpong"\n',
     "[max_connections]: unknown server nosuch"),
    ('[timeouts]\nserver_start = -1\n[[point]]\nid = "p"\nworkload = "pingpong"\n', "server_start must be"),
    ('[[point]]\nid = "p"\nworkload = "pingpong"\n[defaults.x]\n', "[defaults]: unknown option 'x'"),
    ('', "no points"),
])
def test_validation_errors_name_the_file_the_point_and_the_problem(body, expected):
    message = error_of(MINIMAL + body)
    assert message.startswith("/tmp/example.toml: "), message
    assert expected in message, message


def test_an_unknown_suite_server_and_invalid_toml_are_reported():
    assert "'servers': unknown server(s) iocpp" in error_of(MINIMAL.replace('"iocp"', '"iocpp"')
                                                            + '[[point]]\nid = "p"\nworkload = "pingpong"\n')
    assert "unknown key(s) bogus" in error_of('bogus = 1\n' + MINIMAL + '[[point]]\nid = "p"\nworkload = "pingpong"\n')
    assert "not valid TOML" in error_of("description = \n")
    assert "'description' is required" in error_of('[[point]]\nid = "p"\nworkload = "pingpong"\nduration = 1\n'
                                                   '[defaults]\nduration = 1\n')


ADAPTIVE = MINIMAL.replace("reps = 2\n", "") + '[[point]]\nid = "p"\nworkload = "pingpong"\n'


def test_repetitions_are_a_fixed_count_or_an_adaptive_table():
    fixed = parse(MINIMAL + '[[point]]\nid = "p"\nworkload = "pingpong"\n').repetitions
    assert (fixed.min, fixed.max, fixed.adaptive) == (2, 2, False)
    adaptive = parse(ADAPTIVE + "[repetitions]\nmin = 6\nmax = 10\ntarget = 0.05\nbudget_s = 600\n").repetitions
    assert adaptive == suites.Repetitions(6, 10, 0.05, 600.0) and adaptive.adaptive
    assert suites.Repetitions.from_manifest(adaptive.to_manifest(), 6) == adaptive
    assert suites.Repetitions.from_manifest(None, 3) == suites.Repetitions.fixed(3)  # an older run


def test_an_adaptive_estimate_is_the_minimum_rounds_or_the_budget_whichever_is_longer():
    suite = parse(ADAPTIVE + "[repetitions]\nmin = 6\nmax = 1000\ntarget = 0.05\nbudget_s = 600\n")
    per_round = suite.round_seconds(suite.servers)
    assert suite.estimate_seconds(suite.servers) == max(6 * per_round, 600)
    assert suite.estimate_seconds(suite.servers, reps=2) == 2 * per_round


@pytest.mark.parametrize("table, expected", [
    ("min = 4\nmax = 8\ntarget = 0.05\nbudget_s = 60", "min must be a whole number from 5 to 1000 (6 gives the first"),
    ("min = 6\nmax = 5\ntarget = 0.05\nbudget_s = 60", "max must be a whole number from min (6)"),
    ("min = 6\nmax = 8\ntarget = 5\nbudget_s = 60", "target must be a relative half-width in (0, 1)"),
    ("min = 6\nmax = 8\ntarget = 0.05\nbudget_s = 0", "budget_s must be a number of seconds"),
    ("min = 6\nmax = 8\ntarget = 0.05", "[repetitions]: missing budget_s"),
    ("min = 6\nmax = 8\ntarget = 0.05\nbudget_s = 60\nmaximum = 3", "[repetitions]: unknown key(s) maximum"),
])
def test_repetition_errors_name_the_key(table, expected):
    message = error_of(ADAPTIVE + "[repetitions]\n" + table + "\n")
    assert expected in message, message


def test_reps_and_repetitions_exclude_each_other():
    message = error_of(MINIMAL + '[[point]]\nid = "p"\nworkload = "pingpong"\n'
                       "[repetitions]\nmin = 6\nmax = 8\ntarget = 0.05\nbudget_s = 60\n")
    assert "not both" in message


def test_a_missing_suite_lists_the_shipped_ones():
    with pytest.raises(suites.SuiteError) as raised:
        suites.load_suite("nosuchsuite", ALL_MODELS)
    assert "smoke" in str(raised.value) and "default" in str(raised.value)


@pytest.mark.parametrize("name", ["smoke", "default", "full"])
def test_shipped_suites_validate_and_cover_every_workload(name):
    suite = suites.load_suite(name, ALL_MODELS, models.models_for_platform())
    assert suite.name == name and suite.description
    assert {p.workload for p in suite.points} == set(suites.WORKLOADS)
    assert all(p.loadgen_args.get("duration", 0) > 0 for p in suite.points)


@pytest.mark.parametrize("name", sorted(BUDGET_S))
def test_shipped_suites_fit_their_time_budgets(name):
    suite = suites.load_suite(name, ALL_MODELS, models.models_for_platform())
    estimate = suite.estimate_seconds(suite.servers)
    assert 0 < estimate <= BUDGET_S[name], f"{name}: about {estimate:.0f} s, budget {BUDGET_S[name]} s"


def test_the_default_suite_runs_every_server_and_full_sweeps_to_ten_thousand():
    default = suites.load_suite("default", ALL_MODELS, models.models_for_platform())
    assert default.servers == models.models_for_platform() and default.reps >= 6 and default.repetitions.adaptive
    full = suites.load_suite("full", ALL_MODELS, models.models_for_platform())
    connections = [p.sweep["value"] for p in full.points if p.sweep and p.sweep["name"] == "pingpong-connections"]
    assert min(connections) == 1 and max(connections) == 10000
    sizes = [p.loadgen_args["size"] for p in full.points if p.sweep and p.sweep["param"] == "size"]
    assert min(sizes) == 16 and max(sizes) == 64 * 1024
    cells, skipped = full.cells(full.servers)
    assert skipped and all(s["server"] == "thread" for s in skipped)
    assert full.estimate_seconds(full.servers) > default.estimate_seconds(default.servers)


def test_a_connect_timeout_passes_through_to_the_load_generator():
    point = parse('description = "x"\n[[point]]\nid = "p"\nworkload = "pingpong"\nduration = 1\n'
                  'connect-timeout = 60\n').points[0]
    assert point.loadgen_args["connect-timeout"] == 60
    argv = loadgen.loadgen_argv("/bin/loadgen", point, 7007)
    assert argv[argv.index("--connect-timeout") + 1] == "60"
    assert "connect-timeout" in error_of('description = "x"\n[[point]]\nid = "p"\nworkload = "pingpong"\nduration = 1\n'
                                         'connect-timeout = 0\n')

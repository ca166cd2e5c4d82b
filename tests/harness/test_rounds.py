"""harness/run/rounds.py: which cells an adaptive round measures again, on
synthetic run folders (no server, no load generator). The end-to-end rounds
(budget, resume, stopping) are in test_runner.py."""
import synthetic
from harness import store
from harness.run import rounds
from harness.suites import Repetitions

REPS = 6
TIGHT = [1000.0 + rep for rep in range(REPS)]
# median 1550, 1.55 times TIGHT's, but straddling it: no verdict from 6 repetitions
WIDE = [600.0, 900.0, 1300.0, 1800.0, 2500.0, 3000.0]


def run_with(tmp_path, throughput, points=None):
    """A run folder whose cells have these throughputs (one list of repetitions per (point, server));
    latency is the same everywhere, so no p99 pair asks for rounds."""
    cells = {key: [[100.0] * 5] * len(values) for key, values in throughput.items()}
    return store.load_run(synthetic.write_run(tmp_path / "run", cells, points=points, throughput=throughput))


def round_of(run, max_reps=12, target=0.05):
    items, unsettled = rounds.next_round(run.manifest["plan"], run.records, Repetitions(REPS, max_reps, target),
                                         seed=1, round_number=7)
    return {(item["point"], item["server"]) for item in items}, unsettled


def test_rounds_go_to_the_pairs_far_apart_and_unresolved(tmp_path):
    run = run_with(tmp_path, {
        ("pingpong-c1", "iocp"): TIGHT, ("pingpong-c1", "select"): [v + 0.5 for v in TIGHT],  # close: not worth it
        ("pingpong-c8", "iocp"): TIGHT, ("pingpong-c8", "select"): WIDE,                      # far, unresolved
        ("pingpong-c64", "iocp"): TIGHT, ("pingpong-c64", "select"): [2 * v for v in TIGHT],  # far, resolved
    })
    items, unsettled = round_of(run)
    assert items == {("pingpong-c8", "iocp"), ("pingpong-c8", "select")} and unsettled == 2
    # the interval target does not decide for compared cells: at +-0.1% every interval here is too wide,
    # and still only the far, unresolved pair is measured again
    assert round_of(run, target=0.001)[0] == items


def test_a_cell_at_the_maximum_is_unsettled_but_not_measured_again(tmp_path):
    run = run_with(tmp_path, {("pingpong-c8", "iocp"): TIGHT, ("pingpong-c8", "select"): WIDE})
    assert round_of(run, max_reps=REPS) == (set(), 2)


def test_option_sets_of_one_server_are_compared_like_servers(tmp_path):
    points = {"plain": {"workload": "pingpong", "loadgen_args": {"connections": 64}},
              "batch": {"workload": "pingpong", "loadgen_args": {"connections": 64},
                        "server_args": ["--batch", "16"]},
              "skip": {"workload": "pingpong", "loadgen_args": {"connections": 64},
                       "server_args": ["--skip-on-success"]}}
    run = run_with(tmp_path, {("plain", "iocp"): TIGHT, ("batch", "iocp"): WIDE, ("skip", "iocp"): TIGHT},
                   points=points)
    items, unsettled = round_of(run)
    assert items == {("plain", "iocp"), ("batch", "iocp"), ("skip", "iocp")} and unsettled == 3


def test_a_cell_compared_with_no_one_keeps_the_interval_target(tmp_path):
    run = run_with(tmp_path, {("pingpong-c1", "iocp"): WIDE, ("pingpong-c8", "iocp"): TIGHT})
    # WIDE's interval is far wider than +-5%, TIGHT's within it
    assert round_of(run) == ({("pingpong-c1", "iocp")}, 1)

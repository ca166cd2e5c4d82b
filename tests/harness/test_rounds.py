"""harness/run/rounds.py: which cells an adaptive round measures again, on
synthetic run folders (no server, no load generator). The end-to-end rounds
(budget, resume, stopping) are in test_runner.py."""
import synthetic
from harness import store
from harness.analysis.cells import summarize
from harness.analysis.options import option_comparisons
from harness.analysis.rankings import all_point_verdicts
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


def report_verdicts(cells):
    """{(metric, cell, cell): (better cell or None, p, ratio)} of every verdict the report gives."""
    found = {}
    for point in all_point_verdicts(cells):
        cell_of_name = {name: (point.point_id, name, point.variant) for name in point.order}
        found.update(verdicts_by_cell(point, cell_of_name))
    for options in option_comparisons(cells):
        cell_of_name = {label: (point, options.server, options.variant) for label, point in options.points.items()}
        found.update(verdicts_by_cell(options, cell_of_name))
    return found


def round_verdicts(records):
    """The same, as the adaptive rounds see them from the records."""
    found = {}
    for group in rounds.comparison_groups(rounds.cells_of(records)):
        for verdicts in rounds.group_verdicts(group):
            found.update(verdicts_by_cell(verdicts, {name: cell.key for name, cell in group.items()}))
    return found


def verdicts_by_cell(verdicts, cell_of_name):
    return {(verdicts.metric, cell_of_name[v.a], cell_of_name[v.b]):
            (v.better and cell_of_name[v.better], v.p, v.ratio) for v in verdicts.verdicts}


def test_rounds_judge_every_pair_as_the_report_does(tmp_path):
    """run/ may not import the analysis (tests/harness/test_harness_layering.py), so the rounds
    build their own view of the cells: it must give the report's verdicts, pair for
    pair, with the rate workload's cap, a saturated load generator, a failed repetition
    and option sets in play."""
    example = store.load_run(synthetic.example_run(tmp_path / "example"))
    points = {"plain": {"workload": "pingpong", "loadgen_args": {"connections": 64}},
              "batch": {"workload": "pingpong", "loadgen_args": {"connections": 64}, "server_args": ["--batch", "16"]}}
    options = store.load_run(synthetic.write_run(tmp_path / "options", {("plain", "iocp"): [[100.0] * 5] * REPS,
                                                                         ("batch", "iocp"): [[90.0] * 5] * REPS},
                                                 points=points, throughput={("plain", "iocp"): TIGHT,
                                                                            ("batch", "iocp"): WIDE}))
    for run in (example, options):
        expected = report_verdicts(summarize(run))
        assert expected and round_verdicts(run.records) == expected
    assert any(cells[0][0] == "rate-r40000" for _, *cells in report_verdicts(summarize(example)))


def test_a_cell_with_a_repetition_on_a_busy_machine_is_measured_again(tmp_path):
    # far apart and resolved: no pair asks for a round, but one of select's six
    # repetitions measured a busy machine, so select has five it can count
    throughput = {("pingpong-c64", "iocp"): TIGHT, ("pingpong-c64", "select"): [2 * v for v in TIGHT]}

    def edit(record):
        if record["server"] == "select" and record["rep"] == 3:
            record["machine"].update(busy=True, other_cpu_cores=0.9)
    cells = {key: [[100.0] * 5] * len(values) for key, values in throughput.items()}
    run = store.load_run(synthetic.write_run(tmp_path / "run", cells, throughput=throughput, edit=edit))
    assert round_of(run) == ({("pingpong-c64", "select")}, 1)
    assert round_of(run_with(tmp_path / "quiet", throughput)) == (set(), 0)

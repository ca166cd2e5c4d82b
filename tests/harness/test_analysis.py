"""harness/store.py and harness/analysis/ on synthetic run folders (no network)."""
import json

import pytest

import synthetic
from harness import stats, store
from harness.analysis import microsoft
from harness.analysis.cells import Cell, estimate, SPECTRUM_PERCENTILES, summarize
from harness.analysis.options import option_comparisons
from harness.analysis.rankings import all_point_verdicts, point_verdicts, Ranking, rankings
from harness.records import p99_us_of, percentile_us_of, PERCENTILES


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    run = store.load_run(synthetic.example_run(tmp_path_factory.mktemp("example") / "run"))
    return run, summarize(run)


def find(cells, point_id, server, variant="current"):
    matches = [c for c in cells if (c.point_id, c.server, c.variant) == (point_id, server, variant)]
    assert len(matches) == 1
    return matches[0]


# ---- store.load_run ----

def test_load_run_reads_every_record_in_manifest_order(example):
    run, _ = example
    # points x servers x reps, the failed one included
    assert len(run.records) == 9 * len(synthetic.EXAMPLE_SERVERS) * synthetic.EXAMPLE_REPS
    assert [r.status for r in run.records].count("failed") == 1
    point_order = [p["id"] for p in run.manifest["points"]]
    seen = list(dict.fromkeys(r.point_id for r in run.records))
    assert seen == point_order
    assert run.records[0].sweep == {"name": "pingpong-connections", "param": "connections", "value": 1}


@pytest.mark.parametrize("damage", ["no-folder", "no-manifest", "bad-json", "wrong-schema"])
def test_load_run_rejects_a_folder_that_is_not_a_run(tmp_path, damage):
    folder = tmp_path / "run"
    if damage != "no-folder":
        folder.mkdir()
    if damage == "bad-json":
        (folder / "manifest.json").write_text("{not json")
    if damage == "wrong-schema":
        (folder / "manifest.json").write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(ValueError) as error:
        store.load_run(folder)
    assert "\n" not in str(error.value)


def test_unreadable_record_becomes_a_failed_record_and_temporary_files_are_ignored(tmp_path):
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[100.0] * 10]})
    (run_dir / "points" / "pingpong-c1" / "select.current.r0.json").write_text("{trunc")
    (run_dir / "points" / "pingpong-c1" / ".iocp.current.r1.json.tmp99").write_text("{half")
    run = store.load_run(run_dir)
    assert [(r.server, r.status) for r in run.records] == [("iocp", "ok"), ("select", "failed")]
    assert run.records[1].failure.startswith("unreadable record")


# ---- summarize ----

def test_cells_count_ok_and_failed_repetitions(example):
    _, cells = example
    assert len(cells) == 9 * len(synthetic.EXAMPLE_SERVERS)
    cell = find(cells, "pingpong-c128", "select")
    last = synthetic.EXAMPLE_REPS - 1
    assert (cell.ok_reps, cell.failed_reps) == (last, 1)
    assert cell.failures == [f"r{last}: loadgen exited 1: 3 connections reset by the server"]
    assert cell.throughput.n == last


def test_throughput_and_p99_estimates_come_from_the_repetitions(example):
    run, cells = example
    records = [r for r in run.records if (r.point_id, r.server) == ("pingpong-c16", "iocp")]
    rates = [r.loadgen["messages_per_s"] for r in records]
    p99s = [r.loadgen["latency_us"]["p99"] for r in records]
    cell = find(cells, "pingpong-c16", "iocp")
    assert cell.throughput.median == stats.median(rates)
    assert (cell.throughput.low, cell.throughput.high) == (stats.median_ci(rates) or (None, None))
    assert cell.throughput.cv == pytest.approx(stats.coefficient_of_variation(rates))
    assert cell.p99_us.median == stats.median(p99s)
    assert sorted(cell.throughput.values) == sorted(rates)


@pytest.mark.parametrize("reps", [3, 5, 6, 9])
def test_an_estimate_has_an_interval_only_from_six_repetitions(reps):
    values = [1000.0 + 10 * rep for rep in range(reps)]
    found = estimate(values)
    assert found.n == reps and found.median == stats.median(values)
    if reps < 6:
        assert not found.has_interval and found.low is None and found.high is None
    else:
        assert found.has_interval
        assert (found.low, found.high) == stats.median_ci(values)
        assert min(values) <= found.low <= found.median <= found.high <= max(values)


def test_every_percentile_is_the_median_of_the_repetitions_own_percentiles(tmp_path):
    # three repetitions: 1..50 us, 51..100 us, and a bad one at 375 ms (the example): merged
    # histograms would give a p99 of 375 ms, the repetitions' own p99s are 50 us, 100 us and 375 ms
    reps = [[float(v) for v in range(1, 51)], [float(v) for v in range(51, 101)], [375_000.0] * 50]
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): reps})
    cell = summarize(store.load_run(run_dir))[0]
    for name, percent in PERCENTILES:
        own = [percentile_us_of(r.loadgen, name) for r in store.load_run(run_dir).records]
        assert own == [r.loadgen["latency_us"][name] for r in store.load_run(run_dir).records]
        assert cell.percentiles_us[name].median == stats.median(own)
    assert cell.p99_us is cell.percentiles_us["p99"]  # the table's p99 is the ranking's and compare's
    assert cell.percentiles_us["p99"].median == 100.0  # not the 375 ms of the one bad repetition
    assert cell.percentiles_us["max"].median == 100.0
    assert [p for p, _ in cell.spectrum] == list(SPECTRUM_PERCENTILES)
    spectrum = dict(cell.spectrum)
    assert spectrum[99.0] == pytest.approx(cell.percentiles_us["p99"].median, rel=1 / 128)
    assert [v for _, v in cell.spectrum] == sorted(v for _, v in cell.spectrum)


def test_a_percentile_is_computed_from_the_histogram_when_the_load_generator_did_not_report_it(tmp_path):
    def drop_summary(record):
        del record["loadgen"]["latency_us"]["p99"]
    samples = [float(v) for v in range(1, 101)]
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [samples]}, edit=drop_summary)
    loadgen = store.load_run(run_dir).records[0].loadgen
    expected = synthetic.latency_summary_us(synthetic._to_ns(samples))["p99"]
    assert percentile_us_of(loadgen, "p99") == expected == p99_us_of(loadgen)


def test_cpu_per_message_and_memory_per_connection(tmp_path):
    def edit(record):
        record["loadgen"]["totals"]["messages"] = 1000
        record["server_stats"].update({"cpu_user_s": 0.5, "cpu_kernel_s": 1.5, "peak_connections": 200,
                                       "peak_working_set_bytes": 20_000_000, "peak_threads": 7})
    run_dir = synthetic.write_run(tmp_path / "run", {("idle-i199", "iocp"): [[50.0] * 20]}, edit=edit)
    cell = summarize(store.load_run(run_dir))[0]
    assert cell.cpu_us_per_message.median == pytest.approx(2000.0)
    assert cell.working_set_per_connection.median == pytest.approx(100_000.0)
    assert cell.peak_threads == 7


def test_a_service_delay_over_a_second_flags_the_cell_and_one_under_it_does_not(tmp_path):
    def cell_with(delays):
        def edit(record):
            record["server_stats"]["worst_service_delay_ms"] = delays[record["rep"]]
        run_dir = synthetic.write_run(tmp_path / f"run{delays[0]}", {("idle-i199", "select"): [[50.0] * 20] * 3},
                                      edit=edit)
        return summarize(store.load_run(run_dir))[0]
    flagged = cell_with([20, 1500, 2600])
    assert [n for n in flagged.notes if n.startswith("slow service")] == [
        "slow service: in 2 of 3 repetitions a readiness waited up to 2.6 s for the server's loop "
        "(over 1 s: unusable at this scale)"]
    assert not [n for n in cell_with([10, 1000, 900]).notes if n.startswith("slow service")]


def test_a_service_delay_is_judged_by_the_threshold_its_server_reported(tmp_path):
    """The stats line carries the server's own slow_service_ms (servers/core/stats.h):
    the harness keeps no copy of it; a record without it (an older server) is judged
    by the 1 s the servers used then."""
    def slow_notes(delay, threshold):
        def edit(record):
            record["server_stats"]["worst_service_delay_ms"] = delay
            if threshold is not None:
                record["server_stats"]["slow_service_ms"] = threshold
        run_dir = synthetic.write_run(tmp_path / f"run{delay}-{threshold}", {("idle-i199", "select"): [[50.0] * 20] * 3},
                                      edit=edit)
        return [n for n in summarize(store.load_run(run_dir))[0].notes if n.startswith("slow service")]
    assert slow_notes(800, 500) == ["slow service: in 3 of 3 repetitions a readiness waited up to 0.8 s for the "
                                    "server's loop (over 0.5 s: unusable at this scale)"]
    assert slow_notes(1500, 2000) == []
    assert slow_notes(800, None) == [] and len(slow_notes(1500, None)) == 1


def test_a_stop_over_the_contracts_2_s_flags_the_cell_and_one_within_it_does_not(tmp_path):
    def cell_with(stops):
        def edit(record):
            if stops[record["rep"]] is not None:
                record["server_stats"]["stop_s"] = stops[record["rep"]]
        run_dir = synthetic.write_run(tmp_path / f"run{len(list(tmp_path.iterdir()))}",
                                      {("idle-i9000", "overlapped"): [[50.0] * 20] * 3}, edit=edit)
        return summarize(store.load_run(run_dir))[0]
    flagged = cell_with([0.4, 2.04, 3.1])
    assert [n for n in flagged.notes if n.startswith("slow stop")] == [
        "slow stop: in 2 of 3 repetitions the server took up to 3.1 s from the stop request to its stats line "
        "(the contract allows 2 s)"]
    assert not [n for n in cell_with([0.4, 2.0, 1.9]).notes if n.startswith("slow stop")]
    assert not [n for n in cell_with([None, None, None]).notes if n.startswith("slow stop")]  # older servers

def _cpu_cell(tmp_path, server, wineserver_cpu_s, platform_os="Linux"):
    def edit(record):
        record["loadgen"]["totals"]["messages"] = 1000
        record["server_stats"].update({"cpu_user_s": 0.5, "cpu_kernel_s": 1.5})
        record["wineserver_cpu_s"] = wineserver_cpu_s
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", server): [[50.0] * 20]}, edit=edit)
    run = store.load_run(run_dir)
    run.manifest["platform"]["os"] = platform_os
    return summarize(run)[0]


def test_a_wine_server_reports_server_wineserver_and_total_cpu(tmp_path):
    cell = _cpu_cell(tmp_path, "iocp", 3.0)
    assert cell.cpu_us_per_message.median == pytest.approx(2000.0)
    assert cell.wineserver_cpu_us_per_message.median == pytest.approx(3000.0)
    assert cell.total_cpu_us_per_message.median == pytest.approx(5000.0)


def test_a_native_server_has_no_wineserver_figure_and_its_own_cpu_is_the_total(tmp_path):
    cell = _cpu_cell(tmp_path, "reference-epoll", None)
    assert cell.wineserver_cpu_us_per_message is None  # absent, not zero
    assert cell.total_cpu_us_per_message.median == pytest.approx(2000.0)


def test_a_wine_server_without_the_wineserver_figure_has_no_total(tmp_path):
    cell = _cpu_cell(tmp_path, "iocp", None)
    assert cell.cpu_us_per_message.median == pytest.approx(2000.0)
    assert cell.wineserver_cpu_us_per_message is None and cell.total_cpu_us_per_message is None  # not understated


def test_on_windows_the_servers_own_cpu_is_the_total(tmp_path):
    cell = _cpu_cell(tmp_path, "iocp", None, platform_os="Windows")
    assert cell.total_cpu_us_per_message.median == pytest.approx(2000.0)


def test_churn_throughput_is_operations_and_has_connect_latency(tmp_path):
    def edit(record):
        record["loadgen"]["connections_per_s"] = 1234.0
        record["loadgen"]["connect_latency_us"]["p99"] = 77.0
    run_dir = synthetic.write_run(tmp_path / "run", {("churn-k1", "iocp"): [[40.0] * 20, [41.0] * 20]},
                                  points={"churn-k1": {"workload": "churn"}}, edit=edit)
    cell = summarize(store.load_run(run_dir))[0]
    assert cell.throughput.median == 1234.0
    assert cell.connect_p99_us.median == 77.0


def test_rate_cells_carry_requested_and_achieved_rates(example):
    _, cells = example
    cell = find(cells, "rate-r40000", "select")
    assert cell.requested_rate == 40000
    assert cell.achieved_rate.median == pytest.approx(40000 * 0.8 * 1.025)  # median of 1.00 .. 1.05
    assert find(cells, "pingpong-c1", "iocp").requested_rate is None
    assert find(cells, "pingpong-c1", "iocp").connect_p99_us is None


def test_saturation_flags_the_planted_cells_only(example):
    _, cells = example
    flagged = {(c.point_id, c.server): c.saturation for c in cells if c.saturation}
    assert flagged == {("pingpong-c128", "reference-epoll"): ["loadgen CPU 97% of a core"],
                       ("rate-r40000", "select"): ["under-delivery: the median repetition achieved 82% of the "
                                                   "requested rate (worst repetition 80%)"]}


def _cpu_edit(share, threads=1):
    def edit(record):
        config = record["loadgen"]["config"]
        config["threads"] = threads
        busy = share * threads * (config["warmup_s"] + record["loadgen"]["totals"]["duration_s"])
        record["loadgen"]["client_cpu_s"] = {"user": busy / 2, "system": busy / 2}
    return edit


@pytest.mark.parametrize("share, threads, expected", [
    (0.95, 1, ["loadgen CPU 95% of a core"]),
    (0.80, 1, []),
    (0.92, 2, ["loadgen CPU 92% of a core per thread (2 threads)"]),
    (0.60, 2, []),  # 1.2 cores busy, but two threads have 2 cores
])
def test_loadgen_cpu_saturation_counts_warmup_and_threads(tmp_path, share, threads, expected):
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[60.0] * 10]},
                                  edit=_cpu_edit(share, threads))
    assert summarize(store.load_run(run_dir))[0].saturation == expected


def test_a_cell_whose_loadgen_saturated_is_a_lower_bound_and_never_ranked(example):
    _, cells = example
    bounded = [(c.point_id, c.server) for c in cells if c.lower_bound]
    assert bounded == [("pingpong-c128", "reference-epoll")]
    for point in all_point_verdicts(cells):
        if point.point_id == "pingpong-c128":
            assert "reference-epoll" not in point.order
            assert {"iocp", "wsapoll", "select"} <= set(point.order)


def _autoscale_cell(tmp_path, autoscale, busy_reps=()):
    def edit(record):
        record["loadgen"]["config"]["threads"] = autoscale["threads"] if autoscale else 1
        record["loadgen_autoscale"] = autoscale
        if record["rep"] in busy_reps:
            record["machine"].update(busy=True, other_cpu_cores=0.8 + record["rep"] / 10)
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[60.0] * 10] * 3}, edit=edit)
    return summarize(store.load_run(run_dir))[0]


def test_a_cell_rerun_with_more_loadgen_threads_says_so_and_is_ranked(tmp_path):
    cell = _autoscale_cell(tmp_path, {"threads": 2, "attempts": [{"threads": 1, "cpu_share": 0.97},
                                                                 {"threads": 2, "cpu_share": 0.6}],
                                      "saturated": False})
    assert not cell.lower_bound
    assert cell.notes == ["re-run with 2 loadgen threads in 3 of 3 repetitions (1 thread(s) used 97% of a core each)"]
    assert point_verdicts([cell], "throughput").order == ["iocp"]


def test_a_cell_still_saturated_after_autoscaling_is_a_lower_bound(tmp_path):
    cell = _autoscale_cell(tmp_path, {"threads": 2, "attempts": [{"threads": 1, "cpu_share": 0.97},
                                                                 {"threads": 2, "cpu_share": 0.6}],
                                      "saturated": True})
    assert cell.lower_bound
    assert point_verdicts([cell], "throughput").order == []


def test_busy_machine_repetitions_are_flagged_on_the_cell(tmp_path):
    cell = _autoscale_cell(tmp_path, None, busy_reps=(0, 2))
    assert cell.notes == ["2 of 3 repetitions on a busy machine (other processes used up to 1.00 cores)"]
    assert _autoscale_cell(tmp_path / "quiet", None).notes == []


@pytest.mark.parametrize("achieved, expected", [
    ([9600] * 3, []),
    ([9400] * 3, ["under-delivery: the median repetition achieved 94% of the requested rate (worst repetition 94%)"]),
    ([10000, 9900, 9000], ["under-delivery in the worst repetition only: 90% of the requested rate (median 99%)"]),
    ([10800, 10700, 10900], ["over-delivery: the median repetition achieved 108% of the requested rate "
                             "(worst repetition 109%)"]),
    ([10000, 10100, 11200], ["over-delivery in the worst repetition only: 112% of the requested rate (median 101%)"]),
    ([10400, 10000, 9600], []),
    ([9000, 10000, 11000], ["under-delivery in the worst repetition only: 90% of the requested rate (median 100%)",
                            "over-delivery in the worst repetition only: 110% of the requested rate (median 100%)"]),
])
def test_rate_under_and_over_delivery_say_whether_median_or_worst(tmp_path, achieved, expected):
    run_dir = synthetic.write_run(tmp_path / "run", {("rate-r10000", "iocp"): [[60.0] * 10] * len(achieved)},
                                  points={"rate-r10000": {"loadgen_args": {"rate": 10000}}},
                                  throughput={("rate-r10000", "iocp"): achieved})
    assert summarize(store.load_run(run_dir))[0].saturation == expected


def test_a_cell_whose_repetitions_all_failed_has_no_estimates(tmp_path):
    run_dir = synthetic.write_run(tmp_path / "run", {}, failures=[("pingpong-c1", "iocp", "current", 0, "boom")])
    cell = summarize(store.load_run(run_dir))[0]
    assert (cell.ok_reps, cell.failed_reps, cell.failures) == (0, 1, ["r0: boom"])
    assert cell.throughput is None and cell.p99_us is None and cell.percentiles_us == {}
    assert rankings([cell]) == []


# ---- rankings ----

REP_OFFSETS = (-1.0, -0.6, -0.2, 0.2, 0.6, 1.0)  # six repetitions, evenly spread over +-spread


def make_cell(point_id, server, throughput, p99=None, workload=None, variant="current", spread=0.01):
    """A Cell whose six repetitions are spread evenly over median +-spread (relative)."""
    def est(value):
        return None if value is None else estimate(value * (1 + spread * k) for k in REP_OFFSETS)
    return Cell(point_id=point_id, workload=workload or point_id.split("-")[0], loadgen_args={}, sweep=None,
                server=server, variant=variant, ok_reps=len(REP_OFFSETS), failed_reps=0, failures=[],
                throughput=est(throughput), p99_us=est(p99), percentiles_us={}, spectrum=[],
                connect_p99_us=None, cpu_us_per_message=None, working_set_per_connection=None,
                peak_threads=None, requested_rate=None, achieved_rate=None, saturation=[])


def beats(found):
    """The resolved pairs (better, worse) of a ranking or a point's verdicts."""
    return {(v.better, v.worse) for v in found.verdicts if v.better is not None}


EVERY_PAIR_OF_THREE = {("iocp", "wsapoll"), ("iocp", "select"), ("wsapoll", "select")}


def ranking_of(all_rankings, scope, metric, variant="current"):
    matches = [r for r in all_rankings if (r.scope, r.metric, r.variant) == (scope, metric, variant)]
    assert len(matches) == 1
    return matches[0]


def test_single_point_ranking_is_strict_when_the_test_separates_every_pair():
    cells = [make_cell("pingpong-c1", "iocp", 300, p99=10), make_cell("pingpong-c1", "select", 200, p99=20),
             make_cell("pingpong-c1", "wsapoll", 250, p99=15)]
    found = rankings(cells)
    for scope, metric in (("pingpong", "throughput"), ("pingpong", "p99"), ("overall", "throughput")):
        ranking = ranking_of(found, scope, metric)  # p99: lower is better
        assert ranking.order == ["iocp", "wsapoll", "select"] and beats(ranking) == EVERY_PAIR_OF_THREE
        assert ranking.letters == {"iocp": "a", "wsapoll": "b", "select": "c"}
    assert ranking_of(found, "pingpong", "throughput").points == ["pingpong-c1"]


def test_single_point_ranking_ties_servers_the_test_cannot_separate():
    cells = [make_cell("pingpong-c1", "iocp", 300, spread=0.1), make_cell("pingpong-c1", "select", 290, spread=0.1),
             make_cell("pingpong-c1", "thread", 100)]
    found = rankings(cells)
    assert beats(ranking_of(found, "pingpong", "throughput")) == {("iocp", "thread"), ("select", "thread")}
    # places 1.5, 1.5 and 3 of 3 servers, over 3 + 1
    assert ranking_of(found, "pingpong", "throughput").scores == {"iocp": 0.375, "select": 0.375, "thread": 0.75}


def test_a_server_missing_at_a_point_does_not_move_the_others():
    # everyone tied at both points; reference-epoll is a lower bound (not ranked) at the second
    cells = []
    for point in ("pingpong-c1", "pingpong-c16"):
        cells += [make_cell(point, server, 300, spread=0.2) for server in ("iocp", "select", "reference-epoll")]
    cells[-1].lower_bound = True
    ranking = ranking_of(rankings(cells), "pingpong", "throughput")
    assert ranking.order == ["iocp", "reference-epoll", "select"] and beats(ranking) == set()
    assert set(ranking.scores.values()) == {0.5}


def test_servers_that_swap_places_along_a_sweep_are_unresolved():
    cells = [make_cell("pingpong-c1", "iocp", 300), make_cell("pingpong-c1", "select", 200),
             make_cell("pingpong-c16", "iocp", 200), make_cell("pingpong-c16", "select", 300)]
    ranking = ranking_of(rankings(cells), "pingpong", "throughput")
    assert beats(ranking) == set() and ranking.letters == {"iocp": "a", "select": "a"}
    assert ranking.points == ["pingpong-c1", "pingpong-c16"]


def test_a_server_ahead_at_most_points_and_unresolved_at_the_others_ranks_ahead():
    cells = []
    for point, (a, b) in {"pingpong-c1": (300, 200), "pingpong-c16": (300, 200), "pingpong-c128": (250, 250)}.items():
        cells += [make_cell(point, "iocp", a), make_cell(point, "select", b)]
    assert beats(ranking_of(rankings(cells), "pingpong", "throughput")) == {("iocp", "select")}


def test_ahead_at_two_points_and_as_far_behind_at_a_third_is_not_shown_better():
    # the average places differ (iocp 1.33, select 1.67), but the repetitions do not show iocp better
    cells = []
    for point, (a, b) in {"pingpong-c1": (300, 200), "pingpong-c16": (300, 200), "pingpong-c128": (200, 300)}.items():
        cells += [make_cell(point, "iocp", a), make_cell(point, "select", b)]
    ranking = ranking_of(rankings(cells), "pingpong", "throughput")
    assert ranking.scores["iocp"] < ranking.scores["select"]
    assert beats(ranking) == set()


def test_overall_weighs_workloads_equally_however_many_points_they_have():
    cells = []
    for point in ("pingpong-c1", "pingpong-c16", "pingpong-c128"):  # iocp ahead at 3 points
        cells += [make_cell(point, "iocp", 300), make_cell(point, "select", 200)]
    cells += [make_cell("churn-k1", "iocp", 100), make_cell("churn-k1", "select", 200)]  # select ahead once
    found = rankings(cells)
    assert beats(ranking_of(found, "pingpong", "throughput")) == {("iocp", "select")}
    assert beats(ranking_of(found, "churn", "throughput")) == {("select", "iocp")}
    overall = ranking_of(found, "overall", "throughput")
    assert beats(overall) == set()
    assert sorted(overall.points) == sorted(["pingpong-c1", "pingpong-c16", "pingpong-c128", "churn-k1"])


def test_rate_throughput_ranks_only_a_shortfall_from_the_requested_rate():
    cells = [make_cell("rate-r1000", server, achieved, spread=0.001)
             for server, achieved in (("iocp", 1000.0), ("select", 998.0), ("thread", 800.0))]
    for cell in cells:
        cell.requested_rate = 1000.0
    # iocp and select both keep up (their 0.2% difference is noise); thread falls behind
    assert beats(ranking_of(rankings(cells), "rate", "throughput")) == {("iocp", "thread"), ("select", "thread")}

def test_variants_are_ranked_separately():
    cells = [make_cell("pingpong-c1", "iocp", 300, variant="base"),
             make_cell("pingpong-c1", "select", 200, variant="base"),
             make_cell("pingpong-c1", "iocp", 100), make_cell("pingpong-c1", "select", 200)]
    found = rankings(cells)
    assert beats(ranking_of(found, "pingpong", "throughput", "base")) == {("iocp", "select")}
    assert beats(ranking_of(found, "pingpong", "throughput", "current")) == {("select", "iocp")}


def test_example_run_rankings_cover_every_workload_and_metric(example):
    _, cells = example
    found = rankings(cells)
    scopes = {(r.scope, r.metric) for r in found}
    assert scopes == {(s, m) for s in ("pingpong", "rate", "churn", "idle", "overall") for m in ("throughput", "p99")}
    # the synthetic servers are built in the order reference-epoll < iocp < overlapped < wsapoll < select (latency)
    ranking = ranking_of(found, "pingpong", "throughput")
    assert ranking.order == ["reference-epoll", "iocp", "overlapped", "wsapoll", "select"]
    assert len(beats(ranking)) == 10 and all(ranking.order.index(w) < ranking.order.index(l) for w, l in beats(ranking))


# ---- agreement with Microsoft's order ----

def ranking_with(tiers):
    """A Ranking whose verdicts resolve every pair in different tiers (the earlier better) and no other."""
    order = [name for tier in tiers for name in tier]
    place = {name: index for index, tier in enumerate(tiers) for name in tier}
    verdicts = [stats.Verdict(a, b, a if place[a] < place[b] else None, 1.0, None, None, 0.5)
                for i, a in enumerate(order) for b in order[i + 1:]]
    return Ranking(scope="overall", metric="throughput", variant="current", order=order, verdicts=verdicts,
                            letters=stats.letter_display(order, verdicts), points=[])


def test_agreement_is_one_for_microsofts_own_order_whatever_reference_epoll_does():
    order = [["iocp"], ["overlapped"], ["wsapoll"], ["select"], ["asyncselect"]]
    assert microsoft.agreement_with_microsoft(ranking_with(order)) == 1
    assert microsoft.agreement_with_microsoft(ranking_with([["reference-epoll"]] + order)) == 1
    assert microsoft.agreement_with_microsoft(ranking_with(order + [["reference-epoll"]])) == 1


def test_agreement_is_minus_one_reversed_and_none_with_one_model():
    order = [["iocp"], ["overlapped"], ["wsapoll"], ["asyncselect"]]
    assert microsoft.agreement_with_microsoft(ranking_with(list(reversed(order)))) == -1
    assert microsoft.agreement_with_microsoft(ranking_with([["iocp"], ["reference-epoll"]])) is None


@pytest.mark.parametrize("tiers", [[["iocp"], ["select"]], [["select"], ["reference-epoll"], ["iocp"]],
                                   [["iocp"], ["overlapped"], ["select"], ["reference-epoll"]]])
def test_no_tau_below_four_winsock_models_and_the_reason_says_so(tiers):
    ranking = ranking_with(tiers)
    assert microsoft.agreement_with_microsoft(ranking) is None
    count = len([name for tier in tiers for name in tier if name != "reference-epoll"])
    assert microsoft.no_tau_reason(ranking).startswith(f"only {count} Winsock model(s) ranked")


def test_four_winsock_models_have_a_tau_and_all_tied_have_a_reason():
    four = ranking_with([["iocp"], ["overlapped"], ["wsapoll"], ["select"]])
    assert microsoft.agreement_with_microsoft(four) == 1 and microsoft.no_tau_reason(four) is None
    unresolved = ranking_with([["iocp", "overlapped", "wsapoll", "select"]])
    assert microsoft.agreement_with_microsoft(unresolved) is None
    assert microsoft.no_tau_reason(unresolved).startswith("only 0 pair(s) of Winsock models resolved by both")
    two = ranking_with([["iocp", "overlapped", "wsapoll"], ["select"]])  # wsapoll-select only: select is
    assert microsoft.microsoft_pairs(two) == (1.0, 3)  # tied with thread, not with the others
    assert microsoft.agreement_with_microsoft(two) == 1.0


def test_agreement_is_taken_over_the_pairs_both_resolve():
    # Microsoft ties thread and select: ranking them apart is neither agreement nor disagreement
    ranking = ranking_with([["iocp"], ["wsapoll"], ["thread"], ["select"]])
    assert microsoft.microsoft_pairs(ranking) == (1.0, 5)  # 6 pairs less (thread, select), all 5 concordant
    # iocp ahead of wsapoll unresolved, wsapoll ahead of thread and select, select above iocp:
    # concordant wsapoll-thread, wsapoll-select, iocp-thread; discordant select-iocp
    ranking = ranking_with([["iocp", "wsapoll"], ["thread"]])
    ranking.verdicts.append(stats.Verdict("select", "iocp", "select", 1.0, None, None, 0.01))
    ranking.verdicts.append(stats.Verdict("wsapoll", "select", "wsapoll", 1.0, None, None, 0.01))
    assert microsoft.microsoft_pairs(ranking) == (pytest.approx((3 - 1) / 4), 4)


def test_point_verdicts_give_the_factor_of_each_resolved_pair():
    cells = [make_cell("pingpong-c1", "iocp", 300, p99=10), make_cell("pingpong-c1", "thread", 200, p99=20),
             make_cell("pingpong-c1", "select", 198, p99=20.2)]
    found = {(t.point_id, t.metric): t for t in all_point_verdicts(cells)}
    throughput = found[("pingpong-c1", "throughput")]
    assert beats(throughput) == {("iocp", "thread"), ("iocp", "select")}
    assert throughput.letters == {"iocp": "a", "thread": "b", "select": "b"}
    assert throughput.leaders() == ["iocp"] and throughput.laggards() == ["thread", "select"]
    factor = throughput.factors()[0]
    assert (factor.better, factor.worse) == ("iocp", "thread")
    assert factor.ratio == pytest.approx(1.5, rel=0.01) and factor.low < 1.5 < factor.high
    latency = found[("pingpong-c1", "p99")]
    # the verdict's ratio is a over b as measured (iocp's p99 is half thread's); the factor says "2x better"
    iocp_thread = next(v for v in latency.verdicts if {v.a, v.b} == {"iocp", "thread"})
    assert (iocp_thread.a, iocp_thread.better) == ("iocp", "iocp") and iocp_thread.ratio == pytest.approx(0.5, rel=0.01)
    factor = latency.factors()[0]
    assert factor.better == "iocp" and factor.ratio == pytest.approx(2.0, rel=0.01) and factor.low < 2 < factor.high


def test_option_sets_of_one_server_at_one_setting_are_ranked_against_each_other(tmp_path):
    run_dir = synthetic.options_run(tmp_path / "run")
    found = option_comparisons(summarize(store.load_run(run_dir)))
    by_metric = {c.metric: c for c in found}
    assert set(by_metric) == {"throughput", "p99"}  # one setting, one server: select's lone point is not one
    throughput = by_metric["throughput"]
    assert (throughput.server, throughput.setting) == ("iocp", "pingpong: " + ", ".join(
        f"{k} {v}" for k, v in store.load_run(run_dir).records[0].loadgen_args.items()
        if k not in ("duration", "warmup")))
    assert throughput.order == ["--batch 16", "--skip-on-success", "no options"]  # equal medians: by name
    assert beats(throughput) == {("--batch 16", "--skip-on-success"), ("--batch 16", "no options")}
    factor = throughput.factors()[0]
    assert factor.better == "--batch 16" and factor.ratio == pytest.approx(1.6, rel=0.02)
    assert throughput.points == {"no options": "plain-pingpong-c64", "--batch 16": "batch-pingpong-c64",
                                 "--skip-on-success": "skip-pingpong-c64"}


def _cell_with_busy(tmp_path, quiet, busy):
    """A cell of `quiet` repetitions at 1,000 msg/s then `busy` at 300 msg/s,
    those taken on a busy machine."""
    rates = [1000.0] * quiet + [300.0] * busy

    def edit(record):
        if record["rep"] >= quiet:
            record["machine"].update(busy=True, other_cpu_cores=1.0 + (record["rep"] - quiet) / 2)
    run_dir = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): [[60.0] * 10] * len(rates)},
                                  throughput={("pingpong-c1", "iocp"): rates}, edit=edit)
    return summarize(store.load_run(run_dir))[0]


def test_repetitions_on_a_busy_machine_are_set_aside_once_six_quiet_ones_remain(tmp_path):
    cell = _cell_with_busy(tmp_path, quiet=6, busy=2)
    assert cell.throughput.values == [1000.0] * 6 and cell.ok_reps == 6 and cell.set_aside_reps == 2
    assert cell.busy_reps == 0
    assert cell.notes == ["2 repetitions on a busy machine set aside (6 quiet ones kept; other processes used "
                          "up to 1.50 cores)"]


def test_with_fewer_than_six_quiet_repetitions_a_cell_keeps_them_all_and_says_so(tmp_path):
    cell = _cell_with_busy(tmp_path, quiet=5, busy=2)
    assert sorted(cell.throughput.values) == [300.0] * 2 + [1000.0] * 5 and cell.set_aside_reps == 0
    assert cell.notes == ["2 of 7 repetitions on a busy machine (other processes used up to 1.50 cores)"]

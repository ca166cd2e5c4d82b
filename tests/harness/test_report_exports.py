"""report's exports (harness/report/exports.py): summary.json against its schema, summary.csv, and the
.hgrm percentile files against the cells' merged histograms."""
import csv
import json
import math
from fractions import Fraction

import jsonschema
import pytest
import synthetic  # tests/harness/synthetic.py (conftest.py puts it on the path)

from harness import stats, store
from harness.analysis.cells import summarize
from harness.analysis.rankings import all_point_verdicts
from harness.report import exports, write_report


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    run_dir = synthetic.example_run(tmp_path_factory.mktemp("exports") / "run")
    write_report(run_dir)
    run = store.load_run(run_dir)
    return run_dir, run, summarize(run)


def test_summary_json_follows_its_schema(example):
    run_dir, _, cells = example
    schema = json.loads(exports.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads((run_dir / "summary.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["schema"] == schema["properties"]["schema"]["const"] == exports.SCHEMA_ID
    assert len(document["cells"]) == len(cells)


def test_the_schema_refuses_a_broken_summary(example):
    run_dir, _, _ = example
    validator = jsonschema.Draft202012Validator(json.loads(exports.SCHEMA_PATH.read_text()))
    document = json.loads((run_dir / "summary.json").read_text())
    del document["cells"][0]["estimates"]["p99_us"]["low"]
    document["rankings"][0]["metric"] = "speed"
    assert len(list(validator.iter_errors(document))) == 2


def test_summary_json_holds_each_cells_estimates_flags_and_the_rankings(example):
    run_dir, _, cells = example
    document = json.loads((run_dir / "summary.json").read_text())
    by_key = {(c["point_id"], c["server"]): c for c in document["cells"]}
    for cell in cells:
        found = by_key[(cell.point_id, cell.server)]
        assert found["estimates"]["throughput"]["median"] == cell.throughput.median
        assert (found["estimates"]["p99_us"]["low"], found["estimates"]["p99_us"]["high"]) == \
            (cell.p99_us.low, cell.p99_us.high)
        assert found["lower_bound"] == cell.lower_bound
    bounded = by_key[("pingpong-c128", "reference-epoll")]
    assert bounded["lower_bound"] and any(f["label"] == "lower bound" and f["severe"] for f in bounded["flags"])
    overall = [r for r in document["rankings"] if r["scope"] == "overall"]
    assert {r["metric"] for r in overall} == {"throughput", "p99"}
    assert {r["best_first"] for r in overall} == {"highest", "lowest"}
    assert all(r["tau_pairs"] >= 0 and set(r["letters"]) == set(r["order"]) for r in document["rankings"])


def test_summary_json_gives_every_pair_at_every_point_its_verdict(example):
    run_dir, _, cells = example
    document = json.loads((run_dir / "summary.json").read_text())
    points = all_point_verdicts(cells)
    assert len(document["pairs"]) == sum(len(p.order) * (len(p.order) - 1) // 2 for p in points)
    by_key = {(p["point_id"], p["metric"], p["a"], p["b"]): p for p in document["pairs"]}
    for point in points:
        for verdict in point.verdicts:
            found = by_key[(point.point_id, point.metric, verdict.a, verdict.b)]
            assert (found["better"], found["ratio"], found["low"], found["p"]) == \
                (verdict.better, verdict.ratio, verdict.low, verdict.p)
    # the example's servers are far apart at pingpong-c1: reference-epoll beats iocp on both metrics,
    # its throughput ratio above 1 and its p99 ratio below 1 (a over b as measured)
    throughput = by_key[("pingpong-c1", "throughput", "reference-epoll", "iocp")]
    latency = by_key[("pingpong-c1", "p99", "reference-epoll", "iocp")]
    assert throughput["better"] == latency["better"] == "reference-epoll"
    assert throughput["low"] > 1 and latency["high"] < 1 and throughput["p"] < 0.05
    summaries = {(p["point_id"], p["metric"]): p for p in document["points"]}
    assert summaries[("pingpong-c1", "throughput")]["leaders"] == ["reference-epoll"]


def test_the_schema_refuses_a_pair_without_a_verdict_field(example):
    run_dir, _, _ = example
    validator = jsonschema.Draft202012Validator(json.loads(exports.SCHEMA_PATH.read_text()))
    document = json.loads((run_dir / "summary.json").read_text())
    del document["pairs"][0]["better"]
    document["pairs"][1]["metric"] = "speed"
    assert len(list(validator.iter_errors(document))) == 2


def test_summary_csv_has_one_row_per_cell(example):
    run_dir, _, cells = example
    with open(run_dir / "summary.csv", newline="") as source:
        rows = list(csv.DictReader(source))
    assert len(rows) == len(cells)
    assert len({(r["point_id"], r["server"], r["variant"]) for r in rows}) == len(cells)
    for row, cell in zip(rows, cells):
        assert float(row["throughput_median"]) == cell.throughput.median
        assert float(row["p99_us_median"]) == cell.p99_us.median


def merged(run, point_id, server):
    """The cell's repetitions' histograms added up, computed here independently of exports.py."""
    counts, maximum = {}, 0
    for record in run.records:
        if (record.point_id, record.server) == (point_id, server) and record.ok:
            for low, high, count in record.loadgen["histogram"]:
                counts[(low, high)] = counts.get((low, high), 0) + count
            maximum = max(maximum, round(record.loadgen["latency_us"]["max"] * 1000))
    return [[low, high, count] for (low, high), count in counts.items()], maximum


def test_each_hgrm_file_lists_the_merged_histograms_percentiles(example):
    run_dir, run, cells = example
    for cell in cells:
        if cell.ok_reps == 0:
            continue
        path = run_dir / "hgrm" / exports.hgrm_name(cell.point_id, cell.server, cell.variant)
        histogram, maximum = merged(run, cell.point_id, cell.server)
        total = sum(count for _, _, count in histogram)
        rows = [line.split() for line in path.read_text().splitlines()[2:] if line and not line.startswith("#")]
        percentiles = [float(row[1]) * 100 for row in rows]
        assert percentiles[0] == 0 and percentiles[-1] == 100 and percentiles == sorted(percentiles)
        assert any(abs(p - 99) < 0.5 for p in percentiles) and any(p > 99.9 for p in percentiles)
        for value, percentile, count, _ in rows:
            expected = stats.histogram_percentile(histogram, float(percentile) * 100, maximum) / 1000
            assert float(value) == pytest.approx(expected, abs=0.0005)
            assert int(count) == min(total, max(1, math.ceil(Fraction(percentile) * total)))
        assert f"Total count    = {total:12d}" in path.read_text()


def test_the_report_links_the_raw_data_and_the_exports(example):
    run_dir, _, _ = example
    text = (run_dir / "report.html").read_text()
    for target in ("manifest.json", "summary.json", "summary.csv", "hgrm/", "points/"):
        assert f'href="{target}"' in text and (run_dir / target).exists()

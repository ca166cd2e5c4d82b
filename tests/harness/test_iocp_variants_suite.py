"""The iocp-variants suite (issue 9): every variant of iocp that the tests
run as a server of its own (its model.json's "variants") and plain iocp,
each at ping-pong on 1 and 64 connections and a pipeline, interleaved in
every round of the plan; and `run --dry-run` accepts it."""
import subprocess
import sys
from collections import Counter
from pathlib import Path

from harness import models, suites
from harness.run.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS_OF_EACH_VARIANT = [("pingpong", 1), ("pingpong", 64), ("pipeline", 4)]


def load():
    return suites.load_suite("iocp-variants", models.all_models(), models.models_for_platform())


def variant_of(point):
    return tuple(point.server_args)


def variants_under_test():
    """Plain iocp and the variants the conformance and loadgen tests run."""
    return {(), *models.variants("iocp")}


def test_the_suite_holds_plain_iocp_and_each_tested_variant_at_the_same_points():
    suite = load()
    expected = variants_under_test()
    assert len(expected) == 4
    assert suite.servers == ["iocp"]
    by_variant = {}
    for point in suite.points:
        by_variant.setdefault(variant_of(point), []).append(
            (point.workload, point.loadgen_args.get("connections", 1)))
    assert set(by_variant) == expected
    for variant, measured in by_variant.items():
        assert sorted(measured) == sorted(WORKLOADS_OF_EACH_VARIANT), variant
    pipelines = [point for point in suite.points if point.workload == "pipeline"]
    assert {point.loadgen_args["depth"] for point in pipelines} == {16}
    assert {point.loadgen_args["size"] for point in suite.points} == {64}


def test_every_round_of_the_plan_runs_all_four_variants_interleaved():
    suite = load()
    cells, skipped = suite.cells(suite.servers)
    assert not skipped
    plan = make_plan(cells, ["current"], suite.reps, seed=1)
    points = {point.id: point for point in suite.points}
    rounds = Counter(item["rep"] for item in plan)
    assert rounds == {rep: len(suite.points) for rep in range(suite.reps)}
    first_round = [variant_of(points[item["point"]]) for item in plan if item["rep"] == 0]
    assert Counter(first_round) == {variant: len(WORKLOADS_OF_EACH_VARIANT) for variant in variants_under_test()}
    # Shuffled, not run variant after variant: some neighbours differ in variant.
    assert any(a != b for a, b in zip(first_round, first_round[1:]))


def test_the_dry_run_plans_twelve_cells_of_iocp():
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--suite", "iocp-variants", "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("iocp-variants: 12 (point, server) cells x 6 reps = 72 runs")
    assert "servers: iocp" in done.stdout

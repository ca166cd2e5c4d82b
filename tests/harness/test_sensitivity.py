"""harness.sensitivity on synthetic repetitions: the resampled gates' false
alarm rate stays within compare's family rate (5%) when nothing changed, a large
slowdown is caught and a null "slowdown" is not, the spins asked for follow
the calibration, and the file compare and ab read is checked."""
import json
import random
import statistics
from dataclasses import replace

import pytest

from harness import models, sensitivity, suites
from harness.sensitivity import CellRounds


def noisy(rng, median, cv, count, round_effects):
    """{round: value}: lognormal noise of its own, times the round's effect
    (what made that round of the machine slower hits every cell in it)."""
    return {r: median * round_effects[r] * rng.lognormvariate(0, cv) for r in range(count)}


def cell(rng, throughput, cv, count, round_effects):
    return CellRounds(noisy(rng, throughput, cv, count, round_effects),
                      noisy(rng, 1e6 / throughput, cv, count, [1 / e for e in round_effects]))


def gate_cells(seed, slowdown, cv=0.05, count=12, points=("p1", "p2"), servers=("a", "b"), round_cv=0.0):
    """(unslowed, second copies, slowed by `slowdown`) cells of a synthetic
    measurement, all in the same `count` rounds."""
    rng = random.Random(seed)
    effects = [rng.lognormvariate(0, round_cv) for _ in range(count)]
    base = {(p, s): cell(rng, 10000, cv, count, effects) for p in points for s in servers}
    again = {(p, s): cell(rng, 10000, cv, count, effects) for p in points for s in servers}
    slow = {(p, s, 0.1): cell(rng, 10000 / (1 + slowdown), cv, count, effects) for p in points for s in servers}
    return base, again, slow


def test_nothing_changed_is_flagged_rarely_and_a_large_slowdown_nearly_always():
    base, again, slow = gate_cells(seed=3, slowdown=0.30)
    figures = sensitivity.evaluate(base, again, slow, [0.1], threshold_pct=5.0, draws=300, seed=5, sizes=[6])
    # 4 cells x 2 metrics judged as one family: any flag in at most 5% of gates (3 sigma over 300)
    assert figures["false_alarm_rate"] <= 0.05 + 3 * (0.05 * 0.95 / 300) ** 0.5
    [detected] = figures["detection"]
    assert detected["rate"] >= 0.95 and abs(detected["slowdown"] - 0.30) < 0.06
    assert figures["smallest_caught"] == detected["slowdown"]


def test_a_null_slowdown_is_caught_no_more_often_than_a_false_alarm():
    base, again, slow = gate_cells(seed=4, slowdown=0.0, cv=0.2)
    figures = sensitivity.evaluate(base, again, slow, [0.1], threshold_pct=5.0, draws=300, seed=6, sizes=[6])
    assert figures["detection"][0]["rate"] <= 0.15
    assert figures["smallest_caught"] is None
    assert "a pass says little" in sensitivity.caveat({**figures, "schema": sensitivity.SCHEMA})


def test_more_repetitions_catch_a_small_slowdown_that_six_miss():
    base, again, slow = gate_cells(seed=8, slowdown=0.10, cv=0.10, count=36)
    figures = sensitivity.evaluate(base, again, slow, [0.1], threshold_pct=5.0, draws=100, seed=2, sizes=[6, 12, 24])
    rates = [entry["detection"][0]["rate"] for entry in figures["by_reps"]]
    assert rates[0] < sensitivity.DETECTED and rates == sorted(rates)
    assert figures["by_reps"][2]["false_alarm_rate"] is not None  # drawn from the second copies' rounds
    assert figures["recommended_reps"]["0.1"] in (12, 24)


def test_pairing_by_round_catches_a_slowdown_the_rounds_drift_would_hide():
    # the machine drifts from round to round (CV 0.25) far more than a cell
    # varies within one (0.03): gates of 12 rounds are judged pair by pair
    base, again, slow = gate_cells(seed=10, slowdown=0.10, cv=0.03, count=20, round_cv=0.25)
    figures = sensitivity.evaluate(base, again, slow, [0.1], threshold_pct=5.0, draws=100, seed=3, sizes=[6, 12])
    unpaired, paired = (entry["detection"][0]["rate"] for entry in figures["by_reps"])
    assert unpaired < 0.5 and paired >= 0.9, (unpaired, paired)
    assert all(entry["false_alarm_rate"] <= 0.05 + 3 * (0.05 * 0.95 / 100) ** 0.5 for entry in figures["by_reps"])


def test_the_spin_asked_for_is_that_share_of_the_time_per_message():
    assert sensitivity.spin_us_for(0.10, 10000) == 10   # 100 us a message
    assert sensitivity.spin_us_for(0.02, 1e6) == 1      # never below 1 us
    point = suites.Point(id="pingpong-c1", workload="pingpong", loadgen_args={"connections": 1},
                         server_args=("--threads", "2"))
    [(slowed, base_id, server, delta, spin)] = sensitivity.slowed_points([point], {("pingpong-c1", "iocp"): 5000},
                                                                        [0.05])
    assert (base_id, server, delta, spin) == ("pingpong-c1", "iocp", 0.05, 10)
    assert slowed.id == "pingpong-c1-slow5pct-iocp" and slowed.servers == ("iocp",)
    assert slowed.server_args == ("--threads", "2", "--spin-us", "10")


def test_a_file_that_is_not_a_sensitivity_is_one_line(tmp_path):
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"schema": "winsock-bench/compare/1"}))
    with pytest.raises(sensitivity.SensitivityError, match="is not a sensitivity file"):
        sensitivity.read(bad)
    with pytest.raises(sensitivity.SensitivityError, match="cannot read sensitivity file"):
        sensitivity.read(tmp_path / "missing.json")


def test_compare_with_a_sensitivity_file_says_what_would_go_unseen(tmp_path, capsys):
    import synthetic
    from harness.__main__ import main
    samples = [[100.0 + rep, 110.0, 120.0] for rep in range(6)]
    run = synthetic.write_run(tmp_path / "run", {("pingpong-c1", "iocp"): samples})
    base, again, slow = gate_cells(seed=3, slowdown=0.30)
    data = {"schema": sensitivity.SCHEMA, **sensitivity.evaluate(base, again, slow, [0.1], 5.0, draws=100, sizes=[6])}
    path = tmp_path / "sensitivity.json"
    path.write_text(json.dumps(data))
    assert main(["compare", str(run), str(run), "--sensitivity", str(path)]) == 0
    assert "would likely go unseen" in capsys.readouterr().out
    assert main(["compare", str(run), str(run), "--sensitivity", str(tmp_path / "none.json")]) == 2
    assert "cannot read sensitivity file" in capsys.readouterr().err


def test_gates_are_sized_as_ab_runs_the_suite_and_judged_at_that_size():
    gate = suites.load_suite("gate", models.all_models())
    assert sensitivity.gate_size(gate) == gate.repetitions.min >= sensitivity.FEWEST_REPS
    assert sensitivity.gate_size(replace(gate, repetitions=suites.Repetitions.fixed(3))) == sensitivity.FEWEST_REPS
    sizes = sensitivity.sizes_to_try(20, 40)
    assert sizes[0] == sensitivity.FEWEST_REPS and 20 in sizes and max(sizes) <= 40
    base, again, slow = gate_cells(seed=9, slowdown=0.30, count=20)
    figures = sensitivity.evaluate(base, again, slow, [0.1], threshold_pct=5.0, draws=20, seed=1, sizes=[6, 10],
                                   gate_reps=10)
    assert figures["gate_reps"] == 10 and figures["false_alarm_rate"] == figures["by_reps"][1]["false_alarm_rate"]


def test_a_a_gates_judged_both_ways_keep_their_rate_and_vary_less():
    # Gates drawn from one measurement share its chance differences between
    # the two unslowed copies; judged one way only, the rate from each of
    # many simulated measurements swings with them. Both ways, its mean stays
    # (both ways are A/A gates) and its spread shrinks.
    one_way, both_ways = [], []
    for seed in range(16):
        base, again, _ = gate_cells(seed=100 + seed, slowdown=0.0, cv=0.10, count=40,
                                    points=("p1", "p2", "p3"), servers=("a", "b", "c", "d"))
        rounds = sensitivity.common_rounds(base, again)
        rng = random.Random(seed)
        alarms = 0
        for _ in range(100):
            drawn = rng.sample(rounds, 20)
            alarms += bool(sensitivity.gate_regressions(
                {key: (values.only(drawn), again[key].only(drawn)) for key, values in base.items()}, 5.0))
        one_way.append(alarms / 100)
        both_ways.append(sensitivity.false_alarm_rate(base, again, 20, 100, 5.0, random.Random(seed)))
    assert abs(statistics.mean(both_ways) - statistics.mean(one_way)) <= 0.01
    assert statistics.mean(both_ways) <= 0.05
    assert statistics.stdev(both_ways) < 0.8 * statistics.stdev(one_way), (one_way, both_ways)

"""harness/compare.py on synthetic run folders (no network)."""
import io
import json
import math
import random
from types import SimpleNamespace

import pytest

import synthetic
from harness import compare
from harness.analysis.cells import estimate

POINT = "pingpong-c16"
SERVERS = ("iocp", "select")
REP_NOISE = 0.01  # a little noise between repetitions (lognormal sigma), drawn independently on each side


def latencies(scale, rng, count=400):
    """One repetition's latency samples (us): the same shape every time, scaled,
    with its own repetition-to-repetition noise from rng."""
    rep_scale = rng.lognormvariate(0, REP_NOISE)
    return [80.0 * scale * rep_scale * rng.lognormvariate(0, 0.2) for _ in range(count)]


def write(path, *, latency_scale=1.0, throughput_scale=1.0, reps=6, servers=SERVERS, variant=None, points=None,
          edit_manifest=None):
    """A run folder; its noise is seeded by the folder's name and the server, so
    "base" and "new" draw independent noise, as two real runs do."""
    cells, throughput = {}, {}
    for server in servers:
        rng = random.Random(f"{path.name}-{server}")
        key = (POINT, server) if variant is None else (POINT, server, variant)
        cells[key] = [latencies(latency_scale, rng) for _ in range(reps)]
        throughput[key] = [10000 * throughput_scale * rng.lognormvariate(0, REP_NOISE) for _ in range(reps)]
    run_dir = synthetic.write_run(path, cells, throughput=throughput, points=points)
    if edit_manifest:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        edit_manifest(manifest)
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def run_main(base, new, threshold=5.0, allow_different=False):
    out, err = io.StringIO(), io.StringIO()
    code = compare.main(base, new, threshold, allow_different=allow_different, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def flagged(comparisons):
    return {(c.server, c.metric): ("regression" if c.regression else "improvement")
            for c in comparisons if c.regression or c.improvement}


def test_identical_runs_pass(tmp_path):
    base = write(tmp_path / "base")
    comparisons = compare.compare_runs(base, base, 5.0)
    assert len(comparisons) == 2 * len(SERVERS)
    assert all(c.ratio == 1 and c.low <= 1 <= c.high for c in comparisons)
    assert flagged(comparisons) == {}
    code, out, err = run_main(base, base)
    assert (code, err) == (0, "")
    assert "0 regression(s)" in out


def test_a_20_percent_throughput_drop_is_a_regression(tmp_path):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", throughput_scale=0.8)
    comparisons = compare.compare_runs(base, new, 5.0)
    assert flagged(comparisons) == {("iocp", "throughput"): "regression", ("select", "throughput"): "regression"}
    iocp = next(c for c in comparisons if (c.server, c.metric) == ("iocp", "throughput"))
    assert iocp.ratio == pytest.approx(0.8, abs=0.02)
    assert iocp.low <= 0.8 <= iocp.high < 1
    code, out, _ = run_main(base, new)
    assert code == 1
    assert "REGRESSION" in out


def test_a_20_percent_p99_rise_is_a_regression(tmp_path):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", latency_scale=1.2)
    comparisons = compare.compare_runs(base, new, 5.0)
    assert flagged(comparisons) == {("iocp", "p99"): "regression", ("select", "p99"): "regression"}
    assert run_main(base, new)[0] == 1


def test_the_mirror_images_are_improvements(tmp_path):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", throughput_scale=1.25, latency_scale=0.8)
    comparisons = compare.compare_runs(base, new, 5.0)
    assert set(flagged(comparisons).values()) == {"improvement"}
    assert len(flagged(comparisons)) == 4
    assert run_main(base, new)[0] == 0


def test_a_drop_smaller_than_the_threshold_is_not_flagged(tmp_path):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", throughput_scale=0.97)
    assert flagged(compare.compare_runs(base, new, 5.0)) == {}
    # ...but is at a 2% threshold: consistent across repetitions, and beyond it
    assert flagged(compare.compare_runs(base, new, 2.0)) == {("iocp", "throughput"): "regression",
                                                               ("select", "throughput"): "regression"}


@pytest.mark.parametrize("reps", [1, 3, 5])  # 6 a side are needed (stats.ratio_interval)
def test_too_few_repetitions_for_an_interval_are_never_flagged(tmp_path, reps):
    base = write(tmp_path / "base", reps=reps)
    new = write(tmp_path / "new", reps=reps, throughput_scale=0.5)
    comparisons = compare.compare_runs(base, new, 5.0)
    assert flagged(comparisons) == {}
    throughput = next(c for c in comparisons if c.metric == "throughput")
    assert throughput.ratio == pytest.approx(0.5, abs=0.02)
    assert throughput.low is None and throughput.high is None
    assert "too few repetitions" in compare.format_comparisons(comparisons)


def test_a_cell_whose_loadgen_saturated_is_never_judged(tmp_path):
    def saturate(record):
        config = record["loadgen"]["config"]
        busy = 0.97 * (config["duration_s"] + config["warmup_s"])
        record["loadgen"]["client_cpu_s"] = {"user": busy / 2, "system": busy / 2}
    base = write(tmp_path / "base")
    rng = random.Random("saturated")
    cells = {(POINT, server): [latencies(1.0, rng) for _ in range(6)] for server in SERVERS}
    throughput = {(POINT, server): [8000 * rng.lognormvariate(0, REP_NOISE) for _ in range(6)] for server in SERVERS}
    new = synthetic.write_run(tmp_path / "new", cells, throughput=throughput, edit=saturate)
    comparisons = compare.compare_runs(base, new, 5.0)
    assert comparisons and all(c.lower_bound for c in comparisons) and flagged(comparisons) == {}
    assert "loadgen saturated: not judged" in compare.format_comparisons(comparisons)


def test_a_cell_that_fails_entirely_in_new_is_a_regression(tmp_path):
    base = write(tmp_path / "base")
    cells = {(POINT, "iocp"): [latencies(1.0, random.Random(rep)) for rep in range(3)]}
    failures = [(POINT, "select", "current", rep, "server crashed") for rep in range(3)]
    new = synthetic.write_run(tmp_path / "new", cells, failures=failures)
    code, out, _ = run_main(base, new)
    assert code == 1
    assert f"{POINT} / select had results in base and none in new" in out


def test_only_cells_in_both_runs_are_compared(tmp_path):
    base = write(tmp_path / "base", servers=("iocp", "select"))
    new = write(tmp_path / "new", servers=("iocp", "wsapoll"))
    assert {c.server for c in compare.compare_runs(base, new, 5.0)} == {"iocp"}


def test_compare_variants_of_one_ab_run(tmp_path):
    cells, throughput = {}, {}
    for variant, scale in (("base", 1.0), ("current", 0.8)):
        key = (POINT, "iocp", variant)
        rng = random.Random(variant)  # each variant its own noise
        cells[key] = [latencies(1.0, rng) for _ in range(6)]
        throughput[key] = [10000 * scale * rng.lognormvariate(0, REP_NOISE) for _ in range(6)]
    run_dir = synthetic.write_run(tmp_path / "run", cells, throughput=throughput)
    comparisons = compare.compare_variants(run_dir, 5.0)
    assert flagged(comparisons) == {("iocp", "throughput"): "regression"}
    # compare (two folders) takes the "current" variant of an ab run
    assert flagged(compare.compare_runs(run_dir, run_dir, 5.0)) == {}
    with pytest.raises(ValueError):
        compare.compare_variants(run_dir, 5.0, base="nonexistent")
    assert compare.main_variants(run_dir, 5.0, out=io.StringIO(), err=io.StringIO()) == 1


# ---- simulated: noisy cells beside tight ones, unequal counts, independent noise ----
# Real runs have cells at CV 0.75-1.2 beside cells at 0.05, and adaptive
# repetitions give the two sides unequal counts. One side is tight (CV 0.05),
# the other as noisy as the grid says; which side is noisy alternates.

NOISE_GRID = [0.05, 0.3, 0.75]
COUNT_GRID = [(6, 6), (10, 6), (6, 10), (12, 6)]  # (tight side, noisy side)


def _lognormal_draws(rng, centre, cv, reps):
    sigma = math.sqrt(math.log(1 + cv * cv))
    return [centre * math.exp(rng.gauss(0, sigma)) for _ in range(reps)]


def simulated_cell(rng, reps, cv, slower=1.0):
    """A cell as compare_cells reads it: throughput and p99 over reps repetitions
    of noise cv, `slower` times slower than a 10,000/s, 800 us baseline."""
    return SimpleNamespace(point_id=POINT, server="iocp", lower_bound=False,
                           throughput=estimate(_lognormal_draws(rng, 10000 / slower, cv, reps)),
                           p99_us=estimate(_lognormal_draws(rng, 800 * slower, cv, reps)))


def regression_shares(seed, trials, noise, counts, slower):
    """metric -> share of trials compare_cells flagged a regression, new `slower` times
    slower than base; noise (tight cv, noisy cv), counts (tight reps, noisy reps)."""
    rng = random.Random(seed)
    flagged_count = {"throughput": 0, "p99": 0}
    for trial in range(trials):
        tight, noisy = (noise[0], counts[0]), (noise[1], counts[1])
        base_side, new_side = (tight, noisy) if trial % 2 else (noisy, tight)
        base = simulated_cell(rng, base_side[1], base_side[0])
        new = simulated_cell(rng, new_side[1], new_side[0], slower)
        for comparison in compare.compare_cells([base], [new], 5.0):
            flagged_count[comparison.metric] += comparison.regression
    return {metric: count / trials for metric, count in flagged_count.items()}


def _binomial_bound(rate, trials, sigmas=3):
    return sigmas * math.sqrt(rate * (1 - rate) / trials)


@pytest.mark.parametrize("cv", NOISE_GRID)
@pytest.mark.parametrize("counts", COUNT_GRID)
def test_equal_cells_are_flagged_in_at_most_2_5_percent_of_comparisons(cv, counts):
    # a regression needs the whole 95% interval on the bad side: one tail, 2.5% at most
    trials = 2000
    shares = regression_shares(f"null-{cv}-{counts}", trials, (0.05, cv), counts, slower=1.0)
    assert all(share <= 0.025 + _binomial_bound(0.025, trials) for share in shares.values()), shares


@pytest.mark.parametrize("noise", [(0.05, 0.2), (0.15, 0.15)])
@pytest.mark.parametrize("counts", COUNT_GRID)
def test_a_30_percent_regression_under_modest_noise_is_caught_most_of_the_time(noise, counts):
    # 1.3x slower: throughput / 1.3, p99 x 1.3; caught in at least 60% of trials
    trials = 2000
    shares = regression_shares(f"power-{noise}-{counts}", trials, noise, counts, slower=1.3)
    assert all(share >= 0.6 - _binomial_bound(0.6, trials) for share in shares.values()), shares


def gate_alarm_share(seed, trials, cells, reps, cv):
    """The share of simulated A/A gates (cells equal cells a side, reps
    repetitions each, lognormal noise cv) that flag any regression."""
    rng = random.Random(seed)
    alarms = 0
    for _ in range(trials):
        base = [simulated_cell(rng, reps, cv) for _ in range(cells)]
        new = [simulated_cell(rng, reps, cv) for _ in range(cells)]
        for index, (before, after) in enumerate(zip(base, new)):
            before.point_id = after.point_id = f"point-{index}"
        alarms += any(c.regression for c in compare.compare_cells(base, new, 5.0))
    return alarms / trials


def test_an_unchanged_gate_of_twelve_cells_fails_in_at_most_5_percent_of_runs():
    # 24 comparisons: judged one by one at 2.5% a tail, some 20-40% of such
    # gates would flag something; the false discovery step holds the family
    trials = 300
    share = gate_alarm_share("gate-null", trials, cells=12, reps=6, cv=0.15)
    assert share <= compare.FAMILY_ALPHA + _binomial_bound(compare.FAMILY_ALPHA, trials), share


def test_a_lone_cell_slowed_10x_is_flagged_among_few_cells_and_said_unreachable_among_many(tmp_path):
    rng = random.Random("lone")
    base = [simulated_cell(rng, 6, 0.05) for _ in range(50)]
    new = [simulated_cell(rng, 6, 0.05, slower=10.0 if index == 0 else 1.0) for index in range(50)]
    for index, (before, after) in enumerate(zip(base, new)):
        before.point_id = after.point_id = f"point-{index}"
    few = compare.compare_cells(base[:10], new[:10], 5.0)
    assert {(c.point_id, c.metric) for c in few if c.regression} == {("point-0", "throughput"), ("point-0", "p99")}
    many = compare.compare_cells(base, new, 5.0)  # 100 comparisons: 1/924 is above 2 steps' 0.001
    assert not any(c.regression for c in many)
    assert "cannot be flagged" in compare.reach_note(many)
    assert compare.reach_note(few) is None


def drifting_cell(rng, effects, slower=1.0, cv=0.03):
    """A cell of an ab run whose rounds drift together (effects: each round's
    factor): its values, and the same by round, as compare_cells reads them."""
    throughput = {r: 10000 / slower * e * rng.lognormvariate(0, cv) for r, e in enumerate(effects)}
    p99 = {r: 800 * slower / e * rng.lognormvariate(0, cv) for r, e in enumerate(effects)}
    return SimpleNamespace(point_id=POINT, server="iocp", lower_bound=False,
                           throughput=estimate(list(throughput.values())),
                           p99_us=estimate(list(p99.values())),
                           by_round={"throughput": throughput, "p99": p99})


def test_variants_measured_in_the_same_rounds_are_paired_and_a_drift_no_longer_hides_a_slowdown():
    # the machine drifts from round to round by CV 0.25, each cell by 0.03 within a round: a 10%
    # slowdown is lost in the drift by the unpaired test and plain to the paired one
    rng = random.Random("drift")
    caught = {False: 0, True: 0}
    for _ in range(40):
        effects = [rng.lognormvariate(0, 0.25) for _ in range(12)]
        base, new = drifting_cell(rng, effects), drifting_cell(rng, effects, slower=1.10)
        for paired in caught:
            found = compare.compare_cells([base], [new], 5.0, paired=paired)
            assert all(c.paired == paired for c in found)
            caught[paired] += any(c.regression for c in found)
    assert caught[False] <= 12 and caught[True] >= 36, caught


def test_paired_gates_of_equal_variants_fail_in_at_most_5_percent_of_runs():
    rng = random.Random("paired-null")
    trials, alarms = 300, 0
    for _ in range(trials):
        effects = [rng.lognormvariate(0, 0.25) for _ in range(12)]
        base = [drifting_cell(rng, effects) for _ in range(12)]
        new = [drifting_cell(rng, effects) for _ in range(12)]
        for index, (before, after) in enumerate(zip(base, new)):
            before.point_id = after.point_id = f"point-{index}"
        alarms += any(c.regression for c in compare.compare_cells(base, new, 5.0, paired=True))
    assert alarms / trials <= compare.FAMILY_ALPHA + _binomial_bound(compare.FAMILY_ALPHA, trials), alarms


def test_too_few_rounds_in_common_fall_back_to_the_unpaired_test():
    rng = random.Random("few")
    effects = [1.0] * (compare.PAIRED_MIN_ROUNDS - 1)
    found = compare.compare_cells([drifting_cell(rng, effects)], [drifting_cell(rng, effects)], 5.0, paired=True)
    assert found and not any(c.paired for c in found)


def test_main_exits_2_with_one_line_on_a_folder_that_is_not_a_run(tmp_path):
    base = write(tmp_path / "base")
    (tmp_path / "empty").mkdir()
    code, out, err = run_main(base, tmp_path / "empty")
    assert code == 2 and out == ""
    assert err.startswith("compare: ") and err.count("\n") == 1
    assert run_main(tmp_path / "missing", base)[0] == 2


def test_main_exits_2_on_a_bad_threshold_or_nothing_in_common(tmp_path):
    base = write(tmp_path / "base", servers=("iocp",))
    other = write(tmp_path / "other", servers=("select",))
    assert run_main(base, base, threshold=0)[0] == 2
    assert run_main(base, base, threshold=150)[0] == 2
    code, _, err = run_main(base, other)
    assert code == 2 and "no cell" in err


def test_format_comparisons_lists_every_comparison(tmp_path):
    base = write(tmp_path / "base")
    comparisons = compare.compare_runs(base, write(tmp_path / "new", throughput_scale=0.8), 5.0)
    table = compare.format_comparisons(comparisons).splitlines()
    assert len(table) == 1 + len(comparisons)
    assert table[0].split()[:3] == ["point", "server", "metric"]
    assert sum("REGRESSION" in line for line in table) == 2
    assert compare.format_comparisons([]) == "no cell in common to compare"


# ---- apples and oranges ----

def test_runs_with_different_point_options_are_refused_naming_the_option(tmp_path):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", points={POINT: {"loadgen_args": {"duration": 5}}})
    code, out, err = run_main(base, new)
    assert code == 2 and out == ""
    assert f"point {POINT}: option duration 2 (base) vs 5 (new)" in err
    code, out, err = run_main(base, new, allow_different=True)
    assert code == 0 and err == ""
    assert out.startswith("WARNING: comparing sides that were not measured alike")
    assert f"point {POINT}: option duration 2 (base) vs 5 (new)" in out.splitlines()[1]
    assert "0 regression(s)" in out


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m.update(suite_text="# another suite\n"), "suite text: # synthetic (base) vs # another suite (new)"),
    (lambda m: m["platform"].update(wine="wine-9.0"), "platform: Wine version: wine-8.0 (Debian 8.0~repack-4) (base) "
                                                      "vs wine-9.0 (new)"),
    (lambda m: m["platform"].update(cpu_model="Another CPU"),
     "platform: CPU model: Synthetic CPU (base) vs Another CPU"),
    (lambda m: m["platform"].update(cpu_count=8), "platform: logical CPUs: 2 (base) vs 8 (new)"),
    (lambda m: m["platform"].update(compiler="clang 17"), "platform: compiler: x86_64-w64-mingw32-gcc 12-win32 (base)"),
    (lambda m: m["platform"].update(os="Windows", kernel="10.0.22631"), "platform: Windows build: 6.1.0 (base)"),
    (lambda m: m["variants"]["current"].update(build_type="Debug"), "server build: build_type: not recorded (base) "
                                                                    "vs Debug (new)"),
])
def test_every_difference_in_conditions_is_named(tmp_path, edit, expected):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", edit_manifest=edit)
    code, _, err = run_main(base, new)
    assert code == 2 and expected in err


def test_a_different_commit_is_what_compare_is_for(tmp_path):
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", edit_manifest=lambda m: m["variants"]["current"].update(commit="1" * 40))
    assert run_main(base, new)[0] == 0


def test_ab_variants_differing_in_a_build_fact_are_refused(tmp_path):
    rngs = {variant: random.Random(variant) for variant in ("base", "current")}
    cells = {(POINT, "iocp", variant): [latencies(1.0, rng) for _ in range(6)] for variant, rng in rngs.items()}
    run_dir = synthetic.write_run(tmp_path / "run", cells)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["variants"]["base"]["commit"] = "1" * 40  # expected to differ in ab
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert compare.main_variants(run_dir, 5.0, out=io.StringIO(), err=io.StringIO()) == 0
    manifest["variants"]["base"]["cflags"] = "-O0"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    err = io.StringIO()
    assert compare.main_variants(run_dir, 5.0, out=io.StringIO(), err=err) == 2
    assert "server build: cflags: -O0 (base) vs not recorded (new)" in err.getvalue()
    assert compare.main_variants(run_dir, 5.0, allow_different=True, out=io.StringIO(), err=io.StringIO()) == 0


def test_the_command_line_refuses_and_allows(tmp_path):
    from harness.__main__ import main
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", points={POINT: {"loadgen_args": {"duration": 5}}})
    assert main(["compare", str(base), str(new)]) == 2
    assert main(["compare", str(base), str(new), "--allow-different"]) == 0


def test_compare_writes_markdown_and_json_through_the_command_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    base = write(tmp_path / "base")
    new = write(tmp_path / "new", throughput_scale=0.8)
    markdown, document = tmp_path / "out" / "compare.md", tmp_path / "compare.json"
    (tmp_path / "out").mkdir()
    done = subprocess.run([sys.executable, "-m", "harness", "compare", str(base), str(new), "--markdown",
                           str(markdown), "--json", str(document)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1, done.stderr
    text = markdown.read_text()
    assert text.startswith("**2 regression(s)**, 0 improvement(s) in 4 comparisons at a 5% threshold")
    rows = [line for line in text.splitlines() if line.startswith(f"| {POINT} |")]
    assert len(rows) == 4 and sum("**REGRESSION**" in row for row in rows) == 2
    found = json.loads(document.read_text())
    assert found["schema"] == "winsock-bench/compare/1" and found["regressions"] == 2
    by_key = {(c["server"], c["metric"]): c for c in found["comparisons"]}
    assert by_key[("iocp", "throughput")]["verdict"] == "REGRESSION"
    assert by_key[("iocp", "throughput")]["ratio"] == pytest.approx(0.8, abs=0.02)
    assert by_key[("iocp", "p99")]["verdict"] is None and found["lost"] == []


def test_compare_markdown_makes_data_inert(tmp_path):
    comparison = compare.Comparison("a|b", "<i>x</i>", "p99", 1.0, 2.0, 2.0, None, None, True, False)
    text = compare.comparison_markdown([comparison], [], 5.0)
    row = text.splitlines()[-1]
    assert "a\\|b" in row and "&lt;i>x&lt;/i>" in row and row.count(" | ") == 7


def test_compare_says_which_export_file_it_cannot_write(tmp_path):
    base = write(tmp_path / "base")
    (tmp_path / "a-file").write_text("")
    out, err = io.StringIO(), io.StringIO()
    code = compare.main(base, base, 5.0, out=out, err=err,
                        exports={"json": tmp_path / "a-file" / "x.json", "markdown": None})
    assert code == 2 and err.getvalue().startswith("compare: cannot write") and "\n" == err.getvalue()[-1]
    assert err.getvalue().count("\n") == 1

"""`compare` and `ab`: did a change make a server slower?

Cells are matched on (point_id, server). For each matched cell and metric
(throughput, p99 latency) the ratio new/base is the ratio of the two medians
(the ones the table shows) with its 95% interval (stats.ratio_interval), which
combines each side's own distribution-free interval of its median: a noisy side
beside a tight one, or unequal repetition counts, widen it as they should.

When is it a regression? Two conditions, both needed:
  - significant, over the whole family: each comparison has a one-sided
    p-value that new is worse (stats.worse_p_value: the larger of the exact
    rank-sum and Brunner-Munzel p-values, so unequal spreads do not fake a
    change), and the Benjamini-Hochberg step is taken over every judged
    comparison of the run at FAMILY_ALPHA. A gate fails when any comparison is
    flagged, so what matters is the chance that an unchanged build flags any
    of them: per-comparison 95% intervals flagged 20% of A/A gates of 12
    cells on a 2-CPU machine (`sensitivity`). When nothing changed, the step
    holds that chance at FAMILY_ALPHA; when something did, at most that share
    of the flagged comparisons is expected to be wrong;
    Two variants of one `ab` run were measured in the same rounds, so with
    PAIRED_MIN_ROUNDS rounds or more in common their p-value comes from the
    paired test instead (stats.signed_rank_p_value_greater over each
    round's log(new/base)): what made one round of the machine slower than
    another hits both sides of the pair and cancels, where the unpaired
    test counts it as noise;
  - material: the ratio is worse than the threshold (throughput: ratio <
    1 - threshold/100; p99: ratio > 1 + threshold/100), so a real but tiny change
    is not reported.
An improvement is the mirror image (its own family). Identical inputs give a
ratio of exactly 1 and are never flagged. The 95% interval shown is each
comparison's own (stats.ratio_interval: the ratio of the medians, combining
each side's distribution-free interval of its median); with too few
repetitions for it (fewer than 6 on either side) nothing is judged (the ratio
is still shown). Nor is a cell whose load generator saturated on either side
(analysis.cells.Cell.lower_bound): it measured the load generator, not the server.

The price of judging a family: the smallest p-value R repetitions against R
can give is 1 / C(2R, R) (1/924 at 6), and the first step needs it below
FAMILY_ALPHA / (number of comparisons), so a lone cell among more than 46
comparisons cannot be flagged at 6 repetitions, however large its change
(several cells moving together can). main() says so when it happens; the
gate suite runs enough repetitions for its size (harness/suites/gate.toml).

Simulated (tests/harness/test_compare.py, independent lognormal noise on each
side, one side CV 0.05 and the other up to 0.75, 6 to 12 repetitions a side in
any mix, 2,000 trials a setting): equal cells are flagged in at most 2.5% of
comparisons at a 5% threshold, and a gate of 24 equal cells flags any in at
most 5%; a 1.3x slowdown (throughput / 1.3, p99 x 1.3) of a lone cell is
flagged in most trials with CV 0.2 on one side or 0.15 on both.

A cell that had results in base but none in new (every repetition failed) is a
regression too: main() reports it and exits 1."""
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import stats, store, verdicts
from .analysis.cells import load_cells, metric_estimate

COMPARE_SCHEMA_ID = "winsock-bench/compare/1"
FAMILY_ALPHA = 0.05  # the chance that an unchanged build fails the gate at all
# Rounds in common from which two variants of one run are compared pair by
# pair: the paired test's smallest p-value is 1/2^n, so below 10 rounds
# (1/1024) the unpaired test, whose floor at 6 a side is 1/924, reaches further.
PAIRED_MIN_ROUNDS = 10


@dataclass
class Comparison:
    point_id: str
    server: str
    metric: str  # "throughput" | "p99"
    base: float
    new: float
    ratio: float
    low: float | None  # None: too few repetitions for a 95% interval
    high: float | None
    regression: bool
    improvement: bool
    lower_bound: bool = False  # a side's load generator saturated: measured, never flagged
    p_worse: float | None = None  # one-sided p-value that new is worse (None: not judged)
    p_better: float | None = None
    p_floor: float | None = None  # the smallest p-value these repetition counts can give
    paired: bool = False  # judged by the paired test (rounds in common), not the unpaired one


def _check_threshold(threshold_pct):
    if not 0 < threshold_pct < 100:
        raise ValueError(f"threshold must be between 0 and 100 (percent), not {threshold_pct}")


def _by_key(cells, side):
    indexed = {}
    for cell in cells:
        key = (cell.point_id, cell.server)
        if key in indexed:
            raise ValueError(f"{side}: {cell.point_id} / {cell.server} appears twice (several variants?)")
        indexed[key] = cell
    return indexed


def material(ratio, higher_is_better, threshold_pct):
    """(worse, better): the ratio new/base lies beyond the threshold on that side."""
    margin = threshold_pct / 100
    lower, higher = ratio < 1 - margin, ratio > 1 + margin
    return (lower, higher) if higher_is_better else (higher, lower)


def compare_values(point_id, server, metric, base_values, new_values, lower_bound=False, rounds=None):
    """One Comparison of two lists of per-repetition values, not yet judged
    (judge() decides over the whole family). lower_bound: a side measured its
    load generator, not the server (analysis.cells.Cell.lower_bound), so
    whatever changed is not the server's doing and nothing is flagged.
    rounds: (base, new) {repetition: value} of two variants measured in the
    same rounds (ab): with PAIRED_MIN_ROUNDS rounds in common, the p-values
    come from the paired test (worse_p_value), else from the unpaired one."""
    higher_is_better = dict(verdicts.METRICS)[metric]
    ratio = stats.ratio_interval(new_values, base_values)
    judged = ratio.low is not None and not lower_bound
    p_worse = p_better = floor = None
    paired = False
    if judged:
        p_worse, floor, paired = worse_p_value(base_values, new_values, higher_is_better, rounds)
        p_better, _, _ = worse_p_value(base_values, new_values, not higher_is_better, rounds)
    return Comparison(point_id=point_id, server=server, metric=metric, base=stats.median(base_values),
                      new=stats.median(new_values), ratio=ratio.estimate, low=ratio.low, high=ratio.high,
                      regression=False, improvement=False, lower_bound=lower_bound, p_worse=p_worse,
                      p_better=p_better, p_floor=floor, paired=paired)


def worse_p_value(base_values, new_values, higher_is_better, rounds=None):
    """(the one-sided p-value that new is worse, the smallest p these counts
    allow, paired?): worse is lower when higher_is_better, else higher. From
    the paired test over the rounds both sides measured (rounds: (base, new)
    {repetition: value}) when there are PAIRED_MIN_ROUNDS of them, else from
    the unpaired test of the values."""
    pairs = paired_logs(*rounds) if rounds else None
    if pairs:
        leaning = [-d for d in pairs] if higher_is_better else pairs
        return stats.signed_rank_p_value_greater(leaning), stats.signed_rank_floor(len(pairs)), True
    larger, smaller = (base_values, new_values) if higher_is_better else (new_values, base_values)
    return (stats.worse_p_value(larger, smaller), stats.rank_sum_floor(len(base_values), len(new_values)), False)


def paired_logs(base_rounds, new_rounds):
    """log(new / base) of each round both sides measured, or None with fewer
    than PAIRED_MIN_ROUNDS of them (or a value that is not positive)."""
    common = sorted(set(base_rounds) & set(new_rounds))
    if len(common) < PAIRED_MIN_ROUNDS or min(min(base_rounds[r], new_rounds[r]) for r in common) <= 0:
        return None
    return [math.log(new_rounds[r] / base_rounds[r]) for r in common]


def flagged(tests, threshold_pct, alpha=FAMILY_ALPHA) -> set:
    """The indexes of tests [(p-value that it got worse, ratio new/base,
    higher_is_better)] flagged by the rule in the module docstring: the false
    discovery rate step over all of them, and the ratio worse than the threshold."""
    significant = stats.fdr_rejections({i: p for i, (p, _, _) in enumerate(tests)}, alpha)
    return {i for i in significant if material(tests[i][1], tests[i][2], threshold_pct)[0]}


def judge(comparisons, threshold_pct, alpha=FAMILY_ALPHA):
    """Sets each comparison's regression and improvement: flagged() over the
    family of judged comparisons, one direction at a time. Returns them."""
    judged = [c for c in comparisons if c.p_worse is not None]
    directions = [dict(verdicts.METRICS)[c.metric] for c in judged]
    worse = flagged([(c.p_worse, c.ratio, up) for c, up in zip(judged, directions)], threshold_pct, alpha)
    better = flagged([(c.p_better, c.ratio, not up) for c, up in zip(judged, directions)], threshold_pct, alpha)
    for i, c in enumerate(judged):
        c.regression, c.improvement = i in worse, i in better
    return comparisons


def reach_note(comparisons, alpha=FAMILY_ALPHA):
    """A line when no comparison could be flagged on its own: the smallest
    p-value its repetitions allow is above the first step of the family's
    false discovery rate (alpha / number judged). None otherwise."""
    judged = [c for c in comparisons if c.p_worse is not None]
    if not judged or min(c.p_floor for c in judged) <= alpha / len(judged):
        return None
    return (f"note: with {len(judged)} comparisons, a cell that changed alone cannot be flagged: its "
            f"repetitions can give p >= {min(c.p_floor for c in judged):.2g}, above the first step "
            f"{alpha / len(judged):.2g}; "
            "several cells that moved together can be (more repetitions, or fewer cells, as the gate suite has)")


def compare_cells(base: list, new: list, threshold_pct: float, paired=False) -> list[Comparison]:
    """Comparisons of the cells present in both lists (each list: one variant), in base's order, judged.
    paired: the two lists are variants of one run, measured in the same rounds (ab)."""
    _check_threshold(threshold_pct)
    base_cells, new_cells = _by_key(base, "base"), _by_key(new, "new")
    comparisons = []
    for key, base_cell in base_cells.items():
        new_cell = new_cells.get(key)
        if new_cell is None:
            continue
        for metric, _ in verdicts.METRICS:
            base_value = metric_estimate(base_cell, metric)
            new_value = metric_estimate(new_cell, metric)
            if base_value is not None and new_value is not None:
                bounded = base_cell.lower_bound or new_cell.lower_bound
                rounds = (base_cell.by_round.get(metric, {}), new_cell.by_round.get(metric, {})) if paired else None
                comparisons.append(compare_values(*key, metric, base_value.values, new_value.values, bounded,
                                                  rounds))
    return judge(comparisons, threshold_pct)


def lost_cells(base: list, new: list) -> list[tuple[str, str]]:
    """(point_id, server) that had ok repetitions in base and none in new."""
    new_cells = _by_key(new, "new")
    return [(c.point_id, c.server) for c in base
            if c.ok_reps and (c.point_id, c.server) in new_cells and not new_cells[(c.point_id, c.server)].ok_reps]


@dataclass
class Side:
    """One side of a comparison: a run's cells of one variant, and what they were measured with."""
    manifest: dict
    variant: str
    cells: list


def _variant_side(run, cells, variant, where):
    chosen = [cell for cell in cells if cell.variant == variant]
    if not chosen:
        raise ValueError(f"{where}: no results for variant {variant!r}")
    return Side(run.manifest, variant, chosen)


def _run_side(run_dir):
    """A run's side: its "current" variant when there is one (an `ab` run also has
    "base"), else its only variant."""
    run, cells = load_cells(run_dir)
    variants = list(dict.fromkeys(cell.variant for cell in cells))
    if not variants:
        raise ValueError(f"{run_dir}: the run has no results")
    if "current" not in variants and len(variants) > 1:
        raise ValueError(f"{run_dir}: several variants ({', '.join(variants)}) and none is 'current'")
    return _variant_side(run, cells, "current" if "current" in variants else variants[0], run_dir)


def _variant_sides(run_dir, base, new):
    run, cells = load_cells(run_dir)
    return _variant_side(run, cells, base, run_dir), _variant_side(run, cells, new, run_dir)


def compare_runs(base_dir, new_dir, threshold_pct) -> list[Comparison]:
    return compare_cells(_run_side(base_dir).cells, _run_side(new_dir).cells, threshold_pct)


def compare_variants(run_dir, threshold_pct, base="base", new="current") -> list[Comparison]:
    """Two variants of one run (`ab`: both interleaved on the same machine state)."""
    base_side, new_side = _variant_sides(run_dir, base, new)
    return compare_cells(base_side.cells, new_side.cells, threshold_pct, paired=True)


# ---- what must be equal for a comparison to mean something ----

PLATFORM_FACTS = (("wine", "Wine version"), ("os", "operating system"), ("cpu_model", "CPU model"),
                  ("cpu_count", "logical CPUs"), ("compiler", "compiler"))
# A variant's commit is what a comparison is about; where its build lives is not a build fact.
NOT_BUILD_FACTS = {"commit", "dirty", "servers_dir", "native_dir"}


def differences(base: Side, new: Side) -> list[str]:
    """What differs between the two sides' conditions, one line each: the options of
    the points both measured, the suite text, the platform (Wine version, Windows
    build, CPU model and count, compiler), pinning, and the variants' recorded build
    facts (anything but their commit). Empty when they are comparable."""
    found = _point_differences(base.manifest, new.manifest)
    found += _fact_differences("", base.manifest, new.manifest, (("suite_text", "suite text"),))
    platform_facts = PLATFORM_FACTS
    base_platform, new_platform = base.manifest.get("platform") or {}, new.manifest.get("platform") or {}
    if "Windows" in (base_platform.get("os"), new_platform.get("os")):
        platform_facts += (("kernel", "Windows build"),)
    found += _fact_differences("platform: ", base_platform, new_platform, platform_facts)
    base_build = {k: v for k, v in _variant_info(base).items() if k not in NOT_BUILD_FACTS}
    new_build = {k: v for k, v in _variant_info(new).items() if k not in NOT_BUILD_FACTS}
    found += _fact_differences("server build: ", base_build, new_build,
                               [(key, key) for key in sorted(set(base_build) | set(new_build))])
    return found


def placement_differences(base_manifest, new_manifest) -> list[str]:
    """How two runs' placements differ (the run's, and each shared point's
    own), one line each. Where the wineserver runs changes a Winsock model's
    figures 2-7x on a 2-CPU machine, so runs placed differently are never
    compared, even with --allow-different."""
    base, new = store.placement_of(base_manifest), store.placement_of(new_manifest)
    found = [f"placement: {_placement_text(base)} (base) vs {_placement_text(new)} (new)"] if base != new else []
    base_points = {p.get("id"): p for p in base_manifest.get("points") or [] if isinstance(p, dict)}
    for point in new_manifest.get("points") or []:
        before = base_points.get(point.get("id")) if isinstance(point, dict) else None
        if before is not None and before.get("placement") != point.get("placement"):
            runs = "the run's"
            found.append(f"point {point['id']}: placement {before.get('placement') or runs} (base) "
                         f"vs {point.get('placement') or runs} (new)")
    return found


def _placement_text(placement):
    if placement is None:
        return "other hosts'"
    sets = [f"{name.replace('_cpus', '')} {','.join(map(str, placement[name]))}"
            for name in ("server_cpus", "wineserver_cpus", "loadgen_cpus") if placement.get(name)]
    where = f" on host {placement['host']}" if placement.get("host") is not None else ""
    if placement.get("not_placed"):
        where += " (not placed)"
    return placement["mode"] + where + (f" ({'; '.join(sets)})" if sets else "")


def _variant_info(side):
    return ((side.manifest.get("variants") or {}).get(side.variant)) or {}


def _fact_differences(prefix, base, new, facts):
    return [f"{prefix}{label}: {_shown(base.get(key))} (base) vs {_shown(new.get(key))} (new)"
            for key, label in facts if base.get(key) != new.get(key)]


def _point_differences(base_manifest, new_manifest):
    base_points = {p.get("id"): p for p in base_manifest.get("points") or [] if isinstance(p, dict)}
    found = []
    for point in new_manifest.get("points") or []:
        if not isinstance(point, dict) or point.get("id") not in base_points:
            continue
        before = base_points[point["id"]]
        options = {**(before.get("loadgen_args") or {}), **(point.get("loadgen_args") or {})}
        for option in options:
            old, now = (before.get("loadgen_args") or {}).get(option), (point.get("loadgen_args") or {}).get(option)
            if old != now:
                found.append(f"point {point['id']}: option {option} {_shown(old)} (base) vs {_shown(now)} (new)")
        if (before.get("server_args") or []) != (point.get("server_args") or []):
            found.append(f"point {point['id']}: server options {_shown(before.get('server_args'))} (base) vs "
                         f"{_shown(point.get('server_args'))} (new)")
    return found


def _shown(value):
    """A fact in one short line (suite texts are long: their first differing line would do, but
    that they differ is what matters)."""
    text = "not recorded" if value is None else " ".join(str(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _format_value(metric, value):
    return f"{value:,.0f}/s" if metric == "throughput" else f"{value:,.1f} us"


def _interval(comparison):
    if comparison.low is None:
        return "too few repetitions"
    return f"[{comparison.low:.3f}, {comparison.high:.3f}]"


def format_comparisons(comparisons) -> str:
    """A plain-text table, one line per comparison, flagged lines marked."""
    if not comparisons:
        return "no cell in common to compare"
    header = ("point", "server", "metric", "base", "new", "new/base", "95% CI", "")
    rows = [header]
    for c in comparisons:
        verdict = _verdict(c)
        rows.append((c.point_id, c.server, c.metric, _format_value(c.metric, c.base),
                     _format_value(c.metric, c.new), f"{c.ratio:.3f}", _interval(c), verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {3, 4, 5}  # numbers line up on the right
    lines = ["  ".join(text.rjust(w) if i in right else text.ljust(w)
                       for i, (text, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    return "\n".join(lines)


def _verdict(comparison):
    return "REGRESSION" if comparison.regression else "improvement" if comparison.improvement else \
        "loadgen saturated: not judged" if comparison.lower_bound else ""


def _counts(comparisons, lost):
    return sum(c.regression for c in comparisons) + len(lost), sum(c.improvement for c in comparisons)


def comparison_markdown(comparisons, lost, threshold_pct, found=()) -> str:
    """The comparison as Markdown, ready for a pull-request comment: the verdict first, then the table."""
    regressions, improvements = _counts(comparisons, lost)
    lines = [f"**{regressions} regression(s)**, {improvements} improvement(s) in {len(comparisons)} comparisons "
             f"at a {threshold_pct:g}% threshold (new/base with its 95% interval; p99: lower is better).", ""]
    if found:
        lines += ["Warning: the two sides were not measured alike (--allow-different):", ""]
        lines += [f"- {_md(line)}" for line in found] + [""]
    lines += ["| point | server | metric | base | new | new/base | 95% CI | verdict |",
              "|---|---|---|---:|---:|---:|---|---|"]
    for c in comparisons:
        verdict = _verdict(c)
        lines.append("| " + " | ".join(_md(text) for text in (
            c.point_id, c.server, c.metric, _format_value(c.metric, c.base), _format_value(c.metric, c.new),
            f"{c.ratio:.3f}", _interval(c), f"**{verdict}**" if c.regression else verdict)) + " |")
    lines += [f"- **REGRESSION**: {_md(point_id)} / {_md(server)} had results in base and none in new"
              for point_id, server in lost]
    return "\n".join(lines) + "\n"


def _md(text):
    """Data made inert in a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def comparison_document(comparisons, lost, threshold_pct, found=()) -> dict:
    regressions, improvements = _counts(comparisons, lost)
    return {"schema": COMPARE_SCHEMA_ID, "threshold_pct": threshold_pct, "regressions": regressions,
            "improvements": improvements, "not_measured_alike": list(found),
            "comparisons": [dict(asdict(c), verdict=_verdict(c) or None) for c in comparisons],
            "lost": [{"point_id": point_id, "server": server} for point_id, server in lost]}


def _write_exports(exports, comparisons, lost, threshold_pct, found):
    """Writes the --markdown and --json files asked for; OSError with the file's name if one cannot be."""
    writers = {"markdown": lambda: comparison_markdown(comparisons, lost, threshold_pct, found),
               "json": lambda: json.dumps(comparison_document(comparisons, lost, threshold_pct, found), indent=1)
               + "\n"}
    for kind, path in (exports or {}).items():
        if path:
            store.write_text_atomic(Path(path), writers[kind]())


def _report(comparisons, lost, threshold_pct, out):
    print(format_comparisons(comparisons), file=out)
    for point_id, server in lost:
        print(f"REGRESSION: {point_id} / {server} had results in base and none in new (every repetition failed)",
              file=out)
    regressions, improvements = _counts(comparisons, lost)
    paired = sum(c.paired for c in comparisons)
    print(f"{len(comparisons)} comparisons at a {threshold_pct:g}% threshold"
          + (f" ({paired} paired by round)" if paired else "")
          + f": {regressions} regression(s), {improvements} improvement(s)", file=out)
    note = reach_note(comparisons)
    if note:
        print(note, file=out)
    return 1 if regressions else 0


def _main(load_sides, threshold_pct, allow_different, out, err, exports=None, paired=False):
    try:
        _check_threshold(threshold_pct)
        base, new = load_sides()
        comparisons = compare_cells(base.cells, new.cells, threshold_pct, paired)
        lost = lost_cells(base.cells, new.cells)
    except ValueError as error:
        print(f"compare: {error}", file=err)
        return 2
    placed = placement_differences(base.manifest, new.manifest)
    if placed:
        print("compare: the two runs placed their processes differently, so their figures are not comparable "
              "(where the wineserver runs changes them 2-7x):", file=err)
        for line in placed:
            print(f"  {line}", file=err)
        return 2
    found = differences(base, new)
    if found and not allow_different:
        print(f"compare: the two sides were not measured alike ({len(found)} difference(s)); "
              "--allow-different compares anyway:", file=err)
        for line in found:
            print(f"  {line}", file=err)
        return 2
    if not comparisons and not lost:
        print("compare: no cell (point and server) has results on both sides", file=err)
        return 2
    if found:
        print("WARNING: comparing sides that were not measured alike (--allow-different):", file=out)
        for line in found:
            print(f"  {line}", file=out)
    try:
        _write_exports(exports, comparisons, lost, threshold_pct, found)
    except OSError as error:
        print(f"compare: cannot write {error.filename}: {error.strerror}", file=err)
        return 2
    return _report(comparisons, lost, threshold_pct, out)


def main(base_dir, new_dir, threshold_pct, allow_different=False, out=None, err=None, exports=None) -> int:
    """Print the comparison table; 1 if any regression, 0 otherwise, 2 with a
    one-line reason on stderr for unusable input (not a run, nothing in common), or
    with the list of differences when the runs were not measured alike (different
    point options, suite, platform, CPU, build) unless allow_different.
    exports {"markdown": path or None, "json": path or None}: also write the comparison there."""
    return _main(lambda: (_run_side(Path(base_dir)), _run_side(Path(new_dir))), threshold_pct, allow_different,
                 out or sys.stdout, err or sys.stderr, exports)


def main_variants(run_dir, threshold_pct, base="base", new="current", allow_different=False, out=None,
                  err=None) -> int:
    """main() for the two variants of one `ab` run; same output and exit codes (their
    commits differ by design; their other recorded build facts must not). Their
    repetitions were taken in the same rounds, so they are compared pair by pair."""
    return _main(lambda: _variant_sides(Path(run_dir), base, new), threshold_pct, allow_different,
                 out or sys.stdout, err or sys.stderr, paired=True)

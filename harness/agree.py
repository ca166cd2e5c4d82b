"""`agree`: do two runs rank the servers the same way?

For every ranking present in both runs (each point's verdicts, each workload's
ranking and the overall one, per metric and variant; harness.analysis.rankings'
all_point_verdicts and rankings) every pair of servers compared in both is classified by
its verdict in each run:

  agree       both runs resolve the pair, the same way;
  contradict  both runs resolve the pair, in opposite directions (A better
              than B in one run, B better than A in the other);
  only A / only B   one run resolves the pair, the other leaves it unresolved;
  neither     neither run resolves it.

A verdict at a point comes from the pairwise test (false discovery rate 5%),
and a workload's or the overall one from the stratified rank-sum test over its
points, so a pair is "resolved" only when a test separated it. A contradiction
is therefore a result that did not reproduce: on a machine fit for
benchmarking two runs of one suite have none. Exit 1 on any contradiction, 0
otherwise, 2 for unusable input."""
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import compare
from harness.analysis.cells import load_cells
from harness.analysis.rankings import all_point_verdicts, rankings

OUTCOMES = ("agree", "contradict", "only A", "only B", "neither")


@dataclass
class Agreement:
    scope: str  # "point <id>", a workload, or "overall"
    metric: str
    variant: str
    counts: dict = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    contradictions: list = field(default_factory=list)  # (better in A, better in B)


def ranked_verdicts(cells) -> dict:
    """(scope, metric, variant) -> {frozenset pair: the better one, or None}, for
    every ranking the cells give."""
    found = {}
    for point in all_point_verdicts(cells):
        found[(f"point {point.point_id}", point.metric, point.variant)] = _by_pair(point.verdicts)
    for ranking in rankings(cells):
        found[(ranking.scope, ranking.metric, ranking.variant)] = _by_pair(ranking.verdicts)
    return found


def _by_pair(verdicts):
    return {frozenset((v.a, v.b)): v.better for v in verdicts}


def classify(better_a, better_b) -> str:
    """The outcome of one pair from its better side in run A and in run B (None: unresolved)."""
    if better_a and better_b:
        return "agree" if better_a == better_b else "contradict"
    if better_a:
        return "only A"
    return "only B" if better_b else "neither"


def agreement(key, pairs_a, pairs_b) -> Agreement:
    """The pairwise comparison of one ranking in run A and run B, over the pairs
    compared in both, in run A's order."""
    found = Agreement(*key)
    for pair, better_a in pairs_a.items():
        if pair not in pairs_b:
            continue
        outcome = classify(better_a, pairs_b[pair])
        found.counts[outcome] += 1
        if outcome == "contradict":
            found.contradictions.append((better_a, pairs_b[pair]))
    return found


def agree_cells(cells_a, cells_b) -> list[Agreement]:
    """An Agreement for every ranking present in both that ranks at least two
    servers present in both, in run A's order."""
    verdicts_a, verdicts_b = ranked_verdicts(cells_a), ranked_verdicts(cells_b)
    found = [agreement(key, pairs, verdicts_b[key]) for key, pairs in verdicts_a.items() if key in verdicts_b]
    return [a for a in found if sum(a.counts.values())]


def format_table(agreements) -> str:
    show_variant = len({a.variant for a in agreements}) > 1
    header = ("scope", "metric") + (("variant",) if show_variant else ()) + OUTCOMES
    rows = [header] + [(a.scope, a.metric) + ((a.variant,) if show_variant else ())
                       + tuple(str(a.counts[o]) for o in OUTCOMES) for a in agreements]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    first_number = len(header) - len(OUTCOMES)
    return "\n".join("  ".join(text.rjust(w) if i >= first_number else text.ljust(w)
                               for i, (text, w) in enumerate(zip(row, widths))).rstrip() for row in rows)


def _contradiction_lines(agreements):
    for a in agreements:
        variant = "" if a.variant == "current" else f" ({a.variant})"
        for ahead_a, ahead_b in a.contradictions:  # the same pair, each ahead in one run
            yield (f"CONTRADICTION {a.scope} {a.metric}{variant}: {ahead_a} ahead of {ahead_b} in A, "
                   f"{ahead_b} ahead of {ahead_a} in B")


def main(run_a, run_b, out=None, err=None) -> int:
    """Print the agreement table and any contradiction; 1 on a contradiction, 0
    otherwise, 2 with a one-line reason for unusable input."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        (first, cells_a), (second, cells_b) = load_cells(Path(run_a)), load_cells(Path(run_b))
    except ValueError as error:
        print(f"agree: {error}", file=err)
        return 2
    placed = compare.placement_differences(first.manifest, second.manifest)
    if placed:
        print(f"agree: the two runs placed their processes differently, so their rankings are not comparable: "
              f"{'; '.join(placed)}", file=err)
        return 2
    agreements = agree_cells(cells_a, cells_b)
    if not agreements:
        print("agree: the two runs have no ranking in common (no two servers ranked in both)", file=err)
        return 2
    print(f"A = {run_a}\nB = {run_b}", file=out)
    for line in _condition_differences(first, second):
        print(f"note: the runs were not measured alike: {line}", file=out)
    print(format_table(agreements), file=out)
    lines = list(_contradiction_lines(agreements))
    for line in lines:
        print(line, file=out)
    totals = {o: sum(a.counts[o] for a in agreements) for o in OUTCOMES}
    print(f"{len(agreements)} rankings in both runs; pairs: " + ", ".join(f"{totals[o]} {o}" for o in OUTCOMES),
          file=out)
    return 1 if lines else 0


def _condition_differences(first, second):
    """compare's list of differences between the runs' conditions (for a note: agree
    still runs, but a contradiction between unlike runs says less about the machine)."""
    sides = [compare.Side(run.manifest, "current", []) for run in (first, second)]
    return compare.differences(*sides)

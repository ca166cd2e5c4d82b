"""`agree`: do two runs rank the servers the same way?

For every ranking present in both runs (each point's tiers, each workload's
ranking and the overall one, per metric and variant; analysis.all_point_tiers
and analysis.rankings) every pair of servers ranked in both is classified:

  agree       both runs put the pair in different tiers, in the same order;
  contradict  both runs resolve the pair, in opposite orders (A ahead of B in
              one run, B ahead of A in the other);
  only A / only B   one run resolves the pair, the other ties it;
  neither     both runs tie it.

Tiers at a point come from the rank-sum test (false discovery rate 5%), and a
workload's or the overall ranking from the stratified rank-sum test over its
points, so a pair is "resolved" only when a test separated it. A contradiction is therefore a result that did not reproduce: on a
machine fit for benchmarking two runs of one suite have none. Exit 1 on any
contradiction, 0 otherwise, 2 for unusable input."""
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import analysis, compare

OUTCOMES = ("agree", "contradict", "only A", "only B", "neither")


@dataclass
class Agreement:
    scope: str  # "point <id>", a workload, or "overall"
    metric: str
    variant: str
    counts: dict = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    contradictions: list = field(default_factory=list)  # (ahead in A, ahead in B)


def ranked_orders(cells) -> dict:
    """(scope, metric, variant) -> tiers, for every ranking the cells give."""
    orders = {}
    for found in analysis.all_point_tiers(cells):
        orders[(f"point {found.point_id}", found.metric, found.variant)] = found.tiers
    for ranking in analysis.rankings(cells):
        if ranking.tiers:
            orders[(ranking.scope, ranking.metric, ranking.variant)] = ranking.tiers
    return orders


def _places(tiers):
    return {name: index for index, tier in enumerate(tiers) for name in tier}


def _compare_pair(first, second, places_a, places_b):
    """(outcome, who is ahead in A, who is ahead in B) for one pair."""
    delta_a, delta_b = places_a[first] - places_a[second], places_b[first] - places_b[second]
    if delta_a and delta_b:
        return ("agree" if (delta_a > 0) == (delta_b > 0) else "contradict",
                first if delta_a < 0 else second, first if delta_b < 0 else second)
    if delta_a:
        return "only A", None, None
    return ("only B" if delta_b else "neither"), None, None


def agreement(key, tiers_a, tiers_b) -> Agreement:
    """The pairwise comparison of one ranking in run A and run B."""
    found = Agreement(*key)
    places_a, places_b = _places(tiers_a), _places(tiers_b)
    common = [name for name in places_a if name in places_b]
    for index, first in enumerate(common):
        for second in common[index + 1:]:
            outcome, ahead_a, ahead_b = _compare_pair(first, second, places_a, places_b)
            found.counts[outcome] += 1
            if outcome == "contradict":
                found.contradictions.append((ahead_a, ahead_b))
    return found


def agree_cells(cells_a, cells_b) -> list[Agreement]:
    """An Agreement for every ranking present in both that ranks at least two
    servers present in both, in run A's order."""
    orders_a, orders_b = ranked_orders(cells_a), ranked_orders(cells_b)
    found = [agreement(key, tiers, orders_b[key]) for key, tiers in orders_a.items() if key in orders_b]
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
        (first, cells_a), (second, cells_b) = analysis.load_cells(Path(run_a)), analysis.load_cells(Path(run_b))
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

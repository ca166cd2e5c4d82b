"""Rankings: the verdicts between the servers at each point (point_verdicts,
all_point_verdicts), and per workload and overall (rankings), each from the
same pairwise tests (harness.verdicts, harness.stats)."""
from dataclasses import dataclass, field
from fractions import Fraction

from harness import stats
from harness.analysis.cells import Cell, ranked_values
from harness.verdicts import METRICS, Verdicts, compare_samples


@dataclass
class PointVerdicts(Verdicts):
    point_id: str = ""
    variant: str = ""


def point_verdicts(cells, metric) -> PointVerdicts:
    """The verdicts between the servers of one point's cells (one variant)."""
    found = compare_samples(point_samples(cells, metric), metric)
    first = cells[0] if cells else None
    return PointVerdicts(**vars(found), point_id=first.point_id if first else "",
                         variant=first.variant if first else "")


def point_samples(cells, metric):
    """server -> the values it is ranked on at one point; a cell whose load
    generator saturated (lower_bound) is left out: it measured the load generator."""
    samples = {}
    for cell in cells:
        values = None if cell.lower_bound else ranked_values(cell, metric)
        if values:
            samples[cell.server] = values
    return samples


def _by_variant_and_point(cells):
    """{variant: {point id: [cells]}} in the cells' order."""
    found = {}
    for cell in cells:
        found.setdefault(cell.variant, {}).setdefault(cell.point_id, []).append(cell)
    return found


def all_point_verdicts(cells: list[Cell]) -> list[PointVerdicts]:
    """The verdicts at every point that ranks someone, per variant and metric, in the cells' order."""
    result = []
    for by_point in _by_variant_and_point(cells).values():
        for metric, _ in METRICS:
            for point_cells in by_point.values():
                found = point_verdicts(point_cells, metric)
                if found.order:
                    result.append(found)
    return result


@dataclass
class Ranking:
    scope: str  # a workload name, or "overall"
    metric: str  # "throughput" | "p99"
    variant: str
    order: list[str]  # best first by score
    verdicts: list[stats.Verdict]  # every pair, by the stratified test over the scope's points
    letters: dict[str, str]  # stats.letter_display of the verdicts
    points: list[str]  # point ids it was computed from
    scores: dict[str, float] = field(default_factory=dict)  # server -> mean relative position (0..1, low = best)

    def leaders(self):
        return stats.leaders(self.verdicts, self.order)

    def laggards(self):
        return stats.laggards(self.verdicts, self.order)


def _mean_positions(position_lists):
    """Each server's mean position over the lists it appears in (exact Fractions)."""
    collected = {}
    for positions in position_lists:
        for name, position in positions.items():
            collected.setdefault(name, []).append(position)
    return {name: sum(values, Fraction(0)) / len(values) for name, values in collected.items()}


def _ranking(scope, metric, variant, scores, point_samples, higher_is_better, point_weights=None):
    """A Ranking of a scope from its points' samples (point id -> server -> values):
    ordered by score, each pair's verdict from stats.stratified_verdicts (each
    point weighing point_weights[point id], default 1)."""
    ordered = sorted(scores, key=lambda name: (scores[name], name))
    strata = {name: [samples.get(name) for samples in point_samples.values()] for name in ordered}
    weights = [point_weights[point] for point in point_samples] if point_weights else None
    verdicts = stats.stratified_verdicts(strata, ordered, higher_is_better, weights)
    return Ranking(scope=scope, metric=metric, variant=variant, order=ordered, verdicts=verdicts,
                   letters=stats.letter_display(ordered, verdicts), points=list(point_samples),
                   scores={name: float(score) for name, score in scores.items()})


def rankings(cells: list[Cell]) -> list[Ranking]:
    """Per variant: one Ranking per workload and metric, then "overall" per metric.

    A workload may have several points (a sweep), and the order of servers can
    change along it. At each point every pair of servers gets a verdict
    (stats.pairwise_verdicts: false discovery rate 5%), and each server a
    relative place from them (stats.relative_positions: 1 + the servers that
    beat it + half of those it is not told apart from, over the number ranked
    plus one): between 0 and 1, 1/2 being "told apart from no one" however
    many servers were ranked, so a server missing at a point (every repetition
    failed, or a lower bound) does not move the others up or down. A server's
    workload score is its mean place over the workload's points where it has a
    result (a Borda count); "overall" averages the workload scores, each
    workload weighing the same however many points it has. The scores give the
    order; the verdicts come from a test again: stats.stratified_verdicts over
    the scope's points (van Elteren's stratified rank-sum test, each point a
    stratum, false discovery rate 5%), so a small difference of scores is
    unresolved unless the repetitions show it. A one-point scope reproduces
    that point's verdicts. reference-epoll (native Linux) is ranked alongside;
    microsoft.agreement_with_microsoft() leaves it out. In the rate workload only a
    shortfall from the requested rate ranks throughput (see _ranked_values). A
    cell whose load generator saturated (Cell.lower_bound) is never ranked: it
    measures the load generator, not the server."""
    result = []
    for variant, by_point in _by_variant_and_point(cells).items():
        for metric, higher_is_better in METRICS:
            result.extend(_variant_rankings(by_point, variant, metric, higher_is_better))
    return result


def _variant_rankings(by_point, variant, metric, higher_is_better):
    by_workload = {}
    for point_id, point_cells in by_point.items():
        by_workload.setdefault(point_cells[0].workload, {})[point_id] = point_cells
    rankings_found, workload_scores, all_samples, point_weights = [], [], {}, {}
    for workload, points in by_workload.items():
        positions, samples_used = [], {}
        for point_id, point_cells in points.items():
            found = point_verdicts(point_cells, metric)
            if found.order:
                positions.append(stats.relative_positions(found.order, found.verdicts))
                samples_used[point_id] = point_samples(point_cells, metric)
        if not positions:
            continue
        scores = _mean_positions(positions)
        workload_scores.append(scores)
        all_samples.update(samples_used)
        point_weights.update(dict.fromkeys(samples_used, 1 / len(samples_used)))  # each workload one say
        rankings_found.append(_ranking(workload, metric, variant, scores, samples_used, higher_is_better))
    if workload_scores:
        rankings_found.append(_ranking("overall", metric, variant, _mean_positions(workload_scores), all_samples,
                                       higher_is_better, point_weights))
    return rankings_found


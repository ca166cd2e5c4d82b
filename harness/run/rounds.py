"""Adaptive repetitions: after the minimum rounds, another round of the
cells that have not settled yet, until all have, or they reach the maximum,
or the run's time budget is spent (harness/README.md, "Adaptive
repetitions").

The budget goes where a verdict is missing and worth having. A cell
(point, server, variant) compared with others (the servers of its point, or
the option sets of its server at its setting) is settled when none of its
pairs is unresolved while their medians are WORTH_RESOLVING apart or more,
by the report's own verdicts (harness.verdicts on the records' figures, the
way harness.analysis compares cells: throughput and p99). Pairs already resolved,
and pairs so close that a verdict would say little, take no more rounds. A
cell compared with no one (a suite of one server) is settled when the 95%
interval of the median (stats.median_ci: none below 6 values) of both its
throughput and its p99 is within +-target of the median.

Repetitions taken on a busy machine (harness.run.noise) measure the machine,
not the server: the figures set them aside (harness.records.measured_records),
and a cell with fewer than `min` quiet ones is not settled, so the next round
retakes it, within the same maximum and budget."""
import random
from collections import Counter
from dataclasses import dataclass

from harness import stats
from harness.records import (loadgen_bound, measured_records, p99_us_of, quiet_records, requested_rate_of_cell,
                             throughput_of)
from harness.verdicts import METRICS, capped_for_ranking, compare_samples, options_label, setting_key

READERS = {"throughput": throughput_of, "p99": p99_us_of}  # a record's figure of each METRICS name
FIGURES = tuple(READERS[metric] for metric, _ in METRICS)
WORTH_RESOLVING = 1.25  # medians this many times apart: an unresolved pair worth more repetitions
# (at 1.1 a default run spread its rounds over 140 of its 165 cells, and the
# budget ran out with 16% of its 1.25x pairs unresolved)


def cell_of(item):
    return item["point"], item["server"], item["variant"]


def relative_half_width(values):
    """Half the width of the median's 95% interval over the median; None
    when there are too few values for an interval."""
    interval = stats.median_ci(values)
    if interval is None:
        return None
    low, high = interval
    middle = abs(stats.median(values))
    if middle == 0:
        return 0.0 if high == low else float("inf")
    return (high - low) / 2 / middle


def is_settled(records, target):
    """Whether a cell's measured records pin both figures down to +-target."""
    documents = [record.loadgen for record in measured_records(records)]
    if not documents:
        return False
    for figure in FIGURES:
        values = [value for value in map(figure, documents) if value is not None]
        if not values:
            continue  # a figure this workload does not have
        width = relative_half_width(values)
        if width is None or width > target:
            return False
    return True


def is_failing(records):
    """More failed than ok repetitions: another round would not settle it."""
    failed = sum(1 for record in records if not record.ok)
    return failed > len(records) - failed


def far_apart(first, second):
    """Whether two medians differ by WORTH_RESOLVING times or more."""
    low, high = sorted((first, second))
    return low > 0 and high / low >= WORTH_RESOLVING


@dataclass
class Compared:
    """What a cell's records bring to a comparison, as harness.analysis.cells
    summarizes them: its place, its ok figures of each metric, whether its load
    generator saturated (then it is never compared)."""
    point_id: str
    server: str
    variant: str
    workload: str
    loadgen_args: dict
    server_args: list
    lower_bound: bool
    samples: dict  # METRICS name -> the values it is ranked on (capped_for_ranking), or None

    @property
    def key(self):
        return self.point_id, self.server, self.variant


def compared_of(records):
    """The Compared of one cell's records (all of one point, server and variant)."""
    first = records[0]
    ok = measured_records(records)
    loadgens = [record.loadgen for record in ok]
    requested = requested_rate_of_cell(first.workload, loadgens, first.loadgen_args)
    samples = {}
    for metric, _ in METRICS:
        values = [float(v) for v in map(READERS[metric], loadgens) if v is not None]
        samples[metric] = capped_for_ranking(values, metric, first.workload, requested) if values else None
    return Compared(first.point_id, first.server, first.variant, first.workload, first.loadgen_args,
                    first.server_args, loadgen_bound(ok), samples)


def cells_of(records):
    """One Compared per (point, server, variant), in the records' order; a model this
    platform cannot run has no figures and is no cell."""
    by_cell = {}
    for record in records:
        if not record.unsupported:
            by_cell.setdefault((record.point_id, record.server, record.variant), []).append(record)
    return [compared_of(cell_records) for cell_records in by_cell.values()]


def comparison_groups(cells):
    """{name: its cell} for every comparison the report makes: the servers at each
    point (per variant), the option sets of a server at a setting."""
    by_point, by_setting = {}, {}
    for cell in cells:
        by_point.setdefault((cell.point_id, cell.variant), {})[cell.server] = cell
        by_setting.setdefault(setting_key(cell.server, cell.variant, cell.workload, cell.loadgen_args), {})[
            options_label(cell.server_args)] = cell
    return list(by_point.values()) + list(by_setting.values())


def group_verdicts(group):
    """The Verdicts of a group ({name: its cell}) per metric, as the report gives them:
    a cell whose load generator saturated, or without figures, is left out."""
    for metric, _ in METRICS:
        samples = {name: cell.samples[metric] for name, cell in group.items()
                   if not cell.lower_bound and cell.samples[metric]}
        yield compare_samples(samples, metric)


def unresolved_pairs(group):
    """The (name, name) pairs of a group left unresolved while their medians are
    far apart, whichever the metric."""
    for found in group_verdicts(group):
        for verdict in found.verdicts:
            if verdict.better is None and far_apart(found.medians[verdict.a], found.medians[verdict.b]):
                yield verdict.a, verdict.b


def unresolved_cells(records):
    """(the cells in an unresolved pair whose medians are far apart, the cells
    compared with another), from the records so far."""
    wanted, compared = set(), set()
    for group in comparison_groups(cells_of(records)):
        if len(group) > 1:
            compared |= {cell.key for cell in group.values()}
        for first, second in unresolved_pairs(group):
            wanted |= {group[first].key, group[second].key}
    return wanted, compared


def next_round(plan, records, repetitions, seed, round_number):
    """The items of the next adaptive round, shuffled (seeded by the run's
    seed and the round's number), and the number of cells not settled.
    No items: nothing left to gain (all settled, or at max, or failing)."""
    planned = Counter(cell_of(item) for item in plan)
    by_cell = {}
    for record in records:
        by_cell.setdefault((record.point_id, record.server, record.variant), []).append(record)
    wanted, compared = unresolved_cells(records)
    items, unsettled = [], 0
    for cell, count in planned.items():
        done = by_cell.get(cell, [])
        retake = len(quiet_records(done)) < repetitions.min  # repetitions on a busy machine do not count
        if not retake and (cell not in wanted if cell in compared else is_settled(done, repetitions.target)):
            continue
        unsettled += 1
        if count < repetitions.max and not is_failing(done):
            point, server, variant = cell
            items.append({"point": point, "server": server, "variant": variant, "rep": count})
    random.Random(f"{seed}:{round_number}").shuffle(items)
    return items, unsettled

"""Adaptive repetitions: after the minimum rounds, another round of the
cells that have not settled yet, until all have, or they reach the maximum,
or the run's time budget is spent (harness/README.md, "Adaptive
repetitions").

The budget goes where a verdict is missing and worth having. A cell
(point, server, variant) compared with others (the servers of its point, or
the option sets of its server at its setting) is settled when none of its
pairs is unresolved while their medians are WORTH_RESOLVING apart or more,
by the report's own verdicts (analysis.all_point_verdicts,
analysis.option_comparisons: throughput and p99). Pairs already resolved,
and pairs so close that a verdict would say little, take no more rounds. A
cell compared with no one (a suite of one server) is settled when the 95%
interval of the median (stats.median_ci: none below 6 values) of both its
throughput and its p99 is within +-target of the median."""
import random
from collections import Counter
from types import SimpleNamespace

from harness import analysis, stats

FIGURES = (analysis.throughput_of, analysis.p99_us_of)
WORTH_RESOLVING = 1.10  # medians this many times apart: an unresolved pair worth more repetitions


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
    """Whether a cell's ok records pin both figures down to +-target."""
    documents = [record.loadgen for record in records if record.ok]
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


def comparisons(cells):
    """(verdicts, {name: its cell}) for every comparison the report makes:
    the servers at each point, the option sets of a server at a setting."""
    for point in analysis.all_point_verdicts(cells):
        yield point, {name: (point.point_id, name, point.variant) for name in point.order}
    for options in analysis.option_comparisons(cells):
        yield options, {label: (point, options.server, options.variant) for label, point in options.points.items()}


def unresolved_cells(records):
    """(the cells in an unresolved pair whose medians are far apart, the cells
    compared with another), from the records so far."""
    cells = analysis.summarize(SimpleNamespace(records=records, manifest={}))
    wanted = set()
    for found, cell_of_name in comparisons(cells):
        for verdict in found.verdicts:
            if verdict.better is None and far_apart(found.medians[verdict.a], found.medians[verdict.b]):
                wanted |= {cell_of_name[verdict.a], cell_of_name[verdict.b]}
    return wanted, compared_cells(cells)


def compared_cells(cells):
    """The cells that have another to be compared with: a server at the same point, or the same
    server at the same setting with other options."""
    by_point, found = {}, set()
    for cell in cells:
        by_point.setdefault((cell.point_id, cell.variant), []).append(cell)
    groups = list(by_point.values()) + [list(group.values()) for group in analysis.setting_groups(cells).values()]
    for group in groups:
        if len(group) > 1:
            found |= {(cell.point_id, cell.server, cell.variant) for cell in group}
    return found


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
        if cell not in wanted if cell in compared else is_settled(done, repetitions.target):
            continue
        unsettled += 1
        if count < repetitions.max and not is_failing(done):
            point, server, variant = cell
            items.append({"point": point, "server": server, "variant": variant, "rep": count})
    random.Random(f"{seed}:{round_number}").shuffle(items)
    return items, unsettled

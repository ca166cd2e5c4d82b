"""Adaptive repetitions: after the minimum rounds, another round of the
cells that have not settled yet, until all have, or they reach the maximum,
or the run's time budget is spent (harness/README.md, "Adaptive
repetitions").

A cell (point, server, variant) is settled when the 95% interval of the
median (stats.median_ci: distribution-free, none below 6 values) of both
its throughput and its p99, over its ok repetitions, is within +-target of
the median. Those are the per-repetition figures the report's cells and
rankings are built on (analysis.throughput_of, analysis.p99_us_of)."""
import random
from collections import Counter

from harness import analysis, stats

FIGURES = (analysis.throughput_of, analysis.p99_us_of)


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


def next_round(plan, records, repetitions, seed, round_number):
    """The items of the next adaptive round, shuffled (seeded by the run's
    seed and the round's number), and the number of cells not settled.
    No items: nothing left to gain (all settled, or at max, or failing)."""
    planned = Counter(cell_of(item) for item in plan)
    by_cell = {}
    for record in records:
        by_cell.setdefault((record.point_id, record.server, record.variant), []).append(record)
    items, unsettled = [], 0
    for cell, count in planned.items():
        done = by_cell.get(cell, [])
        if is_settled(done, repetitions.target):
            continue
        unsettled += 1
        if count < repetitions.max and not is_failing(done):
            point, server, variant = cell
            items.append({"point": point, "server": server, "variant": variant, "rep": count})
    random.Random(f"{seed}:{round_number}").shuffle(items)
    return items, unsettled

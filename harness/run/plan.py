"""The plan of a run: which (point, server, variant, repetition) items run,
in which order, and which of them still have no record."""
import random

from harness import store


def make_plan(cells, variants, reps, seed):
    """Every (point, server, variant) once per repetition round, each round in
    its own shuffled order: a transient slowdown of the machine then spreads
    over all servers instead of hitting one server's repetitions together."""
    rng = random.Random(seed)
    plan = []
    for rep in range(reps):
        round_items = [{"point": point.id, "server": server, "variant": variant, "rep": rep}
                       for point, server in cells for variant in variants]
        rng.shuffle(round_items)
        plan.extend(round_items)
    return plan


def more_rounds(plan, reps, seed):
    """The items of rounds len(rounds of plan)..reps-1 of a plan of fixed
    rounds: its cells again, each round shuffled (a seed of its own per
    round, so that extending twice by halves gives the same items as once)."""
    first = 1 + max((item["rep"] for item in plan), default=-1)
    cells = sorted({(item["point"], item["server"], item["variant"]) for item in plan})
    items = []
    for rep in range(first, reps):
        round_items = [{"point": point, "server": server, "variant": variant, "rep": rep}
                       for point, server, variant in cells]
        random.Random(f"{seed}/{rep}").shuffle(round_items)
        items.extend(round_items)
    return items


def missing_items(run_dir, plan):
    """The items with no readable record: an unreadable one (truncated by a
    full disk or a kill, hand-edited) is run again and replaced."""
    return [item for item in plan if store.read_record_document(store.record_path(run_dir, item))[0] is None]


def plan_label(item, show_variant):
    variant = f" ({item['variant']})" if show_variant else ""
    return f"{item['server']}{variant} {item['point']} rep {item['rep'] + 1}"


def item_estimate(points, timeouts, registry, item):
    """Rough wall time of one plan item (points: Point by id)."""
    return points[item["point"]].estimated_seconds(registry.platform(item["server"]), timeouts)

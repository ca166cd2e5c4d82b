"""`sensitivity`: what a benchmark gate catches on this machine, and how
often it cries wolf.

A gate is `ab --suite gate` (or `compare` of two runs): each cell is judged
by compare's rule (a ratio beyond the threshold whose 95% interval excludes
1), and the gate fails when any cell regresses. How small a slowdown that
catches depends on the machine's noise, so it is measured here, in two runs:

1. calibration: the suite's points, a few repetitions, for each server's
   throughput at each point;
2. measurement: the same points, and each point again with a known slowdown
   injected into the server by the calibration knob every server takes
   (`--spin-us N`: a busy-wait of N us per receive), for each of a few
   slowdowns (2%, 5%, 10%, 20% of the server's time per message, from the
   calibration: N = delta x 1e6 / throughput), all in one interleaved run.

Then, by resampling the measured repetitions: A/A gates (two disjoint draws
of the gate's size from the unslowed repetitions, compared) give the false
alarm rate; A/A+delta gates (a draw of unslowed against a draw of slowed
repetitions of one server, all of its points) give the detection rate at
each slowdown. The repetitions were taken in one seeded shuffled order, so
any subset of a cell's repetitions is as exchangeable as a separate run of
that size would be; the draws reuse repetitions, so the rates are averages
over correlated trials, not independent runs (their number is reported).
The slowdown reported for each delta is the one measured (the ratio of
medians), not the one asked for."""
import json
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from harness import analysis, compare, stats, store
from harness.suites import Repetitions

SCHEMA = "winsock-bench/sensitivity/1"
DEFAULT_DELTAS = (0.02, 0.05, 0.10, 0.20)
CALIBRATION_REPS = 3
DEFAULT_REPS = 12           # unslowed repetitions a cell: two disjoint gates of 6
GATE_REPS = stats.min_reps_for_interval()  # what ab runs (6): fewer give no interval
DEFAULT_DRAWS = 400
DETECTED = 0.90             # "caught": in at least this share of gates
MAX_SPIN_US = 1000000       # servers/core/options.h OPTIONS_MAX_SPIN_US


class SensitivityError(ValueError):
    """Input that cannot give a sensitivity; one line."""


# ---- the plan: slowed copies of each point ------------------------------------------

def slow_point_id(point_id, server, delta):
    return f"{point_id}-slow{round(delta * 100):g}pct-{server}"


def spin_us_for(delta, throughput):
    """The busy-wait per receive that adds `delta` of the server's time per
    message, at `throughput` messages a second (at least 1 us)."""
    return max(1, min(MAX_SPIN_US, round(delta * 1e6 / throughput)))


def slowed_points(points, throughputs, deltas):
    """One copy of each point per (server, delta), for that server only, with
    its --spin-us; [(point, base point id, server, delta, spin_us)]."""
    found = []
    for point in points:
        for (point_id, server), throughput in sorted(throughputs.items()):
            if point_id != point.id or not throughput:
                continue
            for delta in deltas:
                spin = spin_us_for(delta, throughput)
                slowed = replace(point, id=slow_point_id(point.id, server, delta), servers=(server,),
                                 server_args=(*point.server_args, "--spin-us", str(spin)), sweep=None)
                found.append((slowed, point.id, server, delta, spin))
    return found


def measurement_suite(suite, slowed, reps):
    points = [*suite.points, *(entry[0] for entry in slowed)]
    return replace(suite, points=points, repetitions=Repetitions.fixed(reps))


def base_throughputs(cells):
    return {(cell.point_id, cell.server): cell.throughput.median for cell in cells
            if cell.throughput is not None and cell.ok_reps}


# ---- the evaluation: resampled gates ------------------------------------------------

@dataclass(frozen=True)
class CellValues:
    """A cell's per-repetition values of each compared metric."""
    throughput: list
    p99: list

    @classmethod
    def of(cls, cell):
        return cls(list(cell.throughput.values) if cell.throughput else [],
                   list(cell.p99_us.values) if cell.p99_us else [])

    def count(self):
        return min(len(self.throughput), len(self.p99)) if self.p99 else len(self.throughput)


def regressed(base, new, threshold_pct):
    """compare's verdict on one cell: a regression of either metric."""
    for metric, higher_is_better in analysis.METRICS:
        before, after = getattr(base, metric), getattr(new, metric)
        if len(before) < GATE_REPS or len(after) < GATE_REPS:
            continue
        ratio = stats.ratio_interval(after, before)
        if ratio.low is not None and compare.verdicts(ratio.estimate, ratio.low, ratio.high, higher_is_better,
                                                       threshold_pct)[0]:
            return True
    return False


def draw(values, indexes):
    return CellValues([values.throughput[i] for i in indexes],
                      [values.p99[i] for i in indexes] if values.p99 else [])


def false_alarm_rate(base_cells, size, draws, threshold_pct, rng):
    """The share of A/A gates (every cell, two disjoint draws of `size` of its
    unslowed repetitions) that flag a regression; None with too few repetitions."""
    if any(values.count() < 2 * size for values in base_cells.values()):
        return None
    alarms = 0
    for _ in range(draws):
        flagged = False
        for values in base_cells.values():
            picked = rng.sample(range(values.count()), 2 * size)
            flagged |= regressed(draw(values, picked[:size]), draw(values, picked[size:]), threshold_pct)
        alarms += flagged
    return alarms / draws


def detection_rate(base_cells, slow_cells, delta, size, draws, threshold_pct, rng):
    """The share of A/A+delta gates that flag a regression: for each server,
    its points unslowed against slowed by delta (`size` repetitions each);
    None with too few repetitions."""
    servers = sorted({server for (_, server, d) in slow_cells if d == delta})
    pairs = {server: [(base_cells[(point_id, server)], slow_cells[(point_id, server, delta)])
                      for (point_id, s, d) in slow_cells if s == server and d == delta
                      and (point_id, server) in base_cells] for server in servers}
    if not servers or any(b.count() < size or s.count() < size for cells in pairs.values() for b, s in cells):
        return None
    caught = 0
    for _ in range(draws):
        for cells in pairs.values():
            caught += any(regressed(draw(b, rng.sample(range(b.count()), size)),
                                    draw(s, rng.sample(range(s.count()), size)), threshold_pct) for b, s in cells)
    return caught / (draws * len(servers))


def measured_slowdown(base_cells, slow_cells, delta):
    """The median over the slowed cells of base/slowed throughput - 1."""
    ratios = [stats.median(base_cells[(p, s)].throughput) / stats.median(values.throughput) - 1
              for (p, s, d), values in slow_cells.items() if d == delta and (p, s) in base_cells
              and values.throughput and min(values.throughput) > 0]
    return stats.median(ratios) if ratios else None


def evaluate(base_cells, slow_cells, deltas, threshold_pct, draws=DEFAULT_DRAWS, seed=1, sizes=None):
    """The sensitivity document's figures from (point, server) -> CellValues
    and (point, server, delta) -> CellValues."""
    rng = random.Random(seed)
    most = min([v.count() for v in (*base_cells.values(), *slow_cells.values())] or [0])
    sizes = sizes or [size for size in range(GATE_REPS, most + 1, 2)] or [GATE_REPS]
    by_size = []
    for size in sizes:
        by_size.append({
            "reps": size, "false_alarm_rate": false_alarm_rate(base_cells, size, draws, threshold_pct, rng),
            "detection": [{"delta": delta, "slowdown": measured_slowdown(base_cells, slow_cells, delta),
                           "rate": detection_rate(base_cells, slow_cells, delta, size, draws, threshold_pct, rng)}
                          for delta in deltas]})
    gate = next((entry for entry in by_size if entry["reps"] == GATE_REPS), by_size[0])
    return {"threshold_pct": threshold_pct, "draws": draws, "gate_reps": gate["reps"],
            "false_alarm_rate": gate["false_alarm_rate"], "detection": gate["detection"],
            "smallest_caught": smallest_caught(gate["detection"]), "by_reps": by_size,
            "recommended_reps": recommended_reps(by_size)}


def smallest_caught(detection):
    """The smallest measured slowdown detected in DETECTED of the gates, or None."""
    caught = [d["slowdown"] for d in detection if d["rate"] is not None and d["rate"] >= DETECTED
              and d["slowdown"] is not None]
    return min(caught) if caught else None


def recommended_reps(by_size):
    """For each delta: the fewest repetitions a side that catch it in
    DETECTED of the gates, among the sizes the data allowed (None: none did)."""
    deltas = [d["delta"] for d in by_size[0]["detection"]] if by_size else []
    found = {}
    for delta in deltas:
        found[f"{delta:g}"] = next((entry["reps"] for entry in by_size for d in entry["detection"]
                                    if d["delta"] == delta and d["rate"] is not None and d["rate"] >= DETECTED),
                                   None)
    return found


# ---- reading the measurement run ---------------------------------------------------------

def cells_of(cells, plan_entries):
    """(base cells, slowed cells) as CellValues, from the measurement run's
    cells and its slowed points [(slow point id, base point id, server, delta, spin)]."""
    by_key = {(cell.point_id, cell.server): cell for cell in cells if cell.ok_reps}
    slow_ids = {entry[0] for entry in plan_entries}
    base = {key: CellValues.of(cell) for key, cell in by_key.items() if key[0] not in slow_ids}
    slow = {(point_id, server, delta): CellValues.of(by_key[(slow_id, server)])
            for slow_id, point_id, server, delta, _ in plan_entries if (slow_id, server) in by_key}
    return base, slow


def document(evaluation, manifest, slowed_entries):
    return {"schema": SCHEMA, "platform": manifest.get("platform"), "placement": store.placement_of(manifest),
            "suite": manifest.get("suite"), "servers": manifest.get("servers"),
            "spins": [{"point": p, "server": s, "delta": d, "spin_us": spin} for _, p, s, d, spin in slowed_entries],
            **evaluation}


def read(path):
    """A sensitivity document, or SensitivityError with one line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SensitivityError(f"cannot read sensitivity file {path}: {error}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise SensitivityError(f"{path} is not a sensitivity file (schema {SCHEMA})")
    return data


def caveat(data):
    """The line compare and ab print with a sensitivity file."""
    smallest = data.get("smallest_caught")
    alarms = data.get("false_alarm_rate")
    alarms_text = "unknown" if alarms is None else f"{alarms:.0%}"
    if smallest is None:
        return (f"on this machine no slowdown measured by `sensitivity` was caught in {DETECTED:.0%} of gates of "
                f"{data.get('gate_reps')} repetitions (false alarms {alarms_text}): a pass says little")
    return (f"on this machine a slowdown below {smallest:.0%} would likely go unseen (gates of "
            f"{data.get('gate_reps')} repetitions; false alarms {alarms_text})")


def format_table(data):
    lines = [f"gate of {data['gate_reps']} repetitions a side, {data['threshold_pct']:g}% threshold, "
             f"{data['draws']} resampled gates per figure",
             f"false alarms (A/A): {_rate(data['false_alarm_rate'])}",
             "asked  measured slowdown  caught"]
    for entry in data["detection"]:
        slowdown = "?" if entry["slowdown"] is None else f"{entry['slowdown']:.1%}"
        lines.append(f"{entry['delta']:>5.0%}  {slowdown:>17}  {_rate(entry['rate']):>6}")
    lines.append(caveat(data))
    measured = {f"{entry['delta']:g}": entry["slowdown"] for entry in data["detection"]}
    for delta, reps in data["recommended_reps"].items():
        slowdown = measured.get(delta)
        what = f"the {float(delta):.0%} asked" + ("" if slowdown is None else f" ({slowdown:.1%} measured)")
        lines.append(f"to catch {what} in {DETECTED:.0%} of gates: "
                     + (f"{reps} repetitions a side" if reps else "more repetitions than this run had"))
    return "\n".join(lines)


def _rate(rate):
    return "n/a" if rate is None else f"{rate:.0%}"


def main(suite, servers, out, reps=DEFAULT_REPS, deltas=DEFAULT_DELTAS, threshold_pct=5.0, draws=DEFAULT_DRAWS,
         seed=1, placement=None, stream=None):
    """Calibrates, measures, evaluates; writes OUT/sensitivity.json. Exit code."""
    from harness import run as runner
    stream = stream or sys.stderr
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    calibration, measurement = out / "calibration", out / "measurement"
    stream.write(f"sensitivity 1/2: calibration, {CALIBRATION_REPS} repetitions of each cell\n")
    code, _ = run_or_resume(runner, replace(suite, repetitions=Repetitions.fixed(CALIBRATION_REPS)), servers,
                            calibration, seed, placement, stream)
    if code == 130:
        return code
    _, cells = analysis.load_cells(calibration)
    slowed = slowed_points(suite.points, base_throughputs(cells), deltas)
    (out / "slowed.json").write_text(json.dumps([[p.id, b, s, d, spin] for p, b, s, d, spin in slowed]))
    stream.write(f"sensitivity 2/2: {len(slowed)} slowed cells beside the suite's, {reps} repetitions each\n")
    code, _ = run_or_resume(runner, measurement_suite(suite, slowed, reps), servers, measurement, seed,
                            placement, stream)
    if code == 130:
        return code
    run, cells = analysis.load_cells(measurement)
    entries = [(p.id, b, s, d, spin) for p, b, s, d, spin in slowed]
    base, slow = cells_of(cells, entries)
    data = document(evaluate(base, slow, deltas, threshold_pct, draws, seed), run.manifest, entries)
    store.write_json_atomic(out / "sensitivity.json", data)
    stream.write(format_table(data) + f"\nwritten: {out / 'sensitivity.json'}\n")
    return 0


def run_or_resume(runner, suite, servers, folder, seed, placement, stream):
    """A run into folder, or the rest of it when an earlier sensitivity was interrupted there."""
    manifest = folder / store.MANIFEST_NAME
    if manifest.is_file():
        if store.read_manifest(folder).get("finished_at"):
            return 0, folder
        return runner.resume_run(folder, stream=stream)
    return runner.new_run(suite, servers, out=folder, seed=seed, placement=placement, stream=stream)

"""`sensitivity`: what a benchmark gate catches on this machine, and how
often it cries wolf.

A gate is `ab --suite gate`: both builds measured in the same rounds, every
cell and metric judged by compare's rule (paired by round when there are
enough rounds), as one family (the false discovery rate step over all of
them, so an unchanged build fails with a bounded chance however many cells
the gate has), and the gate fails when any is flagged. How small a slowdown
that catches depends on the machine's noise, so it is measured here, in two
runs:

1. calibration: the suite's points, a few repetitions, for each server's
   throughput at each point;
2. measurement: the same points, a second unslowed copy of each (what an
   unchanged build is compared with), and each point again with a known
   slowdown injected into the server by the calibration knob every server
   takes (`--spin-us N`: a busy-wait of N us per receive), for each of a
   few slowdowns (5%, 10%, 20% of the server's time per message, from the
   calibration: N = delta x 1e6 / throughput), all interleaved in the same
   rounds, half again as many rounds as the gate has.

Then, by resampling rounds: an A/A gate draws the gate's number of rounds
and compares every cell with its second copy in those rounds (each way: the
copy as the new build and as the base); an A/A+delta
gate does the same except that one server's points are compared with their
slowed copies. So the pairs are made as ab makes them: one round, both
sides. The draws share rounds, so the rates are averages over correlated
trials, not independent runs (their number is reported). The slowdown
reported for each delta is the one measured (the median over the slowed
cells of the ratio of medians), not the one asked for."""
import json
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from harness import compare, stats, store, verdicts
from harness.analysis.cells import load_cells
from harness.suites import Repetitions

SCHEMA = "winsock-bench/sensitivity/1"
DEFAULT_DELTAS = (0.05, 0.10, 0.20)
CALIBRATION_REPS = 3
FEWEST_REPS = stats.min_reps_for_interval()  # fewer give compare no interval (6)
DEFAULT_DRAWS = 200
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


AGAIN_SUFFIX = "-again"


def again_point_id(point_id):
    return point_id + AGAIN_SUFFIX


def measurement_suite(suite, slowed, reps):
    """The suite's points, a second unslowed copy of each (what an A/A gate
    compares, measured in the same rounds as ab measures two builds) and the
    slowed copies, all interleaved, `reps` rounds."""
    again = [replace(point, id=again_point_id(point.id), sweep=None) for point in suite.points]
    points = [*suite.points, *again, *(entry[0] for entry in slowed)]
    return replace(suite, points=points, repetitions=Repetitions.fixed(reps))


def base_throughputs(cells):
    return {(cell.point_id, cell.server): cell.throughput.median for cell in cells
            if cell.throughput is not None and cell.ok_reps}


# ---- the evaluation: resampled gates ------------------------------------------------

@dataclass(frozen=True)
class CellRounds:
    """A cell's figures of each compared metric, by round: {repetition: value}."""
    throughput: dict
    p99: dict

    @classmethod
    def of(cls, cell):
        return cls(dict(cell.by_round.get("throughput", {})), dict(cell.by_round.get("p99", {})))

    def rounds(self):
        return set(self.throughput) & set(self.p99) if self.p99 else set(self.throughput)

    def only(self, rounds):
        return CellRounds({r: self.throughput[r] for r in rounds if r in self.throughput},
                          {r: self.p99[r] for r in rounds if r in self.p99})


def gate_regressions(pairs, threshold_pct):
    """The keys of `pairs` ({key: (base CellRounds, new CellRounds)}, both
    sides measured in the same rounds, as ab measures its two builds) that
    compare's gate flags: its p-values (compare.worse_p_value, paired when the
    rounds allow), judged as one family (compare.flagged); only what a
    regression needs is computed, no intervals."""
    keys, tests = [], []
    for key, (base, new) in pairs.items():
        for metric, higher_is_better in verdicts.METRICS:
            before, after = getattr(base, metric), getattr(new, metric)
            if len(before) < FEWEST_REPS or len(after) < FEWEST_REPS:
                continue
            p_worse, _, _ = compare.worse_p_value(list(before.values()), list(after.values()), higher_is_better,
                                                  (before, after))
            keys.append(key)
            tests.append((p_worse, stats.median(after.values()) / stats.median(before.values()), higher_is_better))
    return {keys[i] for i in compare.flagged(tests, threshold_pct)}


def common_rounds(*groups):
    """The rounds every cell of the groups measured."""
    rounds = None
    for group in groups:
        for values in group.values():
            rounds = values.rounds() if rounds is None else rounds & values.rounds()
    return sorted(rounds or ())


def false_alarm_rate(base_cells, again_cells, size, draws, threshold_pct, rng):
    """The share of A/A gates that flag any regression: `size` rounds drawn,
    every cell's unslowed figures against its second unslowed copy measured
    in the same rounds, judged as one family; None with too few rounds.

    Each drawn gate is judged both ways, the second copy as the new build
    and as the base: which of two unchanged builds is the base is arbitrary,
    so both are A/A gates of the same rate. Gates drawn from one
    measurement share its chance differences between the copies (one copy
    slower than the other over all its rounds, as a copy is in some cell by
    chance); one way re-counts such a difference in every draw, while both
    ways count it once as a regression and once not, which keeps the rate
    unbiased and makes it vary less from one measurement to the next
    (test_sensitivity.py simulates it)."""
    rounds = common_rounds(base_cells, again_cells)
    if len(rounds) < size or set(base_cells) - set(again_cells):
        return None
    alarms = 0
    for _ in range(draws):
        drawn = rng.sample(rounds, size)
        pairs = {key: (values.only(drawn), again_cells[key].only(drawn)) for key, values in base_cells.items()}
        alarms += bool(gate_regressions(pairs, threshold_pct))
        alarms += bool(gate_regressions({key: (new, base) for key, (base, new) in pairs.items()}, threshold_pct))
    return alarms / (2 * draws)


def detection_rate(base_cells, again_cells, slow_cells, delta, size, draws, threshold_pct, rng):
    """The share of A/A+delta gates that flag the slowed server: `size`
    rounds drawn, the whole gate judged as one family, one server's points
    unslowed against slowed by delta, every other cell against its second
    unslowed copy; None with too few rounds."""
    servers = sorted({server for (_, server, d) in slow_cells if d == delta})
    rounds = common_rounds(base_cells, again_cells, {k: v for k, v in slow_cells.items() if k[2] == delta})
    if not servers or len(rounds) < size:
        return None
    caught = 0
    for _ in range(draws):
        drawn = rng.sample(rounds, size)
        for server in servers:
            pairs = {key: (values.only(drawn), (slow_cells.get((*key, delta)) if key[1] == server
                                               else again_cells[key]).only(drawn))
                     for key, values in base_cells.items() if key[1] != server or (*key, delta) in slow_cells}
            caught += any(key[1] == server for key in gate_regressions(pairs, threshold_pct))
    return caught / (draws * len(servers))


def measured_slowdown(base_cells, slow_cells, delta):
    """The median over the slowed cells of base/slowed throughput - 1."""
    ratios = [stats.median(base_cells[(p, s)].throughput.values()) / stats.median(values.throughput.values()) - 1
              for (p, s, d), values in slow_cells.items() if d == delta and (p, s) in base_cells
              and values.throughput and min(values.throughput.values()) > 0]
    return stats.median(ratios) if ratios else None


def gate_size(suite):
    """The repetitions a side `ab --suite` runs (ab.MIN_REPS at least)."""
    return max(suite.repetitions.min, FEWEST_REPS)


def sizes_to_try(gate_reps, most):
    """The gate's own size and a few others up to what the measurement allows,
    for the repetitions a target needs."""
    ladder = {FEWEST_REPS, gate_reps, *range(FEWEST_REPS, most + 1, max(2, most // 6))}
    return sorted(size for size in ladder if size <= most) or [FEWEST_REPS]


def evaluate(base_cells, again_cells, slow_cells, deltas, threshold_pct, draws=DEFAULT_DRAWS, seed=1, sizes=None,
             gate_reps=FEWEST_REPS):
    """The sensitivity document's figures from (point, server) -> CellRounds
    of the unslowed cells and of their second copies, and (point, server,
    delta) -> CellRounds of the slowed ones, for gates of gate_reps rounds."""
    rng = random.Random(seed)
    most = len(common_rounds(base_cells, again_cells, slow_cells))
    sizes = sizes or sizes_to_try(gate_reps, most)
    by_size = []
    for size in sizes:
        by_size.append({
            "reps": size,
            "false_alarm_rate": false_alarm_rate(base_cells, again_cells, size, draws, threshold_pct, rng),
            "detection": [{"delta": delta, "slowdown": measured_slowdown(base_cells, slow_cells, delta),
                           "rate": detection_rate(base_cells, again_cells, slow_cells, delta, size, draws,
                                                  threshold_pct, rng)}
                          for delta in deltas]})
    gate = next((entry for entry in by_size if entry["reps"] == gate_reps), by_size[0])
    return {"threshold_pct": threshold_pct, "draws": draws, "gate_reps": gate["reps"], "rounds": most,
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
    """(unslowed cells, their second copies, slowed cells) as CellRounds, from
    the measurement run's cells and its slowed points [(slow point id, base
    point id, server, delta, spin)]."""
    by_key = {(cell.point_id, cell.server): cell for cell in cells if cell.ok_reps}
    slow_ids = {entry[0] for entry in plan_entries}
    base = {key: CellRounds.of(cell) for key, cell in by_key.items()
            if key[0] not in slow_ids and not key[0].endswith(AGAIN_SUFFIX)}
    again = {key: CellRounds.of(by_key[(again_point_id(key[0]), key[1])]) for key in base
             if (again_point_id(key[0]), key[1]) in by_key}
    slow = {(point_id, server, delta): CellRounds.of(by_key[(slow_id, server)])
            for slow_id, point_id, server, delta, _ in plan_entries if (slow_id, server) in by_key}
    return base, again, slow


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


def main(suite, servers, out, reps=None, deltas=DEFAULT_DELTAS, threshold_pct=5.0, draws=DEFAULT_DRAWS,
         seed=1, placement=None, stream=None):
    """Calibrates, measures, evaluates; writes OUT/sensitivity.json. Exit code."""
    from harness import run as runner
    stream = stream or sys.stderr
    gate_reps = gate_size(suite)
    reps = reps or gate_reps + gate_reps // 2  # more rounds than a gate has, so that draws differ
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    calibration, measurement = out / "calibration", out / "measurement"
    stream.write(f"sensitivity 1/2: calibration, {CALIBRATION_REPS} repetitions of each cell\n")
    code, _ = run_or_resume(runner, replace(suite, repetitions=Repetitions.fixed(CALIBRATION_REPS)), servers,
                            calibration, seed, placement, stream)
    if code == 130:
        return code
    _, cells = load_cells(calibration)
    slowed = slowed_points(suite.points, base_throughputs(cells), deltas)
    (out / "slowed.json").write_text(json.dumps([[p.id, b, s, d, spin] for p, b, s, d, spin in slowed]))
    stream.write(f"sensitivity 2/2: {len(slowed)} slowed cells beside the suite's, {reps} repetitions each\n")
    code, _ = run_or_resume(runner, measurement_suite(suite, slowed, reps), servers, measurement, seed,
                            placement, stream, rounds=reps)
    if code == 130:
        return code
    run, cells = load_cells(measurement)
    entries = [(p.id, b, s, d, spin) for p, b, s, d, spin in slowed]
    base, again, slow = cells_of(cells, entries)
    data = document(evaluate(base, again, slow, deltas, threshold_pct, draws, seed, gate_reps=gate_reps),
                    run.manifest, entries)
    store.write_json_atomic(out / "sensitivity.json", data)
    stream.write(format_table(data) + f"\nwritten: {out / 'sensitivity.json'}\n")
    return 0


def run_or_resume(runner, suite, servers, folder, seed, placement, stream, rounds=None):
    """A run into folder, or the rest of it when an earlier sensitivity was
    interrupted there; with more `rounds` than that run has, the run is
    extended to them (its rounds are kept: each is a self-contained pair)."""
    if (folder / store.MANIFEST_NAME).is_file():
        earlier = store.read_manifest(folder)
        if rounds and rounds > earlier["reps"]:
            return runner.extend_run(folder, rounds, stream=stream)
        if earlier.get("finished_at"):
            return 0, folder
        return runner.resume_run(folder, stream=stream)
    return runner.new_run(suite, servers, out=folder, seed=seed, placement=placement, stream=stream)

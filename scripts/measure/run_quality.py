#!/usr/bin/env python3
"""How far a run's figures can be trusted, from its folder alone: the
spread of the Winsock cells' throughput over repetitions (coefficient of
variation: median, 90th percentile, largest), how many repetitions held
their placement and how many were taken on a busy machine, and how many
pairs of Winsock models the verdicts resolve: of the pairs whose
repetitions do not overlap at all (5 or more each) and of the pairs whose
medians are 1.25x apart or more. These are the figures the placement and
verdict work is judged by (two default runs back to back: CV median <=
0.12 and 90th percentile <= 0.20; every non-overlapping pair and 90% of the
1.25x pairs resolved)."""
import measure_cli  # first: puts the project's harness on the import path

from harness import models, stats
from harness.analysis.cells import load_cells
from harness.analysis.rankings import all_point_verdicts, point_samples
from measure_cli import MeasureError

APART = 1.25
MIN_REPS = 5


def quantile(values, share):
    """The share-quantile of values by nearest rank (None for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else None


def throughput_spread(cells):
    cvs = [cell.throughput.cv for cell in cells
           if models.is_winsock(cell.server) and cell.throughput is not None and cell.throughput.n >= 2]
    return {"cells": len(cvs), "cv_median": quantile(cvs, 0.5), "cv_p90": quantile(cvs, 0.9),
            "cv_max": max(cvs, default=None)}


def repetition_conditions(run):
    placed = [r.placement for r in run.records if r.ok]
    held = sum(1 for p in placed if isinstance(p, dict) and p.get("held"))
    busy = sum(1 for r in run.records if r.ok and (r.machine or {}).get("busy"))
    return {"ok_repetitions": len(placed), "placement_held": held, "busy": busy}


def verdict_coverage(cells):
    """Of the Winsock pairs at each point and metric: (with a verdict, of them) for
    all pairs, the non-overlapping ones and those APART or more apart."""
    counts = {"all": [0, 0], "non_overlapping": [0, 0], "apart": [0, 0]}
    for found in all_point_verdicts(cells):
        point_cells = [c for c in cells if c.point_id == found.point_id and c.variant == found.variant]
        samples = point_samples(point_cells, found.metric)
        for verdict in found.verdicts:
            if not (models.is_winsock(verdict.a) and models.is_winsock(verdict.b)):
                continue
            x, y = samples[verdict.a], samples[verdict.b]
            resolved = verdict.better is not None
            kinds = ["all"]
            if len(x) >= MIN_REPS and len(y) >= MIN_REPS and (max(x) < min(y) or max(y) < min(x)):
                kinds.append("non_overlapping")
            low, high = sorted((stats.median(x), stats.median(y)))
            if low > 0 and high / low >= APART:
                kinds.append("apart")
            for kind in kinds:
                counts[kind][0] += resolved
                counts[kind][1] += 1
    return {kind: {"resolved": done, "pairs": total} for kind, (done, total) in counts.items()}


def share(entry):
    return f"{entry['resolved']} of {entry['pairs']}" + (f" ({entry['resolved'] / entry['pairs']:.0%})"
                                                        if entry["pairs"] else "")


def main():
    parser = measure_cli.make_parser(__file__, __doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN", help="a run folder (python3 -m harness run)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON ('-': stdout)")
    args = parser.parse_args()
    try:
        run, cells = load_cells(args.run_dir)
    except ValueError as error:
        raise MeasureError(str(error)) from None
    figures = {"run": str(args.run_dir), "placement": (run.manifest.get("placement") or {}).get("mode"),
               "throughput": throughput_spread(cells), "repetitions": repetition_conditions(run),
               "verdicts": verdict_coverage(cells)}
    out = measure_cli.table_stream(args.json)
    spread, conditions, verdicts = figures["throughput"], figures["repetitions"], figures["verdicts"]
    fmt = "{:.2f}".format
    print(f"run {args.run_dir} (placement {figures['placement'] or 'not recorded'})", file=out)
    if spread["cells"]:
        print(f"Winsock throughput CV over repetitions, {spread['cells']} cells: median {fmt(spread['cv_median'])}, "
              f"90th percentile {fmt(spread['cv_p90'])}, max {fmt(spread['cv_max'])}", file=out)
    print(f"ok repetitions {conditions['ok_repetitions']}: placement held in {conditions['placement_held']}, "
          f"busy machine in {conditions['busy']}", file=out)
    print(f"Winsock pairs with a verdict: non-overlapping {share(verdicts['non_overlapping'])}; medians "
          f">= {APART:g}x apart {share(verdicts['apart'])}; all {share(verdicts['all'])}", file=out)
    if args.json:
        measure_cli.write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    measure_cli.run_main(main)

"""What `report` writes for scripts, next to the report: summary.json (schema SCHEMA_ID, described by
summary.schema.json in this folder), summary.csv (one row per cell) and, per cell, an
HdrHistogram-style percentile file hgrm/<point>.<server>.<variant>.hgrm of the cell's merged
histogram (every ok repetition's buckets added up; the tables' percentiles are medians of each
repetition's own, so the two differ a little, by design)."""
import csv
import io
import json
import math
import re
from fractions import Fraction
from pathlib import Path

from harness import stats, store
from harness.records import measured_by_cell
from harness.analysis import microsoft
from harness.analysis.rankings import all_point_verdicts
from harness.report.sections import badges, ranked

SCHEMA_ID = "winsock-bench/summary/2"
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")
ESTIMATES = {  # summary.json's estimate names -> how a cell gives them
    "throughput": lambda c: c.throughput,
    "p50_us": lambda c: (c.percentiles_us or {}).get("p50"),
    "p90_us": lambda c: (c.percentiles_us or {}).get("p90"),
    "p99_us": lambda c: c.p99_us,
    "p99_9_us": lambda c: (c.percentiles_us or {}).get("p99_9"),
    "max_us": lambda c: (c.percentiles_us or {}).get("max"),
    "connect_p99_us": lambda c: c.connect_p99_us,
    "achieved_rate": lambda c: c.achieved_rate,
    "server_cpu_us_per_message": lambda c: c.cpu_us_per_message,
    "wineserver_cpu_us_per_message": lambda c: c.wineserver_cpu_us_per_message,
    "total_cpu_us_per_message": lambda c: c.total_cpu_us_per_message,
    "working_set_bytes_per_connection": lambda c: c.working_set_per_connection,
}
CSV_ESTIMATES = ("throughput", "p50_us", "p99_us", "p99_9_us", "total_cpu_us_per_message",
                 "working_set_bytes_per_connection", "achieved_rate")
HGRM_TICKS_PER_HALF = 5   # percentile rows per halving of the distance to 100%, as HdrHistogram prints


def write_exports(run, cells, run_dir):
    """Writes summary.json, summary.csv and hgrm/*.hgrm into run_dir; returns their paths."""
    run_dir = Path(run_dir)
    hgrm_dir = run_dir / "hgrm"
    hgrm_dir.mkdir(exist_ok=True)
    for old in hgrm_dir.glob("*.hgrm"):
        old.unlink()
    histograms = merged_histograms(run)
    hgrm_files = {}
    for cell in cells:
        key = (cell.point_id, cell.server, cell.variant)
        if histograms.get(key):
            path = hgrm_dir / hgrm_name(*key)
            store.write_text_atomic(path, hgrm_text(*histograms[key]))
            hgrm_files[key] = path.relative_to(run_dir).as_posix()
    json_path, csv_path = run_dir / "summary.json", run_dir / "summary.csv"
    store.write_text_atomic(json_path, json.dumps(summary_document(run, cells, hgrm_files), indent=1) + "\n")
    store.write_text_atomic(csv_path, summary_csv(cells))
    return json_path, csv_path, hgrm_dir


def hgrm_name(point_id, server, variant):
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{point_id}.{server}.{variant}") + ".hgrm"


# ---------------------------------------------------------------- summary.json


def summary_document(run, cells, hgrm_files):
    manifest = run.manifest
    points = all_point_verdicts(cells)
    return {
        "schema": SCHEMA_ID,
        "run": {"suite": manifest.get("suite"), "seed": manifest.get("seed"),
                "started_at": manifest.get("started_at"), "finished_at": manifest.get("finished_at"),
                "servers": list(manifest.get("servers") or []),
                "points": [p.get("id") for p in manifest.get("points") or []],
                "variants": {name: {"commit": (info or {}).get("commit"), "dirty": bool((info or {}).get("dirty"))}
                             for name, info in (manifest.get("variants") or {}).items()},
                "platform": manifest.get("platform") or {}, "manifest": "manifest.json"},
        "cells": [_cell_document(cell, hgrm_files.get((cell.point_id, cell.server, cell.variant)))
                  for cell in cells],
        "rankings": [_ranking_document(r) for r in ranked(cells)],
        "points": [_point_document(point) for point in points],
        "pairs": [dict(point_id=point.point_id, metric=point.metric, variant=point.variant, **_verdict_document(v))
                  for point in points for v in point.verdicts],
    }


def _verdict_document(verdict):
    return {"a": verdict.a, "b": verdict.b, "better": verdict.better, "ratio": _finite_or_none(verdict.ratio),
            "low": verdict.low, "high": verdict.high, "p": verdict.p}


def _finite_or_none(value):
    return value if value is not None and math.isfinite(value) else None


def _point_document(point):
    return {"point_id": point.point_id, "metric": point.metric, "variant": point.variant, "order": point.order,
            "letters": point.letters, "leaders": point.leaders(), "laggards": point.laggards(),
            "separable": point.separable}


def _cell_document(cell, hgrm):
    return {"point_id": cell.point_id, "workload": cell.workload, "server": cell.server, "variant": cell.variant,
            "ok_reps": cell.ok_reps, "failed_reps": cell.failed_reps, "lower_bound": cell.lower_bound,
            "requested_rate": cell.requested_rate, "peak_threads": cell.peak_threads,
            "estimates": {name: _estimate_document(of(cell)) for name, of in ESTIMATES.items()},
            "flags": [{"label": b.label, "explanation": b.explanation, "severe": b.severe} for b in badges(cell)],
            "failures": list(cell.failures), "hgrm": hgrm}


def _estimate_document(estimate):
    if estimate is None:
        return None
    return {"median": estimate.median, "low": estimate.low, "high": estimate.high, "n": estimate.n,
            "cv": estimate.cv if math.isfinite(estimate.cv) else None}


def _ranking_document(ranking):
    tau = microsoft.agreement_with_microsoft(ranking)
    return {"scope": ranking.scope, "metric": ranking.metric, "variant": ranking.variant, "order": ranking.order,
            "letters": ranking.letters, "leaders": ranking.leaders(), "laggards": ranking.laggards(),
            "pairs": [_verdict_document(v) for v in ranking.verdicts],
            "best_first": "highest" if ranking.metric == "throughput" else "lowest", "points": ranking.points,
            "kendall_tau_vs_microsoft": tau, "tau_pairs": microsoft.microsoft_pairs(ranking)[1],
            "no_tau_reason": microsoft.no_tau_reason(ranking) if tau is None else None}


# ---------------------------------------------------------------- summary.csv


def summary_csv(cells):
    header = ["point_id", "workload", "server", "variant", "ok_reps", "failed_reps", "lower_bound"]
    for name in CSV_ESTIMATES:
        header += [f"{name}_median", f"{name}_low", f"{name}_high"]
    header += ["throughput_cv", "requested_rate", "flags"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for cell in cells:
        row = [cell.point_id, cell.workload, cell.server, cell.variant, cell.ok_reps, cell.failed_reps,
               str(cell.lower_bound).lower()]
        for name in CSV_ESTIMATES:
            estimate = ESTIMATES[name](cell)
            row += ["", "", ""] if estimate is None else [_csv_number(estimate.median), _csv_number(estimate.low),
                                                          _csv_number(estimate.high)]
        row += [_csv_number(cell.throughput.cv if cell.throughput else None), _csv_number(cell.requested_rate),
                "; ".join(b.label for b in badges(cell))]
        writer.writerow(row)
    return out.getvalue()


def _csv_number(value):
    return "" if value is None or not math.isfinite(value) else repr(float(value))


# ---------------------------------------------------------------- .hgrm


def merged_histograms(run):
    """{(point, server, variant): (buckets [[low_ns, high_ns, count]] summed over
    the measured repetitions (harness.records.measured_records), the largest
    maximum in ns or None)}."""
    merged = {}
    for key, measured in measured_by_cell(run.records).items():
        buckets, maximum = {}, None
        for record in measured:
            histogram = record.loadgen.get("histogram")
            if not histogram:
                continue
            for low, high, count in histogram:
                buckets[(low, high)] = buckets.get((low, high), 0) + count
            rep_max = (record.loadgen.get("latency_us") or {}).get("max")
            if rep_max is not None:
                maximum = max(maximum or 0, round(rep_max * 1000))
        if buckets:
            merged[key] = ([[low, high, count] for (low, high), count in sorted(buckets.items())], maximum)
    return merged


def hgrm_percentiles(total):
    """HdrHistogram's percentile rows: 0, then HGRM_TICKS_PER_HALF steps per halving of the distance to
    100%, until one step is below one sample, then 100."""
    found, half = [0.0], 0
    while total * 0.5 ** half >= 1:
        low, width = 1 - 0.5 ** half, 0.5 ** (half + 1)
        found += [100 * (low + width * tick / HGRM_TICKS_PER_HALF) for tick in range(1, HGRM_TICKS_PER_HALF + 1)]
        half += 1
    # Rounded so that each is the decimal it stands for (55, not 55.00000000000001) for the nearest rank.
    return sorted({round(p, 10) for p in found if p < 100}) + [100.0]


def hgrm_text(histogram, maximum_ns):
    """The percentile distribution in HdrHistogram's text layout (values in microseconds)."""
    total = sum(count for _, _, count in histogram)
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>16}", ""]
    for percentile in hgrm_percentiles(total):
        value_us = stats.histogram_percentile(histogram, percentile, maximum=maximum_ns) / 1000
        count = min(total, max(1, math.ceil(Fraction(str(percentile)) * total / 100)))  # its nearest rank
        inverse = "inf" if percentile >= 100 else f"{1 / (1 - percentile / 100):.2f}"
        lines.append(f"{value_us:12.3f} {percentile / 100:14.12f} {count:10d} {inverse:>16}")
    top = maximum_ns if maximum_ns is not None else histogram[-1][0]  # the overflow bucket has no upper end
    mean_us = sum((low + min(high, top)) / 2 * count for low, high, count in histogram) / total / 1000
    max_us = top / 1000
    lines += [f"#[Mean    = {mean_us:12.3f}, Unit           = microseconds]",
              f"#[Max     = {max_us:12.3f}, Total count    = {total:12d}]",
              f"#[Buckets = {len(histogram):12d}, Merged from    = every ok repetition]", ""]
    return "\n".join(lines)

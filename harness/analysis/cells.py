"""From a run's records to cells (point x server x variant), the one path from a
run folder to figures (load_cells).

Units: latencies in microseconds here (the load generator's histograms are in
ns), throughput in messages/s (churn: operations/s, one connect + one echo +
close each), CPU in microseconds per message, memory in bytes.

Only "ok" records enter the statistics; failed ones are counted and their
reasons kept on the cell. Of the ok ones, those taken on a busy machine are set
aside once enough quiet ones remain (harness.records.measured_records; the
cell's notes say how many). Every Estimate is the median over the cell's
measured repetitions with its 95% distribution-free interval
(stats.median_ci; none below stats.min_reps_for_interval() repetitions) and
the coefficient of variation across repetitions. The record readers are harness.records; the
flags and notes on a cell's repetitions harness.analysis.notes.

One definition of a latency percentile, used by the tables, the charts, the
rankings and compare alike: each repetition's own percentile (the load
generator's figure, nearest rank on its histogram), then the median over the
repetitions with its interval. Histograms of repetitions are never merged: one
bad repetition would otherwise own the whole tail of the merged histogram."""
from dataclasses import dataclass, field

from harness import models, stats, store
from harness.analysis import notes
from harness.records import (PERCENTILES, cpu_us_per_message_of, is_ok_record, loadgen_bound, max_latency_ns_of,
                             measured_records, nested, ok_records, p99_us_of, percentile_us_of, record_field,
                             requested_rate_of_cell, throughput_of, total_cpu_us_per_message_of,
                             wineserver_cpu_us_per_message_of, working_set_per_connection_of)
from harness.verdicts import capped_for_ranking


# The latency spectrum: percentiles evenly spaced in log(1 / (1 - p)), 10 per decade, p0 .. p99.999,
# the usual x axis of a latency-by-percentile chart (the tail gets as many points as the body).
SPECTRUM_PERCENTILES = tuple(round(100 * (1 - 10 ** (-step / 10)), 6) for step in range(51))


@dataclass
class Estimate:
    median: float
    low: float | None  # the 95% interval of the median; None with too few repetitions for one
    high: float | None
    cv: float
    n: int
    values: list[float] = field(default_factory=list)  # the per-repetition values, for the pairwise tests

    @property
    def has_interval(self):
        return self.low is not None


@dataclass
class Cell:
    point_id: str
    workload: str
    loadgen_args: dict
    sweep: dict | None
    server: str
    variant: str
    ok_reps: int
    failed_reps: int
    failures: list[str]
    throughput: Estimate | None
    p99_us: Estimate | None
    percentiles_us: dict[str, Estimate]  # PERCENTILES names and "max"; p99 is p99_us itself
    spectrum: list[tuple[float, float]]  # (percentile, median over repetitions of that percentile, us)
    connect_p99_us: Estimate | None
    cpu_us_per_message: Estimate | None
    working_set_per_connection: Estimate | None
    peak_threads: int | None
    requested_rate: float | None
    achieved_rate: Estimate | None
    saturation: list[str]
    # Under Wine the wineserver does much of the socket work: its CPU per message, and
    # server + wineserver. A native server (or a Windows run) has no wineserver figure
    # (None, not zero) and its own CPU is the whole.
    wineserver_cpu_us_per_message: Estimate | None = None
    total_cpu_us_per_message: Estimate | None = None
    # The load generator still saturated (after any auto-scaling): the cell measures it,
    # not the server, so its throughput is a lower bound and it is left out of rankings.
    lower_bound: bool = False
    notes: list[str] = field(default_factory=list)  # loadgen re-runs, busy-machine repetitions
    busy_reps: int = 0  # of ok_reps, those taken while other processes used the CPUs (run/noise.py)
    set_aside_reps: int = 0  # ok repetitions on a busy machine left out (harness.records.measured_records)
    server_args: tuple = ()  # the point's options for the server (a suite's server_args)
    # metric -> {repetition: value}: which round each figure came from, so
    # that two variants measured in the same rounds (ab) can be paired.
    by_round: dict = field(default_factory=dict)


def estimate(values) -> Estimate | None:
    """Median, 95% interval (stats.median_ci) and CV of per-repetition values;
    None if there are none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    low, high = stats.median_ci(values) or (None, None)
    return Estimate(median=stats.median(values), low=low, high=high,
                    cv=stats.coefficient_of_variation(values), n=len(values), values=values)


def _latency_distribution(loadgens):
    """Percentile Estimates and the spectrum (us), each the median over repetitions
    of the repetition's own figure (the module docstring's one definition)."""
    percentiles = {}
    for name in [name for name, _ in PERCENTILES] + ["max"]:
        found = estimate(percentile_us_of(doc, name) for doc in loadgens)
        if found is not None:
            percentiles[name] = found
    per_rep = [_spectrum_of(doc) for doc in loadgens]
    per_rep = [spectrum for spectrum in per_rep if spectrum]
    spectrum = [(p, stats.median(values)) for p, *values in zip(SPECTRUM_PERCENTILES, *per_rep)] if per_rep else []
    return percentiles, spectrum


def _spectrum_of(loadgen):
    histogram = nested(loadgen, "histogram")
    if not histogram:
        return []
    maximum = max_latency_ns_of(loadgen)
    return [stats.histogram_percentile(histogram, p, maximum) / 1000 for p in SPECTRUM_PERCENTILES]


def _cpu_estimates(ok, under_wine):
    """(server, wineserver, total) CPU per message Estimates of the ok records."""
    server, wineserver, total = [], [], []
    for record in ok:
        server_us = cpu_us_per_message_of(record.loadgen, record.server_stats)
        wineserver_us = wineserver_cpu_us_per_message_of(record.loadgen, record_field(record, "wineserver_cpu_s"))
        server.append(server_us)
        wineserver.append(wineserver_us)
        total.append(total_cpu_us_per_message_of(server_us, wineserver_us, under_wine))
    return estimate(server), estimate(wineserver), estimate(total)


def _cell(records, on_windows=False):
    first = records[0]
    all_ok = ok_records(records)
    ok = measured_records(records)
    failed = [r for r in records if not is_ok_record(r)]
    loadgens = [r.loadgen for r in ok]
    requested = requested_rate_of_cell(first.workload, loadgens, first.loadgen_args)
    achieved = [nested(doc, "achieved_rate") for doc in loadgens] if first.workload == "rate" else []
    achieved = [a for a in achieved if a is not None]
    threads = [nested(r.server_stats, "peak_threads") for r in ok]
    threads = [t for t in threads if t is not None]
    percentiles, spectrum = _latency_distribution(loadgens)
    server_cpu, wineserver_cpu, total_cpu = _cpu_estimates(ok, models.is_winsock(first.server) and not on_windows)
    return Cell(
        point_id=first.point_id, workload=first.workload, loadgen_args=first.loadgen_args, sweep=first.sweep,
        server=first.server, variant=first.variant, ok_reps=len(ok), failed_reps=len(failed),
        failures=[f"r{r.rep}: {r.failure or 'record without loadgen results'}" for r in failed],
        throughput=estimate(throughput_of(doc) for doc in loadgens),
        p99_us=percentiles.get("p99"),
        percentiles_us=percentiles, spectrum=spectrum,
        connect_p99_us=estimate(nested(doc, "connect_latency_us", "p99") for doc in loadgens)
        if first.workload == "churn" else None,
        cpu_us_per_message=server_cpu, wineserver_cpu_us_per_message=wineserver_cpu,
        total_cpu_us_per_message=total_cpu,
        working_set_per_connection=estimate(working_set_per_connection_of(r.loadgen, r.server_stats) for r in ok),
        peak_threads=max(threads) if threads else None,
        requested_rate=requested, achieved_rate=estimate(achieved) if first.workload == "rate" else None,
        saturation=notes.saturation_flags(ok, requested, achieved), lower_bound=loadgen_bound(ok),
        notes=notes.set_aside(all_ok, ok) + notes.notes(ok), busy_reps=len(notes.busy_machines(ok)),
        set_aside_reps=len(all_ok) - len(ok), server_args=tuple(first.server_args),
        by_round=_by_round(ok),
    )


def _by_round(ok):
    """{"throughput": {rep: value}, "p99": {rep: value}} of the ok records."""
    found = {"throughput": {}, "p99": {}}
    for record in ok:
        for metric, value in (("throughput", throughput_of(record.loadgen)), ("p99", p99_us_of(record.loadgen))):
            if value is not None:
                found[metric][record.rep] = float(value)
    return found


def summarize(run) -> list[Cell]:
    """One Cell per point x server x variant, in the run's order (the manifest's
    points, then its servers), over that cell's repetitions."""
    on_windows = (run.manifest.get("platform") or {}).get("os") == "Windows"
    groups = {}
    for record in run.records:
        if record.unsupported:
            continue  # no figures, and no failure either: see unsupported_servers
        groups.setdefault((record.point_id, record.server, record.variant), []).append(record)
    return [_cell(records, on_windows) for records in groups.values()]


def unsupported_servers(run):
    """{server: the line it said} for the servers whose model this platform
    cannot run (records with status "unsupported", e.g. rio under Wine)."""
    return {record.server: record.failure or "unsupported on this platform"
            for record in run.records if record.unsupported}


def load_cells(run_dir):
    """The one path from a run folder to cells: (run, its cells). ValueError with a
    one-line reason if run_dir is not a run folder."""
    run = store.load_run(run_dir)
    return run, summarize(run)


def metric_estimate(cell, metric):
    """A cell's Estimate of a harness.verdicts.METRICS name."""
    return cell.throughput if metric == "throughput" else cell.p99_us


def ranked_values(cell, metric):
    """The per-repetition values a cell is ranked on at its point (capped_for_ranking),
    or None when it has none."""
    value = metric_estimate(cell, metric)
    if value is None or not value.values:
        return None
    return capped_for_ranking(value.values, metric, cell.workload, cell.requested_rate)

"""From a run's records to cells (point x server x variant) and rankings.

Units: latencies in microseconds here (the load generator's histograms are in
ns), throughput in messages/s (churn: operations/s, one connect + one echo +
close each), CPU in microseconds per message, memory in bytes.

Only "ok" records enter the statistics; failed ones are counted and their
reasons kept on the cell. Every Estimate is the median over the cell's ok
repetitions with its 95% distribution-free interval (stats.median_ci; none
below stats.min_reps_for_interval() repetitions) and the coefficient of
variation across repetitions.

One definition of a latency percentile, used by the tables, the charts, the
rankings and compare alike: each repetition's own percentile (the load
generator's figure, nearest rank on its histogram), then the median over the
repetitions with its interval. Histograms of repetitions are never merged: one
bad repetition would otherwise own the whole tail of the merged histogram."""
import json
from dataclasses import dataclass, field
from fractions import Fraction

from . import models, stats, store

LOADGEN_CPU_LIMIT = 0.90  # of one core per loadgen thread
RATE_SHORTFALL_LIMIT = 0.95  # of the requested rate: below it, under-delivery
RATE_EXCESS_LIMIT = 1.05  # of the requested rate: above it, over-delivery
PERCENTILES = (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99))
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
    busy_reps: int = 0  # repetitions taken while other processes used the CPUs (run/noise.py)
    server_args: tuple = ()  # the point's options for the server (a suite's server_args)


def estimate(values) -> Estimate | None:
    """Median, 95% interval (stats.median_ci) and CV of per-repetition values;
    None if there are none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    low, high = stats.median_ci(values) or (None, None)
    return Estimate(median=stats.median(values), low=low, high=high,
                    cv=stats.coefficient_of_variation(values), n=len(values), values=values)


# ---- per-repetition figures (None when the record lacks what they need) ----

def _get(document, *keys):
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def throughput_of(loadgen):
    """Messages/s; churn: operations/s (connections_per_s, falling back on messages)."""
    if _get(loadgen, "config", "workload") == "churn" and _get(loadgen, "connections_per_s") is not None:
        return float(loadgen["connections_per_s"])
    if _get(loadgen, "messages_per_s") is not None:
        return float(loadgen["messages_per_s"])
    messages, duration = _get(loadgen, "totals", "messages"), _get(loadgen, "totals", "duration_s")
    return messages / duration if messages is not None and duration else None


def p99_us_of(loadgen):
    """The repetition's p99 (us): percentile_us_of(loadgen, "p99")."""
    return percentile_us_of(loadgen, "p99")


def percentile_us_of(loadgen, name):
    """One repetition's percentile (a PERCENTILES name, or "max"), in us: the load
    generator's own figure (it knows the exact maximum), else the same definition
    computed from its histogram (nearest rank, the bucket's upper end clamped to the
    maximum: stats.histogram_percentile)."""
    reported = _get(loadgen, "latency_us", name)
    if reported is not None:
        return float(reported)
    histogram = _get(loadgen, "histogram")
    if not histogram:
        return None
    percent = 100 if name == "max" else dict(PERCENTILES)[name]
    return stats.histogram_percentile(histogram, percent, maximum=_max_ns(loadgen)) / 1000


def _max_ns(loadgen):
    maximum = _get(loadgen, "latency_us", "max")
    return None if maximum is None else round(maximum * 1000)


def cpu_us_per_message_of(loadgen, server_stats):
    """Server CPU (user + kernel) over the messages measured. The server's CPU covers
    its whole life, warm-up included, so this is an upper bound (harness/README.md)."""
    user, kernel = _get(server_stats, "cpu_user_s"), _get(server_stats, "cpu_kernel_s")
    if user is None or kernel is None:
        return None
    return _per_message(user + kernel, loadgen)


def wineserver_cpu_us_per_message_of(loadgen, wineserver_cpu_s):
    """The wineserver's CPU during the item (record field wineserver_cpu_s, from the
    server's start to its stop, so warm-up included too) over the messages measured;
    None for a native server or when it was not recorded."""
    return None if wineserver_cpu_s is None else _per_message(wineserver_cpu_s, loadgen)


def total_cpu_us_per_message_of(server_us, wineserver_us, under_wine):
    """All the CPU the server's work cost per message: server + wineserver under Wine
    (None when the wineserver's share is unknown: the sum would understate it), the
    server's own figure when no wineserver runs (native servers, Windows)."""
    if server_us is None:
        return None
    if not under_wine:
        return server_us
    return None if wineserver_us is None else server_us + wineserver_us


def _per_message(cpu_s, loadgen):
    messages = _get(loadgen, "totals", "messages")
    return cpu_s * 1e6 / messages if messages else None


def record_field(record, name):
    """A field the run side added to records (wineserver_cpu_s, machine,
    loadgen_autoscale: harness/README.md, "A record"); None when the record has none."""
    return getattr(record, name, None)


def connections_held(loadgen, server_stats):
    """Connections the server held at once: its own peak_connections when it reports
    one, else what the load generator opened (active, plus idle ones for idle)."""
    peak = _get(server_stats, "peak_connections")
    if peak:
        return peak
    config = _get(loadgen, "config") or {}
    if config.get("workload") == "churn":
        return config.get("concurrency") or None
    held = config.get("connections") or 0
    if config.get("workload") == "idle":
        held += config.get("idle") or 0
    return held or None


def working_set_per_connection_of(loadgen, server_stats):
    """Peak working set / connections held. It includes the process's fixed cost,
    so it is only comparable between servers at the same point, and means "memory
    per connection" only when there are many connections (the idle sweep)."""
    working_set = _get(server_stats, "peak_working_set_bytes")
    held = connections_held(loadgen, server_stats)
    if working_set is None or not held:
        return None
    return working_set / held


def loadgen_cpu_share_of(loadgen):
    """Load generator CPU as a share of one core per loadgen thread; with load
    from several client hosts, the busiest host's (busiest_loadgen)."""
    return busiest_loadgen(loadgen)[0]


def busiest_loadgen(loadgen):
    """(CPU share, client host or None) of the load generator closest to
    saturation. A merged document (load from several client hosts) is judged
    host by host: one saturated host already bends the merged figures, and the
    sum over hosts would hide it behind the idle ones."""
    parts = _get(loadgen, "hosts")
    if parts:
        shares = [(share, part.get("host")) for share, part in ((_own_cpu_share(p), p) for p in parts)
                  if share is not None]
        return max(shares, key=lambda found: found[0]) if shares else (None, None)
    return _own_cpu_share(loadgen), None


def _own_cpu_share(loadgen):
    """One load generator's CPU over one core per thread. Its CPU time covers the
    warm-up as well, so the wall time is warmup_s + the measured time."""
    cpu = _get(loadgen, "client_cpu_s") or {}
    config = _get(loadgen, "config") or {}
    wall = (config.get("warmup_s") or 0) + (_get(loadgen, "totals", "duration_s") or 0)
    if wall <= 0 or cpu.get("user") is None or cpu.get("system") is None:
        return None
    return (cpu["user"] + cpu["system"]) / wall / max(1, config.get("threads") or 1)


def requested_rate_of(loadgen, loadgen_args):
    for value in (_get(loadgen, "requested_rate"), _get(loadgen, "config", "rate"), loadgen_args.get("rate")):
        if value is not None:
            return float(value)
    return None


# ---- cells ----

def _saturation(ok, requested_rate, achieved):
    """Why a cell may measure the load generator rather than the server. Each flag
    takes the worst repetition: one saturated repetition already drags the median."""
    reasons = []
    found = [busiest_loadgen(r.loadgen) for r in ok]
    found = [(share, host) for share, host in found if share is not None]
    if found and max(found, key=lambda f: f[0])[0] >= LOADGEN_CPU_LIMIT:
        share, host = max(found, key=lambda f: f[0])
        source = next((part for part in _get(ok[0].loadgen, "hosts") or [] if part.get("host") == host), ok[0].loadgen)
        threads = max(1, _get(source, "config", "threads") or 1)
        per = "of a core" if threads == 1 else f"of a core per thread ({threads} threads)"
        reasons.append(f"loadgen CPU {share * 100:.0f}% {per}" + (f" on client host {host}" if host else ""))
    if any(_get(record_field(r, "loadgen_autoscale"), "saturated") for r in ok) and not reasons:
        reasons.append("loadgen saturated with the most threads available")
    if requested_rate and achieved:
        reasons += _rate_flags([a / requested_rate for a in achieved])
    return reasons


def _rate_flags(shares):
    """Under- and over-delivery of the rate workload, from the achieved shares of the
    requested rate. A flag says whether it comes from the median repetition (the
    figure the tables show) or only from the worst one."""
    middle, flags = stats.median(shares), []
    for kind, worst, outside in (("under-delivery", min(shares), lambda share: share < RATE_SHORTFALL_LIMIT),
                                 ("over-delivery", max(shares), lambda share: share > RATE_EXCESS_LIMIT)):
        if outside(middle):
            flags.append(f"{kind}: the median repetition achieved {middle * 100:.0f}% of the requested rate "
                         f"(worst repetition {worst * 100:.0f}%)")
        elif outside(worst):
            flags.append(f"{kind} in the worst repetition only: {worst * 100:.0f}% of the requested rate "
                         f"(median {middle * 100:.0f}%)")
    return flags


def _loadgen_bound(ok):
    """Whether the load generator still saturated in some repetition (its CPU at the
    limit, or the run side's auto-scaling ran out of threads): then the load
    generator is measured, not the server."""
    for record in ok:
        share = loadgen_cpu_share_of(record.loadgen)
        if (share is not None and share >= LOADGEN_CPU_LIMIT) or \
                _get(record_field(record, "loadgen_autoscale"), "saturated"):
            return True
    return False


# Past this, the server itself says a readiness waited too long for its loop
# (worst_service_delay_ms in its stats line): the model is past its scale there.
SLOW_SERVICE_MS = 1000
# The contract's limit on a stop (servers/README.md, "How a server stops"),
# against the server's own stop_s: the request to its stats line.
SLOW_STOP_S = 2.0


def _over(ok, field, limit):
    """(repetitions whose server stats line has `field` over `limit`, the worst of them)."""
    values = [_get(r.server_stats, field) for r in ok]
    over = [v for v in values if isinstance(v, (int, float)) and v > limit]
    return len(over), max(over, default=None)


def _slow_service(ok):
    count, worst = _over(ok, "worst_service_delay_ms", SLOW_SERVICE_MS)
    if not count:
        return []
    return [f"slow service: in {count} of {len(ok)} repetitions a readiness waited up to {worst / 1000:.1f} s "
            f"for the server's loop (over {SLOW_SERVICE_MS / 1000:g} s: unusable at this scale)"]


def _slow_stop(ok):
    count, worst = _over(ok, "stop_s", SLOW_STOP_S)
    if not count:
        return []
    return [f"slow stop: in {count} of {len(ok)} repetitions the server took up to {worst:.1f} s from the stop "
            f"request to its stats line (the contract allows {SLOW_STOP_S:g} s)"]


def _busy_machines(ok):
    """The `machine` fields of the repetitions taken on a busy machine."""
    machines = [record_field(r, "machine") for r in ok]
    return [m for m in machines if isinstance(m, dict) and m.get("busy")]


def _placement_lost(ok):
    """Repetitions whose processes were not where the run's placement put
    them (read back at the start and end of the load: harness.run.placement)."""
    lost = [p for p in (record_field(r, "placement") for r in ok) if isinstance(p, dict) and p.get("held") is False]
    if not lost:
        return []
    first = (lost[0].get("problems") or ["?"])[0]
    return [f"placement not held in {len(lost)} of {len(ok)} repetitions ({first})"]


def _notes(ok):
    """What the reader should know about how the repetitions were taken."""
    notes = _slow_service(ok) + _slow_stop(ok) + _placement_lost(ok)
    scaled = [record_field(r, "loadgen_autoscale") for r in ok]
    scaled = [a for a in scaled if isinstance(a, dict) and a.get("threads")]
    if scaled:
        first_try = next((a["attempts"][0] for a in scaled if a.get("attempts")), None)
        why = "" if not first_try or first_try.get("cpu_share") is None else \
            f" ({first_try.get('threads', 1)} thread(s) used {first_try['cpu_share'] * 100:.0f}% of a core each)"
        threads = sorted({a["threads"] for a in scaled})
        notes.append(f"re-run with {'/'.join(map(str, threads))} loadgen threads in {len(scaled)} of {len(ok)} "
                     f"repetitions{why}")
    busy = _busy_machines(ok)
    if busy:
        others = [m["other_cpu_cores"] for m in busy if isinstance(m.get("other_cpu_cores"), (int, float))]
        most = f" (other processes used up to {max(others):.2f} cores)" if others else ""
        notes.append(f"{len(busy)} of {len(ok)} repetitions on a busy machine{most}")
    return notes


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
    histogram = _get(loadgen, "histogram")
    if not histogram:
        return []
    maximum = _max_ns(loadgen)
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
    ok = [r for r in records if r.ok and isinstance(r.loadgen, dict)]
    failed = [r for r in records if not (r.ok and isinstance(r.loadgen, dict))]
    loadgens = [r.loadgen for r in ok]
    requested = requested_rate_of(loadgens[0] if loadgens else None, first.loadgen_args) \
        if first.workload == "rate" else None
    achieved = [_get(doc, "achieved_rate") for doc in loadgens] if first.workload == "rate" else []
    achieved = [a for a in achieved if a is not None]
    threads = [_get(r.server_stats, "peak_threads") for r in ok]
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
        connect_p99_us=estimate(_get(doc, "connect_latency_us", "p99") for doc in loadgens)
        if first.workload == "churn" else None,
        cpu_us_per_message=server_cpu, wineserver_cpu_us_per_message=wineserver_cpu,
        total_cpu_us_per_message=total_cpu,
        working_set_per_connection=estimate(working_set_per_connection_of(r.loadgen, r.server_stats) for r in ok),
        peak_threads=max(threads) if threads else None,
        requested_rate=requested, achieved_rate=estimate(achieved) if first.workload == "rate" else None,
        saturation=_saturation(ok, requested, achieved), lower_bound=_loadgen_bound(ok), notes=_notes(ok),
        busy_reps=len(_busy_machines(ok)), server_args=tuple(first.server_args),
    )


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


# ---- rankings ----

METRICS = (("throughput", True), ("p99", False))  # (name, higher is better): the metrics ranked and compared


def metric_estimate(cell, metric):
    """A cell's Estimate of a METRICS name."""
    return cell.throughput if metric == "throughput" else cell.p99_us


def _ranked_values(cell, metric):
    """The per-repetition values a cell is ranked on at its point, or None.

    The rate workload's throughput is set by the load generator, not the server:
    every server that keeps up achieves the requested rate, give or take noise
    far below a percent, and ranking on that noise would be meaningless. So the
    figures are capped at the saturation mark (95% of the requested rate): all
    servers that keep up are alike, and only a shortfall ranks a server lower."""
    value = metric_estimate(cell, metric)
    if value is None or not value.values:
        return None
    if metric == "throughput" and cell.workload == "rate" and cell.requested_rate:
        cap = RATE_SHORTFALL_LIMIT * cell.requested_rate
        return [min(figure, cap) for figure in value.values]
    return list(value.values)


@dataclass
class Factor:
    """`better` is `ratio` times better than `worse` (throughput: better/worse;
    latency: worse/better), low..high its 95% interval (None when there is none)."""
    better: str
    worse: str
    ratio: float
    low: float | None
    high: float | None


def verdict_factor(verdict: stats.Verdict, higher_is_better: bool) -> Factor | None:
    """A resolved verdict as "how many times better" (above 1 whichever the metric);
    None for an unresolved one."""
    if verdict.better is None:
        return None
    # ratio is a over b: it says "better by" as it stands when a is better and higher is better,
    # or when b is better and lower is better; otherwise its inverse does
    as_is = (verdict.better == verdict.a) == higher_is_better
    if as_is:
        return Factor(verdict.better, verdict.worse, verdict.ratio, verdict.low, verdict.high)
    flip = (lambda v: None if v is None else 1 / v)
    return Factor(verdict.better, verdict.worse, 1 / verdict.ratio, flip(verdict.high), flip(verdict.low))


@dataclass
class Verdicts:
    """Names compared with each other at one point (servers) or one setting
    (option sets): every pair's verdict, best first by median, with letters."""
    metric: str
    order: list[str]                # best first by median
    medians: dict[str, float]
    verdicts: list[stats.Verdict]   # every pair, a before b in `order`
    letters: dict[str, str]         # stats.letter_display
    separable: bool = True          # False: too few repetitions for any verdict (stats.can_separate)
    reps: int = 0                   # the fewest repetitions of a name compared here

    @property
    def higher_is_better(self):
        return dict(METRICS)[self.metric]

    @property
    def resolved(self):
        return [v for v in self.verdicts if v.better is not None]

    def factors(self):
        """The resolved verdicts as Factors, in the verdicts' order."""
        return [verdict_factor(v, self.higher_is_better) for v in self.resolved]

    def leaders(self):
        return stats.leaders(self.verdicts, self.order)

    def laggards(self):
        return stats.laggards(self.verdicts, self.order)


def compare_samples(samples: dict, metric: str) -> Verdicts:
    """Verdicts over name -> values (stats.pairwise_verdicts), with the letters."""
    higher_is_better = dict(METRICS)[metric]
    verdicts = stats.pairwise_verdicts(samples, higher_is_better) if samples else []
    order = stats.order_by_median(samples, higher_is_better)
    sizes = [len(values) for values in samples.values()]
    return Verdicts(metric, order, {name: stats.median(values) for name, values in samples.items()}, verdicts,
                    stats.letter_display(order, verdicts), separable=len(sizes) < 2 or stats.can_separate(sizes),
                    reps=min(sizes, default=0))


@dataclass
class PointVerdicts(Verdicts):
    point_id: str = ""
    variant: str = ""


def point_verdicts(cells, metric) -> PointVerdicts:
    """The verdicts between the servers of one point's cells (one variant)."""
    found = compare_samples(_point_samples(cells, metric), metric)
    first = cells[0] if cells else None
    return PointVerdicts(**vars(found), point_id=first.point_id if first else "",
                         variant=first.variant if first else "")


def _point_samples(cells, metric):
    """server -> the values it is ranked on at one point; a cell whose load
    generator saturated (lower_bound) is left out: it measured the load generator."""
    samples = {}
    for cell in cells:
        values = None if cell.lower_bound else _ranked_values(cell, metric)
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
class OptionComparison(Verdicts):
    """One server at one setting of a workload, run with different options (a
    suite's points that differ only in server_args, as iocp-variants has): the
    option sets compared the way servers are at a point."""
    server: str = ""
    variant: str = ""
    setting: str = ""            # the workload and its load generator settings, in words
    points: dict = field(default_factory=dict)  # option set -> the point it was measured at


def options_label(server_args):
    return " ".join(server_args) or "no options"


def setting_text(workload, loadgen_args):
    """"pingpong: connections 64, size 64": what the load generator did, without its timing."""
    shown = [f"{key} {value}" for key, value in loadgen_args.items() if key not in ("duration", "warmup")]
    return f"{workload}: {', '.join(shown)}" if shown else workload


def setting_groups(cells):
    """{(server, variant, workload, loadgen args): {option set: cell}}: the cells of one server
    at one setting, by their options."""
    groups = {}
    for cell in cells:
        key = (cell.server, cell.variant, cell.workload, json.dumps(cell.loadgen_args, sort_keys=True))
        groups.setdefault(key, {})[options_label(cell.server_args)] = cell
    return groups


def option_comparisons(cells: list[Cell]) -> list[OptionComparison]:
    """Every setting at which one server ran with two or more option sets, per
    variant and metric, in the cells' order."""
    found = []
    for (server, variant, workload, _), by_options in setting_groups(cells).items():
        if len(by_options) < 2:
            continue
        setting = setting_text(workload, next(iter(by_options.values())).loadgen_args)
        for metric, _ in METRICS:
            samples = {label: values for label, cell in by_options.items()
                       if (values := None if cell.lower_bound else _ranked_values(cell, metric))}
            if len(samples) < 2:
                continue
            found.append(OptionComparison(**vars(compare_samples(samples, metric)), server=server, variant=variant,
                                          setting=setting,
                                          points={label: cell.point_id for label, cell in by_options.items()}))
    return found


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
    agreement_with_microsoft() leaves it out. In the rate workload only a
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
                samples_used[point_id] = _point_samples(point_cells, metric)
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


MIN_MODELS_FOR_TAU = 4
MIN_PAIRS_FOR_TAU = 3


def microsoft_models_in(ranking: Ranking) -> list[str]:
    """The models of Microsoft's order (those with a microsoft_rank) that the ranking ranks."""
    known = {name for tier in models.microsoft_order() for name in tier}
    return [name for name in ranking.order if name in known]


def microsoft_pairs(ranking: Ranking) -> tuple[float | None, int]:
    """(Kendall's tau, pairs) between the ranking's resolved verdicts and
    Microsoft's documented order, over the pairs both resolve
    (stats.kendall_tau_over_pairs): a pair Microsoft ties (thread and select) or
    the run leaves unresolved says nothing, and a model without microsoft_rank
    (reference-epoll, eventselect) drops out."""
    beats = {(v.better, v.worse) for v in ranking.verdicts if v.better is not None}
    return stats.kendall_tau_over_pairs(beats, models.microsoft_order())


def agreement_with_microsoft(ranking: Ranking) -> float | None:
    """Kendall's tau over the pairs both the ranking and Microsoft's order resolve
    (microsoft_pairs); None when no_tau_reason() gives a reason."""
    if len(microsoft_models_in(ranking)) < MIN_MODELS_FOR_TAU:
        return None
    tau, pairs = microsoft_pairs(ranking)
    return tau if pairs >= MIN_PAIRS_FOR_TAU else None


def no_tau_reason(ranking: Ranking) -> str | None:
    """Why a ranking has no tau, in words; None when it has one. Below 4 models tau
    means nothing: with 2 it can only be +1 or -1 (a coin toss reads as "strong
    agreement"), with 3 it takes 4 values whose chance levels are 1/6 to 1/3;
    likewise over fewer than 3 pairs resolved by both."""
    models_in = microsoft_models_in(ranking)
    if len(models_in) < MIN_MODELS_FOR_TAU:
        return (f"only {len(models_in)} Winsock model(s) ranked, and a rank correlation needs at least "
                f"{MIN_MODELS_FOR_TAU} to mean anything")
    _, pairs = microsoft_pairs(ranking)
    if pairs < MIN_PAIRS_FOR_TAU:
        return (f"only {pairs} pair(s) of Winsock models resolved by both the run and Microsoft's order "
                f"(at least {MIN_PAIRS_FOR_TAU} needed)")
    return None

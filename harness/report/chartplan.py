"""Chart planning: which charts the cells support, their data shapes, titles and captions.
The drawing itself is harness/report/charts.py."""
import math
import re
from dataclasses import dataclass

from harness import stats
from harness.records import measured_by_cell
from harness.analysis.cells import estimate
from harness.analysis.rankings import all_point_verdicts
from harness.report import charts
from harness.report.blocks import Details, Figure, Heading
from harness.report.format import finite, number


@dataclass
class Group:
    """Cells drawn together: one sweep, or one workload's points outside any sweep."""
    name: str
    workload: str
    param: str | None
    cells: list


def chart_groups(cells):
    groups = {}
    for cell in cells:
        sweep = cell.sweep or {}
        name = sweep.get("name") or cell.workload
        key = (name, cell.workload, sweep.get("param"))
        groups.setdefault(key, Group(name, cell.workload, sweep.get("param"), [])).cells.append(cell)
    return list(groups.values())


def chart_blocks(charts_dir, cells, run=None):
    """Draws every chart the data supports (replacing the old charts/*.png); returns them as blocks,
    a heading per group of cells. With the run, also what only its records hold: the 1-second time
    series of each point and the rate workload's uncorrected latency."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    for old in charts_dir.glob("*.png"):
        old.unlink()
    variants = {cell.variant for cell in cells}
    documents = loadgen_documents(run) if run is not None else {}
    blocks = []
    for index, group in enumerate(chart_groups(cells), 1):
        stem = f"{index:02d}-{_slug(group.name)}"
        keyed = _Keyed(group, many_variants=len(variants) > 1, documents=documents)
        figures = _group_figures(group, keyed, charts_dir, stem)
        verdicts = _verdict_figures(group, charts_dir, stem, many_variants=len(variants) > 1)
        if verdicts:
            figures.append(Details(f"Pairwise verdicts: {len(verdicts)} chart(s), one per metric", verdicts))
        series = _time_series_figures(group, keyed, charts_dir, stem)
        if series:
            figures.append(Details(f"Second by second: {len(series)} time-series chart(s), one per point", series))
        if figures:
            blocks += [Heading(3, _group_title(group))] + figures
    return blocks


def loadgen_documents(run):
    """{(point, server, variant): the load generator's documents of the measured
    repetitions (harness.records.measured_records)}."""
    return {cell: [record.loadgen for record in measured]
            for cell, measured in measured_by_cell(run.records).items() if measured}


class _Keyed:
    """A group's cells turned into the charts' data shapes: sweep series when the group is a sweep
    (x = the swept value), category series otherwise (category = the point id)."""

    def __init__(self, group, many_variants, documents=None):
        self.group = group
        self.many_variants = many_variants
        self.documents = documents or {}

    def documents_of(self, cell):
        return self.documents.get((cell.point_id, cell.server, cell.variant), [])

    def median_of(self, cell, figure_of):
        """(median, low, high) over the repetitions of a figure only the records hold, or None."""
        values = [figure_of(doc) for doc in self.documents_of(cell)]
        return _triple(estimate(v for v in values if isinstance(v, (int, float))))

    def key(self, cell):
        return (cell.server, cell.variant) if self.many_variants else cell.server

    def series(self, value_of):
        """value_of(cell) -> (median, low, high) or None."""
        result = {}
        for cell in self.group.cells:
            value = value_of(cell)
            if value is None or not finite(value[0]):
                continue
            if self.group.param is not None:
                result.setdefault(self.key(cell), []).append((_sweep_x(cell), *value))
            else:
                result.setdefault(self.key(cell), {})[cell.point_id] = value
        return result


def _group_figures(group, keyed, charts_dir, stem):
    """The group's charts: its workload's main chart, the latency spectrum, the server's cost."""
    figures, warning = [], _lower_bound_caption(group)
    for kind, caption, draw in (_main_chart(group, keyed), _uncorrected_chart(group, keyed),
                                _spectrum_chart(group, keyed), _cost_chart(group, keyed)):
        if draw is not None:
            path = charts_dir / f"{stem}-{kind}.png"
            draw(path)
            figures.append(Figure(path, caption + warning))
    return figures


def _lower_bound_caption(group):
    """The charts draw every cell; the caption says which ones measured the load generator."""
    bounded = [f"{cell.server} at {_sweep_value_text(cell) if group.param else cell.point_id}"
               for cell in group.cells if cell.lower_bound]
    if not bounded:
        return ""
    return (f" Lower bounds (the load generator saturated, so it was measured, not the server): "
            f"{', '.join(bounded)}.")


def _if_any(data, draw):
    """draw, or None when every piece of data is empty (a chart only for the data that exists)."""
    return draw if any(data) else None


def _main_chart(group, keyed):
    """(file kind, caption, draw(path) or None when there is nothing to draw)."""
    title, param = _group_title(group), group.param
    throughput = keyed.series(lambda c: _triple(c.throughput))
    p99 = keyed.series(lambda c: _triple(c.p99_us))
    if group.workload == "rate":
        achieved = keyed.series(lambda c: _triple(c.achieved_rate))
        return ("knee", "p99 latency (from each message's intended send time) and achieved rate against the "
                "requested rate. Where achieved falls below the diagonal the server, or the machine, saturated.",
                _if_any((p99, achieved), lambda path: charts.latency_vs_rate(
                    p99, achieved, path, title=f"{title}: p99 and achieved rate", param=param)))
    if group.workload == "churn":
        connect = keyed.series(lambda c: _triple(c.connect_p99_us))
        return ("churn", "Connect-echo-close operations per second, and the p99 time to connect.",
                _if_any((throughput, connect), lambda path: charts.churn_chart(
                    throughput, connect, path, title=f"{title}: operations and connect time", param=param)))
    if group.workload == "idle":
        return ("idle", "p99 latency of the active connections against the idle connections held open.",
                _if_any((p99, throughput), lambda path: charts.latency_vs_idle(
                    p99, throughput, path, title=f"{title}: active connections' p99 and throughput", param=param)))
    against = PARAM_NAMES.get(param, param) if param else "point"
    return ("throughput", f"Throughput and p99 latency per model against {against}.",
            _if_any((throughput, p99), lambda path: charts.throughput_vs_param(
                throughput, p99, path, title=f"{title}: throughput and p99", param=param)))


def _uncorrected_chart(group, keyed):
    """The rate workload only: its corrected and uncorrected p99 side by side."""
    if group.workload != "rate":
        return ("uncorrected", "", None)
    corrected = keyed.series(lambda c: _triple(c.p99_us))
    uncorrected = keyed.series(lambda c: keyed.median_of(c, lambda doc: (doc.get("latency_uncorrected_us") or {})
                                                         .get("p99")))
    return ("uncorrected", "p99 latency two ways, on one scale. Corrected: from each message's intended send "
            "time, so a message queued behind a slow reply counts its wait. Uncorrected: from when it was "
            "actually sent, what a closed-loop tool reports: the gap between the two is the queueing it "
            "would hide (coordinated omission).",
            _if_any((corrected, uncorrected), lambda path: charts.latency_corrected_vs_uncorrected(
                corrected, uncorrected, path, title=f"{_group_title(group)}: corrected and uncorrected p99",
                param=group.param)))


def _time_series_figures(group, keyed, charts_dir, stem):
    """One chart per point of the group: each measured second's throughput and p99 per model."""
    figures = []
    points = list(dict.fromkeys(cell.point_id for cell in group.cells))
    for position, point_id in enumerate(points, 1):
        cells = [cell for cell in group.cells if cell.point_id == point_id]
        throughput, p99, warmup = {}, {}, 0.0
        for cell in cells:
            seconds, docs = _seconds(keyed.documents_of(cell))
            warmup = max([warmup] + [float(((d.get("config") or {}).get("warmup_s")) or 0) for d in docs])
            for second, values in sorted(seconds.items()):
                for target, index in ((throughput, 0), (p99, 1)):
                    figures_now = [v[index] for v in values if finite(v[index])]
                    if figures_now:
                        target.setdefault(keyed.key(cell), []).append(
                            (second + 0.5, stats.median(figures_now), min(figures_now), max(figures_now)))
        if not throughput and not p99:
            continue
        path = charts_dir / f"{stem}-t{position:02d}-timeseries.png"
        charts.time_series_chart(throughput, p99, path, title=f"{point_id}: second by second", warmup_s=warmup)
        figures.append(Figure(path, f"{point_id}: messages per second and p99 latency in each measured second; "
                                    "the line is the median over repetitions, the band their range (lowest to "
                                    "highest), not an interval. A dip or a spike the medians hide shows here."))
    return figures


def _verdict_figures(group, charts_dir, stem, many_variants):
    """Per metric, one matrix per point of the group: each resolved pair's factor (charts.verdict_matrices)."""
    figures = []
    found = [point for point in all_point_verdicts(group.cells) if len(point.order) > 1]
    for metric, words in (("throughput", "higher throughput"), ("p99", "lower p99 latency")):
        panels = []
        for point in (p for p in found if p.metric == metric):
            factors = {}
            for factor in point.factors():
                factors[(factor.better, factor.worse)] = factor.ratio
                factors[(factor.worse, factor.better)] = 1 / factor.ratio
            name = point.point_id + (f" ({point.variant})" if many_variants else "")
            panels.append((name, point.order, factors))
        if not any(factors for _, _, factors in panels):
            continue
        path = charts_dir / f"{stem}-verdicts-{metric}.png"
        charts.verdict_matrices(panels, path, title=f"{_group_title(group)}: pairwise verdicts, {words}")
        figures.append(Figure(path, f"Pairwise verdicts by {words}, one matrix per point, servers best first by "
                                    "median: a coloured square says how many times the row's server is better than "
                                    "the column's (green: the row wins, labelled with the factor; red: it loses), "
                                    "where the test resolves the pair; grey: unresolved, the run cannot tell them "
                                    "apart. The factors' 95% intervals are in the verdicts table."))
    return figures


def _seconds(documents):
    """({second: [(messages, p99 us) of each repetition]}, the documents): full seconds only, since a
    run's last second may be cut short and would read as a drop."""
    seconds = {}
    for doc in documents:
        duration = (doc.get("config") or {}).get("duration_s") or 0
        for sample in doc.get("time_series") or []:
            second = sample.get("second")
            if isinstance(second, int) and second + 1 <= duration + 1e-9:
                seconds.setdefault(second, []).append((sample.get("messages"), sample.get("p99_us")))
    return seconds, documents


def _spectrum_chart(group, keyed):
    spectra = _spectra(group, keyed)
    return ("spectrum", "Latency spectrum: at each percentile, the median over repetitions of that repetition's "
            "percentile; p50 to p99.99 on a 'nines' scale: each step "
            "right is ten times rarer.",
            _if_any((spectra,), lambda path: charts.latency_spectrum(
                spectra, path, title=f"{_group_title(group)}: latency spectrum")))


def _cost_chart(group, keyed):
    cpu = keyed.series(lambda c: _triple(c.total_cpu_us_per_message))
    what = "CPU per message, server and wineserver together (the whole cost under Wine)"
    if not any(cpu):  # records without the wineserver's CPU: say that only the server's is drawn
        cpu = keyed.series(lambda c: _triple(c.cpu_us_per_message))
        what = "Server CPU per message (the server process only: no wineserver figure was recorded)"
    memory = keyed.series(lambda c: _scaled(c.working_set_per_connection, 1 / 1024))
    return ("cost", f"{what}, an upper bound (the server's whole life), and peak memory per "
            "connection held (fixed overhead included, so it falls as connections grow).",
            _if_any((cpu, memory), lambda path: charts.cost_chart(
                cpu, memory, path, title=f"{_group_title(group)}: server cost", param=group.param)))


PARAM_NAMES = {"connections": "connections", "idle": "idle connections", "size": "message size",
               "depth": "pipeline depth", "concurrency": "concurrent connects", "rate": "requested rate"}


def _spectra(group, keyed):
    """One panel per point of the group, in the group's order."""
    panels = {}
    for cell in sorted(group.cells, key=lambda c: _sweep_x(c) if group.param else 0):
        if cell.spectrum:
            name = f"{group.param} = {_sweep_value_text(cell)}" if group.param else cell.point_id
            panels.setdefault(name, {})[keyed.key(cell)] = list(cell.spectrum)
    return list(panels.items())


def _group_title(group):
    """"pingpong, connections swept", "idle connections swept": each word once (a sweep's name is
    usually workload-param)."""
    named = group.name not in (group.workload, f"{group.workload}-{group.param}")
    base = f"{group.name} ({group.workload})" if named else group.workload
    if not group.param:
        return base
    swept = PARAM_NAMES.get(group.param, group.param)
    # "idle connections swept" already names the idle workload
    return f"{swept} swept" if not named and swept.startswith(group.workload) else f"{base}, {swept} swept"


def _sweep_x(cell):
    value = (cell.sweep or {}).get("value")
    return float(value) if isinstance(value, (int, float)) else math.nan


def _sweep_value_text(cell):
    value = _sweep_x(cell)
    return f"{value:,.0f}" if finite(value) and value == int(value) else number(value)


def _triple(estimate):
    """(median, low, high) for the charts; low and high None when there is no interval."""
    return _scaled(estimate, 1)


def _scaled(estimate, factor):
    if estimate is None:
        return None
    if not estimate.has_interval:
        return (estimate.median * factor, None, None)
    return (estimate.median * factor, estimate.low * factor, estimate.high * factor)


def _slug(text):
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40]
    return slug or "group"



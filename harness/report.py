"""`report`: a run folder's report.html (self-contained: CSS inline, charts as
data URIs, so it can be mailed or archived alone) and report.md (the same
content, charts linked as charts/*.png).

The content is built once, as a list of blocks (headings, paragraphs, tables,
figures), and rendered twice; every string that comes from the run's data is
escaped by the renderer, never by the code that builds the blocks."""
import base64
import html
import math
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness import analysis, charts, stats, store

MICROSOFT_ORDER_TEXT = "IOCP > overlapped > WSAPoll > thread-per-client/select > WSAAsyncSelect"
METRIC_NAMES = {"throughput": "throughput (higher is better)", "p99": "p99 latency (lower is better)"}
WORKLOAD_UNITS = {"churn": "connections/s"}
CI_NOTE = ("Bands and whiskers: the 95% confidence interval of the median over repetitions; none is drawn "
           f"for a cell with fewer than {stats.min_reps_for_interval()} repetitions.")


# ---------------------------------------------------------------- blocks


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str
    strong: bool = False


@dataclass
class Bullets:
    items: list


@dataclass
class Table:
    header: list
    rows: list
    numeric: set = field(default_factory=set)   # column indexes aligned right


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Code:
    text: str


# ---------------------------------------------------------------- entry points


def write_report(run_dir):
    """Load the run at run_dir, draw its charts into run_dir/charts and write report.html and
    report.md; return (html_path, md_path). ValueError if run_dir is not a run folder."""
    run_dir = Path(run_dir)
    run, cells = analysis.load_cells(run_dir)
    blocks = build_blocks(run, cells, chart_blocks(run_dir / "charts", cells))
    html_path, md_path = run_dir / "report.html", run_dir / "report.md"
    store.write_text_atomic(html_path, render_html(blocks, _title(run)))
    store.write_text_atomic(md_path, render_markdown(blocks, run_dir))
    return html_path, md_path


def build_blocks(run, cells, charts_section):
    """The whole report, in reading order."""
    blocks = [Heading(1, _title(run))]
    blocks += platform_blocks(run)
    blocks += how_to_read_blocks()
    blocks += outcome_blocks(run)
    blocks += ranking_blocks(cells)
    if charts_section:
        blocks.append(Heading(2, "Charts"))
        blocks.append(Paragraph(CI_NOTE + " Each model keeps its colour in every chart; the native Linux "
                                "reference is grey and dashed (hatched in bar charts)."))
        blocks += charts_section
    blocks += table_blocks(run, cells)
    blocks += failure_blocks(run)
    blocks += footer_blocks(run)
    return blocks


# ---------------------------------------------------------------- sections


def _title(run):
    manifest = run.manifest
    return f"winsock-bench report: suite {manifest.get('suite', '?')}, {_date(manifest.get('started_at'))}"


def platform_blocks(run):
    manifest = run.manifest
    platform = manifest.get("platform") or {}
    items = [f"Machine: {_system_text(platform)}; CPU: {platform.get('cpu_model', 'unknown')}, "
             f"{platform.get('cpu_count', '?')} logical CPUs; {_pin_text(manifest.get('pin'))}.",
             _runtime_text(platform),
             f"Code: {_variants_text(manifest.get('variants') or {})}.",
             f"Run: {len(manifest.get('points') or [])} points × {len(manifest.get('servers') or [])} servers "
             f"({', '.join(manifest.get('servers') or []) or 'none'}) × {manifest.get('reps', '?')} repetitions; "
             f"seed {manifest.get('seed', '?')}; started {_date(manifest.get('started_at'))}, "
             f"{_finished_text(manifest.get('finished_at'))}."]
    if platform.get("compiler"):
        items.append(f"Servers compiled with {str(platform['compiler']).splitlines()[0]}.")
    return [Heading(2, "Platform"), Bullets(items)]


def _system_text(platform):
    parts = [platform.get("os", "unknown OS")]
    if platform.get("kernel"):
        parts.append(f"kernel {platform['kernel']}")
    if platform.get("distribution"):
        parts.append(f"({platform['distribution']})")
    return " ".join(parts)


def _runtime_text(platform):
    """Said plainly: Wine's figures are not Windows' figures."""
    if platform.get("os") == "Windows":
        return f"Winsock servers ran natively on Windows ({platform.get('uname') or platform.get('kernel')})."
    if platform.get("wine"):
        return (f"Winsock servers ran under Wine, {platform['wine']}, not Windows: every socket call goes "
                "through the wineserver, so these are Wine's figures, not Windows'. reference-epoll runs "
                "natively on Linux and shows what the same work costs without Wine.")
    return "No Wine version recorded: no Winsock server ran under Wine in this run."


def _pin_text(pin):
    if not pin:
        return "not pinned (server and load generator share the CPUs)"
    server = ", ".join(str(c) for c in pin.get("server_cpus") or []) or "?"
    loadgen = ", ".join(str(c) for c in pin.get("loadgen_cpus") or []) or "?"
    return f"pinned: servers on CPU {server}, load generator on CPU {loadgen}"


def _variants_text(variants):
    if not variants:
        return "commit not recorded"
    texts = []
    for name, info in variants.items():
        commit = (info or {}).get("commit") or "unknown"
        dirty = " with uncommitted changes" if (info or {}).get("dirty") else ""
        prefix = f"{name} " if len(variants) > 1 else ""
        texts.append(f"{prefix}commit {commit[:12]}{dirty}")
    return "; ".join(texts)


def _finished_text(finished_at):
    return f"finished {_date(finished_at)}" if finished_at else "NOT finished (interrupted; run --resume completes it)"


def how_to_read_blocks():
    return [Heading(2, "How to read this"), Bullets([
        "Every point (a workload with fixed load generator options) ran against every server several times, "
        "interleaved. A figure is the median over repetitions, with its 95% confidence interval: "
        f"{stats.MEDIAN_CI_METHOD}.",
        "One definition of every latency percentile, in tables, charts, rankings and compare alike: each "
        "repetition's own percentile (nearest rank on its histogram), then the median over repetitions, with "
        "its interval (\"p99 95% CI\"). Histograms of repetitions are not merged. Latency is a round trip "
        "measured by the load generator, in microseconds (µs).",
        "Tiers come from a test, not from overlapping intervals: at each point every pair of servers is "
        "compared by an exact Wilcoxon-Mann-Whitney rank-sum test of their repetitions, with Holm's correction "
        "over all the pairs at that point, and two servers are in different tiers only when every server above "
        "the cut is significantly better (5% family-wise) than every one below it. \"iocp = overlapped\" means "
        "the run cannot tell them apart. A factor \"iocp 1.42× [1.31, 1.55] thread\" is the Hodges-Lehmann "
        "ratio (median of the ratios of every pair of repetitions; for latency, how many times lower) with its "
        "distribution-free 95% interval. A workload's ranking averages each server's tier place over its "
        "points. Kendall's tau-b compares a ranking with Microsoft's documented "
        f"order ({MICROSOFT_ORDER_TEXT}): 1 is the same order, 0 no relation, -1 the reverse.",
        "CPU per message: the server process's own (user + kernel), the wineserver's during the same item "
        "(under Wine much of the socket work is done there; \"–\" for a native server, which has none) and "
        "their sum, the whole cost; on Windows the server's own figure is the whole. Each covers the server's "
        "whole life, warm-up included: an upper bound. Memory per "
        "connection is the peak working set over the connections held, fixed overhead included.",
        "Flags mark a figure that may measure the load generator or the machine rather than the server. "
        "Where the load generator still saturated a core (after the harness gave it more threads), the "
        "cell's throughput is shown as a lower bound (\"≥\") and the cell is left out of every ranking; "
        "repetitions taken while other processes kept the machine busy are flagged on their cell. The rate "
        "workload is flagged when it delivered under 95% or over 105% of the requested rate, and each flag "
        "says whether the median repetition (the figure shown) or only the worst repetition was outside. "
        "CV is the coefficient of variation of throughput across repetitions."])]


def outcome_blocks(run):
    total = len(run.records)
    failed = sum(1 for record in run.records if record.status != "ok")
    if total == 0:
        return [Paragraph("This run has no records yet: nothing was measured.", strong=True)]
    if failed == total:
        return [Paragraph(f"Every record of this run failed ({failed} of {total}): there are no measurements, "
                          "only the failures listed below.", strong=True)]
    if failed:
        return [Paragraph(f"{failed} of {total} records failed; they are left out of the statistics and "
                          "listed under Failures.")]
    return []


def ranking_blocks(cells):
    ranked = [r for r in analysis.rankings(cells) if r.tiers]
    scopes = list(dict.fromkeys(cell.workload for cell in cells)) + ["overall"]
    ranked.sort(key=lambda r: (scopes.index(r.scope) if r.scope in scopes else len(scopes), r.scope))
    blocks = [Heading(2, "Rankings")]
    if not ranked:
        return blocks + [Paragraph("No ranking: no server has a successful measurement.")]
    show_variant = len({r.variant for r in ranked}) > 1
    blocks.append(Paragraph("Best first; \"=\" joins servers the run cannot tell apart (no significant "
                            "rank-sum test at the points); τ is Kendall's tau-b against Microsoft's documented "
                            "order over the Winsock models present (at least 4)."))
    header = ["scope", "metric"] + (["variant"] if show_variant else []) + ["ranking", "τ vs Microsoft"]
    rows = []
    for ranking in ranked:
        tau = analysis.agreement_with_microsoft(ranking)
        rows.append([ranking.scope, METRIC_NAMES.get(ranking.metric, ranking.metric)]
                    + ([ranking.variant] if show_variant else [])
                    + [format_tiers(ranking.tiers), f"none: {analysis.no_tau_reason(ranking)}" if tau is None
                       else f"{tau:.2f}"])
    blocks.append(Table(header, rows, numeric={len(header) - 1}))
    blocks += _too_few_to_separate(cells)
    bounded = [f"{cell.server} at {cell.point_id}" for cell in cells if cell.lower_bound]
    if bounded:
        blocks.append(Paragraph(f"Not ranked, because the load generator saturated and was measured instead of "
                                f"the server (their throughput is a lower bound): {', '.join(bounded)}.",
                                strong=True))
    for ranking in [r for r in ranked if r.scope == "overall"]:
        variant = f" ({ranking.variant})" if show_variant else ""
        blocks.append(Paragraph(f"Overall by {ranking.metric}{variant}: {format_tiers(ranking.tiers)}. "
                                + tau_sentence(analysis.agreement_with_microsoft(ranking),
                                               analysis.no_tau_reason(ranking))))
    return blocks + point_tier_blocks(cells, show_variant)


def _too_few_to_separate(cells):
    """Said plainly when the repetitions could never have separated anyone."""
    found = analysis.all_point_tiers(cells)
    stuck = [tiers for tiers in found if not tiers.separable]
    if not stuck:
        return []
    reps = min(tiers.reps for tiers in stuck)
    servers = max(sum(len(tier) for tier in tiers.tiers) for tiers in stuck)
    return [Paragraph(f"At {len(stuck)} of {len(found)} point rankings the repetitions were too few for the test "
                      f"to separate any two servers (as few as {reps} per server): there every server is tied, "
                      f"whatever the figures. Separating {servers} servers takes at least "
                      f"{stats.min_reps_to_separate(servers)} repetitions each.", strong=True)]


def point_tier_blocks(cells, show_variant):
    """The tiers at each point, and by how much each tier leads the next."""
    found = analysis.all_point_tiers(cells)
    if not found:
        return []
    header = ["point", "metric"] + (["variant"] if show_variant else []) + ["tiers", "factors across the tiers"]
    rows = [[tiers.point_id, tiers.metric] + ([tiers.variant] if show_variant else [])
            + [format_tiers(tiers.tiers), "; ".join(format_factor(f) for f in tiers.factors) or "–"]
            for tiers in found]
    return [Heading(3, "Tiers at each point"),
            Paragraph("The rankings above are built from these. A factor reads \"A 1.42× [1.31, 1.55] B\": "
                      "A is 1.42 times better than B (throughput: higher; latency: lower), 95% interval."),
            Table(header, rows)]


def format_factor(factor):
    """"iocp 1.42× [1.31, 1.55] thread" (the interval omitted when there is none)."""
    interval = "" if factor.low is None else f" [{factor.low:.2f}, {factor.high:.2f}]"
    return f"{factor.better} {factor.ratio:.2f}×{interval} {factor.worse}"


def format_tiers(tiers):
    """[["iocp", "overlapped"], ["select"]] -> "iocp = overlapped > select"."""
    return " > ".join(" = ".join(tier) for tier in tiers)


def tau_sentence(tau, reason=None):
    """Kendall's tau against Microsoft's order, in one plain sentence (why there is none if tau is None)."""
    if tau is None:
        return f"No Kendall's tau against Microsoft's documented order: {reason or 'it cannot be measured'}."
    if tau >= 0.8:
        verdict = "strong agreement"
    elif tau >= 0.3:
        verdict = "partial agreement"
    elif tau > -0.3:
        verdict = "no clear agreement"
    else:
        verdict = "largely the reverse order"
    return (f"Against Microsoft's documented order ({MICROSOFT_ORDER_TEXT}), Kendall's tau = {tau:.2f}: "
            f"{verdict}.")


# ---------------------------------------------------------------- charts


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


def chart_blocks(charts_dir, cells):
    """Draws every chart the data supports (replacing the old charts/*.png); returns them as blocks,
    a heading per group of cells."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    for old in charts_dir.glob("*.png"):
        old.unlink()
    variants = {cell.variant for cell in cells}
    blocks = []
    for index, group in enumerate(chart_groups(cells), 1):
        stem = f"{index:02d}-{_slug(group.name)}"
        keyed = _Keyed(group, many_variants=len(variants) > 1)
        figures = _group_figures(group, keyed, charts_dir, stem)
        if figures:
            blocks += [Heading(3, _group_title(group))] + figures
    return blocks


class _Keyed:
    """A group's cells turned into the charts' data shapes: sweep series when the group is a sweep
    (x = the swept value), category series otherwise (category = the point id)."""

    def __init__(self, group, many_variants):
        self.group = group
        self.many_variants = many_variants

    def key(self, cell):
        return (cell.server, cell.variant) if self.many_variants else cell.server

    def series(self, value_of):
        """value_of(cell) -> (median, low, high) or None."""
        result = {}
        for cell in self.group.cells:
            value = value_of(cell)
            if value is None or not _finite(value[0]):
                continue
            if self.group.param is not None:
                result.setdefault(self.key(cell), []).append((_sweep_x(cell), *value))
            else:
                result.setdefault(self.key(cell), {})[cell.point_id] = value
        return result


def _group_figures(group, keyed, charts_dir, stem):
    """The group's charts: its workload's main chart, the latency spectrum, the server's cost."""
    figures, warning = [], _lower_bound_caption(group)
    for kind, caption, draw in (_main_chart(group, keyed), _spectrum_chart(group, keyed), _cost_chart(group, keyed)):
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
                    p99, achieved, path, title=f"{title}: latency vs offered rate", param=param)))
    if group.workload == "churn":
        connect = keyed.series(lambda c: _triple(c.connect_p99_us))
        return ("churn", "Connect-echo-close operations per second, and the p99 time to connect.",
                _if_any((throughput, connect), lambda path: charts.churn_chart(
                    throughput, connect, path, title=f"{title}: connection churn", param=param)))
    if group.workload == "idle":
        return ("idle", "p99 latency of the active connections against the idle connections held open.",
                _if_any((p99, throughput), lambda path: charts.latency_vs_idle(
                    p99, throughput, path, title=f"{title}: active p99 vs idle connections", param=param)))
    against = PARAM_NAMES.get(param, param) if param else "point"
    return ("throughput", f"Throughput and p99 latency per model against {against}.",
            _if_any((throughput, p99), lambda path: charts.throughput_vs_param(
                throughput, p99, path, title=f"{title}: throughput and p99", param=param)))


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
    if group.param:
        return f"{group.name} ({group.workload}, {group.param} swept)"
    return f"{group.name}" if group.name == group.workload else f"{group.name} ({group.workload})"


def _sweep_x(cell):
    value = (cell.sweep or {}).get("value")
    return float(value) if isinstance(value, (int, float)) else math.nan


def _sweep_value_text(cell):
    value = _sweep_x(cell)
    return f"{value:,.0f}" if _finite(value) and value == int(value) else _number(value)


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


# ---------------------------------------------------------------- tables


def table_blocks(run, cells):
    blocks = [Heading(2, "Results by workload")]
    if not cells:
        return blocks + [Paragraph("No results.")]
    order = _point_order(run)
    show_variant = len({cell.variant for cell in cells}) > 1
    for workload in _workload_order(run, cells):
        chosen = [cell for cell in cells if cell.workload == workload]
        chosen.sort(key=lambda c: (order.get(c.point_id, len(order)), _server_rank(c.server), c.server, c.variant))
        blocks.append(Heading(3, f"Workload: {workload}"))
        blocks.append(_workload_table(workload, chosen, show_variant))
    return blocks


EXTRA_COLUMNS = {"rate": "achieved of requested (msg/s)", "churn": "connect p99 µs"}


def _workload_table(workload, cells, show_variant):
    unit = WORKLOAD_UNITS.get(workload, "messages/s")
    header = ["server"] + (["variant"] if show_variant else []) + [
        "point", f"throughput ({unit}) median [95% CI]", "CV %", "p50 µs", "p99 µs", "p99.9 µs",
        "p99 95% CI µs", "server CPU µs/msg", "wineserver CPU µs/msg", "total CPU µs/msg", "memory/conn KiB",
        "threads", "reps ok/failed"]
    header += [EXTRA_COLUMNS[workload]] if workload in EXTRA_COLUMNS else []
    header.append("flags")
    rows = [_cell_row(cell, show_variant) for cell in cells]
    first_figure = header.index("point") + 1
    return Table(header, rows, numeric=set(range(first_figure, len(header) - 1)))


def _cell_row(cell, show_variant):
    percentiles = cell.percentiles_us or {}
    row = [cell.server] + ([cell.variant] if show_variant else []) + [
        cell.point_id, ("≥ " if cell.lower_bound else "") + _estimate_text(cell.throughput),
        "–" if cell.throughput is None else _number(cell.throughput.cv * 100),
        _median_text(percentiles.get("p50")), _median_text(percentiles.get("p99")),
        _median_text(percentiles.get("p99_9")),
        _interval_text(cell.p99_us), _median_text(cell.cpu_us_per_message),
        _median_text(cell.wineserver_cpu_us_per_message), _median_text(cell.total_cpu_us_per_message),
        _median_text(cell.working_set_per_connection, 1 / 1024),
        "–" if cell.peak_threads is None else f"{cell.peak_threads:,}",
        f"{cell.ok_reps}/{cell.failed_reps}"]
    if cell.workload == "rate":
        requested = "–" if cell.requested_rate is None else _number(cell.requested_rate)
        row.append(f"{_median_text(cell.achieved_rate)} of {requested}")
    elif cell.workload == "churn":
        row.append(_median_text(cell.connect_p99_us))
    return row + [_flags(cell)]


def _flags(cell):
    flags = list(cell.saturation or [])
    if cell.lower_bound:
        flags.append("LOWER BOUND: the load generator saturated, so it was measured, not the server; not ranked")
    flags += cell.notes
    if cell.ok_reps == 0:
        flags.append("no successful repetition")
    elif cell.failed_reps:
        flags.append(f"{cell.failed_reps} failed repetition(s)")
    return "; ".join(flags)


def _estimate_text(estimate):
    if estimate is None:
        return "–"
    if not estimate.has_interval:
        return f"{_number(estimate.median)} ({too_few_text(estimate.n)})"
    return f"{_number(estimate.median)} [{_number(estimate.low)}, {_number(estimate.high)}]"


def _interval_text(estimate):
    if estimate is None:
        return "–"
    if not estimate.has_interval:
        return too_few_text(estimate.n)
    return f"{_number(estimate.low)}–{_number(estimate.high)}"


def too_few_text(n):
    return f"too few repetitions for a 95% interval (n={n}, {stats.min_reps_for_interval()} needed)"


def _median_text(estimate, factor=1.0):
    return "–" if estimate is None else _number(estimate.median * factor)


def _point_order(run):
    ids = [point.get("id") for point in run.manifest.get("points") or []]
    return {point_id: index for index, point_id in enumerate(ids)}


def _workload_order(run, cells):
    seen = []
    for point in run.manifest.get("points") or []:
        if point.get("workload") not in seen:
            seen.append(point.get("workload"))
    present = {cell.workload for cell in cells}
    return [w for w in seen if w in present] + sorted(present - set(seen))


def _server_rank(server):
    return charts.MODEL_ORDER.index(server) if server in charts.MODEL_ORDER else len(charts.MODEL_ORDER)


# ---------------------------------------------------------------- failures and footer


def failure_blocks(run):
    failed = [record for record in run.records if record.status == "failed"]
    blocks = [Heading(2, "Failures")]
    unsupported = analysis.unsupported_servers(run)
    if unsupported:
        blocks.append(Paragraph("Unsupported on this platform (not failures; no figures): " + "; ".join(
            f"{server} ({_one_line(reason)})" for server, reason in sorted(unsupported.items())) + "."))
    if not failed:
        return blocks + [Paragraph("No failures: every record succeeded.")]
    order = _point_order(run)
    failed.sort(key=lambda r: (order.get(r.point_id, len(order)), _server_rank(r.server), r.variant, r.rep))
    blocks.append(Paragraph(f"{len(failed)} failed record(s). Each record file keeps the load generator's and the "
                            "server's stderr (loadgen_stderr, server_stderr)."))
    rows = [[record.point_id, record.server, record.variant, str(record.rep), _one_line(record.failure),
             _relative(record.path, run.path)] for record in failed]
    blocks.append(Table(["point", "server", "variant", "rep", "failure", "record"], rows, numeric={3}))
    return blocks


def footer_blocks(run):
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [Heading(2, "Reproduce"),
            Paragraph("The command that runs this again (same suite, seed, servers and repetitions); "
                      "python3 -m harness compare then compares the two runs:"),
            Code(reproduce_command(run.manifest)),
            Paragraph(f"Report written {written} by harness/report.py.")]


def reproduce_command(manifest):
    suite = manifest.get("suite", "?")
    suite_file = manifest.get("suite_file") or ""
    if suite_file and not suite_file.startswith("harness/suites/"):
        suite = suite_file  # a suite from outside harness/suites is found by its path
    suite = shlex.quote(str(suite))
    servers = shlex.quote(",".join(manifest.get("servers") or []))
    options = (f"--suite {suite} --seed {manifest.get('seed', '?')} --servers {servers} "
               f"--reps {manifest.get('reps', '?')}" + (" --pin" if manifest.get("pin") else ""))
    variants = manifest.get("variants") or {}
    if "base" in variants:
        base = (variants["base"] or {}).get("commit") or "BASE"
        return f"python3 -m harness ab --base {base[:12]} {options}"
    return f"python3 -m harness run {options}"


def _one_line(text):
    return " ".join(str(text or "no reason recorded").split())


def _relative(path, root):
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- numbers and dates


def _number(value):
    """For humans: 3 significant digits, thousands separators (123456 -> "123,000", 0.01234 -> "0.0123")."""
    if value is None or not _finite(value):
        return "–"
    if value == 0:
        return "0"
    rounded = round(value, 2 - math.floor(math.log10(abs(value))))
    # Rounding may carry into the next power of ten (99.96 -> 100.0): count the digits again.
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def _date(text):
    if not text:
        return "date unknown"
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


# ---------------------------------------------------------------- rendering


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 960px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; white-space: nowrap; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; }
p.strong { font-weight: bold; color: #a00; }
"""


def render_html(blocks, title):
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    for block in blocks:
        parts.append(_html_block(block))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _html_block(block):
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        attributes = ' class="strong"' if block.strong else ""
        return f"<p{attributes}>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{html.escape(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Code):
        return f"<pre><code>{html.escape(block.text)}</code></pre>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    if isinstance(block, Table):
        return _html_table(block)
    raise TypeError(f"unknown block {type(block).__name__}")


def _html_table(table):
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        cells = []
        for index, value in enumerate(row):
            attributes = ' class="num"' if index in table.numeric else ""
            cells.append(f"<td{attributes}>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def render_markdown(blocks, run_dir):
    parts = []
    for block in blocks:
        parts.append(_markdown_block(block, run_dir))
    return "\n\n".join(parts) + "\n"


def _markdown_block(block, run_dir):
    if isinstance(block, Heading):
        return "#" * block.level + " " + md_escape(block.text)
    if isinstance(block, Paragraph):
        return f"**{md_escape(block.text)}**" if block.strong else md_escape(block.text)
    if isinstance(block, Bullets):
        return "\n".join(f"- {md_escape(item)}" for item in block.items)
    if isinstance(block, Code):
        return "```sh\n" + block.text.replace("```", "'''") + "\n```"
    if isinstance(block, Figure):
        link = _relative(block.path, run_dir).replace("\\", "/")
        return f"![{md_escape(block.caption)}]({link})\n\n*{md_escape(block.caption)}*"
    if isinstance(block, Table):
        lines = ["| " + " | ".join(md_escape(h) for h in block.header) + " |",
                 "|" + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.header))) + "|"]
        for row in block.rows:
            lines.append("| " + " | ".join(md_escape(str(v)) for v in row) + " |")
        return "\n".join(lines)
    raise TypeError(f"unknown block {type(block).__name__}")


def md_escape(text):
    """Text from data, inert in Markdown: HTML escaped (renderers pass HTML through) and the characters
    that would start formatting, links or break a table cell backslash-escaped."""
    text = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")  # '>' alone starts no tag
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


"""The report's charts: one function per kind of chart, each taking plain data
and a path and writing a PNG. Nothing here knows about runs or records, so the
charts can be drawn (and tested) from any numbers.

Data shapes, shared by every function:

- a *series key* names one line or one set of bars: a server name ("iocp"),
  or a (server, variant) pair for runs made by `ab` ("base" is drawn dashed);
- a *sweep series* is {key: [(x, median, low, high), ...]}, x numeric; low and
  high bound the 95% confidence interval and may be None when there is none;
- a *category series* is {key: {category: (median, low, high)}}, one bar per
  key in each category (points that are not part of a sweep).

Chart functions that accept `param` draw lines over the swept parameter when
`param` is given and grouped bars over categories when it is None: the same
chart either way, so a suite may sweep a parameter or list fixed points.

Every model keeps one colour and marker across every chart, stated in its
servers/<model>/model.json (harness/models.py), and the native Linux reference
is grey and dashed there because it is a calibration point, not a contender."""
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display, works under any session
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402

from harness import models  # noqa: E402

DPI = 100
WIDTH_IN = 9.0            # 900 px at DPI: the report's column width
PANEL_HEIGHT_IN = 3.6
MAX_SPECTRUM_PANELS = 9   # beyond this the panels become too small to read
TITLE_IN = 0.4            # the figure title's band at the top
LEGEND_ROW_IN = 0.2       # one row of the figure legend below it


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str
    linestyle: str = "-"


# For a series that is not a model (a test's stand-in server).
FALLBACK_STYLES = [Style("#000000", "*"), Style("#8C564B", "h"), Style("#BCBD22", "X"), Style("#17BECF", "p")]

# The percentiles a latency spectrum shows, as fractions of a hundred.
SPECTRUM_TICKS = [50, 90, 99, 99.9, 99.99]
SPECTRUM_RANGE = (50.0, 99.99)

# Parameters whose values grow geometrically in a sweep: drawn on a log axis.
LOG_PARAMS = {"connections", "idle", "size", "depth", "concurrency", "threads"}

PARAM_LABELS = {
    "connections": "active connections",
    "idle": "idle connections",
    "size": "message size (bytes)",
    "depth": "pipeline depth (messages in flight per connection)",
    "concurrency": "connections being opened at once",
    "rate": "requested rate (messages/s)",
    "threads": "load generator threads",
    "second": "seconds since the measurement began (each point: the middle of its second)",
}


def split_key(key):
    """(server, variant or None) from a series key."""
    if isinstance(key, tuple):
        return key[0], key[1]
    return key, None


def style_for(key):
    """The line/bar style of a series: the model's colour, dashed for an `ab` base."""
    server, variant = split_key(key)
    model = models.get(server)
    style = Style(model.colour, model.marker, model.linestyle) if model else None
    if style is None:
        # A stable choice (not hash(), which changes between processes).
        style = FALLBACK_STYLES[sum(server.encode()) % len(FALLBACK_STYLES)]
    if variant == "base":
        return Style(style.colour, style.marker, ":" if style.linestyle == "--" else "--")
    return style


def label_for(key):
    server, variant = split_key(key)
    return server if variant is None else f"{server} ({variant})"


def order_keys(keys):
    """Known models in a fixed order (the legend reads the same everywhere), unknown ones after,
    and an `ab` base before its current."""
    order = models.all_models()

    def rank(key):
        server, variant = split_key(key)
        known = order.index(server) if server in order else len(order)
        return (known, server, variant != "base", variant or "")
    return sorted(keys, key=rank)


def plain_text(text):
    """Text from data, safe for matplotlib: a '$' would otherwise start mathtext and may raise."""
    return str(text).replace("$", r"\$")


@dataclass
class Panel:
    """One set of axes: a y quantity and its series (sweep or category shape)."""
    y_label: str
    series: dict
    log_y: bool = False
    identity_line: bool = False   # draw y = x (achieved against requested rate)


# ---------------------------------------------------------------- the charts


def throughput_vs_param(throughput, p99, path, *, title, param=None):
    """Throughput (messages/s) and p99 latency (µs) per model, against a swept parameter
    (connections, depth, size: log x) or over fixed points."""
    panels = [Panel("throughput (messages/s)", throughput), Panel("p99 latency (µs, median of reps)", p99, log_y=True)]
    return _draw(panels, path, title=title, param=param)


def latency_vs_idle(p99, throughput, path, *, title, param="idle"):
    """p99 latency of the active connections (µs) against the number of idle ones held open."""
    panels = [Panel("active p99 (µs)", p99, log_y=True), Panel("active throughput (msg/s)", throughput)]
    return _draw(panels, path, title=title, param=param)


def latency_vs_rate(p99, achieved, path, *, title, param="rate"):
    """The knee: p99 latency (µs, from intended send times) and achieved rate against the
    requested rate. Where achieved falls below the diagonal the server has saturated."""
    panels = [Panel("p99 latency (µs, median of reps)", p99, log_y=True),
              Panel("achieved rate (messages/s)", achieved, identity_line=param == "rate")]
    return _draw(panels, path, title=title, param=param)


def latency_corrected_vs_uncorrected(corrected, uncorrected, path, *, title, param="rate"):
    """The rate workload's p99 two ways, side by side on one latency scale: corrected (from each
    message's intended send time, so queueing behind a slow reply counts) and uncorrected (from the
    actual send: what a closed-loop tool reports, blind to that queueing)."""
    panels = [Panel("p99 latency, corrected (µs)", corrected, log_y=True),
              Panel("p99 latency, uncorrected (µs)", uncorrected, log_y=True)]
    return _draw(panels, path, title=title, param=param, side_by_side=True)


def time_series_chart(throughput, p99, path, *, title, warmup_s=0.0):
    """Each second of the measured time: messages/s and p99 (µs), the median over repetitions with
    the range of the repetitions as a band. The warm-up came before second 0 and is not in the
    series: it is shaded, left of zero."""
    panels = [Panel("throughput (messages/s)", throughput), Panel("p99 latency (µs)", p99)]
    shade = (-warmup_s, 0.0, "warm-up (not measured)") if warmup_s > 0 else None
    return _draw(panels, path, title=title, param="second", shade=shade)


def cost_chart(cpu_us_per_message, kib_per_connection, path, *, title, param=None):
    """CPU per message (µs, user + kernel over the server's lifetime: an upper bound; the
    caller says whose: server and wineserver, or the server alone) and peak memory per
    connection (KiB)."""
    panels = [Panel("CPU per message (µs)", cpu_us_per_message),
              Panel("server memory per connection (KiB)", kib_per_connection)]
    return _draw(panels, path, title=title, param=param)


def churn_chart(connections_per_s, connect_p99, path, *, title, param=None):
    """Connection churn: completed connect-echo-close operations per second, and the p99
    time to connect (µs)."""
    panels = [Panel("churn rate (connections/s)", connections_per_s),
              Panel("p99 connect time (µs, median of reps)", connect_p99, log_y=True)]
    return _draw(panels, path, title=title, param=param)


def latency_spectrum(spectra, path, *, title):
    """HDR-style latency spectrum: x = percentile on a 'nines' scale (p50 .. p99.99), y =
    latency (µs, log). `spectra` is [(panel title, {key: [(percentile, latency_us), ...]})],
    one panel per point; at most MAX_SPECTRUM_PANELS, evenly chosen, are drawn."""
    spectra = [(name, series) for name, series in spectra if _has_data(series)]
    if not spectra:
        raise ValueError("no latency spectrum to draw")
    spectra = _evenly_chosen(spectra, MAX_SPECTRUM_PANELS)
    columns = 1 if len(spectra) == 1 else (2 if len(spectra) in (2, 4) else 3)
    rows = math.ceil(len(spectra) / columns)
    height = PANEL_HEIGHT_IN * 1.3 if columns == 1 else (PANEL_HEIGHT_IN * 0.85) * rows + 0.8
    figure, grid = plt.subplots(rows, columns, figsize=(WIDTH_IN, height), squeeze=False)
    try:
        keys = []
        for axes, (name, series) in zip(grid.flat, spectra):
            for key in order_keys(series):
                _spectrum_line(axes, key, series[key])
                if key not in keys:
                    keys.append(key)
            _nines_axis(axes)
            _log_y(axes)
            axes.set_title(plain_text(name), fontsize=9)
            axes.tick_params(labelsize=8 if columns > 1 else 10)
            axes.grid(True, which="both", alpha=0.25)
        for axes in grid.flat[len(spectra):]:
            axes.set_visible(False)
        for axes in grid[:, 0]:
            axes.set_ylabel("latency (µs)")
        for axes in grid[-1, :]:
            axes.set_xlabel("percentile")
        _save(figure, path, keys, title)
    finally:
        plt.close(figure)
    return path


VERDICT_SCALE = 3.0       # the colour scale of verdict matrices saturates at 2^3 = 8 times better


def verdict_matrices(panels, path, *, title):
    """Pairwise verdicts at several points, one square matrix per point: `panels` is
    [(panel title, names best first, {(row, column): factor})], factor how many times the row's
    name is better than the column's (above 1) for each resolved pair, both ways round
    ((column, row) is 1/factor). Green: the row wins, red: it loses, grey: unresolved;
    each win is labelled with its factor. At most MAX_SPECTRUM_PANELS panels, evenly chosen."""
    panels = _evenly_chosen([panel for panel in panels if len(panel[1]) > 1], MAX_SPECTRUM_PANELS)
    if not panels:
        raise ValueError("no verdict matrix to draw")
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    side = WIDTH_IN / columns
    figure, grid = plt.subplots(rows, columns, figsize=(WIDTH_IN, side * rows + TITLE_IN + 0.4), squeeze=False)
    try:
        for axes, (name, names, factors) in zip(grid.flat, panels):
            _verdict_matrix(axes, name, names, factors, fontsize=7 if columns > 1 else 9)
        for axes in grid.flat[len(panels):]:
            axes.set_visible(False)
        figure.suptitle(plain_text(title), fontsize=11)
        figure.tight_layout(rect=(0, 0, 1, 1.0 - TITLE_IN / figure.get_figheight()))
        figure.savefig(path, dpi=DPI)
    finally:
        plt.close(figure)
    return path


def _verdict_matrix(axes, name, names, factors, fontsize):
    size = len(names)
    cells = [[math.nan] * size for _ in range(size)]
    for (row, column), factor in factors.items():
        if row in names and column in names and factor and factor > 0:
            cells[names.index(row)][names.index(column)] = max(-VERDICT_SCALE, min(VERDICT_SCALE, math.log2(factor)))
    colours = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#e6e6e6")
    axes.imshow(cells, cmap=colours, vmin=-VERDICT_SCALE, vmax=VERDICT_SCALE)
    for (row, column), factor in factors.items():
        if row in names and column in names and factor and factor > 1:
            axes.text(names.index(column), names.index(row), f"{factor:.2g}", ha="center", va="center",
                      fontsize=fontsize - 1)
    labels = [plain_text(n) for n in names]
    axes.set_xticks(range(size), labels, rotation=90, fontsize=fontsize)
    axes.set_yticks(range(size), labels, fontsize=fontsize)
    axes.set_title(plain_text(name), fontsize=fontsize + 2)


# ---------------------------------------------------------------- drawing


def _draw(panels, path, *, title, param, shade=None, side_by_side=False):
    """Stacked panels sharing x (side_by_side: in a row sharing y): lines over `param`, or grouped
    bars when param is None. A panel without data is left out rather than drawn empty. shade:
    (x from, x to, label) drawn as a grey band on every panel."""
    panels = [panel for panel in panels if _has_data(panel.series)]
    if not panels:
        raise ValueError("nothing to draw: every series is empty")
    if side_by_side:
        figure, grid = plt.subplots(1, len(panels), figsize=(WIDTH_IN, PANEL_HEIGHT_IN + 0.9), sharey=True,
                                    squeeze=False)
        axes_list = list(grid[0, :])
    else:
        figure, grid = plt.subplots(len(panels), 1, figsize=(WIDTH_IN, PANEL_HEIGHT_IN * len(panels) + 0.6),
                                    sharex=param is not None, squeeze=False)
        axes_list = list(grid[:, 0])
    try:
        keys = order_keys({key for panel in panels for key in panel.series})
        if param is not None:
            for axes, panel in zip(axes_list, panels):
                _line_panel(axes, panel, param)
                if shade:
                    axes.axvspan(shade[0], shade[1], color="#888888", alpha=0.18, linewidth=0, label="_shade")
                    axes.annotate(shade[2], ((shade[0] + shade[1]) / 2, 0.97), xycoords=("data", "axes fraction"),
                                  ha="center", va="top", fontsize=8, color="#555555")
            for axes in axes_list if side_by_side else axes_list[-1:]:
                axes.set_xlabel(PARAM_LABELS.get(param, plain_text(param)))
        else:
            categories = _categories(panels)
            for axes, panel in zip(axes_list, panels):
                _bar_panel(axes, panel, keys, categories)
        _save(figure, path, keys, title)
    finally:
        plt.close(figure)
    return path


def _line_panel(axes, panel, param):
    xs_all = []
    for key in order_keys(panel.series):
        points = sorted((p for p in panel.series[key] if _finite(p[1])), key=lambda p: p[0])
        if not points:
            continue
        style = style_for(key)
        xs = [p[0] for p in points]
        xs_all.extend(xs)
        axes.plot(xs, [p[1] for p in points], color=style.colour, marker=style.marker,
                  linestyle=style.linestyle, linewidth=1.6, markersize=5, label=label_for(key))
        bounded = [p for p in points if _finite(p[2]) and _finite(p[3])]
        if len(bounded) >= 2:
            axes.fill_between([p[0] for p in bounded], [p[2] for p in bounded], [p[3] for p in bounded],
                              color=style.colour, alpha=0.15, linewidth=0)
        elif bounded:  # a band needs two points; one point still shows its interval
            p = bounded[0]
            axes.errorbar([p[0]], [p[1]], yerr=[[max(0.0, p[1] - p[2])], [max(0.0, p[3] - p[1])]], color=style.colour,
                          capsize=3, linewidth=1)
    if panel.identity_line and xs_all:
        low, high = min(xs_all), max(xs_all)
        # Many points, geometrically spaced, not two: on a log x axis y = x is a curve.
        diagonal = [low * (high / low) ** (i / 100) if low > 0 else low + (high - low) * i / 100
                    for i in range(101)]
        axes.plot(diagonal, diagonal, color="#999999", linewidth=1, linestyle="-.", label="_requested", zorder=0)
        axes.annotate("achieved = requested", (high, high), fontsize=8, color="#777777",
                      ha="right", va="bottom")
    _x_scale(axes, param, xs_all)
    # The y = x panel follows the x axis (log with log, linear with linear): only then is the
    # diagonal straight and a server falling below it easy to see.
    if panel.identity_line:
        _y_scale(axes, axes.get_xscale() == "log")
    else:
        _y_scale(axes, panel.log_y or _spans_decades(panel.series))
    axes.set_ylabel(panel.y_label)
    axes.grid(True, which="major", alpha=0.3)


def _spans_decades(series, ratio=30.0):
    """Medians that differ this much (native Linux against Wine, say) leave the lower lines flat on a
    linear axis: lines switch to a log axis then. Bars never do."""
    medians = [point[1] for points in series.values() for point in points if _finite(point[1])]
    return bool(medians) and min(medians) > 0 and max(medians) / min(medians) >= ratio


def _bar_panel(axes, panel, keys, categories):
    group_width = min(0.8, 0.16 * len(keys))  # a lone category does not get bars a quarter of the chart wide
    width = group_width / max(1, len(keys))
    for index, key in enumerate(keys):
        values = panel.series.get(key, {})
        style = style_for(key)
        xs, heights, below, above = [], [], [], []
        for position, category in enumerate(categories):
            value = values.get(category)
            if value is None or not _finite(value[0]):
                continue
            median, low, high = value
            xs.append(position - group_width / 2 + width * (index + 0.5))
            heights.append(median)
            # max(0, ...): a median outside its own interval must not break the chart
            below.append(max(0.0, median - low) if _finite(low) else 0.0)
            above.append(max(0.0, high - median) if _finite(high) else 0.0)
        if not xs:
            continue
        hatch = _bar_hatch(key)
        axes.bar(xs, heights, width=width * 0.95, color=style.colour, label=label_for(key), hatch=hatch,
                 edgecolor="#333333" if hatch else "white", linewidth=0.5, yerr=[below, above], capsize=2,
                 error_kw={"elinewidth": 0.9, "ecolor": "#222222"})
    axes.set_xticks(range(len(categories)))
    axes.set_xlim(-0.5, len(categories) - 0.5)  # every panel shows every category, even where it is empty
    axes.set_xticklabels([plain_text(c) for c in categories], rotation=20 if len(categories) > 3 else 0,
                         ha="right" if len(categories) > 3 else "center", fontsize=8)
    # Bars stay linear even where the line form is log: a bar's length is its value.
    _y_scale(axes, False)
    axes.set_ylabel(panel.y_label)
    axes.grid(True, axis="y", which="major", alpha=0.3)


def _bar_hatch(key):
    """Bars' counterpart of the dashed lines: an `ab` base and a native (Linux) model are hatched."""
    server, variant = split_key(key)
    if variant == "base":
        return "//"
    model = models.get(server)
    return ".." if model is not None and not model.winsock else None


def _spectrum_line(axes, key, points):
    low, high = SPECTRUM_RANGE
    shown = sorted((p, v) for p, v in points if low - 1e-9 <= p <= high + 1e-9 and _finite(v) and v > 0)
    if not shown:
        return
    style = style_for(key)
    # Markers every few points: lines that cross stay told apart without colour.
    axes.plot([_nines(p) for p, _ in shown], [v for _, v in shown], color=style.colour, marker=style.marker,
              markevery=max(1, len(shown) // 6), markersize=4, linestyle=style.linestyle, linewidth=1.5,
              label=label_for(key))


def _nines(percentile):
    """Position on the 'nines' axis: p90 -> 1, p99 -> 2, p99.9 -> 3 ..."""
    return -math.log10(1.0 - percentile / 100.0)


def _nines_axis(axes):
    axes.set_xlim(_nines(SPECTRUM_RANGE[0]), _nines(SPECTRUM_RANGE[1]))
    axes.xaxis.set_major_locator(FixedLocator([_nines(p) for p in SPECTRUM_TICKS]))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _percentile_label(x)))
    axes.xaxis.set_minor_locator(NullLocator())


def _percentile_label(position):
    percentile = 100.0 * (1.0 - 10.0 ** -position)
    return f"p{percentile:.4g}"


def _x_scale(axes, param, xs):
    positive = [x for x in xs if x > 0]
    geometric = param in LOG_PARAMS or (len(positive) >= 2 and max(positive) / min(positive) >= 100)
    if not geometric or not positive:
        axes.xaxis.set_major_formatter(_number_formatter(axes, "x"))
        return
    if any(x <= 0 for x in xs):
        axes.set_xscale("symlog", linthresh=1)  # a sweep may start at zero idle connections
    else:
        axes.set_xscale("log")
    # Label the values that were measured, not powers of ten the sweep never visited.
    ticks = sorted(set(xs))
    if len(ticks) <= 12:
        axes.xaxis.set_major_locator(FixedLocator(ticks))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: si_text(x) if x >= 1 or x == 0 else f"{x:g}"))
        axes.xaxis.set_minor_locator(NullLocator())


def _y_scale(axes, log_y):
    values = [v for line in axes.get_lines() for v in line.get_ydata() if _finite(v)]
    values += [patch.get_height() for patch in axes.patches]
    if log_y and values and min(values) > 0:
        _log_y(axes)
    elif not log_y:
        axes.set_ylim(bottom=0)
        axes.yaxis.set_major_formatter(_number_formatter(axes))


def _log_y(axes):
    axes.set_yscale("log")
    # Decades each take their own prefix (100, 1k, 10k, 1M): one prefix for the whole axis, right
    # for a linear axis, printed a p99 axis from 100 µs to 1 s as 0.0001M ... 1M.
    plain = FuncFormatter(lambda value, _: si_text(value) if value >= 1 or value == 0 else f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    low, high = axes.get_ylim()
    # Within a decade or so the minor ticks are the only labels between powers of ten.
    axes.yaxis.set_minor_formatter(plain if 0 < low and high / low < 30 else NullFormatter())
    axes.tick_params(axis="y", which="minor", labelsize=7)


SI_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def si_text(value, factor=None):
    """250000 -> "250k", 1e6 -> "1M" (never "1000k"): with `factor` given, that prefix's scale for
    every label of an axis (one style per axis); else the value's own."""
    if factor is None:
        factor = next((f for f, _ in SI_PREFIXES if abs(value) >= f), 1)
    prefix = dict(SI_PREFIXES).get(factor, "")
    return f"{value / factor:,.6g}{prefix}" if value else "0"


def _axis_factor(top):
    """The SI scale of an axis reaching `top`: k from ten thousand, M from a million, G from a billion."""
    for factor, _ in SI_PREFIXES:
        if top >= factor * (10 if factor == 1e3 else 1):
            return factor
    return 1


def _number_formatter(axes, axis="y"):
    """Tick labels with an SI prefix (250k, 1.5M rather than 250000, 1500k or 2.5e5), one prefix
    throughout an axis, chosen by its top."""
    def label(value, _position):
        top = max(abs(limit) for limit in (axes.get_ylim() if axis == "y" else axes.get_xlim()))
        return si_text(value, _axis_factor(top))
    return FuncFormatter(label)


def _figure_legend(figure, keys):
    """One legend for the whole figure, in the fixed model order, whichever panels hold the series.
    Returns how many rows it takes."""
    found = {}
    for panel in figure.axes:
        for handle, label in zip(*panel.get_legend_handles_labels()):
            found.setdefault(label, handle)
    labels = [label_for(key) for key in keys if label_for(key) in found]
    if not labels:
        return 0
    columns = min(len(labels), 7 if max(len(label) for label in labels) <= 16 else 4)
    top = 1.0 - TITLE_IN / figure.get_figheight()
    figure.legend([found[label] for label in labels], labels, loc="upper center", ncol=columns,
                  fontsize=8, bbox_to_anchor=(0.5, top), frameon=False)
    return math.ceil(len(labels) / columns)


def _save(figure, path, keys, title):
    """Adds the shared legend and the title, lays the panels out below them (their height is
    fixed in inches), and writes the PNG."""
    legend_rows = _figure_legend(figure, keys)
    figure.suptitle(plain_text(title), fontsize=11)
    header = TITLE_IN + LEGEND_ROW_IN * legend_rows - 0.1  # tight_layout adds its own padding
    figure.tight_layout(rect=(0, 0, 1, 1.0 - header / figure.get_figheight()))
    figure.savefig(path, dpi=DPI)


def _categories(panels):
    """Every category of every panel, in first-seen order."""
    seen = []
    for panel in panels:
        for values in panel.series.values():
            for category in values:
                if category not in seen:
                    seen.append(category)
    return seen


def _has_data(series):
    for values in series.values():
        items = values.values() if isinstance(values, dict) else values
        if any(item is not None and _finite(item[0] if isinstance(values, dict) else item[1]) for item in items):
            return True
    return False


def _evenly_chosen(items, limit):
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def _finite(value):
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)

"""The summary the report opens with: the answer (overall ranking, by how much the leaders lead, the
agreement with Microsoft's order), the platform in one line, and the warnings that change how the
figures may be read. The detail sections say the same at length."""
from harness import models
from harness.analysis import microsoft
from harness.analysis.cells import unsupported_servers
from harness.analysis.rankings import all_point_verdicts
from harness.verdicts import verdict_factor
from harness.report.blocks import Bullets, Heading, Paragraph, Section, Table
from harness import stats
from harness.report.format import format_factor, names_text, ranking_text
from harness.report.sections import note_label, platform_line, point_order, ranked, tau_verdict

METRIC_WORDS = {"throughput": "throughput", "p99": "p99 latency"}


def summary_blocks(run, cells):
    blocks = [Heading(2, "Summary")]
    overall = [r for r in ranked(cells) if r.scope == "overall"]
    if not overall:
        blocks.append(Paragraph("No ranking: no server has a successful measurement.", strong=True))
    show_variant = len({r.variant for r in overall}) > 1
    for ranking in overall:
        variant = f" ({ranking.variant})" if show_variant else ""
        blocks.append(Paragraph(f"Overall by {METRIC_WORDS.get(ranking.metric, ranking.metric)}{variant}: "
                                f"{ranking_text(ranking.order, ranking.letters, ranking.metric)}. "
                                f"Leaders (no server beats them): {names_text(ranking.leaders())}; laggards "
                                f"(beaten, beating no one): {names_text(ranking.laggards())}."))
    if overall:
        blocks.append(Paragraph(agreement_sentence(overall, show_variant)))
    blocks.append(Paragraph(f"Platform: {platform_line(run)}."))
    found = warnings(run, cells)
    blocks.append(Bullets(found) if found else Paragraph("No warnings: no saturated load generator, busy machine, "
                                                         "failed record or cell without an interval."))
    blocks += lead_blocks(run, cells)  # last: the longest part, and the sentences above already give the order
    return [Section("summary", blocks)]


def agreement_sentence(overall, show_variant=False):
    """Kendall's tau of each overall ranking against Microsoft's order, in one sentence."""
    parts = []
    for ranking in overall:
        tau = microsoft.agreement_with_microsoft(ranking)
        variant = f", {ranking.variant}" if show_variant else ""
        what = f"by {METRIC_WORDS.get(ranking.metric, ranking.metric)}{variant}"
        parts.append(f"no tau {what} ({microsoft.no_tau_reason(ranking)})" if tau is None
                     else f"tau = {tau:.2f} {what} over the {microsoft.microsoft_pairs(ranking)[1]} pairs both "
                          f"resolve ({tau_verdict(tau)})")
    return f"Against Microsoft's documented order ({models.microsoft_order_text()}), Kendall's {' and '.join(parts)}."


def lead_blocks(run, cells):
    """At each point, per metric, the Winsock models no other Winsock model beats, with the closest
    of their resolved wins (the least a leader leads by, with its interval), and the laggards. A native
    calibration server (reference-epoll) beating everyone says nothing about the Winsock models, so
    it is left out here."""
    found = all_point_verdicts(cells)
    if not found:
        return []
    metrics = list(dict.fromkeys(point.metric for point in found))
    variants = list(dict.fromkeys(point.variant for point in found))
    order = point_order(run)
    keys = sorted({(p.point_id, p.variant) for p in found}, key=lambda k: (order.get(k[0], len(order)), k))
    by_key = {(p.point_id, p.variant, p.metric): p for p in found}
    header = ["point"] + (["variant"] if len(variants) > 1 else []) + \
        [f"{METRIC_WORDS.get(m, m)}: Winsock leaders; laggards" for m in metrics]
    rows = [[point] + ([variant] if len(variants) > 1 else [])
            + [_lead_text(by_key.get((point, variant, metric))) for metric in metrics] for point, variant in keys]
    return [Paragraph("At each point, the Winsock models no other Winsock model beats, with the closest of their "
                      "wins (\"A 1.42× [1.31, 1.55] B\": A is 1.42 times better, higher throughput or lower "
                      "latency, 95% interval), then the laggards (beaten, beating no one):"),
            Table(header, rows, nowrap={0})]


def _lead_text(point):
    if point is None:
        return "–"
    names = [name for name in point.order if models.is_winsock(name)]
    verdicts = [v for v in point.verdicts if v.a in names and v.b in names]
    if len(names) < 2:
        return "–"
    if not any(v.better for v in verdicts):
        return "no pair of Winsock models resolved" + ("" if point.separable else " (too few repetitions)")
    leading = stats.leaders(verdicts, names)
    wins = [verdict_factor(v, point.higher_is_better) for v in verdicts if v.better in leading]
    closest = min(wins, key=lambda factor: factor.ratio, default=None)
    text = ", ".join(leading) + (f" (closest win: {format_factor(closest)})" if closest else "")
    return f"{text}; lag: {names_text(stats.laggards(verdicts, names))}"


def warnings(run, cells):
    """What changes how the figures may be read, each said once, with the cells it concerns."""
    found = []
    bounded = [f"{c.server} at {c.point_id}" for c in cells if c.lower_bound]
    if bounded:
        found.append(f"The load generator saturated (lower bounds, not ranked): {', '.join(bounded)}.")
    found += _busy_warnings(cells)
    limits = [f"{c.server} at {c.point_id} ({label})" for c in cells for label in map(note_label, c.notes)
              if label in ("slow service", "slow stop")]
    if limits:
        found.append(f"Past the servers' contract (see the cells' badges): {_few(limits)}.")
    short = [f"{c.server} at {c.point_id}" for c in cells if c.throughput is not None and not c.throughput.has_interval]
    if short:
        found.append(f"Too few repetitions for a 95% interval: {_few(short)}.")
    failed = sum(1 for record in run.records if record.failed)
    if failed:
        found.append(f"{failed} of {len(run.records)} records failed (see Failures).")
    unsupported = unsupported_servers(run)
    if unsupported:
        found.append(f"Not measured, unsupported on this platform: {', '.join(sorted(unsupported))} (see Failures).")
    if not run.manifest.get("finished_at"):
        found.append("The run did not finish (run --resume completes it).")
    return found


def _busy_warnings(cells):
    """Busy-machine repetitions, split by whether they can have moved a cell's
    median: with fewer than half of its repetitions disturbed, the median has
    undisturbed ones on both sides, so it stays within their range."""
    busy = [c for c in cells if c.busy_reps]
    most = [f"{c.server} at {c.point_id} ({c.busy_reps} of {c.ok_reps})" for c in busy if 2 * c.busy_reps >= c.ok_reps]
    found = []
    if most:
        found.append(f"Half or more of the repetitions on a busy machine (other processes used the CPUs), so the "
                     f"median may be a disturbed one: {_few(most)}.")
    aside = sum(c.set_aside_reps for c in cells)
    if aside:
        where = sum(1 for c in cells if c.set_aside_reps)
        found.append(f"{aside} repetition{'s' if aside > 1 else ''} taken on a busy machine set aside in "
                     f"{where} cell{'s' if where > 1 else ''}, each left with enough quiet ones for a median's "
                     "interval (badged on the cells).")
    few = len(busy) - len(most)
    if few:
        found.append(f"{few} cell{'s' if few > 1 else ''} had fewer than half of their repetitions on a busy machine: "
                     "each median stays within the range of its undisturbed repetitions (badged on the cells).")
    return found


def _few(names, limit=8):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

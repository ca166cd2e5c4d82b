"""Section content: what the report says, in reading order, as blocks."""
import shlex
from datetime import datetime, timezone

from harness import models, stats, store
from harness.analysis import microsoft
from harness.analysis.cells import unsupported_servers
from harness.analysis.options import option_comparisons
from harness.analysis.rankings import all_point_verdicts, rankings
from harness.report.blocks import Badge, Badges, Bullets, Code, Details, Heading, Links, Paragraph, Table
from harness.report.format import (date_text, estimate_text, format_factor, format_family, interval_text,
                                   median_text, names_text, number, one_line, ranking_text, relative, too_few_text)

WORKLOAD_UNITS = {"churn": "connections/s"}
CI_NOTE = ("Bands and whiskers: the 95% confidence interval of the median over repetitions; none is drawn "
           f"for a cell with fewer than {stats.min_reps_for_interval()} repetitions.")


def title(run):
    manifest = run.manifest
    return f"winsock-bench report: suite {manifest.get('suite', '?')}, {date_text(manifest.get('started_at'))}"


def platform_blocks(run):
    manifest = run.manifest
    platform = manifest.get("platform") or {}
    items = [f"Machine: {_system_text(platform)}; CPU: {platform.get('cpu_model', 'unknown')}, "
             f"{platform.get('cpu_count', '?')} logical CPUs; {placement_text(store.placement_of(manifest))}.",
             _runtime_text(platform),
             f"Code: {_variants_text(manifest.get('variants') or {})}.",
             f"Run: {len(manifest.get('points') or [])} points × {len(manifest.get('servers') or [])} servers "
             f"({', '.join(manifest.get('servers') or []) or 'none'}) × {_repetitions_text(manifest)}; "
             f"seed {manifest.get('seed', '?')}; started {date_text(manifest.get('started_at'))}, "
             f"{_finished_text(manifest.get('finished_at'))}."]
    if platform.get("compiler"):
        items.append(f"Servers compiled with {str(platform['compiler']).splitlines()[0]}.")
    return [Heading(2, "Platform"), Bullets(items)]


def platform_line(run):
    """The platform in one line, for the summary."""
    manifest = run.manifest
    platform = manifest.get("platform") or {}
    if platform.get("host"):  # a run on other hosts: the platform is the server host's
        kind = {"windows": "Windows", "wine": "Linux with Wine", "linux": "Linux"}.get(platform.get("host_platform"),
                                                                                      "?")
        runtime = (f"servers on host {platform['host']} ({kind}), load from "
                   f"{', '.join(platform.get('clients') or []) or '?'}")
    elif platform.get("os") == "Windows":
        runtime = "Winsock servers on Windows"
    elif platform.get("wine"):
        runtime = f"Winsock servers under Wine ({platform['wine']}), not Windows"
    else:
        runtime = "no Winsock server under Wine"
    return (f"{runtime}; {_system_text(platform)}, {platform.get('cpu_model', 'unknown CPU')}, "
            f"{platform.get('cpu_count', '?')} logical CPUs, {placement_text(store.placement_of(manifest))}; "
            f"{_variants_text(manifest.get('variants') or {})}")


def topology_blocks(run, cells):
    """A run on other hosts: which host did what, what each is, and each
    client host's part of every cell (the median over its repetitions)."""
    topology = run.manifest.get("topology")
    if not topology:
        return []
    hosts = [topology["server"]] + list(topology.get("clients") or [])
    rows = [[h["name"], h["role"], h["platform"], h.get("os") or "?", h.get("cpu_model") or "?",
             str(h.get("cpu_count") or "?"), h.get("address") or "?"] for h in hosts]
    blocks = [Heading(2, "Hosts"),
              Paragraph(f"Servers on {topology['server']['name']}, load from "
                        f"{', '.join(c['name'] for c in topology.get('clients') or [])}, split between them and "
                        "released together; their latency histograms are merged bucket by bucket."),
              Table(["host", "role", "platform", "OS", "CPU", "cores", "address"], rows, numeric={5}, nowrap={0})]
    per_host = _per_host_rows(run)
    if per_host:
        blocks.append(Table(["point", "server", "client host", "connections", "msg/s", "p99 µs"], per_host,
                            numeric={3, 4, 5}, nowrap={0, 1, 2}))
    return blocks


def _per_host_rows(run):
    """[point, server, host, connections, msg/s, p99] medians over each cell's ok repetitions."""
    figures = {}
    for record in run.records:
        for part in ((record.loadgen or {}).get("hosts") or []) if record.ok else []:
            key = (record.point_id, record.server, part["host"])
            entry = figures.setdefault(key, {"connections": (part.get("config") or {}).get("connections"),
                                             "rates": [], "p99": []})
            entry["rates"].append(part.get("messages_per_s") or 0.0)
            entry["p99"].append((part.get("latency_us") or {}).get("p99") or 0.0)
    return [[point, server, host, str(entry["connections"] or "?"), number(stats.median(entry["rates"])),
             number(stats.median(entry["p99"]))] for (point, server, host), entry in figures.items()]


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


def placement_text(placement):
    """Where the run's processes ran, in words (harness.run.placement's modes;
    on a server host, harness.run.remote_placement's)."""
    if placement is None:
        return "placement: the hosts' own"
    if placement.get("host") is not None:
        return _host_placement_text(placement)

    def cpus(name):
        return _cpus_text(placement, name)
    mode = placement.get("mode")
    if mode == "colocated":
        return (f"placement colocated: servers and their wineserver on CPU {cpus('server_cpus')}, "
                f"load generator on CPU {cpus('loadgen_cpus')}")
    if mode == "split":
        return (f"placement split: servers on CPU {cpus('server_cpus')}, their wineserver with the load "
                f"generator on CPU {cpus('loadgen_cpus')}")
    if mode == "pinned":
        return (f"placement pinned: servers on CPU {cpus('server_cpus')}, load generator on CPU "
                f"{cpus('loadgen_cpus')}, the wineserver wherever the scheduler put it")
    return "placement free: nothing pinned, the scheduler placed every process"


def _cpus_text(placement, name):
    return ", ".join(str(c) for c in placement.get(name) or []) or "?"


def _host_placement_text(placement):
    """A run on other hosts: placed on the server host; the load generators were not."""
    host, mode = placement["host"], placement.get("mode")
    if placement.get("not_placed"):
        return f"placement: not placed on server host {host} ({placement['not_placed']})"
    if mode == "free":
        return f"placement free on server host {host}: nothing pinned"
    wine = (f"their wineserver on CPU {_cpus_text(placement, 'wineserver_cpus')}" if placement.get("wineserver_cpus")
            else "their wineserver wherever the scheduler put it")
    return f"placement {mode} on server host {host}: servers on CPU {_cpus_text(placement, 'server_cpus')}, {wine}"


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
    return f"finished {date_text(finished_at)}" if finished_at else "NOT finished (interrupted; run --resume completes it)"


def how_to_read_blocks():
    return [Heading(2, "How to read this"), Bullets([
        "Every point (a workload with fixed load generator options) ran against every server several times, "
        "interleaved. A figure is the median over repetitions, with its 95% confidence interval: "
        f"{stats.MEDIAN_CI_METHOD}.",
        "One definition of every latency percentile, in tables, charts, rankings and compare alike: each "
        "repetition's own percentile (nearest rank on its histogram), then the median over repetitions, with "
        "its interval (\"p99 95% CI\"). Histograms of repetitions are not merged. Latency is a round trip "
        "measured by the load generator, in microseconds (µs).",
        "Every pair of servers at a point gets a verdict from a test, not from overlapping intervals: the "
        "larger of two p-values, the exact Wilcoxon-Mann-Whitney rank-sum test's and Brunner-Munzel's (which "
        "allows one server's repetitions to be far noisier than the other's), with the false discovery rate "
        "over all the pairs at that point held at 5% (Benjamini-Hochberg). A verdict says which server is "
        "better; \"unresolved\" means the run cannot tell the two apart, not that they are equal. Letters "
        "beside each server (a compact letter display) sum the verdicts up: servers sharing a letter are not "
        "told apart, servers with no letter in common are. Leaders are the servers no other server beats, "
        "laggards those beaten by one or more that beat no one. A factor \"iocp 1.42× [1.31, 1.55] thread\" "
        "is the ratio of the two medians (for latency, how many times lower) with its 95% interval, made of "
        "each median's own distribution-free interval, so a noisy server beside a steady one widens it. "
        "A workload's ranking orders the servers by their "
        "average place over its points (\"overall\": over the workloads; a place counts the servers that beat "
        "it and half of those it is not told apart from), and gives each pair a verdict by a test again: van "
        "Elteren's stratified rank-sum test over the points (each point a stratum), false discovery rate 5%. "
        "Kendall's tau compares a ranking with Microsoft's documented "
        f"order ({models.microsoft_order_text()}) over the pairs both resolve: 1 is the same order, 0 no "
        "relation, -1 the reverse.",
        "CPU per message: the server process's own (user + kernel), the wineserver's during the same item "
        "(under Wine much of the socket work is done there; \"–\" for a native server, which has none) and "
        "their sum, the whole cost; on Windows the server's own figure is the whole. Each covers the server's "
        "whole life, warm-up included: an upper bound. Memory per "
        "connection is the peak working set over the connections held, fixed overhead included.",
        "Flags mark a figure that may measure the load generator or the machine rather than the server. "
        "Where the load generator still saturated a core (after the harness gave it more threads), the "
        "cell's throughput is shown as a lower bound (\"≥\") and the cell is left out of every ranking; "
        "repetitions taken while other processes (or the hypervisor) kept the machine busy are set aside "
        "once 6 quiet ones remain, and flagged on their cell either way. The rate "
        "workload is flagged when it delivered under 95% or over 105% of the requested rate, and each flag "
        "says whether the median repetition (the figure shown) or only the worst repetition was outside. "
        "CV is the coefficient of variation of throughput across repetitions."])]


def outcome_blocks(run):
    total = len(run.records)
    failed = sum(1 for record in run.records if record.failed)
    if total == 0:
        return [Paragraph("This run has no records yet: nothing was measured.", strong=True)]
    if failed == total:
        return [Paragraph(f"Every record of this run failed ({failed} of {total}): there are no measurements, "
                          "only the failures listed below.", strong=True)]
    if failed:
        return [Paragraph(f"{failed} of {total} records failed; they are left out of the statistics and "
                          "listed under Failures.")]
    return []


def ranked(cells):
    """The rankings that rank someone, workloads in run order, "overall" last."""
    found = [r for r in rankings(cells) if r.order]
    scopes = list(dict.fromkeys(cell.workload for cell in cells)) + ["overall"]
    found.sort(key=lambda r: (scopes.index(r.scope) if r.scope in scopes else len(scopes), r.scope))
    return found


def ranking_blocks(cells):
    found = ranked(cells)
    blocks = [Heading(2, "Rankings")]
    if not found:
        return blocks + [Paragraph("No ranking: no server has a successful measurement.")]
    show_variant = len({r.variant for r in found}) > 1
    blocks.append(Paragraph("Best first by average place; the letters sum up the verdicts of the stratified "
                            "rank-sum test over the points: servers sharing a letter are not told apart, servers "
                            "with no letter in common are. \"Within each family\" is the same ranking among the "
                            "models of one family (completion, readiness, thread) that has two or more; τ is "
                            "Kendall's tau against Microsoft's documented order over the pairs both resolve "
                            "(at least 4 of its models present)."))
    header = ["scope"] + (["variant"] if show_variant else []) + ["ranking", "leaders", "laggards",
                                                                   "within each family", "τ vs Microsoft"]
    rows = []
    for ranking in found:
        rows.append([ranking.scope] + ([ranking.variant] if show_variant else [])
                    + [ranking_text(ranking.order, ranking.letters, ranking.metric),
                       names_text(ranking.leaders()), names_text(ranking.laggards()),
                       format_family(ranking.order, ranking.letters), tau_text(ranking)])
    blocks.append(Table(header, rows, numeric={len(header) - 1}, nowrap={0}))
    blocks += _too_few_to_separate(cells)
    bounded = [f"{cell.server} at {cell.point_id}" for cell in cells if cell.lower_bound]
    if bounded:
        blocks.append(Paragraph(f"Not ranked, because the load generator saturated and was measured instead of "
                                f"the server (their throughput is a lower bound): {', '.join(bounded)}.",
                                strong=True))
    return blocks + point_verdict_blocks(cells, show_variant)


def tau_text(ranking):
    """"0.67 over 12 pairs", or "none: <why>"."""
    tau = microsoft.agreement_with_microsoft(ranking)
    if tau is None:
        return f"none: {microsoft.no_tau_reason(ranking)}"
    return f"{tau:.2f} over {microsoft.microsoft_pairs(ranking)[1]} pairs"


def option_blocks(cells):
    """The option sets one server ran with at the same setting, ranked (nothing
    when no suite point differs from another only in its server_args)."""
    found = option_comparisons(cells)
    if not found:
        return []
    show_variant = len({c.variant for c in found}) > 1
    blocks = [Heading(2, "Server options compared"),
              Paragraph("Points that differ only in the options given to the server are one server at one "
                        "setting: its option sets are compared there as servers are at a point (letters: "
                        "sharing one, not told apart), with the factor of every resolved pair.")]
    rows = {}
    for comparison in found:
        key = (comparison.setting, comparison.server, comparison.variant)
        text = ranking_text(comparison.order, comparison.letters, comparison.metric)
        factors = comparison.factors()
        text += "; " + (", ".join(format_factor(factor) for factor in factors) if factors else "no pair resolved")
        rows.setdefault(key, {})[comparison.metric] = text
    header = ["setting", "server"] + (["variant"] if show_variant else []) + ["by throughput", "by p99 latency"]
    table = [[setting, server] + ([variant] if show_variant else []) + [by.get("throughput", "–"), by.get("p99", "–")]
             for (setting, server, variant), by in rows.items()]
    return blocks + [Table(header, table, nowrap={0})]


def _too_few_to_separate(cells):
    """Said plainly when the repetitions could never have separated anyone."""
    found = all_point_verdicts(cells)
    stuck = [point for point in found if not point.separable]
    if not stuck:
        return []
    reps = min(point.reps for point in stuck)
    servers = max(len(point.order) for point in stuck)
    return [Paragraph(f"At {len(stuck)} of {len(found)} point rankings the repetitions were too few for the test "
                      f"to resolve any pair of servers (as few as {reps} per server): there no pair has a "
                      f"verdict, whatever the figures. Resolving any of {servers} servers takes at least "
                      f"{stats.min_reps_to_separate(servers)} repetitions each.", strong=True)]


def point_verdict_blocks(cells, show_variant):
    """The verdicts at each point: the servers best first with their letters, the leaders and
    laggards, and by how much each resolved pair differs."""
    found = all_point_verdicts(cells)
    if not found:
        return []
    header = ["point"] + (["variant"] if show_variant else []) + ["metric", "servers best first (letters)",
                                                                  "pairs resolved", "leaders", "laggards"]
    rows = [[point.point_id] + ([point.variant] if show_variant else [])
            + [point.metric, ranking_text(point.order, point.letters, point.metric),
               f"{len(point.resolved)} of {len(point.verdicts)}", names_text(point.leaders()),
               names_text(point.laggards())] for point in found]
    factors = [f"{point.point_id}{f' ({point.variant})' if show_variant else ''}, {point.metric}: "
               + ("; ".join(format_factor(f) for f in point.factors()) or "no pair resolved") for point in found]
    return [Heading(3, "Verdicts at each point"),
            Paragraph("The rankings above are built from these. Letters: servers sharing one are not told apart "
                      "by the test; servers with none in common are. A factor reads \"A 1.42× [1.31, 1.55] B\": "
                      "A is 1.42 times better than B (throughput: higher; latency: lower), 95% interval."),
            Table(header, rows, nowrap={0}),
            Details(f"Every resolved pair with its factor ({sum(len(p.resolved) for p in found)} pairs)",
                    [Bullets(factors)])]


def tau_verdict(tau):
    """Kendall's tau in words."""
    if tau >= 0.8:
        return "strong agreement"
    if tau >= 0.3:
        return "partial agreement"
    if tau > -0.3:
        return "no clear agreement"
    return "largely the reverse order"


# ---------------------------------------------------------------- tables


def table_blocks(run, cells):
    blocks = [Heading(2, "Results by workload")]
    if not cells:
        return blocks + [Paragraph("No results.")]
    order = point_order(run)
    show_variant = len({cell.variant for cell in cells}) > 1
    letters = point_letters(cells)
    for workload in _workload_order(run, cells):
        chosen = [cell for cell in cells if cell.workload == workload]
        chosen.sort(key=lambda c: (order.get(c.point_id, len(order)), _server_rank(c.server), c.server, c.variant))
        blocks.append(Heading(3, f"Workload: {workload}"))
        blocks += _workload_table(workload, chosen, show_variant, letters)
    return blocks


def point_letters(cells):
    """{(point, variant, metric, server): letters} where two or more servers are compared at a point."""
    return {(point.point_id, point.variant, point.metric, server): letters
            for point in all_point_verdicts(cells) if len(point.order) > 1
            for server, letters in point.letters.items()}


EXTRA_COLUMNS = {"rate": "achieved of requested msg/s", "churn": "connect p99 µs"}


def _workload_table(workload, cells, show_variant, letters=None):
    """The figures that rank, and the flags, in a table that fits a laptop screen; what the server
    cost and how the repetitions went in a second table, folded in HTML; each flag in full below."""
    unit = WORKLOAD_UNITS.get(workload, "msg/s")
    who = ["point", "server"] + (["variant"] if show_variant else [])
    header = who + [f"throughput {unit}, median [95% CI] letters", "p50 µs", "p99 µs [95% CI] letters", "p99.9 µs"]
    header += [EXTRA_COLUMNS[workload]] if workload in EXTRA_COLUMNS else []
    header.append("flags")
    main = Table(header, [_cell_row(cell, show_variant, letters or {}) for cell in cells],
                 numeric=set(range(len(who), len(header) - 1)), nowrap={0, 1})
    cost_header = who + ["CV %", "server CPU µs/msg", "wineserver CPU µs/msg", "total CPU µs/msg",
                         "memory/conn KiB", "threads", "reps ok/failed"]
    cost = Table(cost_header, [_cost_row(cell, show_variant) for cell in cells],
                 numeric=set(range(len(who), len(cost_header))), nowrap={0, 1})
    explained = [f"{_who(cell, show_variant)}: {badge.explanation}" for cell in cells for badge in badges(cell)]
    return [main] + ([Bullets(explained)] if explained else []) + [
        Details("Cost and repetitions: CPU per message, memory per connection, threads, CV", [cost])]


def _who(cell, show_variant):
    return f"{cell.server}{f' ({cell.variant})' if show_variant else ''} at {cell.point_id}"


def _cell_row(cell, show_variant, letters):
    percentiles = cell.percentiles_us or {}

    def lettered(text, metric):
        found = letters.get((cell.point_id, cell.variant, metric, cell.server))
        return f"{text} {found}" if found else text
    row = [cell.point_id, cell.server] + ([cell.variant] if show_variant else []) + [
        lettered(("≥ " if cell.lower_bound else "") + estimate_text(cell.throughput), "throughput"),
        median_text(percentiles.get("p50")), lettered(_p99_text(cell.p99_us), "p99"),
        median_text(percentiles.get("p99_9"))]
    if cell.workload == "rate":
        requested = "–" if cell.requested_rate is None else number(cell.requested_rate)
        row.append(f"{median_text(cell.achieved_rate)} of {requested}")
    elif cell.workload == "churn":
        row.append(median_text(cell.connect_p99_us))
    return row + [Badges(badges(cell))]


def _p99_text(estimate):
    if estimate is None or not estimate.has_interval:
        return median_text(estimate)
    return f"{number(estimate.median)} [{interval_text(estimate)}]"


def _cost_row(cell, show_variant):
    return [cell.point_id, cell.server] + ([cell.variant] if show_variant else []) + [
        "–" if cell.throughput is None else number(cell.throughput.cv * 100),
        median_text(cell.cpu_us_per_message), median_text(cell.wineserver_cpu_us_per_message),
        median_text(cell.total_cpu_us_per_message), median_text(cell.working_set_per_connection, 1 / 1024),
        "–" if cell.peak_threads is None else f"{cell.peak_threads:,}", f"{cell.ok_reps}/{cell.failed_reps}"]


def badges(cell):
    """Everything that qualifies a cell's figures, as short visible labels with the full reason."""
    found = []
    if cell.lower_bound:
        found.append(Badge("lower bound", "LOWER BOUND: the load generator saturated, so it was measured, not the "
                           "server; not ranked", severe=True))
    for flag in cell.saturation or []:
        found.append(Badge(_flag_label(flag), flag, severe=flag.startswith(("under-delivery:", "over-delivery:"))))
    for note in cell.notes:
        label = note_label(note)
        found.append(Badge(label, note, severe=label == "slow service"))
    if cell.ok_reps == 0:
        found.append(Badge("no successful repetition", "no successful repetition", severe=True))
    elif cell.failed_reps:
        found.append(Badge(f"{cell.failed_reps} failed", f"{cell.failed_reps} failed repetition(s)"))
    if cell.throughput is not None and not cell.throughput.has_interval:
        found.append(Badge(f"n={cell.throughput.n}: no interval", too_few_text(cell.throughput.n)))
    return found


def note_label(note):
    """The few words that name an analysis note: "busy machine", "loadgen re-run", "slow service", "slow stop"."""
    if "busy machine" in note:
        return "busy machine"
    if note.startswith("re-run with"):
        return "loadgen re-run"
    if note.startswith("placement not held"):
        return "placement not held"
    return note.split(":", 1)[0]


def _flag_label(flag):
    """The few words of an analysis flag that name it: "loadgen CPU 97%", "under-delivery", ..."""
    if flag.startswith("loadgen CPU"):
        return " ".join(flag.split()[:3])
    if " in the worst repetition only" in flag:
        return flag.split(" in the worst")[0] + " (worst rep)"
    return flag.split(":")[0]


def point_order(run):
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
    order = models.all_models()
    return order.index(server) if server in order else len(order)


# ---------------------------------------------------------------- failures and footer


def failure_blocks(run):
    failed = [record for record in run.records if record.status == "failed"]
    blocks = [Heading(2, "Failures")]
    unsupported = unsupported_servers(run)
    if unsupported:
        blocks.append(Paragraph("Unsupported on this platform (not failures; no figures): " + "; ".join(
            f"{server} ({one_line(reason)})" for server, reason in sorted(unsupported.items())) + "."))
    blocks += skipped_blocks(run)
    if not failed:
        return blocks + [Paragraph("No failures: every record succeeded.")]
    order = point_order(run)
    failed.sort(key=lambda r: (order.get(r.point_id, len(order)), _server_rank(r.server), r.variant, r.rep))
    blocks.append(Paragraph(f"{len(failed)} failed record(s). Each record file keeps the load generator's and the "
                            "server's stderr (loadgen_stderr, server_stderr)."))
    rows = [[record.point_id, record.server, record.variant, str(record.rep), one_line(record.failure),
             relative(record.path, run.path)] for record in failed]
    blocks.append(Table(["point", "server", "variant", "rep", "failure", "record"], rows, numeric={3}))
    return blocks


def skipped_blocks(run):
    """The cells the run left out (manifest `skipped`): a server that is not on
    this platform (reference-epoll on Windows), a point past a connection limit."""
    skipped = run.manifest.get("skipped") or []
    if not skipped:
        return []
    points_of = {}
    for entry in skipped:
        points_of.setdefault((entry.get("server"), entry.get("reason")), []).append(entry.get("point"))
    every_point = len(run.manifest.get("points") or [])
    parts = [f"{server} at {'every point' if len(points) >= every_point else ', '.join(map(str, points))} "
             f"(skipped: {one_line(reason)})" for (server, reason), points in points_of.items()]
    return [Paragraph("Not run (neither failures nor figures): " + "; ".join(parts) + ".")]


def files_blocks():
    """Where the figures come from and the files for scripts (written by report/exports.py)."""
    return [Heading(2, "Files"),
            Paragraph("The raw data and the exports, relative to this report (summary.json follows the schema "
                      "winsock-bench/summary/2, harness/report/summary.schema.json in the repository):"),
            Links([("the run folder (raw data)", "."), ("manifest.json: what was planned, on what machine",
                                                       "manifest.json"),
                   ("points/: one record per repetition, with the load generator's full output", "points/"),
                   ("summary.json: every cell's estimates, intervals, flags; every pair's verdict; the rankings", "summary.json"),
                   ("summary.csv: one row per cell", "summary.csv"),
                   ("hgrm/: each cell's merged latency histogram as HdrHistogram percentiles", "hgrm/"),
                   ("report.md: this report in Markdown", "report.md")])]


def footer_blocks(run):
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [Heading(2, "Reproduce"),
            Paragraph("The command that runs this again (same suite, seed, servers and repetitions); "
                      "python3 -m harness compare then compares the two runs:"),
            Code(reproduce_command(run.manifest)),
            Paragraph(f"Report written {written} by harness/report/.")]


def _repetitions_text(manifest):
    adaptive = manifest.get("repetitions") or {}
    if not adaptive.get("adaptive"):
        return f"{manifest.get('reps', '?')} repetitions"
    return (f"{adaptive.get('min', '?')}-{adaptive.get('max', '?')} adaptive repetitions "
            f"({adaptive.get('rounds', '?')} rounds, stopped by {adaptive.get('stopped_by', '?')})")


def placement_option(manifest):
    placement = store.placement_of(manifest)
    return f" --placement {placement['mode']}" if placement else ""


def reproduce_command(manifest):
    suite = manifest.get("suite", "?")
    suite_file = manifest.get("suite_file") or ""
    if suite_file and not suite_file.startswith("harness/suites/"):
        suite = suite_file  # a suite from outside harness/suites is found by its path
    suite = shlex.quote(str(suite))
    servers = shlex.quote(",".join(manifest.get("servers") or []))
    # an adaptive run is repeated by the suite's own [repetitions], not by its first round's count
    adaptive = (manifest.get("repetitions") or {}).get("adaptive")
    options = (f"--suite {suite} --seed {manifest.get('seed', '?')} --servers {servers}"
               + ("" if adaptive else f" --reps {manifest.get('reps', '?')}") + placement_option(manifest))
    for name, value in (manifest.get("overrides") or {}).items():  # run --duration/--warmup/--points
        options += f" --{name} {shlex.quote(str(value))}"
    variants = manifest.get("variants") or {}
    if "base" in variants:
        base = (variants["base"] or {}).get("commit") or "BASE"
        return f"python3 -m harness ab --base {base[:12]} {options}"
    return f"python3 -m harness run {options}"



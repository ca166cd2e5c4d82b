"""What one record says, read figure by figure: the readers of a run's records
(harness/README.md, "A record") and the limits they are judged against.

Below both harness.run (which reads its records as it goes: the progress
line, the load generator's auto-scaling, the adaptive rounds) and
harness.analysis (which summarizes them into cells), so the two read a record
the same way without depending on each other.

Units: latencies in microseconds (the load generator's histograms are in ns),
throughput in messages/s (churn: operations/s), CPU in microseconds per
message, memory in bytes. Every reader returns None when the record lacks
what it needs."""
from harness import stats


LOADGEN_CPU_LIMIT = 0.90  # of one core per loadgen thread
RATE_SHORTFALL_LIMIT = 0.95  # of the requested rate: below it, under-delivery
RATE_EXCESS_LIMIT = 1.05  # of the requested rate: above it, over-delivery
PERCENTILES = (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99))


def nested(document, *keys):
    """document[key][key]...; None as soon as a level is missing or not a dict."""
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def throughput_of(loadgen):
    """Messages/s; churn: operations/s (connections_per_s, falling back on messages)."""
    if nested(loadgen, "config", "workload") == "churn" and nested(loadgen, "connections_per_s") is not None:
        return float(loadgen["connections_per_s"])
    if nested(loadgen, "messages_per_s") is not None:
        return float(loadgen["messages_per_s"])
    messages, duration = nested(loadgen, "totals", "messages"), nested(loadgen, "totals", "duration_s")
    return messages / duration if messages is not None and duration else None


def p99_us_of(loadgen):
    """The repetition's p99 (us): percentile_us_of(loadgen, "p99")."""
    return percentile_us_of(loadgen, "p99")


def percentile_us_of(loadgen, name):
    """One repetition's percentile (a PERCENTILES name, or "max"), in us: the load
    generator's own figure (it knows the exact maximum), else the same definition
    computed from its histogram (nearest rank, the bucket's upper end clamped to the
    maximum: stats.histogram_percentile)."""
    reported = nested(loadgen, "latency_us", name)
    if reported is not None:
        return float(reported)
    histogram = nested(loadgen, "histogram")
    if not histogram:
        return None
    percent = 100 if name == "max" else dict(PERCENTILES)[name]
    return stats.histogram_percentile(histogram, percent, maximum=max_latency_ns_of(loadgen)) / 1000


def max_latency_ns_of(loadgen):
    maximum = nested(loadgen, "latency_us", "max")
    return None if maximum is None else round(maximum * 1000)


def cpu_us_per_message_of(loadgen, server_stats):
    """Server CPU (user + kernel) over the messages measured. The server's CPU covers
    its whole life, warm-up included, so this is an upper bound (harness/README.md)."""
    user, kernel = nested(server_stats, "cpu_user_s"), nested(server_stats, "cpu_kernel_s")
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
    messages = nested(loadgen, "totals", "messages")
    return cpu_s * 1e6 / messages if messages else None


def record_field(record, name):
    """A field the run side added to records (wineserver_cpu_s, machine,
    loadgen_autoscale: harness/README.md, "A record"); None when the record has none."""
    return getattr(record, name, None)


def connections_held(loadgen, server_stats):
    """Connections the server held at once: its own peak_connections when it reports
    one, else what the load generator opened (active, plus idle ones for idle)."""
    peak = nested(server_stats, "peak_connections")
    if peak:
        return peak
    config = nested(loadgen, "config") or {}
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
    working_set = nested(server_stats, "peak_working_set_bytes")
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
    parts = nested(loadgen, "hosts")
    if parts:
        shares = [(share, part.get("host")) for share, part in ((_own_cpu_share(p), p) for p in parts)
                  if share is not None]
        return max(shares, key=lambda found: found[0]) if shares else (None, None)
    return _own_cpu_share(loadgen), None


def _own_cpu_share(loadgen):
    """One load generator's CPU over one core per thread. Its CPU time covers the
    warm-up as well, so the wall time is warmup_s + the measured time."""
    cpu = nested(loadgen, "client_cpu_s") or {}
    config = nested(loadgen, "config") or {}
    wall = (config.get("warmup_s") or 0) + (nested(loadgen, "totals", "duration_s") or 0)
    if wall <= 0 or cpu.get("user") is None or cpu.get("system") is None:
        return None
    return (cpu["user"] + cpu["system"]) / wall / max(1, config.get("threads") or 1)


def requested_rate_of(loadgen, loadgen_args):
    for value in (nested(loadgen, "requested_rate"), nested(loadgen, "config", "rate"), loadgen_args.get("rate")):
        if value is not None:
            return float(value)
    return None


def requested_rate_of_cell(workload, loadgens, loadgen_args):
    """The rate a cell's load generator was asked for (its first ok document's, else the
    point's); None outside the rate workload."""
    if workload != "rate":
        return None
    return requested_rate_of(loadgens[0] if loadgens else None, loadgen_args)


def is_ok_record(record):
    """Whether a record enters the statistics: ok, with the load generator's document."""
    return record.ok and isinstance(record.loadgen, dict)


def ok_records(records):
    return [record for record in records if is_ok_record(record)]


def taken_on_busy_machine(record):
    """Whether other processes (or the hypervisor: steal counts) used the
    CPUs while the repetition ran (harness.run.noise sets the flag)."""
    machine = record_field(record, "machine")
    return isinstance(machine, dict) and bool(machine.get("busy"))


def quiet_records(records):
    """The ok records taken on a quiet machine."""
    return [record for record in ok_records(records) if not taken_on_busy_machine(record)]


def measured_records(records):
    """The repetitions a cell's figures come from: its ok records, less the
    ones taken on a busy machine once enough quiet ones remain for a median's
    95% interval (stats.min_reps_for_interval: 6); with fewer, all of them.

    Why set them aside: they measure the machine, not the server. In a
    default run on this project's 2-CPU virtual machine while the host was
    busy, 253 of 1,198 repetitions were taken on a busy machine (mostly
    steal), and their throughput was a median 0.57x their cell's quiet
    median (10th percentile 0.27x); the Winsock cells' throughput CV was
    0.23 (median) with them and 0.14 with them set aside
    (scripts/measure/run_quality.py). The run retakes them
    (harness.run.rounds), so a cell rarely falls back to all."""
    quiet = quiet_records(records)
    return quiet if len(quiet) >= stats.min_reps_for_interval() else ok_records(records)


def measured_by_cell(records):
    """{(point, server, variant): its measured_records}, in the records' order."""
    by_cell = {}
    for record in records:
        by_cell.setdefault((record.point_id, record.server, record.variant), []).append(record)
    return {cell: measured_records(cell_records) for cell, cell_records in by_cell.items()}


def loadgen_bound(ok):
    """Whether the load generator still saturated in some repetition (its CPU at the
    limit, or the run side's auto-scaling ran out of threads): then the load
    generator is measured, not the server."""
    for record in ok:
        share = loadgen_cpu_share_of(record.loadgen)
        if (share is not None and share >= LOADGEN_CPU_LIMIT) or \
                nested(record_field(record, "loadgen_autoscale"), "saturated"):
            return True
    return False

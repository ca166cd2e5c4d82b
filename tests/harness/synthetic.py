"""Synthetic run folders for tests: no server, no load generator, no network.

    write_run(path, cells, *, points=None, throughput=None, failures=(), edit=None,
              suite="synthetic", seed=1) -> Path

writes a complete run folder in the format of harness/README.md (manifest.json and
points/<point-id>/<server>.<variant>.r<rep>.json) and returns its path.

cells       {(point_id, server): [latencies_us of rep 0, of rep 1, ...]}: one list of
            latency samples (microseconds) per repetition; the variant is "current".
            A key may also be (point_id, server, variant), e.g. for `ab` runs.
            Each repetition becomes an "ok" record whose loadgen document holds a
            histogram in the load generator's own bucket layout built from those
            samples, and latency summaries computed the way the load generator does.
points      {point_id: {"workload": ..., "loadgen_args": {...}, "sweep": {...} | None,
            "server_args": [...]}}, every key optional. By default the workload is the
            point id up to its first "-" and the arguments are the load generator's
            defaults (duration 2 s, warm-up 0.5 s).
throughput  {same key as cells: [messages/s of each rep]}. By default a closed loop:
            connections * 1e6 / mean latency; for the rate workload, the requested rate.
            totals.messages is throughput * duration, so it is NOT the histogram's count
            (that is the number of samples given): keep sample lists small, tests fast.
failures    [(point_id, server, variant, rep, reason)]: "failed" records, written in
            addition to the ok ones (use a rep number the cell's ok reps do not use).
edit        edit(record) -> None, called on each ok record (a dict) before it is written:
            the hook for anything else, e.g. record["loadgen"]["client_cpu_s"]["user"] = 2.4.

Records hold those fields too: wineserver_cpu_s (twice the server's CPU for a
Winsock server, null for reference-epoll), machine (not busy) and
loadgen_autoscale (null); edit() changes them.

example_run(path) -> Path writes a ready-made run: a pingpong connections sweep
(1/16/128), a rate sweep, churn and an idle sweep, x iocp, overlapped, wsapoll,
select and reference-epoll, x EXAMPLE_REPS repetitions (6, the fewest with a 95% interval),
one failed record (select, pingpong-c128, its last repetition),
one loadgen-CPU saturation (reference-epoll, pingpong-c128) and one rate shortfall
(select, rate-r40000).

histogram_from_ns(values) -> [[low_ns, high_ns, count], ...] and
latency_summary_us(values_ns) mirror loadgen/histogram.c, for tests that need them.
"""
import json
import math
import random
import statistics
from pathlib import Path

NATIVE_SERVERS = {"reference-epoll"}

# The load generator's histogram layout (loadgen/histogram.c): values below 256 ns
# have a bucket each, then every power of two is split into 128 buckets.
SUB_BITS = 7
SUB_BUCKETS = 1 << SUB_BITS
HISTOGRAM_MAX_NS = 1 << 37
UINT64_MAX = (1 << 64) - 1

DEFAULT_ARGS = {"connections": 1, "size": 64, "duration": 2, "warmup": 0.5}
WORKLOAD_DEFAULTS = {"rate": {"rate": 10000}, "churn": {"concurrency": 1}, "idle": {"idle": 1000},
                     "pipeline": {"depth": 16}}

# Server CPU per message (microseconds) and bytes of working set per connection, so
# the synthetic servers differ in the directions one would expect, nothing more.
SERVER_COST_US = {"reference-epoll": 8, "iocp": 30, "overlapped": 35, "wsapoll": 40,
                  "select": 45, "thread": 50, "asyncselect": 60}
SERVER_BYTES_PER_CONNECTION = {"thread": 1 << 20, "reference-epoll": 4096}


def bucket_of(value_ns):
    shift = 0 if value_ns < 2 * SUB_BUCKETS else value_ns.bit_length() - 1 - SUB_BITS
    return shift * SUB_BUCKETS + (value_ns >> shift)


def bucket_range(index):
    if index < 2 * SUB_BUCKETS:
        return index, index
    shift = index // SUB_BUCKETS - 1
    low = (index - shift * SUB_BUCKETS) << shift
    return low, min(low + (1 << shift) - 1, HISTOGRAM_MAX_NS)


def histogram_from_ns(values_ns):
    """The load generator's JSON histogram of these values (integers, ns)."""
    counts, saturated = {}, 0
    for value in values_ns:
        if value > HISTOGRAM_MAX_NS:
            saturated += 1
        else:
            index = bucket_of(value)
            counts[index] = counts.get(index, 0) + 1
    buckets = [[*bucket_range(i), counts[i]] for i in sorted(counts)]
    if saturated:
        buckets.append([HISTOGRAM_MAX_NS + 1, UINT64_MAX, saturated])
    return buckets


def _percentile_ns(sorted_ns, percent):
    """As histogram_percentile() in loadgen/histogram.c: the upper bound of the
    bucket holding the nearest-rank value, clamped to [min, max]."""
    rank = max(1, min(len(sorted_ns), math.ceil(percent / 100 * len(sorted_ns) - 1e-9)))
    value = sorted_ns[rank - 1]
    if value > HISTOGRAM_MAX_NS:
        return HISTOGRAM_MAX_NS
    high = bucket_range(bucket_of(value))[1]
    return max(sorted_ns[0], min(high, sorted_ns[-1]))


def latency_summary_us(values_ns):
    ordered = sorted(values_ns)
    summary = {name: round(_percentile_ns(ordered, p) / 1000, 3)
               for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99))}
    summary["max"] = round(ordered[-1] / 1000, 3)
    summary["mean"] = round(statistics.fmean(ordered) / 1000, 3)
    summary["stddev"] = round(statistics.pstdev(ordered) / 1000, 3)
    summary["count"] = len(ordered)
    return summary


def _to_ns(latencies_us):
    return [max(1, round(value * 1000)) for value in latencies_us]


def _point(point_id, spec):
    spec = dict(spec or {})
    workload = spec.get("workload", point_id.split("-", 1)[0])
    args = {**DEFAULT_ARGS, **WORKLOAD_DEFAULTS.get(workload, {}), **spec.get("loadgen_args", {})}
    return {"id": point_id, "workload": workload, "loadgen_args": args,
            "server_args": list(spec.get("server_args", [])), "sweep": spec.get("sweep")}


def _loadgen_document(point, samples_ns, rate_per_s):
    args, workload = point["loadgen_args"], point["workload"]
    duration, warmup = float(args["duration"]), float(args["warmup"])
    messages = round(rate_per_s * duration)
    summary = latency_summary_us(samples_ns)
    config = {"host": "127.0.0.1", "port": 40000, "workload": workload,
              "connections": args["connections"], "size": args["size"], "duration_s": duration,
              "warmup_s": warmup, "messages": args.get("messages"), "depth": args.get("depth", 16),
              "rate": args.get("rate"), "concurrency": args.get("concurrency", 1),
              "idle": args.get("idle", 1000), "threads": args.get("threads", 1), "seed": 1,
              "verify": True, "json": "-", "csv": None, "connect_timeout_s": 5, "timeout_s": 10}
    document = {
        "schema": "winsock-bench/loadgen/1", "config": config,
        "environment": {"os": "Linux 6.1.0 x86_64", "cpu_model": "Synthetic CPU", "cpu_count": 2,
                        "host_name": "synthetic"},
        "totals": {"messages": messages, "bytes": messages * args["size"], "duration_s": duration},
        "messages_per_s": messages / duration, "bytes_per_s": messages * args["size"] / duration,
        "latency_us": summary,
    }
    if workload == "rate":
        document["latency_uncorrected_us"] = latency_summary_us([max(1, v // 2) for v in samples_ns])
        document["requested_rate"] = float(args["rate"])
        document["achieved_rate"] = messages / duration
    if workload == "churn":
        document["connect_latency_us"] = latency_summary_us([max(1, v * 7 // 10) for v in samples_ns])
        document["connections"] = messages
        document["connections_per_s"] = messages / duration
    seconds = max(1, round(duration))
    document["histogram"] = histogram_from_ns(samples_ns)
    document["time_series"] = [{"second": s, "messages": messages // seconds, "p99_us": summary["p99"],
                                "errors": 0} for s in range(seconds)]
    # A loadgen thread that is busy 60% of the time: below the saturation mark.
    busy = 0.6 * (duration + warmup) * config["threads"]
    document["client_cpu_s"] = {"user": round(busy * 0.2, 6), "system": round(busy * 0.8, 6)}
    document["errors"] = {"mismatch": 0, "early_close": 0, "reset": 0, "connect_failed": 0, "timeout": 0}
    document.update({"ended_early": False, "fatal": None, "exit_code": 0})
    return document


def _connections_held(point):
    args = point["loadgen_args"]
    if point["workload"] == "churn":
        return args.get("concurrency", 1)
    return args["connections"] + (args.get("idle", 0) if point["workload"] == "idle" else 0)


def _server_lines(server, point, messages):
    args = point["loadgen_args"]
    held = _connections_held(point)
    threads = {"reference-epoll": 1, "thread": 2 + held, "iocp": 4,
               "select": 2 + math.ceil(held / 64)}.get(server, 2)
    ready = {"event": "ready", "model": server, "port": 40000, "pid": 4242, "bind": "127.0.0.1",
             "family": "ipv4", "buffer": 16384, "threads": 2 if server == "iocp" else 0,
             "accept_pool": 32 if server in ("iocp", "overlapped") else 0, "max_connections": 0}
    served = messages * (1 + float(args["warmup"]) / float(args["duration"]))
    cpu = served * SERVER_COST_US.get(server, 40) / 1e6
    bytes_moved = round(served) * args["size"]
    stats = {"event": "stats", "model": server, "connections_accepted": held + 1, "connections_refused": 0,
             "peak_connections": held, "bytes_received": bytes_moved, "bytes_sent": bytes_moved,
             "errors": {"accept": 0, "recv": 0, "send": 0, "reset": 0, "resource": 0},
             "cpu_user_s": round(cpu * 0.3, 6), "cpu_kernel_s": round(cpu * 0.7, 6),
             "peak_working_set_bytes": (8 << 20) + held * SERVER_BYTES_PER_CONNECTION.get(server, 16384),
             "peak_threads": threads, "run_time_s": float(args["duration"]) + float(args["warmup"]) + 0.1}
    return ready, stats


def _default_throughput(point, samples_ns):
    if point["workload"] == "rate":
        return float(point["loadgen_args"]["rate"])
    outstanding = point["loadgen_args"].get("concurrency", 1) if point["workload"] == "churn" \
        else point["loadgen_args"]["connections"]
    return outstanding * 1e9 / statistics.fmean(samples_ns)


def _record(point, server, variant, rep):
    return {"schema": "winsock-bench/point/1",
            "point": {key: point[key] for key in ("id", "workload", "loadgen_args", "server_args")},
            "server": server, "variant": variant, "rep": rep,
            "started_at": "2026-11-25T07:00:00Z", "loadgen_stderr": "", "server_stderr": ""}


def _ok_record(point, server, variant, rep, samples_us, rate_per_s):
    samples_ns = _to_ns(samples_us)
    if rate_per_s is None:
        rate_per_s = _default_throughput(point, samples_ns)
    loadgen = _loadgen_document(point, samples_ns, rate_per_s)
    ready, stats = _server_lines(server, point, loadgen["totals"]["messages"])
    record = _record(point, server, variant, rep)
    record.update({"status": "ok", "failure": None, "elapsed_s": loadgen["totals"]["duration_s"] + 1,
                   "loadgen": loadgen, "loadgen_exit": 0, "server_ready": ready, "server_stats": stats})
    server_cpu = stats["cpu_user_s"] + stats["cpu_kernel_s"]
    record["wineserver_cpu_s"] = None if server in NATIVE_SERVERS else round(2 * server_cpu, 6)
    record["machine"] = {"other_cpu_cores": 0.05, "loadavg_before": [0.3, 0.4, 0.5], "governor": None,
                         "busy": False}
    record["loadgen_autoscale"] = None
    return record


def _failed_record(point, server, variant, rep, reason):
    record = _record(point, server, variant, rep)
    ready, _ = _server_lines(server, point, 0)
    record.update({"status": "failed", "failure": reason, "elapsed_s": 1.0, "loadgen": None,
                   "loadgen_exit": 1, "server_ready": ready, "server_stats": None,
                   "loadgen_stderr": f"loadgen: {reason}"})
    return record


def _key(key):
    return (key[0], key[1], key[2] if len(key) > 2 else "current")


def _write_json(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


def write_run(path, cells, *, points=None, throughput=None, failures=(), edit=None,
              suite="synthetic", seed=1):
    """Write a run folder at path (see the module docstring) and return its Path."""
    path = Path(path)
    points = points or {}
    throughput = {_key(k): v for k, v in (throughput or {}).items()}
    point_ids = list(dict.fromkeys([*points, *(k[0] for k in cells), *(f[0] for f in failures)]))
    specs = {pid: _point(pid, points.get(pid)) for pid in point_ids}
    servers, variants, plan = [], [], []

    def note(point_id, server, variant, rep):
        for seen, name in ((servers, server), (variants, variant)):
            if name not in seen:
                seen.append(name)
        plan.append({"point": point_id, "server": server, "variant": variant, "rep": rep})

    reps = 0
    for key, repetitions in cells.items():
        point_id, server, variant = _key(key)
        rates = throughput.get((point_id, server, variant))
        for rep, samples in enumerate(repetitions):
            record = _ok_record(specs[point_id], server, variant, rep, samples, rates[rep] if rates else None)
            if edit:
                edit(record)
            _write_json(path / "points" / point_id / f"{server}.{variant}.r{rep}.json", record)
            note(point_id, server, variant, rep)
        reps = max(reps, len(repetitions))
    for point_id, server, variant, rep, reason in failures:
        record = _failed_record(specs[point_id], server, variant, rep, reason)
        _write_json(path / "points" / point_id / f"{server}.{variant}.r{rep}.json", record)
        note(point_id, server, variant, rep)
        reps = max(reps, rep + 1)

    manifest = {
        "schema": "winsock-bench/run/1", "suite": suite, "suite_file": f"harness/suites/{suite}.toml",
        "suite_text": "# synthetic\n", "seed": seed, "reps": reps, "servers": servers,
        "variants": {v: {"commit": "0" * 40, "dirty": False, "servers_dir": "build/mingw/servers"}
                     for v in variants or ["current"]},
        "points": [specs[pid] for pid in point_ids], "plan": plan,
        "platform": {"os": "Linux", "kernel": "6.1.0", "distribution": "Debian GNU/Linux 12",
                     "wine": "wine-8.0 (Debian 8.0~repack-4)", "compiler": "x86_64-w64-mingw32-gcc 12-win32",
                     "cpu_model": "Synthetic CPU", "cpu_count": 2, "python": "3.11.2"},
        "pin": None, "started_at": "2026-11-25T07:00:00Z", "finished_at": "2026-11-25T07:10:00Z",
    }
    _write_json(path / "manifest.json", manifest)
    return path


# ---- example_run: a small but complete run for report and chart tests ----

EXAMPLE_SERVERS = ["iocp", "overlapped", "wsapoll", "select", "reference-epoll"]  # 4 Winsock models: a tau
EXAMPLE_REPS = 6
# Ping-pong round trip with one connection (us), and how much each extra connection adds.
EXAMPLE_BASE_US = {"reference-epoll": 30.0, "iocp": 90.0, "overlapped": 100.0, "wsapoll": 110.0, "select": 120.0}
EXAMPLE_PER_CONNECTION = {"reference-epoll": 0.02, "iocp": 0.05, "overlapped": 0.065, "wsapoll": 0.08,
                          "select": 0.12}


def example_points():
    points = {}
    for connections in (1, 16, 128):
        points[f"pingpong-c{connections}"] = {
            "workload": "pingpong", "loadgen_args": {"connections": connections},
            "sweep": {"name": "pingpong-connections", "param": "connections", "value": connections}}
    for rate in (1000, 10000, 40000):
        points[f"rate-r{rate}"] = {
            "workload": "rate", "loadgen_args": {"rate": rate, "connections": 16},
            "sweep": {"name": "rate-rate", "param": "rate", "value": rate}}
    points["churn-k4"] = {"workload": "churn", "loadgen_args": {"concurrency": 4}, "sweep": None}
    for idle in (100, 1000):
        points[f"idle-i{idle}"] = {
            "workload": "idle", "loadgen_args": {"idle": idle, "connections": 1},
            "sweep": {"name": "idle-idle", "param": "idle", "value": idle}}
    return points


def _example_latency_us(server, point):
    args = {**DEFAULT_ARGS, **point["loadgen_args"]}
    base = EXAMPLE_BASE_US[server]
    if point["workload"] == "pingpong":
        return base * (1 + EXAMPLE_PER_CONNECTION[server] * args["connections"])
    if point["workload"] == "rate":
        return base * (1 + EXAMPLE_PER_CONNECTION[server] * args["rate"] / 1000)
    if point["workload"] == "idle":
        return base * (1 + EXAMPLE_PER_CONNECTION[server] * args["idle"] / 100)
    return base * 3  # churn: connect, one echo, close


def example_run(path, samples_per_rep=300, seed=7):
    """Write the ready-made run described in the module docstring; return its Path."""
    rng = random.Random(seed)
    points = example_points()
    cells, throughput = {}, {}
    for point_id, point in points.items():
        for server in EXAMPLE_SERVERS:
            typical = _example_latency_us(server, point)
            reps = []
            for _ in range(EXAMPLE_REPS):
                drift = 1 + rng.gauss(0, 0.03)  # repetition-to-repetition noise
                reps.append([typical * drift * rng.lognormvariate(0, 0.25) * (5 if rng.random() < 0.003 else 1)
                             for _ in range(samples_per_rep)])
            cells[(point_id, server)] = reps
    last = EXAMPLE_REPS - 1
    cells[("pingpong-c128", "select")] = cells[("pingpong-c128", "select")][:last]
    throughput[("rate-r40000", "select")] = [40000 * 0.8 * (1 + 0.01 * i) for i in range(EXAMPLE_REPS)]

    def saturate_loadgen(record):
        if record["server"] == "reference-epoll" and record["point"]["id"] == "pingpong-c128":
            config = record["loadgen"]["config"]
            busy = 0.97 * (config["duration_s"] + config["warmup_s"])
            record["loadgen"]["client_cpu_s"] = {"user": round(busy * 0.2, 6), "system": round(busy * 0.8, 6)}

    failures = [("pingpong-c128", "select", "current", last, "loadgen exited 1: 3 connections reset by the server")]
    return write_run(path, cells, points=points, throughput=throughput, failures=failures,
                     edit=saturate_loadgen, suite="example", seed=seed)


def options_run(path):
    """iocp at one ping-pong setting with three option sets (as the iocp-variants
    suite runs it), plus select at a point of its own: --batch 16 clearly faster,
    --skip-on-success the same as no options."""
    rates = {"plain-pingpong-c64": 5000.0, "batch-pingpong-c64": 8000.0, "skip-pingpong-c64": 5000.0}
    args = {"plain-pingpong-c64": [], "batch-pingpong-c64": ["--batch", "16"],
            "skip-pingpong-c64": ["--skip-on-success"]}
    points = {pid: {"workload": "pingpong", "loadgen_args": {"connections": 64}, "server_args": args[pid]}
              for pid in rates}
    points["pingpong-c1"] = {"workload": "pingpong", "loadgen_args": {"connections": 1}}
    reps = 6
    cells = {(pid, "iocp"): [[50.0] * 20] * reps for pid in rates}
    cells[("pingpong-c1", "select")] = [[50.0] * 20] * reps
    throughput = {(pid, "iocp"): [rate * (1 + 0.01 * rep) for rep in range(reps)] for pid, rate in rates.items()}
    return write_run(path, cells, points=points, throughput=throughput)


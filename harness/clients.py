"""Load from several client hosts at once (hosts files: harness/hosts.py).

One load generator saturates a core long before a real Windows server does,
so a point's load can be spread over client hosts: each runs loadgen over SSH
with its share of the connections (split_load), they all connect first and
are released together (loadgen --barrier), and their documents are merged
into one (merge_documents) that reads like a single load generator's, with
each host's own figures kept beside it.

Merging is exact where the data allow it: counts add, and latency
histograms add bucket by bucket, so the merged percentiles are those of all
the messages together. Where a host only reports a summary (the per-second
p99, churn's connect latency) the merged figure is the worst host's, and
says so (`merged_by`)."""
import json
import queue
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from harness import stats
from harness.loadgen import STDERR_TAIL, describe_failure, format_number, parse_document

# Counts a point gives for the whole load, divided among the hosts.
DIVIDED = ("connections", "idle", "concurrency", "messages")
PERCENTILES = (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99))
RELEASE_LINE = "go\n"


class ClientsError(Exception):
    """A multi-host load that cannot run; one line naming the host."""


def _shares(total, count):
    """total split in count whole parts, the first ones one larger."""
    return [total // count + (1 if index < total % count else 0) for index in range(count)]


def split_load(loadgen_args, workload, hosts):
    """Each host's loadgen options: its share of the point's connections (churn:
    concurrency), idle connections and message quota; the rate in proportion to
    its connections; threads never more than its connections. ClientsError when
    a host would get no active connection."""
    count = len(hosts)
    active_key = "concurrency" if workload == "churn" else "connections"
    active = int(loadgen_args.get(active_key, 1))
    if active < count:
        raise ClientsError(f"{active} {active_key} cannot be split over {count} client hosts "
                           f"({', '.join(h.name for h in hosts)}): give each host at least one")
    divided = {key: _shares(int(loadgen_args[key]), count) for key in DIVIDED if key in loadgen_args}
    divided.setdefault(active_key, _shares(active, count))
    result = []
    for index in range(count):
        options = dict(loadgen_args)
        for key, parts in divided.items():
            options[key] = parts[index]
        if "rate" in loadgen_args:
            options["rate"] = float(loadgen_args["rate"]) * divided[active_key][index] / active
        if "threads" in options:
            options["threads"] = max(1, min(int(options["threads"]), divided[active_key][index]))
        result.append(options)
    return result


# ---- merging ----------------------------------------------------------------

def merge_histograms(histograms):
    """[low_ns, high_ns, count] buckets of several histograms added bucket by
    bucket: what one histogram of all their values would hold."""
    counts = {}
    for histogram in histograms:
        for low, high, count in histogram or []:
            counts[(low, high)] = counts.get((low, high), 0) + count
    return [[low, high, count] for (low, high), count in sorted(counts.items()) if count]


def _summary_of(histogram, summaries):
    """latency_us of a merged histogram: its percentiles (nearest rank, the
    bucket's upper bound, as loadgen computes them), the hosts' extreme maximum,
    and the mean weighted by count."""
    count = sum(c for _, _, c in histogram)
    if not count:
        return {name: 0.0 for name, _ in PERCENTILES} | {"max": 0.0, "mean": 0.0, "count": 0}
    maximum_us = max(s.get("max", 0.0) for s in summaries)
    maximum_ns = round(maximum_us * 1000)
    result = {name: stats.histogram_percentile(histogram, p, maximum_ns) / 1000 for name, p in PERCENTILES}
    weighted = sum(s.get("mean", 0.0) * s.get("count", 0) for s in summaries)
    result.update(max=maximum_us, mean=weighted / count, count=count)
    return result


def _merge_series(documents):
    """Per second: messages and errors added, p99 the worst host's."""
    seconds = {}
    for document in documents:
        for sample in document.get("time_series") or []:
            merged = seconds.setdefault(sample["second"], {"second": sample["second"], "messages": 0,
                                                           "p99_us": 0.0, "errors": 0})
            merged["messages"] += sample.get("messages", 0)
            merged["errors"] += sample.get("errors", 0)
            merged["p99_us"] = max(merged["p99_us"], sample.get("p99_us", 0.0))
    return [seconds[s] for s in sorted(seconds)]


def _sum(documents, *keys):
    total = 0
    for document in documents:
        value = document
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        total += value or 0
    return total


def merge_documents(named):
    """One loadgen document (schema winsock-bench/loadgen/1) from [(host name,
    document)], plus `hosts` (each host's own figures) and `start_spread_s`
    (how far apart the hosts' clocks started)."""
    documents = [document for _, document in named]
    first = documents[0]
    config = dict(first["config"])
    for key in ("connections", "idle", "concurrency", "threads"):
        config[key] = _sum(documents, "config", key)
    if config.get("messages") is not None:
        config["messages"] = _sum(documents, "config", "messages")
    if config.get("rate") is not None:
        config["rate"] = _sum(documents, "config", "rate")
    histogram = merge_histograms(d.get("histogram") for d in documents)
    merged = {
        "schema": first["schema"], "config": config, "environment": first.get("environment"),
        "totals": {"messages": _sum(documents, "totals", "messages"), "bytes": _sum(documents, "totals", "bytes"),
                   "duration_s": max(_sum([d], "totals", "duration_s") for d in documents)},
        "messages_per_s": _sum(documents, "messages_per_s"), "bytes_per_s": _sum(documents, "bytes_per_s"),
        "latency_us": _summary_of(histogram, [d.get("latency_us") or {} for d in documents]),
        "histogram": histogram,
        "time_series": _merge_series(documents),
        "client_cpu_s": {"user": _sum(documents, "client_cpu_s", "user"),
                         "system": _sum(documents, "client_cpu_s", "system")},
        "errors": {kind: _sum(documents, "errors", kind) for kind in first.get("errors", {})},
        "ended_early": any(d.get("ended_early") for d in documents),
        "fatal": "; ".join(f"{n}: {d['fatal']}" for n, d in named if d.get("fatal")) or None,
        "exit_code": max(d.get("exit_code") or 0 for d in documents),
        "merged_by": {"latency_us": "histograms added bucket by bucket",
                      "time_series.p99_us": "the worst host's"},
    }
    for key in ("requested_rate", "achieved_rate", "connections", "connections_per_s"):
        if key in first:
            merged[key] = _sum(documents, key)
    if "connect_latency_us" in first:
        merged["connect_latency_us"] = {name: max(_sum([d], "connect_latency_us", name) for d in documents)
                                        for name in first["connect_latency_us"]}
        merged["merged_by"]["connect_latency_us"] = "the worst host's"
    if all(d.get("per_connection") for d in documents):
        merged["per_connection"] = _merge_per_connection([d["per_connection"] for d in documents])
    starts = [d.get("started_at_unix_ns") for d in documents]
    merged["started_at_unix_ns"] = min(starts) if all(starts) else None
    merged["start_spread_s"] = (max(starts) - min(starts)) / 1e9 if all(starts) else None
    merged["hosts"] = [_host_figures(name, document) for name, document in named]
    return merged


def _merge_per_connection(counts):
    """The hosts' per-connection echo counts as one client's: connections and
    served add up, the fewest and most echoes are over every connection."""
    return {"connections": sum(c["connections"] for c in counts), "served": sum(c["served"] for c in counts),
            "min_messages": min(c["min_messages"] for c in counts),
            "max_messages": max(c["max_messages"] for c in counts)}


def _host_figures(name, document):
    return {"host": name, "environment": document.get("environment"), "config": document.get("config"),
            "totals": document.get("totals"), "messages_per_s": document.get("messages_per_s"),
            "latency_us": document.get("latency_us"), "client_cpu_s": document.get("client_cpu_s"),
            "errors": document.get("errors"), "started_at_unix_ns": document.get("started_at_unix_ns"),
            "exit_code": document.get("exit_code"), "fatal": document.get("fatal")}


# ---- running ----------------------------------------------------------------

@dataclass
class HostRun:
    host: object
    process: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    stderr: object = field(default_factory=tempfile.TemporaryFile)
    stdout: list = field(default_factory=list)
    reader: threading.Thread | None = None

    def start_reading(self):
        self.reader = threading.Thread(target=self.read_stdout, daemon=True)
        self.reader.start()

    def read_stdout(self):
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def stderr_tail(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-STDERR_TAIL:]


@dataclass
class ClientsResult:
    document: dict | None        # the merged document, when every host finished with one
    per_host: list               # [(host name, document or None, exit code, stderr tail)]
    failure: str | None          # one line naming the host, when the load is not usable
    argv: dict = field(default_factory=dict)  # host name -> the ssh command line


def loadgen_command(host, server_address, port, workload, options, barrier_timeout):
    args = ["--host", server_address, "--port", str(port), "--workload", workload]
    for option, value in options.items():
        args += [f"--{option}", format_number(value)]
    args += ["--barrier", "--barrier-timeout", format_number(barrier_timeout), "--json", "-"]
    return host.command_line("loadgen", *args)


def _wait_connected(run, deadline):
    """The host's {"event":"connected"} line, or a reason it did not come."""
    while True:
        try:
            line = run.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return "did not connect in time"
        if line is None:
            return f"ended before connecting: {_last_line(run.stderr_tail()) or 'no message'}"
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == "connected":
            return None


def _last_line(text):
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def run_clients(hosts_file, hosts, server_address, port, workload, loadgen_args, connect_timeout, run_timeout):
    """Runs the point's load from `hosts` together; every wait bounded. A host
    that never connects fails the load before it starts (the others are let go
    with end-of-file, so they end without measuring)."""
    shares = split_load(loadgen_args, workload, hosts)
    runs, argv = [], {}
    barrier_timeout = connect_timeout + 30
    try:
        for host, options in zip(hosts, shares):
            command = hosts_file.ssh_argv(host, loadgen_command(host, server_address, port, workload, options,
                                                                barrier_timeout))
            argv[host.name] = command
            run = HostRun(host, None)
            run.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=run.stderr)
            run.start_reading()
            runs.append(run)
        deadline = time.monotonic() + hosts_file.connect_timeout + connect_timeout + 10
        for run in runs:
            reason = _wait_connected(run, deadline)
            if reason:
                return ClientsResult(None, _finish(runs, release=False, timeout=30),
                                     f"client host {run.host.name}: loadgen {reason}", argv)
        return _collect(runs, _finish(runs, release=True, timeout=run_timeout), argv)
    finally:
        for run in runs:
            if run.process and run.process.poll() is None:
                run.process.kill()
                run.process.wait()


def _finish(runs, release, timeout):
    """Releases (or, without release, ends) every host's loadgen and waits for
    them; [(host name, document or None, exit code, stderr tail)]."""
    for run in runs:  # one after the other, at once: the barrier's whole point
        try:
            if release:
                run.process.stdin.write(RELEASE_LINE.encode())
                run.process.stdin.flush()
            run.process.stdin.close()
        except OSError:
            pass  # it has ended already: its exit code says why
    deadline = time.monotonic() + timeout
    results = []
    for run in runs:
        try:
            code = run.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait()
            code = None
        run.reader.join(timeout=10)  # the last lines may still be on their way
        text = "".join(line for line in run.stdout if not line.lstrip().startswith('{"event"'))
        document, _ = parse_document(text.encode())
        results.append((run.host.name, document, code, run.stderr_tail()))
    return results


def _collect(runs, results, argv):
    for name, document, code, stderr in results:
        if code is None:
            return ClientsResult(None, results, f"client host {name}: loadgen did not finish in time", argv)
        problem = describe_failure(code, document, None if document else "wrote no JSON", stderr)
        if problem:
            return ClientsResult(None, results, f"client host {name}: {problem}", argv)
    return ClientsResult(merge_documents([(name, document) for name, document, _, _ in results]), results, None, argv)

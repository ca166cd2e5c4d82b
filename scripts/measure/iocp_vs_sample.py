#!/usr/bin/env python3
"""Our iocp server against Microsoft's iocpserver sample, side by side.

Nothing of Microsoft's is in this repository: build the sample yourself
(Windows-classic-samples, Samples/Win7Samples/netds/winsock/iocp/server) and
give its path. For each connection count, interleaved pairs (ours, then the
sample; again and again) of 64-byte ping-pong with our load generator, each
server started fresh for its run; printed per side: throughput (messages/s)
and p99 (median over the pairs), and the ratio ours/sample of each pair's
throughput (median, and its spread: the lowest and highest pair). The sample
runs under Wine on Linux (scripts/wine-run), directly on Windows.

The sample has no ready line: it is ready when its port accepts a
connection (one probe connection, closed at once). It stops on Ctrl-C
(SIGINT here; its stop is not measured, and a sample still running after a
grace period is killed)."""
import measure_cli  # first: puts the project's harness on the import path

import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import platforms, stats
from harness.analysis import p99_us_of, throughput_of
from harness.loadgen import loadgen_argv, run_loadgen
from harness.servers import EchoServer, ServerError, server_command
from harness.suites import Point
from measure_cli import MeasureError

SCHEMA = "winsock-bench/iocp-vs-sample/1"
DEFAULT_CONNECTIONS = [1, 16, 64]
DEFAULT_PAIRS = 5
DEFAULT_DURATION_S = 5.0
DEFAULT_WARMUP_S = 1.0
MESSAGE_SIZE = 64
# The sample's command line (iocpserver -e:PORT); {port} is replaced.
DEFAULT_SAMPLE_ARGS = "-e:{port}"
SAMPLE_READY_TIMEOUT_S = 60.0
SAMPLE_STOP_GRACE_S = 5.0
LOADGEN_MARGIN_S = 60.0

EPILOG = """\
examples:
  scripts/measure/iocp_vs_sample.py --sample ~/samples/iocpserver.exe
  scripts/measure/iocp_vs_sample.py --sample ./iocpserver.exe --connections 64 --pairs 10 --json pairs.json

Run it on a quiet machine: the pairs are interleaved so that a slow moment
hits both sides, not to make a busy machine's figures worth keeping. On
Windows, both servers run directly: give --servers-dir (the folder of your
build's iocp.exe) and --loadgen (loadgen.exe).
Exit: 0 every run done, 1 a run failed (the others are printed), 2 a bad option."""


@dataclass
class Side:
    """One side of the comparison at one connection count: a run per pair."""
    name: str
    throughput: list = field(default_factory=list)   # messages/s
    p99_us: list = field(default_factory=list)

    def summary(self):
        return {"throughput_median": stats.median(self.throughput) if self.throughput else None,
                "p99_us_median": stats.median(self.p99_us) if self.p99_us else None,
                "throughput": self.throughput, "p99_us": self.p99_us}


@dataclass
class Comparison:
    connections: int
    ours: Side = field(default_factory=lambda: Side("ours"))
    sample: Side = field(default_factory=lambda: Side("sample"))
    failures: list = field(default_factory=list)

    def ratios(self):
        """ours / sample throughput of each complete pair."""
        return [a / b for a, b in zip(self.ours.throughput, self.sample.throughput) if b]

    def to_json(self):
        ratios = self.ratios()
        return {"connections": self.connections, "ours": self.ours.summary(), "sample": self.sample.summary(),
                "ratio_median": stats.median(ratios) if ratios else None,
                "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
                "ratios": ratios, "failures": self.failures}


# --- the two servers ---------------------------------------------------------------

def free_port():
    """A port free on loopback now (the sample takes no port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def windows_program(exe):
    """The argv that runs a Windows executable here: under Wine, except on Windows."""
    return platforms.current().windows_program_launcher() + [str(exe)]


def sample_argv(sample, sample_args, port):
    return windows_program(sample) + [part.replace("{port}", str(port)) for part in sample_args.split()]


class SampleServer:
    """The user's sample (or any echo server started by a command line):
    started in a session of its own, ready once its port accepts."""

    def __init__(self, argv, port, log):
        self.argv, self.port, self.log = argv, port, log
        self.process = None

    def start(self):
        self.process = platforms.current().start(self.argv, own_group=True, stdin=subprocess.DEVNULL,
                                                 stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + SAMPLE_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MeasureError(f"the sample exited (code {self.process.returncode}) before it accepted "
                                   f"a connection on port {self.port}: {' '.join(self.argv)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise MeasureError(f"the sample did not accept a connection on port {self.port} within "
                           f"{SAMPLE_READY_TIMEOUT_S:g} s: {' '.join(self.argv)}")

    def stop(self):
        """The platform's interrupt (Ctrl-C to its process group under Wine), then a kill after the
        grace period. On Windows straight to the kill: Ctrl-Break, the interrupt a single child can
        be sent there, makes the sample restart instead of exit."""
        if self.process is None or self.process.poll() is not None:
            return
        system = platforms.current()
        if system.system != "Windows":
            system.interrupt(self.process)
            try:
                self.process.wait(timeout=SAMPLE_STOP_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                pass
        system.kill(self.process)
        self.process.wait(timeout=10)


def run_load(loadgen, port, connections, duration, warmup):
    """(messages/s, p99 us) of one load generator run, or MeasureError."""
    point = Point(id="iocp-vs-sample", workload="pingpong",
                  loadgen_args={"connections": connections, "duration": duration, "warmup": warmup,
                                "size": MESSAGE_SIZE})
    result = run_loadgen(loadgen_argv(loadgen, point, port), warmup + duration + LOADGEN_MARGIN_S)
    if result.failure:
        raise MeasureError(result.failure)
    return throughput_of(result.document), p99_us_of(result.document)


def run_ours(settings, connections):
    server = EchoServer("iocp", command=windows_program(server_command("iocp", settings.servers_dir)[-1]))
    try:
        server.start()
        figures = run_load(settings.loadgen, server.port, connections, settings.duration, settings.warmup)
        server.stop()
        return figures
    except ServerError as error:
        raise MeasureError(f"iocp: {error.reason}") from None
    finally:
        server.kill()
        server.close()


def run_sample(settings, connections):
    port = free_port()
    sample = SampleServer(sample_argv(settings.sample, settings.sample_args, port), port, settings.sample_log)
    try:
        sample.start()
        return run_load(settings.loadgen, port, connections, settings.duration, settings.warmup)
    finally:
        sample.stop()


def compare_at(settings, connections):
    """The pairs at one connection count: ours, then the sample, in each."""
    comparison = Comparison(connections)
    for pair in range(1, settings.pairs + 1):
        try:
            figures = [run_side(settings, side, run, connections, pair)
                       for side, run in ((comparison.ours, run_ours), (comparison.sample, run_sample))]
        except MeasureError as error:  # an incomplete pair has no ratio: it is left out
            comparison.failures.append(f"pair {pair}: {error}")
            continue
        for side, (throughput, p99) in zip((comparison.ours, comparison.sample), figures):
            side.throughput.append(throughput)
            side.p99_us.append(p99)
    return comparison


def run_side(settings, side, run, connections, pair):
    print(f"c{connections} pair {pair}/{settings.pairs}: {side.name}", file=sys.stderr)
    try:
        return run(settings, connections)
    except MeasureError as error:
        raise MeasureError(f"{side.name}: {error}") from None


# --- the command line ------------------------------------------------------------

def parse_arguments(argv):
    parser = measure_cli.make_parser(__file__, __doc__.splitlines()[0], EPILOG)
    parser.add_argument("--sample", metavar="EXE", required=True,
                        help="the path of your own build of Microsoft's iocpserver sample")
    parser.add_argument("--sample-args", metavar="ARGS", default=DEFAULT_SAMPLE_ARGS,
                        help=f"the sample's arguments, {{port}} replaced by its port (default {DEFAULT_SAMPLE_ARGS!r}; "
                             "write --sample-args=... when they begin with -)")
    parser.add_argument("--connections", type=measure_cli.int_list(1, 100000), default=DEFAULT_CONNECTIONS,
                        metavar="C,C", help="connection counts (default 1,16,64)")
    parser.add_argument("--pairs", type=measure_cli.bounded_int(1, 1000), default=DEFAULT_PAIRS, metavar="N",
                        help=f"pairs (ours, sample) per connection count (default {DEFAULT_PAIRS})")
    parser.add_argument("--duration", type=measure_cli.bounded_float(0.001, 3600), default=DEFAULT_DURATION_S,
                        metavar="S", help=f"measured seconds per run (default {DEFAULT_DURATION_S:g})")
    parser.add_argument("--warmup", type=measure_cli.bounded_float(0, 600), default=DEFAULT_WARMUP_S, metavar="S",
                        help=f"warm-up seconds per run, not measured (default {DEFAULT_WARMUP_S:g})")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures as JSON (- for stdout)")
    measure_cli.add_build_options(parser)
    args = parser.parse_args(argv)
    if not Path(args.sample).is_file():
        parser.error(f"--sample {args.sample}: no such file")
    if "{port}" not in args.sample_args:
        parser.error("--sample-args must hold {port}: the sample needs a port of its own")
    return args


def format_table(comparisons):
    lines = [f"{'connections':>11}  {'ours msg/s':>11} {'p99 ms':>8}  {'sample msg/s':>12} {'p99 ms':>8}  "
             f"{'ours/sample':>11}  {'spread (pairs)':>15}"]
    for c in comparisons:
        row = c.to_json()
        ours, sample = row["ours"], row["sample"]
        if row["ratio_median"] is None:
            lines.append(f"{c.connections:>11}  no complete pair")
        else:
            lines.append(f"{c.connections:>11}  {ours['throughput_median']:>11.0f} {ours['p99_us_median'] / 1000:>8.2f}  "
                         f"{sample['throughput_median']:>12.0f} {sample['p99_us_median'] / 1000:>8.2f}  "
                         f"{row['ratio_median']:>10.2f}x  {row['ratio_min']:>6.2f}-{row['ratio_max']:.2f}x "
                         f"({len(row['ratios'])})")
        lines += [f"{'':>11}  failed: {failure}" for failure in c.failures]
    return "\n".join(lines)


def main(argv=None):
    args = parse_arguments(argv)
    args.loadgen = measure_cli.find_loadgen(args.loadgen)
    try:
        server_command("iocp", args.servers_dir)
    except FileNotFoundError as missing:
        raise MeasureError(str(missing)) from None
    with tempfile.TemporaryFile() as args.sample_log:  # the sample's output, kept out of ours
        comparisons = [compare_at(args, connections) for connections in args.connections]
    table = measure_cli.table_stream(args.json)
    print(f"iocp against the sample {args.sample}: {MESSAGE_SIZE}-byte ping-pong, {args.pairs} interleaved pairs, "
          f"{args.duration:g} s each (median over the pairs)", file=table)
    print(format_table(comparisons), file=table)
    if args.json:
        measure_cli.write_json(args.json, {
            "schema": SCHEMA, "sample": str(args.sample), "sample_args": args.sample_args, "pairs": args.pairs,
            "duration_s": args.duration, "warmup_s": args.warmup, "size": MESSAGE_SIZE,
            "comparisons": [c.to_json() for c in comparisons]})
    return 1 if any(c.failures for c in comparisons) else 0


if __name__ == "__main__":
    measure_cli.run_main(main)

#!/usr/bin/env python3
"""Every Winsock model against Microsoft's own sample of it, side by side.

Nothing of Microsoft's is in this repository: build the samples yourself
(Windows-classic-samples, Samples/Win7Samples/netds/winsock) into a folder of
their .exe files (build-ms-samples.sh SAMPLES OUT does it with mingw-w64, see
README.md) and give that folder as --samples-dir. SAMPLES below says which
sample stands for which of our models, with the command line its source
documents.

For each (model, sample) and each point (64-byte ping-pong at 1, 16 and 64
connections, and 4 connections pipelining 16 messages each), interleaved pairs
of runs of our load generator, the side that goes first alternating from
pair to pair (what a run leaves behind, sockets in TIME_WAIT or a wineserver
still busy, then falls on each side alike), each server started fresh for
its run, under the harness's default placement
(harness/run/placement.py: both servers and their Wine processes on the
server's CPUs, the load generator on the others; recorded, with what the
system said at each run's start and end). Printed per side: throughput
(messages/s) and p99 (median over the pairs), and the ratio ours/sample of
each pair's throughput (median, and its spread: the lowest and highest pair).
A pair with a run taken while other processes used more than a quarter of a
core (harness.run.noise: steal counts; the run's own processes, its
wineserver included, do not) is set aside once MIN_QUIET_PAIRS quiet ones
remain, and the row says how many were.

The load generator checks every echoed byte. A side whose run counts errors
(bytes that are not the ones sent, connections refused, resets, early closes),
or whose run leaves some connections without an echo in the measured window
(a server that serves one client at a time), is reported as such with its
first error and not timed: its point ends there.
A sample missing from the folder is a row that says so; the others run (a
folder with none of them is an error).

The samples have no ready line: one is ready when its port accepts a
connection (one probe, closed at once). They stop on Ctrl-C (SIGINT to their
process group here; one still running after a grace period is killed); their
stop is not measured. A Windows executable runs under Wine (scripts/wine-run)
on Linux, directly on Windows; any other executable file (a test's stand-in)
runs as it is."""
import measure_cli  # first: puts the project's harness on the import path

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import platforms, stats
from harness.records import p99_us_of, throughput_of
from harness.loadgen import loadgen_argv, run_loadgen
from harness.platforms.wine import find_wineserver, run_prefix
from harness.run import noise
from harness.run import placement as placement_module
from harness.run.errors import RunError
from harness.servers import EchoServer, ServerError, server_command
from harness.suites import Point
from measure_cli import MeasureError

SCHEMA = "winsock-bench/vs-sample/1"


@dataclass(frozen=True)
class Pairing:
    """One of our models and the Microsoft sample that shows the same model."""
    model: str     # ours: servers/<model>
    sample: str    # the sample's executable in --samples-dir, without .exe (build-ms-samples.sh's names)
    args: str      # its command line as its source documents it; {port} is replaced
    ready: str     # how to tell it is ready: a key of READY_PROBES
    shows: str     # what the sample does, which is why it stands for `model`

    @property
    def executable(self):
        return f"{self.sample}.exe"

    @property
    def name(self):
        return f"{self.model} vs {self.sample} {self.args}"


# Our load generator connects to 127.0.0.1: the samples that would otherwise
# bind whatever getaddrinfo gives first for "any address" (IPv6 first on some
# systems, which then takes no IPv4 client) are told IPv4 (-4, -a 4) or the
# loopback address (-i).
SAMPLES = (
    Pairing("iocp", "iocpserver", "-e:{port}", "accepts",
            "I/O completion port, WSAAccept on the main thread, 2 worker threads per CPU"),
    Pairing("iocp", "iocpserverex", "-e:{port}", "accepts",
            "I/O completion port with one AcceptEx at a time, which waits for a client's first bytes"),
    Pairing("overlapped-events", "overlap", "-e {port} -i 127.0.0.1", "accepts",
            "overlapped I/O signalling event objects, one WSAWaitForMultipleEvents over at most 10 handles"),
    Pairing("thread", "simples", "-e {port} -4", "accepts",
            "blocking accept, recv and send on one thread per listening socket: one client at a time"),
    Pairing("select", "accept", "-a 4 -e {port} -t 1", "accepts",
            "select() over non-blocking sockets (its -t 1), one thread"),
    Pairing("select", "simples_ioctl", "-e {port} -4", "accepts",
            "select() over a non-blocking socket, one client at a time"),
    Pairing("asyncselect", "accept", "-a 4 -e {port} -t 2", "accepts",
            "WSAAsyncSelect: socket events as window messages (its -t 2)"),
)

MESSAGE_SIZE = 64
POINTS = (
    Point(id="pingpong-c1", workload="pingpong", loadgen_args={"connections": 1, "size": MESSAGE_SIZE}),
    Point(id="pingpong-c16", workload="pingpong", loadgen_args={"connections": 16, "size": MESSAGE_SIZE}),
    Point(id="pingpong-c64", workload="pingpong", loadgen_args={"connections": 64, "size": MESSAGE_SIZE}),
    Point(id="pipeline-c4-d16", workload="pipeline",
          loadgen_args={"connections": 4, "depth": 16, "size": MESSAGE_SIZE}),
)
DEFAULT_PAIRS = 5
MIN_QUIET_PAIRS = 3                 # fewer quiet pairs than this: every pair counts, and the row says so
DEFAULT_DURATION_S = 5.0
DEFAULT_WARMUP_S = 1.0
LOADGEN_THREADS = 1                 # every point's: the placement gives the load generator one CPU
SAMPLE_READY_TIMEOUT_S = 60.0
SAMPLE_STOP_GRACE_S = 5.0
SERVER_TIMEOUT_S = 30.0             # our server's start and stop
LOADGEN_MARGIN_S = 60.0
SAMPLE_LOG_TAIL = 300               # characters of a sample's output quoted when it does not start

# A run's verdict: "ok" (timed), one of FOUND_WANTING (the server misbehaved:
# reported, not timed, its point ends), or "failed" (no measurement: a start
# that failed, a load generator that died; the pair is left out). "starves":
# a clean run in which some connections got no echo; its figures would pass
# for a slow server's. A text is formatted with the run's per_connection.
VERDICT_TEXT = {"corrupts": "fails byte verification", "refuses": "refuses connections",
                "starves": "serves only {served} of {connections} connections",
                "errors": "counts errors (resets, early closes or timeouts)", "failed": "run failed"}
FOUND_WANTING = ("corrupts", "refuses", "starves", "errors")

EPILOG = """\
examples:
  scripts/measure/vs_sample.py --samples-dir ~/ms-samples
  scripts/measure/vs_sample.py --samples-dir ~/ms-samples --models iocp,select --pairs 10 --json pairs.json
  scripts/measure/vs_sample.py --samples-dir ~/ms-samples --points pingpong-c1 --duration 2

The samples (build-ms-samples.sh names them so): iocpserver.exe,
iocpserverex.exe, overlap.exe, simples.exe, simples_ioctl.exe, accept.exe.
Run it on a quiet machine: the pairs are interleaved so that a slow moment
hits both sides, and pairs taken on a busy machine are set aside, not to
make a busy machine's figures worth keeping; the
whole comparison (7 pairings, 4 points, 5 pairs of 6 s) takes about half an
hour. On Windows both sides run directly: give --servers-dir (your build's
servers) and --loadgen (loadgen.exe).
Exit: 0 every comparison made (a sample found wanting or missing is a
result), 1 a run failed otherwise or one of ours counted errors, 2 a bad option."""


# --- one run of one side ------------------------------------------------------------

@dataclass
class Run:
    """One load generator run against one server."""
    pair: int
    verdict: str                     # "ok", one of FOUND_WANTING, or "failed"
    throughput: float | None = None  # messages/s, when timed
    p99_us: float | None = None
    error: str | None = None         # the run's first error, one line
    placement: dict | None = None    # harness.run.placement.record_of: what the system said
    per_connection: dict | None = None  # the load generator's: connections, served, min/max_messages
    other_cpu_cores: float | None = None  # the rest of the machine's CPU use over the run, server start to stop

    @property
    def busy(self):
        return self.other_cpu_cores is not None and self.other_cpu_cores > noise.BUSY_OTHER_CORES

    def verdict_text(self):
        return VERDICT_TEXT[self.verdict].format(**(self.per_connection or {}))

    def to_json(self):
        return {"pair": self.pair, "verdict": self.verdict, "throughput": self.throughput, "p99_us": self.p99_us,
                "error": self.error, "placement": self.placement, "per_connection": self.per_connection,
                "other_cpu_cores": self.other_cpu_cores, "busy": self.busy}


def unserved(document):
    """One line when the run left some connections without an echo in its
    measured window, else None (also for a document without the figure)."""
    counts = document.get("per_connection") or {}
    connections, served = counts.get("connections") or 0, counts.get("served") or 0
    if served >= connections:
        return None
    return f"{connections - served} of {connections} connections got no echo in the measured window"


def judge(result):
    """(verdict, first error) of a load generator run (harness.loadgen.LoadgenResult)."""
    if not result.failure:
        starved = unserved(result.document)
        return ("starves", starved) if starved else ("ok", None)
    document = result.document
    if document is None:
        return "failed", result.failure
    errors = document.get("errors") or {}
    fatal = document.get("fatal") or ""
    error = result.failure if not fatal or fatal in result.failure else f"{result.failure} ({fatal})"
    if errors.get("mismatch"):
        return "corrupts", error
    if errors.get("connect_failed") or fatal.startswith("cannot connect") or "connection refused" in fatal:
        return "refuses", error
    if any(errors.values()) or fatal:
        return "errors", error
    return "failed", error


@dataclass(frozen=True)
class Settings:
    """What every run shares."""
    loadgen: Path
    servers_dir: str | None
    samples_dir: Path
    placement: placement_module.Placement
    wine_prefix: Path | None       # the prefix our servers and the samples run in (None: no Wine here)
    duration: float
    warmup: float
    pairs: int

    def timed(self, point):
        """The point with this comparison's measured and warm-up seconds."""
        return Point(id=point.id, workload=point.workload,
                     loadgen_args={**point.loadgen_args, "duration": self.duration, "warmup": self.warmup})


def load(settings, point, port, pair, server_pid, under_wine):
    """The load generator against a running server (pinned where the placement
    says), read back where the processes were allowed to run as it started
    and as it ended; the Run."""
    wineserver = find_wineserver(settings.wine_prefix) if under_wine and settings.wine_prefix else None
    readings = {}

    def started(loadgen_pid):
        readings["start"] = placement_module.read_back(server_pid, wineserver, loadgen_pid)
    result = run_loadgen(loadgen_argv(settings.loadgen, settings.timed(point), port),
                         settings.warmup + settings.duration + LOADGEN_MARGIN_S,
                         cpus=settings.placement.loadgen_cpus, started=started)
    readings["end"] = placement_module.read_back(server_pid, wineserver, None)
    placed = placement_module.record_of(settings.placement, readings.get("start"), readings["end"], under_wine)
    verdict, error = judge(result)
    per_connection = (result.document or {}).get("per_connection")
    if verdict != "ok":
        return Run(pair, verdict, error=error, placement=placed, per_connection=per_connection)
    return Run(pair, "ok", throughput_of(result.document), p99_us_of(result.document), placement=placed,
               per_connection=per_connection)


def watched(settings, make_run):
    """make_run()'s Run, with the other processes' CPU use from before its
    server starts until it has stopped (the server's own time counts as this
    process's once it is waited for)."""
    wineserver = find_wineserver(settings.wine_prefix) if settings.wine_prefix else None
    before = noise.take_snapshot(wineserver)
    run = make_run()
    run.other_cpu_cores = noise.other_cpu_cores(before, noise.take_snapshot(wineserver))
    return run


def place_wine(settings, under_wine, server_pid=None):
    """The Wine processes where the placement wants them (again once a server
    has started: its start may have started some)."""
    if under_wine:
        placement_module.place_wine(settings.placement, settings.wine_prefix, server_pid)


# --- our server ------------------------------------------------------------------

def run_ours(settings, model, point, pair):
    """Our model, started fresh (its ready line gives its port), loaded, stopped."""
    command = server_command(model, settings.servers_dir)
    under_wine = settings.wine_prefix is not None
    server = EchoServer(model, command=command, cpus=settings.placement.server_cpus,
                        ready_timeout=SERVER_TIMEOUT_S, stop_timeout=SERVER_TIMEOUT_S)
    try:
        place_wine(settings, under_wine)
        server.start()
        place_wine(settings, under_wine, server.process.pid)
        run = load(settings, point, server.port, pair, server.process.pid, under_wine)
    except ServerError as error:
        server.close()
        return Run(pair, "failed", error=f"{model}: {error.reason}")
    except OSError as error:
        server.close()
        return Run(pair, "failed", error=f"{model} could not start: {error}")
    try:
        server.stop()
    except ServerError as error:  # a timed run of a server that then failed to stop is no measurement
        if run.verdict == "ok":
            return Run(pair, "failed", error=f"{model}: {error.reason}", placement=run.placement)
    finally:
        server.close()
    return run


# --- the sample ------------------------------------------------------------------

def free_port():
    """A port free on loopback now (the samples take no port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_windows_program(path):
    """Whether the file is a Windows executable (it begins with "MZ")."""
    with open(path, "rb") as file:
        return file.read(2) == b"MZ"


def sample_argv(exe, args, port):
    """The argv that runs the sample: a Windows program under this platform's
    launcher (Wine here), anything else (a stand-in) as it is."""
    launcher = platforms.current().windows_program_launcher() if is_windows_program(exe) else []
    return launcher + [str(exe)] + [part.replace("{port}", str(port)) for part in args.split()]


def accepts(process, port, timeout=SAMPLE_READY_TIMEOUT_S):
    """Waits until the port accepts a connection (one probe, closed at once).
    None once it does, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited (code {process.returncode}) before it accepted a connection on port {port}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return None
        except OSError:
            time.sleep(0.05)
    return f"did not accept a connection on port {port} within {timeout:g} s"


READY_PROBES = {"accepts": accepts}


class SampleServer:
    """A sample started by its command line, in a process group of its own,
    pinned to the server's CPUs; its output goes to a file of its own."""

    def __init__(self, argv, port, log, cpus):
        self.argv, self.port, self.log, self.cpus = argv, port, log, cpus
        self.process = None

    def start(self, ready):
        self.process = platforms.current().start(self.argv, cpus=self.cpus, own_group=True,
                                                 stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        problem = READY_PROBES[ready](self.process, self.port)
        if problem:
            raise MeasureError(f"{problem}: {' '.join(self.argv)}{self.output_tail()}")

    def output_tail(self):
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode("utf-8", "replace").strip()
        return f" (its output: ...{text[-SAMPLE_LOG_TAIL:]})" if text else ""

    def stop(self):
        """The platform's interrupt (Ctrl-C to its process group under Wine), then
        the kill after a grace period. On Windows the kill at once: Ctrl-Break,
        the interrupt one child can be sent there, makes iocpserver restart."""
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


def run_sample(settings, pairing, point, pair):
    """The sample, started fresh on a port of its own, loaded, interrupted."""
    exe = settings.samples_dir / pairing.executable
    under_wine = settings.wine_prefix is not None and is_windows_program(exe)
    port = free_port()
    with tempfile.TemporaryFile() as log:
        sample = SampleServer(sample_argv(exe, pairing.args, port), port, log, settings.placement.server_cpus)
        try:
            place_wine(settings, under_wine)
            sample.start(pairing.ready)
            place_wine(settings, under_wine, sample.process.pid)
            return load(settings, point, port, pair, sample.process.pid, under_wine)
        except MeasureError as error:
            return Run(pair, "failed", error=f"{pairing.sample}: {error}")
        except OSError as error:  # not executable, say
            return Run(pair, "failed", error=f"{pairing.sample} could not start: {error}")
        finally:
            sample.stop()


# --- the comparison at one point -------------------------------------------------------

@dataclass
class Comparison:
    """One (model, sample) at one point: the runs of each side, pair by pair."""
    point: Point
    ours: list = field(default_factory=list)
    sample: list = field(default_factory=list)

    def timed(self, side):
        return [run for run in getattr(self, side) if run.verdict == "ok"]

    def complete_pairs(self):
        """[(ours, sample)] of the pairs where both sides were timed."""
        samples = {run.pair: run for run in self.timed("sample")}
        return [(run, samples[run.pair]) for run in self.timed("ours") if run.pair in samples]

    def measured_pairs(self):
        """The complete pairs the figures come from: the quiet ones (neither
        run busy) once MIN_QUIET_PAIRS remain, else all of them."""
        complete = self.complete_pairs()
        quiet = [pair for pair in complete if not (pair[0].busy or pair[1].busy)]
        return quiet if len(quiet) >= MIN_QUIET_PAIRS else complete

    def busy_pairs(self):
        return sum(1 for ours, sample in self.complete_pairs() if ours.busy or sample.busy)

    def ratios(self):
        """ours / sample throughput of each measured pair."""
        return [ours.throughput / sample.throughput for ours, sample in self.measured_pairs() if sample.throughput]

    def found_wanting(self):
        """(side, Run) of the run that ended the point, or None."""
        for side in ("ours", "sample"):
            for run in getattr(self, side):
                if run.verdict in FOUND_WANTING:
                    return side, run
        return None

    def failures(self):
        """One line per run that could not be made."""
        return [f"pair {run.pair}: {side}: {run.error}" for side in ("ours", "sample")
                for run in getattr(self, side) if run.verdict == "failed"]

    def verification(self):
        wanting = self.found_wanting()
        if wanting:
            return f"{wanting[0]} {wanting[1].verdict_text()}"
        return "verified" if self.timed("ours") or self.timed("sample") else "not run"

    def placement_problems(self):
        return [f"pair {run.pair}: {side}: {problem}" for side in ("ours", "sample") for run in getattr(self, side)
                for problem in ((run.placement or {}).get("problems") or [])]

    def busy_text(self):
        """One line on the pairs taken on a busy machine, or None."""
        busy = self.busy_pairs()
        if not busy:
            return None
        complete = len(self.complete_pairs())
        if len(self.measured_pairs()) < complete:
            return f"{busy} of {complete} pairs taken on a busy machine set aside"
        return f"{busy} of {complete} pairs taken on a busy machine, kept: fewer than {MIN_QUIET_PAIRS} were quiet"

    def to_json(self):
        ratios = self.ratios()
        wanting = self.found_wanting()
        measured = self.measured_pairs()
        return {"point": self.point.to_manifest(), "ours": side_json(self.ours, [pair[0] for pair in measured]),
                "sample": side_json(self.sample, [pair[1] for pair in measured]),
                "ratios": ratios, "ratio_median": stats.median(ratios) if ratios else None,
                "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
                "verification": self.verification(),
                "found_wanting": {"side": wanting[0], **wanting[1].to_json()} if wanting else None,
                "failures": self.failures(), "placement_problems": self.placement_problems(),
                "busy_pairs": self.busy_pairs(), "measured_pairs": [ours.pair for ours, _ in measured]}


def side_json(runs, measured):
    """A side's runs, and its medians over its runs of the measured pairs."""
    return {"throughput_median": stats.median([run.throughput for run in measured]) if measured else None,
            "p99_us_median": stats.median([run.p99_us for run in measured]) if measured else None,
            "runs": [run.to_json() for run in runs]}


def compare_at(settings, pairing, point):
    """The pairs at one point, ours first in odd pairs and the sample first in
    even ones. A side found wanting ends the point (it is not timed); a run
    that failed leaves its pair out (the other side's run is not made)."""
    comparison = Comparison(point)
    for pair in range(1, settings.pairs + 1):
        sides = (("ours", lambda: run_ours(settings, pairing.model, point, pair)),
                 ("sample", lambda: run_sample(settings, pairing, point, pair)))
        for side, run in sides if pair % 2 else sides[::-1]:
            print(f"{pairing.model} vs {pairing.sample} {point.id} pair {pair}/{settings.pairs}: {side}",
                  file=sys.stderr)
            outcome = watched(settings, run)
            getattr(comparison, side).append(outcome)
            if outcome.verdict != "ok":
                break
        if comparison.found_wanting():
            break
    return comparison


@dataclass
class PairingResult:
    pairing: Pairing
    missing: str | None = None
    comparisons: list = field(default_factory=list)

    def to_json(self):
        return {"model": self.pairing.model, "sample": self.pairing.sample, "args": self.pairing.args,
                "ready": self.pairing.ready, "shows": self.pairing.shows, "missing": self.missing,
                "comparisons": [c.to_json() for c in self.comparisons]}


def missing_samples(pairings, samples_dir):
    """{pairing: why} of the pairings whose sample is not in the folder, each
    said on stderr in one line; MeasureError when none of them is there."""
    missing = {pairing: f"no {pairing.executable} in {samples_dir}" for pairing in pairings
               if not (samples_dir / pairing.executable).is_file()}
    if len(missing) == len(pairings):
        wanted = ", ".join(dict.fromkeys(pairing.executable for pairing in pairings))
        raise MeasureError(f"none of the samples ({wanted}) is in {samples_dir}: give the folder "
                           "build-ms-samples.sh SAMPLES OUT wrote (OUT)")
    for pairing, why in missing.items():
        print(f"vs_sample.py: {pairing.model} vs {pairing.sample}: {why} (build-ms-samples.sh builds it); "
              "its comparison is skipped", file=sys.stderr)
    return missing


def compare_pairing(settings, pairing, points, missing):
    if pairing in missing:
        return PairingResult(pairing, missing=missing[pairing])
    return PairingResult(pairing, comparisons=[compare_at(settings, pairing, point) for point in points])


# --- the output --------------------------------------------------------------------

HEADER = (f"  {'point':<16} {'ours msg/s':>10} {'p99 ms':>7}  {'sample msg/s':>12} {'p99 ms':>7}  "
          f"{'ours/sample':>11}  {'spread (pairs)':<16}  verification")


def figure(value, scale=1.0, digits=0):
    return "-" if value is None else f"{value / scale:.{digits}f}"


def comparison_lines(comparison):
    row = comparison.to_json()
    ours, sample = row["ours"], row["sample"]
    if row["ratios"]:
        ratio = f"{row['ratio_median']:.2f}x"
        spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}x ({len(row['ratios'])})"
    else:
        ratio, spread = "-", "no complete pair"
    lines = [f"  {comparison.point.id:<16} {figure(ours['throughput_median']):>10} "
             f"{figure(ours['p99_us_median'], 1000, 2):>7}  {figure(sample['throughput_median']):>12} "
             f"{figure(sample['p99_us_median'], 1000, 2):>7}  {ratio:>11}  {spread:<16}  {row['verification']}"]
    wanting = row["found_wanting"]
    if wanting:
        lines.append(f"      first error ({wanting['side']}, pair {wanting['pair']}): {wanting['error']}")
    lines += [f"      failed: {failure}" for failure in row["failures"]]
    lines += [f"      placement not held: {problem}" for problem in row["placement_problems"]]
    busy = comparison.busy_text()
    if busy:
        lines.append(f"      {busy}")
    return lines


def format_tables(results):
    lines = []
    for result in results:
        if result.missing:
            lines.append(f"{result.pairing.name}: missing ({result.missing})")
            continue
        lines += [f"{result.pairing.name}  ({result.pairing.shows})", HEADER]
        for comparison in result.comparisons:
            lines += comparison_lines(comparison)
    return "\n".join(lines)


def placement_text(placement):
    def cpus(values):
        return ",".join(str(cpu) for cpu in values) if values else "any"
    return (f"placement {placement.mode}: servers on CPUs {cpus(placement.server_cpus)}, their Wine processes on "
            f"{cpus(placement.wine_cpus)}, load generator on {cpus(placement.loadgen_cpus)}")


# --- the command line ------------------------------------------------------------

def point_list(text):
    known = {point.id: point for point in POINTS}
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or repr(text)}: not a point (one of {', '.join(known)})")
    return [known[name] for name in names]


def model_list(text):
    known = list(dict.fromkeys(pairing.model for pairing in SAMPLES))
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or repr(text)}: no sample stands for it (models with one: {', '.join(known)})")
    return names


def parse_arguments(argv):
    parser = measure_cli.make_parser(__file__, __doc__.splitlines()[0], EPILOG)
    parser.add_argument("--samples-dir", metavar="DIR", required=True,
                        help="the folder of your build of Microsoft's samples (build-ms-samples.sh's OUT)")
    parser.add_argument("--models", type=model_list, metavar="M,M",
                        help="only these models' comparisons (default: every model a sample stands for)")
    parser.add_argument("--points", type=point_list, default=list(POINTS), metavar="P,P",
                        help=f"only these points (default: {','.join(point.id for point in POINTS)})")
    parser.add_argument("--pairs", type=measure_cli.bounded_int(1, 1000), default=DEFAULT_PAIRS, metavar="N",
                        help=f"pairs (ours, sample) per point (default {DEFAULT_PAIRS})")
    parser.add_argument("--duration", type=measure_cli.bounded_float(0.001, 3600), default=DEFAULT_DURATION_S,
                        metavar="S", help=f"measured seconds per run (default {DEFAULT_DURATION_S:g})")
    parser.add_argument("--warmup", type=measure_cli.bounded_float(0, 600), default=DEFAULT_WARMUP_S, metavar="S",
                        help=f"warm-up seconds per run, not measured (default {DEFAULT_WARMUP_S:g})")
    parser.add_argument("--placement", choices=placement_module.MODES, default=placement_module.DEFAULT_MODE,
                        help=f"where the processes run (default {placement_module.DEFAULT_MODE}: the harness's)")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures as JSON (- for stdout)")
    measure_cli.add_build_options(parser)
    args = parser.parse_args(argv)
    if not Path(args.samples_dir).is_dir():
        parser.error(f"--samples-dir {args.samples_dir}: no such folder (build the samples with "
                     "build-ms-samples.sh SAMPLES OUT, then give OUT)")
    return args


def selected_pairings(chosen):
    return [pairing for pairing in SAMPLES if chosen is None or pairing.model in chosen]


def check_our_builds(pairings, servers_dir):
    """MeasureError (one line) if one of our models to compare is not built."""
    for model in dict.fromkeys(pairing.model for pairing in pairings):
        try:
            server_command(model, servers_dir)
        except FileNotFoundError as missing:
            raise MeasureError(str(missing)) from None


def settings_of(args):
    try:
        placed = placement_module.plan_placement(args.placement, LOADGEN_THREADS)
    except RunError as error:
        raise MeasureError(str(error)) from None
    under_wine = bool(platforms.current().windows_program_launcher())
    return Settings(loadgen=measure_cli.find_loadgen(args.loadgen), servers_dir=args.servers_dir,
                    samples_dir=Path(args.samples_dir).resolve(), placement=placed,
                    wine_prefix=run_prefix() if under_wine else None, duration=args.duration, warmup=args.warmup,
                    pairs=args.pairs)


def exit_code(results):
    """1 when a run could not be made or one of ours counted errors, else 0."""
    for result in results:
        for comparison in result.comparisons:
            wanting = comparison.found_wanting()
            if comparison.failures() or (wanting and wanting[0] == "ours"):
                return 1
    return 0


def main(argv=None):
    args = parse_arguments(argv)
    pairings = selected_pairings(args.models)
    missing = missing_samples(pairings, Path(args.samples_dir).resolve())
    check_our_builds(pairings, args.servers_dir)
    settings = settings_of(args)
    try:
        results = [compare_pairing(settings, pairing, args.points, missing) for pairing in pairings]
    finally:
        placement_module.release_wine(settings.placement, settings.wine_prefix)
    table = measure_cli.table_stream(args.json)
    print(f"Our models against Microsoft's samples in {settings.samples_dir}: {MESSAGE_SIZE}-byte messages, "
          f"{args.pairs} interleaved pairs of {args.duration:g} s (after {args.warmup:g} s of warm-up) per point, "
          f"median over the pairs; {placement_text(settings.placement)}", file=table)
    print(format_tables(results), file=table)
    if args.json:
        measure_cli.write_json(args.json, {
            "schema": SCHEMA, "samples_dir": str(settings.samples_dir), "pairs": args.pairs,
            "duration_s": args.duration, "warmup_s": args.warmup, "size": MESSAGE_SIZE,
            "placement": settings.placement.to_manifest(),
            "pairings": [result.to_json() for result in results]})
    return exit_code(results)


if __name__ == "__main__":
    measure_cli.run_main(main)

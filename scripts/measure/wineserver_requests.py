#!/usr/bin/env python3
"""Wineserver requests per echoed message, for each Winsock model under Wine.

Under Wine most socket and wait calls are requests to the wineserver, a
single-threaded process every Winsock server of a Wine session shares: their
count per message is what a model costs Wine. For each model (and each iocp
variant the tests run), the server echoes a fixed number of 64-byte ping-pong
messages on one connection (our loadgen), with the wineserver tracing every
request (WINEDEBUG=+server); the requests of the server's own process are
counted. Two runs, N and a baseline B < N messages, each on a fresh
wineserver, so that start-up, accept and stop cancel out:

    requests per message = (requests(N) - requests(B)) / (N - B)

The fresh wineservers serve a private copy of the project's Wine prefix (its
registry files; drive_c is shared, read-only in practice), so the wineserver
of the project's prefix, which a benchmark may be using, is never touched."""
import measure_cli  # first: puts the project's harness on the import path

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import models
from harness.loadgen import loadgen_argv, run_loadgen
from harness.platforms.wine import WINE_RUN, wine_environment, wineserver_program
from harness.servers import EchoServer, ServerError, ServerUnsupported, server_command
from harness.suites import Point
from measure_cli import MeasureError

DEFAULT_MESSAGES = 2000
DEFAULT_BASELINE = 500
MESSAGE_SIZE = 64
SCHEMA = "winsock-bench/wineserver-requests/1"
# Generous bounds: a traced Wine is slow, but nothing here may hang.
WINEBOOT_TIMEOUT_S = 300
LOADGEN_TIMEOUT_S = 300
WINESERVER_KILL_TIMEOUT_S = 60
# What a private prefix copies from the project's: the registry and what tells
# wineboot the prefix is up to date. Not "wineserver": it names the server
# folder of the original prefix's wineserver.
PREFIX_FILES = ("system.reg", "user.reg", "userdef.reg", ".update-timestamp")

EPILOG = f"""\
examples:
  scripts/measure/wineserver_requests.py                      # every Winsock model and iocp variant
  scripts/measure/wineserver_requests.py --servers iocp,select --top 5 --json requests.json

The table is servers/MEASUREMENTS.md's measured column ("Calls per echoed message");
tests/conformance/test_wineserver_requests.py checks it against a short run.
Defaults: {DEFAULT_MESSAGES} messages against a baseline of {DEFAULT_BASELINE}; exit 0 when every
model was measured (or is unsupported here), 1 when one failed, 2 on a bad option."""


@dataclass(frozen=True)
class Variant:
    """A model with the options it runs with."""
    model: str
    args: tuple = ()

    @property
    def label(self):
        """The command-line spelling, as servers/MEASUREMENTS.md's table names it: "iocp --batch 16"."""
        return " ".join([self.model, *self.args])


@dataclass
class Measurement:
    variant: Variant
    requests: tuple = ()                 # the server process's requests at (baseline, messages)
    per_message: float | None = None
    per_request: dict = field(default_factory=dict)   # request name -> requests per message
    unsupported: str | None = None       # the server's own line when Wine lacks its model
    failure: str | None = None

    def to_json(self):
        return {"label": self.variant.label, "model": self.variant.model, "args": list(self.variant.args),
                "requests": list(self.requests), "requests_per_message": self.per_message,
                "per_request": self.per_request, "unsupported": self.unsupported, "failure": self.failure}


# --- the trace -----------------------------------------------------------------

# The wineserver traces a request as "<thread id>: <name>( <fields> )" and its
# reply as "<thread id>: <name>() = <status> { <fields> }" (server/trace.c).
REQUEST_LINE = re.compile(r"^([0-9a-f]{4,8}): ([a-z][a-z0-9_]*)\( ")
REPLY_LINE = re.compile(r"^([0-9a-f]{4,8}): ([a-z][a-z0-9_]*)\(\) = ")
NEW_THREAD_ID = re.compile(r"\btid=([0-9a-f]+)")
CURRENT_PROCESS = "process=ffffffff"   # the pseudo-handle GetCurrentProcess() gives


class TraceError(MeasureError):
    pass


def count_server_requests(lines):
    """Counter of request name -> count, for the process whose trace begins
    the file. The server is the only process started with WINEDEBUG=+server,
    and a client turns the tracing on from its first request
    (init_first_thread), so the trace opens with that request's reply, on the
    server's first thread. Its other threads are the ones it creates itself
    (new_thread on the current process): the trace names threads, not
    processes, and the other processes of the session (services, explorer)
    are left out."""
    ours, counts, creating_own_thread = set(), Counter(), {}
    for number, line in enumerate(lines):
        request = REQUEST_LINE.match(line)
        reply = REPLY_LINE.match(line) if not request else None
        if number == 0 and not (reply and reply[2] == "init_first_thread"):
            raise TraceError(f"the trace does not begin with the server's init_first_thread reply: {line[:120]!r}")
        if request:
            thread, name = request.groups()
            if thread in ours:
                counts[name] += 1
                if name == "new_thread":
                    creating_own_thread[thread] = CURRENT_PROCESS in line
        elif reply:
            thread, name = reply.groups()
            if number == 0:
                ours.add(thread)
            elif name == "new_thread" and creating_own_thread.pop(thread, False):
                created = NEW_THREAD_ID.search(line)
                if created:
                    ours.add(created[1])
    if not ours:
        raise TraceError("the wineserver traced nothing (does this Wine honour WINEDEBUG=+server?)")
    return counts


def per_message(baseline_counts, counts, baseline, messages):
    """(requests per message, {name: requests per message}) from two runs."""
    extra = messages - baseline
    total = (sum(counts.values()) - sum(baseline_counts.values())) / extra
    names = {name: (counts[name] - baseline_counts[name]) / extra for name in set(counts) | set(baseline_counts)}
    ordered = sorted(names.items(), key=lambda item: (-abs(item[1]), item[0]))
    return total, {name: round(value, 3) for name, value in ordered if round(value, 3) != 0}


# --- Wine ------------------------------------------------------------------------

class PrivateWine:
    """A private prefix copied from the project's, in which every session
    starts a fresh wineserver whose standard error (its trace) goes to a file."""

    def __init__(self, source):
        source = Path(source)
        if not (source / "system.reg").is_file():
            raise MeasureError(f"no Wine prefix at {source}; run scripts/setup.sh")
        self.wineserver = wineserver_program()
        if not self.wineserver:
            raise MeasureError("wineserver not found; run scripts/setup.sh")
        self.root = Path(tempfile.mkdtemp(prefix="wsb-wineserver-requests-"))
        self.prefix = self.root / "prefix"
        self.prefix.mkdir()
        for name in PREFIX_FILES:
            if (source / name).exists():
                shutil.copy2(source / name, self.prefix / name)
        shutil.copytree(source / "dosdevices", self.prefix / "dosdevices", symlinks=True)
        (self.prefix / "drive_c").symlink_to((source / "drive_c").resolve())
        self.server_folders = set()

    def environment(self, debug="-all"):
        return {**wine_environment(), "WINEPREFIX": str(self.prefix), "WINEDEBUG": debug}

    def start_session(self, trace_path):
        """A fresh wineserver, started by wineboot (which also starts Wine's
        services, detached from our pipes) with its standard error on trace_path."""
        with open(trace_path, "wb") as trace:
            try:
                done = subprocess.run([str(WINE_RUN), "wineboot"], env=self.environment(), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=trace, timeout=WINEBOOT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.end_session()
                raise MeasureError(f"wineboot did not finish within {WINEBOOT_TIMEOUT_S} s") from None
        self.remember_server_folder()
        if done.returncode != 0:
            self.end_session()
            raise MeasureError(f"wineboot failed (exit {done.returncode}) in {self.prefix}")

    def server_command(self, model, servers_dir):
        """The argv of a model traced by this session's wineserver."""
        exe = server_command(model, servers_dir)[-1]
        return ["env", f"WINEPREFIX={self.prefix}", "WINEDEBUG=+server", str(WINE_RUN), exe]

    def end_session(self):
        """Kills the session's wineserver and every Wine process of the prefix;
        `wineserver -k` returns once the wineserver has exited (its trace complete)."""
        try:
            subprocess.run([self.wineserver, "-k"], env=self.environment(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=WINESERVER_KILL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise MeasureError(f"wineserver -k did not return within {WINESERVER_KILL_TIMEOUT_S} s "
                               f"(WINEPREFIX={self.prefix})") from None

    def remember_server_folder(self):
        """Wine names the folder of a prefix's wineserver (root's: /tmp/wine-XXXXXX)
        in the prefix's "wineserver" file; it is removed with the prefix."""
        named = self.prefix / "wineserver"
        if named.is_file():
            folder = named.read_text(encoding="utf-8", errors="replace").strip()
            if re.fullmatch(r"wine-[A-Za-z0-9]+", folder):
                self.server_folders.add(Path(tempfile.gettempdir()) / folder)

    def close(self):
        self.end_session()
        self.remember_server_folder()
        for folder in self.server_folders:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def wine_version():
    try:
        done = subprocess.run([str(WINE_RUN), "--version"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


# --- one count -------------------------------------------------------------------

def count_requests(wine, variant, messages, servers_dir, loadgen):
    """The server process's requests (Counter by name) over a run of `messages`
    ping-pong messages on a fresh wineserver; raises ServerUnsupported when
    Wine lacks the model, MeasureError when the run failed."""
    trace_path = wine.root / f"trace-{variant.label.replace(' ', '_')}-{messages}.log"
    wine.start_session(trace_path)
    server = EchoServer(variant.model, variant.args, command=wine.server_command(variant.model, servers_dir))
    try:
        server.start()
        point = Point(id="wineserver-requests", workload="pingpong",
                      loadgen_args={"connections": 1, "messages": messages, "size": MESSAGE_SIZE})
        result = run_loadgen(loadgen_argv(loadgen, point, server.port), LOADGEN_TIMEOUT_S)
        if result.failure:
            raise MeasureError(result.failure)
        server.stop()  # raises unless it stopped cleanly, exit 0
    except ServerError as error:
        if isinstance(error, ServerUnsupported):
            raise
        raise MeasureError(error.reason) from None
    finally:
        server.kill()
        server.close()
        wine.end_session()
    with open(trace_path, encoding="utf-8", errors="replace") as trace:
        counts = count_server_requests(trace)
    trace_path.unlink()
    return counts


def measure(wine, variant, baseline, messages, servers_dir, loadgen):
    try:
        first = count_requests(wine, variant, baseline, servers_dir, loadgen)
        second = count_requests(wine, variant, messages, servers_dir, loadgen)
    except ServerUnsupported as unsupported:
        return Measurement(variant, unsupported=unsupported.reason)
    except TraceError as error:
        raise MeasureError(f"{variant.label}: {error}") from None
    except MeasureError as error:
        return Measurement(variant, failure=str(error))
    total, names = per_message(first, second, baseline, messages)
    return Measurement(variant, requests=(sum(first.values()), sum(second.values())), per_message=round(total, 2),
                       per_request=names)


# --- the command line ------------------------------------------------------------

def chosen_variants(servers):
    """Each chosen Winsock model (default: all) as it comes, then its variants (model.json)."""
    winsock = models.winsock_models()
    names = [name.strip() for name in servers.split(",") if name.strip()] if servers else winsock
    for name in names:
        if name not in models.all_models():
            raise measure_cli.UsageError(f"--servers: unknown server {name} (known: {', '.join(winsock)})")
        if name not in winsock:
            raise measure_cli.UsageError(f"--servers: {name} is not a Winsock model: Wine does not run it")
    return [Variant(name, tuple(args)) for name in names for args in [[], *models.variants(name)]]


def parse_arguments(argv):
    parser = measure_cli.make_parser(__file__, __doc__.splitlines()[0], EPILOG)
    parser.add_argument("--servers", metavar="A,B", help="Winsock models to measure (default: all; a model's "
                                                          "option variants come with it)")
    parser.add_argument("--messages", type=measure_cli.bounded_int(2, 10**6), default=DEFAULT_MESSAGES,
                        metavar="N", help=f"messages of the measured run (default {DEFAULT_MESSAGES})")
    parser.add_argument("--baseline", type=measure_cli.bounded_int(1, 10**6), default=DEFAULT_BASELINE,
                        metavar="B", help=f"messages of the baseline run, fewer than N (default {DEFAULT_BASELINE})")
    parser.add_argument("--top", type=measure_cli.bounded_int(0, 100), default=0, metavar="K",
                        help="also list each model's K most frequent requests per message")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON (- for stdout)")
    measure_cli.add_build_options(parser)
    args = parser.parse_args(argv)
    if args.baseline >= args.messages:
        parser.error(f"--baseline {args.baseline} must be below --messages {args.messages}")
    try:
        args.variants = chosen_variants(args.servers)
    except measure_cli.UsageError as error:
        parser.error(str(error))
    return args


def format_table(results, top):
    width = max(len(m.variant.label) for m in results) + 2
    lines = [f"{'model':<{width}}{'requests/message':>17}   server requests (baseline / measured run)"]
    for m in results:
        if m.unsupported or m.failure:
            state = "unsupported on this platform" if m.unsupported else "FAILED"
            lines.append(f"{m.variant.label:<{width}}{'-':>17}   {state}: {m.unsupported or m.failure}")
            continue
        lines.append(f"{m.variant.label:<{width}}{m.per_message:>17.2f}   {m.requests[0]} / {m.requests[1]}")
        if top:
            shown = ", ".join(f"{name} {value:g}" for name, value in list(m.per_request.items())[:top])
            lines.append(f"{'':<{width}}  per message: {shown}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_arguments(argv)
    loadgen = measure_cli.find_loadgen(args.loadgen)
    for variant in args.variants:  # every build before any Wine starts
        try:
            server_command(variant.model, args.servers_dir)
        except FileNotFoundError as missing:
            raise MeasureError(str(missing)) from None
    version = wine_version()
    wine = PrivateWine(wine_environment()["WINEPREFIX"])
    results = []
    try:
        for variant in args.variants:
            print(f"measuring {variant.label} ({args.baseline} and {args.messages} messages)", file=sys.stderr)
            results.append(measure(wine, variant, args.baseline, args.messages, args.servers_dir, loadgen))
    finally:
        wine.close()
    table = measure_cli.table_stream(args.json)
    print(f"wineserver requests per echoed message ({version}; {MESSAGE_SIZE}-byte ping-pong on one connection, "
          f"{args.messages} - {args.baseline} messages)", file=table)
    print(format_table(results, args.top), file=table)
    if args.json:
        measure_cli.write_json(args.json, {
            "schema": SCHEMA, "wine": version, "messages": args.messages, "baseline": args.baseline,
            "size": MESSAGE_SIZE, "results": [m.to_json() for m in results]})
    return 1 if any(m.failure for m in results) else 0


if __name__ == "__main__":
    measure_cli.run_main(main)

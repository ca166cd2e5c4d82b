#!/usr/bin/env python3
"""Stop and scale, per server model (issue 10's figures): how long a server
takes to stop under load, and how fast it answers an active client while it
holds thousands of idle connections.

  (a) stop under load: --streaming clients (default 50) stream 8 KiB echoes
      (loadgen's pipeline workload) for --stream-seconds, then the server's
      stdin is closed: the time to its exit, its exit code, and whether it
      printed its stats line.
  (b) idle scale, for each N of --idle (default 1,000 / 5,000 / 9,000): one
      loadgen (the idle workload, held at its --barrier so it never sends)
      holds N connections; once the server has accepted them all, a second
      loadgen runs --echoes 4 KiB ping-pong echoes on one more connection
      (their median and maximum), then the server is stopped with the N
      still held (time to exit, exit code). The server's stats line gives
      its peak connections, and worst_service_delay_ms where the model
      measures it (the readiness models; the worst over the whole run, the
      connect storm included). N is capped at the model's
      max_connections (model.json) unless --uncapped, and the table says so.

It runs any build (--servers-dir, --native-dir, --loadgen), so the same
command run against an older revision's build gives the "before" column.
Every wait is bounded and every process it starts is ended, whatever
happens (Ctrl-C included). No figure is a pass or fail: it prints them."""
import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from measure_cli import bounded_int, bounded_float, make_parser  # the harness on the path, the shared CLI
from harness import models, platforms  # noqa: E402
from harness.loadgen import LoadgenNotFound, find_loadgen, parse_document, run_loadgen  # noqa: E402
from harness.servers import EchoServer, ServerError, ServerUnsupported, server_command  # noqa: E402

PROGRAM = Path(__file__).name
SCHEMA = "winsock-bench/stop-and-scale/1"

STREAM_SIZE = 8192
STREAM_DEPTH = 8            # messages in flight per streaming client
ECHO_SIZE = 4096
STOP_WAIT_S = 20.0          # a server still running this long after stdin closed is reported, then killed
CONNECT_TIMEOUT_S = 60.0    # loadgen's per-connection connect timeout
REPLY_TIMEOUT_S = 20.0      # loadgen's wait for one reply
ACCEPT_WAIT_S = 60.0        # for the server to take every held connection from the backlog
LOADGEN_END_S = 30.0        # for a loadgen to end once it has been told to (or its server is gone)
HOLD_LIMIT_S = 3600.0       # the holder's --barrier-timeout: it lets go of its connections by then at the latest
POLL_S = 0.2

USAGE_EXAMPLES = """\
examples:
  scripts/measure/stop_and_scale.py                                   # every model, 1,000/5,000/9,000 idle
  scripts/measure/stop_and_scale.py --servers select,iocp --idle 1000,5000
  scripts/measure/stop_and_scale.py --servers-dir /tmp/old/build/mingw/servers --json before.json

The full run (every model, 9,000 idle) takes about half an hour under Wine; it
is meant for a quiet machine: other load changes the figures."""


# ---------------------------------------------------------------- options


def idle_counts(text):
    convert = bounded_int(1, 100000)
    counts = [convert(part.strip()) for part in text.split(",") if part.strip()]
    if not counts:
        raise argparse.ArgumentTypeError("needs at least one count, e.g. 1000,5000,9000")
    return counts


def build_parser():
    parser = make_parser(__file__, __doc__.split("\n\n")[0], USAGE_EXAMPLES)
    parser.add_argument("--servers", metavar="A,B", help="the models to measure (default: every model this "
                                                         "machine runs)")
    parser.add_argument("--idle", type=idle_counts, default=[1000, 5000, 9000], metavar="N,N",
                        help="idle connections held for the echo figures (default 1000,5000,9000)")
    parser.add_argument("--echoes", type=bounded_int(1, 1000), default=5, metavar="N",
                        help="active echoes measured at each idle count (default 5)")
    parser.add_argument("--streaming", type=bounded_int(1, 1000), default=50, metavar="N",
                        help="clients streaming when the server is stopped (default 50)")
    parser.add_argument("--stream-seconds", type=bounded_float(0.1, 60), default=2.0, metavar="S",
                        help="how long they stream before the stop (default 2)")
    parser.add_argument("--uncapped", action="store_true",
                        help="hold every N even beyond a model's max_connections (model.json)")
    parser.add_argument("--servers-dir", metavar="DIR", help="the Winsock servers' build folder (default "
                                                             "WSB_MINGW_DIR, else build/mingw/servers)")
    parser.add_argument("--native-dir", metavar="DIR", help="the native servers' build folder (default "
                                                            "WSB_NATIVE_DIR, else build/native/servers)")
    parser.add_argument("--loadgen", metavar="PATH", help="the load generator (default WSB_LOADGEN, else "
                                                          "build/native/loadgen/loadgen)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    return parser


class UsageError(Exception):
    """Bad input: exit 2 with this one line, before any work."""


def check_arguments(args):
    """The servers, folders and programs the run needs, all checked before it starts."""
    known = models.all_models()
    runnable = models.models_for_platform()
    names = [n.strip() for n in (args.servers or "").split(",") if n.strip()] or runnable
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"--servers: unknown server(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise UsageError("--servers: a server is named twice")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise UsageError(f"--json {args.json}: its folder does not exist")
    for option, folder in (("--servers-dir", args.servers_dir), ("--native-dir", args.native_dir)):
        if folder and not Path(folder).is_dir():
            raise UsageError(f"{option} {folder}: no such folder")
    missing = [n for n in names if not platforms.current().server_executable(n, args.servers_dir, args.native_dir).is_file()]
    if missing:
        where = sorted({str(platforms.current().server_executable(n, args.servers_dir, args.native_dir).parent) for n in missing})
        raise UsageError(f"not built: {', '.join(missing)} (looked in {', '.join(where)}; run scripts/build.sh, "
                         "or see --servers-dir and --native-dir)")
    if args.loadgen:
        os.environ["WSB_LOADGEN"] = args.loadgen
    try:
        loadgen = find_loadgen()
    except LoadgenNotFound as error:
        raise UsageError(str(error)) from None
    return names, loadgen


# ---------------------------------------------------------------- processes


class Processes:
    """Everything this script started, so that an interruption ends it all."""

    def __init__(self):
        self.running = []

    def add(self, process):
        self.running.append(process)
        return process

    def end_all(self):
        for process in self.running:
            process.close()
        self.running.clear()


class BarrierLoadgen:
    """A loadgen run with --barrier: it opens its connections, says so in a
    JSON line, and holds them without sending until it gets a line on stdin
    (then runs its workload) or stdin closes (then it closes them and exits 1)."""

    def __init__(self, argv):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
        self._lines = queue.Queue()
        self._stdout = []
        self._stderr = b""
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self):
        for line in self.process.stdout:
            self._stdout.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self):
        while chunk := self.process.stderr.read1(65536):
            self._stderr = (self._stderr + chunk)[-4000:]

    def wait_connected(self, timeout):
        """True once its connections are open; False if it ended or the time ran out."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            try:
                if json.loads(line).get("event") == "connected":
                    return True
            except (json.JSONDecodeError, AttributeError):
                continue

    def release(self):
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def finish(self, timeout):
        """Closes its stdin and waits for its end (killed after timeout):
        (its JSON document or None, its last stderr line)."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        for reader in self._readers:
            reader.join(timeout=5)
        text = b"".join(self._stdout)
        start = text.find(b"{\n")  # the document follows the one-line connected event
        document, _ = parse_document(text[start:] if start >= 0 else b"")
        said = [line for line in self._stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        return document, said[-1].strip() if said else ""

    def kill(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)

    def close(self):
        """Kills it if it still runs and releases its pipes."""
        self.kill()
        for reader in self._readers:
            reader.join(timeout=2)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                pipe.close()
            except OSError:
                pass


def start_server(model, args, processes):
    """(the started server, None), or (None, the fields that say why not:
    "unsupported" for a model this platform lacks, else "failure")."""
    server = processes.add(EchoServer(model, command=server_command(model, args.servers_dir, args.native_dir),
                                      stop_timeout=STOP_WAIT_S))
    try:
        return server.start(), None
    except ServerUnsupported as unsupported:
        return None, {"unsupported": unsupported.reason}
    except ServerError as error:
        return None, {"failure": error.reason}


def stop_server(server):
    """Closes its stdin and times its exit; a server that has not exited
    after STOP_WAIT_S gets SIGINT, then SIGKILL (harness.servers), and has
    no stop time."""
    started = time.monotonic()
    failure = None
    try:
        server.stop()
    except ServerError as error:
        failure = error.reason
    took = time.monotonic() - started
    stats = server.stats or {}
    return {
        "stop_s": round(took, 3) if server.stopped_by == "stdin" else None,
        # the server's own part of stop_s, up to its stats line (the rest is the process exit)
        "server_stop_s": stats.get("stop_s"),
        "exit_code": server.process.returncode,
        "stats_line": server.stats is not None,
        "stopped_by": server.stopped_by,
        "stop_failure": failure,
        "peak_connections": stats.get("peak_connections"),
        "worst_service_delay_ms": stats.get("worst_service_delay_ms"),
        "server_errors": {k: v for k, v in stats.get("errors", {}).items() if v} if stats else None,
    }


# ---------------------------------------------------------------- the server side of the sockets


def server_side_sockets(port):
    """(connections the server holds, connections waiting in its backlog),
    read from the kernel's socket tables: a server under Wine holds its
    sockets in the wineserver, and the kernel counts them all the same.
    The listening socket's receive queue is its accept backlog."""
    established, backlog = set(), 0
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 5 or not fields[1].endswith(wanted):
                continue
            if fields[3] == "01":     # ESTABLISHED, on the server's port: the server's end
                # A set: the table is read in pieces while it changes, and
                # may show a socket twice.
                established.add((fields[1], fields[2]))
            elif fields[3] == "0A":   # LISTEN: tx_queue:rx_queue, rx_queue being the backlog
                backlog += int(fields[4].split(":")[1], 16)
    return len(established) - backlog, backlog


def wait_until_accepted(port, expected, timeout):
    """Waits until the server has taken `expected` connections from its
    backlog (or the backlog stays non-empty until timeout); returns
    (held, still in the backlog)."""
    deadline = time.monotonic() + timeout
    while True:
        held, backlog = server_side_sockets(port)
        if (held >= expected and backlog == 0) or time.monotonic() >= deadline:
            return held, backlog
        time.sleep(POLL_S)


# ---------------------------------------------------------------- (a) stop under load


def measure_stop_under_load(model, args, loadgen, processes):
    record = {"model": model, "clients": args.streaming, "size": STREAM_SIZE}
    server, why_not = start_server(model, args, processes)
    if server is None:
        return {**record, **why_not}
    streamers = processes.add(BarrierLoadgen([
        str(loadgen), "--port", str(server.port), "--workload", "pipeline", "--connections", str(args.streaming),
        "--size", str(STREAM_SIZE), "--depth", str(STREAM_DEPTH), "--duration", "600",
        "--connect-timeout", str(CONNECT_TIMEOUT_S), "--timeout", str(REPLY_TIMEOUT_S),
        "--barrier", "--barrier-timeout", str(CONNECT_TIMEOUT_S), "--json", "-"]))
    if streamers.wait_connected(CONNECT_TIMEOUT_S + 10):
        streamers.release()
        time.sleep(args.stream_seconds)
    else:
        record["failure"] = "the streaming clients did not connect"
    record.update(stop_server(server))
    document, said = streamers.finish(LOADGEN_END_S)
    record["messages_before_stop"] = document["totals"]["messages"] if document else None
    if document is None:
        record["loadgen"] = said or "wrote no results"
    return record


# ---------------------------------------------------------------- (b) echo time at N idle


def capped_idle(model, idle, uncapped):
    """(the N to hold, why it is less than asked or None)."""
    limit = models.max_connections(model)
    if uncapped or limit is None or idle + 1 <= limit:
        return idle, None
    return limit - 1, f"capped at {limit - 1} idle + 1 active: max_connections {limit} in servers/{model}/model.json"


def holder_argv(loadgen, port, idle):
    """loadgen's idle workload, held at its barrier: `idle` connections that
    never send (its one active connection included: --idle idle-1)."""
    return [str(loadgen), "--port", str(port), "--workload", "idle", "--connections", "1", "--idle", str(idle - 1),
            "--connect-timeout", str(CONNECT_TIMEOUT_S), "--barrier", "--barrier-timeout", str(HOLD_LIMIT_S),
            "--json", "-"]


def active_echoes(loadgen, port, echoes):
    """The active client's echoes: (figures, failure)."""
    argv = [str(loadgen), "--port", str(port), "--workload", "pingpong", "--connections", "1", "--size",
            str(ECHO_SIZE), "--messages", str(echoes), "--connect-timeout", str(CONNECT_TIMEOUT_S),
            "--timeout", str(REPLY_TIMEOUT_S), "--json", "-"]
    result = run_loadgen(argv, timeout=CONNECT_TIMEOUT_S + echoes * REPLY_TIMEOUT_S + 10)
    latency = (result.document or {}).get("latency_us") or {}
    figures = {"echoes": latency.get("count"),
               "echo_p50_ms": round(latency["p50"] / 1000, 3) if latency.get("count") else None,
               "echo_max_ms": round(latency["max"] / 1000, 3) if latency.get("count") else None}
    return figures, result.failure


def measure_idle_echo(model, idle, args, loadgen, processes):
    held_idle, cap = capped_idle(model, idle, args.uncapped)
    record = {"model": model, "idle_asked": idle, "idle": held_idle, "cap": cap}
    server, why_not = start_server(model, args, processes)
    if server is None:
        return {**record, **why_not}
    holder = processes.add(BarrierLoadgen(holder_argv(loadgen, server.port, held_idle)))
    if holder.wait_connected(CONNECT_TIMEOUT_S + held_idle / 100):
        record["held"], record["backlog"] = wait_until_accepted(server.port, held_idle, ACCEPT_WAIT_S)
        figures, record["failure"] = active_echoes(loadgen, server.port, args.echoes)
        record.update(figures)
    else:
        record["failure"] = "the idle connections could not all be opened"
        record["held"], record["backlog"] = server_side_sockets(server.port)
    record.update(stop_server(server))  # with the idle connections still held
    _, said = holder.finish(LOADGEN_END_S)
    if record["failure"] and said:
        record["loadgen"] = said
    return record


# ---------------------------------------------------------------- output


def show(value, digits=None, missing="-"):
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if digits is not None:
        return f"{value:.{digits}f}"
    return str(value)


def note_for(record):
    notes = [record.get(key) for key in ("cap", "failure", "stop_failure", "loadgen")]
    if record.get("unsupported"):
        notes.append(f"unsupported on this platform: {record['unsupported']}")
    if record.get("server_errors"):
        notes.append("server counted errors " + ", ".join(f"{k} {v}" for k, v in record["server_errors"].items()))
    if record.get("backlog"):
        notes.append(f"{record['backlog']} still in the backlog after {ACCEPT_WAIT_S:g} s")
    return "; ".join(n for n in notes if n)


def print_table(title, header, rows):
    print(title)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        cells = [str(cell).rjust(width) if i else str(cell).ljust(width) for i, (cell, width)
                 in enumerate(zip(row[:-1], widths))]
        print("  ".join(cells + [str(row[-1])]).rstrip())
    print()


STATS_LINE_COLUMN = "to_stats_s: the server's own part of it, up to its stats line (the rest is the process exit)"


def print_stop_table(records, args):
    rows = [[r["model"], show(r.get("stop_s"), 2), show(r.get("server_stop_s"), 2), show(r.get("exit_code")),
             show(r.get("stats_line")), show(r.get("messages_before_stop")), note_for(r)] for r in records]
    print_table(f"Stop under load: {args.streaming} clients streaming {STREAM_SIZE // 1024} KiB echoes "
                f"(depth {STREAM_DEPTH}) for {args.stream_seconds:g} s, then stdin closed; stop_s: to exit; "
                f"{STATS_LINE_COLUMN}; echoed: messages echoed before the stop",
                ["model", "stop_s", "to_stats_s", "exit", "stats", "echoed", "note"], rows)


def print_idle_table(records, args):
    rows = [[r["model"], show(r["idle"]), show(r.get("held")), show(r.get("echo_p50_ms"), 2),
             show(r.get("echo_max_ms"), 2), show(r.get("worst_service_delay_ms")), show(r.get("stop_s"), 2),
             show(r.get("server_stop_s"), 2), show(r.get("exit_code")), show(r.get("peak_connections")), note_for(r)] for r in records]
    print_table(f"Active {ECHO_SIZE // 1024} KiB echo with N idle connections held: median and max of "
                f"{args.echoes} (ms); held: accepted by the server then; worst delay: worst_service_delay_ms "
                f"(readiness models); stop_s: to exit, N still held; {STATS_LINE_COLUMN}",
                ["model", "N", "held", "p50_ms", "max_ms", "worst_delay_ms", "stop_s", "to_stats_s", "exit", "peak_conn",
                 "note"], rows)


def write_json(path, stop_records, idle_records, args):
    from harness.version import version_line
    document = {"schema": SCHEMA, "version": version_line(PROGRAM),
                "servers_dir": str(args.servers_dir or ""), "native_dir": str(args.native_dir or ""),
                "streaming": args.streaming, "stream_seconds": args.stream_seconds, "echoes": args.echoes,
                "stop_under_load": stop_records, "idle_echo": idle_records}
    Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- main


def measure(names, args, loadgen, processes):
    stop_records, idle_records = [], []
    for model in names:
        stop_records.append(measure_stop_under_load(model, args, loadgen, processes))
        processes.end_all()
        for idle in args.idle if "unsupported" not in stop_records[-1] else []:
            idle_records.append(measure_idle_echo(model, idle, args, loadgen, processes))
            processes.end_all()
        print(f"{PROGRAM}: {model} done", file=sys.stderr, flush=True)
    return stop_records, idle_records


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        names, loadgen = check_arguments(args)
    except (UsageError, models.RegistryError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupted)
    processes = Processes()
    try:
        stop_records, idle_records = measure(names, args, loadgen, processes)
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; every server and loadgen it started is ended", file=sys.stderr)
        return 130
    finally:
        processes.end_all()
    print_stop_table(stop_records, args)
    print_idle_table(idle_records, args)
    if args.json:
        try:
            write_json(args.json, stop_records, idle_records, args)
        except OSError as error:
            print(f"{PROGRAM}: cannot write --json {args.json}: {error.strerror}", file=sys.stderr)
            return 1
    return 0


def interrupted(_signum, _frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())

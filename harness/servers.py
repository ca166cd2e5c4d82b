"""Starting and stopping the echo servers under test, through the platform
layer (harness.platforms: under Wine or directly, how the interrupt is sent).
Every wait is bounded, and a server that dies or hangs is reported with its
stderr."""
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

from harness import models, platforms
from harness.platforms.base import exit_description

ROOT = Path(__file__).resolve().parents[1]

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
# After the polite stop failed: how long the interrupt gets before the kill
# (at most the stop timeout itself).
INTERRUPT_GRACE = 10.0
# A server that floods its output must neither block (both pipes are read as
# fast as it writes) nor fill the harness's memory: what is kept is bounded.
STDOUT_LINE_LIMIT = 64 * 1024    # a longer stdout line is not one of the contract's
STDERR_KEPT = 64 * 1024          # the last bytes of stderr, for failures and records
CONTRACT_EVENTS = ("ready", "stats")
# Wine reports a crash on the program's stderr ("wine: Unhandled page fault on
# write access to ..., starting debugger..."), then its debugger writes a
# backtrace and ends the program: with exit code 5, or 0 (both seen here), so
# that line is the sure sign.
WINE_CRASH_MARK = "wine: Unhandled "


def selected_models():
    """WSB_SERVERS=a,b limits the tests to some models (default: every model
    this machine runs, from the registry)."""
    names = [n.strip() for n in os.environ.get("WSB_SERVERS", "").split(",") if n.strip()]
    known = models.all_models()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"WSB_SERVERS: unknown server(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return names or platforms.current().models()


def selected_variants():
    """(model, args) for each selected model: as it comes, then each of its
    variants (model.json's "variants": options that change how it works, each
    tested as a server of its own by the conformance suite and the loadgen workloads)."""
    return [(model, args) for model in selected_models()
            for args in [[], *(list(variant) for variant in models.variants(model))]]


def variant_id(model, args):
    """A test id for a variant: iocp-batch-16-skip-on-success."""
    return "-".join([model, *(a.lstrip("-") for a in args)])


def server_command(model, winsock_dir=None, native_dir=None):
    """The argv that starts a model on this machine (the folders default to
    WSB_MINGW_DIR / WSB_NATIVE_DIR, else the platform's build folders), or
    raises FileNotFoundError if it is not built or not on this platform."""
    return platforms.current().server_command(model, winsock_dir, native_dir)


# A server's exit code when this platform lacks what its model needs (RIO
# under Wine): said in one line on stderr, before the ready line.
EXIT_UNSUPPORTED = 3


class ServerError(AssertionError):
    """A server that failed to start or stop. str() carries the stderr tail
    (for test output); .reason is one line (for run records)."""

    def __init__(self, reason, stderr_tail=""):
        super().__init__(reason + stderr_tail)
        self.reason = reason


class ServerUnsupported(ServerError):
    """A server that exited with EXIT_UNSUPPORTED before its ready line: its
    model cannot run on this platform. .reason is the server's own line."""


class EchoServer:
    """One running server process. start() waits for its ready line;
    stop() closes stdin and waits for its stats line.

    command: the argv that starts it (default: server_command(model)), so a
    caller can run another build of the model, or a stand-in; or a function
    of the server's arguments that returns the whole argv (a server on
    another host: harness.hosts.HostsFile.server_command).
    cpus: CPUs to pin the process to (None: not pinned).
    system: the platform layer that starts and stops it (default: this machine's)."""

    def __init__(self, model, args=(), command=None, cpus=None,
                 ready_timeout=READY_TIMEOUT, stop_timeout=STOP_TIMEOUT, system=None):
        self.model = model
        self.system = system or platforms.current()
        self.args = list(args)
        self.command = command if callable(command) else (list(command) if command else None)
        self.cpus = list(cpus) if cpus else None
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.ready = None
        self.stats = None
        self.process = None
        self.stopped_by = None  # once stopped: the label of the stop step that did it ("stdin", "sigint", "kill")
        self._lines = queue.Queue()
        self._reader = None
        self._stdout_ended = False
        self._stderr_reader = None
        self._stderr_tail = b""
        self.dropped_lines = 0  # stdout lines that were neither a contract event nor the first bad line

    @property
    def port(self):
        return self.ready["port"]

    def start(self):
        command = self.command or self.system.server_command(self.model)
        arguments = ["--port", "0"] + self.args
        argv = command(arguments) if callable(command) else command + arguments
        self.process = self.system.start(argv, cpus=self.cpus, own_group=True, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        self.ready = self._expect_event("ready", self.ready_timeout)
        return self

    def _read_stdout(self):
        """Queues the lines the contract speaks of (ready, stats) and the first
        line that is not JSON (the error _expect_event reports); drops the rest."""
        bad_line_seen = False
        while raw := self.process.stdout.readline(STDOUT_LINE_LIMIT):
            too_long = not raw.endswith(b"\n") and len(raw) == STDOUT_LINE_LIMIT
            while too_long and (rest := self.process.stdout.readline(STDOUT_LINE_LIMIT)):
                too_long = not rest.endswith(b"\n")
            line = raw.decode("utf-8", "replace").strip()
            if not line or too_long or len(raw) == STDOUT_LINE_LIMIT:
                self.dropped_lines += bool(line)
                continue
            try:
                record = json.loads(line)
                wanted = isinstance(record, dict) and record.get("event") in CONTRACT_EVENTS
            except json.JSONDecodeError:
                wanted, bad_line_seen = not bad_line_seen, True
            if wanted:
                self._lines.put(line)
            else:
                self.dropped_lines += 1
        self._lines.put(None)

    def _read_stderr(self):
        """Keeps the last STDERR_KEPT bytes."""
        while chunk := self.process.stderr.read1(65536):
            self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_KEPT:]

    def _expect_event(self, event, timeout):
        """The first stdout line that is this JSON event; bounded by timeout."""
        deadline = time.monotonic() + timeout  # a chatty server must not extend it
        try:
            while not self._stdout_ended:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
                if line is None:
                    self._stdout_ended = True
                    break
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise ServerError(f"{self.model}: stdout line is not JSON: {line[:200]!r}",
                                      self.stderr_tail()) from None
                if isinstance(record, dict) and record.get("event") == event:
                    return record
        except queue.Empty:
            raise ServerError(f"{self.model}: no {event} line within {timeout:g} s", self.stderr_tail()) from None
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if event == "ready" and self.process.returncode == EXIT_UNSUPPORTED:
            said = [line for line in self.stderr_text().splitlines() if line.strip()]
            raise ServerUnsupported(said[-1] if said else f"{self.model}: unsupported on this platform")
        ended = self.crash() or exit_description(self.process.returncode)
        raise ServerError(f"{self.model} {ended} before its {event} line", self.stderr_tail())

    def stderr_tail(self, limit=4000):
        text = self.stderr_text(limit)
        return f"\n--- {self.model} stderr ---\n{text}" if text.strip() else ""

    def stderr_text(self, limit=4000):
        """The last `limit` characters the server wrote on stderr (once it has
        exited, after a moment for the reader to take the rest of the pipe)."""
        if self._stderr_reader is not None and self.process.poll() is not None:
            self._stderr_reader.join(timeout=1)
        return self._stderr_tail.decode("utf-8", "replace")[-limit:]

    def stop(self, how="stdin"):
        """Stops the server the way the orchestrator does (how="stdin": close
        its stdin) or with the platform's interrupt (how="interrupt": SIGINT,
        CTRL_BREAK_EVENT); returns its stats line. A server that does not stop
        that way gets the next steps of the platform's stop sequence (the
        interrupt, then the kill), and a ServerError is raised (with .stats
        kept if a later step produced them)."""
        if self.process is None or self.stats is not None:
            return self.stats
        if how not in ("stdin", "interrupt"):
            raise ValueError(f"how={how!r}: stdin or interrupt")
        steps = self.system.stop_steps(self.process)
        polite, *fallbacks = steps if how == "stdin" else steps[1:]
        try:
            polite.act()
            self.stats = self._expect_event("stats", self.stop_timeout)
            stats_seen = time.monotonic()
            self.process.wait(timeout=self.stop_timeout)
            self.stopped_by = polite.label
        except (ServerError, subprocess.TimeoutExpired) as failure:
            reason = getattr(failure, "reason",
                             f"{self.model}: still running {self.stop_timeout:g} s after its stats line")
            raise self._force_stop(polite, fallbacks, reason) from None
        ended = self.crash() or (exit_description(self.process.returncode) if self.process.returncode else None)
        if ended:
            raise ServerError(f"{self.model} {ended} {time.monotonic() - stats_seen:.2f} s after its stats line "
                              f"(the only stop step sent was: {polite.said})", self.stderr_tail())
        return self.stats

    def crash(self):
        """"crashed (wine: Unhandled ...)" if Wine reported a crash on its
        stderr, else None. Read without waiting for the pipe's end: the line
        comes before Wine's debugger runs, long before the process ends."""
        text = self._stderr_tail.decode("utf-8", "replace")
        line = next((line.strip() for line in text.splitlines() if line.startswith(WINE_CRASH_MARK)), None)
        return f"crashed ({line})" if line else None

    def _force_stop(self, tried, fallbacks, reason):
        """The stop steps after the one that failed, while the server runs; the
        error to raise, saying how the server finally stopped."""
        grace = min(INTERRUPT_GRACE, self.stop_timeout)
        after = f" after {tried.said}"
        for step in fallbacks:
            if self.process.poll() is not None:
                break
            step.act()
            if step.final:
                self.process.wait(timeout=10)
                self.stopped_by = step.label
                return ServerError(f"{reason}{after}; killed", self.stderr_tail())
            try:
                if self.stats is None:
                    self.stats = self._expect_event("stats", grace)
                self.process.wait(timeout=grace)
                self.stopped_by = step.label
                return ServerError(f"{reason}{after}; {step.said} stopped it", self.stderr_tail())
            except (ServerError, subprocess.TimeoutExpired):
                after += f", nor after {step.said}"
        self.stopped_by = self.stopped_by or tried.label
        return ServerError(reason, self.stderr_tail())

    def kill(self):
        if self.process and self.process.poll() is None:
            self.system.kill(self.process)
            self.process.wait(timeout=10)

    def close(self):
        """Kills the server if it still runs and releases its pipes and files."""
        self.kill()
        if self.process and self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        # stdout belongs to the reader thread until it has seen the end (a
        # process Wine started may still hold the pipe: then it stays open).
        for reader, pipe in ((self._reader, self.process and self.process.stdout),
                             (self._stderr_reader, self.process and self.process.stderr)):
            if reader is not None:
                reader.join(timeout=2)
                if not reader.is_alive():
                    pipe.close()

    def alive(self):
        return self.process.poll() is None

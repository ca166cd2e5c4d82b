"""Starting and stopping the echo servers under test: the Winsock ones under
Wine (scripts/wine-run), the Linux reference natively. Every wait is bounded,
and a server that dies or hangs is reported with its stderr."""
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINE_RUN = ROOT / "scripts" / "wine-run"
WINSOCK_MODELS = ["thread", "select", "asyncselect", "wsapoll", "overlapped", "iocp"]
NATIVE_MODELS = ["reference-epoll"]
ALL_MODELS = WINSOCK_MODELS + NATIVE_MODELS

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def selected_models():
    """WSB_SERVERS=a,b limits the run to some models (default: all seven)."""
    names = [n.strip() for n in os.environ.get("WSB_SERVERS", "").split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL_MODELS))
    if unknown:
        raise SystemExit(f"WSB_SERVERS: unknown server(s) {', '.join(unknown)}; known: {', '.join(ALL_MODELS)}")
    return names or ALL_MODELS


def server_command(model):
    """The argv that starts a model, or raises FileNotFoundError if it is not built."""
    if model in NATIVE_MODELS:
        folder = Path(os.environ.get("WSB_NATIVE_DIR", ROOT / "build" / "native" / "servers"))
        exe = folder / model / model
        if not exe.exists():
            exe = folder / model
        prefix = []
    else:
        folder = Path(os.environ.get("WSB_MINGW_DIR", ROOT / "build" / "mingw" / "servers"))
        exe = folder / f"{model}.exe"
        prefix = [str(WINE_RUN)]
    if not exe.is_file():
        raise FileNotFoundError(f"{model}: not built ({exe} is missing); run scripts/build.sh")
    return prefix + [str(exe)]


class ServerError(AssertionError):
    pass


class EchoServer:
    """One running server process. start() waits for its ready line;
    stop() closes stdin and waits for its stats line."""

    def __init__(self, model, args=()):
        self.model = model
        self.args = list(args)
        self.ready = None
        self.stats = None
        self.process = None
        self._lines = queue.Queue()
        self._stderr = tempfile.TemporaryFile()

    @property
    def port(self):
        return self.ready["port"]

    def start(self):
        argv = server_command(self.model) + ["--port", "0"] + self.args
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, start_new_session=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.ready = self._expect_event("ready", READY_TIMEOUT)
        return self

    def _read_stdout(self):
        for raw in self.process.stdout:
            self._lines.put(raw.decode("utf-8", "replace").strip())
        self._lines.put(None)

    def _expect_event(self, event, timeout):
        try:
            while True:
                line = self._lines.get(timeout=timeout)
                if line is None:
                    self.process.wait(timeout=10)
                    raise ServerError(f"{self.model} exited (code {self.process.returncode}) "
                                      f"before its {event} line{self.stderr_tail()}")
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise ServerError(f"{self.model}: stdout line is not JSON: {line!r}{self.stderr_tail()}")
                if record.get("event") == event:
                    return record
        except queue.Empty:
            raise ServerError(f"{self.model}: no {event} line within {timeout:.0f} s{self.stderr_tail()}")

    def stderr_tail(self, limit=4000):
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")[-limit:]
        return f"\n--- {self.model} stderr ---\n{text}" if text.strip() else ""

    def stop(self, how="stdin"):
        """Stops the server the way the orchestrator does (close stdin) or with
        SIGINT (Ctrl-C); returns its stats line. Kills it if it hangs."""
        if self.process is None or self.stats is not None:
            return self.stats
        try:
            if how == "stdin":
                self.process.stdin.close()
            else:
                self.process.send_signal(signal.SIGINT)
            self.stats = self._expect_event("stats", STOP_TIMEOUT)
            self.process.wait(timeout=STOP_TIMEOUT)
        except (ServerError, subprocess.TimeoutExpired) as failure:
            self.kill()
            raise ServerError(f"{self.model} did not stop cleanly: {failure}")
        if self.process.returncode != 0:
            raise ServerError(f"{self.model} exited with code {self.process.returncode}{self.stderr_tail()}")
        return self.stats

    def kill(self):
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)

    def alive(self):
        return self.process.poll() is None

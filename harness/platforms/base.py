"""The interface every platform layer has, and what the platforms share.

A layer is made for one system ("Linux", "Windows") and takes what it uses
from the machine as constructor arguments (the project root, the
environment, the Popen class, the kernel calls), so the tests run the
Windows branch on Linux with fakes, without pretending the whole process is
on Windows."""
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import models
from harness.platforms import layout

NOT_HERE = "not on this platform"


def exit_description(returncode):
    """How a process ended, from its exit status: "exited with code 1", or
    "was ended by signal SIGKILL (9)" (Python reports a signal as -N)."""
    if returncode is not None and returncode < 0:
        try:
            return f"was ended by signal {signal.Signals(-returncode).name} ({-returncode})"
        except ValueError:
            return f"was ended by signal {-returncode}"
    return f"exited with code {returncode}"


class PlatformError(RuntimeError):
    """Something this platform cannot do (pinning where there is no affinity
    call); one line."""


@dataclass(frozen=True)
class StopStep:
    """One step of stopping a server, politest first."""
    label: str          # the record's server_stopped_by when this step stopped it
    said: str           # how a message names it ("closing stdin", "SIGINT")
    act: object         # a function of no arguments
    final: bool = False  # the kill: nothing is asked of the server any more


class Platform:
    """What differs between the platforms the harness runs on. Subclasses set
    the class attributes and the methods that raise NotImplementedError."""
    system = None            # platform.system() of the machines this layer serves
    winsock_presets = ()     # where the Winsock servers are looked for, in this order
    native_presets = ()      # where the native (Linux) servers are
    loadgen_presets = ()     # where the load generator is
    build_command = None     # what a user runs to build the tree here
    interrupt_label = None   # server_stopped_by when the interrupt stopped a server
    interrupt_name = None    # the interrupt as messages name it
    orphans_note = None      # why orphans are not searched for here (None: they are)
    affinity_call = None     # the call pinning uses, for messages

    def __init__(self, root=layout.ROOT, environ=None, popen=None):
        self.root = Path(root)
        self.environ = os.environ if environ is None else environ
        self.popen = popen or subprocess.Popen

    # ------------------------------------------------------------ models

    def models(self):
        """The models this platform runs, in the registry's order."""
        return models.models_for_platform(self.system)

    def skip_reason(self, server):
        """Why a run here leaves a server out ("not on this platform"), or
        None. A name that is not a model (a test's stand-in) runs anywhere."""
        return NOT_HERE if models.get(server) is not None and server not in self.models() else None

    def runs_under_wine(self, server):
        return False

    def runtime_of(self, server):
        """How a server runs here, for estimates and listings: "wine" or "native"."""
        return "wine" if self.runs_under_wine(server) else "native"

    # ------------------------------------------------------------ builds

    def winsock_servers_dir(self):
        """WSB_MINGW_DIR, else the first of this platform's Winsock presets that
        holds any server (else the first one's folder, for the message)."""
        return self._servers_dir("WSB_MINGW_DIR", self.winsock_presets, windows_programs=True)

    def native_servers_dir(self):
        """WSB_NATIVE_DIR, else the native preset's folder; None where no
        native server is built (Windows)."""
        return self._servers_dir("WSB_NATIVE_DIR", self.native_presets, windows_programs=False)

    def _servers_dir(self, variable, presets, windows_programs):
        if self.environ.get(variable):
            return Path(self.environ[variable])
        folders = [layout.PRESETS[name].servers_dir(self.root) for name in presets]
        for folder in folders:
            if any(layout.server_executable(folder, model, windows_programs).is_file() for model in models.all_models()
                   if models.is_winsock(model) == windows_programs):
                return folder
        return folders[0] if folders else None

    def preset_of(self, servers_dir):
        """The preset whose servers folder this is, or None (a folder of one's own)."""
        for name in (*self.winsock_presets, *self.native_presets):
            if layout.PRESETS[name].servers_dir(self.root) == Path(servers_dir):
                return name
        return None

    def loadgen(self):
        """WSB_LOADGEN, else the first of this platform's builds that holds the
        load generator (else the first one's path, for the message)."""
        if self.environ.get("WSB_LOADGEN"):
            return Path(self.environ["WSB_LOADGEN"])
        paths = [layout.PRESETS[name].loadgen(self.root) for name in self.loadgen_presets]
        return next((path for path in paths if path.is_file()), paths[0])

    def server_executable(self, server, winsock_dir=None, native_dir=None):
        """Where a model's executable is expected (None: no such build here)."""
        if models.is_winsock(server):
            return layout.server_executable(winsock_dir or self.winsock_servers_dir(), server, True)
        folder = native_dir or self.native_servers_dir()
        return layout.server_executable(folder, server, False) if folder else None

    def server_command(self, server, winsock_dir=None, native_dir=None):
        """The argv that starts a model here; FileNotFoundError (one line) when
        it is not built or not on this platform."""
        if self.skip_reason(server):
            raise FileNotFoundError(f"{server}: {self.skip_reason(server)} ({self.system})")
        exe = self.server_executable(server, winsock_dir, native_dir)
        if exe is None or not exe.is_file():
            raise FileNotFoundError(f"{server}: not built ({exe} is missing); run {self.build_command}")
        return self.launcher(server) + [str(exe)]

    def launcher(self, server):
        """What goes before a server's executable in its argv."""
        return self.windows_program_launcher() if models.is_winsock(server) else []

    def windows_program_launcher(self):
        """What goes before any Windows executable's path in an argv (a model's or
        another program's, such as a sample server a measurement compares with)."""
        return []

    # ------------------------------------------------------------ processes

    def start(self, argv, cpus=None, own_group=False, **options):
        """Starts a process (subprocess.Popen's options), pinned to `cpus`
        when given, in a process group of its own when own_group (so that the
        interrupt reaches it alone)."""
        raise NotImplementedError

    def interrupt(self, process):
        raise NotImplementedError

    def kill(self, process):
        raise NotImplementedError

    def stop_steps(self, process):
        """How a server is stopped, politest first: the end of its stdin (the
        contract's stop, the same everywhere), this platform's interrupt, the kill."""
        return [StopStep("stdin", "closing stdin", lambda: close_stdin(process)),
                StopStep(self.interrupt_label, self.interrupt_name, lambda: self.interrupt(process)),
                StopStep("kill", "kill", lambda: self.kill(process), final=True)]

    # ------------------------------------------------------------ CPUs

    def usable_cpus(self):
        """The CPUs this process may run on (sorted), or None where the
        platform cannot say (and cannot pin)."""
        raise NotImplementedError

    def place(self, pid, cpus):
        """Moves a running process, every thread of it, to `cpus` (OSError
        if it cannot be moved; a process that has gone is left alone)."""
        raise OSError(f"{self.system} gives this harness no way to move a process to a CPU")

    def allowed_cpus(self, pid):
        """The CPUs a running process may use, read back from the system (not
        what was asked for), or None where it cannot be read or has gone."""
        return None

    def cpu_count(self):
        """The CPUs a load generator may spread over (unpinned)."""
        return len(self.usable_cpus() or []) or os.cpu_count() or 1

    # ------------------------------------------------------------ CPU time (None: not available)

    def machine_busy_s(self):
        """CPU seconds all cores spent busy since boot."""
        return None

    def process_cpu_s(self, pid):
        return None

    def own_cpu_s(self):
        """CPU seconds of this process and the processes it started."""
        raise NotImplementedError

    def loadavg(self):
        return None

    def governor(self):
        return None

    # ------------------------------------------------------------ facts

    def facts(self, with_wine, servers_dir=None):
        """The manifest's `platform`: OS, version, CPU, compiler, Python."""
        raise NotImplementedError


def command_output(argv, cwd=None, timeout=30):
    """First line of a command's stdout, or None if it fails."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def close_stdin(process):
    if process.stdin and not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass  # the server is gone already: the wait that follows says so

"""Linux (and other POSIX systems): the Winsock servers run under Wine
through scripts/wine-run, the reference natively; processes are stopped
with signals to their session's process group, pinned with
sched_setaffinity before they exec, and measured from /proc."""
import os
import platform
import signal
from pathlib import Path

from harness import models
from harness.platforms import procfs, wine
from harness.platforms.base import Platform, command_output
from harness.platforms.layout import ROOT
from harness.platforms.wine import WINE_RUN_PATH
# POSIX's values, so that the Linux branch runs in the tests on Windows too.
SIGINT = getattr(signal, "SIGINT", 2)
SIGKILL = getattr(signal, "SIGKILL", 9)


class LinuxPlatform(Platform):
    system = "Linux"
    winsock_presets = ("mingw",)
    native_presets = ("native",)
    loadgen_presets = ("native",)
    build_command = "scripts/build.sh"
    interrupt_label = "sigint"
    interrupt_name = "SIGINT"
    affinity_call = "os.sched_setaffinity"

    def __init__(self, root=ROOT, environ=None, popen=None, os_module=os, proc=procfs.PROC, sys_cpu=procfs.SYS_CPU):
        super().__init__(root, environ, popen)
        self.os = os_module
        self.proc = Path(proc)
        self.sys_cpu = Path(sys_cpu)

    @property
    def wine_run(self):
        return self.root / WINE_RUN_PATH

    def runs_under_wine(self, server):
        return models.is_winsock(server)

    def windows_program_launcher(self):
        return [str(self.wine_run)]

    # ------------------------------------------------------------ processes

    def start(self, argv, cpus=None, own_group=False, **options):
        if self.runs_in_project_prefix(argv, options.get("env")):
            wine.ensure_wineserver()

        # Pinned before exec, so every thread the program (and Wine) starts
        # inherits it: Linux affinity is per thread.
        def pin():
            self.os.sched_setaffinity(0, cpus)
        return self.popen(argv, start_new_session=own_group, preexec_fn=pin if cpus else None, **options)

    def runs_in_project_prefix(self, argv, env=None):
        """Whether argv is a Wine program of the project's own prefix (through
        this project's wine-run), whose wineserver is this harness's to keep."""
        if not argv or Path(argv[0]) != self.wine_run or self.root != ROOT:
            return False
        prefix = (env if env is not None else self.environ).get("WINEPREFIX")
        return prefix is None or Path(prefix).resolve() == wine.run_prefix().resolve()

    def interrupt(self, process):
        self._signal_group(process, SIGINT)

    def kill(self, process):
        self._signal_group(process, SIGKILL)

    def _signal_group(self, process, signum):
        """To the server's whole group (started with own_group): wine-run and
        what Wine runs for it go together."""
        try:
            self.os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass

    # ------------------------------------------------------------ CPUs

    def usable_cpus(self):
        getaffinity = getattr(self.os, "sched_getaffinity", None)
        if getaffinity is None or not hasattr(self.os, "sched_setaffinity"):
            return None
        return sorted(getaffinity(0))

    def place(self, pid, cpus):
        # Each thread on its own: sched_setaffinity moves one thread, and a
        # thread a process starts later inherits its creator's affinity.
        for tid in procfs.thread_ids(pid, self.proc):
            try:
                self.os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                pass  # that thread (or the process) ended meanwhile

    def allowed_cpus(self, pid):
        return procfs.allowed_cpus(pid, self.proc)

    # ------------------------------------------------------------ CPU time

    def machine_busy_s(self):
        return procfs.machine_busy_s(self.proc)

    def process_cpu_s(self, pid):
        return procfs.process_cpu_s(pid, self.proc)

    def own_cpu_s(self):
        """This process and the children it has waited for (the server, the
        load generator and wine-run once they are reaped)."""
        times = self.os.times()
        return times.user + times.system + times.children_user + times.children_system

    def loadavg(self):
        return procfs.loadavg(self.proc)

    def governor(self):
        return procfs.governor(self.sys_cpu)

    # ------------------------------------------------------------ facts

    def facts(self, with_wine, servers_dir=None):
        uname = platform.uname()
        return {
            "os": uname.system, "kernel": uname.release, "uname": " ".join(part for part in uname if part),
            "distribution": os_release_name(),
            "wine": command_output([str(self.wine_run), "--version"]) if with_wine else None,
            "compiler": command_output(["x86_64-w64-mingw32-gcc", "--version"]),
            "cpu_model": cpu_model(self.proc), "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        }


def os_release_name(path=Path("/etc/os-release")):
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def cpu_model(proc=procfs.PROC):
    try:
        for line in (Path(proc) / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None

"""Windows: the Winsock servers run directly (no Wine), from the `windows`
preset's build (MSVC) or else the `windows-mingw` one; a server is started
in a process group of its own so that CTRL_BREAK_EVENT reaches it alone,
pinned with SetProcessAffinityMask once it runs (a Windows process's
affinity covers all its threads, later ones too), and measured with
GetProcessTimes and GetSystemTimes. reference-epoll is Linux-only: runs
here skip it."""
import os
import platform
import re
import signal
import subprocess

from harness.platforms import layout, winapi
from harness.platforms.base import Platform, command_output

# The Windows API's values, so that the Windows branch runs in the tests on
# Linux too (where subprocess and signal do not define them).
CREATE_NEW_PROCESS_GROUP = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200)
CTRL_BREAK_EVENT = getattr(signal, "CTRL_BREAK_EVENT", 1)

CURRENT_VERSION_KEY = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"
CURRENT_VERSION_VALUES = ("ProductName", "DisplayVersion", "ReleaseId", "CurrentBuild", "UBR")
PROCESSOR_KEY = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
PROCESSOR_VALUES = ("ProcessorNameString",)
# Windows 11 kept "Windows 10" in the registry's ProductName; its builds start here.
FIRST_WINDOWS_11_BUILD = 22000
THIS_MACHINE = object()  # the default kernel32: this machine's


class WindowsPlatform(Platform):
    system = "Windows"
    winsock_presets = ("windows", "windows-mingw")
    native_presets = ()
    loadgen_presets = ("windows", "windows-mingw")
    build_command = r"scripts\build.ps1"
    interrupt_label = "ctrl-break"
    interrupt_name = "CTRL_BREAK_EVENT"
    affinity_call = "SetProcessAffinityMask of kernel32"
    orphans_note = ("not needed on Windows: a server whose harness is gone reads the end of its stdin and stops, "
                    "and a load generator ends with its duration")

    def __init__(self, root=layout.ROOT, environ=None, popen=None, kernel32=THIS_MACHINE, send_event=None,
                 read_registry=None, run_command=None):
        """kernel32: a winapi.Kernel32, or None for none (default: this
        machine's, which is none off Windows); send_event: os.kill;
        read_registry(key, names) -> {name: value} under HKEY_LOCAL_MACHINE;
        run_command(argv) -> its first line of output."""
        super().__init__(root, environ, popen)
        self.kernel32 = winapi.Kernel32.load() if kernel32 is THIS_MACHINE else kernel32
        self.send_event = send_event or os.kill
        self.read_registry = read_registry or read_registry_values
        self.run_command = run_command or command_output
        self._children = []           # query handles of started processes still running
        self._finished_children_s = 0.0

    # ------------------------------------------------------------ processes

    def start(self, argv, cpus=None, own_group=False, **options):
        flags = options.pop("creationflags", 0) | (CREATE_NEW_PROCESS_GROUP if own_group else 0)
        process = self.popen(argv, creationflags=flags, **options)
        try:
            self._track(process.pid)
            if cpus:
                self._pin(process.pid, cpus)
        except OSError:
            self.kill(process)
            process.wait()
            raise
        return process

    def place(self, pid, cpus):
        self._pin(pid, cpus)

    def allowed_cpus(self, pid):
        return self._query(pid, self.kernel32.process_affinity if self.kernel32 else None)

    def _query(self, pid, read):
        """read(handle) of a process opened for querying, or None where it
        cannot be opened or read (gone, not ours, no kernel32)."""
        if read is None:
            return None
        try:
            handle = self.kernel32.open_process(pid, winapi.PROCESS_QUERY_LIMITED_INFORMATION)
        except OSError:
            return None
        try:
            return read(handle)
        except OSError:
            return None
        finally:
            self.kernel32.close(handle)

    def _pin(self, pid, cpus):
        if self.kernel32 is None:
            raise OSError(f"cannot pin pid {pid}: {self.affinity_call} is not available")
        handle = self.kernel32.open_process(pid, winapi.PROCESS_SET_INFORMATION
                                            | winapi.PROCESS_QUERY_LIMITED_INFORMATION)
        try:
            self.kernel32.set_process_affinity(handle, cpus)
        finally:
            self.kernel32.close(handle)

    def _track(self, pid):
        """Keeps a handle to a started process, so that its CPU time can be
        counted as the harness's own even after it exits (os.times() has no
        children's times on Windows)."""
        if self.kernel32 is None:
            return
        try:
            self._children.append(self.kernel32.open_process(pid, winapi.PROCESS_QUERY_LIMITED_INFORMATION
                                                             | winapi.SYNCHRONIZE))
        except OSError:
            pass  # uncounted: its CPU shows as the other processes' in the item's machine figures

    def interrupt(self, process):
        """CTRL_BREAK_EVENT to the server's process group (its own, so the
        harness's console is not interrupted)."""
        try:
            self.send_event(process.pid, CTRL_BREAK_EVENT)
        except OSError:
            pass  # gone already: the wait that follows says so

    def kill(self, process):
        """TerminateProcess (the servers start no processes of their own)."""
        if process.poll() is None:
            try:
                process.kill()
            except OSError:
                pass

    # ------------------------------------------------------------ CPUs

    def usable_cpus(self):
        if self.kernel32 is None:
            return None
        try:
            return self.kernel32.own_affinity()
        except OSError:
            return None

    # ------------------------------------------------------------ CPU time

    def machine_busy_s(self):
        return self.kernel32.system_busy_s() if self.kernel32 else None

    def process_cpu_s(self, pid):
        return self._query(pid, self.kernel32.process_cpu_s if self.kernel32 else None)

    def own_cpu_s(self):
        times = os.times()  # on Windows: this process only
        return times.user + times.system + self._children_cpu_s()

    def _children_cpu_s(self):
        """The CPU of every process this layer started; an exited one's final
        figure is kept and its handle closed."""
        running_s = 0.0
        for handle in list(self._children):
            seconds = self.kernel32.process_cpu_s(handle) or 0.0
            if self.kernel32.has_exited(handle):
                self._finished_children_s += seconds
                self._children.remove(handle)
                self.kernel32.close(handle)
            else:
                running_s += seconds
        return self._finished_children_s + running_s

    # ------------------------------------------------------------ facts

    def facts(self, with_wine, servers_dir=None):
        uname = platform.uname()
        version = windows_version(self.run_command(["cmd", "/c", "ver"])) or platform.version() or None
        processor = self.read_registry(PROCESSOR_KEY, PROCESSOR_VALUES)
        return {
            "os": "Windows", "kernel": version, "uname": " ".join(part for part in uname if part),
            "distribution": windows_edition(self.read_registry(CURRENT_VERSION_KEY, CURRENT_VERSION_VALUES)),
            "wine": None,
            "compiler": layout.compiler_description(layout.build_folder_of(servers_dir)) if servers_dir else None,
            "cpu_model": str(processor.get("ProcessorNameString") or "").strip() or platform.processor() or None,
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
        }


def windows_version(ver_output):
    """"10.0.22631.2861" from what `ver` prints ("Microsoft Windows [Version
    10.0.22631.2861]", the word translated on other languages' Windows)."""
    match = re.search(r"\b(\d+\.\d+\.\d+(?:\.\d+)?)\]?", ver_output or "")
    return match.group(1) if match else None


def windows_edition(values):
    """"Windows 11 Pro 23H2 (build 22631.2861)" from the CurrentVersion
    registry values; None without a ProductName."""
    product = str(values.get("ProductName") or "").strip()
    if not product:
        return None
    build = str(values.get("CurrentBuild") or "").strip()
    if product.startswith("Windows 10") and build.isdigit() and int(build) >= FIRST_WINDOWS_11_BUILD:
        product = "Windows 11" + product[len("Windows 10"):]
    release = str(values.get("DisplayVersion") or values.get("ReleaseId") or "").strip()
    revision = values.get("UBR")
    build_text = f"{build}.{revision}" if build and revision is not None else build
    return " ".join(part for part in (product, release) if part) + (f" (build {build_text})" if build_text else "")


def read_registry_values(key_path, names):
    """{name: value} of the values found under HKEY_LOCAL_MACHINE\\key_path; {} off Windows."""
    try:
        import winreg
    except ImportError:
        return {}
    values = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:
            for name in names:
                try:
                    values[name] = winreg.QueryValueEx(key, name)[0]
                except OSError:
                    pass  # this Windows does not have that value (DisplayVersion before 20H2)
    except OSError:
        pass
    return values

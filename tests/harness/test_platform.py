"""The platform layer (harness/platforms/): where each preset's executables
are, how a server is started and stopped, how processes are pinned, the CPU
readers and the facts a manifest records, which models a platform runs.
The Windows layer is made here with its machine given as fakes (a fake
Popen, a fake kernel32, recorded registry values and `ver` outputs), so its
branch runs on Linux; nothing pretends that this process is on Windows."""
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from ctypes import c_size_t
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import models, platforms, report, store, suites
from harness import run as runner
from harness.ab import base_presets
from harness.loadgen import LoadgenNotFound, find_loadgen
from harness.platforms import layout, winapi, wine
from harness.platforms.linux import LinuxPlatform
from harness.platforms.windows import (CREATE_NEW_PROCESS_GROUP, CTRL_BREAK_EVENT, WindowsPlatform, windows_edition,
                                       windows_version)
from harness.run import orphans
from harness.run.placement import plan_placement
from harness.run.registry import BuiltServers, Variant, split_runnable
from harness.servers import EchoServer, ServerError

DATA = Path(__file__).resolve().parent / "data"
FAKES = Path(__file__).resolve().parent / "fake_servers"
WINSOCK = [name for name in models.all_models() if models.is_winsock(name)]


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def windows(tmp_path, **machine):
    machine.setdefault("kernel32", None)
    return WindowsPlatform(root=tmp_path, environ=machine.pop("environ", {}), **machine)


# ---------------------------------------------------------------- where the executables are


@pytest.mark.parametrize("preset, server, loadgen", [
    ("native", "build/native/servers/reference-epoll/reference-epoll", "build/native/loadgen/loadgen"),
    ("mingw", "build/mingw/servers/iocp.exe", "build/mingw/loadgen/loadgen.exe"),
    ("clang-mingw", "build/clang-mingw/servers/iocp.exe", "build/clang-mingw/loadgen/loadgen.exe"),
    ("windows", "build/windows/servers/Release/iocp.exe", "build/windows/loadgen/Release/loadgen.exe"),
    ("windows-mingw", "build/windows-mingw/servers/iocp.exe", "build/windows-mingw/loadgen/loadgen.exe"),
])
def test_each_preset_puts_its_executables_where_the_layout_says(tmp_path, preset, server, loadgen):
    found = layout.PRESETS[preset]
    model = "reference-epoll" if preset == "native" else "iocp"
    touch(tmp_path / "build/native/servers/reference-epoll/reference-epoll")
    assert layout.server_executable(found.servers_dir(tmp_path), model, found.windows_programs) == tmp_path / server
    assert found.loadgen(tmp_path) == tmp_path / loadgen
    assert found.multi_config == (preset == "windows")


def test_windows_looks_in_the_msvc_build_first_then_the_mingw_one(tmp_path):
    system = windows(tmp_path)
    # Nothing built: the messages name the first preset's folders.
    assert system.winsock_servers_dir() == tmp_path / "build/windows/servers/Release"
    assert system.loadgen() == tmp_path / "build/windows/loadgen/Release/loadgen.exe"
    with pytest.raises(FileNotFoundError, match=r"iocp: not built .*build.ps1"):
        system.server_command("iocp")
    touch(tmp_path / "build/windows-mingw/servers/iocp.exe")
    touch(tmp_path / "build/windows-mingw/loadgen/loadgen.exe")
    assert system.winsock_servers_dir() == tmp_path / "build/windows-mingw/servers"
    assert system.loadgen() == tmp_path / "build/windows-mingw/loadgen/loadgen.exe"
    assert system.server_command("iocp") == [str(tmp_path / "build/windows-mingw/servers/iocp.exe")]  # no Wine
    touch(tmp_path / "build/windows/servers/Release/select.exe")
    touch(tmp_path / "build/windows/loadgen/Release/loadgen.exe")
    assert system.winsock_servers_dir() == tmp_path / "build/windows/servers/Release"
    assert system.loadgen() == tmp_path / "build/windows/loadgen/Release/loadgen.exe"
    assert system.native_servers_dir() is None
    assert system.preset_of(system.winsock_servers_dir()) == "windows"


def test_the_environment_overrides_the_layout_on_both_platforms(tmp_path):
    environ = {"WSB_MINGW_DIR": str(tmp_path / "mine"), "WSB_NATIVE_DIR": str(tmp_path / "native"),
               "WSB_LOADGEN": str(tmp_path / "lg.exe")}
    for system in (windows(tmp_path, environ=environ), LinuxPlatform(root=tmp_path, environ=environ)):
        assert system.winsock_servers_dir() == tmp_path / "mine"
        assert system.native_servers_dir() == tmp_path / "native"
        assert system.loadgen() == tmp_path / "lg.exe"
        assert system.preset_of(tmp_path / "mine") is None


def test_linux_starts_winsock_servers_under_wine_and_the_reference_natively(tmp_path):
    system = LinuxPlatform(root=tmp_path, environ={})
    iocp = touch(tmp_path / "build/mingw/servers/iocp.exe")
    reference = touch(tmp_path / "build/native/servers/reference-epoll/reference-epoll")
    assert system.server_command("iocp") == [str(tmp_path / "scripts/wine-run"), str(iocp)]
    assert system.server_command("reference-epoll") == [str(reference)]
    assert system.loadgen() == tmp_path / "build/native/loadgen/loadgen"
    assert system.runtime_of("iocp") == "wine" and system.runtime_of("reference-epoll") == "native"


# ---------------------------------------------------------------- which models run here


def test_windows_runs_the_winsock_models_and_skips_the_linux_one(tmp_path):
    system = windows(tmp_path)
    assert system.models() == WINSOCK and "reference-epoll" not in system.models()
    assert system.skip_reason("reference-epoll") == platforms.NOT_HERE
    assert system.skip_reason("iocp") is None and system.skip_reason("a-stand-in") is None
    with pytest.raises(FileNotFoundError, match="reference-epoll: not on this platform"):
        system.server_command("reference-epoll")
    assert split_runnable(["iocp", "reference-epoll", "select"], BuiltServers(system)) == (
        ["iocp", "select"], {"reference-epoll": platforms.NOT_HERE})
    linux = LinuxPlatform(root=tmp_path, environ={})
    assert linux.models() == models.all_models() and split_runnable(["reference-epoll"], BuiltServers(linux)) == (
        ["reference-epoll"], {})


class WindowsRegistryWithStandIns(BuiltServers):
    """The real registry's answers for a Windows machine, with a Python
    stand-in started for each server it runs."""

    def command(self, server, variant):
        return [sys.executable, str(FAKES / "echo.py")]


SKIP_SUITE = """description = "a suite that names the Linux reference"
reps = 1
servers = ["iocp", "reference-epoll"]
[timeouts]
server_start = 10
server_stop = 10
loadgen_margin = 20
[defaults]
duration = 0.3
[[point]]
id = "pp-c{connections}"
workload = "pingpong"
connections = [1, 2]
"""


def test_a_suite_run_on_windows_skips_reference_epoll_and_records_it(tmp_path):
    try:
        find_loadgen()  # the real load generator runs against the stand-ins
    except LoadgenNotFound as missing:
        pytest.fail(str(missing))
    suite = suites.parse_suite(SKIP_SUITE, Path("skip-test.toml"), models.all_models())
    stream = io.StringIO()
    code, run_dir = runner.new_run(suite, suite.servers, out=tmp_path / "run", stream=stream,
                                   registry=WindowsRegistryWithStandIns(windows(tmp_path)),
                                   variants=[Variant("current", FAKES, None, "0" * 40, False)])
    assert code == 0, stream.getvalue()
    manifest = json.loads((run_dir / store.MANIFEST_NAME).read_text())
    assert manifest["servers"] == ["iocp"]
    assert {item["server"] for item in manifest["plan"]} == {"iocp"}
    assert manifest["skipped"] == [{"point": "pp-c1", "server": "reference-epoll", "reason": "not on this platform"},
                                   {"point": "pp-c2", "server": "reference-epoll", "reason": "not on this platform"}]
    assert manifest["variants"]["current"]["native_dir"] is None
    assert "2 skipped: 2 not on this platform" in stream.getvalue()
    _, markdown = report.write_report(run_dir)
    assert "reference-epoll at every point (skipped: not on this platform)" in markdown.read_text()


def test_a_run_of_only_what_the_platform_lacks_says_so(tmp_path):
    suite = suites.parse_suite(SKIP_SUITE.replace('"iocp", ', ""), Path("skip-test.toml"), models.all_models())
    with pytest.raises(runner.RunError, match="all points skipped: not on this platform"):
        runner.new_run(suite, suite.servers, out=tmp_path / "run", stream=io.StringIO(),
                       registry=WindowsRegistryWithStandIns(windows(tmp_path)),
                       variants=[Variant("current", FAKES, None, "0" * 40, False)])
    assert not (tmp_path / "run").exists()


def test_ab_builds_the_base_with_the_preset_of_the_current_build(tmp_path):
    system = windows(tmp_path)
    mingw_build = Variant("current", tmp_path / "build/windows-mingw/servers", None)
    assert base_presets(system, mingw_build, ["iocp", "select"]) == {"windows-mingw": ["iocp", "select"]}
    msvc_build = Variant("current", tmp_path / "build/windows/servers/Release", None)
    assert base_presets(system, msvc_build, ["iocp"]) == {"windows": ["iocp"]}
    linux = LinuxPlatform(root=tmp_path, environ={})
    assert base_presets(linux, Variant("current", tmp_path / "elsewhere", tmp_path / "n"),
                        ["iocp", "reference-epoll"]) == {"mingw": ["iocp"], "native": ["reference-epoll"]}


# ---------------------------------------------------------------- starting and stopping


class FakeProcess:
    """A server process as the harness sees it: pipes it reads, a stdin it
    closes, wait/poll/kill. It prints its ready line at once, stops (stats
    line, exit 0) on what `obeys` names and dies on what `kills` names (and
    on TerminateProcess); everything it receives is logged."""

    def __init__(self, log, obeys, kills=(), pid=4242):
        self.log, self.obeys, self.kills, self.pid = log, obeys, kills, pid
        self.returncode = None
        self._exited = threading.Event()
        stdout_read, self._stdout = os.pipe()
        stderr_read, self._stderr = os.pipe()
        self.stdout, self.stderr = os.fdopen(stdout_read, "rb"), os.fdopen(stderr_read, "rb")
        self.stdin = SimpleNamespace(closed=False, close=self._stdin_closed)
        os.write(self._stdout, b'{"event":"ready","model":"fake","port":5000}\n')

    def _stdin_closed(self):
        if self.stdin.closed:
            return
        self.stdin.closed = True
        self.log.append("stdin closed")
        if "stdin" in self.obeys:
            self.exit(0, stats=True)

    def receive(self, what):
        self.log.append(what)
        if what in self.obeys:
            self.exit(0, stats=True)
        elif what in self.kills:
            self.exit(-9)

    def exit(self, code, stats=False):
        if self.returncode is not None:
            return
        if stats:
            os.write(self._stdout, b'{"event":"stats","model":"fake"}\n')
        os.close(self._stdout)
        os.close(self._stderr)
        self.returncode = code
        self._exited.set()

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired("fake", timeout)
        return self.returncode

    def kill(self):
        self.log.append("TerminateProcess")
        self.exit(1)

    def release(self):
        """What EchoServer.close() does for a real one: its pipes closed."""
        self.exit(0)
        self.stdout.close()
        self.stderr.close()


class FakePopen:
    """Popen for a platform layer: records how it was called, returns a FakeProcess."""

    def __init__(self, obeys, kills=()):
        self.log, self.obeys, self.kills, self.process = [], obeys, kills, None

    def __call__(self, argv, **options):
        self.log.append(("start", argv, {k: v for k, v in options.items() if k in ("creationflags",
                                                                                   "start_new_session")}))
        self.process = FakeProcess(self.log, self.obeys, self.kills)
        return self.process


def windows_server(tmp_path, obeys):
    popen = FakePopen(obeys)
    system = windows(tmp_path, popen=popen, send_event=lambda pid, event: popen.process.receive(("event", pid,
                                                                                                  event)))
    return EchoServer("fake", command=["fake.exe"], system=system, ready_timeout=5, stop_timeout=0.3), popen.log


def linux_server(tmp_path, obeys):
    popen = FakePopen(obeys, kills={("killpg", 4242, 9)})
    fake_os = SimpleNamespace(killpg=lambda pid, signum: popen.process.receive(("killpg", pid, signum)))
    system = LinuxPlatform(root=tmp_path, environ={}, popen=popen, os_module=fake_os)
    return EchoServer("fake", command=["fake"], system=system, ready_timeout=5, stop_timeout=0.3), popen.log


BREAK = ("event", 4242, CTRL_BREAK_EVENT)


def test_windows_starts_a_server_in_its_own_process_group_and_stops_it_by_its_stdin(tmp_path):
    server, log = windows_server(tmp_path, obeys={"stdin"})
    server.start()
    assert server.port == 5000
    assert server.stop() == {"event": "stats", "model": "fake"}
    server.close()
    assert log == [("start", ["fake.exe", "--port", "0"], {"creationflags": CREATE_NEW_PROCESS_GROUP}),
                   "stdin closed"]
    assert server.stopped_by == "stdin" and CREATE_NEW_PROCESS_GROUP == 0x200 and CTRL_BREAK_EVENT == 1


def test_windows_sends_ctrl_break_when_the_stdin_stop_fails(tmp_path):
    server, log = windows_server(tmp_path, obeys={BREAK})
    server.start()
    with pytest.raises(ServerError, match="after closing stdin; CTRL_BREAK_EVENT stopped it"):
        server.stop()
    server.close()
    assert log[1:] == ["stdin closed", BREAK]
    assert server.stopped_by == "ctrl-break" and server.stats == {"event": "stats", "model": "fake"}


def test_windows_terminates_a_server_that_ignores_both(tmp_path):
    server, log = windows_server(tmp_path, obeys=set())
    server.start()
    with pytest.raises(ServerError, match="after closing stdin, nor after CTRL_BREAK_EVENT; killed"):
        server.stop()
    server.close()
    assert log[1:] == ["stdin closed", BREAK, "TerminateProcess"] and server.stopped_by == "kill"


def test_windows_interrupt_stop_is_ctrl_break_then_terminate(tmp_path):
    server, log = windows_server(tmp_path, obeys={BREAK})
    server.start()
    assert server.stop(how="interrupt")["event"] == "stats"
    assert log[1:] == [BREAK] and server.stopped_by == "ctrl-break"  # stdin untouched until close()
    server.close()
    deaf, log = windows_server(tmp_path, obeys=set())
    deaf.start()
    with pytest.raises(ServerError, match="after CTRL_BREAK_EVENT; killed"):
        deaf.stop(how="interrupt")
    assert log[1:] == [BREAK, "TerminateProcess"]
    deaf.close()


def test_linux_signals_the_servers_process_group_sigint_then_sigkill(tmp_path):
    server, log = linux_server(tmp_path, obeys=set())
    server.start()
    with pytest.raises(ServerError, match="after closing stdin, nor after SIGINT; killed"):
        server.stop()
    server.close()
    assert log == [("start", ["fake", "--port", "0"], {"start_new_session": True}), "stdin closed",
                   ("killpg", 4242, 2), ("killpg", 4242, 9)]
    assert server.stopped_by == "kill"
    polite, log = linux_server(tmp_path, obeys={("killpg", 4242, 2)})
    polite.start()
    with pytest.raises(ServerError, match="after closing stdin; SIGINT stopped it"):
        polite.stop()
    polite.close()
    assert log[1:] == ["stdin closed", ("killpg", 4242, 2)] and polite.stopped_by == "sigint"


def test_the_stop_steps_are_the_same_three_on_both_platforms(tmp_path):
    for system, interrupt in ((windows(tmp_path), ("ctrl-break", "CTRL_BREAK_EVENT")),
                              (LinuxPlatform(root=tmp_path, environ={}), ("sigint", "SIGINT"))):
        steps = system.stop_steps(SimpleNamespace(stdin=None, pid=1))
        assert [(s.label, s.said, s.final) for s in steps] == [("stdin", "closing stdin", False), (*interrupt, False),
                                                                 ("kill", "kill", True)]


# ---------------------------------------------------------------- pinning and CPU time


class FakeKernel32:
    """The kernel32 functions winapi.Kernel32 calls, taking the arguments as
    ctypes passes them (out-parameters by reference); each call is logged."""

    def __init__(self, affinity=0b1011, fail=()):
        self.calls, self.affinity, self.fail = [], affinity, set(fail)
        self.cpu_units = {}      # handle -> 100 ns units of CPU
        self.exited = set()      # handles of processes that have exited
        self.next_handle = 100

    def OpenProcess(self, access, inherit, pid):
        self.calls.append(("OpenProcess", access, inherit, pid))
        if "OpenProcess" in self.fail:
            return None
        self.next_handle += 1
        return self.next_handle

    def CloseHandle(self, handle):
        self.calls.append(("CloseHandle", handle))
        return 1

    def SetProcessAffinityMask(self, handle, mask):
        self.calls.append(("SetProcessAffinityMask", handle, mask))
        return 0 if "SetProcessAffinityMask" in self.fail else 1

    def GetCurrentProcess(self):
        return -1

    def GetProcessAffinityMask(self, handle, process_mask, system_mask):
        process_mask._obj.value, system_mask._obj.value = self.affinity, 0xFF
        return 1

    def GetProcessTimes(self, handle, creation, exited, kernel, user):
        kernel._obj.value, user._obj.value = self.cpu_units.get(handle, 0), 0
        return 1

    def GetSystemTimes(self, idle, kernel, user):
        idle._obj.value, kernel._obj.value, user._obj.value = 30_000_000, 50_000_000, 15_000_000
        return 1

    def WaitForSingleObject(self, handle, milliseconds):
        return winapi.WAIT_OBJECT_0 if handle in self.exited else 0x102  # WAIT_TIMEOUT


class Functions:
    """A stand-in for ctypes.WinDLL: attribute access gives a function
    object on which argtypes and restype can be set, as on a real one."""

    def __init__(self, fake):
        for name in ("OpenProcess", "CloseHandle", "SetProcessAffinityMask", "GetCurrentProcess",
                     "GetProcessAffinityMask", "GetProcessTimes", "GetSystemTimes", "WaitForSingleObject"):
            method = getattr(fake, name)
            setattr(self, name, lambda *args, _method=method: _method(*args))


def fake_kernel32(**options):
    fake = FakeKernel32(**options)
    return winapi.Kernel32(Functions(fake)), fake


def test_windows_pins_a_started_process_with_set_process_affinity_mask(tmp_path):
    kernel32, fake = fake_kernel32()
    popen = FakePopen(obeys={"stdin"})
    system = windows(tmp_path, popen=popen, kernel32=kernel32)
    placed = plan_placement("colocated", 1, system)  # CPUs 0, 1 and 3 allowed: the load generator's one is the last
    assert (placed.server_cpus, placed.wine_cpus, placed.loadgen_cpus) == ((0, 1), (0, 1), (3,))
    process = system.start(["loadgen.exe"], cpus=[1])
    tracked, pin_handle = 101, 102
    assert fake.calls == [
        ("OpenProcess", winapi.PROCESS_QUERY_LIMITED_INFORMATION | winapi.SYNCHRONIZE, False, 4242),
        ("OpenProcess", winapi.PROCESS_SET_INFORMATION | winapi.PROCESS_QUERY_LIMITED_INFORMATION, False, 4242),
        ("SetProcessAffinityMask", pin_handle, 0b10), ("CloseHandle", pin_handle)]
    assert popen.log[0][2] == {"creationflags": 0}  # a load generator: no group of its own
    process.release()
    assert tracked in system._children


def test_a_failed_affinity_call_stops_the_process_and_says_why_in_one_line(tmp_path):
    kernel32, fake = fake_kernel32(fail={"SetProcessAffinityMask"})
    popen = FakePopen(obeys=set())
    system = windows(tmp_path, popen=popen, kernel32=kernel32)
    with pytest.raises(OSError, match=r"^SetProcessAffinityMask\(CPUs 3\) failed: ") as failure:
        system.start(["server.exe"], cpus=[3], own_group=True)
    assert "\n" not in str(failure.value)
    assert popen.log[-1] == "TerminateProcess" and popen.process.returncode is not None
    popen.process.release()


def test_pinning_where_the_platform_has_no_affinity_call_is_a_one_line_error(tmp_path):
    with pytest.raises(runner.RunError,
                       match=r"^--placement pinned: Windows .*SetProcessAffinityMask of kernel32 is not.*free$"):
        plan_placement("pinned", 1, windows(tmp_path, kernel32=None))
    no_affinity = SimpleNamespace(times=os.times)  # a POSIX system without sched_setaffinity (macOS)
    with pytest.raises(runner.RunError, match=r"^--placement colocated: Linux .*os.sched_setaffinity is not available"):
        plan_placement("colocated", 1, LinuxPlatform(root=tmp_path, environ={}, os_module=no_affinity))
    one_cpu = SimpleNamespace(sched_getaffinity=lambda pid: {5}, sched_setaffinity=None)
    with pytest.raises(runner.RunError, match="needs at least 2 CPUs; this process may use 1"):
        plan_placement("split", 1, LinuxPlatform(root=tmp_path, environ={}, os_module=one_cpu))
    assert plan_placement("free", 1, LinuxPlatform(root=tmp_path, environ={}, os_module=one_cpu)).all_cpus == (5,)


def test_linux_pins_in_the_child_before_exec(tmp_path):
    pinned = []
    fake_os = SimpleNamespace(sched_setaffinity=lambda pid, cpus: pinned.append((pid, cpus)))
    seen = {}
    system = LinuxPlatform(root=tmp_path, environ={}, os_module=fake_os,
                           popen=lambda argv, **options: seen.update(options))
    system.start(["loadgen"], cpus=[1])
    assert seen["start_new_session"] is False and pinned == []
    seen["preexec_fn"]()  # what the child runs between fork and exec
    assert pinned == [(0, [1])]
    system.start(["loadgen"])
    assert seen["preexec_fn"] is None


def test_linux_makes_sure_of_the_persistent_wineserver_before_a_program_of_the_projects_prefix(monkeypatch):
    ensured = []
    monkeypatch.setattr(wine, "ensure_wineserver", lambda: ensured.append(True))
    system = LinuxPlatform(environ={}, popen=lambda argv, **options: argv)
    server = [str(wine.WINE_RUN), "iocp.exe", "--port", "0"]
    system.start(server)
    assert len(ensured) == 1
    system.start(server, env={"WINEPREFIX": str(wine.WINE_PREFIX)})
    assert len(ensured) == 2
    system.start(server, env={"WINEPREFIX": "/tmp/private-prefix"})          # a prefix of its own: its own wineserver
    system.start(["env", "WINEPREFIX=/tmp/private-prefix", *server])       # (scripts/measure/wineserver_requests.py)
    system.start(["reference-epoll", "--port", "0"])                        # native
    system.start(["ssh", "host3", *server])                                 # another host's Wine
    LinuxPlatform(root=Path("/elsewhere"), environ={}, popen=lambda argv, **options: argv).start(server)
    assert len(ensured) == 2


def test_windows_cpu_readers_use_get_system_times_and_get_process_times(tmp_path):
    kernel32, fake = fake_kernel32()
    system = windows(tmp_path, kernel32=kernel32, popen=FakePopen(obeys=set()))
    assert system.machine_busy_s() == pytest.approx((50_000_000 - 30_000_000 + 15_000_000) / 1e7)
    fake.cpu_units[101] = 25_000_000  # the next handle OpenProcess gives
    assert system.process_cpu_s(77) == pytest.approx(2.5)
    assert fake.calls[-1] == ("CloseHandle", 101)
    process = system.start(["server.exe"])
    child = fake.next_handle  # the handle the layer keeps to the child
    fake.cpu_units[child] = 12_000_000

    def children_s():
        times = os.times()
        return system.own_cpu_s() - times.user - times.system
    assert children_s() == pytest.approx(1.2, abs=0.05)
    fake.exited.add(child)
    process.release()
    # An exited child's CPU stays counted, its handle closed once and not read again.
    assert children_s() == pytest.approx(1.2, abs=0.05)
    fake.cpu_units[child] = 99_000_000
    assert children_s() == pytest.approx(1.2, abs=0.05)
    assert system._children == [] and fake.calls.count(("CloseHandle", child)) == 1
    nothing = windows(tmp_path, kernel32=None)
    assert nothing.machine_busy_s() is None and nothing.process_cpu_s(1) is None and nothing.loadavg() is None


def test_windows_says_why_it_looks_for_no_orphans(tmp_path):
    stream = io.StringIO()
    assert orphans.kill_orphans(stream, windows(tmp_path)) == []
    assert "stops" in stream.getvalue() and stream.getvalue().count("\n") == 1


# ---------------------------------------------------------------- facts


def recorded_machine(name):
    machine = json.loads((DATA / "windows" / "registry.json").read_text())[name]
    keys = {r"SOFTWARE\Microsoft\Windows NT\CurrentVersion": machine["current_version"],
            r"HARDWARE\DESCRIPTION\System\CentralProcessor\0": machine["processor"]}
    ver = (DATA / "windows" / f"ver-{name}.txt").read_text(encoding="utf-8")
    return (lambda key, names: {n: v for n, v in keys[key].items() if n in names}), ver


@pytest.mark.parametrize("name, version, edition", [
    ("windows-11", "10.0.22631.2861", "Windows 11 Pro 23H2 (build 22631.2861)"),
    ("windows-10-es", "10.0.18363.1556", "Windows 10 Enterprise 1909 (build 18363.1556)"),
    ("server-2022", "10.0.20348.2113", "Windows Server 2022 Datacenter 21H2 (build 20348.2113)"),
])
def test_windows_version_and_edition_from_recorded_ver_and_registry(name, version, edition):
    registry, ver = recorded_machine(name)
    assert windows_version(ver) == version
    assert windows_edition(registry(r"SOFTWARE\Microsoft\Windows NT\CurrentVersion",
                                    ("ProductName", "DisplayVersion", "ReleaseId", "CurrentBuild", "UBR"))) == edition
    assert windows_version("") is None and windows_edition({}) is None


def test_windows_facts_for_the_manifest(tmp_path):
    registry, ver = recorded_machine("windows-11")
    shutil.copytree(DATA / "cmake" / "msvc", tmp_path / "build" / "windows")
    system = windows(tmp_path, read_registry=registry, run_command=lambda argv: ver if argv[-1] == "ver" else None)
    facts = system.facts(with_wine=False, servers_dir=tmp_path / "build/windows/servers/Release")
    assert facts["os"] == "Windows" and facts["kernel"] == "10.0.22631.2861" and facts["wine"] is None
    assert facts["distribution"] == "Windows 11 Pro 23H2 (build 22631.2861)"
    assert facts["cpu_model"] == "13th Gen Intel(R) Core(TM) i7-1365U"
    assert facts["compiler"] == "MSVC 19.38.33133.0 (cl.exe, Visual Studio 17 2022)"
    assert facts["cpu_count"] == os.cpu_count() and facts["python"]
    unknown_cpu = windows(tmp_path, read_registry=lambda key, names: {}, run_command=lambda argv: None)
    assert unknown_cpu.facts(False)["compiler"] is None and unknown_cpu.facts(False)["distribution"] is None


def test_a_builds_compiler_from_its_cmake_files(tmp_path):
    shutil.copytree(DATA / "cmake" / "windows-mingw", tmp_path / "build")
    assert layout.build_folder_of(tmp_path / "build" / "servers") == tmp_path / "build"
    assert layout.compiler_description(tmp_path / "build") == "GNU 13.2.0 (gcc.exe, Ninja)"
    assert layout.cmake_cache(DATA / "cmake" / "msvc")["CMAKE_GENERATOR"] == "Visual Studio 17 2022"
    assert layout.is_multi_config("Visual Studio 17 2022") and not layout.is_multi_config("Ninja")
    assert layout.build_folder_of(tmp_path / "nowhere" / "servers") is None
    assert layout.compiler_description(None) is None and layout.compiler_description(tmp_path) is None


def test_for_system_picks_the_layer():
    assert isinstance(platforms.for_system("Windows", kernel32=None), WindowsPlatform)
    assert isinstance(platforms.for_system("Linux"), LinuxPlatform)
    assert isinstance(platforms.for_system("Darwin"), LinuxPlatform)  # POSIX; says what it lacks when asked
    assert platforms.current() is platforms.current()


def test_kernel32_declares_the_signatures_it_calls():
    functions = Functions(FakeKernel32())
    winapi.Kernel32(functions)
    assert functions.SetProcessAffinityMask.argtypes[1] is c_size_t  # a DWORD_PTR mask, 64 bits on x64
    assert functions.GetSystemTimes.argtypes and functions.OpenProcess.restype is not None

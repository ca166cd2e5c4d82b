"""What a run measures about the machine besides the servers: the run's
wineserver (found by its prefix), CPU figures read from /proc, and the
machine's other CPU use. /proc is given as recorded samples (a folder laid
out like /proc, or its texts), so the arithmetic is checked exactly."""
import os
from pathlib import Path

import pytest

from harness.platforms import procfs, wine
from harness.run import noise

TICKS = 100
# Recorded on the project's 2-core Debian 12 VM (first line of /proc/stat).
STAT_BEFORE = "cpu  39325 1047 45305 27605 421 0 3612 125 0 0\ncpu0 19000 500 22000 13800 200 0 1800 60 0 0\n"
STAT_AFTER = "cpu  39525 1047 45405 27705 421 0 3632 145 0 0\ncpu0 19100 500 22050 13850 200 0 1810 70 0 0\n"


def process_stat(pid, name, utime, stime, start_ticks=0):
    """A /proc/<pid>/stat line as the kernel writes it (52 fields)."""
    fields = ["S", "1", str(pid), "0", "0", "-1", "4194560", "101", "0", "0", "0", str(utime), str(stime),
              "0", "0", "20", "0", "1", "0", str(start_ticks)]
    return f"{pid} ({name}) " + " ".join(fields + ["0"] * 32) + "\n"


def fake_process(proc, pid, name, cwd, utime=0, stime=0, argv=None, start_ticks=0):
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "comm").write_text(name + "\n")
    (folder / "stat").write_text(process_stat(pid, name, utime, stime, start_ticks))
    (folder / "cwd").symlink_to(cwd)
    if argv:
        (folder / "cmdline").write_bytes(b"".join(part.encode() + b"\0" for part in argv))


# --- /proc parsing ---------------------------------------------------------------

def test_machine_busy_time_counts_everything_but_idle_and_iowait():
    # user 39325 + nice 1047 + system 45305 + irq 0 + softirq 3612 + steal 125 ticks
    assert procfs.parse_machine_busy_s(STAT_BEFORE, TICKS) == pytest.approx(894.14)
    assert procfs.parse_machine_busy_s("intr 1 2\n", TICKS) is None


def test_process_cpu_is_utime_plus_stime_even_with_parentheses_in_the_name():
    text = process_stat(4242, "C:\\windows\\x (y) z.exe", 250, 130)
    assert procfs.parse_process_cpu_s(text, TICKS) == pytest.approx(3.8)
    assert procfs.parse_process_cpu_s("4242 (truncated", TICKS) is None
    assert procfs.parse_process_cpu_s(None, TICKS) is None


def test_loadavg_and_governor(tmp_path):
    assert procfs.parse_loadavg("4.85 4.29 2.20 11/297 5754\n") == [4.85, 4.29, 2.2]
    assert procfs.governor(tmp_path) is None  # no cpufreq: a VM
    for cpu, name in (("cpu0", "performance"), ("cpu1", "performance")):
        (tmp_path / cpu / "cpufreq").mkdir(parents=True)
        (tmp_path / cpu / "cpufreq" / "scaling_governor").write_text(name + "\n")
    assert procfs.governor(tmp_path) == "performance"
    (tmp_path / "cpu1" / "cpufreq" / "scaling_governor").write_text("powersave\n")
    assert procfs.governor(tmp_path) == "performance,powersave"


# --- the run's wineserver --------------------------------------------------------

def test_the_wineserver_of_the_run_prefix_is_found_among_others(tmp_path):
    prefix, other_prefix = tmp_path / "wine-prefix", tmp_path / "other-prefix"
    prefix.mkdir()
    other_prefix.mkdir()
    ours = tmp_path / "wine-abc" / wine.wineserver_directory_name(prefix)
    theirs = tmp_path / "wine-def" / wine.wineserver_directory_name(other_prefix)
    ours.mkdir(parents=True)
    theirs.mkdir(parents=True)
    proc = tmp_path / "proc"
    fake_process(proc, 300, "wineserver64", theirs)
    fake_process(proc, 310, "iocp.exe", ours)       # a Wine program started in that folder: not the server
    fake_process(proc, 320, "wineserver", ours, utime=120, stime=80)
    (proc / "self").mkdir()
    assert wine.find_wineserver(prefix, proc) == 320
    assert wine.find_wineserver(other_prefix, proc) == 300
    assert wine.find_wineserver(tmp_path / "no-such-prefix", proc) is None
    assert procfs.process_cpu_s(320, proc) == pytest.approx(200 / procfs.TICKS_PER_S)


def test_the_directory_name_is_wines_device_and_inode_in_hex(tmp_path):
    status = os.stat(tmp_path)
    assert wine.wineserver_directory_name(tmp_path) == f"server-{status.st_dev:x}-{status.st_ino:x}"


@pytest.mark.parametrize("argv, lives_long", [
    (["/usr/lib/wine/wineserver64", "-p0"], False),            # Wine's own start, through Debian's wrapper
    (["/usr/lib/wine/wineserver64", "-p0", "-p600"], True),    # ours: the last -p counts
    (["/usr/lib/wine/wineserver64", "-p0", "-p"], True),       # for ever
    (["/usr/lib/wine/wineserver64", "--persistent=900"], True),
    (["/usr/lib/wine/wineserver64", "-p60"], False),
    (["/usr/lib/wine/wineserver64"], False),                   # Wine's default: 3 s
    (None, True),                                              # unreadable: nothing known against it
])
def test_a_wineserver_lives_long_by_its_last_persistence_option(argv, lives_long):
    assert wine.long_lived(argv) is lives_long


def test_procfs_reads_a_processes_arguments(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cmdline").write_bytes(b"/usr/lib/wine/wineserver64\0-p0\0-p600\0")
    assert procfs.arguments(42, tmp_path) == ["/usr/lib/wine/wineserver64", "-p0", "-p600"]
    assert procfs.arguments(43, tmp_path) is None


def test_a_failure_message_can_say_which_wineserver_runs_and_since_when(tmp_path):
    prefix = tmp_path / "wine-prefix"
    prefix.mkdir()
    server_dir = tmp_path / "wine-0" / wine.wineserver_directory_name(prefix)
    server_dir.mkdir(parents=True)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "uptime").write_text("1000.50 1900.00\n")
    assert wine.describe_wineserver(prefix, proc) == f"no wineserver runs for {prefix}"
    fake_process(proc, 320, "wineserver64", server_dir, argv=["/usr/lib/wine/wineserver64", "-p0", "-p600"],
                 start_ticks=int(400 * procfs.TICKS_PER_S))
    assert procfs.age_s(320, proc) == pytest.approx(600.5)
    assert wine.describe_wineserver(prefix, proc) == (
        f"the wineserver of {prefix}: pid 320 (-p0 -p600; outlives its programs), started 600 s ago")
    (proc / "320" / "cmdline").write_bytes(b"/usr/lib/wine/wineserver64\0-p0\0")
    (proc / "uptime").write_text("garbled\n")
    assert wine.describe_wineserver(prefix, proc) == (
        f"the wineserver of {prefix}: pid 320 (-p0; ends with its last program), start time unknown")


SHORT_LIVED = ["wineserver64", "-p0"]       # Wine's own start, through Debian's wrapper
OURS = ["wineserver64", "-p0", "-p600"]


class FakeWine:
    """The prefix's wineserver as start_wineserver sees it. A short-lived one
    ends when waited for (after which each of `stragglers` starts one again,
    as a Wine program that was starting does), `-p600` starts ours if none
    runs; `ran` is every command by program name, and each wait."""

    def __init__(self, monkeypatch, tmp_path, running, stragglers=0, wait_times_out=False):
        self.running, self.stragglers, self.wait_times_out, self.ran = running, stragglers, wait_times_out, []
        self.started = 0  # start time of the current one, as /proc/<pid>/stat would give it
        (tmp_path / "system.reg").write_text("")
        monkeypatch.setenv("WINEPREFIX", str(tmp_path))
        monkeypatch.setattr(wine, "wineserver_program", lambda: "wineserver")
        monkeypatch.setattr(wine, "wineservers", lambda prefix, proc=None: [77] if self.running else [])
        monkeypatch.setattr(wine, "SHORT_LIVED_EXIT_WAIT_S", 0.2)
        monkeypatch.setattr(procfs, "arguments", lambda pid, proc=None: self.running)
        # Ended, it stays a zombie with its pid and start time: running_since tells.
        monkeypatch.setattr(procfs, "running_since", lambda pid, proc=None: str(self.started) if self.running else None)
        monkeypatch.setattr(procfs, "running", lambda pid, proc=None: bool(self.running) or self.wait_times_out)
        if not wait_times_out:
            monkeypatch.setattr(wine, "wait_out", self.wait_out)
        monkeypatch.setattr(wine.subprocess, "run", self.run)
        monkeypatch.setattr(wine, "_seen_persistent", None)

    def wait_out(self, pid, prefix, wineserver):
        self.ran.append(["waited out", pid])
        self.running = SHORT_LIVED if self.stragglers else None
        self.stragglers = max(0, self.stragglers - 1)

    def run(self, argv, timeout=None, **_):
        self.ran.append([Path(argv[0]).name, *argv[1:]])
        if argv[1:] == ["-p600"] and self.running is None:  # with one running, it fails
            self.running, self.started = OURS, self.started + 1


def test_a_short_lived_wineserver_is_waited_out_before_ours_starts(monkeypatch, tmp_path):
    fake = FakeWine(monkeypatch, tmp_path, SHORT_LIVED)
    wine.start_wineserver()
    assert fake.ran == [["waited out", 77], ["wineserver", "-p600"], ["wine-run", "wineboot"]]
    assert fake.running == OURS


def test_a_short_lived_wineserver_started_again_meanwhile_is_waited_out_too(monkeypatch, tmp_path):
    fake = FakeWine(monkeypatch, tmp_path, SHORT_LIVED, stragglers=1)
    wine.start_wineserver()
    assert fake.ran == [["waited out", 77], ["wineserver", "-p600"], ["waited out", 77], ["wineserver", "-p600"],
                        ["wine-run", "wineboot"]]
    assert fake.running == OURS


def test_a_long_lived_wineserver_is_used_as_it_is_and_none_is_started(monkeypatch, tmp_path):
    fake = FakeWine(monkeypatch, tmp_path, OURS)
    wine.start_wineserver()
    assert fake.ran == [["wine-run", "wineboot"]]
    fake = FakeWine(monkeypatch, tmp_path, None)
    wine.start_wineserver()
    assert fake.ran == [["wineserver", "-p600"], ["wine-run", "wineboot"]]


@pytest.mark.parametrize("fake_options, said", [
    ({"wait_times_out": True}, "ends with its last program, and a program still runs after 0.2 s"),
    ({"stragglers": 99}, "is still one that ends with its last program after 3 tries"),
])
def test_a_wineserver_that_cannot_be_ours_is_a_one_line_error(monkeypatch, tmp_path, fake_options, said):
    FakeWine(monkeypatch, tmp_path, SHORT_LIVED, **fake_options)
    with pytest.raises(wine.PlatformError) as failure:
        wine.start_wineserver()
    assert said in str(failure.value) and "\n" not in str(failure.value)


def test_before_each_server_the_persistent_wineserver_is_checked_and_started_again_if_gone(monkeypatch, tmp_path):
    fake = FakeWine(monkeypatch, tmp_path, OURS)
    wine.ensure_wineserver()
    wine.ensure_wineserver()
    assert fake.ran == []                          # it runs: nothing to start
    fake.running = None                            # killed, or ended ten idle minutes after setup.sh (a zombie
    wine.ensure_wineserver()                       # here, with its start time: procfs.running tells)
    assert fake.ran == [["wineserver", "-p600"], ["wine-run", "wineboot"]]
    fake.running, fake.started = SHORT_LIVED, fake.started + 1   # a program started Wine's own meanwhile
    wine.ensure_wineserver()
    assert fake.ran[2:] == [["waited out", 77], ["wineserver", "-p600"], ["wine-run", "wineboot"]]
    assert fake.running == OURS


def test_procfs_tells_a_running_process_from_a_zombie_or_none(tmp_path):
    for pid, state in ((1, "S"), (2, "R"), (3, "Z")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (wineserver64) {state} 1 {pid} {pid} 0 -1\n")
    assert [procfs.running(pid, tmp_path) for pid in (1, 2, 3, 4)] == [True, True, False, False]
    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "stat").write_text(process_stat(5, "wineserver64", 0, 0, start_ticks=4242))
    assert procfs.running_since(5, tmp_path) == procfs.start_time(5, tmp_path) == "4242"
    (tmp_path / "5" / "stat").write_text(process_stat(5, "wineserver64", 0, 0, start_ticks=4242).replace(") S ", ") Z "))
    assert procfs.running_since(5, tmp_path) is None and procfs.start_time(5, tmp_path) == "4242"


def test_wineserver_cpu_is_the_delta_between_snapshots_or_none():
    before = noise.CpuSnapshot(at=10.0, machine_busy_s=100.0, harness_s=1.0, wineserver_s=2.5)
    after = noise.CpuSnapshot(at=12.0, machine_busy_s=103.0, harness_s=1.5, wineserver_s=3.75)
    assert noise.wineserver_cpu_s(before, after) == 1.25
    gone = noise.CpuSnapshot(at=12.0, machine_busy_s=103.0, harness_s=1.5, wineserver_s=None)
    assert noise.wineserver_cpu_s(before, gone) is None


# --- the machine's other CPU use ---------------------------------------------------

def snapshots_from_recorded_stat():
    """Two seconds apart; meanwhile the harness and its children used 0.5 s, the wineserver 1.25 s."""
    before = noise.CpuSnapshot(at=50.0, machine_busy_s=procfs.parse_machine_busy_s(STAT_BEFORE, TICKS),
                               harness_s=7.0, wineserver_s=2.5)
    after = noise.CpuSnapshot(at=52.0, machine_busy_s=procfs.parse_machine_busy_s(STAT_AFTER, TICKS),
                              harness_s=7.5, wineserver_s=3.75)
    return before, after


def test_other_cpu_is_the_machine_busy_time_less_the_runs_own_per_second():
    before, after = snapshots_from_recorded_stat()
    # busy: (200 user + 100 system + 20 softirq + 20 steal) ticks = 3.4 s; own 0.5 + 1.25 s; over 2 s
    assert noise.other_cpu_cores(before, after) == pytest.approx((3.4 - 1.75) / 2)
    machine = noise.machine_record(before, after, [1.5, 1.0, 0.5], None, waited_s=None)
    assert machine == {"other_cpu_cores": 0.825, "loadavg_before": [1.5, 1.0, 0.5], "governor": None,
                       "busy": True, "waited_s": None}


def test_a_quiet_machine_is_not_busy_and_own_use_above_the_total_clamps_to_zero():
    before, after = snapshots_from_recorded_stat()
    busier_run = noise.CpuSnapshot(at=after.at, machine_busy_s=after.machine_busy_s, harness_s=10.0,
                                   wineserver_s=after.wineserver_s)
    assert noise.other_cpu_cores(before, busier_run) == 0.0
    just_under = noise.CpuSnapshot(at=after.at, machine_busy_s=after.machine_busy_s,
                                   harness_s=before.harness_s + 3.4 - 1.25 - 2 * noise.BUSY_OTHER_CORES + 0.01,
                                   wineserver_s=after.wineserver_s)
    assert noise.machine_record(before, just_under, None, "performance")["busy"] is False


def test_no_machine_figures_without_proc_stat():
    before, after = snapshots_from_recorded_stat()
    unreadable = noise.CpuSnapshot(at=after.at, machine_busy_s=None, harness_s=7.5, wineserver_s=None)
    assert noise.machine_record(before, unreadable, None, None) is None


class FakeClock:
    """measure() takes a second of this clock, as the real one sleeps a second."""

    def __init__(self, readings):
        self.now = 0.0
        self.readings = list(readings)

    def __call__(self):
        return self.now

    def measure(self):
        self.now += 1.0
        return self.readings.pop(0)


def test_waiting_for_a_quiet_machine_ends_when_it_is_quiet():
    messages = []
    clock = FakeClock([0.1])
    assert noise.wait_for_quiet(60, clock.measure, messages.append, clock) == 0.0
    assert messages == []  # quiet at once: nothing to say
    clock = FakeClock([1.2, 0.9, 0.05])
    assert noise.wait_for_quiet(60, clock.measure, messages.append, clock) == 3.0
    assert "waiting up to 60 s for a quiet machine: other processes use 1.20 cores" in messages[0]
    assert messages[1] == "machine quiet after 3 s"


def test_waiting_is_bounded_and_says_it_measures_anyway():
    messages = []
    clock = FakeClock([1.5] * 100)
    assert noise.wait_for_quiet(10, clock.measure, messages.append, clock) == 10.0
    assert len(clock.readings) == 90
    assert "still busy after 10 s (1.50 cores of other use); measuring anyway" in messages[-1]

"""What a run measures about the machine besides the servers: the run's
wineserver (found by its prefix), CPU figures read from /proc, and the
machine's other CPU use. /proc is given as recorded samples (a folder laid
out like /proc, or its texts), so the arithmetic is checked exactly."""
import os
from pathlib import Path

import pytest

from harness.run import noise, procfs, wine

TICKS = 100
# Recorded on the project's 2-core Debian 12 VM (first line of /proc/stat).
STAT_BEFORE = "cpu  39325 1047 45305 27605 421 0 3612 125 0 0\ncpu0 19000 500 22000 13800 200 0 1800 60 0 0\n"
STAT_AFTER = "cpu  39525 1047 45405 27705 421 0 3632 145 0 0\ncpu0 19100 500 22050 13850 200 0 1810 70 0 0\n"


def process_stat(pid, name, utime, stime):
    """A /proc/<pid>/stat line as the kernel writes it (52 fields)."""
    fields = ["S", "1", str(pid), "0", "0", "-1", "4194560", "101", "0", "0", "0", str(utime), str(stime)]
    return f"{pid} ({name}) " + " ".join(fields + ["0"] * 39) + "\n"


def fake_process(proc, pid, name, cwd, utime=0, stime=0):
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "comm").write_text(name + "\n")
    (folder / "stat").write_text(process_stat(pid, name, utime, stime))
    (folder / "cwd").symlink_to(cwd)


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


def test_wineserver_cpu_is_the_delta_between_snapshots_or_none():
    before = noise.CpuSnapshot(at=10.0, machine_busy_s=100.0, harness_s=1.0, wineserver_s=2.5)
    after = noise.CpuSnapshot(at=12.0, machine_busy_s=103.0, harness_s=1.5, wineserver_s=3.75)
    assert noise.wineserver_cpu_s(before, after) == 1.25
    gone = noise.CpuSnapshot(at=12.0, machine_busy_s=103.0, harness_s=1.5, wineserver_s=None)
    assert noise.wineserver_cpu_s(before, gone) is None

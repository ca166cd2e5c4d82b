"""Machine noise: how much CPU the rest of the machine took while an item
ran, and waiting (bounded) for a quiet machine.

The run's own processes are this harness process with the processes it
started (the server, the load generator, wine-run) and the run's
wineserver. The machine's busy CPU time (the platform layer's: /proc/stat
on Linux, GetSystemTimes on Windows) minus theirs, over the wall time of the
item, is the "other" use in cores. Wine's background
services of the run's prefix (services.exe, winedevice.exe, ...) count as
other: they sleep while the servers run. The two sources are accounted
differently by the kernel (/proc/stat by ticks, process times more finely),
so a figure of a few hundredths of a core is noise itself; negative
differences are clamped to 0."""
import time
from dataclasses import dataclass

from harness import platforms

# A repetition is taken on a busy machine when the other processes used more
# than this many cores during it. The server, its wineserver and the load
# generator of a run can keep two cores busy by themselves, so on the 2-core
# machines this project is measured on a quarter of a core of other work
# already takes an eighth of the machine away from the measurement.
BUSY_OTHER_CORES = 0.25
# How long one look at the machine lasts while --wait-idle waits.
QUIET_SAMPLE_S = 1.0


@dataclass(frozen=True)
class CpuSnapshot:
    at: float                    # time.monotonic()
    machine_busy_s: float | None  # all cores, since boot
    harness_s: float             # this process and its waited-for children
    wineserver_s: float | None   # the run's wineserver; None: none, or unreadable


def take_snapshot(wineserver_pid=None, system=None):
    system = system or platforms.current()
    return CpuSnapshot(at=time.monotonic(), machine_busy_s=system.machine_busy_s(), harness_s=system.own_cpu_s(),
                       wineserver_s=system.process_cpu_s(wineserver_pid) if wineserver_pid else None)


def wineserver_cpu_s(before, after):
    """The wineserver's CPU seconds between two snapshots, or None."""
    if before.wineserver_s is None or after.wineserver_s is None:
        return None
    return round(max(0.0, after.wineserver_s - before.wineserver_s), 3)


def other_cpu_cores(before, after):
    """Cores used on average between two snapshots by processes other than the run's own."""
    wall = after.at - before.at
    if wall <= 0 or before.machine_busy_s is None or after.machine_busy_s is None:
        return None
    own = (after.harness_s - before.harness_s) + (wineserver_cpu_s(before, after) or 0.0)
    return max(0.0, (after.machine_busy_s - before.machine_busy_s - own) / wall)


def machine_record(before, after, loadavg_before, governor, waited_s=None):
    """The record's `machine` field (harness/README.md, "A record"), or None
    when the machine's busy time could not be read."""
    other = other_cpu_cores(before, after)
    if other is None:
        return None
    return {"other_cpu_cores": round(other, 3), "loadavg_before": loadavg_before, "governor": governor,
            "busy": other > BUSY_OTHER_CORES, "waited_s": waited_s}


def measure_other_cores(wineserver_pid=None, seconds=QUIET_SAMPLE_S):
    """The other processes' CPU use over the next `seconds` (sleeps that long)."""
    before = take_snapshot(wineserver_pid)
    time.sleep(seconds)
    return other_cpu_cores(before, take_snapshot(wineserver_pid))


def wait_for_quiet(limit_s, measure, say, clock=time.monotonic):
    """Looks at the machine (measure() -> other cores, or None if unreadable)
    until it is quiet or limit_s have passed; says what it waits for and how
    it ended. Returns the seconds waited."""
    began = clock()
    other = measure()
    if other is None or other <= BUSY_OTHER_CORES:
        return 0.0
    say(f"waiting up to {limit_s:g} s for a quiet machine: other processes use {other:.2f} cores "
        f"(quiet: at most {BUSY_OTHER_CORES:g})")
    while clock() - began < limit_s:
        other = measure()
        if other is None or other <= BUSY_OTHER_CORES:
            waited = clock() - began
            say(f"machine quiet after {waited:.0f} s")
            return waited
    waited = clock() - began
    say(f"machine still busy after {waited:.0f} s ({other:.2f} cores of other use); measuring anyway, "
        "the record says busy")
    return waited

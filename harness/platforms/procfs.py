"""Reading CPU figures from Linux's /proc and /sys. Every reader takes the
folder it reads from (tests pass recorded copies) and returns None where the
figure cannot be read, rather than raising: a missing figure leaves a record
field null, it never fails an item."""
import os
from pathlib import Path

PROC = Path("/proc")
SYS_CPU = Path("/sys/devices/system/cpu")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_text(path):
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def parse_machine_busy_s(stat_text, ticks_per_s=TICKS_PER_S):
    """CPU seconds all cores spent busy since boot, from /proc/stat's "cpu"
    line: user, nice, system, irq, softirq and steal (time the hypervisor gave
    another guest is lost to us as well); not idle or iowait. guest and
    guest_nice are already part of user and nice."""
    for line in (stat_text or "").splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(value) for value in fields[1:9]] + [0] * (8 - len(fields[1:9]))
            user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
            return (user + nice + system + irq + softirq + steal) / ticks_per_s
    return None


def fields_after_name(stat_text):
    """The fields of a /proc/<pid>/stat line after the command name (its
    third field, the state, comes first), or None. The name may hold spaces
    and parentheses, so they are counted from its last ')'."""
    if not stat_text or ")" not in stat_text:
        return None
    return stat_text[stat_text.rindex(")") + 1:].split()


def parse_process_cpu_s(stat_text, ticks_per_s=TICKS_PER_S):
    """utime + stime of /proc/<pid>/stat, in seconds (all the process's threads)."""
    after_name = fields_after_name(stat_text)
    if after_name is None:
        return None
    try:
        utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15 of proc(5)
    except (IndexError, ValueError):
        return None
    return (utime + stime) / ticks_per_s


def parse_loadavg(text):
    """[1 min, 5 min, 15 min] from /proc/loadavg."""
    try:
        return [float(value) for value in (text or "").split()[:3]] or None
    except ValueError:
        return None


def machine_busy_s(proc=PROC):
    return parse_machine_busy_s(read_text(Path(proc) / "stat"))


def process_cpu_s(pid, proc=PROC):
    return parse_process_cpu_s(read_text(Path(proc) / str(pid) / "stat"))


def loadavg(proc=PROC):
    return parse_loadavg(read_text(Path(proc) / "loadavg"))


def governor(sys_cpu=SYS_CPU):
    """The CPU frequency governor ("performance", "powersave", ...; several
    joined by "," when the cores differ), or None where cpufreq is not
    exposed (most virtual machines)."""
    names = set()
    for path in Path(sys_cpu).glob("cpu[0-9]*/cpufreq/scaling_governor"):
        text = read_text(path)
        if text and text.strip():
            names.add(text.strip())
    return ",".join(sorted(names)) or None


def processes(proc=PROC):
    """(pid, command name) of every process."""
    try:
        entries = list(Path(proc).iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.isdigit():
            name = read_text(entry / "comm")
            if name is not None:
                found.append((int(entry.name), name.strip()))
    return found


def arguments(pid, proc=PROC):
    """A process's argv (from its cmdline), or None if it is gone or not ours to read."""
    try:
        raw = (Path(proc) / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def start_time(pid, proc=PROC):
    """A process's start time in ticks since boot (field 22 of its stat, as
    written there), or None: with its pid, it names the process against pid reuse."""
    fields = stat_fields(pid, proc)
    return fields[19] if fields and len(fields) > 19 else None


def running(pid, proc=PROC):
    """Whether the process exists and has not ended (a zombie has: nothing
    may reap it here, the container's first process does not)."""
    fields = stat_fields(pid, proc)
    return bool(fields) and fields[0] not in ("Z", "X")


def running_since(pid, proc=PROC):
    """The start time of a process that has not ended, else None: one read
    that tells both whether it runs and that it is the same process."""
    fields = stat_fields(pid, proc)
    if not fields or fields[0] in ("Z", "X") or len(fields) <= 19:
        return None
    return fields[19]


def stat_fields(pid, proc=PROC):
    return fields_after_name(read_text(Path(proc) / str(pid) / "stat"))


def age_s(pid, proc=PROC, ticks_per_s=TICKS_PER_S):
    """Seconds since a process started, or None."""
    started = start_time(pid, proc)
    uptime = read_text(Path(proc) / "uptime")
    if started is None or not started.isdigit() or not uptime:
        return None
    try:
        return float(uptime.split()[0]) - int(started) / ticks_per_s
    except (ValueError, IndexError):
        return None


def executable(pid, proc=PROC):
    """The path of the program a process runs, or None."""
    try:
        return os.readlink(Path(proc) / str(pid) / "exe")
    except OSError:
        return None


def working_directory(pid, proc=PROC):
    try:
        return os.readlink(Path(proc) / str(pid) / "cwd")
    except OSError:
        return None


def environment_variable(pid, name, proc=PROC):
    """One variable of a process's environment (as it was at exec), or None."""
    try:
        raw = (Path(proc) / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):].decode("utf-8", "replace")
    return None


def thread_ids(pid, proc=PROC):
    """The ids of a process's threads (its tasks), or [] if it is gone."""
    try:
        return sorted(int(entry.name) for entry in (Path(proc) / str(pid) / "task").iterdir() if entry.name.isdigit())
    except OSError:
        return []


def parse_cpu_list(text):
    """"0-2,5" (the kernel's list format) -> [0, 1, 2, 5]; None if unreadable."""
    cpus = set()
    try:
        for part in (text or "").strip().split(","):
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    except ValueError:
        return None
    return sorted(cpus) or None


def allowed_cpus(pid, proc=PROC):
    """The CPUs any thread of a process may run on (the union of its threads'
    affinities, read back from the kernel), or None if it is gone. Linux
    affinity is per thread, so a process is only placed if every thread is."""
    found = set()
    for tid in thread_ids(pid, proc):
        for line in (read_text(Path(proc) / str(pid) / "task" / str(tid) / "status") or "").splitlines():
            if line.startswith("Cpus_allowed_list:"):
                found.update(parse_cpu_list(line.partition(":")[2]) or ())
    return sorted(found) or None

"""Processes a harness leaves behind when it is killed outright (SIGKILL, a
power cut of the terminal): servers run in sessions of their own, so they
outlive it, and so would their load generators and Wine's helpers.

While it runs, the harness marks every process it starts through the
environment (MARK=<its pid>:<its start time>, inherited by everything they
start in turn). At the start of a run or a resume, every process whose mark
names a harness that no longer runs is an orphan: it is killed, and the run
says what it found. Wine's own processes (the wineserver and the services
it starts) are left alone: they outlive every run by design, a clean one
too, and leave by themselves when the wineserver's persistence time is up. The start time makes
the mark safe against pid reuse, and a live harness's processes (another run
on this machine, another test) are never touched.

This reads /proc: on Windows the platform layer says why no search is needed
there (platforms.Platform.orphans_note)."""
import os
import signal
from contextlib import contextmanager

from harness import platforms
from harness.platforms import procfs

MARK = "WSB_HARNESS"


def own_mark():
    return f"{os.getpid()}:{procfs.start_time(os.getpid())}"


@contextmanager
def marking_children():
    """Every process started inside carries this harness's mark."""
    previous = os.environ.get(MARK)
    os.environ[MARK] = own_mark()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MARK, None)
        else:
            os.environ[MARK] = previous


def mark_of(pid, proc=procfs.PROC):
    """The mark in a process's environment, or None (unmarked, gone, or not ours to read)."""
    try:
        environ = (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = f"{MARK}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):].decode("ascii", "replace")
    return None


def owner_alive(mark, proc=procfs.PROC):
    pid, _, started = mark.partition(":")
    return pid.isdigit() and procfs.start_time(int(pid), proc) == started


def command_line(pid, proc=procfs.PROC):
    text = procfs.read_text(proc / str(pid) / "cmdline") or ""
    return " ".join(text.split("\0")).strip()[:120] or "?"


def is_wine_infrastructure(command):
    return "wineserver" in command.split(" ")[0] or command.lower().startswith("c:\\windows\\")


def find_orphans(proc=procfs.PROC):
    """[(pid, command line)] of the marked processes whose harness is gone."""
    orphans = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        mark = mark_of(entry.name, proc)
        if mark and not owner_alive(mark, proc):
            command = command_line(entry.name, proc)
            if not is_wine_infrastructure(command):
                orphans.append((int(entry.name), command))
    return orphans


def kill_orphans(stream, system=None):
    """Kills the orphans of earlier runs and says what it found and did."""
    note = (system or platforms.current()).orphans_note
    if note:
        stream.write(f"no search for processes left by an earlier run: {note}\n")
        return []
    orphans = find_orphans()
    if not orphans:
        stream.write("no processes left by an earlier run\n")
        return []
    stream.write(f"{len(orphans)} process(es) left by an earlier run that was killed; killing them:\n")
    for pid, command in orphans:
        try:
            os.kill(pid, signal.SIGKILL)
            done = "killed"
        except ProcessLookupError:
            done = "already gone"
        except PermissionError:
            done = "not ours to kill (left running)"
        stream.write(f"  pid {pid}: {command}: {done}\n")
    return orphans

"""Wine on Linux: the project's prefix and its one persistent wineserver,
which serves every Winsock server of a run or a test session. scripts/setup.sh
starts it the same way (harness.platforms.wine.main); the platform makes sure
of it again before each server it starts under Wine (ensure_wineserver).

Why it matters: a wineserver that Wine starts by itself (creating the prefix,
or for any program that finds none running) gets -p0 from Debian's wrapper and
shuts down the moment its last program exits. With it, every server start
starts a wineserver again (~0.5 s), and a server that connects while the last
one is shutting down is ended with it: exit code 1 before its ready line, or
SIGKILL after its stats line, and nothing on its stderr."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness.platforms import procfs
from harness.platforms.base import PlatformError
from harness.platforms.layout import ROOT

WINE_RUN_PATH = Path("scripts") / "wine-run"
WINE_RUN = ROOT / WINE_RUN_PATH
WINE_PREFIX = ROOT / "build" / "wine-prefix"
# The wineserver outlives each program by this long, so a server start costs
# tens of milliseconds instead of half a second.
WINESERVER_PERSISTENCE_S = 600
# A wineserver Wine started by itself ends as its last program does: how long
# it gets to go before ours is started.
SHORT_LIVED_EXIT_WAIT_S = 30
# Times a short-lived wineserver is waited out before ours is given up on: a
# program that was starting as the last one ended starts one again at once.
START_ATTEMPTS = 3
# `wineserver -p600` returns before its daemon has moved into its folder,
# where find_wineserver finds it: how long that may take.
APPEAR_WAIT_S = 5.0
WINESERVER_NAMES = ("wineserver", "wineserver64")
# What a Windows program under Wine runs as (its /proc/<pid>/exe): Wine's loader.
WINE_LOADER_NAMES = ("wine", "wine64", "wine-preloader", "wine64-preloader")


def wine_environment():
    """The environment of the wineserver commands: the project's prefix
    (scripts/wine-run sets what Wine programs need besides)."""
    env = dict(os.environ)
    env.setdefault("WINEPREFIX", str(WINE_PREFIX))
    return env


def start_wineserver():
    """One persistent wineserver for the prefix (it exits by itself ten
    minutes after the last program), and Wine's background services started
    detached from our pipes. A short-lived wineserver of the prefix is waited
    out first (bounded). Returns the persistent wineserver's pid;
    PlatformError (one line) if ours cannot be the one."""
    env = wine_environment()
    prefix = Path(env["WINEPREFIX"])
    wineserver = wineserver_program()
    if not wineserver:
        raise PlatformError("wineserver not found; run scripts/setup.sh")
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    for _ in range(START_ATTEMPTS):
        if persistent_wineserver(prefix):
            break
        for short_lived in wineservers(prefix):
            wait_out(short_lived, prefix, wineserver)
        if not (prefix / "system.reg").is_file():
            setup = "scripts/setup.sh" if prefix == WINE_PREFIX else f"WINEPREFIX={prefix} scripts/setup.sh"
            raise PlatformError(f"no Wine prefix at {prefix}; create it with {setup}")
        try:
            # Fails if another wineserver took the prefix meanwhile: the next round looks again.
            subprocess.run([wineserver, f"-p{WINESERVER_PERSISTENCE_S}"], timeout=30, **quiet)
        except (OSError, subprocess.SubprocessError) as error:
            raise PlatformError(f"wineserver does not start for {prefix}: {error}") from None
        wait_for_a_wineserver(prefix)
    persistent = persistent_wineserver(prefix)
    if not persistent:
        raise PlatformError(f"the wineserver of {prefix} is still one that ends with its last program after "
                            f"{START_ATTEMPTS} tries: a Wine program of that prefix starts one again each time "
                            f"(stop them: WINEPREFIX={prefix} {wineserver} -k) and try again")
    try:
        # The first program of a session starts Wine's background services
        # (services.exe, winedevice.exe...), which inherit that program's
        # stdout and stderr and outlive it: started here on /dev/null, they
        # never hold open the pipe of a caller waiting for a server's output to end.
        subprocess.run([str(WINE_RUN), "wineboot"], timeout=300, check=True, **quiet)
    except (OSError, subprocess.SubprocessError) as error:
        raise PlatformError(f"Wine does not start in {prefix}: {error}") from None
    return persistent


def wait_out(pid, prefix, wineserver):
    """Waits for a short-lived wineserver to end, which it does with its last
    program (and writes the registry out then: a prefix just created has its
    system.reg only then). Not `wineserver -w`: that waits for whichever
    wineserver holds the prefix, ours too if another caller started it meanwhile."""
    deadline = time.monotonic() + SHORT_LIVED_EXIT_WAIT_S
    while procfs.running(pid):
        if time.monotonic() > deadline:
            raise PlatformError(f"the wineserver of {prefix} (pid {pid}) ends with its last program, and a program "
                                f"still runs after {SHORT_LIVED_EXIT_WAIT_S} s: stop the Wine programs of that prefix "
                                f"(WINEPREFIX={prefix} {wineserver} -k) and try again")
        time.sleep(0.05)


def wait_for_a_wineserver(prefix):
    """Until the prefix has a wineserver in its folder (ours, or one a program
    started first), at most APPEAR_WAIT_S."""
    deadline = time.monotonic() + APPEAR_WAIT_S
    while find_wineserver(prefix) is None and time.monotonic() < deadline:
        time.sleep(0.02)


def persistent_wineserver(prefix, proc=procfs.PROC):
    """The pid of a long-lived wineserver of the prefix, or None."""
    return next((pid for pid in wineservers(prefix, proc) if long_lived(procfs.arguments(pid, proc))), None)


_seen_persistent = None  # (pid, start time) of the persistent wineserver ensure_wineserver last found


def ensure_wineserver():
    """Before a Winsock server of the project's prefix starts: the persistent
    wineserver runs, started again if the one last seen is gone (killed, or
    ended ten idle minutes after setup.sh started it), so that the server is
    never the program that starts a short-lived one. One small /proc read
    when nothing changed (a wineserver that ended stays a zombie here, so its
    state is read with its start time)."""
    global _seen_persistent
    if _seen_persistent and procfs.running_since(_seen_persistent[0]) == _seen_persistent[1]:
        return
    pid = persistent_wineserver(run_prefix()) or start_wineserver()
    started = procfs.running_since(pid)
    _seen_persistent = (pid, started) if started else None


def long_lived(argv):
    """Whether a wineserver started with argv outlives its programs by
    WINESERVER_PERSISTENCE_S or more. Its last -p option counts: a bare -p
    is for ever, -pN is N seconds (Debian's wrapper puts -p0 first), and
    none is Wine's default of 3 s. An unreadable argv counts as long-lived:
    nothing is known against it."""
    if argv is None:
        return True
    persistence = 3
    for argument in argv[1:]:
        if argument == "-p" or argument == "--persistent":
            persistence = None
        elif argument.startswith("-p") and argument[2:].isdigit():
            persistence = int(argument[2:])
        elif argument.startswith("--persistent=") and argument.partition("=")[2].isdigit():
            persistence = int(argument.partition("=")[2])
    return persistence is None or persistence >= WINESERVER_PERSISTENCE_S


def wineserver_program():
    """The wineserver executable (Debian keeps it out of PATH), or None."""
    wineserver = "/usr/lib/wine/wineserver"
    return wineserver if os.access(wineserver, os.X_OK) else shutil.which("wineserver")


def run_prefix():
    return Path(wine_environment()["WINEPREFIX"])


def wineserver_directory_name(prefix):
    """The name of the folder the wineserver of `prefix` works in: Wine keys
    its server folder (/tmp/.wine-<uid>/server-<dev>-<inode>, or a private
    /tmp/wine-XXXXXX/ one) by the prefix folder's device and inode in hex, and
    the wineserver runs with that folder as its working directory. That names
    the prefix however its path was spelled, and tells apart the wineservers
    of other prefixes on the same machine."""
    status = Path(prefix).stat()
    return f"server-{status.st_dev:x}-{status.st_ino:x}"


def wineservers(prefix, proc=procfs.PROC):
    """The pids of the wineservers in the prefix's folder: one, but for the
    moments when one is starting (its parent process) or ending."""
    try:
        wanted = wineserver_directory_name(prefix)
    except OSError:
        return []
    found = []
    for pid, name in procfs.processes(proc):
        if name in WINESERVER_NAMES:
            directory = procfs.working_directory(pid, proc)
            if directory and Path(directory).name == wanted:
                found.append(pid)
    return found


def wine_processes(prefix, proc=procfs.PROC):
    """The wineserver of `prefix` and every Wine program running in it (its
    servers and Wine's own services: services.exe, winedevice.exe, rpcss.exe,
    explorer.exe...): Wine's loader running with that WINEPREFIX (not any
    process that has it in its environment: the harness itself may). These
    serve nothing but the programs of that prefix, so a run may place them."""
    try:
        wanted = Path(prefix).resolve()
    except OSError:
        return []
    found = set(wineservers(prefix, proc))
    for pid, _ in procfs.processes(proc):
        if Path(procfs.executable(pid, proc) or "").name not in WINE_LOADER_NAMES:
            continue
        value = procfs.environment_variable(pid, "WINEPREFIX", proc)
        if value and Path(value).resolve() == wanted:
            found.add(pid)
    return sorted(found)


def find_wineserver(prefix, proc=procfs.PROC):
    """The pid of the wineserver serving `prefix`, or None if none runs."""
    return next(iter(wineservers(prefix, proc)), None)


def describe_wineserver(prefix=None, proc=procfs.PROC):
    """One line on the prefix's wineserver as it is now, for the message of a
    Wine program that ended unexpectedly: a wineserver younger than the run,
    or one that ends with its programs, points at its shutdown (it ends what
    still runs on it: exit code 1, then SIGKILL)."""
    prefix = Path(prefix or run_prefix())
    pid = find_wineserver(prefix, proc)
    if pid is None:
        return f"no wineserver runs for {prefix}"
    argv = procfs.arguments(pid, proc) or ["?"]
    age = procfs.age_s(pid, proc)
    lifetime = "outlives its programs" if long_lived(argv) else "ends with its last program"
    started = f"started {age:.0f} s ago" if age is not None else "start time unknown"
    return f"the wineserver of {prefix}: pid {pid} ({' '.join(argv[1:]) or 'no options'}; {lifetime}), {started}"


def main():
    """scripts/setup.sh: the persistent wineserver and Wine's services, or one line saying why not."""
    try:
        start_wineserver()
    except PlatformError as error:
        print(f"setup: {error}", file=sys.stderr)
        return 1
    return 0

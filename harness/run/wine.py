"""Wine for a run: the project's prefix and the one persistent wineserver
the run starts (it serves every Winsock server of the run). scripts/setup.sh
starts it the same way (harness.run.wine.main)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.platforms import procfs
from harness.platforms.linux import WINE_RUN
from harness.run.errors import RunError
from harness.servers import ROOT

WINE_PREFIX = ROOT / "build" / "wine-prefix"
# The wineserver outlives each program by this long, so a server start costs
# tens of milliseconds instead of half a second.
WINESERVER_PERSISTENCE_S = 600
# A wineserver Wine started by itself ends as its last program does: how long
# it gets to go before ours is started.
SHORT_LIVED_EXIT_WAIT_S = 30
WINESERVER_NAMES = ("wineserver", "wineserver64")


def wine_environment():
    """The environment of the wineserver commands: the project's prefix
    (scripts/wine-run sets what Wine programs need besides)."""
    env = dict(os.environ)
    env.setdefault("WINEPREFIX", str(WINE_PREFIX))
    return env


def start_wineserver():
    """One persistent wineserver for the whole run (it exits by itself ten
    minutes after the last program), and Wine's background services started
    detached from our pipes.

    A wineserver that Wine started by itself (creating the prefix, or any
    program run without ours) gets -p0 from Debian's wrapper: it shuts down
    the moment its last program exits. With it, every server start would
    start a wineserver again (~0.5 s) and race with the previous one's
    shutdown, so it is waited out first (bounded), then ours starts."""
    env = wine_environment()
    prefix = Path(env["WINEPREFIX"])
    wineserver = wineserver_program()
    if not wineserver:
        raise RunError("wineserver not found; run scripts/setup.sh")
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    running = find_wineserver(prefix)
    if running and not long_lived(procfs.arguments(running)):
        try:
            # It also writes the registry out when it ends: a prefix just
            # created has its system.reg only then.
            subprocess.run([wineserver, "-w"], timeout=SHORT_LIVED_EXIT_WAIT_S, **quiet)
        except subprocess.TimeoutExpired:
            raise RunError(f"the wineserver of {prefix} (pid {running}) ends with its last program, and a program "
                           f"still runs after {SHORT_LIVED_EXIT_WAIT_S} s: stop the Wine programs of that prefix "
                           f"(WINEPREFIX={prefix} {wineserver} -k) and try again") from None
    if not (prefix / "system.reg").is_file():
        raise RunError(f"no Wine prefix at {prefix}; run scripts/setup.sh")
    try:
        subprocess.run([wineserver, f"-p{WINESERVER_PERSISTENCE_S}"], timeout=30, **quiet)  # fails if one runs: fine
        # The first program of a session starts Wine's background services
        # (services.exe, winedevice.exe...), which inherit that program's
        # stdout and stderr and outlive it: started here on /dev/null, they
        # never hold open the pipe of a caller waiting for a server's output to end.
        subprocess.run([str(WINE_RUN), "wineboot"], timeout=300, check=True, **quiet)
    except (OSError, subprocess.SubprocessError) as error:
        raise RunError(f"Wine does not start in {prefix}: {error}") from None


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


def find_wineserver(prefix, proc=procfs.PROC):
    """The pid of the wineserver serving `prefix`, or None if none runs."""
    try:
        wanted = wineserver_directory_name(prefix)
    except OSError:
        return None
    for pid, name in procfs.processes(proc):
        if name in WINESERVER_NAMES:
            directory = procfs.working_directory(pid, proc)
            if directory and Path(directory).name == wanted:
                return pid
    return None


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
    except RunError as error:
        print(f"setup: {error}", file=sys.stderr)
        return 1
    return 0

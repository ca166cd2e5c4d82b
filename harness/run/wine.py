"""Wine for a run: the project's prefix and the one persistent wineserver
the run starts (it serves every Winsock server of the run)."""
import os
import shutil
import subprocess
from pathlib import Path

from harness.platforms import procfs
from harness.platforms.linux import WINE_RUN
from harness.run.errors import RunError
from harness.servers import ROOT

WINE_PREFIX = ROOT / "build" / "wine-prefix"
# The wineserver outlives each program by this long, so a server start costs
# tens of milliseconds instead of half a second (as scripts/setup.sh does).
WINESERVER_PERSISTENCE = "-p600"
WINESERVER_NAMES = ("wineserver", "wineserver64")


def wine_environment():
    env = dict(os.environ)
    env.setdefault("WINEPREFIX", str(WINE_PREFIX))
    env.setdefault("WINEDEBUG", "-all")
    env.setdefault("WINEDLLOVERRIDES", "mscoree,mshtml=")
    return env


def start_wineserver():
    """One persistent wineserver for the whole run (it exits by itself ten
    minutes after the last program), and Wine's background services started
    detached from our pipes, as scripts/setup.sh does."""
    env = wine_environment()
    if not (Path(env["WINEPREFIX"]) / "system.reg").is_file():
        raise RunError(f"no Wine prefix at {env['WINEPREFIX']}; run scripts/setup.sh")
    wineserver = wineserver_program()
    if not wineserver:
        raise RunError("wineserver not found; run scripts/setup.sh")
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    try:
        subprocess.run([wineserver, WINESERVER_PERSISTENCE], timeout=30, **quiet)  # fails if one runs: fine
        subprocess.run([str(WINE_RUN), "wineboot"], timeout=300, check=True, **quiet)
    except (OSError, subprocess.SubprocessError) as error:
        raise RunError(f"Wine does not start in {env['WINEPREFIX']}: {error}") from None


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

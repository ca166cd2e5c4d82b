"""Facts about the machine and the source tree that a run records once, in
its manifest: platform, CPU, compiler, Wine version, git commit; and the CPUs
--pin gives the server and the load generator."""
import os
import platform
import subprocess
from pathlib import Path

from harness.run.errors import RunError
from harness.servers import WINE_RUN


def command_output(argv, cwd=None, timeout=30):
    """First line of a command's stdout, or None if it fails."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def git_state(tree):
    """(commit, dirty) of a git tree; (None, None) outside git."""
    commit = command_output(["git", "rev-parse", "HEAD"], cwd=tree)
    if commit is None:
        return None, None
    try:
        status = subprocess.run(["git", "status", "--porcelain"], cwd=tree, capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return commit, None
    return commit, bool(status.strip())


def os_release_name():
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def platform_facts(with_wine):
    uname = platform.uname()
    return {
        "os": uname.system, "kernel": uname.release, "uname": " ".join(part for part in uname if part),
        "distribution": os_release_name(),
        "wine": command_output([str(WINE_RUN), "--version"]) if with_wine else None,
        "compiler": command_output(["x86_64-w64-mingw32-gcc", "--version"]),
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def pin_cpus():
    """Server on one CPU, loadgen on another: the first two this process may use."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        raise RunError(f"--pin needs at least 2 CPUs; this process may use {len(available)}")
    return {"server_cpus": [available[0]], "loadgen_cpus": [available[1]]}

"""The load generator (loadgen/): finding it, turning a point into its
command line, running it with a timeout and reading its JSON document."""
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import platforms
from harness.platforms.base import exit_description

STDERR_TAIL = 4000


class LoadgenNotFound(FileNotFoundError):
    pass


def find_loadgen(system=None):
    """WSB_LOADGEN if set, else this platform's build (harness.platforms:
    the native preset's on Linux, the windows or windows-mingw one's on Windows)."""
    system = system or platforms.current()
    path = Path(system.loadgen())
    if not path.is_file() or not os.access(path, os.X_OK):
        builds = " or ".join(system.loadgen_presets)
        origin = "WSB_LOADGEN" if system.environ.get("WSB_LOADGEN") else f"the {builds} build"
        raise LoadgenNotFound(f"loadgen not found at {path} ({origin}); run {system.build_command}")
    return path


def loadgen_argv(loadgen, point, port, host="127.0.0.1", threads=None):
    """The load generator's command line for one point against one server;
    the JSON document goes to stdout. threads: run with this many threads
    instead of the point's (the harness raises them when loadgen saturates)."""
    argv = [str(loadgen), "--host", host, "--port", str(port), "--workload", point.workload]
    options = dict(point.loadgen_args)
    if threads is not None and threads != options.get("threads", 1):
        options["threads"] = threads
    for option, value in options.items():
        argv += [f"--{option}", format_number(value)]
    return argv + ["--json", "-"]


def format_number(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class LoadgenResult:
    document: dict | None    # the JSON document (schema winsock-bench/loadgen/1), if it wrote one
    exit_code: int | None    # None when it was killed at the timeout
    stderr: str              # its last STDERR_TAIL characters
    failure: str | None      # one line when the run is not usable, else None


def run_loadgen(argv, timeout, cpus=None, system=None, started=None):
    """Runs the load generator (pinned to `cpus` when given) to completion or
    to the timeout (then kills it). started(pid), when given, is called once
    it runs (the run reads back where its processes are then)."""
    system = system or platforms.current()
    try:
        process = system.start(argv, cpus=cpus, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    except (OSError, subprocess.SubprocessError) as error:
        return LoadgenResult(None, None, "", f"loadgen could not start: {error}")
    if started:
        started(process.pid)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        return LoadgenResult(None, None, tail(stderr), f"loadgen did not finish within {timeout:g} s")
    stderr = tail(stderr)
    document, problem = parse_document(stdout)
    return LoadgenResult(document, process.returncode, stderr, describe_failure(process.returncode, document,
                                                                               problem, stderr))


def tail(data):
    if not data:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[-STDERR_TAIL:]


def parse_document(stdout):
    """(document, None) or (None, reason)."""
    text = stdout.decode("utf-8", "replace").strip() if stdout else ""
    if not text:
        return None, "wrote no JSON"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"wrote invalid JSON ({error.msg} at {error.pos})"
    if not isinstance(document, dict) or document.get("schema") != "winsock-bench/loadgen/1":
        return None, "wrote JSON of an unknown schema"
    return document, None


def describe_failure(exit_code, document, problem, stderr):
    """One line saying why a run is not usable, or None if it is."""
    if exit_code == 0 and document is not None:
        return None
    if exit_code == 1 and document is not None:
        errors = {kind: count for kind, count in document.get("errors", {}).items() if count}
        listed = ", ".join(f"{kind} {count}" for kind, count in errors.items()) or document.get("fatal") or "?"
        return f"loadgen counted errors: {listed}"
    last_line = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    reason = last_line.strip() or problem or "no message"
    return f"loadgen {exit_description(exit_code)}: {reason}"[:300]

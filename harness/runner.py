"""`run` and `run --resume`: plans a suite (points x servers x variants x
repetitions, interleaved and seeded), records the machine in manifest.json,
and runs every plan item in turn: start the server, run the load generator,
stop the server, write one record atomically. A server that crashes or hangs
fails its item only; the run goes on and says at the end what failed."""
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness import loadgen as loadgen_module
from harness import results
from harness.servers import ALL_MODELS, ROOT, WINE_RUN, EchoServer, ServerError, is_wine, server_command
from harness.servers import DEFAULT_MINGW_DIR, DEFAULT_NATIVE_DIR
from harness.suites import Point, Timeouts, default_platform_of

DEFAULT_SEED = 1
RUNS_DIR = ROOT / "results" / "runs"
WINE_PREFIX = ROOT / "build" / "wine-prefix"
# The wineserver outlives each program by this long, so a server start costs
# tens of milliseconds instead of half a second (as scripts/setup.sh does).
WINESERVER_PERSISTENCE = "-p600"


class RunError(Exception):
    """A run that cannot start or resume; the message is one line."""


# --- the servers a run can start --------------------------------------------

@dataclass
class Variant:
    """One build of the servers: "current" (the working tree's build) or, in
    `ab`, "base" (another revision's build in a temporary tree)."""
    name: str
    mingw_dir: Path
    native_dir: Path
    commit: str | None = None
    dirty: bool | None = None

    def to_manifest(self):
        return {"commit": self.commit, "dirty": self.dirty, "servers_dir": relative(self.mingw_dir),
                "native_dir": relative(self.native_dir)}

    @classmethod
    def from_manifest(cls, name, data):
        native = data.get("native_dir") or str(DEFAULT_NATIVE_DIR)
        return cls(name, absolute(data["servers_dir"]), absolute(native), data.get("commit"), data.get("dirty"))


class BuiltServers:
    """The real servers: the six Winsock models (under Wine) and the Linux
    reference, from each variant's build folders."""
    names = ALL_MODELS

    def command(self, server, variant):
        return server_command(server, variant.mingw_dir, variant.native_dir)

    def needs_wine(self, server):
        return is_wine(server)

    def platform(self, server):
        return default_platform_of(server)


def current_variant():
    commit, dirty = git_state(ROOT)
    return Variant("current", DEFAULT_MINGW_DIR, DEFAULT_NATIVE_DIR, commit, dirty)


# --- the plan ----------------------------------------------------------------

def make_plan(cells, variants, reps, seed):
    """Every (point, server, variant) once per repetition round, each round in
    its own shuffled order: a transient slowdown of the machine then spreads
    over all servers instead of hitting one server's repetitions together."""
    rng = random.Random(seed)
    plan = []
    for rep in range(reps):
        round_items = [{"point": point.id, "server": server, "variant": variant, "rep": rep}
                       for point, server in cells for variant in variants]
        rng.shuffle(round_items)
        plan.extend(round_items)
    return plan


def record_path(run_dir, item):
    return Path(run_dir) / "points" / item["point"] / f"{item['server']}.{item['variant']}.r{item['rep']}.json"


def readable_json(data, depth=0):
    """Indented JSON, except that lists of plain numbers (the histogram's
    [low_ns, high_ns, count] buckets) stay on one line: a record is read by
    people too, and one bucket per five lines tripled its size."""
    if isinstance(data, list) and data and all(type(v) in (int, float) for v in data):
        return json.dumps(data, separators=(",", ":"))
    if not isinstance(data, (dict, list)) or not data:
        return json.dumps(data)
    inner, outer = " " * (depth + 1), " " * depth
    if isinstance(data, dict):
        items = [f"{inner}{json.dumps(str(k))}: {readable_json(v, depth + 1)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    items = [inner + readable_json(v, depth + 1) for v in data]
    return "[\n" + ",\n".join(items) + f"\n{outer}]"


def write_json_atomic(path, data):
    """Writes a temporary file next to path and renames it over path: a reader
    (or an interrupted run) sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(readable_json(data))
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


# --- the machine -------------------------------------------------------------

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
    wineserver = "/usr/lib/wine/wineserver"
    if not os.access(wineserver, os.X_OK):
        wineserver = shutil.which("wineserver")
    if not wineserver:
        raise RunError("wineserver not found; run scripts/setup.sh")
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    try:
        subprocess.run([wineserver, WINESERVER_PERSISTENCE], timeout=30, **quiet)  # fails if one runs: fine
        subprocess.run([str(WINE_RUN), "wineboot"], timeout=300, check=True, **quiet)
    except (OSError, subprocess.SubprocessError) as error:
        raise RunError(f"Wine does not start in {env['WINEPREFIX']}: {error}") from None


# --- one plan item -----------------------------------------------------------

def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_item(item, point, command, timeouts, pin, loadgen):
    """Runs one point on one server once; returns its record (never raises
    for a server or load generator that misbehaves)."""
    started_at, began = now_iso(), time.monotonic()
    server = EchoServer(item["server"], point.server_args, command=command,
                        cpus=pin["server_cpus"] if pin else None,
                        ready_timeout=timeouts.server_start, stop_timeout=timeouts.server_stop)
    problems, result, argv = [], None, None
    try:
        try:
            server.start()
        except ServerError as error:
            problems.append(f"server start: {error.reason}")
        except OSError as error:
            problems.append(f"server start: {error}")
        if not problems:
            argv = loadgen_module.loadgen_argv(loadgen, point, server.port)
            result = loadgen_module.run_loadgen(argv, point.loadgen_timeout(timeouts),
                                                pin["loadgen_cpus"] if pin else None)
            if result.failure:
                problems.append(result.failure)
            try:
                server.stop()
            except ServerError as error:
                problems.append(f"server stop: {error.reason}")
    finally:
        server_stderr = server.stderr_text()
        server.close()
    return {
        "schema": results.RECORD_SCHEMA,
        "point": {"id": point.id, "workload": point.workload, "loadgen_args": dict(point.loadgen_args),
                  "server_args": list(point.server_args), "sweep": point.sweep},
        "server": item["server"], "variant": item["variant"], "rep": item["rep"],
        "status": "failed" if problems else "ok",
        "failure": "; ".join(problems) if problems else None,
        "started_at": started_at, "elapsed_s": round(time.monotonic() - began, 3),
        "loadgen": result.document if result else None,
        "loadgen_exit": result.exit_code if result else None,
        "loadgen_argv": argv,
        "server_ready": server.ready, "server_stats": server.stats, "server_stopped_by": server.stopped_by,
        "pin": pin,
        "loadgen_stderr": result.stderr if result else "", "server_stderr": server_stderr,
    }


# --- progress ----------------------------------------------------------------

def format_duration(seconds):
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """One line per item on stderr: rewritten in place on a terminal, plain
    lines otherwise (CI logs). The ETA scales the remaining estimates by how
    far the finished items were off theirs."""

    def __init__(self, estimates, stream=None):
        self.estimates = estimates
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.spent = 0.0
        self.estimated_done = 0.0
        self.label = ""

    def eta(self, index):
        remaining = sum(self.estimates[index:])
        if self.estimated_done > 0:
            remaining *= min(3.0, max(0.3, self.spent / self.estimated_done))
        return remaining

    def start(self, index, label):
        self.label = label
        line = f"[{index + 1}/{len(self.estimates)}] {label} \u2014 ETA {format_duration(self.eta(index))}"
        if self.live:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, index, elapsed, failure=None):
        self.spent += elapsed
        self.estimated_done += self.estimates[index]
        if failure:
            self.note(f"  {self.label} failed: {failure}")

    def note(self, text):
        self.stream.write(("\r\033[K" if self.live else "") + text + "\n")
        self.stream.flush()

    def close(self):
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


# --- a run -------------------------------------------------------------------

def relative(path):
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def absolute(text):
    path = Path(text)
    return path if path.is_absolute() else ROOT / path


def default_out(suite_name):
    return RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{suite_name}"


def prepare_out(out):
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out} already exists and is not empty; pick another --out, or --resume it")
    out.mkdir(parents=True, exist_ok=True)
    return out


def plan_label(item, show_variant):
    variant = f" ({item['variant']})" if show_variant else ""
    return f"{item['server']}{variant} {item['point']} rep {item['rep'] + 1}"


def check_commands(items, variants, registry):
    """Every server of the plan must be built before anything runs."""
    for server, variant in sorted({(i["server"], i["variant"]) for i in items}):
        try:
            registry.command(server, variants[variant])
        except FileNotFoundError as missing:
            if variant != "current":
                raise RunError(f"{missing.args[0].split(';')[0]}: the {variant} build of an ab run was "
                               "temporary, so that run cannot be resumed") from None
            raise RunError(str(missing)) from None


def new_run(suite, servers, out=None, reps=None, seed=DEFAULT_SEED, pin=False, variants=None,
            registry=None, stream=None):
    """Plans a suite, writes the manifest, runs every item. Returns the exit
    code (0 all ok, 1 some failed, 130 interrupted) and the run folder."""
    registry = registry or BuiltServers()
    variants = variants or [current_variant()]
    reps = reps or suite.reps
    loadgen = loadgen_module.find_loadgen()
    cells, skipped = suite.cells(servers)
    if not cells:
        raise RunError(f"suite {suite.name}: nothing to run on {', '.join(servers)} (all points skipped)")
    plan = make_plan(cells, [v.name for v in variants], reps, seed)
    by_name = {v.name: v for v in variants}
    check_commands(plan, by_name, registry)
    pin_info = pin_cpus() if pin else None
    with_wine = any(registry.needs_wine(server) for server in servers)
    out = prepare_out(out or default_out(suite.name))
    manifest = {
        "schema": results.RUN_SCHEMA, "suite": suite.name, "suite_file": relative(suite.path),
        "suite_text": suite.text, "description": suite.description,
        "seed": seed, "reps": reps, "servers": list(servers),
        "variants": {v.name: v.to_manifest() for v in variants},
        "points": [point.to_manifest() for point in suite.points if any(point is p for p, _ in cells)],
        "plan": plan, "skipped": skipped,
        "timeouts": suite.timeouts.to_dict(), "max_connections": dict(suite.max_connections),
        "platform": platform_facts(with_wine), "pin": pin_info,
        "loadgen": {"path": relative(loadgen)},
        "started_at": now_iso(), "finished_at": None, "resumed_at": [],
    }
    write_json_atomic(out / "manifest.json", manifest)
    stream = stream or sys.stderr
    estimate = sum(point_estimate(suite.timeouts, registry, cells_by_id(cells), item) for item in plan)
    variants_text = f" x {len(variants)} variants" if len(variants) > 1 else ""
    skipped_text = f" ({len(skipped)} skipped: connection limits)" if skipped else ""
    stream.write(f"{suite.name}: {len(plan)} runs = {len(cells)} (point, server) cells{variants_text} x "
                 f"{reps} reps{skipped_text}, about {format_duration(estimate)}; results in {out}\n")
    return execute(out, manifest, plan, registry, variants, stream), out


def cells_by_id(cells):
    return {point.id: point for point, _ in cells}


def point_estimate(timeouts, registry, points, item):
    return points[item["point"]].estimated_seconds(registry.platform(item["server"]), timeouts)


def load_manifest(run_dir):
    try:
        return results.read_manifest(run_dir)
    except ValueError as error:
        raise RunError(str(error)) from None


def missing_items(run_dir, plan):
    return [item for item in plan if not record_path(run_dir, item).exists()]


def resume_run(run_dir, registry=None, stream=None):
    """Runs the plan items of an interrupted run that have no record yet, in
    the plan's order. Returns (exit code, run folder)."""
    registry = registry or BuiltServers()
    stream = stream or sys.stderr
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    missing = missing_items(run_dir, manifest["plan"])
    stream.write(f"resuming {run_dir}: {len(missing)} of {len(manifest['plan'])} runs have no record\n")
    variants = [Variant.from_manifest(name, data) for name, data in manifest["variants"].items()]
    if missing:
        check_commands(missing, {v.name: v for v in variants}, registry)
        loadgen_module.find_loadgen()
    manifest.setdefault("resumed_at", []).append(now_iso())
    write_json_atomic(run_dir / "manifest.json", manifest)
    return execute(run_dir, manifest, missing, registry, variants, stream), run_dir


def execute(run_dir, manifest, items, registry, variants, stream):
    """Runs the items, writing each record as it completes; then finishes the
    manifest and prints the summary."""
    points = {data["id"]: Point.from_manifest(data) for data in manifest["points"]}
    timeouts = Timeouts(**manifest.get("timeouts", {}))
    by_name = {v.name: v for v in variants}
    loadgen = loadgen_module.find_loadgen() if items else None
    if items and any(registry.needs_wine(item["server"]) for item in items):
        start_wineserver()
    progress = Progress([point_estimate(timeouts, registry, points, item) for item in items], stream)
    show_variant = len(by_name) > 1
    try:
        for index, item in enumerate(items):
            progress.start(index, plan_label(item, show_variant))
            command = registry.command(item["server"], by_name[item["variant"]])
            record = run_item(item, points[item["point"]], command, timeouts, manifest.get("pin"), loadgen)
            write_json_atomic(record_path(run_dir, item), record)
            progress.finish(index, record["elapsed_s"], record["failure"])
    except KeyboardInterrupt:
        progress.close()
        done = len(manifest["plan"]) - len(missing_items(run_dir, manifest["plan"]))
        stream.write(f"interrupted: {done} of {len(manifest['plan'])} runs recorded; finish with\n"
                     f"  python3 -m harness run --resume {run_dir}\n")
        return 130
    progress.close()
    manifest["finished_at"] = now_iso()
    write_json_atomic(Path(run_dir) / "manifest.json", manifest)
    return summarize(run_dir, manifest, stream)


def summarize(run_dir, manifest, stream):
    """Prints what failed (from the records on disk, so a resumed run counts
    its earlier part too); 1 if anything failed."""
    failures = []
    for item in manifest["plan"]:
        try:
            record = json.loads(record_path(run_dir, item).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            failures.append((item, "no readable record"))
            continue
        if record.get("status") != "ok":
            failures.append((item, record.get("failure") or "failed"))
    plan, skipped = manifest["plan"], manifest.get("skipped", [])
    stream.write(f"{len(plan)} runs: {len(plan) - len(failures)} ok, {len(failures)} failed"
                 f"{f', {len(skipped)} skipped (connection limits)' if skipped else ''}\n")
    for item, failure in failures:
        stream.write(f"  FAILED {plan_label(item, len(manifest['variants']) > 1)}: {failure}\n")
    stream.write(f"results: {run_dir}\nnext: python3 -m harness report {run_dir}\n")
    stream.flush()
    return 1 if failures else 0

"""Benchmark suites: TOML files (harness/suites/*.toml) read with tomllib and
validated into points. A suite is data, never code; every error names the
file, the point and the problem, so a typo fails before anything runs.

A suite file:

    description = "what it is for"        # required
    name = "smoke"                         # optional, the file's stem by default
    servers = ["iocp", "reference-epoll"]  # default servers (--servers overrides); without
                                           # it, every model this machine runs (harness/models.py)

    [repetitions]                          # adaptive: rounds until each cell's interval is narrow
    min = 6                                # rounds every cell gets (at least 5; 6 gives the first
                                           # 95% interval of a median)
    max = 12                               # no cell gets more
    target = 0.05                          # settled: throughput's and p99's intervals within +-5%
    budget_s = 1080                        # no new round item once the run's items took this long
    # or, instead of [repetitions]: reps = 3  (a fixed count, no adaptation, as --reps does)

    [timeouts]                             # seconds, all optional
    server_start = 30                      # until the ready line
    server_stop = 30                       # from closing stdin to the stats line
    loadgen_margin = 30                    # loadgen may run warmup + duration + this

    [max_connections]                      # overrides a model's own limit (its model.json);
    thread = 1000                          # a point that holds more is skipped for it

    [defaults]                             # loadgen options every point starts from
    duration = 1.0
    warmup = 0.2

    [[point]]
    id = "pingpong-c{connections}"         # {param} takes each value of a sweep
    workload = "pingpong"
    connections = [1, 16, 64]              # a list: a sweep, one point per value
    sweep = "pingpong-connections"         # optional sweep name (default workload-param)
    servers = ["iocp"]                     # optional subset of the suite's servers
    server_args = ["--threads", "1"]       # optional, given to every server of the point
    timeout = 60                           # optional loadgen timeout (needed with messages)
    placement = ["colocated", "free"]      # optional: this point under these placements, not the run's
                                           # (one point each, id and sweep suffixed -<mode>; see
                                           # harness.run.placement)
"""
import dataclasses
import fnmatch
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness import models, platforms

SUITES_DIR = Path(__file__).resolve().parent / "suites"
WORKLOADS = ["pingpong", "pipeline", "rate", "churn", "idle"]


@dataclass(frozen=True)
class OptionSpec:
    kind: type          # int or float (a float option accepts a TOML integer too)
    low: float
    high: float
    workloads: tuple = tuple(WORKLOADS)   # the workloads the option means something for


# The load generator's own ranges (loadgen/options.c), checked here so that a
# bad suite fails when it is read rather than an hour into a run.
LOADGEN_OPTIONS = {
    "connections": OptionSpec(int, 1, 1_000_000, ("pingpong", "pipeline", "rate", "idle")),
    "size": OptionSpec(int, 1, 64 * 1024 * 1024),
    "duration": OptionSpec(float, 0.001, 1e7),
    "warmup": OptionSpec(float, 0, 1e7),
    "messages": OptionSpec(int, 1, 10**18),
    "depth": OptionSpec(int, 1, 65536, ("pipeline",)),
    "rate": OptionSpec(float, 0.001, 1e9, ("rate",)),
    "concurrency": OptionSpec(int, 1, 1_000_000, ("churn",)),
    "idle": OptionSpec(int, 0, 1_000_000, ("idle",)),
    "threads": OptionSpec(int, 1, 256),
    # Thousands of connects queue up behind a Wine server's accept loop for
    # longer than the default 5 s: big points raise it rather than fail.
    "connect-timeout": OptionSpec(float, 0.001, 3600),
}
# The load generator's defaults, for the figures the harness derives itself.
LOADGEN_DEFAULTS = {"connections": 1, "idle": 1000, "concurrency": 1, "threads": 1}

POINT_KEYS = {"id", "workload", "sweep", "servers", "server_args", "timeout", "placement"}
PLACEMENT_MODES = ("colocated", "split", "pinned", "free")  # what each means: harness.run.placement
SUITE_KEYS = {"name", "description", "reps", "repetitions", "servers", "timeouts", "max_connections", "defaults",
              "point"}
REPETITION_KEYS = ("min", "max", "target", "budget_s")
# Adaptive repetitions start from at least this many rounds: fewer cannot even
# bracket a median at 90%, and the next round gives the first 95% interval.
MIN_ADAPTIVE_REPS = 5
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Timeouts:
    server_start: float = 30.0
    server_stop: float = 30.0
    loadgen_margin: float = 30.0

    def to_dict(self):
        return {"server_start": self.server_start, "server_stop": self.server_stop,
                "loadgen_margin": self.loadgen_margin}


# What one plan item costs beyond the measured seconds, for estimates: starting
# and stopping the server (Wine: ~0.1-0.3 s with a persistent wineserver), the
# load generator's start, and opening each connection it holds.
# Measured with the runner on a 2-core Debian 12 VM under Wine 8.
ITEM_OVERHEAD_S = {"wine": 0.15, "native": 0.08}
CONNECT_COST_S = {"wine": 0.0007, "native": 0.00007}


@dataclass(frozen=True)
class Repetitions:
    """How many times each (point, server) cell runs: `min` rounds, then, when
    adaptive, more rounds of the cells whose throughput or p99 interval is
    still wider than +-target (relative half-width), up to `max` per cell and
    while the run's items have taken less than budget_s in all."""
    min: int
    max: int
    target: float | None = None     # None: a fixed count
    budget_s: float | None = None   # None: no time limit

    @classmethod
    def fixed(cls, count):
        return cls(count, count)

    @property
    def adaptive(self):
        return self.max > self.min

    def to_manifest(self):
        return {"min": self.min, "max": self.max, "target": self.target, "budget_s": self.budget_s,
                "adaptive": self.adaptive}

    @classmethod
    def from_manifest(cls, data, reps):
        if not data:  # a run from before adaptive repetitions
            return cls.fixed(reps)
        return cls(data["min"], data["max"], data.get("target"), data.get("budget_s"))


class SuiteError(ValueError):
    """A suite that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Point:
    id: str
    workload: str
    loadgen_args: dict
    server_args: tuple = ()
    servers: tuple | None = None     # None: every server of the run
    sweep: dict | None = None        # {"name", "param", "value"}
    timeout: float | None = None     # loadgen timeout; None: warmup + duration + margin
    placement: str | None = None     # a harness.run.placement mode; None: the run's

    def held_connections(self):
        """Connections the server holds at once during this point."""
        args = {**LOADGEN_DEFAULTS, **self.loadgen_args}
        if self.workload == "churn":
            return args["concurrency"]
        if self.workload == "idle":
            return args["connections"] + args["idle"]
        return args["connections"]

    def loadgen_timeout(self, timeouts):
        if self.timeout is not None:
            return self.timeout
        return self.loadgen_args.get("warmup", 0) + self.loadgen_args.get("duration", 10) + timeouts.loadgen_margin

    def estimated_seconds(self, platform, timeouts):
        """Rough wall time of one run of this point on one server."""
        if "messages" in self.loadgen_args:
            measured = self.loadgen_timeout(timeouts)  # unknown: its upper bound
        else:
            measured = self.loadgen_args.get("warmup", 0) + self.loadgen_args.get("duration", 10)
        return measured + ITEM_OVERHEAD_S[platform] + CONNECT_COST_S[platform] * self.held_connections()

    def to_manifest(self):
        return {"id": self.id, "workload": self.workload, "loadgen_args": dict(self.loadgen_args),
                "server_args": list(self.server_args), "servers": list(self.servers) if self.servers else None,
                "sweep": dict(self.sweep) if self.sweep else None, "timeout": self.timeout,
                "placement": self.placement}

    @classmethod
    def from_manifest(cls, data):
        return cls(id=data["id"], workload=data["workload"], loadgen_args=dict(data["loadgen_args"]),
                   server_args=tuple(data.get("server_args") or ()),
                   servers=tuple(data["servers"]) if data.get("servers") else None,
                   sweep=data.get("sweep"), timeout=data.get("timeout"), placement=data.get("placement"))


@dataclass
class Suite:
    name: str
    description: str
    path: Path
    text: str
    repetitions: Repetitions
    servers: list
    points: list
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_connections: dict = field(default_factory=dict)   # the suite's own overrides

    @property
    def reps(self):
        """The rounds every cell gets."""
        return self.repetitions.min

    def connection_limit(self, server):
        """(limit, who set it) for a server: the suite's [max_connections], else
        the model's own max_connections; (None, None) when nothing limits it."""
        if server in self.max_connections:
            return self.max_connections[server], "the suite limits"
        limit = models.max_connections(server)
        return (limit, f"servers/{server}/model.json limits") if limit is not None else (None, None)

    def connection_limits(self, servers):
        """{server: limit} of the servers that have one (what a run's manifest records)."""
        return {server: limit for server in servers
                for limit, _ in [self.connection_limit(server)] if limit is not None}

    def cells(self, servers):
        """(point, server) pairs to run, and the skipped ones as
        {"point", "server", "reason"} (a model's connection limit)."""
        cells, skipped = [], []
        for point in self.points:
            for server in servers:
                if point.servers is not None and server not in point.servers:
                    continue
                limit, source = self.connection_limit(server)
                if limit is not None and point.held_connections() > limit:
                    skipped.append({"point": point.id, "server": server,
                                    "reason": f"holds {point.held_connections()} connections; "
                                              f"{source} {server} to {limit}"})
                    continue
                cells.append((point, server))
        return cells, skipped

    def round_seconds(self, servers, variants=1, platform_of=None):
        """Rough wall time of one round (every cell once) on these servers."""
        platform_of = platform_of or default_platform_of
        cells, _ = self.cells(servers)
        return variants * sum(point.estimated_seconds(platform_of(server), self.timeouts) for point, server in cells)

    def estimate_seconds(self, servers, reps=None, variants=1, platform_of=None):
        """Rough wall time of the whole suite on these servers: `reps` rounds
        when given (a fixed count), else the suite's repetitions: its minimum
        rounds, and at most until the budget or `max` rounds."""
        per_round = self.round_seconds(servers, variants, platform_of)
        if reps is not None:
            return per_round * reps
        most = per_round * self.repetitions.max
        if self.repetitions.budget_s is not None:
            most = min(most, self.repetitions.budget_s)
        return max(per_round * self.repetitions.min, most)


def default_platform_of(server):
    """How a server runs here, for estimates: "wine" or "native" (harness.platforms)."""
    return platforms.current().runtime_of(server)


def suite_names():
    return sorted(path.stem for path in SUITES_DIR.glob("*.toml"))


def suite_path(name_or_path):
    """A shipped suite's name (smoke) or a path to a .toml file."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        return Path(text)
    return SUITES_DIR / f"{text}.toml"


def with_overrides(suite, duration=None, warmup=None, points=None):
    """The suite as `run --duration S --warmup S --points PATTERN` changes it: the points whose id
    matches the glob PATTERN (fnmatch; several patterns comma-separated), with the load generator's
    duration and warm-up replaced. SuiteError with one line if no point matches, or if a point that
    runs a message count (no duration) would get one."""
    chosen = list(suite.points)
    if points is not None:
        patterns = [p.strip() for p in points.split(",") if p.strip()]
        chosen = [point for point in chosen if any(fnmatch.fnmatchcase(point.id, p) for p in patterns)]
        if not chosen:
            raise SuiteError(f"--points {points}: no point of suite {suite.name} matches (its points: "
                             f"{', '.join(p.id for p in suite.points)})")
    timed = {name: value for name, value in (("duration", duration), ("warmup", warmup)) if value is not None}
    if timed:
        counted = [point.id for point in chosen if "messages" in point.loadgen_args]
        if counted:
            raise SuiteError(f"--duration/--warmup do not apply to points that run a message count: "
                             f"{', '.join(counted)} (choose others with --points)")
        chosen = [dataclasses.replace(point, loadgen_args={**point.loadgen_args, **timed}) for point in chosen]
    return dataclasses.replace(suite, points=chosen)


def load_suite(name_or_path, known_servers, default_servers=None):
    """Reads and validates a suite; raises SuiteError with one line. A suite
    that names no servers gets default_servers (default: known_servers)."""
    path = suite_path(name_or_path)
    if not path.is_file():
        known = ", ".join(suite_names())
        raise SuiteError(f"no suite {name_or_path!r} ({path} does not exist); shipped suites: {known}")
    text = path.read_text(encoding="utf-8")
    return parse_suite(text, path, known_servers, default_servers)


def parse_suite(text, path, known_servers, default_servers=None):
    where = display_path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{where}: not valid TOML: {error}") from None
    try:
        return build_suite(data, text, path, list(known_servers), list(default_servers or known_servers))
    except SuiteError as error:
        raise SuiteError(f"{where}: {error}") from None


def display_path(path):
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        return str(path)


def build_suite(data, text, path, known_servers, default_servers):
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise SuiteError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(SUITE_KEYS))})")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise SuiteError("'description' is required (a non-empty string)")
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not ID_PATTERN.match(name):
        raise SuiteError(f"'name' must be a word of letters, digits, '.', '_' or '-', not {name!r}")
    repetitions = check_repetitions(data)
    servers = check_servers(data.get("servers", default_servers), "'servers'", known_servers)
    timeouts = check_timeouts(data.get("timeouts", {}))
    max_connections = check_max_connections(data.get("max_connections", {}), known_servers)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SuiteError("[defaults] must be a table of loadgen options")
    for option, value in defaults.items():
        check_option(option, value, "[defaults]")
    raw_points = data.get("point")
    if not isinstance(raw_points, list) or not raw_points:
        raise SuiteError("no points: add at least one [[point]] table")
    points = []
    for index, raw in enumerate(raw_points):
        points.extend(expand_point(raw, index, defaults, known_servers))
    check_unique_ids(points)
    return Suite(name=name, description=description.strip(), path=Path(path), text=text, repetitions=repetitions,
                 servers=servers, points=points, timeouts=timeouts, max_connections=max_connections)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def check_repetitions(data):
    """`reps = N` (a fixed count) or a [repetitions] table (adaptive); 3 fixed without either."""
    if "reps" in data and "repetitions" in data:
        raise SuiteError("give 'reps' (a fixed count) or [repetitions] (adaptive), not both")
    if "repetitions" not in data:
        reps = data.get("reps", 3)
        if not is_int(reps) or not 1 <= reps <= 1000:
            raise SuiteError(f"'reps' must be a whole number from 1 to 1000, not {reps!r}")
        return Repetitions.fixed(reps)
    table = data["repetitions"]
    if not isinstance(table, dict):
        raise SuiteError("[repetitions] must be a table (min, max, target, budget_s)")
    unknown = sorted(set(table) - set(REPETITION_KEYS))
    missing = [key for key in REPETITION_KEYS if key not in table]
    if unknown or missing:
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
        raise SuiteError(f"[repetitions]: {problem} (it takes {', '.join(REPETITION_KEYS)})")
    low, high, target, budget = (table[key] for key in REPETITION_KEYS)
    if not is_int(low) or not MIN_ADAPTIVE_REPS <= low <= 1000:
        raise SuiteError(f"[repetitions] min must be a whole number from {MIN_ADAPTIVE_REPS} to 1000 (6 gives the "
                         f"first 95% interval of a median), not {low!r}")
    if not is_int(high) or not low <= high <= 1000:
        raise SuiteError(f"[repetitions] max must be a whole number from min ({low}) to 1000, not {high!r}")
    if not is_number(target) or not 0 < target < 1:
        raise SuiteError(f"[repetitions] target must be a relative half-width in (0, 1), e.g. 0.05, not {target!r}")
    if not is_number(budget) or not 0 < budget <= 7 * 86400:
        raise SuiteError(f"[repetitions] budget_s must be a number of seconds in (0, 604800], not {budget!r}")
    return Repetitions(low, high, float(target), float(budget))


def check_servers(value, what, known_servers):
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise SuiteError(f"{what} must be a non-empty list of server names")
    unknown = [s for s in value if s not in known_servers]
    if unknown:
        raise SuiteError(f"{what}: unknown server(s) {', '.join(unknown)} (known: {', '.join(known_servers)})")
    if len(set(value)) != len(value):
        raise SuiteError(f"{what}: a server is listed twice")
    return list(value)


def check_timeouts(value):
    if not isinstance(value, dict):
        raise SuiteError("[timeouts] must be a table")
    known = Timeouts().to_dict()
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise SuiteError(f"[timeouts]: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    for key, seconds in value.items():
        if not is_number(seconds) or not 0 < seconds <= 3600:
            raise SuiteError(f"[timeouts] {key} must be a number of seconds in (0, 3600], not {seconds!r}")
    return Timeouts(**{key: float(seconds) for key, seconds in value.items()})


def check_max_connections(value, known_servers):
    if not isinstance(value, dict):
        raise SuiteError("[max_connections] must be a table of server = limit")
    for server, limit in value.items():
        if server not in known_servers:
            raise SuiteError(f"[max_connections]: unknown server {server} (known: {', '.join(known_servers)})")
        if not is_int(limit) or limit < 1:
            raise SuiteError(f"[max_connections] {server} must be a whole number >= 1, not {limit!r}")
    return dict(value)


def check_option(option, value, where):
    spec = LOADGEN_OPTIONS.get(option)
    if spec is None:
        raise SuiteError(f"{where}: unknown option {option!r} (loadgen options: {', '.join(LOADGEN_OPTIONS)})")
    if spec.kind is int and not is_int(value):
        raise SuiteError(f"{where}: {option} must be a whole number, not {value!r}")
    if spec.kind is float and not is_number(value):
        raise SuiteError(f"{where}: {option} must be a number, not {value!r}")
    if not spec.low <= value <= spec.high:
        raise SuiteError(f"{where}: {option} = {value!r} is out of range [{spec.low:g}, {spec.high:g}]")


def format_value(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_point(raw, index, defaults, known_servers):
    """One [[point]] table into one point, or one per value of its sweep."""
    if not isinstance(raw, dict):
        raise SuiteError(f"point #{index + 1} must be a table")
    label = f"point {raw['id']!r}" if isinstance(raw.get("id"), str) else f"point #{index + 1}"
    point_id = raw.get("id")
    if not isinstance(point_id, str) or not point_id:
        raise SuiteError(f"{label}: 'id' is required (a string)")
    workload = raw.get("workload")
    if workload not in WORKLOADS:
        raise SuiteError(f"{label}: unknown workload {workload!r} (workloads: {', '.join(WORKLOADS)})")
    options = {key: value for key, value in raw.items() if key not in POINT_KEYS}
    sweeps = [key for key, value in options.items() if isinstance(value, list)]
    if len(sweeps) > 1:
        raise SuiteError(f"{label}: a point sweeps one option at a time; found lists for {', '.join(sweeps)}")
    for option, value in options.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise SuiteError(f"{label}: {option} is an empty list")
        for each in values:
            check_option(option, each, label)
        if option in LOADGEN_OPTIONS and workload not in LOADGEN_OPTIONS[option].workloads:
            raise SuiteError(f"{label}: {option} does not apply to workload {workload} "
                             f"(only {', '.join(LOADGEN_OPTIONS[option].workloads)})")
    common = point_settings(raw, label, known_servers)
    return under_placements(expand_sweep(raw, point_id, workload, defaults, options, sweeps, common, label),
                            common["placements"])


def under_placements(points, placements):
    """Each point under each placement the suite names for it: one point a
    mode, its id and sweep suffixed with the mode (so each is a cell, and a
    sweep's chart is drawn per placement). None: the point as it is."""
    if placements is None:
        return points
    if isinstance(placements, str):
        return [dataclasses.replace(point, placement=placements) for point in points]
    return [dataclasses.replace(point, id=f"{point.id}-{mode}", placement=mode,
                                sweep={**point.sweep, "name": f"{point.sweep['name']}-{mode}"} if point.sweep
                                else None)
            for point in points for mode in placements]


def expand_sweep(raw, point_id, workload, defaults, options, sweeps, common, label):
    if not sweeps:
        if "{" in point_id or "}" in point_id:
            raise SuiteError(f"{label}: only a sweep's id may hold a {{parameter}}")
        return [make_point(point_id, workload, defaults, options, common, None, label)]
    param = sweeps[0]
    values = options[param]
    if len(set(values)) != len(values):
        raise SuiteError(f"{label}: {param} lists a value twice")
    sweep_name = raw.get("sweep", f"{workload}-{param}")
    if not isinstance(sweep_name, str) or not ID_PATTERN.match(sweep_name):
        raise SuiteError(f"{label}: 'sweep' must be a name of letters, digits, '.', '_' or '-'")
    placeholder = "{" + param + "}"
    points = []
    for value in values:
        text = format_value(value)
        expanded = point_id.replace(placeholder, text) if placeholder in point_id else f"{point_id}-{text}"
        sweep = {"name": sweep_name, "param": param, "value": value}
        points.append(make_point(expanded, workload, defaults, {**options, param: value}, common, sweep, label))
    return points


def point_settings(raw, label, known_servers):
    servers = raw.get("servers")
    if servers is not None:
        servers = tuple(check_servers(servers, f"{label}: 'servers'", known_servers))
    server_args = raw.get("server_args", [])
    if not isinstance(server_args, list) or not all(isinstance(a, str) for a in server_args):
        raise SuiteError(f"{label}: 'server_args' must be a list of strings")
    if "--port" in server_args:
        raise SuiteError(f"{label}: 'server_args' must not set --port (the harness uses port 0)")
    timeout = raw.get("timeout")
    if timeout is not None and (not is_number(timeout) or not 0 < timeout <= 86400):
        raise SuiteError(f"{label}: 'timeout' must be a number of seconds in (0, 86400], not {timeout!r}")
    return {"servers": servers, "server_args": tuple(server_args),
            "timeout": float(timeout) if timeout is not None else None,
            "placements": check_placements(raw.get("placement"), label)}


def check_placements(value, label):
    """A point's `placement`: one mode, a list of distinct modes, or None."""
    modes = [value] if isinstance(value, str) else value
    if value is None:
        return None
    if (not isinstance(modes, list) or not modes or len(set(modes)) != len(modes)
            or not all(mode in PLACEMENT_MODES for mode in modes)):
        raise SuiteError(f"{label}: 'placement' must be one of {', '.join(PLACEMENT_MODES)} or a list of "
                         f"distinct ones, not {value!r}")
    return value


def make_point(point_id, workload, defaults, options, common, sweep, label):
    if not ID_PATTERN.match(point_id):
        raise SuiteError(f"{label}: id {point_id!r} must be letters, digits, '.', '_' or '-' "
                         "(it names a folder)")
    applicable = {key: value for key, value in defaults.items() if workload in LOADGEN_OPTIONS[key].workloads}
    if "messages" in options:  # a message-count run excludes the default duration/warm-up
        applicable.pop("duration", None)
        applicable.pop("warmup", None)
    args = {**applicable, **options}
    check_combination(args, workload, common["timeout"], f"point {point_id!r}")
    return Point(id=point_id, workload=workload, loadgen_args=args, server_args=common["server_args"],
                 servers=common["servers"], sweep=sweep, timeout=common["timeout"])


def check_combination(args, workload, timeout, label):
    """What the load generator would refuse, and what the harness cannot time."""
    if "messages" in args and ("duration" in args or "warmup" in args):
        raise SuiteError(f"{label}: messages excludes duration and warmup")
    if "messages" not in args and "duration" not in args:
        raise SuiteError(f"{label}: needs a duration (in the point or in [defaults]) or messages")
    if "messages" in args and timeout is None:
        raise SuiteError(f"{label}: a messages point needs a 'timeout' (its length is unknown in advance)")
    if workload == "rate" and "rate" not in args:
        raise SuiteError(f"{label}: workload rate needs a rate (messages/s in total)")
    limit_name = "concurrency" if workload == "churn" else "connections"
    threads = args.get("threads", 1)
    if threads > args.get(limit_name, LOADGEN_DEFAULTS[limit_name]):
        raise SuiteError(f"{label}: threads ({threads}) must not exceed {limit_name}")


def check_unique_ids(points):
    seen = set()
    for point in points:
        if point.id in seen:
            raise SuiteError(f"point {point.id!r}: duplicate id (ids name the result folders)")
        seen.add(point.id)

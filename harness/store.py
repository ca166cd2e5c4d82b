"""A run folder (harness/README.md, "A run folder"): the one place that knows
its layout and schemas, writes it and reads it back.

Writing: every file goes through write_json_atomic() (a temporary file next
to the target, fsynced, renamed over it), so a reader or an interrupted run
sees the old file or the new one, never half of it. new_record() builds a
record with every field of the schema (RECORD_FIELDS), so no writer can
forget or misspell one.

Reading: load_run() checks that the folder is a run (a manifest with the run
schema) and reads every record under points/. It never gives up on the run
because of one bad record: a record file that cannot be read or parsed (a
disk filled up, a hand edit) becomes a "failed" record named after its file,
so the report lists it instead of the whole analysis stopping. Temporary
files left by an interrupted atomic write (anything not named
<server>.<variant>.r<rep>.json) are ignored."""
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

RUN_SCHEMA = "winsock-bench/run/1"
RECORD_SCHEMA = "winsock-bench/point/1"
RECORD_NAME = re.compile(r"^(?P<server>[^.]+)\.(?P<variant>[^.]+)\.r(?P<rep>\d+)\.json$")
MANIFEST_NAME = "manifest.json"
# What a record says about its point (the manifest's point has more: servers, timeout).
RECORD_POINT_KEYS = ("id", "workload", "loadgen_args", "server_args", "sweep")
# Every field of a record after its schema, point, server, variant and rep, in
# the order written; harness/README.md ("A record") says what each means.
# Fields added later are null when unknown and absent from older records.
RECORD_FIELDS = ("status", "failure", "started_at", "elapsed_s", "loadgen", "loadgen_exit", "loadgen_argv",
                 "server_ready", "server_stats", "server_stopped_by", "placement", "wineserver_cpu_s", "machine",
                 "loadgen_autoscale", "loadgen_stderr", "server_stderr")


# --- writing -------------------------------------------------------------------

def record_path(run_dir, item):
    """Where the record of a plan item ({"point", "server", "variant", "rep"}) lives."""
    return Path(run_dir) / "points" / item["point"] / f"{item['server']}.{item['variant']}.r{item['rep']}.json"


def new_record(item, point, **fields):
    """A record of plan item `item` on `point` (its manifest form); every field
    of RECORD_FIELDS is present, null unless given."""
    unknown = sorted(set(fields) - set(RECORD_FIELDS))
    if unknown:
        raise TypeError(f"not record fields: {', '.join(unknown)}")
    return {"schema": RECORD_SCHEMA, "point": {key: point.get(key) for key in RECORD_POINT_KEYS},
            "server": item["server"], "variant": item["variant"], "rep": item["rep"],
            **{name: fields.get(name) for name in RECORD_FIELDS}}


# Every field of a manifest after its schema, in the order written; see
# harness/README.md ("manifest.json").
MANIFEST_FIELDS = ("suite", "suite_file", "suite_text", "description", "seed", "reps", "repetitions", "servers",
                   "variants", "points", "plan", "skipped", "timeouts", "max_connections", "platform", "placement", "wait_idle_s",
                   "loadgen", "topology", "started_at", "finished_at", "resumed_at", "overrides")


def new_manifest(**fields):
    """A manifest with every field of MANIFEST_FIELDS, null unless given."""
    unknown = sorted(set(fields) - set(MANIFEST_FIELDS))
    if unknown:
        raise TypeError(f"not manifest fields: {', '.join(unknown)}")
    return {"schema": RUN_SCHEMA, **{name: fields.get(name) for name in MANIFEST_FIELDS}}


def write_record(run_dir, item, record):
    write_json_atomic(record_path(run_dir, item), record)


def write_manifest(run_dir, manifest):
    write_json_atomic(Path(run_dir) / MANIFEST_NAME, manifest)


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
    write_text_atomic(path, readable_json(data) + "\n")


def write_text_atomic(path, text):
    """Writes a temporary file next to path and renames it over path: a reader
    (or an interrupted run) sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError:
        # A full disk: the half-written temporary must not take what room is left.
        temporary.unlink(missing_ok=True)
        raise


# --- reading -------------------------------------------------------------------

def placement_of(manifest):
    """Where a run placed its processes (harness.run.placement's manifest
    form): its "placement", or for a run made before placement was recorded,
    what its "pin" said (server and load generator pinned, Wine's processes
    free; or nothing pinned). None for a run on other hosts made before the
    server host was placed (with `host` since: harness.run.remote_placement)."""
    if manifest.get("placement"):
        return manifest["placement"]
    if manifest.get("topology"):
        return None
    pin = manifest.get("pin")
    if pin:
        return {"mode": "pinned", "server_cpus": pin.get("server_cpus"), "wineserver_cpus": None,
                "loadgen_cpus": pin.get("loadgen_cpus")}
    return {"mode": "free", "server_cpus": None, "wineserver_cpus": None, "loadgen_cpus": None}


@dataclass
class Record:
    point_id: str
    workload: str
    loadgen_args: dict
    server_args: list
    sweep: dict | None
    server: str
    variant: str
    rep: int
    status: str  # "ok" | "failed" | "unsupported" (the model cannot run on this platform)
    failure: str | None
    loadgen: dict | None
    server_ready: dict | None
    server_stats: dict | None
    path: Path
    wineserver_cpu_s: float | None = None   # None: a native server, or not measured
    machine: dict | None = None             # the machine's other CPU use etc. during the item
    loadgen_autoscale: dict | None = None   # None unless the load generator was re-run with more threads
    placement: dict | None = None           # where its processes were allowed to run, read back (harness.run.placement)

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def unsupported(self):
        return self.status == "unsupported"

    @property
    def failed(self):
        """A failure, not a model this platform cannot run (that is unsupported)."""
        return self.status == "failed"


@dataclass
class Run:
    path: Path
    manifest: dict
    records: list[Record]

    def points(self):
        """The manifest's points by id, in the manifest's order."""
        return {p["id"]: p for p in self.manifest.get("points", []) if isinstance(p, dict) and "id" in p}


def read_manifest(folder):
    """A run folder's manifest, checked; ValueError with one line otherwise.
    The runner's --resume reads it through here too."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ValueError(f"{folder} is not a run folder (no {MANIFEST_NAME})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{manifest_path}: unreadable ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != RUN_SCHEMA:
        raise ValueError(f"{manifest_path}: not a {RUN_SCHEMA} manifest")
    return manifest


def _unreadable_record(path, point, match, reason):
    return Record(point_id=path.parent.name, workload=point.get("workload", "unknown"),
                  loadgen_args=dict(point.get("loadgen_args", {})), server_args=list(point.get("server_args", [])),
                  sweep=point.get("sweep"), server=match["server"], variant=match["variant"], rep=int(match["rep"]),
                  status="failed", failure=f"unreadable record {path.parent.name}/{path.name}: {reason}", loadgen=None, server_ready=None,
                  server_stats=None, path=path)


# The fields a reader takes apart: a hand edit that made one a string or a
# list would otherwise surface as a traceback somewhere in the analysis.
OBJECT_FIELDS = ("point", "loadgen", "server_ready", "server_stats", "machine", "loadgen_autoscale")


def read_record_document(path):
    """A record file's JSON document, or (None, reason) when it is not a
    readable record: (document, None) otherwise."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, str(error)
    if not isinstance(document, dict) or document.get("schema") != RECORD_SCHEMA:
        return None, f"not a {RECORD_SCHEMA} record"
    for name in OBJECT_FIELDS:
        if not isinstance(document.get(name), (dict, type(None))):
            return None, f"its {name} is not an object"
    if not isinstance(document.get("rep", 0), int):
        return None, "its rep is not a number"
    return document, None


def _read_record(path, manifest_points):
    """One record file as a Record, or None if the file is not a record's name."""
    match = RECORD_NAME.match(path.name)
    if not match:
        return None
    point = manifest_points.get(path.parent.name, {})
    document, problem = read_record_document(path)
    if document is None:
        return _unreadable_record(path, point, match, problem)
    recorded_point = document.get("point") or {}
    point_id = recorded_point.get("id", path.parent.name)
    point = {**manifest_points.get(point_id, {}), **recorded_point}
    status = document.get("status") if document.get("status") in ("ok", "unsupported") else "failed"
    failure = document.get("failure")
    if status == "failed" and not failure:
        failure = f"status {document.get('status')!r}"
    return Record(point_id=point_id, workload=point.get("workload", "unknown"),
                  loadgen_args=dict(point.get("loadgen_args") or {}), server_args=list(point.get("server_args") or []),
                  sweep=point.get("sweep"), server=document.get("server", match["server"]),
                  variant=document.get("variant", match["variant"]), rep=int(document.get("rep", match["rep"])),
                  status=status, failure=failure, loadgen=document.get("loadgen"),
                  server_ready=document.get("server_ready"), server_stats=document.get("server_stats"), path=path,
                  wineserver_cpu_s=document.get("wineserver_cpu_s"), machine=document.get("machine"),
                  loadgen_autoscale=document.get("loadgen_autoscale"), placement=document.get("placement"))


def _record_order(manifest):
    """Sort key: the manifest's point order, then its server order, variant, repetition."""
    point_rank = {p.get("id"): i for i, p in enumerate(manifest.get("points", [])) if isinstance(p, dict)}
    server_rank = {s: i for i, s in enumerate(manifest.get("servers", []))}
    return lambda r: (point_rank.get(r.point_id, len(point_rank)), r.point_id,
                      server_rank.get(r.server, len(server_rank)), r.server, r.variant, r.rep)


def load_run(path) -> Run:
    """The run in folder `path`; ValueError with a one-line reason if it is not a run."""
    folder = Path(path)
    manifest = read_manifest(folder)
    manifest_points = {p["id"]: p for p in manifest.get("points", []) if isinstance(p, dict) and "id" in p}
    records = []
    points_folder = folder / "points"
    if points_folder.is_dir():
        for record_path in sorted(points_folder.glob("*/*.json")):
            record = _read_record(record_path, manifest_points)
            if record is not None:
                records.append(record)
    records.sort(key=_record_order(manifest))
    return Run(path=folder, manifest=manifest, records=records)

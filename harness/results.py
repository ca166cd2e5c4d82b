"""Loading a run folder (harness/README.md, "A run folder") back into records.

load_run() checks that the folder is a run (a manifest with the run schema) and
reads every record under points/. It never gives up on the run because of one
bad record: a record file that cannot be read or parsed (a disk filled up, a
hand edit) becomes a "failed" record named after its file, so the report lists
it instead of the whole analysis stopping. Temporary files left by an
interrupted atomic write (anything not named <server>.<variant>.r<rep>.json)
are ignored."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

RUN_SCHEMA = "winsock-bench/run/1"
RECORD_SCHEMA = "winsock-bench/point/1"
RECORD_NAME = re.compile(r"^(?P<server>[^.]+)\.(?P<variant>[^.]+)\.r(?P<rep>\d+)\.json$")


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
    status: str  # "ok" | "failed"
    failure: str | None
    loadgen: dict | None
    server_ready: dict | None
    server_stats: dict | None
    path: Path

    @property
    def ok(self):
        return self.status == "ok"


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
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"{folder} is not a run folder (no manifest.json)")
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
                  status="failed", failure=f"unreadable record: {reason}", loadgen=None, server_ready=None,
                  server_stats=None, path=path)


def _read_record(path, manifest_points):
    """One record file as a Record, or None if the file is not a record's name."""
    match = RECORD_NAME.match(path.name)
    if not match:
        return None
    point = manifest_points.get(path.parent.name, {})
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return _unreadable_record(path, point, match, str(error))
    if not isinstance(document, dict) or document.get("schema") != RECORD_SCHEMA:
        return _unreadable_record(path, point, match, f"not a {RECORD_SCHEMA} record")
    recorded_point = document.get("point") or {}
    point_id = recorded_point.get("id", path.parent.name)
    point = {**manifest_points.get(point_id, {}), **recorded_point}
    status = "ok" if document.get("status") == "ok" else "failed"
    failure = document.get("failure")
    if status == "failed" and not failure:
        failure = f"status {document.get('status')!r}"
    return Record(point_id=point_id, workload=point.get("workload", "unknown"),
                  loadgen_args=dict(point.get("loadgen_args") or {}), server_args=list(point.get("server_args") or []),
                  sweep=point.get("sweep"), server=document.get("server", match["server"]),
                  variant=document.get("variant", match["variant"]), rep=int(document.get("rep", match["rep"])),
                  status=status, failure=failure, loadgen=document.get("loadgen"),
                  server_ready=document.get("server_ready"), server_stats=document.get("server_stats"), path=path)


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

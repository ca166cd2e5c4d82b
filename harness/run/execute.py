"""`run` and `run --resume`: plans a suite, records the machine in the
manifest, and runs every plan item in turn, writing each record as it
completes. A server that crashes or hangs fails its item only; the run goes
on and says at the end what failed."""
import sys
import time
from pathlib import Path

from harness import loadgen as loadgen_module
from harness import store
from harness.run import noise
from harness.run.errors import RunError
from harness.run.facts import pin_cpus, platform_facts
from harness.run.item import ItemSettings, now_iso, run_item
from harness.run.plan import item_estimate, make_plan, missing_items, plan_label
from harness.run.progress import Progress, format_duration
from harness.run.registry import BuiltServers, Variant, check_commands, current_variant, relative
from harness.run.wine import run_prefix, start_wineserver
from harness.servers import ROOT
from harness.suites import Point, Timeouts

DEFAULT_SEED = 1
RUNS_DIR = ROOT / "results" / "runs"


def default_out(suite_name):
    return RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{suite_name}"


def prepare_out(out):
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out} already exists and is not empty; pick another --out, or --resume it")
    out.mkdir(parents=True, exist_ok=True)
    return out


def new_run(suite, servers, out=None, reps=None, seed=DEFAULT_SEED, pin=False, variants=None,
            registry=None, stream=None, wait_idle_s=None):
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
    check_commands(plan, {v.name: v for v in variants}, registry)
    pin_info = pin_cpus() if pin else None
    with_wine = any(registry.needs_wine(server) for server in servers)
    out = prepare_out(out or default_out(suite.name))
    manifest = store.new_manifest(
        suite=suite.name, suite_file=relative(suite.path), suite_text=suite.text, description=suite.description,
        seed=seed, reps=reps, servers=list(servers), variants={v.name: v.to_manifest() for v in variants},
        points=[point.to_manifest() for point in suite.points if any(point is p for p, _ in cells)],
        plan=plan, skipped=skipped, timeouts=suite.timeouts.to_dict(), max_connections=dict(suite.max_connections),
        platform=platform_facts(with_wine), pin=pin_info, wait_idle_s=wait_idle_s, loadgen={"path": relative(loadgen)},
        started_at=now_iso(), finished_at=None, resumed_at=[])
    store.write_manifest(out, manifest)
    stream = stream or sys.stderr
    points = {point.id: point for point, _ in cells}
    estimate = sum(item_estimate(points, suite.timeouts, registry, item) for item in plan)
    variants_text = f" x {len(variants)} variants" if len(variants) > 1 else ""
    skipped_text = f" ({len(skipped)} skipped: connection limits)" if skipped else ""
    stream.write(f"{suite.name}: {len(plan)} runs = {len(cells)} (point, server) cells{variants_text} x "
                 f"{reps} reps{skipped_text}, about {format_duration(estimate)}; results in {out}\n")
    return execute(out, manifest, plan, registry, variants, stream), out


def load_manifest(run_dir):
    try:
        return store.read_manifest(run_dir)
    except ValueError as error:
        raise RunError(str(error)) from None


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
    store.write_manifest(run_dir, manifest)
    return execute(run_dir, manifest, missing, registry, variants, stream), run_dir


def execute(run_dir, manifest, items, registry, variants, stream):
    """Runs the items, writing each record as it completes; then finishes the
    manifest and prints the summary."""
    points = {data["id"]: Point.from_manifest(data) for data in manifest["points"]}
    timeouts = Timeouts(**manifest.get("timeouts", {}))
    by_name = {v.name: v for v in variants}
    with_wine = any(registry.needs_wine(item["server"]) for item in items)
    if with_wine:
        start_wineserver()
    settings = ItemSettings(timeouts=timeouts, loadgen=loadgen_module.find_loadgen() if items else None,
                            pin=manifest.get("pin"), wine_prefix=run_prefix() if with_wine else None)
    progress = Progress([item_estimate(points, timeouts, registry, item) for item in items], stream)
    show_variant = len(by_name) > 1
    machine = None  # the last item's machine figures
    try:
        for index, item in enumerate(items):
            waited = wait_if_busy(manifest.get("wait_idle_s"), machine, settings, progress)
            progress.start(index, plan_label(item, show_variant))
            command = registry.command(item["server"], by_name[item["variant"]])
            record = run_item(item, points[item["point"]], command, registry.needs_wine(item["server"]), settings,
                              waited)
            store.write_record(run_dir, item, record)
            machine = record["machine"]
            progress.finish(index, record["elapsed_s"], record["failure"])
    except KeyboardInterrupt:
        progress.close()
        done = len(manifest["plan"]) - len(missing_items(run_dir, manifest["plan"]))
        stream.write(f"interrupted: {done} of {len(manifest['plan'])} runs recorded; finish with\n"
                     f"  python3 -m harness run --resume {run_dir}\n")
        return 130
    progress.close()
    manifest["finished_at"] = now_iso()
    store.write_manifest(run_dir, manifest)
    return summarize(run_dir, manifest, stream)


def wait_if_busy(limit_s, last_machine, settings, progress):
    """--wait-idle: before an item, unless the item just before it found the
    machine quiet (its figures are the freshest look there is), wait up to
    limit_s for a quiet machine. Returns the seconds waited, or None without
    --wait-idle."""
    if not limit_s:
        return None
    if last_machine is not None and not last_machine["busy"]:
        return 0.0

    def measure():
        return noise.measure_other_cores(settings.wineserver())
    return round(noise.wait_for_quiet(limit_s, measure, progress.note), 1)


def summarize(run_dir, manifest, stream):
    """Prints what failed (from the records on disk, so a resumed run counts
    its earlier part too); 1 if anything failed."""
    failures = []
    for item in manifest["plan"]:
        document, _ = store.read_record_document(store.record_path(run_dir, item))
        if document is None:
            failures.append((item, "no readable record"))
        elif document.get("status") != "ok":
            failures.append((item, document.get("failure") or "failed"))
    plan, skipped = manifest["plan"], manifest.get("skipped", [])
    stream.write(f"{len(plan)} runs: {len(plan) - len(failures)} ok, {len(failures)} failed"
                 f"{f', {len(skipped)} skipped (connection limits)' if skipped else ''}\n")
    for item, failure in failures:
        stream.write(f"  FAILED {plan_label(item, len(manifest['variants']) > 1)}: {failure}\n")
    stream.write(f"results: {run_dir}\nnext: python3 -m harness report {run_dir}\n")
    stream.flush()
    return 1 if failures else 0

"""`run` and `run --resume`: plans a suite, records the machine in the
manifest, runs the plan item by item (each record written as it completes),
then, for a suite with adaptive repetitions, adds rounds of the cells that
have not settled (harness.run.rounds). A server that crashes or hangs fails
its item only; the run goes on and says at the end what failed."""
import sys
import time
from dataclasses import replace
from pathlib import Path

from harness import loadgen as loadgen_module
from harness import platforms, store
from harness.records import p99_us_of, throughput_of
from harness.run import autoscale, noise, orphans
from harness.run import placement as placement_module
from harness.run import remote_placement
from harness.run.errors import RunError
from harness.run.facts import platform_facts
from harness.run.item import ItemSettings, now_iso, run_item
from harness.run.plan import item_estimate, make_plan, missing_items, more_rounds, plan_label
from harness.run.progress import Progress, format_duration
from harness.run.registry import BuiltServers, Variant, check_commands, current_variant, relative, split_runnable
from harness.run.remote import RemoteServers, Topology
from harness.run import rounds
from harness.run.rounds import next_round
from harness.platforms.wine import run_prefix, start_wineserver
from harness.servers import ROOT
from harness.suites import Point, Repetitions, Timeouts

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


def new_run(suite, servers, out=None, reps=None, seed=DEFAULT_SEED, placement=None,
            variants=None, registry=None, stream=None, wait_idle_s=None, overrides=None, topology=None):
    """Plans a suite, writes the manifest, runs every item. `reps` fixes the
    number of repetitions (no adaptation); by default the suite's
    [repetitions] say. `placement`: a mode of harness.run.placement (None: the
    default), on the server host with a topology (harness.run.remote_placement).
    Returns the exit code (0 all ok, 1 some failed, 130
    interrupted) and the run folder. `overrides` (the command line's --duration, --warmup, --points,
    already applied to the suite) are recorded so that the run can be reproduced. topology: the
    servers and the load on other hosts (harness.run.remote), checked before anything starts."""
    if topology:
        registry = RemoteServers(topology)
        topology.check(servers)
    registry = registry or BuiltServers()
    variants = variants or [current_variant()]
    repetitions = Repetitions.fixed(reps) if reps else suite.repetitions
    loadgen = loadgen_module.find_loadgen()
    cells, skipped, runnable = runnable_cells(suite, servers, registry)
    if not cells:
        raise RunError(f"suite {suite.name}: nothing to run on {', '.join(servers)} "
                       f"(all points skipped: {', '.join(sorted({entry['reason'] for entry in skipped}))})")
    plan = make_plan(cells, [v.name for v in variants], repetitions.min, seed)
    check_commands(plan, {v.name: v for v in variants}, registry)
    if topology:
        placed = remote_placement.plan_remote(topology, placement)
    else:
        placed = placement_module.plan_placement(placement or placement_module.DEFAULT_MODE,
                                                 max(autoscale.point_threads(point) for point, _ in cells))
    with_wine = any(registry.needs_wine(server) for server in runnable)
    out = prepare_out(out or default_out(suite.name))
    topology_facts = topology.to_manifest() if topology else None
    manifest = store.new_manifest(
        suite=suite.name, suite_file=relative(suite.path), suite_text=suite.text, description=suite.description,
        seed=seed, reps=repetitions.min, repetitions={**repetitions.to_manifest(), "rounds": repetitions.min,
                                                       "stopped_by": None},
        servers=list(runnable), variants={v.name: v.to_manifest() for v in variants},
        points=[point.to_manifest() for point in suite.points if any(point is p for p, _ in cells)],
        plan=plan, skipped=skipped, timeouts=suite.timeouts.to_dict(),
        max_connections=suite.connection_limits(runnable),
        platform=remote_platform(topology_facts) if topology else platform_facts(with_wine, variants[-1].winsock_dir),
        placement=placed.to_manifest() if placed else None, wait_idle_s=wait_idle_s, loadgen={"path": relative(loadgen)}, topology=topology_facts,
        started_at=now_iso(), finished_at=None, resumed_at=[], overrides=overrides or None)
    write_first_manifest(out, manifest)
    stream = stream or sys.stderr
    stream.write(f"{plan_summary(suite, servers, repetitions, len(variants), registry)}; results in {out}\n")
    return execute(out, manifest, plan, registry, variants, stream, topology), out


def runnable_cells(suite, servers, registry):
    """(cells, skipped, servers) of a suite here: the servers the registry
    cannot start on this platform are left out, each of their cells recorded
    as skipped with the reason ("not on this platform"), as are the cells a
    connection limit leaves out."""
    servers, not_here = split_runnable(servers, registry)
    cells, skipped = suite.cells(servers)
    left_out = [{"point": point.id, "server": server, "reason": reason} for point in suite.points
                for server, reason in not_here.items() if point.servers is None or server in point.servers]
    return cells, left_out + skipped, servers


def remote_platform(topology_facts):
    """The platform of a run on other hosts: the server host's, as it reports itself."""
    server = topology_facts["server"]
    return {"os": server["os"], "cpu_model": server["cpu_model"], "cpu_count": server["cpu_count"],
            "host": server["name"], "host_platform": server["platform"], "wine": None,
            "clients": [client["name"] for client in topology_facts["clients"]]}


def write_first_manifest(run_dir, manifest):
    try:
        store.write_manifest(run_dir, manifest)
    except OSError as error:
        raise RunError(f"cannot write {Path(run_dir) / store.MANIFEST_NAME}: {error.strerror or error}") from None


def plan_summary(suite, servers, repetitions, variants=1, registry=None):
    """One line: the plan's size and how long it should take."""
    cells, skipped, servers = runnable_cells(suite, servers, registry or BuiltServers())
    cells = len(cells)
    variants_text = f" x {variants} variants" if variants > 1 else ""
    skipped_text = f" ({skipped_text_of(skipped)})" if skipped else ""
    first = suite.round_seconds(servers, variants) * repetitions.min
    text = (f"{suite.name}: {cells} (point, server) cells{variants_text} x {repetitions.min} reps = "
            f"{cells * variants * repetitions.min} runs{skipped_text}, about {format_duration(first)}")
    if repetitions.adaptive:
        most = suite.estimate_seconds(servers, variants=variants)
        text += (f"; then rounds of the cells that leave a pair {rounds.WORTH_RESOLVING:g}x apart unresolved (or, "
                 f"compared with no one, are not within +-{repetitions.target:.0%}) or have fewer than "
                 f"{repetitions.min} repetitions on a quiet machine, up to {repetitions.max} "
                 f"reps and a budget of {format_duration(repetitions.budget_s)}: at most about {format_duration(most)}")
    return text


def skipped_text_of(skipped):
    """"12 skipped: 6 not on this platform, 6 by connection limits"."""
    not_here = sum(entry["reason"] == platforms.NOT_HERE for entry in skipped)
    parts = [f"{not_here} {platforms.NOT_HERE}"] if not_here else []
    if len(skipped) > not_here:
        parts.append(f"{len(skipped) - not_here} by connection limits")
    return f"{len(skipped)} skipped: {', '.join(parts)}"


def load_manifest(run_dir):
    try:
        return store.read_manifest(run_dir)
    except ValueError as error:
        raise RunError(str(error)) from None


def resume_run(run_dir, registry=None, stream=None):
    """Runs the plan items of an interrupted run that have no record yet, in
    the plan's order, then goes on with its adaptive rounds. Returns (exit
    code, run folder)."""
    registry = registry or BuiltServers()
    stream = stream or sys.stderr
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    topology = Topology.from_manifest(manifest["topology"]) if manifest.get("topology") else None
    if topology:
        registry = RemoteServers(topology)
        topology.check(manifest["servers"])
    missing = missing_items(run_dir, manifest["plan"])
    stream.write(f"resuming {run_dir}: {len(missing)} of {len(manifest['plan'])} runs have no record\n")
    variants = [Variant.from_manifest(name, data) for name, data in manifest["variants"].items()]
    if missing or rounds_may_follow(manifest):
        check_commands(missing or manifest["plan"], {v.name: v for v in variants}, registry)
        loadgen_module.find_loadgen()
    manifest.setdefault("resumed_at", []).append(now_iso())
    write_first_manifest(run_dir, manifest)
    return execute(run_dir, manifest, missing, registry, variants, stream, topology), run_dir


def extend_run(run_dir, reps, registry=None, stream=None):
    """Gives a run of a fixed number of rounds `reps` rounds in all (more
    pairs for a measurement that turned out too short), then runs what has
    no record, as resume_run does. Returns (exit code, run folder)."""
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    if Repetitions.from_manifest(manifest.get("repetitions"), manifest["reps"]).adaptive:
        raise RunError(f"{run_dir} has adaptive rounds: only a run of a fixed number of rounds can be extended")
    if reps > manifest["reps"]:
        (stream or sys.stderr).write(f"extending {run_dir} from {manifest['reps']} to {reps} rounds\n")
        manifest["plan"] = manifest["plan"] + more_rounds(manifest["plan"], reps, manifest.get("seed"))
        manifest["reps"] = reps
        manifest["repetitions"] = {**(manifest.get("repetitions") or {}), **Repetitions.fixed(reps).to_manifest(),
                                   "rounds": reps}
        manifest.pop("finished_at", None)
        write_first_manifest(run_dir, manifest)
    return resume_run(run_dir, registry=registry, stream=stream)


def rounds_may_follow(manifest):
    """Whether an adaptive run has not yet decided that its rounds are over."""
    state = manifest.get("repetitions") or {}
    return bool(state.get("adaptive")) and not state.get("stopped_by")


def execute(run_dir, manifest, items, registry, variants, stream, topology=None):
    """Runs the items, then the adaptive rounds; finishes the manifest and
    prints the summary. Processes an earlier, killed harness left behind
    are killed first (harness.run.orphans), and every process this one starts
    is marked so that a later run can do the same for it."""
    orphans.kill_orphans(stream)
    run_dir = Path(run_dir)
    session = Session(run_dir, manifest, registry, variants, stream, topology)
    try:
        with orphans.marking_children():
            try:
                session.run_items(items)
                while session.plan_next_round():
                    session.run_items(session.round_items)
            finally:
                session.release_placement()
        manifest["finished_at"] = now_iso()
        write_or_stop(store.write_manifest, run_dir / store.MANIFEST_NAME, run_dir, manifest)
    except KeyboardInterrupt:
        session.progress.close()
        stream.write(f"interrupted: {recorded_count(run_dir, manifest)}; finish with\n"
                     f"  python3 -m harness run --resume {run_dir}\n")
        return 130
    except RecordNotWritten as error:
        session.progress.close()
        stream.write(f"stopped: {error}\n{recorded_count(run_dir, manifest)}; once there is room, finish with\n"
                     f"  python3 -m harness run --resume {run_dir}\n")
        return 1
    return summarize(run_dir, manifest, stream)


def recorded_count(run_dir, manifest):
    done = len(manifest["plan"]) - len(missing_items(run_dir, manifest["plan"]))
    return f"{done} of {len(manifest['plan'])} runs recorded"


class RecordNotWritten(Exception):
    """A record (or the manifest) could not be written: the disk is full, or
    the folder went away. The run stops; what is on disk stays valid."""


def write_or_stop(write, path, *args):
    try:
        write(*args)
    except OSError as error:
        raise RecordNotWritten(f"cannot write {path}: {error.strerror or error}") from None


class Session:
    """One sitting of a run (the first, or a --resume): what it needs to run
    items, and the time the run's items have taken so far (the budget's
    measure, summed over the records so that a resumed run keeps counting)."""

    def __init__(self, run_dir, manifest, registry, variants, stream, topology=None):
        self.run_dir, self.manifest, self.registry, self.stream = run_dir, manifest, registry, stream
        self.topology = topology
        self.points = {data["id"]: Point.from_manifest(data) for data in manifest["points"]}
        self.timeouts = Timeouts(**manifest.get("timeouts", {}))
        self.variants = {v.name: v for v in variants}
        self.repetitions = Repetitions.from_manifest(manifest.get("repetitions"), manifest["reps"])
        self.settings = None  # made before the first item: it may start Wine
        self.placements = {}  # mode -> Placement, of the points that name their own
        self.unsupported = {}  # server -> why its model cannot run here, from its first start
        self.progress = Progress([], stream)
        self.round_items = []
        recorded = self.recorded()
        self.spent_s = sum(autoscale.item_seconds(record) for record in recorded)
        self.last_machine = None  # the last item's machine figures
        self.cell_threads = {}  # load generator threads each cell starts at
        for record in recorded:
            self.raise_threads(record)

    def recorded(self):
        documents = (store.read_record_document(store.record_path(self.run_dir, item))[0]
                     for item in self.manifest["plan"])
        return [document for document in documents if document is not None]

    def raise_threads(self, record):
        """Later repetitions of a record's cell start at the threads it ended with."""
        cell = (record["point"]["id"], record["server"], record["variant"])
        used = autoscale.threads_used(record)
        if used:
            self.cell_threads[cell] = max(used, self.cell_threads.get(cell, 1))

    def run_item(self, item, settings, waited):
        """One item, re-run with more load generator threads while it saturates them."""
        point = self.points[item["point"]]
        command = self.registry.command(item["server"], self.variants[item["variant"]])
        needs_wine = self.registry.needs_wine(item["server"])
        start = max(autoscale.point_threads(point),
                    self.cell_threads.get((item["point"], item["server"], item["variant"]), 1))

        settings = self.placed_for(point, settings)

        def run_once(threads):
            return run_item(item, point, command, needs_wine, settings, waited, threads)
        record = autoscale.run_scaled(run_once, start, autoscale.thread_cap(point, settings.placement))
        scaled = record["loadgen_autoscale"]
        if scaled and len(scaled["attempts"]) > 1:
            self.progress.note(f"  loadgen saturated its threads: re-ran with {scaled['threads']}"
                               f"{', still saturated' if scaled['saturated'] else ''}")
        return record

    def item_settings(self):
        if self.settings is None:
            with_wine = any(self.registry.needs_wine(server) for server in self.manifest["servers"])
            if with_wine:
                start_wineserver()
            placed = self.manifest.get("placement")
            self.settings = ItemSettings(timeouts=self.timeouts, loadgen=loadgen_module.find_loadgen(),
                                         placement=placement_module.Placement.from_manifest(
                                             placed, platforms.current().usable_cpus()) if placed else None,
                                         wine_prefix=run_prefix() if with_wine else None,
                                         topology=self.topology)
        return self.settings

    def placed_for(self, point, settings):
        """The item settings of a point with a placement of its own (the
        placement suite's points), else the run's."""
        if not point.placement or settings.placement is None or point.placement == settings.placement.mode:
            return settings
        if settings.placement.not_placed:
            return settings  # a server host that cannot be placed: its records say why
        if point.placement not in self.placements:
            self.placements[point.placement] = self.plan_point_placement(point.placement, settings.placement)
        return replace(settings, placement=self.placements[point.placement])

    def plan_point_placement(self, mode, run_placement):
        """A point's own mode, on the CPUs the run's placement found: this
        machine's, or the server host's."""
        if run_placement.host:
            return remote_placement.plan_on_host(mode, self.topology.server, run_placement.all_cpus)
        return placement_module.plan_placement(mode, len(run_placement.loadgen_cpus or ()) or 1)

    def release_placement(self):
        """Wine's processes back on every CPU once the run is over: the
        prefix's wineserver outlives the run, and serves the tests too."""
        if self.settings is not None:
            placement_module.release_wine(self.settings.placement, self.settings.wine_prefix)

    def run_items(self, items):
        estimates = [item_estimate(self.points, self.timeouts, self.registry, item) for item in items]
        self.progress = Progress(estimates, self.stream)
        show_variant = len(self.variants) > 1
        for index, item in enumerate(items):
            if item["rep"] >= self.repetitions.min and self.budget_spent():
                self.stop_rounds("budget", items[index:])
                break
            if item["server"] in self.unsupported:
                self.skip_unsupported(item)
                self.progress.finish(index, 0.0)
                continue
            settings = self.item_settings()
            waited = wait_if_busy(self.manifest.get("wait_idle_s"), self.last_machine, settings, self.progress)
            cell = (item["point"], item["server"], item["variant"])
            self.progress.start(index, plan_label(item, show_variant), cell)
            record = self.run_item(item, settings, waited)
            write_or_stop(store.write_record, store.record_path(self.run_dir, item), self.run_dir, item, record)
            self.spent_s += autoscale.item_seconds(record)
            self.last_machine = record["machine"]
            self.raise_threads(record)
            if record["status"] == "unsupported":
                self.unsupported[item["server"]] = record["failure"]
                self.progress.note(f"  {item['server']} cannot run on this platform ({record['failure']}): "
                                   "its other runs are skipped")
            self.progress.finish(index, record["elapsed_s"], record["status"] == "failed" and record["failure"],
                                 cell, live_figures(record))
        self.progress.close()

    def skip_unsupported(self, item):
        """The record of an item whose server said at an earlier start that
        its model cannot run here: the same answer, without starting it again."""
        point = self.points[item["point"]]
        record = store.new_record(item, point.to_manifest(), status="unsupported",
                                  failure=self.unsupported[item["server"]], started_at=now_iso(), elapsed_s=0.0)
        write_or_stop(store.write_record, store.record_path(self.run_dir, item), self.run_dir, item, record)

    def write_manifest(self):
        write_or_stop(store.write_manifest, self.run_dir / store.MANIFEST_NAME, self.run_dir, self.manifest)

    def budget_spent(self):
        budget = self.repetitions.budget_s
        return budget is not None and self.spent_s >= budget

    def plan_next_round(self):
        """Adds the next adaptive round to the plan (and the manifest, so that
        --resume finds it); False when there is none to run."""
        if not rounds_may_follow(self.manifest):
            return False
        state = self.manifest["repetitions"]
        if self.budget_spent():
            return self.stop_rounds("budget")
        records = store.load_run(self.run_dir).records
        items, unsettled = next_round(self.manifest["plan"], records, self.repetitions, self.manifest["seed"],
                                      state["rounds"] + 1)
        if not items:
            return self.stop_rounds("settled" if not unsettled else "max")
        state["rounds"] += 1
        self.manifest["plan"].extend(items)
        self.write_manifest()
        self.round_items = items
        left = format_duration(self.repetitions.budget_s - self.spent_s)
        self.stream.write(f"round {state['rounds']}: {unsettled} cell(s) not settled (a pair "
                          f"{rounds.WORTH_RESOLVING:g}x apart or more still unresolved, fewer than "
                          f"{self.repetitions.min} repetitions on a quiet machine, or, for a cell compared with "
                          f"no one, not within +-{self.repetitions.target:.0%}), {len(items)} below "
                          f"{self.repetitions.max} reps; {left} of the budget left\n")
        return True

    def stop_rounds(self, reason, unrun=()):
        """No more rounds: records why, and drops planned items that will not
        run (the budget ran out) so that --resume does not run them either."""
        dropped = {item_key(item) for item in unrun if item["rep"] >= self.repetitions.min}
        self.manifest["plan"] = [item for item in self.manifest["plan"] if item_key(item) not in dropped]
        self.manifest["repetitions"]["stopped_by"] = reason
        self.write_manifest()
        if reason == "budget":
            self.progress.note(f"time budget of {format_duration(self.repetitions.budget_s)} spent: no more rounds")
        return False


def item_key(item):
    return item["point"], item["server"], item["variant"], item["rep"]


def live_figures(record):
    """(messages/s, p99 us) of an ok record, for the progress line; None otherwise."""
    loadgen = record.get("loadgen")
    if record.get("status") != "ok" or not isinstance(loadgen, dict):
        return None
    return throughput_of(loadgen), p99_us_of(loadgen)


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
    failures, unsupported = [], {}
    for item in manifest["plan"]:
        document, _ = store.read_record_document(store.record_path(run_dir, item))
        if document is None:
            failures.append((item, "no readable record"))
        elif document.get("status") == "unsupported":
            unsupported.setdefault(item["server"], []).append(document.get("failure") or "unsupported")
        elif document.get("status") != "ok":
            failures.append((item, document.get("failure") or "failed"))
    plan, skipped = manifest["plan"], manifest.get("skipped", [])
    unsupported_runs = sum(map(len, unsupported.values()))
    stream.write(f"{len(plan)} runs: {len(plan) - len(failures) - unsupported_runs} ok, {len(failures)} failed"
                 f"{f', {unsupported_runs} unsupported on this platform' if unsupported else ''}"
                 f"{f', {skipped_text_of(skipped)}' if skipped else ''}\n")
    for server, reasons in unsupported.items():
        stream.write(f"  UNSUPPORTED {server}: {reasons[0]}\n")
    for item, failure in failures:
        stream.write(f"  FAILED {plan_label(item, len(manifest['variants']) > 1)}: {failure}\n")
    stream.write(f"results: {run_dir}\nnext: python3 -m harness report {run_dir}\n")
    stream.flush()
    return 1 if failures else 0

"""One plan item: start the server, run the load generator against it, stop
the server, and say what happened as a record (harness.store's schema),
with the CPU the run's wineserver spent on it."""
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from harness import loadgen as loadgen_module
from harness import platforms, store
from harness.run import noise
from harness.run import placement as placement_module
from harness.platforms.wine import find_wineserver
from harness.servers import EchoServer, ServerError, ServerUnsupported
from harness.suites import Timeouts


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ItemSettings:
    """What every item of a run shares."""
    timeouts: Timeouts
    loadgen: Path
    placement: object = None          # harness.run.placement.Placement (on the server host, with a topology)
    wine_prefix: Path | None = None   # the run's prefix, when any of its servers runs under Wine
    topology: object = None           # harness.run.remote.Topology: servers and load on other hosts

    def wineserver(self):
        """The pid of the run's wineserver, or None (no Wine in this run, or none running)."""
        return find_wineserver(self.wine_prefix) if self.wine_prefix else None


@dataclass
class ServerRun:
    """What one start-load-stop of a server produced."""
    server: EchoServer
    problems: list
    loadgen_result: object = None
    argv: list | None = None
    unsupported: str | None = None  # the server's line when its model cannot run on this platform
    placed_at_start: dict | None = None  # where the processes were allowed to run, read back as the load began
    placed_at_end: dict | None = None    # ... and as it ended
    placer: object = None  # harness.run.remote_placement.ServerPlacer: the server's placement on its host


def run_item(item, point, command, needs_wine, settings, waited_s=None, threads=None):
    """Runs one point on one server once; returns its record (never raises
    for a server or load generator that misbehaves). waited_s: how long
    --wait-idle waited for a quiet machine before it; threads: load
    generator threads instead of the point's."""
    started_at, began = now_iso(), time.monotonic()
    system = platforms.current()
    loadavg_before = system.loadavg()
    wine_prefix = settings.wine_prefix if needs_wine else None
    placement_module.place_wine(settings.placement, wine_prefix)
    wineserver = settings.wineserver()
    before = noise.take_snapshot(wineserver)
    placer = settings.topology.placer(settings.placement, item["server"]) if settings.topology else None
    if placer:
        command = placer.launching(command)
    # Pinned here only when it runs here: on a server host its launcher pins it (not the ssh that runs it).
    local_cpus = settings.placement.server_cpus if settings.placement and not settings.topology else None
    server = EchoServer(item["server"], point.server_args, command=command, cpus=local_cpus,
                        ready_timeout=settings.timeouts.server_start, stop_timeout=settings.timeouts.server_stop)
    outcome = ServerRun(server, [], placer=placer)
    try:
        start_server(outcome)
        if settings.wine_prefix and wineserver is None:
            # None ran before: the server's start began one, so all its CPU is this item's.
            wineserver = settings.wineserver()
            before = replace(before, wineserver_s=0.0)
        # Again: the server's start may have started Wine programs (explorer.exe) or a wineserver.
        placement_module.place_wine(settings.placement, wine_prefix, server.process.pid if server.process else None)
        if not outcome.problems and not outcome.unsupported:
            load_and_stop(outcome, point, settings, threads, wineserver if needs_wine else None)
    finally:
        server_stderr = server.stderr_text()
        server.close()
    after = noise.take_snapshot(wineserver)
    result = outcome.loadgen_result
    return store.new_record(
        item, point.to_manifest(),
        status=status_of(outcome),
        failure=outcome.unsupported or ("; ".join(outcome.problems) if outcome.problems else None),
        started_at=started_at, elapsed_s=round(time.monotonic() - began, 3),
        loadgen=result.document if result else None, loadgen_exit=result.exit_code if result else None,
        loadgen_argv=outcome.argv, server_ready=server.ready, server_stats=server.stats,
        server_stopped_by=server.stopped_by,
        placement=placement_module.record_of(settings.placement, outcome.placed_at_start, outcome.placed_at_end,
                                             placer.under_wine if placer else needs_wine),
        wineserver_cpu_s=noise.wineserver_cpu_s(before, after) if needs_wine else None,
        machine=noise.machine_record(before, after, loadavg_before, system.governor(), waited_s),
        loadgen_stderr=result.stderr if result else "", server_stderr=server_stderr)


def status_of(outcome):
    """A record's status: "unsupported" (the model cannot run on this
    platform: no failure, and no figures), "failed" or "ok"."""
    if outcome.unsupported:
        return "unsupported"
    return "failed" if outcome.problems else "ok"


def start_server(outcome):
    try:
        outcome.server.start()
    except ServerUnsupported as error:
        outcome.unsupported = error.reason
    except ServerError as error:
        outcome.problems.append(f"server start: {error.reason}")
    except OSError as error:
        outcome.problems.append(f"server start: {error}")


def load_and_stop(outcome, point, settings, threads, wineserver=None):
    """The load generator against the running server (here, or from the client
    hosts of a topology), then the server's polite stop. Where the server,
    its wineserver and the load generator may run is read back as the load
    starts and as it ends (on a server host, the server and its wineserver
    just before the load and just after it: the read-back is an SSH command)."""
    timeout = point.loadgen_timeout(settings.timeouts)
    server_pid = outcome.server.process.pid if outcome.server.process else None
    if settings.topology:
        if outcome.placer:
            outcome.placed_at_start = outcome.placer.place_and_read()
        outcome.loadgen_result, outcome.argv = settings.topology.run_load(point, outcome.server.port, threads, timeout)
        if outcome.placer:
            outcome.placed_at_end = outcome.placer.read()
    else:
        def read_back(loadgen_pid):
            outcome.placed_at_start = placement_module.read_back(server_pid, wineserver, loadgen_pid)
        outcome.argv = loadgen_module.loadgen_argv(settings.loadgen, point, outcome.server.port, threads=threads)
        placement = settings.placement
        outcome.loadgen_result = loadgen_module.run_loadgen(outcome.argv, timeout,
                                                            placement.loadgen_cpus if placement else None,
                                                            started=read_back)
        outcome.placed_at_end = placement_module.read_back(server_pid, wineserver, None)
    if outcome.loadgen_result.failure:
        outcome.problems.append(outcome.loadgen_result.failure)
    try:
        outcome.server.stop()
    except ServerError as error:
        outcome.problems.append(f"server stop: {error.reason}")

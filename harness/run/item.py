"""One plan item: start the server, run the load generator against it, stop
the server, and say what happened as a record (harness.store's schema)."""
import time
from datetime import datetime, timezone

from harness import loadgen as loadgen_module
from harness import store
from harness.servers import EchoServer, ServerError


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
    return store.new_record(
        item, point.to_manifest(),
        status="failed" if problems else "ok", failure="; ".join(problems) if problems else None,
        started_at=started_at, elapsed_s=round(time.monotonic() - began, 3),
        loadgen=result.document if result else None, loadgen_exit=result.exit_code if result else None,
        loadgen_argv=argv, server_ready=server.ready, server_stats=server.stats,
        server_stopped_by=server.stopped_by, pin=pin,
        loadgen_stderr=result.stderr if result else "", server_stderr=server_stderr)

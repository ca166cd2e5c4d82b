"""loadgen --barrier: several load generators (one per client host in a
multi-host run) connect, say so, and start their clocks only when released
together by a line on standard input. Against the reference server on
loopback; every wait bounded."""
import json
import select
import subprocess

import pytest

from test_loadgen import check_sane, loadgen_path

WAIT = 30
# Two releases written one after the other, each woken from a 1 ms poll: the
# starts differ by the scheduling of two processes, not by the run. Generous
# for a shared 2-core machine; what it catches is a start not tied to the
# release at all (the connect time, a second later, or never).
START_SPREAD_LIMIT_S = 0.1


def start_loadgen(server, *args):
    return subprocess.Popen([str(loadgen_path()), "--port", str(server.port), "--barrier", "--json", "-", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(process):
    ready, _, _ = select.select([process.stdout], [], [], WAIT)
    assert ready, "no connected line in time"
    return json.loads(process.stdout.readline())


def finish(process):
    out, err = process.communicate(timeout=WAIT)
    return process.returncode, out, err


def test_two_loadgens_released_together_start_together(reference):
    first = start_loadgen(reference, "--connections", "3", "--duration", "0.5")
    second = start_loadgen(reference, "--connections", "2", "--threads", "2", "--duration", "0.5")
    try:
        assert first_line(first) == {"event": "connected", "connections": 3, "idle": 0, "threads": 1}
        assert first_line(second) == {"event": "connected", "connections": 2, "idle": 0, "threads": 2}
        for process in (first, second):
            process.stdin.write("go\n")
            process.stdin.flush()
        results = [finish(p) for p in (first, second)]
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()
    documents = []
    for code, out, err in results:
        assert code == 0, err
        document = json.loads(out)
        check_sane(document, "pingpong")
        assert document["config"]["barrier"] is True
        documents.append(document)
    starts = [d["started_at_unix_ns"] for d in documents]
    assert abs(starts[0] - starts[1]) / 1e9 < START_SPREAD_LIMIT_S


def test_held_connections_wait_for_the_release(reference):
    # Connected but not released: nothing is measured however long it waits.
    process = start_loadgen(reference, "--connections", "2", "--duration", "0.2")
    try:
        first_line(process)
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        assert not ready and process.poll() is None  # still waiting, printed nothing more
        process.stdin.write("\n")
        process.stdin.flush()
        code, out, err = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, err
    assert json.loads(out)["totals"]["messages"] > 0


@pytest.mark.parametrize("how, reason", [
    ("eof", "standard input closed before the start line"),
    ("timeout", "no start line on standard input in time"),
])
def test_a_release_that_never_comes_ends_the_run_with_the_reason(reference, how, reason):
    process = start_loadgen(reference, "--connections", "2", "--duration", "5", "--barrier-timeout", "0.5")
    try:
        first_line(process)
        if how == "eof":
            process.stdin.close()
        code, out, err = process.wait(timeout=WAIT), process.stdout.read(), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 1
    document = json.loads(out)
    assert reason in document["fatal"] and reason in err
    assert document["totals"]["messages"] == 0 and document["started_at_unix_ns"] is None
    assert document["totals"]["duration_s"] == 0


def test_barrier_timeout_needs_barrier():
    done = subprocess.run([str(loadgen_path()), "--port", "7", "--barrier-timeout", "3"], capture_output=True,
                          text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.strip() == "loadgen: --barrier-timeout applies to --barrier runs only"
